import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { ListClustersCommand } from '@aws-sdk/client-kafka';

import { MAIN, serveClients, startServe } from '../support/serve.js';
import { ACCESS_KEY_ID, ACCOUNT_ID, SECRET_ACCESS_KEY } from '../support/server.js';

// The claim is on SQLite's data dir; replicas on PostgreSQL share their state by design, so
// this file runs on SQLite in either pass of the suite.
delete process.env.SCRAM_SECRETS_TEST_DATABASE_URL;

const dataDir = mkdtempSync(join(tmpdir(), 'scram-secrets-lock-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));
const env = {
  SCRAM_SECRETS_DATA_DIR: dataDir,
  SCRAM_SECRETS_CREDENTIALS: `${ACCESS_KEY_ID}:${SECRET_ACCESS_KEY}:${ACCOUNT_ID}`,
};

function serveSync(): { status: number | null; stderr: string } {
  const result = spawnSync(process.execPath, [MAIN, 'serve'], {
    env: { ...process.env, ...env, SCRAM_SECRETS_PORT: '0' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: result.status, stderr: result.stderr };
}

test('a second serve on the same SQLite data dir is refused; audit still reads it', async () => {
  const first = await startServe({ env });
  const second = serveSync();
  assert.equal(second.status, 1, second.stderr);
  assert.match(second.stderr, /Another scram-secrets serve is using the data dir/);
  assert.match(second.stderr, /SCRAM_SECRETS_DATABASE_URL/);

  const audit = spawnSync(process.execPath, [MAIN, 'audit', '--limit', '1'], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  assert.equal(audit.status, 0, audit.stderr);
  // The first is unharmed.
  const { kafka } = serveClients(first.url);
  assert.ok(Array.isArray((await kafka.send(new ListClustersCommand({}))).ClusterInfoList));
  kafka.destroy();

  // A service killed outright leaves no claim behind.
  assert.equal(await first.stop('SIGKILL'), null);
  const restarted = await startServe({ env });
  assert.equal(await restarted.stop(), 0);
  // Nor does one that stopped cleanly.
  const again = await startServe({ env });
  assert.equal(await again.stop(), 0);
});
