import type { Kysely, Migration, MigrationProvider } from 'kysely';

import type { StoreDialect } from './store.js';

/**
 * The one migration history for every store. Column types that differ between SQLite and
 * PostgreSQL are chosen here, from the dialect, so that the rest of the code never cares.
 */
export function migrationProvider(dialect: StoreDialect): MigrationProvider {
  const binary = dialect === 'postgres' ? 'bytea' : 'blob';
  const migrations: Record<string, Migration> = {
    '0001_initial': {
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema
          .createTable('kms_keys')
          .addColumn('key_id', 'text', (c) => c.primaryKey())
          .addColumn('arn', 'text', (c) => c.notNull().unique())
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('region', 'text', (c) => c.notNull())
          .addColumn('description', 'text', (c) => c.notNull())
          .addColumn('key_state', 'text', (c) => c.notNull())
          .addColumn('key_manager', 'text', (c) => c.notNull())
          .addColumn('key_usage', 'text', (c) => c.notNull())
          .addColumn('key_spec', 'text', (c) => c.notNull())
          .addColumn('creation_date', 'bigint', (c) => c.notNull())
          .addColumn('deletion_date', 'bigint')
          .addColumn('wrapped_material', binary, (c) => c.notNull())
          .addColumn('tags', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('kms_keys_by_account')
          .on('kms_keys')
          .columns(['account_id', 'region', 'key_id'])
          .execute();

        await db.schema
          .createTable('kms_aliases')
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('region', 'text', (c) => c.notNull())
          .addColumn('alias_name', 'text', (c) => c.notNull())
          .addColumn('alias_arn', 'text', (c) => c.notNull())
          .addColumn('target_key_id', 'text', (c) => c.notNull())
          .addColumn('creation_date', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('kms_aliases_pk', ['account_id', 'region', 'alias_name'])
          .execute();

        await db.schema
          .createTable('secrets')
          .addColumn('arn', 'text', (c) => c.primaryKey())
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('region', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('description', 'text')
          .addColumn('kms_key_id', 'text')
          .addColumn('created_date', 'bigint', (c) => c.notNull())
          .addColumn('last_changed_date', 'bigint', (c) => c.notNull())
          .addColumn('last_accessed_date', 'bigint')
          .addColumn('deleted_date', 'bigint')
          .addColumn('resource_policy', 'text')
          .addColumn('tags', 'text', (c) => c.notNull())
          .addUniqueConstraint('secrets_name_unique', ['account_id', 'region', 'name'])
          .execute();

        await db.schema
          .createTable('secret_versions')
          .addColumn('secret_arn', 'text', (c) =>
            c.notNull().references('secrets.arn').onDelete('cascade'),
          )
          .addColumn('version_id', 'text', (c) => c.notNull())
          .addColumn('created_date', 'bigint', (c) => c.notNull())
          .addColumn('stages', 'text', (c) => c.notNull())
          .addColumn('value_kind', 'text', (c) => c.notNull())
          .addColumn('key_id', 'text', (c) => c.notNull())
          .addColumn('wrapped_data_key', binary, (c) => c.notNull())
          .addColumn('encrypted_value', binary, (c) => c.notNull())
          .addPrimaryKeyConstraint('secret_versions_pk', ['secret_arn', 'version_id'])
          .execute();

        await db.schema
          .createTable('clusters')
          .addColumn('arn', 'text', (c) => c.primaryKey())
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('region', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('cluster_type', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('current_version', 'text', (c) => c.notNull())
          .addColumn('creation_time', 'bigint', (c) => c.notNull())
          .addColumn('transition_ends_at', 'bigint')
          .addColumn('scram_enabled', 'integer', (c) => c.notNull())
          .addColumn('definition', 'text', (c) => c.notNull())
          .addColumn('tags', 'text', (c) => c.notNull())
          .addColumn('lock_counter', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
        await db.schema
          .createIndex('clusters_by_account')
          .on('clusters')
          .columns(['account_id', 'region', 'name'])
          .execute();

        await db.schema
          .createTable('scram_associations')
          .addColumn('cluster_arn', 'text', (c) =>
            c.notNull().references('clusters.arn').onDelete('cascade'),
          )
          .addColumn('secret_arn', 'text', (c) => c.notNull())
          .addColumn('username', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('scram_associations_pk', ['cluster_arn', 'secret_arn'])
          .addUniqueConstraint('scram_associations_username_unique', ['cluster_arn', 'username'])
          .execute();
        await db.schema
          .createIndex('scram_associations_by_secret')
          .on('scram_associations')
          .column('secret_arn')
          .execute();
      },
    },
    '0002_audit_events': {
      async up(db: Kysely<unknown>): Promise<void> {
        const table = db.schema.createTable('audit_events');
        await (
          dialect === 'postgres'
            ? table.addColumn('id', 'bigserial', (c) => c.primaryKey())
            : table.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        )
          .addColumn('time', 'bigint', (c) => c.notNull())
          .addColumn('request_id', 'text', (c) => c.notNull())
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('principal', 'text', (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('resource', 'text', (c) => c.notNull())
          .addColumn('outcome', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('audit_events_by_time')
          .on('audit_events')
          .column('time')
          .execute();
      },
    },
    '0003_unique_cluster_names': {
      // With several replicas, a check before the insert is not enough: two can both see
      // the name free. The database decides.
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema
          .createIndex('clusters_name_unique')
          .on('clusters')
          .columns(['account_id', 'region', 'name'])
          .unique()
          .execute();
      },
    },
    '0004_kafka_data_plane': {
      // The data plane's own state. kafka_users is keyed by cluster ARN without a foreign key
      // on purpose: when a cluster row goes, the users we made on its brokers must still be
      // known, so that they can be removed.
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema
          .alterTable('scram_associations')
          .addColumn('sync_state', 'text', (c) => c.notNull().defaultTo('PENDING'))
          .execute();
        await db.schema.alterTable('scram_associations').addColumn('sync_reason', 'text').execute();
        await db.schema.alterTable('scram_associations').addColumn('synced_at', 'bigint').execute();

        await db.schema
          .createTable('kafka_users')
          .addColumn('cluster_arn', 'text', (c) => c.notNull())
          .addColumn('username', 'text', (c) => c.notNull())
          .addColumn('secret_arn', 'text')
          .addColumn('version_id', 'text')
          .addColumn('fingerprint', 'text')
          .addColumn('iterations', 'integer')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('provisioned_at', 'bigint')
          .addPrimaryKeyConstraint('kafka_users_pk', ['cluster_arn', 'username'])
          .execute();

        await db.schema
          .createTable('kafka_cluster_sync')
          .addColumn('cluster_arn', 'text', (c) => c.primaryKey())
          .addColumn('lease_holder', 'text')
          .addColumn('lease_expires_at', 'bigint')
          .addColumn('last_attempt_at', 'bigint')
          .addColumn('last_success_at', 'bigint')
          .addColumn('last_full_resync_at', 'bigint')
          .addColumn('last_error', 'text')
          .execute();
      },
    },
    '0005_kms_key_policy_and_rotation': {
      // A key's own policy (null: KMS's default one) and whether rotation is on, kept and
      // shown as KMS shows them; neither changes what the service lets a caller do.
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema.alterTable('kms_keys').addColumn('policy', 'text').execute();
        await db.schema
          .alterTable('kms_keys')
          .addColumn('rotation_period_days', 'integer')
          .execute();
      },
    },
    '0006_cluster_operations': {
      // The operations UpdateSecurity starts, for DescribeClusterOperation; they go with
      // their cluster.
      async up(db: Kysely<unknown>): Promise<void> {
        await db.schema
          .createTable('cluster_operations')
          .addColumn('operation_arn', 'text', (c) => c.primaryKey())
          .addColumn('cluster_arn', 'text', (c) =>
            c.notNull().references('clusters.arn').onDelete('cascade'),
          )
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('region', 'text', (c) => c.notNull())
          .addColumn('operation_type', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('ends_at', 'bigint', (c) => c.notNull())
          .addColumn('source_info', 'text', (c) => c.notNull())
          .addColumn('target_info', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('cluster_operations_by_cluster')
          .on('cluster_operations')
          .column('cluster_arn')
          .execute();
      },
    },
  };
  return { getMigrations: async () => migrations };
}
