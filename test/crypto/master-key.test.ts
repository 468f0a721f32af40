import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { loadOrCreateMasterKey } from '../../src/crypto/master-key.js';
import { startServer } from '../../src/server.js';
import { createKey } from '../support/fixtures.js';
import { startTestServer } from '../support/server.js';

test('a start with another master key than the database was made with is refused', async () => {
  const t = await startTestServer();
  try {
    await createKey(t.kms());
    await t.close();
    await assert.rejects(
      startServer({ ...t.config, masterKeyFile: join(t.dataDir, 'another.key') }),
      /does not open the keys in this database/,
    );
    // The right key still opens it.
    await t.restart();
    await createKey(t.kms());
  } finally {
    await t.stop();
  }
});

test('folders made for a new master key are 0700 whatever the umask; the key is 0600', () => {
  const parent = mkdtempSync(join(tmpdir(), 'scram-master-key-'));
  const previousUmask = process.umask(0);
  try {
    const file = join(parent, 'keys', 'nested', 'master.key');
    loadOrCreateMasterKey(file);
    for (const folder of [join(parent, 'keys'), join(parent, 'keys', 'nested')]) {
      assert.equal(statSync(folder).mode & 0o777, 0o700, folder);
    }
    assert.equal(statSync(file).mode & 0o777, 0o600);
  } finally {
    process.umask(previousUmask);
    rmSync(parent, { recursive: true, force: true });
  }
});

test('a data dir that cannot be made stops the start, naming the setting', async () => {
  const t = await startTestServer();
  const parent = mkdtempSync(join(tmpdir(), 'scram-data-dir-'));
  try {
    await t.close();
    const notADirectory = join(parent, 'a-file');
    writeFileSync(notADirectory, '');
    await assert.rejects(
      startServer({ ...t.config, dataDir: notADirectory }),
      /data dir .*a-file \(SCRAM_SECRETS_DATA_DIR, or dataDir in the config file\) cannot be made \(EEXIST\)/,
    );
  } finally {
    await t.stop();
    rmSync(parent, { recursive: true, force: true });
  }
});
