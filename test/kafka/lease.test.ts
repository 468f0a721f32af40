import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { sql } from 'kysely';
import { pino } from 'pino';

import { SCRAM_SHA_512, type ScramAdmin } from '../../src/kafka/admin-client.js';
import type { DesiredStateReader } from '../../src/kafka/desired.js';
import { ClusterLease } from '../../src/kafka/lease.js';
import { DataPlaneMetrics } from '../../src/kafka/metrics.js';
import { ClusterReconciler } from '../../src/kafka/reconciler.js';
import { startTestServer, type TestServer } from '../support/server.js';

let t: TestServer;

before(async () => {
  t = await startTestServer();
});

after(async () => {
  await t?.stop();
});

const CLUSTER_ARN = 'arn:aws:kafka:us-east-1:111122223333:cluster/leased/0-0';

test('one replica at a time holds a cluster; the other takes over when it lets go', async () => {
  const first = new ClusterLease(t.server.store, CLUSTER_ARN, 'replica-1', 60_000);
  const second = new ClusterLease(t.server.store, CLUSTER_ARN, 'replica-2', 60_000);
  const [a, b] = await Promise.all([first.acquire(), second.acquire()]);
  assert.equal(a !== b, true, 'exactly one of two concurrent claims wins');
  const [holder, other] = a ? [first, second] : [second, first];
  assert.equal(await holder.acquire(), true, 'the holder renews');
  assert.equal(await other.acquire(), false);
  await holder.release();
  assert.equal(await other.acquire(), true);
  assert.equal(await holder.acquire(), false);
});

test('a lease that is not renewed lapses, as when its replica dies', async () => {
  const arn = `${CLUSTER_ARN}-lapsing`;
  const dying = new ClusterLease(t.server.store, arn, 'replica-dead', 200);
  const survivor = new ClusterLease(t.server.store, arn, 'replica-alive', 60_000);
  assert.equal(await dying.acquire(), true);
  assert.equal(await survivor.acquire(), false);
  await new Promise((wait) => setTimeout(wait, 300));
  assert.equal(await survivor.acquire(), true);
  assert.equal(await dying.acquire(), false);
});

test('expiry is the database clock’s: a replica whose own clock is off neither steals nor waits', async (context) => {
  const arn = `${CLUSTER_ARN}-skewed`;
  const holder = new ClusterLease(t.server.store, arn, 'replica-on-time', 60_000);
  const ahead = new ClusterLease(t.server.store, arn, 'replica-an-hour-ahead', 60_000);
  assert.equal(await holder.acquire(), true);
  // One mock whose offset changes, and a clock that still runs: a second mock of the same
  // method would not be undone when the test ends, leaving time stopped for what follows.
  const realNow = Date.now.bind(Date);
  let offsetMs = 3_600_000;
  context.mock.method(Date, 'now', () => realNow() + offsetMs);
  assert.equal(await ahead.acquire(), false, 'a lease the database holds live is not taken');

  await expireThroughDatabase(arn);
  offsetMs = -3_600_000;
  const behind = new ClusterLease(t.server.store, arn, 'replica-an-hour-behind', 60_000);
  assert.equal(await behind.acquire(), true, 'a lease the database holds lapsed is taken');
  assert.equal(await holder.acquire(), false);
});

/** Makes the cluster's lease lapse, as the database's clock reckons it. */
async function expireThroughDatabase(clusterArn: string): Promise<void> {
  const { db, now } = t.server.store;
  await db
    .updateTable('kafka_cluster_sync')
    .set({ lease_expires_at: sql<number>`${now} - 1` })
    .where('cluster_arn', '=', clusterArn)
    .execute();
}

test('a holder taken over in the middle of a pass sends no further write round', async () => {
  const arn = `${CLUSTER_ARN}-taken-over`;
  const store = t.server.store;
  const lease = new ClusterLease(store, arn, 'replica-slow', 60_000);
  const successor = new ClusterLease(store, arn, 'replica-next', 60_000);
  // Users this replica made on a cluster that is gone: the pass deletes them, one per round.
  const usernames = ['gone-1', 'gone-2', 'gone-3'];
  await store.db
    .insertInto('kafka_users')
    .values(
      usernames.map((username) => ({
        cluster_arn: arn,
        username,
        secret_arn: null,
        version_id: 'v1',
        fingerprint: null,
        iterations: 4096,
        created_at: 0,
        provisioned_at: 0,
      })),
    )
    .execute();
  const rounds: string[][] = [];
  // A stand-in for the brokers: the takeover must land between two rounds of one pass, an
  // instant no real broker lets a test choose.
  const admin: ScramAdmin = {
    describeUsers: async () =>
      new Map(
        usernames.map((name) => [
          name,
          { name, credentials: [{ mechanism: SCRAM_SHA_512, iterations: 4096 }] },
        ]),
      ),
    alterUsers: async (deletions) => {
      rounds.push(deletions.map((deletion) => deletion.name));
      await expireThroughDatabase(arn);
      assert.equal(await successor.acquire(), true, 'another replica takes the lapsed lease');
      return new Map();
    },
    close: async () => undefined,
  };
  const desired: DesiredStateReader = {
    load: async () => ({ wanted: [], refused: [] }),
    read: async () => ({ ok: false, reason: 'no secret is read in this test' }),
  };
  const reconciler = new ClusterReconciler(arn, {
    store,
    desired,
    admin,
    lease,
    metrics: new DataPlaneMetrics(store, () => [arn]),
    logger: pino({ level: 'silent' }),
    fingerprintKey: Buffer.alloc(32),
    settings: {
      iterations: 4096,
      intervalMs: 60_000,
      fullResyncMs: 0,
      requestSize: 1,
      backoff: { firstMs: 1000, mostMs: 1000 },
    },
  });
  assert.equal(await lease.acquire(), true);
  await assert.rejects(reconciler.pass(), /lease was lost/);
  assert.equal(rounds.length, 1, `one round went out before the takeover: ${rounds}`);
  const left = await store.db
    .selectFrom('kafka_users')
    .select('username')
    .where('cluster_arn', '=', arn)
    .execute();
  assert.equal(left.length, 3, 'the successor finds every user still known as ours');
});
