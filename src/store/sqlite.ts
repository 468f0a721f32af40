import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

import SqliteDatabase from 'better-sqlite3';
import {
  Kysely,
  Migrator,
  SqliteDialect,
  sql,
  type SqliteDatabase as KyselySqliteDatabase,
  type SqliteStatement,
  type Transaction,
} from 'kysely';

import { migrationProvider } from './migrations.js';
import type { Database } from './schema.js';
import type { Store } from './store.js';

/**
 * Distinct SQL texts kept prepared. The queries the service runs number a few dozen (an
 * `IN (?, ?, …)` list adds one per length); the bound only guards against SQL that inlines
 * its values, which must not grow the cache without end.
 */
const MAX_CACHED_STATEMENTS = 500;

/**
 * SQLite through better-sqlite3. Kysely gives the single connection to one caller at a time,
 * so a transaction here is also a lock: concurrent batches run one after another.
 */
export async function openSqliteStore(
  file: string,
  options: { busyTimeoutMs?: number } = {},
): Promise<Store> {
  if (file !== ':memory:') {
    mkdirSync(dirname(file), { recursive: true });
    createPrivately(file);
  }
  const connection = new SqliteDatabase(file);
  connection.pragma('journal_mode = WAL');
  connection.pragma('synchronous = FULL');
  connection.pragma('foreign_keys = ON');
  connection.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);

  const database = withStatementCache(connection);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  await migrate(db);

  return {
    dialect: 'sqlite',
    db,
    // SQLite reads the clock once per statement; a Julian day number, made epoch milliseconds.
    now: sql<number>`cast(round((julianday('now') - 2440587.5) * 86400000) as integer)`,
    transaction<T>(work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
      return db.transaction().execute(work);
    },
    close: () => db.destroy(),
  };
}

/**
 * Creates a database file readable by its owner alone (0600), unless it exists; SQLite makes
 * its `-wal` and `-shm` files with the mode of the database file. The values in it are
 * sealed, but names, ARNs, policies and the audit log are not. A file that exists keeps its
 * mode.
 */
export function createPrivately(file: string): void {
  try {
    closeSync(openSync(file, 'wx', 0o600));
  } catch (error) {
    if ((error as { code?: string }).code !== 'EEXIST') throw error;
  }
}

/**
 * The connection as Kysely sees it, with each SQL text prepared once: Kysely's driver asks
 * for a fresh statement on every query, and preparing the same SQL again took a large share
 * of a request's CPU time. Reusing a statement is safe: better-sqlite3 binds parameters per
 * call and resets the statement after every `all` and `run`, even one that fails; Kysely
 * hands the one connection to one query (or one stream, until it ends) at a time; and
 * better-sqlite3 refuses, rather than mixes, a second use of a statement still iterating.
 */
function withStatementCache(connection: SqliteDatabase.Database): KyselySqliteDatabase {
  const statements = new Map<string, SqliteStatement>();
  return {
    prepare(sql: string): SqliteStatement {
      let statement = statements.get(sql);
      if (statement === undefined) {
        statement = forKysely(connection.prepare(sql));
        if (statements.size >= MAX_CACHED_STATEMENTS) {
          statements.delete(statements.keys().next().value!);
        }
        statements.set(sql, statement);
      }
      return statement;
    },
    close(): void {
      statements.clear();
      connection.close();
    },
  };
}

/**
 * A statement that reads one column (a list of ARNs, a count) reads it as plain values and
 * makes the row objects itself: better-sqlite3 builds a row object through a slow path that
 * cost twice as much as reading the rows. The rows Kysely receives are the same.
 */
function forKysely(statement: SqliteDatabase.Statement): SqliteStatement {
  if (!statement.reader) return statement;
  const columns = statement.columns();
  if (columns.length !== 1 || columns[0]!.name === '__proto__') return statement;
  const name = columns[0]!.name;
  // Assigned, not written as a computed key, which V8 handles in the runtime at every row.
  const row = (value: unknown): Record<string, unknown> => {
    const made: Record<string, unknown> = {};
    made[name] = value;
    return made;
  };
  statement.pluck(true);
  return {
    reader: true,
    all: (parameters) => statement.all(parameters).map(row),
    run: (parameters) => statement.run(parameters),
    *iterate(parameters) {
      for (const value of statement.iterate(parameters)) yield row(value);
    },
  };
}

async function migrate(db: Kysely<Database>): Promise<void> {
  const migrator = new Migrator({ db, provider: migrationProvider('sqlite') });
  const { error } = await migrator.migrateToLatest();
  if (error) throw error;
}
