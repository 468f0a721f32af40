import { z } from 'zod';

import type { JsonOperation, Services } from '../types.js';
import { parseJsonInput } from '../validation.js';
import { jsonError } from '../../domain/errors.js';
import type { KmsKey } from '../../domain/keys.js';

const keyId = z.string().min(1).max(2048);
const tagList = z.array(
  z.object({ TagKey: z.string().min(1).max(128), TagValue: z.string().max(256) }),
);
const aliasName = z.string().min(1).max(256);
const limit = z.number().int().min(1).max(1000).optional();
const marker = z.string().min(1).max(1024).optional();

function keyMetadata(key: KmsKey): Record<string, unknown> {
  return {
    AWSAccountId: key.accountId,
    KeyId: key.keyId,
    Arn: key.arn,
    CreationDate: key.creationDate / 1000,
    Enabled: key.keyState === 'Enabled',
    Description: key.description,
    KeyUsage: key.keyUsage,
    KeyState: key.keyState,
    DeletionDate: key.deletionDate === null ? undefined : key.deletionDate / 1000,
    Origin: 'AWS_KMS',
    KeyManager: key.keyManager,
    CustomerMasterKeySpec: key.keySpec,
    KeySpec: key.keySpec,
    EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
    MultiRegion: false,
  };
}

function readMarker(
  services: Services,
  listing: string,
  value: string | undefined,
): string | undefined {
  if (value === undefined) return undefined;
  try {
    return services.tokens.read(listing, value, 'Marker');
  } catch {
    throw jsonError(
      'InvalidMarkerException',
      'The Marker is not valid. Pass the NextMarker of the previous response.',
    );
  }
}

const createKey: JsonOperation = async (services, context, body) => {
  const input = parseJsonInput(
    z
      .object({
        Description: z.string().max(8192).optional(),
        KeyUsage: z.string().optional(),
        KeySpec: z.string().optional(),
        CustomerMasterKeySpec: z.string().optional(),
        Tags: tagList.optional(),
        Policy: z.string().min(1).optional(),
        BypassPolicyLockoutSafetyCheck: z.boolean().optional(),
      })
      .passthrough(),
    body,
  );
  const key = await services.keys.createKey(context, {
    description: input.Description,
    keyUsage: input.KeyUsage,
    keySpec: input.KeySpec ?? input.CustomerMasterKeySpec,
    tags: input.Tags,
    policy: input.Policy,
  });
  return { KeyMetadata: keyMetadata(key) };
};

const describeKey: JsonOperation = async (services, context, body) => {
  const input = parseJsonInput(z.object({ KeyId: keyId }).passthrough(), body);
  return { KeyMetadata: keyMetadata(await services.keys.findKey(context, input.KeyId)) };
};

const listKeys: JsonOperation = async (services, context, body) => {
  const input = parseJsonInput(z.object({ Limit: limit, Marker: marker }), body);
  const listing = `kms-keys:${context.accountId}:${context.region}`;
  const pageSize = input.Limit ?? 100;
  const keys = await services.keys.listKeys(
    context,
    pageSize + 1,
    readMarker(services, listing, input.Marker),
  );
  const page = keys.slice(0, pageSize);
  const truncated = keys.length > pageSize;
  return {
    Keys: page.map((key) => ({ KeyId: key.keyId, KeyArn: key.arn })),
    Truncated: truncated,
    NextMarker: truncated
      ? services.tokens.issue(listing, page[page.length - 1]!.keyId)
      : undefined,
  };
};

const createAlias: JsonOperation = async (services, context, body) => {
  const input = parseJsonInput(z.object({ AliasName: aliasName, TargetKeyId: keyId }), body);
  await services.keys.createAlias(context, input.AliasName, input.TargetKeyId);
  return {};
};

const deleteAlias: JsonOperation = async (services, context, body) => {
  const input = parseJsonInput(z.object({ AliasName: aliasName }), body);
  await services.keys.deleteAlias(context, input.AliasName);
  return {};
};

const updateAlias: JsonOperation = async (services, context, body) => {
  const input = parseJsonInput(z.object({ AliasName: aliasName, TargetKeyId: keyId }), body);
  await services.keys.updateAlias(context, input.AliasName, input.TargetKeyId);
  return {};
};

const listAliases: JsonOperation = async (services, context, body) => {
  const input = parseJsonInput(
    z.object({ KeyId: keyId.optional(), Limit: limit, Marker: marker }),
    body,
  );
  const listing = `kms-aliases:${context.accountId}:${context.region}:${input.KeyId ?? ''}`;
  const pageSize = input.Limit ?? 100;
  const aliases = await services.keys.listAliases(
    context,
    pageSize + 1,
    readMarker(services, listing, input.Marker),
    input.KeyId,
  );
  const page = aliases.slice(0, pageSize);
  const truncated = aliases.length > pageSize;
  return {
    Aliases: page.map((alias) => ({
      AliasName: alias.aliasName,
      AliasArn: alias.aliasArn,
      TargetKeyId: alias.targetKeyId,
      CreationDate: alias.creationDate / 1000,
    })),
    Truncated: truncated,
    NextMarker: truncated
      ? services.tokens.issue(listing, page[page.length - 1]!.aliasName)
      : undefined,
  };
};

const enableKey: JsonOperation = async (services, context, body) => {
  const input = parseJsonInput(z.object({ KeyId: keyId }), body);
  await services.keys.enableKey(context, input.KeyId);
  return {};
};

const disableKey: JsonOperation = async (services, context, body) => {
  const input = parseJsonInput(z.object({ KeyId: keyId }), body);
  await services.keys.disableKey(context, input.KeyId);
  return {};
};

const scheduleKeyDeletion: JsonOperation = async (services, context, body) => {
  const input = parseJsonInput(
    z.object({ KeyId: keyId, PendingWindowInDays: z.number().optional() }),
    body,
  );
  const key = await services.keys.scheduleKeyDeletion(
    context,
    input.KeyId,
    input.PendingWindowInDays ?? 30,
  );
  return {
    KeyId: key.arn,
    DeletionDate: key.deletionDate! / 1000,
    KeyState: key.keyState,
    PendingWindowInDays: input.PendingWindowInDays ?? 30,
  };
};

const cancelKeyDeletion: JsonOperation = async (services, context, body) => {
  const input = parseJsonInput(z.object({ KeyId: keyId }), body);
  const key = await services.keys.cancelKeyDeletion(context, input.KeyId);
  return { KeyId: key.arn };
};

/**
 * The key policy KMS gives a key created without one: the account may use and manage the key
 * through IAM policies. A key given its own (CreateKey, PutKeyPolicy) shows that one.
 */
function defaultKeyPolicy(key: KmsKey): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Id: 'key-default-1',
    Statement: [
      {
        Sid: 'Enable IAM User Permissions',
        Effect: 'Allow',
        Principal: { AWS: `arn:${key.arn.split(':')[1]}:iam::${key.accountId}:root` },
        Action: 'kms:*',
        Resource: '*',
      },
    ],
  });
}

const getKeyPolicy: JsonOperation = async (services, context, body) => {
  const input = parseJsonInput(
    z.object({ KeyId: keyId, PolicyName: z.string().min(1).max(128).optional() }),
    body,
  );
  const key = await services.keys.findKey(context, input.KeyId);
  if (input.PolicyName !== undefined && input.PolicyName !== 'default') {
    throw jsonError(
      'NotFoundException',
      `Key ${key.arn} has no policy named ${input.PolicyName}; its only policy is 'default'.`,
    );
  }
  return { Policy: key.policy ?? defaultKeyPolicy(key), PolicyName: 'default' };
};

const getKeyRotationStatus: JsonOperation = async (services, context, body) => {
  const input = parseJsonInput(z.object({ KeyId: keyId }), body);
  const key = await services.keys.findKey(context, input.KeyId);
  // Shown as set; the key material itself is never rotated (see README).
  return {
    KeyId: key.arn,
    KeyRotationEnabled: key.rotationPeriodDays !== null,
    RotationPeriodInDays: key.rotationPeriodDays ?? undefined,
  };
};

const putKeyPolicy: JsonOperation = async (services, context, body) => {
  const input = parseJsonInput(
    z
      .object({
        KeyId: keyId,
        Policy: z.string().min(1),
        PolicyName: z.literal('default').optional(),
        BypassPolicyLockoutSafetyCheck: z.boolean().optional(),
      })
      .strict(),
    body,
  );
  await services.keys.putKeyPolicy(context, input.KeyId, input.Policy);
  return {};
};

const enableKeyRotation: JsonOperation = async (services, context, body) => {
  const input = parseJsonInput(
    z.object({ KeyId: keyId, RotationPeriodInDays: z.number().optional() }),
    body,
  );
  await services.keys.setRotation(context, input.KeyId, input.RotationPeriodInDays ?? 365);
  return {};
};

const disableKeyRotation: JsonOperation = async (services, context, body) => {
  const input = parseJsonInput(z.object({ KeyId: keyId }), body);
  await services.keys.setRotation(context, input.KeyId, null);
  return {};
};

const updateKeyDescription: JsonOperation = async (services, context, body) => {
  const input = parseJsonInput(z.object({ KeyId: keyId, Description: z.string().max(8192) }), body);
  await services.keys.updateDescription(context, input.KeyId, input.Description);
  return {};
};

const tagResource: JsonOperation = async (services, context, body) => {
  const input = parseJsonInput(z.object({ KeyId: keyId, Tags: tagList.min(1) }), body);
  await services.keys.changeTags(context, input.KeyId, { set: input.Tags });
  return {};
};

const untagResource: JsonOperation = async (services, context, body) => {
  const input = parseJsonInput(
    z.object({ KeyId: keyId, TagKeys: z.array(z.string().min(1).max(128)).min(1) }),
    body,
  );
  await services.keys.changeTags(context, input.KeyId, { remove: input.TagKeys });
  return {};
};

const listResourceTags: JsonOperation = async (services, context, body) => {
  const input = parseJsonInput(z.object({ KeyId: keyId, Limit: limit, Marker: marker }), body);
  const key = await services.keys.findKey(context, input.KeyId);
  const listing = `kms-tags:${key.arn}`;
  const after = readMarker(services, listing, input.Marker);
  // In code-unit order, the order the marker's comparison below uses.
  const tags = [...key.tags].sort((left, right) =>
    left.TagKey < right.TagKey ? -1 : left.TagKey > right.TagKey ? 1 : 0,
  );
  const rest = after === undefined ? tags : tags.filter((tag) => tag.TagKey > after);
  const pageSize = input.Limit ?? 50;
  const page = rest.slice(0, pageSize);
  const truncated = rest.length > pageSize;
  return {
    Tags: page,
    Truncated: truncated,
    NextMarker: truncated
      ? services.tokens.issue(listing, page[page.length - 1]!.TagKey)
      : undefined,
  };
};

/** Every KMS operation this service answers, by its X-Amz-Target name. */
export const kmsOperations: Record<string, JsonOperation> = {
  CreateKey: createKey,
  DescribeKey: describeKey,
  ListKeys: listKeys,
  CreateAlias: createAlias,
  DeleteAlias: deleteAlias,
  UpdateAlias: updateAlias,
  ListAliases: listAliases,
  EnableKey: enableKey,
  DisableKey: disableKey,
  ScheduleKeyDeletion: scheduleKeyDeletion,
  CancelKeyDeletion: cancelKeyDeletion,
  GetKeyPolicy: getKeyPolicy,
  PutKeyPolicy: putKeyPolicy,
  GetKeyRotationStatus: getKeyRotationStatus,
  EnableKeyRotation: enableKeyRotation,
  DisableKeyRotation: disableKeyRotation,
  UpdateKeyDescription: updateKeyDescription,
  ListResourceTags: listResourceTags,
  TagResource: tagResource,
  UntagResource: untagResource,
};
