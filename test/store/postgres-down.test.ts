import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { BatchAssociateScramSecretCommand, ListScramSecretsCommand } from '@aws-sdk/client-kafka';
import { CreateSecretCommand, DescribeSecretCommand } from '@aws-sdk/client-secrets-manager';

import { createKey, createMskSecret, createScramCluster } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * The database server itself goes away, not just a lock: the service's own PostgreSQL is
 * stopped under it, and started again. Calls in between are 503, never 500; afterwards the
 * service serves again without a restart, and nothing of the refused calls was written.
 * The PostgreSQL server is the test's own, since it stops it.
 */

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const needsPostgres = 'needs PostgreSQL: set SCRAM_SECRETS_TEST_DATABASE_URL (CI does)';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === 'object' && address ? address.port : 0;
}

interface SdkError extends Error {
  $metadata?: { httpStatusCode?: number };
  $response?: { headers: Record<string, string> };
}

function assertUnavailable(error: SdkError): true {
  assert.equal(error.$metadata?.httpStatusCode, 503, `${error.name}: ${error.message}`);
  assert.equal(error.$response?.headers['x-amzn-errortype'], 'ServiceUnavailableException');
  assert.match(error.$response?.headers['retry-after'] ?? '', /^[1-9]\d*$/);
  return true;
}

describe(
  'the PostgreSQL server stopped and started under a running service',
  { skip: process.env.SCRAM_SECRETS_TEST_DATABASE_URL ? false : needsPostgres },
  () => {
    const pgEnv: NodeJS.ProcessEnv = {
      ...process.env,
      SCRAM_SECRETS_PG_DIR: join(tmpdir(), `scram-pg-${randomUUID()}`),
    };
    const postgres = (command: 'start' | 'stop') =>
      run(join(ROOT, 'scripts', 'postgres.sh'), [command], { env: pgEnv });
    let t: TestServer;

    before(async () => {
      pgEnv.SCRAM_SECRETS_PG_PORT = String(await freePort());
      const { stdout } = await postgres('start');
      t = await startTestServer({
        SCRAM_SECRETS_DATABASE_URL: stdout.trim(),
        SCRAM_SECRETS_STORE_BUSY_TIMEOUT_MS: '500',
      });
    });
    after(async () => {
      await postgres('start');
      await t?.stop();
      await postgres('stop');
      rmSync(pgEnv.SCRAM_SECRETS_PG_DIR!, { recursive: true, force: true });
    });

    test('calls are 503 while it is down, served again once it is back, none half-written', async () => {
      const keyId = await createKey(t.kms());
      const secret = await createMskSecret(t.secretsManager(), { kmsKeyId: keyId });
      const clusterArn = await createScramCluster(t.kafka());
      const associate = () =>
        t.kafka().send(
          new BatchAssociateScramSecretCommand({
            ClusterArn: clusterArn,
            SecretArnList: [secret.arn],
          }),
        );
      const name = `AmazonMSK_pg-down-${Date.now()}`;

      await postgres('stop');
      await assert.rejects(associate(), assertUnavailable);
      await assert.rejects(
        t.secretsManager().send(
          new CreateSecretCommand({
            Name: name,
            KmsKeyId: keyId,
            SecretString: '{"username":"u","password":"p"}',
          }),
        ),
        assertUnavailable,
      );
      await assert.rejects(
        t.kafka().send(new ListScramSecretsCommand({ ClusterArn: clusterArn })),
        assertUnavailable,
        'reads too',
      );
      await postgres('start');

      const listed = await t.kafka().send(new ListScramSecretsCommand({ ClusterArn: clusterArn }));
      assert.deepEqual(listed.SecretArnList ?? [], [], 'the refused association was not made');
      await assert.rejects(t.secretsManager().send(new DescribeSecretCommand({ SecretId: name })), {
        name: 'ResourceNotFoundException',
      });
      const retried = await associate();
      assert.deepEqual(retried.UnprocessedScramSecrets ?? [], []);
      const after = await t.kafka().send(new ListScramSecretsCommand({ ClusterArn: clusterArn }));
      assert.deepEqual(after.SecretArnList, [secret.arn]);
    });
  },
);
