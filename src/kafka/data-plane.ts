import { randomUUID } from 'node:crypto';

import type { Logger } from 'pino';

import type { ScramAdmin } from './admin-client.js';
import { builtinDesiredState } from './desired.js';
import { ExternalDesiredState } from './external-desired.js';
import { ClusterLease } from './lease.js';
import { DataPlaneMetrics } from './metrics.js';
import { ClusterReconciler, type ReconcilerSettings } from './reconciler.js';
import { registerKafkaClusters } from './registration.js';
import type { Config, KafkaClusterConfig } from '../config/config.js';
import { deriveKey } from '../crypto/envelope.js';
import { KeyService } from '../domain/keys.js';
import { SecretService } from '../domain/secrets.js';
import type { DataPlaneChange, DataPlaneHook } from '../domain/sync.js';
import { SecretSources } from '../sources/registry.js';
import type { Store } from '../store/store.js';

export type DataPlaneSettings = Pick<
  Config,
  | 'kafkaClusters'
  | 'kafkaReconcileIntervalSeconds'
  | 'kafkaScramIterations'
  | 'kafkaLeaseSeconds'
  | 'kafkaFullResyncSeconds'
>;

export interface DataPlaneOptions {
  store: Store;
  masterKey: Buffer;
  settings: DataPlaneSettings;
  logger: Logger;
  /** Where each account and region keeps its secrets; the built-in store if not given. */
  sources?: SecretSources;
  /** How to reach a cluster's brokers; tests may stand in their own. */
  adminFor?: (cluster: KafkaClusterConfig) => ScramAdmin;
}

/**
 * The Kafka data plane: registers the configured clusters, runs one reconciler per cluster,
 * and hears from the domain (as its DataPlaneHook) when something that decides who may log
 * in has changed. It reads secrets through a Secrets Manager and KMS of its own that tell
 * nobody of its reads, so that reconciling never nudges itself.
 */
export class KafkaDataPlane implements DataPlaneHook {
  readonly metrics: DataPlaneMetrics;
  private readonly reconcilers = new Map<string, ClusterReconciler>();
  /** Wakes the reconcilers of clusters whose secrets must be polled in an external source. */
  private readonly pollTimers: NodeJS.Timeout[] = [];
  /** Identifies this process in lease rows; a restarted process is a new holder. */
  private readonly holder = `${process.pid}-${randomUUID()}`;

  constructor(private readonly options: DataPlaneOptions) {
    this.metrics = new DataPlaneMetrics(options.store, () => [...this.reconcilers.keys()]);
  }

  async start(): Promise<void> {
    const { store, masterKey, settings, logger } = this.options;
    const registered = await registerKafkaClusters(store, settings.kafkaClusters, logger);
    const secrets = new SecretService(store, new KeyService(store, masterKey));
    const reconcilerSettings: ReconcilerSettings = {
      iterations: settings.kafkaScramIterations,
      intervalMs: settings.kafkaReconcileIntervalSeconds * 1000,
      fullResyncMs: settings.kafkaFullResyncSeconds * 1000,
      requestSize: 500,
      backoff: { firstMs: 250, mostMs: 15_000 },
    };
    const adminFor = this.options.adminFor ?? (await brokerAdmins(registered.size));
    for (const [clusterArn, cluster] of registered) {
      const source = this.options.sources?.externalFor(cluster);
      const reconciler = new ClusterReconciler(clusterArn, {
        store,
        desired: source
          ? new ExternalDesiredState(source, clusterArn, logger)
          : builtinDesiredState(secrets),
        admin: adminFor(cluster),
        lease: new ClusterLease(store, clusterArn, this.holder, settings.kafkaLeaseSeconds * 1000),
        metrics: this.metrics,
        logger,
        fingerprintKey: deriveKey(masterKey, 'kafka-credential-fingerprints'),
        settings: reconcilerSettings,
      });
      this.reconcilers.set(clusterArn, reconciler);
      reconciler.start();
      if (source) {
        // A pass runs only on the replica holding the lease, so one replica polls per cluster.
        const every = source.settings.pollIntervalSeconds * 1000;
        this.pollTimers.push(setInterval(() => reconciler.nudge(), every).unref());
      }
    }
  }

  /** Wakes the reconciler of the cluster that changed, or every one for a secret or key. */
  changed(change: DataPlaneChange): void {
    if (change.kind === 'associations' || change.kind === 'cluster') {
      this.reconcilers.get(change.clusterArn)?.nudge();
      return;
    }
    for (const reconciler of this.reconcilers.values()) reconciler.nudge();
  }

  clusterArns(): string[] {
    return [...this.reconcilers.keys()];
  }

  /** Stops every reconciler after its pass in flight, and gives back the leases. */
  async close(): Promise<void> {
    for (const timer of this.pollTimers.splice(0)) clearInterval(timer);
    await Promise.all([...this.reconcilers.values()].map((reconciler) => reconciler.stop()));
    this.reconcilers.clear();
  }
}

/**
 * Admin connections through the Kafka client, loaded only when a cluster is registered: the
 * client is the largest module the service could load, and most deployments have no brokers.
 */
async function brokerAdmins(
  clusterCount: number,
): Promise<(cluster: KafkaClusterConfig) => ScramAdmin> {
  if (clusterCount === 0) {
    return () => {
      throw new Error('No Kafka cluster is registered.');
    };
  }
  const { KafkaScramAdmin } = await import('./broker-admin.js');
  return (cluster) => new KafkaScramAdmin(cluster);
}
