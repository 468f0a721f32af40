/**
 * What changed, told to whatever keeps Kafka's brokers in step with the store. The domain
 * only says that something changed, after the change is committed; it never waits for the
 * brokers, so a request's answer never depends on Kafka.
 */
export type DataPlaneChange =
  | { kind: 'associations'; clusterArn: string }
  | { kind: 'cluster'; clusterArn: string }
  | { kind: 'secret'; secretArn: string }
  | { kind: 'key'; keyId: string };

export interface DataPlaneHook {
  changed(change: DataPlaneChange): void;
}

/** For services that run without a data plane (clusters without brokers, tools, tests). */
export const noDataPlane: DataPlaneHook = { changed: () => undefined };
