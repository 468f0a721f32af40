import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import SqliteDatabase from 'better-sqlite3';
import { sql } from 'kysely';
import pg from 'pg';

import type { TestServer } from './server.js';

/** The tables the service writes, for dumps of everything it stored. */
const TABLES = [
  'kms_keys',
  'kms_aliases',
  'secrets',
  'secret_versions',
  'clusters',
  'scram_associations',
  'audit_events',
];

/**
 * Everything the database holds, as bytes: the SQLite files themselves, or every row of
 * every table of the PostgreSQL database as text (binary columns in hex).
 */
export async function databaseBytes(t: TestServer): Promise<Buffer> {
  if (t.server.store.dialect === 'sqlite') {
    const files = readdirSync(t.dataDir).filter((file) => file.startsWith('scram-secrets.sqlite'));
    if (!files.includes('scram-secrets.sqlite'))
      throw new Error('no database file in the data dir');
    return Buffer.concat(files.map((file) => readFileSync(join(t.dataDir, file))));
  }
  const parts: string[] = [];
  for (const table of TABLES) {
    const rows = await sql<{
      row: string;
    }>`select row_to_json(t)::text as row from ${sql.table(table)} t`.execute(t.server.store.db);
    parts.push(...rows.rows.map((row) => row.row));
  }
  return Buffer.from(parts.join('\n'), 'utf8');
}

export async function countAssociations(t: TestServer, clusterArn: string): Promise<number> {
  const row = await t.server.store.db
    .selectFrom('scram_associations')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('cluster_arn', '=', clusterArn)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/**
 * Another client takes the database's write lock and keeps it until released: a store outage
 * a test can cause and end at will, for either store.
 */
export async function holdWriteLock(t: TestServer): Promise<() => Promise<void>> {
  if (t.server.store.dialect === 'sqlite') {
    const other = new SqliteDatabase(join(t.dataDir, 'scram-secrets.sqlite'));
    other.exec('BEGIN IMMEDIATE');
    return async () => {
      other.exec('ROLLBACK');
      other.close();
    };
  }
  const client = new pg.Client({ connectionString: t.config.databaseUrl });
  await client.connect();
  await client.query('BEGIN');
  await client.query(`LOCK TABLE ${TABLES.join(', ')} IN EXCLUSIVE MODE`);
  return async () => {
    await client.query('ROLLBACK');
    await client.end();
  };
}
