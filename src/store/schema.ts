import type { ColumnType, Generated } from 'kysely';

/**
 * The tables, as Kysely sees them. Timestamps are epoch milliseconds; JSON documents are
 * stored as text so that one schema serves SQLite and PostgreSQL alike.
 */
export interface Database {
  kms_keys: KmsKeyTable;
  kms_aliases: KmsAliasTable;
  secrets: SecretTable;
  secret_versions: SecretVersionTable;
  clusters: ClusterTable;
  scram_associations: ScramAssociationTable;
  audit_events: AuditEventTable;
  kafka_users: KafkaUserTable;
  kafka_cluster_sync: KafkaClusterSyncTable;
  cluster_operations: ClusterOperationTable;
}

export interface ClusterOperationTable {
  operation_arn: string;
  cluster_arn: string;
  account_id: string;
  region: string;
  operation_type: string;
  created_at: number;
  /** When it completes: the cluster's UPDATING spell ends then. */
  ends_at: number;
  /** The cluster's security settings before and after, as JSON. */
  source_info: string;
  target_info: string;
}

export interface KmsKeyTable {
  key_id: string;
  arn: string;
  account_id: string;
  region: string;
  description: string;
  key_state: string;
  key_manager: string;
  key_usage: string;
  key_spec: string;
  creation_date: number;
  deletion_date: number | null;
  wrapped_material: Buffer;
  tags: string;
  /** The key policy as given; null for KMS's default policy. */
  policy: string | null;
  /** Automatic rotation's period when it is on; null when it is off. */
  rotation_period_days: number | null;
}

export interface KmsAliasTable {
  account_id: string;
  region: string;
  alias_name: string;
  alias_arn: string;
  target_key_id: string;
  creation_date: number;
}

export interface SecretTable {
  arn: string;
  account_id: string;
  region: string;
  name: string;
  description: string | null;
  kms_key_id: string | null;
  created_date: number;
  last_changed_date: number;
  last_accessed_date: number | null;
  deleted_date: number | null;
  resource_policy: string | null;
  tags: string;
}

export interface SecretVersionTable {
  secret_arn: string;
  version_id: string;
  created_date: number;
  stages: string;
  value_kind: string;
  key_id: string;
  wrapped_data_key: Buffer;
  encrypted_value: Buffer;
}

export interface ClusterTable {
  arn: string;
  account_id: string;
  region: string;
  name: string;
  cluster_type: string;
  state: string;
  current_version: string;
  creation_time: number;
  transition_ends_at: number | null;
  scram_enabled: number;
  definition: string;
  tags: string;
  lock_counter: number;
}

export interface ScramAssociationTable {
  cluster_arn: string;
  secret_arn: string;
  username: string;
  created_at: number;
  /** PENDING, ACTIVE or FAILED: whether the user is on the cluster's brokers as it should be. */
  sync_state: ColumnType<string, string | undefined, string>;
  sync_reason: ColumnType<string | null, string | null | undefined, string | null>;
  /** When the reconciler last confirmed or applied this association on the brokers. */
  synced_at: ColumnType<number | null, number | null | undefined, number | null>;
}

export interface AuditEventTable {
  id: Generated<number>;
  time: number;
  request_id: string;
  account_id: string;
  principal: string;
  action: string;
  resource: string;
  outcome: string;
}

/**
 * A SCRAM user this service created on a cluster's brokers: the row is written before the
 * broker is asked, so that a crash in between never leaves a user we cannot tell is ours.
 * `version_id` and `fingerprint` (a keyed hash, never the password) say what was provisioned.
 */
export interface KafkaUserTable {
  cluster_arn: string;
  username: string;
  secret_arn: string | null;
  version_id: string | null;
  fingerprint: string | null;
  iterations: number | null;
  created_at: number;
  provisioned_at: number | null;
}

/** Per registered cluster: which replica reconciles it (a lease), and how the last pass went. */
export interface KafkaClusterSyncTable {
  cluster_arn: string;
  lease_holder: string | null;
  lease_expires_at: number | null;
  last_attempt_at: number | null;
  last_success_at: number | null;
  last_full_resync_at: number | null;
  last_error: string | null;
}
