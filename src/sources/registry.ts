import type { SecretSourceConfig } from '../config/config.js';
import type { Scope } from '../domain/arn.js';
import { AwsSecretSource } from './aws.js';

/**
 * Which source serves an account and region. Unlisted ones, and those listed as `builtin`,
 * use the built-in Secrets Manager and KMS; `undefined` from `externalFor` means exactly that.
 */
export class SecretSources {
  private readonly external = new Map<string, AwsSecretSource>();

  constructor(configured: SecretSourceConfig[] = []) {
    for (const source of configured) {
      if (source.type !== 'aws') continue;
      const name = `${source.accountId}/${source.region}`;
      this.external.set(
        name,
        new AwsSecretSource({
          name,
          region: source.sourceRegion ?? source.region,
          endpoint: source.endpoint,
          attachResourcePolicy: source.attachResourcePolicy,
          pollIntervalSeconds: source.pollIntervalSeconds,
        }),
      );
    }
  }

  externalFor(scope: Scope): AwsSecretSource | undefined {
    return this.external.get(`${scope.accountId}/${scope.region}`);
  }

  close(): void {
    for (const source of this.external.values()) {
      source.secretsManager.destroy();
      source.kms.destroy();
    }
  }
}
