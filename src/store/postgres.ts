import { Kysely, Migrator, PostgresDialect, sql, type Transaction } from 'kysely';
import pg from 'pg';

import { migrationProvider } from './migrations.js';
import type { Database } from './schema.js';
import type { Store } from './store.js';

const INT8_OID = 20;
/**
 * Serialization failures and deadlocks: PostgreSQL asks the client to run the transaction again.
 */
const RETRYABLE = new Set(['40001', '40P01']);
const MAX_ATTEMPTS = 5;

/**
 * PostgreSQL through node-postgres, for several replicas sharing one database. Transactions
 * run at READ COMMITTED; the rules that must hold across replicas take row locks (the cluster
 * row) or rest on constraints, and a transaction PostgreSQL aborts as a serialization failure
 * or deadlock is run again.
 */
export async function openPostgresStore(
  connectionString: string,
  options: { poolSize?: number; lockTimeoutMs?: number; connectTimeoutMs?: number } = {},
): Promise<Store> {
  const pool = new pg.Pool({
    connectionString,
    max: options.poolSize ?? 10,
    // A database host that takes the connection and never answers must fail the start, or
    // the call (503), rather than hang it.
    connectionTimeoutMillis: Math.max(1, Math.floor(options.connectTimeoutMs ?? 10_000)),
    // A lock held elsewhere for longer than this is an outage (503), not a reason to hang.
    options: `-c lock_timeout=${Math.max(0, Math.floor(options.lockTimeoutMs ?? 5000))}`,
    // Epoch milliseconds and counts fit a double; without this they arrive as strings.
    types: {
      getTypeParser: ((oid: number, format?: string) =>
        oid === INT8_OID
          ? Number
          : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
    },
  });
  pool.on('error', () => {
    // An idle client lost its connection; the pool replaces it, and the next query reports
    // any lasting outage to its caller.
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  await migrate(db);

  return {
    dialect: 'postgres',
    db,
    // The start of the current statement: one instant however often a statement reads it.
    now: sql<number>`(extract(epoch from statement_timestamp()) * 1000)::bigint`,
    async transaction<T>(work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
      for (let attempt = 1; ; attempt += 1) {
        try {
          return await db.transaction().execute(work);
        } catch (error) {
          const code = (error as { code?: string }).code;
          if (attempt >= MAX_ATTEMPTS || code === undefined || !RETRYABLE.has(code)) throw error;
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * attempt));
        }
      }
    },
    close: () => db.destroy(),
  };
}

/** Kysely's migrator takes a lock in the database, so replicas starting at once migrate once. */
async function migrate(db: Kysely<Database>): Promise<void> {
  const migrator = new Migrator({ db, provider: migrationProvider('postgres') });
  const { error } = await migrator.migrateToLatest();
  if (error) throw error;
}
