import type { Scope } from '../domain/arn.js';
import { ServiceError } from '../domain/errors.js';
import type { KeyService } from '../domain/keys.js';
import { describeKeyState, type SecretService } from '../domain/secrets.js';
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
 */
export class BuiltinSecretFacts implements SecretFacts {
  constructor(
    private readonly secrets: SecretService,
    private readonly keys: KeyService,
    private readonly db: Executor,
  ) {}

  async describeSecret(scope: Scope, secretArn: string): Promise<SecretDescription> {
    const secret = await this.secrets
      .findSecret(scope, secretArn, { allowDeleted: true }, this.db)
      .catch((error: unknown) => {
        throw asFailure(error, 'NotFound');
      });
    return {
      arn: secret.arn,
      scheduledForDeletion: secret.deletedDate !== null,
      kmsKeyId: secret.kmsKeyId ?? undefined,
    };
  }

  async describeKey(scope: Scope, keyId: string): Promise<KeyDescription> {
    const key = await this.keys.findKey(scope, keyId, this.db).catch((error: unknown) => {
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
    const current = await this.secrets
      .getValue(scope, secretArn, {}, this.db)
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

/** The domain's own errors become failures of one secret; anything else stays a fault. */
function asFailure(error: unknown, kind: SourceFailure['kind']): unknown {
  return error instanceof ServiceError ? new SourceFailure(kind, error.message) : error;
}
