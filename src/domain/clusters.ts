import { randomBytes } from 'node:crypto';

import { sql, type Kysely } from 'kysely';

import { clusterArn, clusterOperationArn, isClusterArn, type Scope } from './arn.js';
import { badRequest, conflict, notFound, type ServiceError } from './errors.js';
import { noDataPlane, type DataPlaneHook } from './sync.js';
import type { ClusterTable, Database } from '../store/schema.js';
import { isUniqueViolation } from '../store/errors.js';
import { ReusableQuery, type SlotFor } from '../store/reusable-query.js';
import type { Executor, Store } from '../store/store.js';

export type ClusterState = 'ACTIVE' | 'CREATING' | 'UPDATING' | 'DELETING' | 'FAILED';

/** The parts of a provisioned cluster's definition that MSK echoes back as given. */
export interface ClusterDefinition {
  kafkaVersion: string;
  numberOfBrokerNodes: number;
  brokerNodeGroupInfo: Record<string, unknown>;
  clientAuthentication?: ClientAuthentication;
  encryptionInfo?: Record<string, unknown>;
  enhancedMonitoring?: string;
  openMonitoring?: Record<string, unknown>;
  loggingInfo?: Record<string, unknown>;
  configurationInfo?: Record<string, unknown>;
  storageMode?: string;
  /** Set on a Kafka cluster registered from the configuration: where its brokers are. */
  selfManagedBrokers?: { bootstrapServers: string; securityProtocol: string };
}

export interface ClientAuthentication {
  sasl?: { scram?: { enabled?: boolean }; iam?: { enabled?: boolean } };
  tls?: Record<string, unknown>;
  unauthenticated?: { enabled?: boolean };
}

export interface Cluster {
  arn: string;
  name: string;
  accountId: string;
  region: string;
  state: ClusterState;
  currentVersion: string;
  creationTime: number;
  scramEnabled: boolean;
  definition: ClusterDefinition;
  tags: Record<string, string>;
}

/**
 * Clusters: enough of MSK's control plane for real tools to create and find the clusters
 * whose SCRAM secrets this service manages. A change of state (creating, updating) lasts the
 * configured transition time, then the cluster is ACTIVE again.
 */
/** An operation on a cluster, as DescribeClusterOperation shows it. */
export interface ClusterOperation {
  operationArn: string;
  clusterArn: string;
  operationType: string;
  creationTime: number;
  endTime: number | undefined;
  state: 'UPDATE_IN_PROGRESS' | 'UPDATE_COMPLETE';
  sourceClusterInfo: Record<string, unknown>;
  targetClusterInfo: Record<string, unknown>;
}

export class ClusterService {
  /** Every call on a cluster begins by finding it, so these queries are compiled only once. */
  private queries: ReturnType<typeof clusterQueries> | undefined;

  constructor(
    private readonly store: Store,
    private readonly transitionMs: number,
    private readonly dataPlane: DataPlaneHook = noDataPlane,
  ) {}

  async createCluster(
    scope: Scope,
    name: string,
    definition: ClusterDefinition,
    tags: Record<string, string>,
  ): Promise<Cluster> {
    if (!/^[0-9A-Za-z][0-9A-Za-z-]{0,63}$/.test(name)) {
      throw badRequest(
        'clusterName must be 1 to 64 letters, digits and dashes, starting with a letter or digit.',
        'clusterName',
      );
    }
    try {
      return await this.insertCluster(scope, name, definition, tags);
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      throw conflict(`A cluster named ${name} already exists.`, 'clusterName');
    }
  }

  private async insertCluster(
    scope: Scope,
    name: string,
    definition: ClusterDefinition,
    tags: Record<string, string>,
  ): Promise<Cluster> {
    return this.store.transaction(async (trx) => {
      const taken = await trx
        .selectFrom('clusters')
        .select('arn')
        .where('account_id', '=', scope.accountId)
        .where('region', '=', scope.region)
        .where('name', '=', name)
        .executeTakeFirst();
      if (taken) {
        throw conflict(`A cluster named ${name} already exists: ${taken.arn}.`, 'clusterName');
      }
      const now = Date.now();
      const row: ClusterTable = {
        arn: clusterArn(scope, name),
        account_id: scope.accountId,
        region: scope.region,
        name,
        cluster_type: 'PROVISIONED',
        state: 'CREATING',
        current_version: newClusterVersion(),
        creation_time: now,
        transition_ends_at: now + this.transitionMs,
        scram_enabled: definition.clientAuthentication?.sasl?.scram?.enabled ? 1 : 0,
        definition: JSON.stringify(definition),
        tags: JSON.stringify(tags),
        lock_counter: 0,
      };
      await trx.insertInto('clusters').values(row).execute();
      return toCluster(row);
    });
  }

  /**
   * The cluster an ARN names: a malformed ARN is 400 on `clusterArn`; a cluster that does not
   * exist, or exists in another account or region, is 404.
   */
  async findCluster(scope: Scope, arn: string, db: Executor = this.store.db): Promise<Cluster> {
    requireClusterArn(arn);
    this.queries ??= clusterQueries(this.store.db);
    const [row] = await this.queries.cluster.execute(db, {
      arn,
      accountId: scope.accountId,
      region: scope.region,
    });
    if (!row) throw clusterNotFound(arn);
    return toCluster(row);
  }

  /**
   * The ARN of the cluster an ARN names, refused as `findCluster` refuses it, without reading
   * the rest of the cluster.
   */
  async findClusterArn(scope: Scope, arn: string): Promise<string> {
    requireClusterArn(arn);
    this.queries ??= clusterQueries(this.store.db);
    const [row] = await this.queries.arn.execute(this.store.db, {
      arn,
      accountId: scope.accountId,
      region: scope.region,
    });
    if (!row) throw clusterNotFound(arn);
    return row.arn;
  }

  /**
   * Locks the cluster for the rest of the transaction: a write to its row, which SQLite and
   * PostgreSQL both serialize, so that concurrent changes to its associations queue up.
   */
  /**
   * Takes the cluster's row lock for the rest of the transaction. A cluster deleted since it
   * was read (by a DeleteCluster that committed in between) is 404, as it would be to a call
   * that came a moment later: there is nothing left to lock, nor to associate with.
   */
  async lockCluster(trx: Executor, arn: string): Promise<void> {
    const locked = await trx
      .updateTable('clusters')
      .set((eb) => ({ lock_counter: eb('lock_counter', '+', 1) }))
      .where('arn', '=', arn)
      .executeTakeFirst();
    if (Number(locked.numUpdatedRows) === 0) throw clusterNotFound(arn);
  }

  async listClusters(
    scope: Scope,
    input: { nameFilter?: string; afterArn?: string; limit: number },
  ): Promise<Cluster[]> {
    let query = this.store.db
      .selectFrom('clusters')
      .selectAll()
      .where('account_id', '=', scope.accountId)
      .where('region', '=', scope.region)
      .orderBy('arn')
      .limit(input.limit);
    if (input.afterArn) query = query.where('arn', '>', input.afterArn);
    if (input.nameFilter) {
      query = query.where(
        sql<string>`substr(name, 1, ${input.nameFilter.length})`,
        '=',
        input.nameFilter,
      );
    }
    return (await query.execute()).map(toCluster);
  }

  async deleteCluster(scope: Scope, arn: string, currentVersion?: string): Promise<Cluster> {
    const result = await this.store.transaction(async (trx) => {
      const cluster = await this.findCluster(scope, arn, trx);
      if (currentVersion !== undefined && currentVersion !== cluster.currentVersion) {
        throw badRequest(versionMismatch(cluster), 'currentVersion');
      }
      await trx.deleteFrom('scram_associations').where('cluster_arn', '=', arn).execute();
      await trx.deleteFrom('clusters').where('arn', '=', arn).execute();
      return cluster;
    });
    this.dataPlane.changed({ kind: 'cluster', clusterArn: result.arn });
    return result;
  }

  /** An operation UpdateSecurity started on one of the caller's clusters (404 otherwise). */
  async findOperation(scope: Scope, operationArn: string): Promise<ClusterOperation> {
    const row = await this.store.db
      .selectFrom('cluster_operations')
      .selectAll()
      .where('operation_arn', '=', operationArn)
      .where('account_id', '=', scope.accountId)
      .where('region', '=', scope.region)
      .executeTakeFirst();
    if (!row) {
      throw notFound(
        `No cluster operation ${operationArn} in this account and region.`,
        'clusterOperationArn',
      );
    }
    const endsAt = Number(row.ends_at);
    return {
      operationArn: row.operation_arn,
      clusterArn: row.cluster_arn,
      operationType: row.operation_type,
      creationTime: Number(row.created_at),
      endTime: Date.now() >= endsAt ? endsAt : undefined,
      state: Date.now() >= endsAt ? 'UPDATE_COMPLETE' : 'UPDATE_IN_PROGRESS',
      sourceClusterInfo: JSON.parse(row.source_info) as Record<string, unknown>,
      targetClusterInfo: JSON.parse(row.target_info) as Record<string, unknown>,
    };
  }

  async updateSecurity(
    scope: Scope,
    arn: string,
    input: {
      currentVersion: string;
      clientAuthentication?: ClientAuthentication;
      encryptionInfo?: Record<string, unknown>;
    },
  ): Promise<{ cluster: Cluster; operationArn: string }> {
    const result = await this.store.transaction(async (trx) => {
      const cluster = await this.findCluster(scope, arn, trx);
      if (input.currentVersion !== cluster.currentVersion) {
        throw badRequest(versionMismatch(cluster), 'currentVersion');
      }
      if (cluster.state !== 'ACTIVE') {
        throw badRequest(
          `The cluster is ${cluster.state}; its security settings can change only while it ` +
            'is ACTIVE.',
          'clusterArn',
        );
      }
      const definition: ClusterDefinition = { ...cluster.definition };
      if (input.clientAuthentication) definition.clientAuthentication = input.clientAuthentication;
      if (input.encryptionInfo) definition.encryptionInfo = input.encryptionInfo;
      const scramEnabled = input.clientAuthentication
        ? Boolean(input.clientAuthentication.sasl?.scram?.enabled)
        : cluster.scramEnabled;
      await trx
        .updateTable('clusters')
        .set({
          definition: JSON.stringify(definition),
          scram_enabled: scramEnabled ? 1 : 0,
          current_version: newClusterVersion(),
          state: 'UPDATING',
          transition_ends_at: Date.now() + this.transitionMs,
        })
        .where('arn', '=', arn)
        .execute();
      const operationArn = clusterOperationArn(cluster.arn);
      const now = Date.now();
      const security = (of: ClusterDefinition) =>
        JSON.stringify({
          clientAuthentication: of.clientAuthentication,
          encryptionInfo: of.encryptionInfo,
        });
      await trx
        .insertInto('cluster_operations')
        .values({
          operation_arn: operationArn,
          cluster_arn: cluster.arn,
          account_id: cluster.accountId,
          region: cluster.region,
          operation_type: 'UPDATE_SECURITY',
          created_at: now,
          ends_at: now + this.transitionMs,
          source_info: security(cluster.definition),
          target_info: security(definition),
        })
        .execute();
      return { cluster: await this.findCluster(scope, arn, trx), operationArn };
    });
    this.dataPlane.changed({ kind: 'cluster', clusterArn: result.cluster.arn });
    return result;
  }

  async updateTags(
    scope: Scope,
    arn: string,
    change: (tags: Record<string, string>) => Record<string, string>,
  ): Promise<void> {
    await this.store.transaction(async (trx) => {
      const cluster = await this.findCluster(scope, arn, trx);
      await trx
        .updateTable('clusters')
        .set({ tags: JSON.stringify(change(cluster.tags)) })
        .where('arn', '=', arn)
        .execute();
    });
  }
}

/** A cluster by its ARN, within the caller's account and region: all of it, or its ARN. */
function clusterQueries(db: Kysely<Database>) {
  const byArn = (db: Kysely<Database>, slot: SlotFor<'arn' | 'accountId' | 'region'>) =>
    db
      .selectFrom('clusters')
      .where('arn', '=', slot<string>('arn'))
      .where('account_id', '=', slot<string>('accountId'))
      .where('region', '=', slot<string>('region'));
  return {
    cluster: new ReusableQuery(db, (db, slot) => byArn(db, slot).selectAll()),
    arn: new ReusableQuery(db, (db, slot) => byArn(db, slot).select('arn')),
  };
}

/** A malformed cluster ARN is 400 on the parameter that carried it, before any lookup. */
export function requireClusterArn(arn: string, parameter = 'clusterArn'): void {
  if (isClusterArn(arn)) return;
  throw badRequest(
    `${arn} is not a valid cluster ARN. Use the clusterArn that CreateCluster or ` +
      'ListClusters returned.',
    parameter,
  );
}

function clusterNotFound(arn: string): ServiceError {
  return notFound(`The cluster ${arn} does not exist.`, 'clusterArn');
}

/** MSK's cluster versions are short opaque strings that change on every update. */
function newClusterVersion(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  return Array.from(randomBytes(14), (byte) => alphabet[byte % alphabet.length]).join('');
}

function versionMismatch(cluster: Cluster): string {
  return (
    `The currentVersion does not match the cluster's current version. Call DescribeCluster ` +
    `for the current version of ${cluster.arn}, then retry.`
  );
}

function toCluster(row: ClusterTable): Cluster {
  const transitionOver =
    row.transition_ends_at === null || Number(row.transition_ends_at) <= Date.now();
  const state =
    (row.state === 'CREATING' || row.state === 'UPDATING') && transitionOver
      ? 'ACTIVE'
      : (row.state as ClusterState);
  return {
    arn: row.arn,
    name: row.name,
    accountId: row.account_id,
    region: row.region,
    state,
    currentVersion: row.current_version,
    creationTime: Number(row.creation_time),
    scramEnabled: row.scram_enabled === 1,
    definition: JSON.parse(row.definition) as ClusterDefinition,
    tags: JSON.parse(row.tags) as Record<string, string>,
  };
}
