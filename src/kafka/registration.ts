import { createHash } from 'node:crypto';

import type { Logger } from 'pino';

import type { KafkaClusterConfig } from '../config/config.js';
import { partitionOf } from '../domain/arn.js';
import type { ClusterDefinition } from '../domain/clusters.js';
import { isUniqueViolation } from '../store/errors.js';
import type { Store } from '../store/store.js';

/**
 * The ARN of a registered cluster. Its UUID is derived from account, region and name, so
 * that every start, and every replica, gives the same cluster the same ARN.
 */
export function registeredClusterArn(
  cluster: Pick<KafkaClusterConfig, 'accountId' | 'region' | 'name'>,
): string {
  const digest = createHash('sha256')
    .update(`scram-secrets:kafka-cluster:${cluster.accountId}:${cluster.region}:${cluster.name}`)
    .digest();
  // Shaped as a name-based UUID (version 5, RFC 4122 variant), as MSK's ARNs carry a UUID.
  digest[6] = (digest[6]! & 0x0f) | 0x50;
  digest[8] = (digest[8]! & 0x3f) | 0x80;
  const hex = digest.subarray(0, 16).toString('hex');
  const uuid = [
    hex.slice(0, 8),
    hex.slice(8, 12),
    hex.slice(12, 16),
    hex.slice(16, 20),
    hex.slice(20),
  ].join('-');
  const partition = partitionOf(cluster.region);
  const suffix = `${uuid}-${1 + (digest[16]! % 25)}`;
  const scope = `${cluster.region}:${cluster.accountId}`;
  return `arn:${partition}:kafka:${scope}:cluster/${cluster.name}/${suffix}`;
}

/** What DescribeCluster shows of a cluster that this service did not create. */
function definitionOf(cluster: KafkaClusterConfig): ClusterDefinition {
  return {
    kafkaVersion: cluster.kafkaVersion ?? 'unknown',
    numberOfBrokerNodes: cluster.bootstrapServers.length,
    brokerNodeGroupInfo: { clientSubnets: [], instanceType: 'self-managed' },
    clientAuthentication: { sasl: { scram: { enabled: true } } },
    encryptionInfo: {
      encryptionInTransit: {
        clientBroker: cluster.securityProtocol === 'SASL_SSL' ? 'TLS' : 'PLAINTEXT',
        inCluster: cluster.securityProtocol === 'SASL_SSL',
      },
    },
    selfManagedBrokers: {
      bootstrapServers: cluster.bootstrapServers.join(','),
      securityProtocol: cluster.securityProtocol,
    },
  };
}

/**
 * Registers each configured Kafka cluster as an MSK cluster: SASL/SCRAM on and ACTIVE, under
 * its stable ARN. A cluster registered before is brought in line with the configuration (the
 * configuration is the source of truth for its brokers); its tags and associations stay.
 */
export async function registerKafkaClusters(
  store: Store,
  clusters: KafkaClusterConfig[],
  logger: Logger,
): Promise<Map<string, KafkaClusterConfig>> {
  const registered = new Map<string, KafkaClusterConfig>();
  for (const cluster of clusters) {
    const arn = registeredClusterArn(cluster);
    try {
      // A second try: another replica registering the same cluster at once may win the insert.
      await registerOne(store, arn, cluster).catch((error: unknown) => {
        if (!isUniqueViolation(error)) throw error;
        return registerOne(store, arn, cluster);
      });
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      throw new Error(
        `Invalid configuration: kafkaClusters: a cluster named ${cluster.name} already exists in ` +
          `account ${cluster.accountId}, region ${cluster.region}, created through the API. ` +
          'Delete it or register the Kafka cluster under another name.',
      );
    }
    logger.info(
      {
        event: 'kafka.cluster.registered',
        clusterArn: arn,
        bootstrapServers: cluster.bootstrapServers,
        securityProtocol: cluster.securityProtocol,
      },
      'Kafka cluster registered',
    );
    registered.set(arn, cluster);
  }
  return registered;
}

async function registerOne(store: Store, arn: string, cluster: KafkaClusterConfig): Promise<void> {
  const definition = JSON.stringify(definitionOf(cluster));
  await store.transaction(async (trx) => {
    const existing = await trx
      .selectFrom('clusters')
      .select('arn')
      .where('arn', '=', arn)
      .executeTakeFirst();
    if (existing) {
      await trx
        .updateTable('clusters')
        .set({ definition, scram_enabled: 1, state: 'ACTIVE', transition_ends_at: null })
        .where('arn', '=', arn)
        .execute();
      return;
    }
    await trx
      .insertInto('clusters')
      .values({
        arn,
        account_id: cluster.accountId,
        region: cluster.region,
        name: cluster.name,
        cluster_type: 'PROVISIONED',
        state: 'ACTIVE',
        // Fixed, so that replicas registering the same cluster at once write the same row.
        current_version: 'K3REGISTERED',
        creation_time: Date.now(),
        transition_ends_at: null,
        scram_enabled: 1,
        definition,
        tags: '{}',
        lock_counter: 0,
      })
      .execute();
  });
}
