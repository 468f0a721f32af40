import type { Logger } from 'pino';

import type { SecretSourceConfig } from '../config/config.js';
import type { Scope } from '../domain/arn.js';
import type { AwsSecretSource } from './aws.js';

/**
 * Which source serves an account and region. Unlisted ones, and those listed as `builtin`,
 * use the built-in Secrets Manager and KMS; `undefined` from `externalFor` means exactly that.
 */
export class SecretSources {
  constructor(private readonly external = new Map<string, AwsSecretSource>()) {}

  /**
   * The sources configured. The AWS SDK is loaded only when one of them is `aws`: it weighs
   * tens of megabytes that a service on the built-in store would carry for nothing.
   */
  static async open(
    configured: SecretSourceConfig[] = [],
    logger?: Logger,
  ): Promise<SecretSources> {
    const external = new Map<string, AwsSecretSource>();
    const awsSources = configured.filter((source) => source.type === 'aws');
    if (awsSources.length === 0) return new SecretSources(external);
    const { AwsSecretSource } = await import('./aws.js');
    for (const source of awsSources) {
      const name = `${source.accountId}/${source.region}`;
      external.set(
        name,
        new AwsSecretSource({
          name,
          region: source.sourceRegion ?? source.region,
          endpoint: source.endpoint,
          profile: source.profile,
          attachResourcePolicy: source.attachResourcePolicy,
          pollIntervalSeconds: source.pollIntervalSeconds,
          logger,
        }),
      );
    }
    return new SecretSources(external);
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
