import { z } from 'zod';

import type { JsonOperation, Services } from '../types.js';
import { parseJsonInput } from '../validation.js';
import { jsonError } from '../../domain/errors.js';
import type { Secret, SecretValue } from '../../domain/secrets.js';

const secretId = z.string().min(1).max(2048);
const token = z.string().min(32).max(64).optional();
const tagList = z.array(z.object({ Key: z.string().min(1).max(128), Value: z.string().max(256) }));
const value = {
  SecretString: z.string().max(65536).optional(),
  // Base64 on the wire, as the SDKs send it; 65,536 bytes at most once decoded.
  SecretBinary: z.base64().max(87_384).optional(),
};

function secretValue(input: {
  SecretString?: string;
  SecretBinary?: string;
}): SecretValue | undefined {
  if (input.SecretString !== undefined && input.SecretBinary !== undefined) {
    throw jsonError(
      'InvalidParameterException',
      "You can't specify both a binary secret value and a string secret value in the same secret.",
    );
  }
  if (input.SecretString !== undefined) return { kind: 'string', value: input.SecretString };
  if (input.SecretBinary !== undefined) {
    return { kind: 'binary', value: Buffer.from(input.SecretBinary, 'base64') };
  }
  return undefined;
}

function parse<Schema extends z.ZodType>(schema: Schema, input: unknown): z.infer<Schema> {
  return parseJsonInput(schema, input, 'InvalidParameterException');
}

/** AWS JSON 1.1 timestamps are epoch seconds. */
function seconds(ms: number | null): number | undefined {
  return ms === null ? undefined : ms / 1000;
}

const createSecret: JsonOperation = async (services, context, body) => {
  const input = parse(
    z
      .object({
        Name: z.string().min(1).max(512),
        ClientRequestToken: token,
        Description: z.string().max(2048).optional(),
        KmsKeyId: z.string().min(1).max(2048).optional(),
        Tags: tagList.optional(),
        ...value,
      })
      .passthrough(),
    body,
  );
  const { secret, versionId } = await services.secrets.createSecret(context, {
    name: input.Name,
    description: input.Description,
    kmsKeyId: input.KmsKeyId,
    value: secretValue(input),
    clientRequestToken: input.ClientRequestToken,
    tags: input.Tags,
  });
  return { ARN: secret.arn, Name: secret.name, VersionId: versionId };
};

const describeSecret: JsonOperation = async (services, context, body) => {
  const input = parse(z.object({ SecretId: secretId }), body);
  const secret = await services.secrets.findSecret(context, input.SecretId, { allowDeleted: true });
  return describe(services, secret);
};

/**
 * The key as DescribeSecret shows it: as the caller named it (key id, key ARN, alias name or
 * alias ARN), as Secrets Manager keeps it, so that tools which compare it with what they
 * sent, Terraform among them, see no change.
 */
function shownKeyReference(secret: Secret): string | undefined {
  return secret.kmsKeyId ?? undefined;
}

async function describe(services: Services, secret: Secret): Promise<Record<string, unknown>> {
  const versions = await services.secrets.versions(secret);
  return {
    ARN: secret.arn,
    Name: secret.name,
    Description: secret.description ?? undefined,
    KmsKeyId: shownKeyReference(secret),
    RotationEnabled: false,
    CreatedDate: seconds(secret.createdDate),
    LastChangedDate: seconds(secret.lastChangedDate),
    LastAccessedDate: seconds(secret.lastAccessedDate),
    DeletedDate: seconds(secret.deletedDate),
    Tags: secret.tags,
    VersionIdsToStages: Object.fromEntries(
      versions
        .filter((version) => version.stages.length > 0)
        .map((version) => [version.versionId, version.stages]),
    ),
    PrimaryRegion: secret.region,
  };
}

const getSecretValue: JsonOperation = async (services, context, body) => {
  const input = parse(
    z.object({
      SecretId: secretId,
      VersionId: z.string().min(32).max(64).optional(),
      VersionStage: z.string().min(1).max(256).optional(),
    }),
    body,
  );
  const {
    secret,
    version,
    value: secretValue,
  } = await services.secrets.getValue(context, input.SecretId, {
    versionId: input.VersionId,
    versionStage: input.VersionStage,
  });
  await services.secrets.touchAccessed(secret);
  return {
    ARN: secret.arn,
    Name: secret.name,
    VersionId: version.versionId,
    VersionStages: version.stages,
    CreatedDate: seconds(version.createdDate),
    ...(secretValue.kind === 'string'
      ? { SecretString: secretValue.value }
      : { SecretBinary: secretValue.value.toString('base64') }),
  };
};

const putSecretValue: JsonOperation = async (services, context, body) => {
  const input = parse(
    z.object({
      SecretId: secretId,
      ClientRequestToken: token,
      VersionStages: z.array(z.string().min(1).max(256)).min(1).max(20).optional(),
      ...value,
    }),
    body,
  );
  const newValue = secretValue(input);
  if (!newValue) {
    throw jsonError(
      'InvalidRequestException',
      'You must provide either SecretString or SecretBinary.',
    );
  }
  const result = await services.secrets.putValue(context, input.SecretId, {
    value: newValue,
    clientRequestToken: input.ClientRequestToken,
    versionStages: input.VersionStages,
  });
  return {
    ARN: result.secret.arn,
    Name: result.secret.name,
    VersionId: result.versionId,
    VersionStages: result.stages,
  };
};

const updateSecret: JsonOperation = async (services, context, body) => {
  const input = parse(
    z.object({
      SecretId: secretId,
      ClientRequestToken: token,
      Description: z.string().max(2048).optional(),
      KmsKeyId: z.string().min(1).max(2048).optional(),
      ...value,
    }),
    body,
  );
  const { secret, versionId } = await services.secrets.updateSecret(context, input.SecretId, {
    description: input.Description,
    kmsKeyId: input.KmsKeyId,
    value: secretValue(input),
    clientRequestToken: input.ClientRequestToken,
  });
  return { ARN: secret.arn, Name: secret.name, VersionId: versionId };
};

const deleteSecret: JsonOperation = async (services, context, body) => {
  const input = parse(
    z.object({
      SecretId: secretId,
      RecoveryWindowInDays: z.number().optional(),
      ForceDeleteWithoutRecovery: z.boolean().optional(),
    }),
    body,
  );
  const { secret, deletionDate } = await services.secrets.deleteSecret(context, input.SecretId, {
    recoveryWindowInDays: input.RecoveryWindowInDays,
    forceDeleteWithoutRecovery: input.ForceDeleteWithoutRecovery,
  });
  return { ARN: secret.arn, Name: secret.name, DeletionDate: seconds(deletionDate) };
};

const restoreSecret: JsonOperation = async (services, context, body) => {
  const input = parse(z.object({ SecretId: secretId }), body);
  const secret = await services.secrets.restoreSecret(context, input.SecretId);
  return { ARN: secret.arn, Name: secret.name };
};

const filterKeys = [
  'description',
  'name',
  'tag-key',
  'tag-value',
  'primary-region',
  'owning-service',
  'all',
] as const;

const listSecrets: JsonOperation = async (services, context, body) => {
  const input = parse(
    z.object({
      MaxResults: z.number().int().min(1).max(100).optional(),
      NextToken: z.string().min(1).max(4096).optional(),
      Filters: z
        .array(
          z.object({
            Key: z.enum(filterKeys),
            Values: z.array(z.string().min(1).max(512)).min(1).max(10),
          }),
        )
        .max(10)
        .optional(),
      SortOrder: z.enum(['asc', 'desc']).optional(),
      SortBy: z
        .enum(['created-date', 'last-accessed-date', 'last-changed-date', 'name'])
        .optional(),
      IncludePlannedDeletion: z.boolean().optional(),
    }),
    body,
  );
  const filters = (input.Filters ?? []).map((filter) => ({
    key: filter.Key,
    values: filter.Values,
  }));
  const all = await services.secrets.listSecrets(context, {
    filters,
    includePlannedDeletion: input.IncludePlannedDeletion ?? false,
    descending: input.SortOrder === 'desc',
    sortBy: input.SortBy,
  });
  const query = [filters, input.SortOrder, input.SortBy, input.IncludePlannedDeletion];
  const listing = `secrets:${context.accountId}:${context.region}:${JSON.stringify(query)}`;
  const start = input.NextToken === undefined ? 0 : readOffset(services, listing, input.NextToken);
  const limit = input.MaxResults ?? 100;
  const page = all.slice(start, start + limit);
  const entries = await Promise.all(
    page.map(async (secret) => {
      const described = await describe(services, secret);
      return {
        ...described,
        SecretVersionsToStages: described.VersionIdsToStages,
        VersionIdsToStages: undefined,
      };
    }),
  );
  return {
    SecretList: entries,
    NextToken:
      start + limit < all.length
        ? services.tokens.issue(listing, String(start + limit))
        : undefined,
  };
};

function readOffset(services: Services, listing: string, token: string): number {
  try {
    return Number(services.tokens.read(listing, token, 'NextToken'));
  } catch {
    throw jsonError('InvalidNextTokenException', 'The NextToken value is invalid.');
  }
}

const listSecretVersionIds: JsonOperation = async (services, context, body) => {
  const input = parse(
    z.object({
      SecretId: secretId,
      MaxResults: z.number().int().min(1).max(100).optional(),
      NextToken: z.string().min(1).max(4096).optional(),
      IncludeDeprecated: z.boolean().optional(),
    }),
    body,
  );
  const secret = await services.secrets.findSecret(context, input.SecretId, { allowDeleted: true });
  const versions = (await services.secrets.versions(secret)).filter(
    (version) => input.IncludeDeprecated || version.stages.length > 0,
  );
  const listing = `secret-versions:${secret.arn}:${Boolean(input.IncludeDeprecated)}`;
  const start = input.NextToken === undefined ? 0 : readOffset(services, listing, input.NextToken);
  const limit = input.MaxResults ?? 100;
  const keys = new Map<string, string>();
  for (const version of versions) {
    if (!keys.has(version.keyId)) {
      keys.set(
        version.keyId,
        (await services.keys.findKey(context, version.keyId).catch(() => undefined))?.arn ??
          version.keyId,
      );
    }
  }
  return {
    ARN: secret.arn,
    Name: secret.name,
    Versions: versions.slice(start, start + limit).map((version) => ({
      VersionId: version.versionId,
      VersionStages: version.stages,
      CreatedDate: seconds(version.createdDate),
      KmsKeyIds: [keys.get(version.keyId)],
    })),
    NextToken:
      start + limit < versions.length
        ? services.tokens.issue(listing, String(start + limit))
        : undefined,
  };
};

const getResourcePolicy: JsonOperation = async (services, context, body) => {
  const input = parse(z.object({ SecretId: secretId }), body);
  const secret = await services.secrets.findSecret(context, input.SecretId, { allowDeleted: true });
  return { ARN: secret.arn, Name: secret.name, ResourcePolicy: secret.resourcePolicy ?? undefined };
};

const putResourcePolicy: JsonOperation = async (services, context, body) => {
  const input = parse(
    z.object({
      SecretId: secretId,
      ResourcePolicy: z.string().min(1).max(20480),
      BlockPublicPolicy: z.boolean().optional(),
    }),
    body,
  );
  let policy: unknown;
  try {
    policy = JSON.parse(input.ResourcePolicy);
  } catch {
    policy = undefined;
  }
  if (typeof policy !== 'object' || policy === null || !('Statement' in policy)) {
    throw jsonError(
      'MalformedPolicyDocumentException',
      'The resource policy is not a JSON policy document with a Statement.',
    );
  }
  const secret = await services.secrets.setResourcePolicy(
    context,
    input.SecretId,
    input.ResourcePolicy,
  );
  return { ARN: secret.arn, Name: secret.name };
};

const deleteResourcePolicy: JsonOperation = async (services, context, body) => {
  const input = parse(z.object({ SecretId: secretId }), body);
  const secret = await services.secrets.setResourcePolicy(context, input.SecretId, null);
  return { ARN: secret.arn, Name: secret.name };
};

const tagResource: JsonOperation = async (services, context, body) => {
  const input = parse(z.object({ SecretId: secretId, Tags: tagList }), body);
  await services.secrets.setTags(context, input.SecretId, (current) => [
    ...current.filter((tag) => !input.Tags.some((added) => added.Key === tag.Key)),
    ...input.Tags,
  ]);
  return {};
};

const untagResource: JsonOperation = async (services, context, body) => {
  const input = parse(
    z.object({ SecretId: secretId, TagKeys: z.array(z.string().min(1).max(128)) }),
    body,
  );
  await services.secrets.setTags(context, input.SecretId, (current) =>
    current.filter((tag) => !input.TagKeys.includes(tag.Key)),
  );
  return {};
};

/** Every Secrets Manager operation this service answers, by its X-Amz-Target name. */
export const secretsManagerOperations: Record<string, JsonOperation> = {
  CreateSecret: createSecret,
  DescribeSecret: describeSecret,
  GetSecretValue: getSecretValue,
  PutSecretValue: putSecretValue,
  UpdateSecret: updateSecret,
  DeleteSecret: deleteSecret,
  RestoreSecret: restoreSecret,
  ListSecrets: listSecrets,
  ListSecretVersionIds: listSecretVersionIds,
  GetResourcePolicy: getResourcePolicy,
  PutResourcePolicy: putResourcePolicy,
  DeleteResourcePolicy: deleteResourcePolicy,
  TagResource: tagResource,
  UntagResource: untagResource,
};
