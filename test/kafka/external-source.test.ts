import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';

import {
  BatchAssociateScramSecretCommand,
  BatchDisassociateScramSecretCommand,
} from '@aws-sdk/client-kafka';
import { DisableKeyCommand } from '@aws-sdk/client-kms';
import { DeleteSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';

import { registeredClusterArn } from '../../src/kafka/registration.js';
import { createKey, createMskSecret } from '../support/fixtures.js';
import { startMoto, type MotoServer } from '../support/moto.js';
import { ACCOUNT_ID, REGION, startTestServer, type TestServer } from '../support/server.js';
import {
  ADMIN_PASSWORD,
  ADMIN_PASSWORD_ENV,
  canLogIn,
  startBroker,
  waitFor,
  writeClusterConfig,
  type TestBroker,
} from './support.js';

/**
 * The data plane with secrets in an external Secrets Manager (moto's server): associations
 * become users, a rotation is noticed by polling, a deleted or scheduled secret and a disabled
 * key end their logins, and while the source is down the brokers keep the last good
 * credentials.
 */
const CLUSTER = { name: 'external-kafka', accountId: ACCOUNT_ID, region: REGION };
const CLUSTER_ARN = registeredClusterArn(CLUSTER);

let broker: TestBroker;
let moto: MotoServer;
let t: TestServer;
let configDir: string;

before(async () => {
  broker = await startBroker();
  moto = await startMoto();
  configDir = mkdtempSync(join(tmpdir(), 'scram-secrets-kafka-config-'));
  t = await startTestServer({
    SCRAM_SECRETS_CONFIG: writeClusterConfig(configDir, broker, CLUSTER),
    SCRAM_SECRETS_SECRET_SOURCES: moto.sourceSetting({ pollIntervalSeconds: 1 }),
    [ADMIN_PASSWORD_ENV]: ADMIN_PASSWORD,
    SCRAM_SECRETS_KAFKA_RECONCILE_INTERVAL_SECONDS: '1',
  });
});

after(async () => {
  await t?.stop();
  await moto?.stop();
  await broker?.destroy();
  if (configDir) rmSync(configDir, { recursive: true, force: true });
});

test('external secrets: login, rotation by polling, deletion, and an outage', async () => {
  const secretsManager = moto.secretsManager();
  const keyId = await createKey(moto.kms());
  const rotated = await createMskSecret(secretsManager, { kmsKeyId: keyId });
  const deleted = await createMskSecret(secretsManager, { kmsKeyId: keyId });
  const scheduled = await createMskSecret(secretsManager, { kmsKeyId: keyId });
  const lockedKeyId = await createKey(moto.kms());
  const locked = await createMskSecret(secretsManager, { kmsKeyId: lockedKeyId });
  const all = [rotated, deleted, scheduled, locked];
  const associated = await t.kafka().send(
    new BatchAssociateScramSecretCommand({
      ClusterArn: CLUSTER_ARN,
      SecretArnList: all.map((secret) => secret.arn),
    }),
  );
  assert.deepEqual(associated.UnprocessedScramSecrets, []);
  await waitFor('every user logs in', async () => {
    for (const secret of all) {
      if (!(await canLogIn(broker.bootstrap, secret.username, secret.password))) return false;
    }
    return true;
  });

  const newPassword = `pw-rotated-${Date.now()}`;
  await secretsManager.send(
    new PutSecretValueCommand({
      SecretId: rotated.arn,
      SecretString: JSON.stringify({ username: rotated.username, password: newPassword }),
    }),
  );
  await waitFor(
    'the rotated password works and the old one no longer does',
    async () =>
      (await canLogIn(broker.bootstrap, rotated.username, newPassword)) &&
      !(await canLogIn(broker.bootstrap, rotated.username, rotated.password)),
  );

  await secretsManager.send(
    new DeleteSecretCommand({ SecretId: deleted.arn, ForceDeleteWithoutRecovery: true }),
  );
  await waitFor(
    'the deleted secret no longer logs in',
    async () => !(await canLogIn(broker.bootstrap, deleted.username, deleted.password)),
  );

  // Scheduled for deletion (still restorable) and a disabled key revoke at the next poll too.
  await secretsManager.send(
    new DeleteSecretCommand({ SecretId: scheduled.arn, RecoveryWindowInDays: 7 }),
  );
  await moto.kms().send(new DisableKeyCommand({ KeyId: lockedKeyId }));
  await waitFor(
    'the secret scheduled for deletion and the one under a disabled key no longer log in',
    async () =>
      !(await canLogIn(broker.bootstrap, scheduled.username, scheduled.password)) &&
      !(await canLogIn(broker.bootstrap, locked.username, locked.password)),
  );

  await moto.kill();
  // Several poll intervals and reconcile passes with the source down: nothing is removed.
  for (let check = 0; check < 3; check += 1) {
    await sleep(2_000);
    assert.equal(await canLogIn(broker.bootstrap, rotated.username, newPassword), true);
  }

  // Revocation needs no source: a disassociation during the outage still ends the login.
  const removed = await t.kafka().send(
    new BatchDisassociateScramSecretCommand({
      ClusterArn: CLUSTER_ARN,
      SecretArnList: [rotated.arn],
    }),
  );
  assert.deepEqual(removed.UnprocessedScramSecrets, []);
  await waitFor(
    'the disassociated user no longer logs in, with the source still down',
    async () => !(await canLogIn(broker.bootstrap, rotated.username, newPassword)),
  );
});
