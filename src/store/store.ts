import type { Kysely, Transaction } from 'kysely';

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
  transaction<T>(work: (trx: Transaction<Database>) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
