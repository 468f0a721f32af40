import { sql } from 'kysely';

import { isUniqueViolation } from '../store/errors.js';
import type { Store } from '../store/store.js';

/**
 * Which replica reconciles a cluster: the one holding its lease row, until it lapses. Taking
 * it is one conditional write that the database serializes, so two replicas never both hold
 * it; a replica that dies loses it after `ttlMs`, and one that stops gives it back at once.
 * Expiry is reckoned by the database's clock, in the statement itself: replicas whose own
 * clocks disagree still agree on when a lease has lapsed.
 */
export class ClusterLease {
  constructor(
    private readonly store: Store,
    private readonly clusterArn: string,
    readonly holder: string,
    private readonly ttlMs: number,
  ) {}

  /** Takes or renews the lease; false while another replica holds it. */
  async acquire(): Promise<boolean> {
    const { db, now } = this.store;
    const expiresAt = sql<number>`${now} + ${this.ttlMs}`;
    const renewed = await db
      .updateTable('kafka_cluster_sync')
      .set({ lease_holder: this.holder, lease_expires_at: expiresAt })
      .where('cluster_arn', '=', this.clusterArn)
      .where((eb) =>
        eb.or([
          eb('lease_holder', '=', this.holder),
          eb('lease_holder', 'is', null),
          eb('lease_expires_at', '<', now),
        ]),
      )
      .executeTakeFirst();
    if (Number(renewed.numUpdatedRows) > 0) return true;
    try {
      await db
        .insertInto('kafka_cluster_sync')
        .values({
          cluster_arn: this.clusterArn,
          lease_holder: this.holder,
          lease_expires_at: expiresAt,
          last_attempt_at: null,
          last_success_at: null,
          last_full_resync_at: null,
          last_error: null,
        })
        .execute();
      return true;
    } catch (error) {
      if (isUniqueViolation(error)) return false;
      throw error;
    }
  }

  async release(): Promise<void> {
    await this.store.db
      .updateTable('kafka_cluster_sync')
      .set({ lease_holder: null, lease_expires_at: null })
      .where('cluster_arn', '=', this.clusterArn)
      .where('lease_holder', '=', this.holder)
      .execute();
  }
}
