import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import {
  BatchAssociateScramSecretCommand,
  BatchDisassociateScramSecretCommand,
} from '@aws-sdk/client-kafka';
import { PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';

import { registeredClusterArn } from '../../src/kafka/registration.js';
import { createKey, createMskSecret } from '../support/fixtures.js';
import { ACCOUNT_ID, REGION, startTestServer, type TestServer } from '../support/server.js';
import {
  ADMIN_PASSWORD,
  ADMIN_PASSWORD_ENV,
  canLogIn,
  clusterStatus,
  startBroker,
  waitFor,
  writeClusterConfig,
  type TestBroker,
} from './support.js';

const CLUSTER = { name: 'flaky-kafka', accountId: ACCOUNT_ID, region: REGION };
const CLUSTER_ARN = registeredClusterArn(CLUSTER);

let broker: TestBroker;
let t: TestServer;
let configDir: string;

before(async () => {
  broker = await startBroker();
  configDir = mkdtempSync(join(tmpdir(), 'scram-secrets-kafka-config-'));
  t = await startTestServer({
    SCRAM_SECRETS_CONFIG: writeClusterConfig(configDir, broker, CLUSTER),
    [ADMIN_PASSWORD_ENV]: ADMIN_PASSWORD,
    SCRAM_SECRETS_KAFKA_RECONCILE_INTERVAL_SECONDS: '1',
  });
});

after(async () => {
  await t?.stop();
  await broker?.destroy();
  if (configDir) rmSync(configDir, { recursive: true, force: true });
});

test('changes while the brokers are down are answered now, applied on return', async () => {
  const keyId = await createKey(t.kms());
  const kept = await createMskSecret(t.secretsManager(), { kmsKeyId: keyId });
  const revoked = await createMskSecret(t.secretsManager(), { kmsKeyId: keyId });
  const added = await createMskSecret(t.secretsManager(), { kmsKeyId: keyId });
  const associated = await t.kafka().send(
    new BatchAssociateScramSecretCommand({
      ClusterArn: CLUSTER_ARN,
      SecretArnList: [kept.arn, revoked.arn],
    }),
  );
  assert.deepEqual(associated.UnprocessedScramSecrets, []);
  await waitFor(
    'both users log in',
    async () =>
      (await canLogIn(broker.bootstrap, kept.username, kept.password)) &&
      (await canLogIn(broker.bootstrap, revoked.username, revoked.password)),
  );

  await broker.stop();
  const startedAt = Date.now();
  const whileDown = await t
    .kafka()
    .send(
      new BatchAssociateScramSecretCommand({ ClusterArn: CLUSTER_ARN, SecretArnList: [added.arn] }),
    );
  assert.deepEqual(whileDown.UnprocessedScramSecrets, []);
  const removed = await t.kafka().send(
    new BatchDisassociateScramSecretCommand({
      ClusterArn: CLUSTER_ARN,
      SecretArnList: [revoked.arn],
    }),
  );
  assert.deepEqual(removed.UnprocessedScramSecrets, []);
  const rotated = { ...kept, password: `${kept.password}-while-down` };
  await t.secretsManager().send(
    new PutSecretValueCommand({
      SecretId: kept.arn,
      SecretString: JSON.stringify({ username: kept.username, password: rotated.password }),
    }),
  );
  // The API never waits on Kafka.
  assert.ok(Date.now() - startedAt < 5000);

  await waitFor('the status says the brokers are unreachable', async () => {
    const status = await clusterStatus(t.url, CLUSTER_ARN);
    const pending = status.associations.find((entry) => entry.secretArn === added.arn);
    return (
      pending?.state === 'PENDING' &&
      /Waiting for the brokers/.test(pending.reason ?? '') &&
      status.lastError !== null
    );
  });
  const metrics = await (await fetch(`${t.url}/metrics`)).text();
  assert.match(
    metrics,
    /scram_secrets_kafka_reconcile_failures_total\{[^}]*kind="brokers"\} [1-9]/,
  );

  await broker.start();
  await waitFor('the user added while down logs in', () =>
    canLogIn(broker.bootstrap, added.username, added.password),
  );
  await waitFor('the rotated password works', () =>
    canLogIn(broker.bootstrap, rotated.username, rotated.password),
  );
  assert.equal(await canLogIn(broker.bootstrap, kept.username, kept.password), false);
  await waitFor(
    'the disassociated user is refused',
    async () => !(await canLogIn(broker.bootstrap, revoked.username, revoked.password)),
  );

  const status = await clusterStatus(t.url, CLUSTER_ARN);
  assert.deepEqual(status.counts, { PENDING: 0, ACTIVE: 2, FAILED: 0 });
  assert.equal(status.lastError, null);
});
