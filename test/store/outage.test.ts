import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  BatchAssociateScramSecretCommand,
  KafkaClient,
  ListScramSecretsCommand,
} from '@aws-sdk/client-kafka';
import { CreateSecretCommand, DescribeSecretCommand } from '@aws-sdk/client-secrets-manager';

import { createKey, createMskSecret, createScramCluster } from '../support/fixtures.js';
import { holdWriteLock } from '../support/store.js';
import {
  ACCESS_KEY_ID,
  REGION,
  SECRET_ACCESS_KEY,
  startTestServer,
  type TestServer,
} from '../support/server.js';

let t: TestServer;
let keyId: string;

before(async () => {
  t = await startTestServer({ SCRAM_SECRETS_STORE_BUSY_TIMEOUT_MS: '100' });
  keyId = await createKey(t.kms());
});
after(async () => t.stop());

test('an association while the store is down is 503 with Retry-After, writes nothing', async () => {
  const secret = await createMskSecret(t.secretsManager(), { kmsKeyId: keyId });
  const clusterArn = await createScramCluster(t.kafka());
  const release = await holdWriteLock(t);
  let refused: { statusCode: number; headers: Record<string, string> } | undefined;
  try {
    await assert.rejects(
      t.kafka().send(
        new BatchAssociateScramSecretCommand({
          ClusterArn: clusterArn,
          SecretArnList: [secret.arn],
        }),
      ),
      (error: Error & { $response?: typeof refused }) => {
        refused = error.$response;
        // A held lock is a busy database, not an unreachable one, and the message says so.
        assert.match(error.message, /database is busy with other writes/);
        return error.name === 'ServiceUnavailableException';
      },
    );
  } finally {
    await release();
  }
  assert.equal(refused?.statusCode, 503);
  assert.equal(refused?.headers['x-amzn-errortype'], 'ServiceUnavailableException');
  assert.ok(Number(refused?.headers['retry-after']) >= 1);

  const listed = await t.kafka().send(new ListScramSecretsCommand({ ClusterArn: clusterArn }));
  assert.deepEqual(listed.SecretArnList ?? [], [], 'nothing was associated');
  const described = await t
    .secretsManager()
    .send(new DescribeSecretCommand({ SecretId: secret.arn }));
  assert.equal(described.ARN, secret.arn);

  const retried = await t
    .kafka()
    .send(
      new BatchAssociateScramSecretCommand({ ClusterArn: clusterArn, SecretArnList: [secret.arn] }),
    );
  assert.deepEqual(retried.UnprocessedScramSecrets ?? [], []);
});

test('the JSON 1.1 APIs answer 503 too, and a secret made then does not half-exist', async () => {
  const name = `AmazonMSK_outage-${Date.now()}`;
  const release = await holdWriteLock(t);
  try {
    await assert.rejects(
      t.secretsManager().send(
        new CreateSecretCommand({
          Name: name,
          KmsKeyId: keyId,
          SecretString: '{"username":"u","password":"p"}',
        }),
      ),
      (error: Error & { $metadata?: { httpStatusCode?: number } }) =>
        error.$metadata?.httpStatusCode === 503,
    );
  } finally {
    await release();
  }
  await assert.rejects(t.secretsManager().send(new DescribeSecretCommand({ SecretId: name })), {
    name: 'ResourceNotFoundException',
  });
});

test('the SDK standard retry mode rides out a short outage', async () => {
  const secret = await createMskSecret(t.secretsManager(), { kmsKeyId: keyId });
  const clusterArn = await createScramCluster(t.kafka());
  const release = await holdWriteLock(t);
  setTimeout(() => void release(), 300);
  const kafka = new KafkaClient({
    endpoint: t.url,
    region: REGION,
    credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
    maxAttempts: 8,
    retryMode: 'standard',
  });
  const result = await kafka.send(
    new BatchAssociateScramSecretCommand({ ClusterArn: clusterArn, SecretArnList: [secret.arn] }),
  );
  assert.deepEqual(result.UnprocessedScramSecrets ?? [], []);
  assert.ok((result.$metadata.attempts ?? 1) > 1, 'it took a retry');
});
