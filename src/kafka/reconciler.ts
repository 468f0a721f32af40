import { performance } from 'node:perf_hooks';

import type { Logger } from 'pino';

import {
  BrokerUnavailableError,
  describeError,
  RESOURCE_NOT_FOUND,
  type AlterFailure,
  type BrokerUser,
  type ScramAdmin,
  type UserDeletion,
  type UserUpsertion,
} from './admin-client.js';
import type { DesiredStateReader, RefusedAssociation, WantedUser } from './desired.js';
import type { ClusterLease } from './lease.js';
import type { DataPlaneMetrics } from './metrics.js';
import { planReconcile, requestRounds, type OwnedUser, type ProvisionCause } from './plan.js';
import { credentialFingerprint, scramSha512Credential } from './scram.js';
import { parseArn, type Scope } from '../domain/arn.js';
import { SourceUnavailableError } from '../sources/source.js';
import type { Store } from '../store/store.js';

export interface ReconcilerSettings {
  /** SCRAM iterations for new credentials. */
  iterations: number;
  /** Time between passes when nothing asks for one sooner. */
  intervalMs: number;
  /** How often every user is written again, to undo password changes made on the brokers. */
  fullResyncMs: number;
  /** The most changes sent in one AlterUserScramCredentials request. */
  requestSize: number;
  /** Retry delays while the brokers are unreachable: doubling from the first to the most. */
  backoff: { firstMs: number; mostMs: number };
}

export interface ReconcilerParts {
  store: Store;
  /** Where the cluster's associated secrets are read: the store, or an external source. */
  desired: DesiredStateReader;
  admin: ScramAdmin;
  lease: ClusterLease;
  metrics: DataPlaneMetrics;
  logger: Logger;
  fingerprintKey: Buffer;
  settings: ReconcilerSettings;
}

/** What one pass did, for logs, metrics and tests. */
export interface PassSummary {
  written: number;
  removed: number;
  failed: number;
  active: number;
}

type Change = ({ kind: 'upsert' } & UserUpsertion) | ({ kind: 'delete' } & UserDeletion);

interface Write {
  user: WantedUser;
  cause: ProvisionCause;
  fingerprint: string;
}

const STATUS_CHUNK = 500;

/** The lease lapsed during a pass and another replica holds it now. */
class LeaseLostError extends Error {
  constructor() {
    super('the cluster lease was lost to another replica');
    this.name = 'LeaseLostError';
  }
}

/**
 * Keeps one cluster's SCRAM users in step with the store: desired state is the associations
 * and their secrets' current values, actual state is what DescribeUserScramCredentials
 * reports. A pass runs at once when something changed (`nudge`), and on an interval; while
 * the brokers are unreachable it retries with growing, jittered delays. Every pass starts
 * from what the store and the brokers say, never from memory, so a restart after a crash at
 * any instant, or a broker restart, converges in the next pass.
 */
export class ClusterReconciler {
  private loop: Promise<void> | undefined;
  private stopped = false;
  private dirty = false;
  /** After a failure, or while another replica holds the lease, nudges wait for the timer. */
  private healthy = true;
  private failures = 0;
  private wake: ((force: boolean) => void) | undefined;
  private readonly scope: Scope;

  constructor(
    readonly clusterArn: string,
    private readonly parts: ReconcilerParts,
  ) {
    const arn = parseArn(clusterArn)!;
    this.scope = { accountId: arn.accountId, region: arn.region };
  }

  start(): void {
    this.loop ??= this.run();
  }

  nudge(): void {
    this.dirty = true;
    this.wake?.(false);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.(true);
    await this.loop;
    await this.parts.lease.release().catch(() => undefined);
    await this.parts.admin.close();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      this.dirty = false;
      const delayMs = await this.attempt();
      if (this.stopped) break;
      if (this.dirty && this.healthy) continue;
      await this.sleep(delayMs);
    }
  }

  private sleep(delayMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, delayMs);
      this.wake = (force) => {
        if (force || this.healthy) done();
      };
    });
  }

  /** One pass if this replica holds the lease; returns how long to wait before the next. */
  private async attempt(): Promise<number> {
    const { lease, metrics, logger, settings } = this.parts;
    const labels = { cluster_arn: this.clusterArn };
    const started = performance.now();
    try {
      if (!(await lease.acquire())) {
        this.healthy = false;
        return settings.intervalMs;
      }
      const summary = await this.pass();
      this.healthy = true;
      this.failures = 0;
      metrics.reconcileRuns.inc({ ...labels, outcome: 'success' });
      metrics.reconcileDuration.observe(labels, (performance.now() - started) / 1000);
      if (summary.written + summary.removed > 0) {
        logger.info(
          { event: 'kafka.reconcile.applied', clusterArn: this.clusterArn, ...summary },
          'brokers updated',
        );
      }
      return settings.intervalMs;
    } catch (error) {
      this.healthy = false;
      if (error instanceof LeaseLostError) {
        // Not a fault to retry: the new holder reconciles from here, from the brokers' state.
        logger.warn(
          { event: 'kafka.lease.lost', clusterArn: this.clusterArn },
          'another replica took the cluster over during a pass; stopped writing',
        );
        return settings.intervalMs;
      }
      this.failures += 1;
      const brokers = error instanceof BrokerUnavailableError;
      const source = error instanceof SourceUnavailableError;
      metrics.reconcileRuns.inc({ ...labels, outcome: 'failure' });
      metrics.reconcileDuration.observe(labels, (performance.now() - started) / 1000);
      metrics.failures.inc({
        ...labels,
        kind: brokers ? 'brokers' : source ? 'secret_source' : 'internal',
      });
      const retryInMs = backoffDelay(this.failures, settings.backoff);
      logger.warn(
        {
          event: 'kafka.reconcile.failed',
          clusterArn: this.clusterArn,
          attempt: this.failures,
          retryInMs,
          // Our own errors and the drivers' name no secret: values never reach a message.
          reason: describeError(error),
        },
        brokers
          ? 'brokers unreachable; retrying'
          : source
            ? 'secret source unreachable; brokers keep their users; retrying'
            : 'reconcile pass failed; retrying',
      );
      const problem =
        brokers || source ? describeError(error) : `internal error (${(error as Error)?.name})`;
      await this.recordAttempt(problem).catch(() => undefined);
      return retryInMs;
    }
  }

  /** Reads desired and actual state, writes the difference to the brokers, records the outcome. */
  async pass(): Promise<PassSummary> {
    const { store, admin, settings } = this.parts;
    const now = Date.now();
    const cluster = await store.db
      .selectFrom('clusters')
      .select('scram_enabled')
      .where('arn', '=', this.clusterArn)
      .executeTakeFirst();
    // A deleted cluster wants no users: the ones we made are removed. With SASL/SCRAM turned
    // off (UpdateSecurity), no association may log in with SCRAM, so none keeps its user.
    const desired = cluster
      ? await this.parts.desired.load(store.db, this.clusterArn)
      : { wanted: [], refused: [] };
    if (cluster && cluster.scram_enabled !== 1) {
      desired.refused.push(
        ...desired.wanted.map((user) => ({
          ...user,
          reason:
            'SASL/SCRAM authentication is off on the cluster. Turn it on with UpdateSecurity.',
        })),
      );
      desired.wanted = [];
    }
    const owned = await this.ownedUsers();
    let actual: Map<string, BrokerUser>;
    try {
      actual = await admin.describeUsers();
    } catch (error) {
      await this.recordWaiting(desired.refused, describeError(error));
      throw error;
    }

    const sync = await store.db
      .selectFrom('kafka_cluster_sync')
      .select('last_full_resync_at')
      .where('cluster_arn', '=', this.clusterArn)
      .executeTakeFirst();
    const lastFull = sync?.last_full_resync_at ?? null;
    const fullResync =
      settings.fullResyncMs > 0 &&
      lastFull !== null &&
      now - Number(lastFull) >= settings.fullResyncMs;

    const plan = planReconcile({
      wanted: desired.wanted,
      refused: desired.refused,
      owned,
      actual,
      iterations: settings.iterations,
      fullResync,
    });

    const refused: RefusedAssociation[] = [...desired.refused];
    const deletions = [...plan.deletions];
    const forget = [...plan.forget];
    const writes = new Map<string, Write>();
    const confirmed: Write[] = [];
    const upsertions: UserUpsertion[] = [];
    for (const { user, owned: ours, cause } of plan.provision) {
      const read = await this.parts.desired.read(this.scope, user);
      if (!read.ok) {
        refused.push({ ...user, reason: read.reason });
        if (ours) this.removeOwned(user.username, actual, deletions, forget);
        continue;
      }
      const fingerprint = credentialFingerprint(
        this.parts.fingerprintKey,
        user.username,
        read.password,
        settings.iterations,
      );
      // A new version holding the same password needs no write: the brokers are right.
      if (
        cause === 'rotated' &&
        ours?.fingerprint === fingerprint &&
        ours.iterations === settings.iterations
      ) {
        confirmed.push({ user, cause, fingerprint });
        continue;
      }
      const credential = await scramSha512Credential(read.password, settings.iterations);
      upsertions.push({ name: user.username, ...credential });
      writes.set(user.username, { user, cause, fingerprint });
    }

    await this.claimNewUsers(
      [...writes.values()].filter((write) => !owned.has(write.user.username)),
    );
    const failures = await this.alter(deletions, upsertions);

    return this.recordPass({
      now,
      fullResyncDone: fullResync || lastFull === null,
      inSync: plan.inSync,
      foreign: plan.foreign,
      refused,
      writes,
      confirmed,
      deletions,
      forget,
      failures,
      // Users whose value could not be used are no longer wanted: their rows may go.
      wanted: withoutNames(
        desired.wanted.map((user) => user.username),
        refused.map((refusal) => refusal.username),
      ),
    });
  }

  private removeOwned(
    username: string,
    actual: Map<string, BrokerUser>,
    deletions: UserDeletion[],
    forget: string[],
  ): void {
    const credentials = actual.get(username)?.credentials ?? [];
    if (credentials.length === 0) forget.push(username);
    for (const credential of credentials) {
      if (!deletions.some((d) => d.name === username && d.mechanism === credential.mechanism)) {
        deletions.push({ name: username, mechanism: credential.mechanism });
      }
    }
  }

  private async ownedUsers(): Promise<Map<string, OwnedUser>> {
    const rows = await this.parts.store.db
      .selectFrom('kafka_users')
      .selectAll()
      .where('cluster_arn', '=', this.clusterArn)
      .execute();
    return new Map(
      rows.map((row) => [
        row.username,
        {
          username: row.username,
          secretArn: row.secret_arn,
          versionId: row.version_id,
          fingerprint: row.fingerprint,
          iterations: row.iterations === null ? null : Number(row.iterations),
        },
      ]),
    );
  }

  /**
   * Writes down, before the brokers are asked, that these users are ours: should we die
   * between the two, the next pass still knows them as ours and finishes (or undoes) the job,
   * instead of taking them for users someone else made.
   */
  private async claimNewUsers(writes: Write[]): Promise<void> {
    if (writes.length === 0) return;
    const now = Date.now();
    await this.parts.store.transaction(async (trx) => {
      for (const write of writes) {
        await trx
          .insertInto('kafka_users')
          .values({
            cluster_arn: this.clusterArn,
            username: write.user.username,
            secret_arn: write.user.secretArn,
            version_id: null,
            fingerprint: null,
            iterations: null,
            created_at: now,
            provisioned_at: null,
          })
          .execute();
      }
    });
  }

  /** Sends the changes in as few requests as Kafka allows; returns what the brokers refused. */
  private async alter(
    deletions: UserDeletion[],
    upsertions: UserUpsertion[],
  ): Promise<Map<string, AlterFailure>> {
    const failures = new Map<string, AlterFailure>();
    if (deletions.length === 0 && upsertions.length === 0) return failures;
    // The lease may have lapsed during a long pass; never write once another replica may.
    await this.holdLease();
    this.parts.logger.info(
      {
        event: 'kafka.users.altering',
        clusterArn: this.clusterArn,
        upsertions: upsertions.length,
        deletions: deletions.length,
      },
      'writing SCRAM users to the brokers',
    );
    const changes: Change[] = [
      ...upsertions.map((user) => ({ kind: 'upsert' as const, ...user })),
      ...deletions.map((deletion) => ({ kind: 'delete' as const, ...deletion })),
    ];
    const rounds = requestRounds(changes, this.parts.settings.requestSize);
    for (const [index, round] of rounds.entries()) {
      // Renewed between rounds too: a replica taken over in the middle stops at the next one.
      if (index > 0) await this.holdLease();
      const result = await this.parts.admin.alterUsers(
        round.flatMap((change) =>
          change.kind === 'delete' ? [{ name: change.name, mechanism: change.mechanism }] : [],
        ),
        round.flatMap((change) => (change.kind === 'upsert' ? [change] : [])),
      );
      for (const [name, failure] of result) failures.set(name, failure);
    }
    return failures;
  }

  /** Renews the lease, or ends the pass when another replica took it over. */
  private async holdLease(): Promise<void> {
    if (!(await this.parts.lease.acquire())) throw new LeaseLostError();
  }

  private async recordPass(outcome: {
    now: number;
    fullResyncDone: boolean;
    inSync: WantedUser[];
    foreign: WantedUser[];
    refused: RefusedAssociation[];
    writes: Map<string, Write>;
    confirmed: Write[];
    deletions: UserDeletion[];
    forget: string[];
    failures: Map<string, AlterFailure>;
    wanted: Set<string>;
  }): Promise<PassSummary> {
    const { now, failures } = outcome;
    const active: WantedUser[] = [...outcome.inSync, ...outcome.confirmed.map((w) => w.user)];
    const failed: { user: { secretArn: string }; reason: string }[] = [];
    const written: Write[] = [];
    for (const write of outcome.writes.values()) {
      const failure = failures.get(write.user.username);
      if (failure) {
        failed.push({
          user: write.user,
          reason:
            `The brokers refused the user: ${failure.errorMessage} ` +
            `(Kafka error ${failure.errorCode}).`,
        });
      } else {
        written.push(write);
        active.push(write.user);
      }
    }
    for (const user of outcome.foreign) {
      failed.push({
        user,
        reason:
          `A SCRAM user named ${user.username} exists on the brokers and was not created by this ` +
          'service, so it is left alone. Remove it there, or use another username.',
      });
    }
    for (const refusal of outcome.refused) {
      failed.push({
        user: refusal,
        reason: `${refusal.reason} No user is kept on the brokers for it.`,
      });
    }
    // A user is gone once every credential we deleted went (or was gone already).
    const removed = new Set(
      outcome.deletions
        .filter((d) => !outcome.wanted.has(d.name))
        .map((d) => d.name)
        .filter((name) => {
          const failure = failures.get(name);
          return !failure || failure.errorCode === RESOURCE_NOT_FOUND;
        }),
    );
    for (const refusal of outcome.refused) {
      const failure = failures.get(refusal.username);
      if (failure && failure.errorCode !== RESOURCE_NOT_FOUND) {
        const entry = failed.find((f) => f.user.secretArn === refusal.secretArn);
        if (entry) {
          entry.reason = `${refusal.reason} Removing its user failed: ${failure.errorMessage}.`;
        }
      }
    }

    await this.parts.store.transaction(async (trx) => {
      for (const write of [...written, ...outcome.confirmed]) {
        await trx
          .updateTable('kafka_users')
          .set({
            secret_arn: write.user.secretArn,
            version_id: write.user.versionId,
            fingerprint: write.fingerprint,
            iterations: this.parts.settings.iterations,
            provisioned_at: now,
          })
          .where('cluster_arn', '=', this.clusterArn)
          .where('username', '=', write.user.username)
          .execute();
      }
      const gone = [...removed, ...outcome.forget];
      for (let start = 0; start < gone.length; start += STATUS_CHUNK) {
        await trx
          .deleteFrom('kafka_users')
          .where('cluster_arn', '=', this.clusterArn)
          .where('username', 'in', gone.slice(start, start + STATUS_CHUNK))
          .execute();
      }
      const activeArns = active.map((user) => user.secretArn);
      for (let start = 0; start < activeArns.length; start += STATUS_CHUNK) {
        await trx
          .updateTable('scram_associations')
          .set({ sync_state: 'ACTIVE', sync_reason: null, synced_at: now })
          .where('cluster_arn', '=', this.clusterArn)
          .where('secret_arn', 'in', activeArns.slice(start, start + STATUS_CHUNK))
          .execute();
      }
      for (const { user, reason } of failed) {
        await trx
          .updateTable('scram_associations')
          .set({ sync_state: 'FAILED', sync_reason: reason, synced_at: now })
          .where('cluster_arn', '=', this.clusterArn)
          .where('secret_arn', '=', user.secretArn)
          .execute();
      }
      const sync: Record<string, number | string | null> = {
        last_attempt_at: now,
        last_success_at: now,
        last_error: null,
      };
      if (outcome.fullResyncDone) sync.last_full_resync_at = now;
      await trx
        .updateTable('kafka_cluster_sync')
        .set(sync)
        .where('cluster_arn', '=', this.clusterArn)
        .execute();
    });

    const labels = { cluster_arn: this.clusterArn };
    const { metrics, logger } = this.parts;
    for (const write of written) {
      metrics.provisionings.inc({ ...labels, cause: write.cause });
      if (write.cause === 'restored') {
        logger.warn(
          {
            event: 'kafka.user.restored',
            clusterArn: this.clusterArn,
            username: write.user.username,
          },
          'user was changed or removed on the brokers; restored',
        );
      }
    }
    metrics.removals.inc(labels, removed.size);
    const userFailures = [...outcome.writes.keys()].filter((name) => failures.has(name)).length;
    if (userFailures > 0) metrics.failures.inc({ ...labels, kind: 'user' }, userFailures);
    metrics.usersProvisioned.set(labels, active.length);
    return {
      written: written.length,
      removed: removed.size,
      failed: failed.length,
      active: active.length,
    };
  }

  /** The brokers are unreachable: say so on the cluster and on what waits for them. */
  private async recordWaiting(refused: RefusedAssociation[], problem: string): Promise<void> {
    const now = Date.now();
    await this.parts.store.transaction(async (trx) => {
      await trx
        .updateTable('scram_associations')
        .set({ sync_reason: `Waiting for the brokers: ${problem}` })
        .where('cluster_arn', '=', this.clusterArn)
        .where('sync_state', '=', 'PENDING')
        .execute();
      for (const refusal of refused) {
        await trx
          .updateTable('scram_associations')
          .set({
            sync_state: 'FAILED',
            sync_reason:
              `${refusal.reason} Its user, if any, is removed once the brokers are ` + 'reachable.',
          })
          .where('cluster_arn', '=', this.clusterArn)
          .where('secret_arn', '=', refusal.secretArn)
          .execute();
      }
    });
  }

  private async recordAttempt(problem: string): Promise<void> {
    await this.parts.store.db
      .updateTable('kafka_cluster_sync')
      .set({ last_attempt_at: Date.now(), last_error: problem })
      .where('cluster_arn', '=', this.clusterArn)
      .execute();
  }
}

function withoutNames(names: string[], removed: string[]): Set<string> {
  const gone = new Set(removed);
  return new Set(names.filter((name) => !gone.has(name)));
}

/** Doubling delays with jitter, so that replicas and retries never march in step. */
export function backoffDelay(
  failures: number,
  backoff: { firstMs: number; mostMs: number },
): number {
  const ceiling = Math.min(backoff.mostMs, backoff.firstMs * 2 ** Math.max(0, failures - 1));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}
