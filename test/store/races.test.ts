import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';

import {
  BatchAssociateScramSecretCommand,
  NotFoundException,
  type KafkaClient,
} from '@aws-sdk/client-kafka';
import {
  GetResourcePolicyCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import pg from 'pg';

import { createKey, createMskSecret, createScramCluster } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Races with a transaction of another replica, on PostgreSQL, where transactions really run
 * side by side (SQLite runs one write transaction at a time). The other replica's change is
 * held open by a client of the test's own, so that the batch reads the old state and must
 * wait for the new one at the lock it takes before it writes.
 */
const onPostgres = process.env.SCRAM_SECRETS_TEST_DATABASE_URL !== undefined;
const skip = onPostgres
  ? false
  : 'needs PostgreSQL: CI runs it with SCRAM_SECRETS_TEST_DATABASE_URL';
/** Long enough for the batch to reach its lock and wait there. */
const HOLD_MS = 300;

let server: TestServer;
let kafka: KafkaClient;
let secretsManager: SecretsManagerClient;
let keyId: string;

before(async () => {
  server = await startTestServer();
  kafka = server.kafka();
  secretsManager = server.secretsManager();
  keyId = await createKey(server.kms());
});
after(async () => server.stop());

/** Runs `statements` in a transaction of another connection, committed after `HOLD_MS`. */
async function heldOpen<T>(
  statements: Array<[string, unknown[]]>,
  during: () => Promise<T>,
): Promise<{ value: T } | { error: unknown }> {
  const client = new pg.Client({ connectionString: server.config.databaseUrl });
  await client.connect();
  try {
    await client.query('BEGIN');
    for (const [text, values] of statements) await client.query(text, values);
    const call = during().then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    await sleep(HOLD_MS);
    await client.query('COMMIT');
    return await call;
  } finally {
    await client.end();
  }
}

test(
  'a cluster deleted while a batch waits for its lock is 404, not a half-written batch',
  { skip },
  async () => {
    const clusterArn = await createScramCluster(kafka);
    const secret = await createMskSecret(secretsManager, { kmsKeyId: keyId });
    const outcome = await heldOpen(
      [
        ['DELETE FROM scram_associations WHERE cluster_arn = $1', [clusterArn]],
        ['DELETE FROM clusters WHERE arn = $1', [clusterArn]],
      ],
      () =>
        kafka.send(
          new BatchAssociateScramSecretCommand({
            ClusterArn: clusterArn,
            SecretArnList: [secret.arn],
          }),
        ),
    );
    assert.ok('error' in outcome, 'the batch was answered as if the cluster still existed');
    assert.ok(outcome.error instanceof NotFoundException, String(outcome.error));
    assert.equal(outcome.error.$metadata.httpStatusCode, 404);
  },
);

test(
  'a resource policy written while a batch runs is kept beside the cluster grant',
  { skip },
  async () => {
    const clusterArn = await createScramCluster(kafka);
    const secret = await createMskSecret(secretsManager, { kmsKeyId: keyId });
    const theirs = {
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'Mine',
          Effect: 'Allow',
          Principal: { AWS: 'arn:aws:iam::111122223333:root' },
          Action: 'secretsmanager:DescribeSecret',
          Resource: '*',
        },
      ],
    };
    const outcome = await heldOpen(
      [
        [
          'UPDATE secrets SET resource_policy = $1 WHERE arn = $2',
          [JSON.stringify(theirs), secret.arn],
        ],
      ],
      () =>
        kafka.send(
          new BatchAssociateScramSecretCommand({
            ClusterArn: clusterArn,
            SecretArnList: [secret.arn],
          }),
        ),
    );
    assert.ok('value' in outcome, String((outcome as { error?: unknown }).error));
    assert.deepEqual(outcome.value.UnprocessedScramSecrets, []);
    const policy = await secretsManager.send(
      new GetResourcePolicyCommand({ SecretId: secret.arn }),
    );
    const sids = (
      JSON.parse(policy.ResourcePolicy!) as { Statement: Array<{ Sid?: string }> }
    ).Statement.map((statement) => statement.Sid);
    assert.deepEqual(sids.sort(), ['AWSKafkaResourcePolicy', 'Mine']);
  },
);
