import { join } from 'node:path';

import SqliteDatabase from 'better-sqlite3';

import { createPrivately } from './sqlite.js';

export interface DataDirLock {
  release(): void;
}

/**
 * Claims the data dir for one `serve` process while it runs on SQLite. Two services on one
 * SQLite file would each answer for the same state, fight for its write lock (503s) and
 * run two reconcilers; the second is refused at start instead. The claim is SQLite's own
 * exclusive lock on a small file beside the database, which the operating system drops when
 * the process ends, however it ends: a service killed with SIGKILL leaves no stale claim.
 * The `audit` and `status` commands read the database without claiming the dir.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  const file = join(dataDir, 'serve.lock');
  createPrivately(file);
  const lock = new SqliteDatabase(file, { timeout: 0 });
  try {
    lock.pragma('locking_mode = EXCLUSIVE');
    lock.exec('BEGIN EXCLUSIVE');
  } catch (error) {
    lock.close();
    if ((error as { code?: string }).code === 'SQLITE_BUSY') {
      throw new Error(
        `Another scram-secrets serve is using the data dir ${dataDir}. Stop it first, or give ` +
          'this one its own SCRAM_SECRETS_DATA_DIR; several replicas share state through ' +
          'PostgreSQL (SCRAM_SECRETS_DATABASE_URL).',
      );
    }
    throw error;
  }
  return {
    release() {
      if (!lock.open) return;
      lock.exec('ROLLBACK');
      lock.close();
    },
  };
}
