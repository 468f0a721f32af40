import type { ClusterDefinition } from '../domain/clusters.js';
import type { Executor } from '../store/store.js';

export type SyncState = 'PENDING' | 'ACTIVE' | 'FAILED';

export interface AssociationStatus {
  secretArn: string;
  username: string;
  state: SyncState;
  /** Why it is PENDING or FAILED, and what to do; null when ACTIVE. */
  reason: string | null;
  /** When the user was last confirmed or written on the brokers (ISO 8601). */
  lastSyncTime: string | null;
  /** The secret version whose password the brokers hold, if any. */
  provisionedVersionId: string | null;
}

export interface ClusterStatus {
  clusterArn: string;
  /** Where the brokers are; null for a cluster that has none (created through the API). */
  brokers: { bootstrapServers: string; securityProtocol: string } | null;
  lastAttemptTime: string | null;
  lastSuccessfulSyncTime: string | null;
  lastError: string | null;
  counts: Record<SyncState, number>;
  associations: AssociationStatus[];
}

const NO_BROKERS =
  'The cluster has no Kafka brokers registered with this service, so no SCRAM user is made ' +
  'for it. Register the cluster under kafkaClusters in the configuration file.';

/** The data-plane status of a cluster's associations, as stored by the reconciler. */
export async function readClusterStatus(
  db: Executor,
  clusterArn: string,
): Promise<ClusterStatus | undefined> {
  const cluster = await db
    .selectFrom('clusters')
    .select(['arn', 'definition'])
    .where('arn', '=', clusterArn)
    .executeTakeFirst();
  if (!cluster) return undefined;
  const brokers = (JSON.parse(cluster.definition) as ClusterDefinition).selfManagedBrokers ?? null;
  const sync = await db
    .selectFrom('kafka_cluster_sync')
    .selectAll()
    .where('cluster_arn', '=', clusterArn)
    .executeTakeFirst();
  const rows = await db
    .selectFrom('scram_associations as a')
    .leftJoin('kafka_users as u', (join) =>
      join.onRef('u.cluster_arn', '=', 'a.cluster_arn').onRef('u.username', '=', 'a.username'),
    )
    .select([
      'a.secret_arn',
      'a.username',
      'a.sync_state',
      'a.sync_reason',
      'a.synced_at',
      'u.secret_arn as provisioned_secret_arn',
      'u.version_id',
    ])
    .where('a.cluster_arn', '=', clusterArn)
    .orderBy('a.secret_arn')
    .execute();

  const counts: Record<SyncState, number> = { PENDING: 0, ACTIVE: 0, FAILED: 0 };
  const associations = rows.map((row): AssociationStatus => {
    const state = row.sync_state as SyncState;
    counts[state] += 1;
    return {
      secretArn: row.secret_arn,
      username: row.username,
      state,
      reason: row.sync_reason ?? (brokers === null && state === 'PENDING' ? NO_BROKERS : null),
      lastSyncTime: isoTime(row.synced_at),
      provisionedVersionId:
        row.provisioned_secret_arn === row.secret_arn ? (row.version_id ?? null) : null,
    };
  });
  return {
    clusterArn,
    brokers,
    lastAttemptTime: isoTime(sync?.last_attempt_at ?? null),
    lastSuccessfulSyncTime: isoTime(sync?.last_success_at ?? null),
    lastError: sync?.last_error ?? null,
    counts,
    associations,
  };
}

function isoTime(epochMs: number | null): string | null {
  return epochMs === null ? null : new Date(Number(epochMs)).toISOString();
}
