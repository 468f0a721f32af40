import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';

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
