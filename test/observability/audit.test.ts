import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { BatchAssociateScramSecretCommand, DeleteClusterCommand } from '@aws-sdk/client-kafka';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';

import { createKey, createMskSecret, createScramCluster } from '../support/fixtures.js';
import { ACCESS_KEY_ID, ACCOUNT_ID, startTestServer, type TestServer } from '../support/server.js';

const MAIN = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');

let t: TestServer;
let clusterArn: string;
let otherClusterArn: string;
let password: string;
let secretArn: string;
let startedAt: number;
/** A time after the setup's calls and before the named principals' calls. */
let midpoint: number;

/** Names that a pattern or a case-blind match would confuse with each other. */
const NAMED = [
  { name: 'alice', accessKeyId: 'AKIAAUDITALICE000001' },
  { name: 'malice', accessKeyId: 'AKIAAUDITMALICE00001' },
  { name: 'ALICE', accessKeyId: 'AKIAAUDITALICEUPPER1' },
];
const configDir = mkdtempSync(join(tmpdir(), 'scram-audit-config-'));

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

before(async () => {
  const configFile = join(configDir, 'config.json');
  const principals = NAMED.map((principal) => ({
    ...principal,
    secretAccessKey: `audit-test-secret-${principal.name}`,
    accountId: ACCOUNT_ID,
    administrator: true,
  }));
  writeFileSync(configFile, JSON.stringify({ principals }));
  t = await startTestServer({ SCRAM_SECRETS_CONFIG: configFile });
  startedAt = Date.now();
  const keyId = await createKey(t.kms());
  const secret = await createMskSecret(t.secretsManager(), { kmsKeyId: keyId });
  password = secret.password;
  secretArn = secret.arn;
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

  await pause(20);
  midpoint = Date.now();
  await pause(20);
  // alice twice, the others once: a filter that mixes them up gets the counts wrong.
  for (const principal of [NAMED[0]!, ...NAMED]) {
    const kms = t.kms({
      accessKeyId: principal.accessKeyId,
      secretAccessKey: `audit-test-secret-${principal.name}`,
    });
    await kms.send(new CreateKeyCommand({}));
  }
});
after(async () => {
  await t.stop();
  rmSync(configDir, { recursive: true, force: true });
});

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

test('--resource with the full ARN a secret got finds its creation and its changes', () => {
  const onSecret = auditCli('--resource', secretArn).events;
  assert.deepEqual(
    onSecret.map((event) => [event.action, event.outcome]),
    [
      ['secretsmanager:CreateSecret', 'success'],
      ['secretsmanager:PutSecretValue', 'success'],
    ],
  );
});

test('--since and --until split the log at the bound', () => {
  const bound = new Date(midpoint).toISOString();
  const since = auditCli('--since', bound).events;
  assert.equal(since.length, 4, 'only the named principals called after the bound');
  assert.ok(since.every((event) => Date.parse(event.time) >= midpoint));
  assert.ok(!since.some((event) => event.action === 'kafka:BatchAssociateScramSecret'));
  const until = auditCli('--until', bound).events;
  assert.ok(until.some((event) => event.action === 'kafka:BatchAssociateScramSecret'));
  assert.ok(until.every((event) => Date.parse(event.time) <= midpoint));
  assert.ok(!until.some((event) => /:user\/(alice|malice|ALICE)$/.test(event.principal)));
});

test('--principal matches a name or an ARN exactly, with case, on either store', () => {
  const byName = (name: string) => auditCli('--principal', name).events;
  const alice = byName('alice');
  assert.equal(alice.length, 2, 'alice, not malice, not ALICE');
  const aliceArn = `arn:aws:iam::${ACCOUNT_ID}:user/alice`;
  assert.ok(alice.every((event) => event.principal === aliceArn));
  assert.deepEqual(
    byName('malice').map((event) => event.principal),
    [`arn:aws:iam::${ACCOUNT_ID}:user/malice`],
  );
  assert.deepEqual(
    byName('ALICE').map((event) => event.principal),
    [`arn:aws:iam::${ACCOUNT_ID}:user/ALICE`],
  );
  assert.equal(byName(aliceArn).length, 2, 'the full ARN');
  assert.equal(byName(aliceArn.toUpperCase()).length, 0, 'an ARN with other case is another');
  assert.equal(byName('lice').length, 0, 'a tail of a name is not the name');
  assert.equal(byName('%lice').length, 0, 'a LIKE pattern is only text');
  assert.equal(byName('Alice').length, 0);
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
