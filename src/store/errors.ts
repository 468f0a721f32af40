/**
 * What the drivers say when the pool or the database file was closed under a query, or when
 * no connection to the database could be made in time.
 */
const CLOSED_CONNECTION =
  /driver has already been destroyed|Connection terminated|database connection is not open|timeout exceeded when trying to connect/i;

/**
 * Whether an error means the database cannot be reached or used right now (busy, locked,
 * disk or connection trouble), as opposed to a bug: such a request is answered 503, and its
 * transaction has been rolled back, so nothing is half-written.
 */
export function isStoreUnavailable(error: unknown): boolean {
  const code = String((error as { code?: unknown } | undefined)?.code ?? '');
  if (/^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|READONLY|PROTOCOL)/.test(code)) return true;
  // Failures to reach the database server; a reset alone could be an HTTP client's socket.
  if (['ECONNREFUSED', 'ETIMEDOUT', 'ENOTFOUND'].includes(code)) return true;
  // PostgreSQL: connection exceptions (08…), shutdown and cannot-connect (57P0…), too many
  // connections (53300), a lock not granted within lock_timeout (55P03).
  if (/^(08...|57P0[1-3]|53300|55P03)$/.test(code)) return true;
  const message = String((error as { message?: unknown } | undefined)?.message ?? '');
  return CLOSED_CONNECTION.test(message);
}

/**
 * Whether a write lost a race to a concurrent one on a unique constraint: the check before
 * it saw nothing, but another transaction committed the same key first.
 */
export function isUniqueViolation(error: unknown): boolean {
  const code = String((error as { code?: unknown } | undefined)?.code ?? '');
  return (
    code === '23505' ||
    code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
  );
}
