import { sql, type Expression, type SqlBool } from 'kysely';

import type { Store } from '../store/store.js';

export interface AuditEvent {
  time: number;
  requestId: string;
  accountId: string;
  /** The caller's ARN. */
  principal: string;
  /** The IAM action name, e.g. `kafka:BatchAssociateScramSecret`. */
  action: string;
  resource: string;
  /** `success`, or the AWS error type the caller was answered with. */
  outcome: string;
}

export interface AuditFilter {
  /** A principal's ARN, or its name: the part after `:user/`. Either must match exactly. */
  principal?: string;
  resource?: string;
  since?: number;
  until?: number;
  limit?: number;
}

/**
 * The audit log: one durable row per mutating call, written before the caller is answered.
 * It names who did what to which resource and how it ended, never a secret value.
 */
export class AuditLog {
  constructor(private readonly store: Store) {}

  async record(event: AuditEvent): Promise<void> {
    await this.store.db
      .insertInto('audit_events')
      .values({
        time: event.time,
        request_id: event.requestId,
        account_id: event.accountId,
        principal: event.principal,
        action: event.action,
        resource: event.resource,
        outcome: event.outcome,
      })
      .execute();
  }

  async query(filter: AuditFilter): Promise<AuditEvent[]> {
    let query = this.store.db
      .selectFrom('audit_events')
      .selectAll()
      .orderBy('id')
      .limit(filter.limit ?? 1000);
    if (filter.principal) query = query.where(principalIs(filter.principal));
    if (filter.resource) query = query.where('resource', '=', filter.resource);
    if (filter.since !== undefined) query = query.where('time', '>=', filter.since);
    if (filter.until !== undefined) query = query.where('time', '<=', filter.until);
    const rows = await query.execute();
    return rows.map((row) => ({
      time: Number(row.time),
      requestId: row.request_id,
      accountId: row.account_id,
      principal: row.principal,
      action: row.action,
      resource: row.resource,
      outcome: row.outcome,
    }));
  }
}

/**
 * Equality only, never LIKE: a pattern would let `alice` match `user/malice`, and LIKE is
 * case-insensitive on SQLite but not on PostgreSQL. `substr` and `length` count characters
 * alike on both, so a name matches the tail of the ARN after `:user/` on either store.
 */
function principalIs(principal: string): Expression<SqlBool> {
  if (principal.startsWith('arn:')) return sql<SqlBool>`principal = ${principal}`;
  const tail = `:user/${principal}`;
  const length = [...tail].length;
  return sql<SqlBool>`substr(principal, length(principal) - ${length} + 1) = ${tail}`;
}
