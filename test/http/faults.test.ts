import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { ListScramSecretsCommand } from '@aws-sdk/client-kafka';
import { ListAliasesCommand } from '@aws-sdk/client-kms';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { sql } from 'kysely';

import { createKey, createMskSecret, createScramCluster } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * An unexpected failure inside the real service (here a table the store needs has gone, as
 * after a botched manual change) is a 500 in each API's own shape, which its AWS SDK maps to
 * the modelled exception, and the answer names nothing of the cause.
 */
let t: TestServer;
before(async () => {
  t = await startTestServer();
});
after(async () => t.stop());

async function renameTable(from: string, to: string): Promise<void> {
  await sql`alter table ${sql.table(from)} rename to ${sql.table(to)}`.execute(t.server.store.db);
}

function assertInternal(name: string) {
  return (error: Error & { $metadata?: { httpStatusCode?: number } }) => {
    assert.equal(error.name, name);
    assert.equal(error.$metadata?.httpStatusCode, 500);
    assert.doesNotMatch(error.message, /table|relation|sqlite|select|scram_|secret_versions/i);
    return true;
  };
}

test('a fault in the store is a 500 of each API, which its SDK knows, leaking nothing', async () => {
  const keyId = await createKey(t.kms());
  const secret = await createMskSecret(t.secretsManager(), { kmsKeyId: keyId });
  const clusterArn = await createScramCluster(t.kafka());

  await renameTable('kms_aliases', 'kms_aliases_away');
  await renameTable('secret_versions', 'secret_versions_away');
  await renameTable('scram_associations', 'scram_associations_away');
  try {
    await assert.rejects(
      t.kms().send(new ListAliasesCommand({})),
      assertInternal('KMSInternalException'),
    );
    await assert.rejects(
      t.secretsManager().send(new GetSecretValueCommand({ SecretId: secret.arn })),
      assertInternal('InternalServiceError'),
    );
    await assert.rejects(
      t.kafka().send(new ListScramSecretsCommand({ ClusterArn: clusterArn })),
      assertInternal('InternalServerErrorException'),
    );
  } finally {
    await renameTable('kms_aliases_away', 'kms_aliases');
    await renameTable('secret_versions_away', 'secret_versions');
    await renameTable('scram_associations_away', 'scram_associations');
  }

  // The tables back, the same calls are served again.
  await t.kms().send(new ListAliasesCommand({}));
  const value = await t.secretsManager().send(new GetSecretValueCommand({ SecretId: secret.arn }));
  assert.equal(JSON.parse(value.SecretString!).username, secret.username);
  const listed = await t.kafka().send(new ListScramSecretsCommand({ ClusterArn: clusterArn }));
  assert.deepEqual(listed.SecretArnList ?? [], []);
});
