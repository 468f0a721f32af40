import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { DeleteClusterCommand } from '@aws-sdk/client-kafka';
import { GetSecretValueCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';
import { pino } from 'pino';

import { createKey, createMskSecret, createScramCluster } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * The audit row is written after the change's own transaction. When the store takes the
 * change but not the row, the caller must still hear what happened to the change, and the
 * missing row must reach an operator as an error log, for allowed and refused calls alike.
 */

let t: TestServer;
const lines: string[] = [];
const logs = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);

before(async () => {
  const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
  t = await startTestServer({}, { logger });
});
after(async () => t.stop());

/** Runs SQL on the test server's database from another connection, as an operator could. */
async function onTheDatabase(statement: string): Promise<void> {
  if (t.server.store.dialect === 'sqlite') {
    const other = new SqliteDatabase(join(t.dataDir, 'scram-secrets.sqlite'));
    try {
      other.exec(statement);
    } finally {
      other.close();
    }
    return;
  }
  const client = new pg.Client({ connectionString: t.config.databaseUrl });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

test('a committed change whose audit row cannot be written is answered as done', async () => {
  const keyId = await createKey(t.kms());
  const secret = await createMskSecret(t.secretsManager(), { kmsKeyId: keyId });
  const clusterArn = await createScramCluster(t.kafka());
  const nextPassword = `${secret.password}-next`;

  // Every audit insert now fails, while the tables that the changes write stay as they were.
  await onTheDatabase('ALTER TABLE audit_events RENAME TO audit_events_away');
  let put;
  try {
    put = await t.secretsManager().send(
      new PutSecretValueCommand({
        SecretId: secret.arn,
        SecretString: JSON.stringify({ username: secret.username, password: nextPassword }),
      }),
    );
    await assert.rejects(
      t.kafka().send(new DeleteClusterCommand({ ClusterArn: clusterArn, CurrentVersion: 'wrong' })),
      { name: 'BadRequestException' },
      'a refused call keeps its own answer, not a store error',
    );
  } finally {
    await onTheDatabase('ALTER TABLE audit_events_away RENAME TO audit_events');
  }

  assert.ok(put.VersionId, 'PutSecretValue was answered as done');
  const value = await t.secretsManager().send(new GetSecretValueCommand({ SecretId: secret.arn }));
  assert.equal(JSON.parse(value.SecretString!).password, nextPassword, 'and it was done');

  const failed = logs().filter((entry) => entry.event === 'audit.write_failed');
  const putFailure = failed.find((entry) => entry.action === 'secretsmanager:PutSecretValue');
  assert.ok(putFailure, 'the missing row of the change is logged');
  assert.equal(putFailure.level, 50, 'at error');
  assert.equal(putFailure.outcome, 'success');
  assert.equal(putFailure.resource, secret.arn);
  const refused = failed.find((entry) => entry.action === 'kafka:DeleteCluster');
  assert.ok(refused, 'the missing row of a refused call is logged too');
  assert.equal(refused.level, 50);
  assert.equal(refused.outcome, 'BadRequestException');
  assert.ok(
    logs().some((entry) => entry.event === 'audit.write_retried' && entry.level === 40),
    'each row was retried before it was given up',
  );
  const everything = lines.join('');
  assert.ok(!everything.includes(secret.password) && !everything.includes(nextPassword));
});
