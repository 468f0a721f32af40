import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

import type { Store } from '../store/store.js';

/**
 * The data plane's Prometheus metrics, in a registry of their own so that several services in
 * one process (as in tests) never share counters. Time since the last successful sync is read
 * from the store when scraped, so every replica reports it, not only the one holding a lease.
 */
export class DataPlaneMetrics {
  readonly registry = new Registry();
  readonly usersProvisioned: Gauge<'cluster_arn'>;
  readonly provisionings: Counter<'cluster_arn' | 'cause'>;
  readonly removals: Counter<'cluster_arn'>;
  readonly reconcileRuns: Counter<'cluster_arn' | 'outcome'>;
  readonly reconcileDuration: Histogram<'cluster_arn'>;
  readonly failures: Counter<'cluster_arn' | 'kind'>;

  constructor(store: Store, clusterArns: () => string[]) {
    collectDefaultMetrics({ register: this.registry, prefix: 'scram_secrets_' });
    this.usersProvisioned = new Gauge({
      name: 'scram_secrets_kafka_users_provisioned',
      help: 'SCRAM users this service keeps on the cluster, as of its last successful sync',
      labelNames: ['cluster_arn'],
      registers: [this.registry],
    });
    this.provisionings = new Counter({
      name: 'scram_secrets_kafka_user_writes_total',
      help: 'SCRAM credentials written to the brokers, by why (new, rotated, restored, ...)',
      labelNames: ['cluster_arn', 'cause'],
      registers: [this.registry],
    });
    this.removals = new Counter({
      name: 'scram_secrets_kafka_user_removals_total',
      help: 'SCRAM users removed from the brokers because access ended',
      labelNames: ['cluster_arn'],
      registers: [this.registry],
    });
    this.reconcileRuns = new Counter({
      name: 'scram_secrets_kafka_reconcile_runs_total',
      help: 'Reconcile passes, by outcome (success, failure)',
      labelNames: ['cluster_arn', 'outcome'],
      registers: [this.registry],
    });
    this.reconcileDuration = new Histogram({
      name: 'scram_secrets_kafka_reconcile_duration_seconds',
      help: 'How long one reconcile pass took',
      labelNames: ['cluster_arn'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [this.registry],
    });
    this.failures = new Counter({
      name: 'scram_secrets_kafka_reconcile_failures_total',
      help: 'Failures: brokers unreachable (brokers) or a user the brokers refused (user)',
      labelNames: ['cluster_arn', 'kind'],
      registers: [this.registry],
    });
    new Gauge({
      name: 'scram_secrets_kafka_seconds_since_last_sync',
      help: 'Seconds since the last successful reconcile pass (+Inf before the first)',
      labelNames: ['cluster_arn'],
      registers: [this.registry],
      async collect() {
        const arns = clusterArns();
        if (arns.length === 0) return;
        const rows = await store.db
          .selectFrom('kafka_cluster_sync')
          .select(['cluster_arn', 'last_success_at'])
          .where('cluster_arn', 'in', arns)
          .execute();
        const lastSuccess = new Map(rows.map((row) => [row.cluster_arn, row.last_success_at]));
        const now = Date.now();
        for (const arn of arns) {
          const at = lastSuccess.get(arn);
          this.set({ cluster_arn: arn }, at == null ? Infinity : (now - Number(at)) / 1000);
        }
      },
    });
  }
}
