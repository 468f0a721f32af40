import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';

import {
  BatchAssociateScramSecretCommand,
  BatchDisassociateScramSecretCommand,
  DescribeClusterV2Command,
  GetBootstrapBrokersCommand,
  ListClustersV2Command,
  UpdateSecurityCommand,
} from '@aws-sdk/client-kafka';
import { DisableKeyCommand, EnableKeyCommand } from '@aws-sdk/client-kms';
import {
  DeleteSecretCommand,
  PutSecretValueCommand,
  RestoreSecretCommand,
} from '@aws-sdk/client-secrets-manager';

import { registeredClusterArn } from '../../src/kafka/registration.js';
import {
  createKey,
  createMskSecret,
  createScramCluster,
  type MskSecret,
} from '../support/fixtures.js';
import { ACCOUNT_ID, REGION, startTestServer, type TestServer } from '../support/server.js';
import {
  ADMIN_PASSWORD,
  ADMIN_PASSWORD_ENV,
  ADMIN_USER,
  canLogIn,
  clusterStatus,
  produceAndConsume,
  setUserByHand,
  startBroker,
  stateOf,
  waitFor,
  writeClusterConfig,
  type TestBroker,
} from './support.js';

const CLUSTER = { name: 'orders-kafka', accountId: ACCOUNT_ID, region: REGION };
const CLUSTER_ARN = registeredClusterArn(CLUSTER);
const HAND_MADE = { username: 'hand-made', password: 'made-by-an-operator' };
const MAIN = resolve(import.meta.dirname, '../../src/cli/main.js');

let broker: TestBroker;
let t: TestServer;
let configDir: string;
let keyId: string;

before(async () => {
  broker = await startBroker();
  // An operator's own user, made on the brokers without this service: it must never change.
  await setUserByHand(broker, HAND_MADE);
  configDir = mkdtempSync(join(tmpdir(), 'scram-secrets-kafka-config-'));
  t = await startTestServer({
    SCRAM_SECRETS_CONFIG: writeClusterConfig(configDir, broker, CLUSTER),
    [ADMIN_PASSWORD_ENV]: ADMIN_PASSWORD,
    SCRAM_SECRETS_KAFKA_RECONCILE_INTERVAL_SECONDS: '1',
    // Short, so that a password changed on the brokers behind our back is undone in the test.
    SCRAM_SECRETS_KAFKA_FULL_RESYNC_SECONDS: '3',
  });
  keyId = await createKey(t.kms());
});

after(async () => {
  await t?.stop();
  await broker?.destroy();
  if (configDir) rmSync(configDir, { recursive: true, force: true });
});

async function associate(secret: MskSecret): Promise<void> {
  const result = await t.kafka().send(
    new BatchAssociateScramSecretCommand({
      ClusterArn: CLUSTER_ARN,
      SecretArnList: [secret.arn],
    }),
  );
  assert.deepEqual(result.UnprocessedScramSecrets, []);
}

async function disassociate(secret: MskSecret): Promise<void> {
  const result = await t.kafka().send(
    new BatchDisassociateScramSecretCommand({
      ClusterArn: CLUSTER_ARN,
      SecretArnList: [secret.arn],
    }),
  );
  assert.deepEqual(result.UnprocessedScramSecrets, []);
}

const logsIn = (user: { username: string; password: string }) => () =>
  canLogIn(broker.bootstrap, user.username, user.password);
const refused = (user: { username: string; password: string }) => async () =>
  !(await canLogIn(broker.bootstrap, user.username, user.password));

test('a configured Kafka cluster is ACTIVE with SCRAM, a stable ARN and its brokers', async () => {
  const described = await t.kafka().send(new DescribeClusterV2Command({ ClusterArn: CLUSTER_ARN }));
  assert.equal(described.ClusterInfo?.ClusterName, CLUSTER.name);
  assert.equal(described.ClusterInfo?.State, 'ACTIVE');
  assert.equal(
    described.ClusterInfo?.Provisioned?.ClientAuthentication?.Sasl?.Scram?.Enabled,
    true,
  );
  const listed = await t.kafka().send(new ListClustersV2Command({}));
  assert.ok(listed.ClusterInfoList?.some((cluster) => cluster.ClusterArn === CLUSTER_ARN));
  const brokers = await t.kafka().send(new GetBootstrapBrokersCommand({ ClusterArn: CLUSTER_ARN }));
  assert.equal(brokers.BootstrapBrokerStringSaslScram, broker.bootstrap);

  await t.restart();
  const again = await t.kafka().send(new DescribeClusterV2Command({ ClusterArn: CLUSTER_ARN }));
  assert.equal(again.ClusterInfo?.ClusterArn, CLUSTER_ARN);
});

test('an associated secret becomes a user that logs in, produces and consumes', async () => {
  const secret = await createMskSecret(t.secretsManager(), { kmsKeyId: keyId });
  await associate(secret);
  await waitFor(`${secret.username} can log in`, logsIn(secret));

  const status = await clusterStatus(t.url, CLUSTER_ARN);
  const association = status.associations.find((entry) => entry.secretArn === secret.arn);
  assert.equal(association?.state, 'ACTIVE');
  assert.equal(association?.reason, null);
  assert.ok(association?.lastSyncTime);
  assert.ok(association?.provisionedVersionId);
  assert.ok(status.lastSuccessfulSyncTime);

  const topic = `orders-${secret.username}`;
  assert.equal(
    await produceAndConsume(broker, secret.username, secret.password, topic),
    `hello from ${secret.username}`,
  );
  assert.equal(await canLogIn(broker.bootstrap, secret.username, 'not-the-password'), false);
});

test('a new secret value: the new password works and the old one fails', async () => {
  const secret = await createMskSecret(t.secretsManager(), { kmsKeyId: keyId });
  await associate(secret);
  await waitFor(`${secret.username} can log in`, logsIn(secret));
  const before = (await clusterStatus(t.url, CLUSTER_ARN)).associations.find(
    (entry) => entry.secretArn === secret.arn,
  );

  const rotated = { ...secret, password: `${secret.password}-rotated` };
  const put = await t.secretsManager().send(
    new PutSecretValueCommand({
      SecretId: secret.arn,
      SecretString: JSON.stringify({ username: rotated.username, password: rotated.password }),
    }),
  );
  await waitFor('the new password works', logsIn(rotated));
  assert.equal(await canLogIn(broker.bootstrap, secret.username, secret.password), false);
  const after = (await clusterStatus(t.url, CLUSTER_ARN)).associations.find(
    (entry) => entry.secretArn === secret.arn,
  );
  assert.notEqual(after?.provisionedVersionId, before?.provisionedVersionId);
  assert.equal(after?.provisionedVersionId, put.VersionId);
});

test('a new value that names another user fails the association and removes its user', async () => {
  const secret = await createMskSecret(t.secretsManager(), { kmsKeyId: keyId });
  await associate(secret);
  await waitFor(`${secret.username} can log in`, logsIn(secret));
  await t.secretsManager().send(
    new PutSecretValueCommand({
      SecretId: secret.arn,
      SecretString: JSON.stringify({ username: `${secret.username}-renamed`, password: 'x-1' }),
    }),
  );
  await waitFor(`${secret.username} can no longer log in`, refused(secret));
  const failed = (await clusterStatus(t.url, CLUSTER_ARN)).associations.find(
    (entry) => entry.secretArn === secret.arn,
  );
  assert.equal(failed?.state, 'FAILED');
  assert.match(failed?.reason ?? '', /names the user .*-renamed/);
  assert.equal(await canLogIn(broker.bootstrap, `${secret.username}-renamed`, 'x-1'), false);
  await disassociate(secret);
});

test('disassociating a secret ends its login', async () => {
  const secret = await createMskSecret(t.secretsManager(), { kmsKeyId: keyId });
  await associate(secret);
  await waitFor(`${secret.username} can log in`, logsIn(secret));
  await disassociate(secret);
  await waitFor(`${secret.username} can no longer log in`, refused(secret));
  const status = await clusterStatus(t.url, CLUSTER_ARN);
  assert.equal(
    status.associations.some((entry) => entry.secretArn === secret.arn),
    false,
  );
});

test('deleting the secret ends its login and says why; restoring it brings it back', async () => {
  const secret = await createMskSecret(t.secretsManager(), { kmsKeyId: keyId });
  await associate(secret);
  await waitFor(`${secret.username} can log in`, logsIn(secret));

  await t
    .secretsManager()
    .send(new DeleteSecretCommand({ SecretId: secret.arn, RecoveryWindowInDays: 7 }));
  await waitFor(`${secret.username} can no longer log in`, refused(secret));
  await waitFor(
    'the association is FAILED',
    async () => (await stateOf(t.url, CLUSTER_ARN, secret.arn)) === 'FAILED',
  );
  const failed = (await clusterStatus(t.url, CLUSTER_ARN)).associations.find(
    (entry) => entry.secretArn === secret.arn,
  );
  assert.match(failed?.reason ?? '', /scheduled for deletion/);

  await t.secretsManager().send(new RestoreSecretCommand({ SecretId: secret.arn }));
  await waitFor(`${secret.username} can log in again`, logsIn(secret));
  assert.equal(await stateOf(t.url, CLUSTER_ARN, secret.arn), 'ACTIVE');

  await t
    .secretsManager()
    .send(new DeleteSecretCommand({ SecretId: secret.arn, ForceDeleteWithoutRecovery: true }));
  await waitFor(`${secret.username} can no longer log in`, refused(secret));
  const gone = (await clusterStatus(t.url, CLUSTER_ARN)).associations.find(
    (entry) => entry.secretArn === secret.arn,
  );
  assert.equal(gone?.state, 'FAILED');
  assert.match(gone?.reason ?? '', /deleted/);
});

test('disabling the KMS key ends the login (fail closed); enabling it restores it', async () => {
  const ownKey = await createKey(t.kms(), 'disabled in a test');
  const secret = await createMskSecret(t.secretsManager(), { kmsKeyId: ownKey });
  await associate(secret);
  await waitFor(`${secret.username} can log in`, logsIn(secret));

  await t.kms().send(new DisableKeyCommand({ KeyId: ownKey }));
  await waitFor(`${secret.username} can no longer log in`, refused(secret));
  const failed = (await clusterStatus(t.url, CLUSTER_ARN)).associations.find(
    (entry) => entry.secretArn === secret.arn,
  );
  assert.equal(failed?.state, 'FAILED');
  assert.match(failed?.reason ?? '', /KMS key .* is disabled/);

  await t.kms().send(new EnableKeyCommand({ KeyId: ownKey }));
  await waitFor(`${secret.username} can log in again`, logsIn(secret));
});

test('a user removed or changed on the brokers behind our back is restored', async () => {
  const secret = await createMskSecret(t.secretsManager(), { kmsKeyId: keyId });
  await associate(secret);
  await waitFor(`${secret.username} can log in`, logsIn(secret));

  await broker.tool(
    'configs',
    '--alter',
    '--entity-type',
    'users',
    '--entity-name',
    secret.username,
    '--delete-config',
    'SCRAM-SHA-512',
  );
  await waitFor(`${secret.username} is restored after removal`, logsIn(secret));

  const intruder = { username: secret.username, password: 'changed-behind-our-back' };
  await setUserByHand(broker, intruder, 8192);
  await waitFor(
    'a change with other iterations is undone',
    async () =>
      (await canLogIn(broker.bootstrap, secret.username, secret.password)) &&
      !(await canLogIn(broker.bootstrap, intruder.username, intruder.password)),
  );

  // The same iterations leave no trace in what the brokers report; the periodic rewrite of
  // every user undoes it.
  await setUserByHand(broker, intruder);
  await waitFor(
    'a change with the same iterations is undone',
    async () =>
      (await canLogIn(broker.bootstrap, secret.username, secret.password)) &&
      !(await canLogIn(broker.bootstrap, intruder.username, intruder.password)),
  );
});

test('a secret naming a user we did not create fails and leaves that user alone', async () => {
  const secret = await createMskSecret(t.secretsManager(), {
    kmsKeyId: keyId,
    username: HAND_MADE.username,
    password: 'an-attempt-to-take-over',
  });
  await associate(secret);
  await waitFor(
    'the association is FAILED',
    async () => (await stateOf(t.url, CLUSTER_ARN, secret.arn)) === 'FAILED',
  );
  const failed = (await clusterStatus(t.url, CLUSTER_ARN)).associations.find(
    (entry) => entry.secretArn === secret.arn,
  );
  assert.match(failed?.reason ?? '', /not created by this service/);
  assert.equal(await canLogIn(broker.bootstrap, HAND_MADE.username, HAND_MADE.password), true);
  assert.equal(await canLogIn(broker.bootstrap, secret.username, secret.password), false);

  await disassociate(secret);
  // Two passes at least, so that a wrong removal would have happened by now.
  await new Promise((resolveWait) => setTimeout(resolveWait, 2500));
  assert.equal(await canLogIn(broker.bootstrap, HAND_MADE.username, HAND_MADE.password), true);
});

test('the admin user cannot be taken over through a secret', async () => {
  const secret = await createMskSecret(t.secretsManager(), {
    kmsKeyId: keyId,
    username: ADMIN_USER,
    password: 'not-the-admin-password',
  });
  await associate(secret);
  await waitFor(
    'the association is FAILED',
    async () => (await stateOf(t.url, CLUSTER_ARN, secret.arn)) === 'FAILED',
  );
  assert.equal(await canLogIn(broker.bootstrap, ADMIN_USER, ADMIN_PASSWORD), true);
  assert.equal(await canLogIn(broker.bootstrap, ADMIN_USER, secret.password), false);
  await disassociate(secret);
});

test('scram-secrets status prints the same status from the database', async () => {
  const output = spawnSync(process.execPath, [MAIN, 'status', '--cluster-arn', CLUSTER_ARN], {
    encoding: 'utf8',
    env: {
      ...process.env,
      SCRAM_SECRETS_DATA_DIR: t.dataDir,
      ...(t.config.databaseUrl ? { SCRAM_SECRETS_DATABASE_URL: t.config.databaseUrl } : {}),
    },
  });
  assert.equal(output.status, 0, output.stderr);
  const printed = JSON.parse(output.stdout) as Awaited<ReturnType<typeof clusterStatus>>;
  const served = await clusterStatus(t.url, CLUSTER_ARN);
  assert.equal(printed.clusterArn, CLUSTER_ARN);
  assert.deepEqual(
    printed.associations.map((entry) => entry.secretArn),
    served.associations.map((entry) => entry.secretArn),
  );
  assert.ok(printed.counts.ACTIVE > 0);
  assert.equal(printed.brokers?.bootstrapServers, broker.bootstrap);
});

test('metrics: users, reconcile runs and duration, failures, time since sync', async () => {
  const response = await fetch(`${t.url}/metrics`);
  assert.equal(response.status, 200);
  const text = await response.text();
  const label = `cluster_arn="${CLUSTER_ARN}"`;
  assert.match(
    text,
    new RegExp(`scram_secrets_kafka_users_provisioned\\{${escape(label)}\\} [1-9]`),
  );
  assert.match(
    text,
    new RegExp(
      `scram_secrets_kafka_reconcile_runs_total\\{${escape(label)},outcome="success"\\} [1-9]`,
    ),
  );
  assert.match(text, /scram_secrets_kafka_reconcile_duration_seconds_count/);
  assert.match(text, /# TYPE scram_secrets_kafka_reconcile_failures_total counter/);
  const since = new RegExp(
    `scram_secrets_kafka_seconds_since_last_sync\\{${escape(label)}\\} ([0-9.e+-]+)`,
  ).exec(text);
  assert.ok(since && Number(since[1]) < 60, text);
  assert.match(text, /scram_secrets_kafka_user_writes_total\{[^}]*cause="new"/);
});

test('a cluster created through the API, with no brokers, works as before', async () => {
  const clusterArn = await createScramCluster(t.kafka());
  const brokers = await t.kafka().send(new GetBootstrapBrokersCommand({ ClusterArn: clusterArn }));
  assert.match(brokers.BootstrapBrokerStringSaslScram ?? '', /^b-1\..*\.amazonaws\.com:9096/);
  const secret = await createMskSecret(t.secretsManager(), { kmsKeyId: keyId });
  const result = await t
    .kafka()
    .send(
      new BatchAssociateScramSecretCommand({ ClusterArn: clusterArn, SecretArnList: [secret.arn] }),
    );
  assert.deepEqual(result.UnprocessedScramSecrets, []);
  const status = await clusterStatus(t.url, clusterArn);
  assert.equal(status.brokers, null);
  assert.equal(status.associations[0]?.state, 'PENDING');
  assert.match(status.associations[0]?.reason ?? '', /no Kafka brokers registered/);
  assert.equal(await canLogIn(broker.bootstrap, secret.username, secret.password), false);
});

test('SASL/SCRAM turned off removes the users; turned on again restores them', async () => {
  const secret = await createMskSecret(t.secretsManager(), { kmsKeyId: keyId });
  await associate(secret);
  await waitFor(`${secret.username} can log in`, logsIn(secret));
  const setScram = async (enabled: boolean): Promise<void> => {
    const described = await t
      .kafka()
      .send(new DescribeClusterV2Command({ ClusterArn: CLUSTER_ARN }));
    await t.kafka().send(
      new UpdateSecurityCommand({
        ClusterArn: CLUSTER_ARN,
        CurrentVersion: described.ClusterInfo!.CurrentVersion!,
        ClientAuthentication: { Sasl: { Scram: { Enabled: enabled } } },
      }),
    );
  };
  await setScram(false);
  await waitFor(`${secret.username} can no longer log in`, refused(secret));
  assert.equal(await stateOf(t.url, CLUSTER_ARN, secret.arn), 'FAILED');
  await setScram(true);
  await waitFor(`${secret.username} can log in again`, logsIn(secret));
});

test('the hand-made user survived everything', async () => {
  assert.equal(await canLogIn(broker.bootstrap, HAND_MADE.username, HAND_MADE.password), true);
  const described = await broker.tool('describe-users', HAND_MADE.username);
  assert.match(described, /SCRAM-SHA-512=iterations=4096/);
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
