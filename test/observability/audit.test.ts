import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { BatchAssociateScramSecretCommand, DeleteClusterCommand } from '@aws-sdk/client-kafka';
import { PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';

import { createKey, createMskSecret, createScramCluster } from '../support/fixtures.js';
import { ACCESS_KEY_ID, startTestServer, type TestServer } from '../support/server.js';

const MAIN = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');

let t: TestServer;
let clusterArn: string;
let otherClusterArn: string;
let password: string;
let startedAt: number;

before(async () => {
  t = await startTestServer();
  startedAt = Date.now();
  const keyId = await createKey(t.kms());
  const secret = await createMskSecret(t.secretsManager(), { kmsKeyId: keyId });
  password = secret.password;
  clusterArn = await createScramCluster(t.kafka());
  otherClusterArn = await createScramCluster(t.kafka());
  await t
    .kafka()
    .send(
      new BatchAssociateScramSecretCommand({ ClusterArn: clusterArn, SecretArnList: [secret.arn] }),
    );
  await t.secretsManager().send(
    new PutSecretValueCommand({
      SecretId: secret.arn,
      SecretString: JSON.stringify({ username: secret.username, password: `${password}-next` }),
    }),
  );
  await assert.rejects(
    t
      .kafka()
      .send(new DeleteClusterCommand({ ClusterArn: clusterArn, CurrentVersion: 'wrong-version' })),
    { name: 'BadRequestException' },
  );
});
after(async () => t.stop());

interface PrintedEvent {
  time: string;
  requestId: string;
  accountId: string;
  principal: string;
  action: string;
  resource: string;
  outcome: string;
}

/** The CLI reads the store the server wrote: the same data dir, or the same database. */
function storeEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, SCRAM_SECRETS_DATA_DIR: t.dataDir };
  if (t.config.databaseUrl) env.SCRAM_SECRETS_DATABASE_URL = t.config.databaseUrl;
  return env;
}

function auditCli(...args: string[]): { events: PrintedEvent[]; stdout: string } {
  const result = spawnSync(process.execPath, [MAIN, 'audit', ...args], {
    encoding: 'utf8',
    env: storeEnvironment(),
  });
  assert.equal(result.status, 0, result.stderr);
  const events = result.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as PrintedEvent);
  return { events, stdout: result.stdout };
}

test('every mutating call is in the audit log with principal, action, resource and outcome', () => {
  const { events } = auditCli();
  const actions = events.map((event) => event.action);
  for (const action of [
    'kms:CreateKey',
    'secretsmanager:CreateSecret',
    'kafka:CreateClusterV2',
    'kafka:BatchAssociateScramSecret',
    'secretsmanager:PutSecretValue',
    'kafka:DeleteCluster',
  ]) {
    assert.ok(actions.includes(action), `${action} is audited`);
  }
  assert.ok(
    !actions.some((action) => /:(List|Describe|Get)/.test(action)),
    'reads are not audited',
  );
  const associate = events.find((event) => event.action === 'kafka:BatchAssociateScramSecret')!;
  assert.equal(associate.resource, clusterArn);
  assert.equal(associate.outcome, 'success');
  assert.match(associate.principal, new RegExp(`user/${ACCESS_KEY_ID}$`));
  assert.match(associate.requestId, /^[0-9a-f-]{36}$/);
  assert.ok(Date.parse(associate.time) >= startedAt - 1000);
  const refused = events.find((event) => event.action === 'kafka:DeleteCluster')!;
  assert.equal(refused.outcome, 'BadRequestException');
});

test('filters: cluster, principal and time', () => {
  const onCluster = auditCli('--cluster-arn', clusterArn).events;
  assert.ok(onCluster.length >= 2);
  assert.ok(onCluster.every((event) => event.resource === clusterArn));
  assert.equal(auditCli('--cluster-arn', otherClusterArn).events.length, 1, 'only its creation');

  assert.ok(auditCli('--principal', ACCESS_KEY_ID).events.length >= 6);
  assert.equal(auditCli('--principal', 'somebody-else').events.length, 0);

  assert.equal(auditCli('--until', new Date(startedAt - 60_000).toISOString()).events.length, 0);
  assert.ok(auditCli('--since', new Date(startedAt - 60_000).toISOString()).events.length >= 6);
  assert.equal(auditCli('--limit', '2').events.length, 2);
});

test('the audit log holds no secret value', () => {
  const { stdout } = auditCli();
  assert.ok(!stdout.includes(password));
});

test('bad filters are refused with a message', () => {
  const result = spawnSync(process.execPath, [MAIN, 'audit', '--since', 'yesterday-ish'], {
    encoding: 'utf8',
    env: storeEnvironment(),
  });
  assert.equal(result.status, 1);
  assert.match(result.stderr, /--since must be a time in ISO 8601/);
});
