import type { Scope } from '../domain/arn.js';
import { ServiceError } from '../domain/errors.js';
import type { KeyReader, KeyService, KmsKey } from '../domain/keys.js';
import { describeKeyState, type Secret, type SecretService } from '../domain/secrets.js';
import type { SecretVersionTable } from '../store/schema.js';
import type { Executor } from '../store/store.js';
import {
  SourceFailure,
  type CurrentValue,
  type KeyDescription,
  type SecretDescription,
  type SecretFacts,
} from './source.js';

/**
 * The built-in Secrets Manager and KMS as a source. It reads through the executor it is
 * given, so that an association batch sees the secrets in the same transaction that writes
 * it, and a concurrent change cannot slip between the check and the write.
 *
 * One instance serves one batch, within its transaction: each secret, key and key material
 * is read once however often the batch's rules ask for it (a batch of ten secrets under one
 * key read that key twenty times, and each secret three times). The batch's own writes do
 * not change what is kept: they touch associations and resource policies only.
 */
export class BuiltinSecretFacts implements SecretFacts {
  private readonly found = new Map<string, Promise<Secret>>();
  private readonly versions = new Map<string, SecretVersionTable[]>();
  private readonly keyReader: KeyReader;

  constructor(
    private readonly secrets: SecretService,
    keys: KeyService,
    private readonly db: Executor,
  ) {
    const byReference = new Map<string, Promise<KmsKey>>();
    const material = new Map<string, Promise<Buffer>>();
    this.keyReader = {
      findKey: (scope, reference, db) =>
        once(byReference, `${scope.accountId}/${scope.region}/${reference}`, () =>
          keys.findKey(scope, reference, db),
        ),
      material: (key, db) => once(material, key.arn, () => keys.material(key, db)),
    };
  }

  /** Reads these secrets and their versions in two queries, ahead of the rules' questions. */
  async prefetch(scope: Scope, secretArns: string[]): Promise<void> {
    const secrets = await this.secrets.findByArns(scope, secretArns, this.db);
    const versions = await this.secrets.versionRows([...secrets.keys()], this.db);
    for (const [arn, secret] of secrets) {
      const key = `${scope.accountId}/${scope.region}/${arn}`;
      if (!this.found.has(key)) this.found.set(key, Promise.resolve(secret));
      this.versions.set(arn, versions.get(arn) ?? []);
    }
  }

  /** The secret, read once for the batch (deleted ones too: the rules refuse those). */
  secret(scope: Scope, secretArn: string): Promise<Secret> {
    return once(this.found, `${scope.accountId}/${scope.region}/${secretArn}`, () =>
      this.secrets.findSecret(scope, secretArn, { allowDeleted: true }, this.db),
    );
  }

  async describeSecret(scope: Scope, secretArn: string): Promise<SecretDescription> {
    const secret = await this.secret(scope, secretArn).catch((error: unknown) => {
      throw asFailure(error, 'NotFound');
    });
    return {
      arn: secret.arn,
      scheduledForDeletion: secret.deletedDate !== null,
      kmsKeyId: secret.kmsKeyId ?? undefined,
    };
  }

  async describeKey(scope: Scope, keyId: string): Promise<KeyDescription> {
    const key = await this.keyReader.findKey(scope, keyId, this.db).catch((error: unknown) => {
      throw asFailure(error, 'NotFound');
    });
    return {
      arn: key.arn,
      awsManaged: key.keyManager === 'AWS',
      enabled: key.keyState === 'Enabled',
      symmetric: key.keySpec === 'SYMMETRIC_DEFAULT',
      stateDescription: describeKeyState(key),
    };
  }

  async currentValue(scope: Scope, secretArn: string): Promise<CurrentValue> {
    const current = await this.secret(scope, secretArn)
      .then((secret) => {
        if (secret.deletedDate !== null) {
          // As GetSecretValue answers for a secret scheduled for deletion.
          throw new SourceFailure(
            'NoCurrentValue',
            "You can't perform this operation on the secret because it was marked for deletion.",
          );
        }
        const versions = this.versions.get(secret.arn);
        return this.secrets.valueOf(scope, secret, {}, this.db, this.keyReader, versions);
      })
      .catch((error: unknown) => {
        const decryption = error instanceof ServiceError && error.type === 'DecryptionFailure';
        throw asFailure(error, decryption ? 'DecryptionFailure' : 'NoCurrentValue');
      });
    return {
      versionId: current.version.versionId,
      secretString: current.value.kind === 'string' ? current.value.value : undefined,
    };
  }
}

function once<T>(memo: Map<string, Promise<T>>, key: string, read: () => Promise<T>): Promise<T> {
  let kept = memo.get(key);
  if (kept === undefined) {
    kept = read();
    memo.set(key, kept);
  }
  return kept;
}

/** The domain's own errors become failures of one secret; anything else stays a fault. */
function asFailure(error: unknown, kind: SourceFailure['kind']): unknown {
  return error instanceof ServiceError ? new SourceFailure(kind, error.message) : error;
}
