import { DescribeKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  BatchGetSecretValueCommand,
  DescribeSecretCommand,
  GetResourcePolicyCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutResourcePolicyCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';

import type { Logger } from 'pino';

import type { Scope } from '../domain/arn.js';
import {
  SourceFailure,
  SourceUnavailableError,
  type CurrentValue,
  type KeyDescription,
  type SecretDescription,
  type SecretFacts,
} from './source.js';

export interface AwsSourceSettings {
  /** How logs and messages name the source: the account and region it serves. */
  name: string;
  /** The region the clients call; the cluster's region unless configured otherwise. */
  region: string;
  /** Another Secrets Manager and KMS than AWS's own, e.g. http://127.0.0.1:5000. */
  endpoint?: string;
  /**
   * A profile of the shared config and credentials files whose credentials this source signs
   * with; without one, the default provider chain's.
   */
  profile?: string;
  attachResourcePolicy: boolean;
  pollIntervalSeconds: number;
  /** Where the source's own error messages go, at warn; they are never answered. */
  logger?: Logger;
}

/** What one secret looks like to a poll: enough to tell whether anything must be read. */
export type PolledSecret =
  | { state: 'missing' }
  | { state: 'scheduledForDeletion' }
  | { state: 'present'; kmsKeyId: string | undefined; currentVersionId: string | undefined };

/** A current value read in a batch, or why it could not be read. */
export type BatchValue = { ok: true; value: CurrentValue } | { ok: false; failure: SourceFailure };

const DEFAULT_SECRETS_MANAGER_KEY = 'alias/aws/secretsmanager';
/** ListSecrets takes at most 10 values in one filter; BatchGetSecretValue 20 secret ids. */
export const NAMES_PER_LIST = 10;
export const SECRETS_PER_BATCH_GET = 20;

/**
 * AWS Secrets Manager and KMS, or any endpoint that speaks their JSON 1.1 APIs, as a source.
 * Credentials come from the AWS SDK's default provider chain: environment, shared config and
 * profiles, web identity, container and instance metadata. With a `profile`, the chain reads
 * that profile instead of the environment's keys and AWS_PROFILE; each source has its own.
 */
export class AwsSecretSource implements SecretFacts {
  readonly secretsManager: SecretsManagerClient;
  readonly kms: KMSClient;

  constructor(readonly settings: AwsSourceSettings) {
    const clientConfig = {
      region: settings.region,
      ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
      ...(settings.profile ? { profile: settings.profile } : {}),
      // A few quick retries inside one request; a source down for longer is a 503, not a hang.
      maxAttempts: 3,
      requestHandler: { connectionTimeout: 2_000, requestTimeout: 5_000 },
    };
    this.secretsManager = new SecretsManagerClient(clientConfig);
    this.kms = new KMSClient(clientConfig);
  }

  async describeSecret(_scope: Scope, secretArn: string): Promise<SecretDescription> {
    const described = await this.call('DescribeSecret', () =>
      this.secretsManager.send(new DescribeSecretCommand({ SecretId: secretArn })),
    );
    const kmsKeyId = described.KmsKeyId;
    return {
      arn: described.ARN ?? secretArn,
      scheduledForDeletion: described.DeletedDate !== undefined,
      kmsKeyId: kmsKeyId === DEFAULT_SECRETS_MANAGER_KEY ? undefined : kmsKeyId,
    };
  }

  async describeKey(_scope: Scope, keyId: string): Promise<KeyDescription> {
    const described = await this.call('DescribeKey', () =>
      this.kms.send(new DescribeKeyCommand({ KeyId: keyId })),
    );
    const metadata = described.KeyMetadata;
    const state = metadata?.KeyState ?? 'Unavailable';
    return {
      arn: metadata?.Arn ?? keyId,
      awsManaged: metadata?.KeyManager === 'AWS',
      enabled: state === 'Enabled',
      symmetric: (metadata?.KeySpec ?? 'SYMMETRIC_DEFAULT') === 'SYMMETRIC_DEFAULT',
      stateDescription: state === 'PendingDeletion' ? 'pending deletion' : state.toLowerCase(),
    };
  }

  async currentValue(_scope: Scope, secretArn: string): Promise<CurrentValue> {
    const current = await this.call(
      'GetSecretValue',
      () => this.secretsManager.send(new GetSecretValueCommand({ SecretId: secretArn })),
      { NotFound: 'NoCurrentValue' },
    );
    return { versionId: current.VersionId ?? '', secretString: current.SecretString };
  }

  async resourcePolicy(secretArn: string): Promise<string | undefined> {
    const found = await this.call('GetResourcePolicy', () =>
      this.secretsManager.send(new GetResourcePolicyCommand({ SecretId: secretArn })),
    );
    return found.ResourcePolicy;
  }

  async putResourcePolicy(secretArn: string, policy: string): Promise<void> {
    await this.call('PutResourcePolicy', () =>
      this.secretsManager.send(
        new PutResourcePolicyCommand({ SecretId: secretArn, ResourcePolicy: policy }),
      ),
    );
  }

  /**
   * The state of the named secrets, by ARN, in ceil(names / 10) ListSecrets calls or a few
   * more when names are prefixes of many others. A secret absent from the answer is gone.
   */
  async pollSecrets(secrets: { arn: string; name: string }[]): Promise<Map<string, PolledSecret>> {
    const wanted = new Set(secrets.map((secret) => secret.arn));
    const polled = new Map<string, PolledSecret>();
    const names = [...new Set(secrets.map((secret) => secret.name))];
    for (let start = 0; start < names.length; start += NAMES_PER_LIST) {
      const filter = { Key: 'name' as const, Values: names.slice(start, start + NAMES_PER_LIST) };
      let nextToken: string | undefined;
      do {
        const page = await this.call('ListSecrets', () =>
          this.secretsManager.send(
            new ListSecretsCommand({
              Filters: [filter],
              IncludePlannedDeletion: true,
              MaxResults: 100,
              NextToken: nextToken,
            }),
          ),
        );
        for (const entry of page.SecretList ?? []) {
          if (entry.ARN === undefined || !wanted.has(entry.ARN)) continue;
          polled.set(entry.ARN, polledState(entry));
        }
        nextToken = page.NextToken;
      } while (nextToken);
    }
    for (const arn of wanted) if (!polled.has(arn)) polled.set(arn, { state: 'missing' });
    return polled;
  }

  /** Current values in batches of 20; a secret that cannot be read has its own failure. */
  async currentValues(secretArns: string[]): Promise<Map<string, BatchValue>> {
    const values = new Map<string, BatchValue>();
    for (let start = 0; start < secretArns.length; start += SECRETS_PER_BATCH_GET) {
      const chunk = secretArns.slice(start, start + SECRETS_PER_BATCH_GET);
      const batch = await this.call('BatchGetSecretValue', () =>
        this.secretsManager.send(new BatchGetSecretValueCommand({ SecretIdList: chunk })),
      );
      for (const value of batch.SecretValues ?? []) {
        if (value.ARN === undefined) continue;
        values.set(value.ARN, {
          ok: true,
          value: { versionId: value.VersionId ?? '', secretString: value.SecretString },
        });
      }
      for (const error of batch.Errors ?? []) {
        if (error.SecretId === undefined) continue;
        const code = error.ErrorCode ?? 'an error';
        this.logRawMessage('BatchGetSecretValue', code, error.Message);
        const failure = new SourceFailure(
          failureKind(error.ErrorCode ?? '', 400),
          `The secret source answered secretsmanager:BatchGetSecretValue with ${code}.`,
          error.ErrorCode,
        );
        values.set(error.SecretId, { ok: false, failure });
      }
    }
    return values;
  }

  /** Runs one call, turning its errors into a failure of the secret or an unavailable source. */
  private async call<T>(
    operation: string,
    send: () => Promise<T>,
    renamed: Partial<Record<SourceFailure['kind'], SourceFailure['kind']>> = {},
  ): Promise<T> {
    try {
      return await send();
    } catch (error) {
      const fault = error as {
        name?: string;
        message?: string;
        $metadata?: { httpStatusCode?: number };
      };
      const status = fault.$metadata?.httpStatusCode;
      const name = fault.name ?? 'Error';
      if (status === undefined || (status >= 500 && !isThrottling(name))) {
        throw new SourceUnavailableError(
          this.settings.name,
          `${operation} failed: ${status === undefined ? name : `HTTP ${status} ${name}`}`,
        );
      }
      const kind = failureKind(name, status);
      this.logRawMessage(operation, name, fault.message);
      throw new SourceFailure(
        renamed[kind] ?? kind,
        `The secret source answered ${actionOf(operation)} with ${name}.`,
        name,
      );
    }
  }

  /**
   * The source's own words stay in the log: an AccessDenied message names the service's IAM
   * identity, which is no business of the caller whose secret was refused.
   */
  private logRawMessage(operation: string, code: string, message: string | undefined): void {
    this.settings.logger?.warn(
      { event: 'secret_source.refused', source: this.settings.name, action: actionOf(operation) },
      `${code}: ${message ?? ''}`.trim(),
    );
  }
}

function polledState(entry: {
  DeletedDate?: Date;
  KmsKeyId?: string;
  SecretVersionsToStages?: Record<string, string[]>;
}): PolledSecret {
  if (entry.DeletedDate !== undefined) return { state: 'scheduledForDeletion' };
  const versions = Object.entries(entry.SecretVersionsToStages ?? {});
  const current = versions.find(([, stages]) => stages.includes('AWSCURRENT'));
  const kmsKeyId = entry.KmsKeyId === DEFAULT_SECRETS_MANAGER_KEY ? undefined : entry.KmsKeyId;
  return { state: 'present', kmsKeyId, currentVersionId: current?.[0] };
}

/** The IAM action of one of the calls made here; DescribeKey is the one call to KMS. */
function actionOf(operation: string): string {
  return `${operation === 'DescribeKey' ? 'kms' : 'secretsmanager'}:${operation}`;
}

function isThrottling(name: string): boolean {
  return /Throttl|TooManyRequests|RequestLimitExceeded/.test(name);
}

function failureKind(name: string, status: number): SourceFailure['kind'] {
  if (isThrottling(name) || status === 429) return 'Throttled';
  if (/NotFound/.test(name)) return 'NotFound';
  if (/AccessDenied|Unrecognized|InvalidSignature|Forbidden|NotAuthorized/.test(name)) {
    return 'AccessDenied';
  }
  if (status === 403) return 'AccessDenied';
  if (/Decryption|KMS/.test(name)) return 'DecryptionFailure';
  return 'Invalid';
}
