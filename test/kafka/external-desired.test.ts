import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';

import { BatchAssociateScramSecretCommand } from '@aws-sdk/client-kafka';
import { DisableKeyCommand } from '@aws-sdk/client-kms';
import { DeleteSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { pino } from 'pino';

import { parseArn } from '../../src/domain/arn.js';
import { ExternalDesiredState } from '../../src/kafka/external-desired.js';
import { AwsSecretSource } from '../../src/sources/aws.js';
import { startAwsProxy, type AwsProxy } from '../support/aws-proxy.js';
import {
  createKey,
  createMskSecret,
  createScramCluster,
  type MskSecret,
} from '../support/fixtures.js';
import { startMoto, type MotoServer } from '../support/moto.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * The desired state of a cluster whose secrets are in moto's server, read through a recording
 * proxy: how many calls each poll interval costs (the README's formula), what a poll that
 * the source throttles or denies does, and which changes in the source revoke a user. No broker is needed: `load` is called as the reconciler
 * would call it, pass after pass.
 */
const POLL_INTERVAL_SECONDS = 1;
const SECRETS = 12;

let moto: MotoServer;
let proxy: AwsProxy;
let t: TestServer;
let clusterArn: string;
let secrets: MskSecret[];
let desired: ExternalDesiredState;
let source: AwsSecretSource;
const logged: Array<Record<string, unknown>> = [];

before(async () => {
  moto = await startMoto();
  proxy = await startAwsProxy(moto.endpoint);
  t = await startTestServer({
    SCRAM_SECRETS_SECRET_SOURCES: moto.sourceSetting({ endpoint: proxy.endpoint }),
  });
  clusterArn = await createScramCluster(t.kafka());
  const keys = [await createKey(moto.kms()), await createKey(moto.kms())];
  secrets = [];
  for (let index = 0; index < SECRETS; index += 1) {
    const kmsKeyId = keys[index % keys.length];
    secrets.push(await createMskSecret(moto.secretsManager(), { kmsKeyId }));
  }
  for (const batch of [secrets.slice(0, 10), secrets.slice(10)]) {
    const answer = await t.kafka().send(
      new BatchAssociateScramSecretCommand({
        ClusterArn: clusterArn,
        SecretArnList: batch.map((secret) => secret.arn),
      }),
    );
    assert.deepEqual(answer.UnprocessedScramSecrets, []);
  }

  const arn = parseArn(clusterArn)!;
  source = new AwsSecretSource({
    name: `${arn.accountId}/${arn.region}`,
    region: arn.region,
    endpoint: proxy.endpoint,
    attachResourcePolicy: true,
    pollIntervalSeconds: POLL_INTERVAL_SECONDS,
  });
  const lines = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        logged.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  desired = new ExternalDesiredState(source, clusterArn, pino({ level: 'warn' }, lines));
});

after(async () => {
  source?.secretsManager.destroy();
  source?.kms.destroy();
  await t?.stop();
  await proxy?.stop();
  await moto?.stop();
});

/** One pass's load, and the calls it made to the source. */
async function load() {
  proxy.reset();
  const state = await desired.load(t.server.store.db, clusterArn);
  const calls = {
    ListSecrets: proxy.count('ListSecrets'),
    DescribeKey: proxy.count('DescribeKey'),
    BatchGetSecretValue: proxy.count('BatchGetSecretValue'),
    GetSecretValue: proxy.count('GetSecretValue'),
  };
  return { state, calls, total: proxy.calls().length };
}

function versionOf(state: Awaited<ReturnType<typeof load>>['state'], secretArn: string) {
  return state.wanted.find((user) => user.secretArn === secretArn)?.versionId;
}

async function nextInterval(): Promise<void> {
  await sleep(POLL_INTERVAL_SECONDS * 1000 + 50);
}

async function rotate(secret: MskSecret): Promise<string> {
  const password = `pw-rotated-${Date.now()}`;
  await moto.secretsManager().send(
    new PutSecretValueCommand({
      SecretId: secret.arn,
      SecretString: JSON.stringify({ username: secret.username, password }),
    }),
  );
  return password;
}

// N = 12 secrets under K = 2 keys: ceil(12 / 10) = 2 ListSecrets, 2 DescribeKey per poll.
const unchanged = { ListSecrets: 2, DescribeKey: 2, BatchGetSecretValue: 0, GetSecretValue: 0 };

test('each poll costs what the README says, and a rotation is read in one batch', async () => {
  const first = await load();
  assert.deepEqual(first.calls, { ...unchanged, BatchGetSecretValue: 1 });
  assert.equal(first.total, 5);
  assert.equal(first.state.wanted.length, SECRETS);
  assert.deepEqual(first.state.refused, []);

  const sooner = await load();
  assert.equal(sooner.total, 0, 'no call before the interval is over');

  await nextInterval();
  const quiet = await load();
  assert.deepEqual(quiet.calls, unchanged);
  assert.equal(quiet.total, 4);

  const rotated = secrets[3]!;
  const password = await rotate(rotated);
  await nextInterval();
  const after = await load();
  assert.deepEqual(after.calls, { ...unchanged, BatchGetSecretValue: 1 });
  assert.notEqual(versionOf(after.state, rotated.arn), versionOf(quiet.state, rotated.arn));
  const user = after.state.wanted.find((wanted) => wanted.secretArn === rotated.arn)!;
  assert.deepEqual(await desired.read(parseArn(clusterArn)!, user), { ok: true, password });
});

test('a throttled ListSecrets keeps the last verdicts and waits for the next interval', async () => {
  const before = await settled();
  logged.length = 0;
  proxy.fail('ListSecrets', { status: 400, type: 'ThrottlingException' });
  try {
    const throttled = await load();
    assert.deepEqual(throttled.state, before);
    // One ListSecrets call: the SDK's three attempts, and nothing after it.
    assert.deepEqual(throttled.calls, { ...unchanged, ListSecrets: 3, DescribeKey: 0 });
    for (let pass = 0; pass < 3; pass += 1) {
      const retried = await load();
      assert.equal(retried.total, 0, 'a reconcile pass before the interval asks nothing');
      assert.deepEqual(retried.state, before);
    }
    assert.deepEqual(pollFailures(), ['Throttled']);
  } finally {
    proxy.heal();
  }
  await nextInterval();
  assert.deepEqual((await load()).calls, unchanged);
});

test('a denied BatchGetSecretValue keeps the last good value until the next poll', async () => {
  const before = await settled();
  logged.length = 0;
  const rotated = secrets[7]!;
  const password = await rotate(rotated);
  proxy.fail('BatchGetSecretValue', { status: 400, type: 'AccessDeniedException' });
  try {
    const denied = await load();
    assert.deepEqual(denied.state, before);
    assert.deepEqual(denied.calls, { ...unchanged, BatchGetSecretValue: 1 });
    assert.equal((await load()).total, 0);
    assert.deepEqual(pollFailures(), ['AccessDenied']);
  } finally {
    proxy.heal();
  }
  await nextInterval();
  const healed = await load();
  assert.deepEqual(healed.calls, { ...unchanged, BatchGetSecretValue: 1 });
  const user = healed.state.wanted.find((wanted) => wanted.secretArn === rotated.arn)!;
  assert.notEqual(user.versionId, versionOf(before, rotated.arn));
  assert.deepEqual(await desired.read(parseArn(clusterArn)!, user), { ok: true, password });
});

test('a secret scheduled for deletion, or under a disabled key, is refused at the next poll', async () => {
  const keyId = await createKey(moto.kms());
  const locked = await createMskSecret(moto.secretsManager(), { kmsKeyId: keyId });
  const other = await createKey(moto.kms());
  const scheduled = await createMskSecret(moto.secretsManager(), { kmsKeyId: other });
  const answer = await t.kafka().send(
    new BatchAssociateScramSecretCommand({
      ClusterArn: clusterArn,
      SecretArnList: [locked.arn, scheduled.arn],
    }),
  );
  assert.deepEqual(answer.UnprocessedScramSecrets, []);
  const fresh = await settled();
  for (const secret of [locked, scheduled]) {
    assert.ok(versionOf(fresh, secret.arn), `${secret.username} is wanted`);
  }

  await moto
    .secretsManager()
    .send(new DeleteSecretCommand({ SecretId: scheduled.arn, RecoveryWindowInDays: 7 }));
  await moto.kms().send(new DisableKeyCommand({ KeyId: keyId }));
  const { state } = await load();
  const refused = new Map(state.refused.map((entry) => [entry.secretArn, entry.reason]));
  assert.match(refused.get(scheduled.arn) ?? '', /scheduled for deletion.*RestoreSecret/);
  assert.match(refused.get(locked.arn) ?? '', /KMS key .* is disabled/);
  assert.equal(refused.size, 2);
  for (const secret of [locked, scheduled]) {
    assert.equal(versionOf(state, secret.arn), undefined, `${secret.username} is not wanted`);
  }
  assert.equal(state.wanted.length, SECRETS);
});

/** The state after a fresh poll with nothing failing, and the interval started anew. */
async function settled() {
  await nextInterval();
  const { state } = await load();
  await nextInterval();
  return state;
}

function pollFailures(): unknown[] {
  return logged
    .filter((line) => line.event === 'secret_source.poll_failed')
    .map((line) => {
      assert.equal(line.level, 40, 'logged at warn');
      return line.errorCode;
    });
}
