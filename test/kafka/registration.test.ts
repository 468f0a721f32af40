import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { loadConfig } from '../../src/config/config.js';
import { isClusterArn } from '../../src/domain/arn.js';
import { registeredClusterArn } from '../../src/kafka/registration.js';
import { startServer } from '../../src/server.js';
import { createScramCluster } from '../support/fixtures.js';
import { ACCOUNT_ID, REGION, startTestServer } from '../support/server.js';

const cluster = {
  name: 'payments',
  accountId: ACCOUNT_ID,
  region: REGION,
  bootstrapServers: '127.0.0.1:9,127.0.0.1:10',
  securityProtocol: 'SASL_PLAINTEXT',
  adminUsername: 'admin',
  adminPasswordEnv: 'TEST_KAFKA_PASSWORD',
};

function withConfig<T>(body: unknown, run: (file: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'scram-secrets-kafka-config-'));
  try {
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify(body));
    return run(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a registered cluster has one ARN for its account, region and name, on every start', () => {
  const arn = registeredClusterArn(cluster);
  assert.equal(arn, registeredClusterArn({ ...cluster }));
  assert.ok(isClusterArn(arn), arn);
  assert.match(arn, /^arn:aws:kafka:us-east-1:111122223333:cluster\/payments\//);
  assert.notEqual(arn, registeredClusterArn({ ...cluster, name: 'other' }));
  assert.notEqual(arn, registeredClusterArn({ ...cluster, region: 'eu-west-1' }));
  assert.notEqual(arn, registeredClusterArn({ ...cluster, accountId: '444455556666' }));
});

test('the admin password comes from the named variable or file, never from the file itself', () => {
  const config = withConfig({ kafkaClusters: [cluster] }, (file) =>
    loadConfig({ SCRAM_SECRETS_CONFIG: file, TEST_KAFKA_PASSWORD: 'from-env' }),
  );
  assert.equal(config.kafkaClusters[0]?.readAdminPassword(), 'from-env');
  assert.deepEqual(config.kafkaClusters[0]?.bootstrapServers, ['127.0.0.1:9', '127.0.0.1:10']);
  assert.equal(JSON.stringify(config).includes('from-env'), false);

  const dir = mkdtempSync(join(tmpdir(), 'scram-secrets-kafka-password-'));
  try {
    const passwordFile = join(dir, 'password');
    writeFileSync(passwordFile, 'from-file\n');
    const { adminPasswordEnv: _env, ...rest } = cluster;
    const fromFile = withConfig(
      { kafkaClusters: [{ ...rest, adminPasswordFile: passwordFile }] },
      (file) => loadConfig({ SCRAM_SECRETS_CONFIG: file }),
    );
    assert.equal(fromFile.kafkaClusters[0]?.readAdminPassword(), 'from-file');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('invalid cluster settings stop the start with a message that names them', () => {
  const refuse = (body: unknown, env: Record<string, string>, pattern: RegExp) =>
    withConfig(body, (file) =>
      assert.throws(() => loadConfig({ SCRAM_SECRETS_CONFIG: file, ...env }), pattern),
    );
  refuse({ kafkaClusters: [cluster] }, {}, /TEST_KAFKA_PASSWORD is missing or empty/);
  refuse(
    { kafkaClusters: [{ ...cluster, adminPasswordFile: '/nowhere' }] },
    { TEST_KAFKA_PASSWORD: 'x' },
    /exactly one of adminPasswordEnv and adminPasswordFile/,
  );
  refuse(
    { kafkaClusters: [{ ...cluster, securityProtocol: 'PLAINTEXT' }] },
    {},
    /securityProtocol/,
  );
  refuse({ kafkaClusters: [{ ...cluster, bootstrapServers: 'no-port' }] }, {}, /HOST:PORT/);
  refuse({ kafkaClusters: [{ ...cluster, adminPassword: 'inline' }] }, {}, /adminPassword/);
  refuse({ kafkaClusters: [cluster, cluster] }, { TEST_KAFKA_PASSWORD: 'x' }, /registered twice/);
  refuse({ kafkaScramIterations: 1000 }, {}, /kafkaScramIterations/);
});

test('a cluster name already taken through the API stops the start', async () => {
  const t = await startTestServer();
  try {
    await createScramCluster(t.kafka(), { name: 'taken' });
    // The next start on the same database (on SQLite the data dir is one service's at a
    // time), with the name registered in its configuration.
    await t.close();
    const config = withConfig({ kafkaClusters: [{ ...cluster, name: 'taken' }] }, (file) =>
      loadConfig({
        SCRAM_SECRETS_CONFIG: file,
        TEST_KAFKA_PASSWORD: 'x',
        SCRAM_SECRETS_DATA_DIR: t.dataDir,
        SCRAM_SECRETS_PORT: '0',
        SCRAM_SECRETS_LOG_LEVEL: 'silent',
        ...(t.config.databaseUrl ? { SCRAM_SECRETS_DATABASE_URL: t.config.databaseUrl } : {}),
      }),
    );
    await assert.rejects(startServer(config), /a cluster named taken already exists/);
  } finally {
    await t.stop();
  }
});
