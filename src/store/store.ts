import type { Kysely, RawBuilder, Transaction } from 'kysely';

import type { Database } from './schema.js';

export type StoreDialect = 'sqlite' | 'postgres';

export type Executor = Kysely<Database> | Transaction<Database>;

/**
 * The one interface every store implements. Queries are written once, with Kysely, against
 * `db`; a change that touches more than one row runs inside `transaction`, which commits all
 * of it or none of it.
 */
export interface Store {
  readonly dialect: StoreDialect;
  readonly db: Kysely<Database>;
  /**
   * The database server's time, in epoch milliseconds, as an SQL expression: one clock for
   * every replica, where each process's own may be off by any amount.
   */
  readonly now: RawBuilder<number>;
  transaction<T>(work: (trx: Transaction<Database>) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
