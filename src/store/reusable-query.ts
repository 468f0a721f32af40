import { createQueryId, type Compilable, type CompiledQuery, type Kysely } from 'kysely';

import type { Database } from './schema.js';
import type { Executor } from './store.js';

/** Stands in for a value that is given only when the query runs. */
class Slot {
  constructor(readonly name: string) {}
}

/** Names a value of a `ReusableQuery`; the type is the one the query builder expects there. */
export type SlotFor<Name extends string> = <T>(name: Name) => T;

/**
 * A query built and compiled by Kysely once, then run many times with new values. The
 * busiest reads are run far more often than anything else, and building and compiling them
 * again on every call was a measurable part of their cost. The SQL is compiled by the
 * store's own dialect, so one definition serves SQLite and PostgreSQL alike, and every value
 * still travels as a bound parameter, never inside the SQL text.
 */
export class ReusableQuery<Row, Name extends string> {
  private readonly compiled: CompiledQuery<Row>;

  constructor(
    db: Kysely<Database>,
    build: (db: Kysely<Database>, slot: SlotFor<Name>) => Compilable<Row>,
  ) {
    this.compiled = build(db, (name) => new Slot(name) as never).compile();
  }

  /** Runs the query on `executor` (the store or a transaction) with these values. */
  async execute(executor: Executor, values: Record<Name, unknown>): Promise<Row[]> {
    const parameters = this.compiled.parameters.map((parameter) =>
      parameter instanceof Slot ? values[parameter.name as Name] : parameter,
    );
    const result = await executor.executeQuery<Row>({
      ...this.compiled,
      parameters,
      queryId: createQueryId(),
    });
    return result.rows;
  }
}
