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
import { createKey, createMskSecrets, type MskSecret } from '../support/fixtures.js';
import { serveClients, startServe, type ServeProcess } from '../support/serve.js';
import { ACCESS_KEY_ID, ACCOUNT_ID, REGION, SECRET_ACCESS_KEY } from '../support/server.js';
import {
  ADMIN_PASSWORD,
  ADMIN_PASSWORD_ENV,
  brokerUsers,
  canLogIn,
  clusterStatus,
  freePort,
  setUserByHand,
  startBroker,
  testDatabase,
  waitFor,
  writeClusterConfig,
  type TestBroker,
} from './support.js';

const CLUSTER = { name: 'crashy-kafka', accountId: ACCOUNT_ID, region: REGION };
const CLUSTER_ARN = registeredClusterArn(CLUSTER);
const HAND_MADE = { username: 'operators-own', password: 'kept-by-hand' };

let broker: TestBroker;
let workDir: string;
let env: NodeJS.ProcessEnv;
/** The service as its own process, so that it can be killed with SIGKILL at any instant. */
let service: ServeProcess | undefined;
let dropDatabase: (() => Promise<void>) | undefined;

function startService(): Promise<ServeProcess> {
  return startServe({ env });
}

async function kill(running: ServeProcess): Promise<void> {
  await running.stop('SIGKILL');
}

/** Sends batches of ten; batches that meet a dead service are left for the caller to resend. */
async function inBatches(
  secrets: MskSecret[],
  send: (arns: string[]) => Promise<unknown>,
): Promise<MskSecret[][]> {
  const batches: MskSecret[][] = [];
  for (let start = 0; start < secrets.length; start += 10)
    batches.push(secrets.slice(start, start + 10));
  const results = await Promise.allSettled(batches.map((batch) => send(batch.map((s) => s.arn))));
  return batches.filter((_, index) => results[index]!.status === 'rejected');
}

before(async () => {
  broker = await startBroker();
  await setUserByHand(broker, HAND_MADE);
  workDir = mkdtempSync(join(tmpdir(), 'scram-secrets-kafka-crash-'));
  const database = await testDatabase();
  dropDatabase = database?.drop;
  env = {
    ...process.env,
    ...(database ? { SCRAM_SECRETS_DATABASE_URL: database.url } : {}),
    SCRAM_SECRETS_PORT: String(await freePort()),
    SCRAM_SECRETS_DATA_DIR: join(workDir, 'data'),
    SCRAM_SECRETS_CREDENTIALS: `${ACCESS_KEY_ID}:${SECRET_ACCESS_KEY}:${ACCOUNT_ID}`,
    SCRAM_SECRETS_CONFIG: writeClusterConfig(workDir, broker, CLUSTER),
    SCRAM_SECRETS_LOG_LEVEL: 'info',
    // The test's own load must not be shed as event-loop lag.
    SCRAM_SECRETS_MAX_EVENT_LOOP_DELAY_MS: '0',
    SCRAM_SECRETS_KAFKA_RECONCILE_INTERVAL_SECONDS: '1',
    // A killed process keeps its lease until it lapses; short, so the restart takes over soon.
    SCRAM_SECRETS_KAFKA_LEASE_SECONDS: '3',
    [ADMIN_PASSWORD_ENV]: ADMIN_PASSWORD,
  };
});

after(async () => {
  if (service) await kill(service);
  await broker?.destroy();
  await dropDatabase?.();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

test('killed while writing users, the service converges after a restart', async () => {
  service = await startService();
  let api = serveClients(service.url);
  const keyId = await createKey(api.kms);
  const secrets = await createMskSecrets(api.secretsManager, keyId, 120);

  // SIGKILL the moment the first AlterUserScramCredentials is on its way to the broker.
  const altering = service.nextEvent('kafka.users.altering');
  const associating = inBatches(secrets, (arns) =>
    api.kafka.send(
      new BatchAssociateScramSecretCommand({ ClusterArn: CLUSTER_ARN, SecretArnList: arns }),
    ),
  );
  await altering;
  await kill(service);
  const unsent = await associating;

  service = await startService();
  api = serveClients(service.url);
  for (const batch of unsent) {
    await api.kafka.send(
      new BatchAssociateScramSecretCommand({
        ClusterArn: CLUSTER_ARN,
        SecretArnList: batch.map((s) => s.arn),
      }),
    );
  }
  await waitFor(
    'every association is ACTIVE',
    async () => (await clusterStatus(service!.url, CLUSTER_ARN)).counts.ACTIVE === secrets.length,
    120_000,
  );
  const onBrokers = await brokerUsers(broker);
  for (const secret of secrets) assert.ok(onBrokers.has(secret.username), secret.username);
  for (const secret of secrets.filter((_, index) => index % 10 === 0)) {
    assert.equal(await canLogIn(broker.bootstrap, secret.username, secret.password), true);
  }

  // Now the other way: revoke and rotate, and die a moment after the write was sent.
  const revoked = secrets.slice(0, 40);
  const rotated = secrets
    .slice(40, 50)
    .map((secret) => ({ ...secret, password: `${secret.password}-2` }));
  const altering2 = service.nextEvent('kafka.users.altering');
  for (const secret of rotated) {
    await api.secretsManager.send(
      new PutSecretValueCommand({
        SecretId: secret.arn,
        SecretString: JSON.stringify({ username: secret.username, password: secret.password }),
      }),
    );
  }
  const disassociating = inBatches(revoked, (arns) =>
    api.kafka.send(
      new BatchDisassociateScramSecretCommand({ ClusterArn: CLUSTER_ARN, SecretArnList: arns }),
    ),
  );
  await altering2;
  await new Promise((resolveWait) => setTimeout(resolveWait, 20));
  await kill(service);
  const unsentRevocations = await disassociating;

  service = await startService();
  api = serveClients(service.url);
  for (const batch of unsentRevocations) {
    await api.kafka.send(
      new BatchDisassociateScramSecretCommand({
        ClusterArn: CLUSTER_ARN,
        SecretArnList: batch.map((s) => s.arn),
      }),
    );
  }
  const kept = secrets.length - revoked.length;
  await waitFor(
    'the kept associations are ACTIVE and the revoked ones gone',
    async () => {
      const status = await clusterStatus(service!.url, CLUSTER_ARN);
      return status.counts.ACTIVE === kept && status.associations.length === kept;
    },
    120_000,
  );
  await waitFor(
    'the revoked users are gone from the brokers',
    async () => {
      const users = await brokerUsers(broker);
      return revoked.every((secret) => !users.has(secret.username));
    },
    60_000,
  );
  for (const secret of revoked.filter((_, index) => index % 8 === 0)) {
    assert.equal(await canLogIn(broker.bootstrap, secret.username, secret.password), false);
  }
  for (const secret of rotated) {
    await waitFor(`${secret.username}'s new password works`, () =>
      canLogIn(broker.bootstrap, secret.username, secret.password),
    );
  }
  const users = await brokerUsers(broker);
  assert.equal(users.size, kept + 2, 'the kept users, the admin and the hand-made user');
  assert.equal(await canLogIn(broker.bootstrap, HAND_MADE.username, HAND_MADE.password), true);
});
