import type { Scope } from '../domain/arn.js';

/**
 * Where the secrets that clusters associate are read: the built-in Secrets Manager and KMS, or
 * an external one. A source only reports facts (a secret's description, its key, its current
 * value) or a typed failure; what those facts mean for MSK is decided in the domain, in one
 * place, whatever the source.
 */
export interface SecretFacts {
  describeSecret(scope: Scope, secretArn: string): Promise<SecretDescription>;
  /** The key the secret names; called only for a secret under a customer managed key id. */
  describeKey(scope: Scope, keyId: string): Promise<KeyDescription>;
  currentValue(scope: Scope, secretArn: string): Promise<CurrentValue>;
}

export interface SecretDescription {
  /** The full ARN, with its random suffix. */
  arn: string;
  scheduledForDeletion: boolean;
  /** The key id, ARN or alias it names; undefined means the default aws/secretsmanager key. */
  kmsKeyId: string | undefined;
}

export interface KeyDescription {
  arn: string;
  awsManaged: boolean;
  enabled: boolean;
  symmetric: boolean;
  /** The state as a message says it: "disabled", "pending deletion". */
  stateDescription: string;
}

export interface CurrentValue {
  versionId: string;
  /** Undefined for a binary value. Never logged, stored or answered. */
  secretString: string | undefined;
}

/** Why the source could not give a fact about one secret; the rest of a batch goes on. */
export type SourceFailureKind =
  'NotFound' | 'AccessDenied' | 'Throttled' | 'DecryptionFailure' | 'NoCurrentValue' | 'Invalid';

export class SourceFailure extends Error {
  constructor(
    readonly kind: SourceFailureKind,
    message: string,
    /** The source's own error code, e.g. `AccessDeniedException`, when it gave one. */
    readonly code?: string,
  ) {
    super(message);
    this.name = 'SourceFailure';
  }
}

/**
 * The source could not be reached, or failed on its side after the client's retries. Nothing
 * is known, so nothing may be decided: the caller answers 503 and the data plane keeps what it
 * had.
 */
export class SourceUnavailableError extends Error {
  constructor(
    readonly sourceName: string,
    readonly reason: string,
  ) {
    super(`The secret source ${sourceName} is unavailable: ${reason}`);
    this.name = 'SourceUnavailableError';
  }
}
