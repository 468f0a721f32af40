import { parseArgs } from 'node:util';

import { loadConfig } from '../config/config.js';
import { readClusterStatus } from '../kafka/status.js';
import { openStore } from '../server.js';

export const STATUS_HELP = `scram-secrets status: a cluster's Kafka sync status, as JSON

Options:
  --cluster-arn ARN     the cluster (required)

Each association is PENDING (not yet on the brokers), ACTIVE (its user can log in with the
secret's current password) or FAILED (with the reason and what to do). The data dir and
database come from the same environment as 'serve'.
`;

/** Prints what the reconciler last recorded for a cluster, from the store. */
export async function status(argv: string[], write: (text: string) => void): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { 'cluster-arn': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    write(STATUS_HELP);
    return 0;
  }
  const clusterArn = values['cluster-arn'];
  if (!clusterArn) throw new Error('status needs --cluster-arn ARN');
  const store = await openStore(loadConfig(), { existingOnly: true });
  try {
    const found = await readClusterStatus(store.db, clusterArn);
    if (!found) throw new Error(`no cluster ${clusterArn} in this service's database`);
    write(`${JSON.stringify(found, null, 2)}\n`);
  } finally {
    await store.close();
  }
  return 0;
}
