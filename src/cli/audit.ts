import { parseArgs } from 'node:util';

import { loadConfig } from '../config/config.js';
import { AuditLog, type AuditFilter } from '../observability/audit.js';
import { openStore } from '../server.js';

export const AUDIT_HELP = `scram-secrets audit: print the audit log, one JSON object per line,
oldest first

Options:
  --principal NAME      only calls by this principal: its exact name, or its full ARN
  --cluster-arn ARN     only calls on this cluster
  --resource ARN        only calls on this resource (a secret, a key, a cluster)
  --since TIME          only calls at or after TIME (ISO 8601, e.g. 2026-12-04T10:00:00Z)
  --until TIME          only calls at or before TIME
  --limit N             at most N events (1000)

The data dir and database come from the same environment as 'serve'.
`;

/** Reads the audit log that `serve` writes, with filters. */
export async function audit(argv: string[], write: (line: string) => void): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      principal: { type: 'string' },
      'cluster-arn': { type: 'string' },
      resource: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      limit: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    write(AUDIT_HELP);
    return 0;
  }
  const filter: AuditFilter = {
    principal: values.principal,
    resource: values['cluster-arn'] ?? values.resource,
    since: values.since === undefined ? undefined : parseTime(values.since, '--since'),
    until: values.until === undefined ? undefined : parseTime(values.until, '--until'),
    limit: values.limit === undefined ? undefined : parseLimit(values.limit),
  };
  // A reader that has seen enough (`| head`) closes the pipe: that ends the listing, quietly.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(0);
  });
  const config = loadConfig();
  const store = await openStore(config, { existingOnly: true });
  try {
    for (const event of await new AuditLog(store).query(filter)) {
      write(`${JSON.stringify({ ...event, time: new Date(event.time).toISOString() })}\n`);
    }
  } finally {
    await store.close();
  }
  return 0;
}

function parseTime(text: string, option: string): number {
  const time = Date.parse(text);
  if (Number.isNaN(time))
    throw new Error(`${option} must be a time in ISO 8601, e.g. 2026-12-04T10:00:00Z`);
  return time;
}

function parseLimit(text: string): number {
  const limit = Number(text);
  if (!Number.isInteger(limit) || limit < 1)
    throw new Error('--limit must be a whole number of 1 or more');
  return limit;
}
