import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { ClusterLease } from '../../src/kafka/lease.js';
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
