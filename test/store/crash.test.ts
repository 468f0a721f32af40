import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { BatchAssociateScramSecretCommand, paginateListScramSecrets } from '@aws-sdk/client-kafka';
import { GetResourcePolicyCommand } from '@aws-sdk/client-secrets-manager';

import { createKey, createMskSecrets, createScramCluster } from '../support/fixtures.js';
import { serveClients, startServe, type ServeProcess } from '../support/serve.js';
import { ACCESS_KEY_ID, ACCOUNT_ID, SECRET_ACCESS_KEY } from '../support/server.js';

/**
 * A batch is one transaction: killed with SIGKILL while batches are being written, the
 * service comes back with each batch there whole (its associations and the read grants on its
 * secrets) or not at all, and every batch it answered is there.
 */
const BATCHES = 30;
const BATCH_SIZE = 10;
const PARALLEL = 6;

const dataDir = mkdtempSync(join(tmpdir(), 'scram-crash-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

function serve(): Promise<ServeProcess> {
  return startServe({
    env: {
      SCRAM_SECRETS_DATA_DIR: dataDir,
      SCRAM_SECRETS_CREDENTIALS: `${ACCESS_KEY_ID}:${SECRET_ACCESS_KEY}:${ACCOUNT_ID}`,
    },
  });
}

test('SIGKILL amid association batches: each batch is there whole or not at all', async () => {
  const service = await serve();
  const before = serveClients(service.url);
  const keyId = await createKey(before.kms);
  const secrets = await createMskSecrets(before.secretsManager, keyId, BATCHES * BATCH_SIZE);
  const clusterArn = await createScramCluster(before.kafka);
  const batches = Array.from({ length: BATCHES }, (_, index) =>
    secrets.slice(index * BATCH_SIZE, (index + 1) * BATCH_SIZE).map((secret) => secret.arn),
  );

  const answered = new Set<number>();
  let next = 0;
  let killed = false;
  const worker = async (): Promise<void> => {
    while (!killed && next < BATCHES) {
      const index = next++;
      try {
        const result = await before.kafka.send(
          new BatchAssociateScramSecretCommand({
            ClusterArn: clusterArn,
            SecretArnList: batches[index],
          }),
        );
        assert.deepEqual(result.UnprocessedScramSecrets ?? [], [], `batch ${index} refused none`);
        answered.add(index);
      } catch (error) {
        // Only the kill may stop a batch: anything else is a failure of the test.
        if (!killed) throw error;
      }
    }
  };
  const workers = Array.from({ length: PARALLEL }, () => worker());
  // Killed once a few batches have been answered, with others on their way.
  while (answered.size < 3) await new Promise((resolve) => setTimeout(resolve, 5));
  killed = true;
  await service.stop('SIGKILL');
  await Promise.all(workers);
  assert.ok(answered.size < BATCHES, 'the kill came while batches were still being written');

  const restarted = await serve();
  try {
    const afterwards = serveClients(restarted.url);
    const associated = new Set<string>();
    for await (const page of paginateListScramSecrets(
      { client: afterwards.kafka, pageSize: 100 },
      { ClusterArn: clusterArn },
    )) {
      for (const arn of page.SecretArnList ?? []) associated.add(arn);
    }
    const granted = async (arn: string): Promise<boolean> => {
      const policy = await afterwards.secretsManager.send(
        new GetResourcePolicyCommand({ SecretId: arn }),
      );
      return (policy.ResourcePolicy ?? '').includes('kafka.amazonaws.com');
    };

    for (const [index, arns] of batches.entries()) {
      const present = arns.filter((arn) => associated.has(arn)).length;
      assert.ok(
        present === 0 || present === BATCH_SIZE,
        `batch ${index}: ${present} of ${BATCH_SIZE} associated`,
      );
      if (answered.has(index)) assert.equal(present, BATCH_SIZE, `answered batch ${index}`);
      const grants = await Promise.all(arns.map(granted));
      assert.deepEqual(
        grants,
        arns.map(() => present === BATCH_SIZE),
        `batch ${index}: read grants match its associations`,
      );
    }
  } finally {
    await restarted.stop();
  }
});
