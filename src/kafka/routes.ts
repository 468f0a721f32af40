import type { FastifyInstance, FastifyRequest } from 'fastify';

import type { KafkaDataPlane } from './data-plane.js';
import { readClusterStatus } from './status.js';
import type { Gate } from '../auth/gate.js';
import type { ClusterService } from '../domain/clusters.js';
import type { Store } from '../store/store.js';

/** Outside MSK's paths, so that nothing here can be mistaken for an MSK operation. */
export const STATUS_PATH = '/_scram-secrets/clusters/:clusterArn/status';

/**
 * The data plane's own HTTP endpoints: the status of a cluster's associations (SigV4-signed
 * like every MSK call, and allowed to whoever may ListScramSecrets on the cluster, since it
 * shows the same secrets) and Prometheus metrics, unsigned like /health so that a scraper
 * needs no AWS credentials; they carry no secret.
 */
export function registerDataPlaneRoutes(
  app: FastifyInstance,
  parts: { gate: Gate; clusters: ClusterService; store: Store; dataPlane: KafkaDataPlane },
): void {
  app.get(STATUS_PATH, async (request, reply) => {
    const context = await parts.gate.admit(received(request), 'rest-json', 'kafka');
    parts.gate.throttle(context, 'rest-json', 'read');
    const clusterArn = (request.params as { clusterArn: string }).clusterArn;
    parts.gate.authorize(context, 'rest-json', 'kafka:ListScramSecrets', clusterArn);
    const cluster = await parts.clusters.findCluster(context, clusterArn);
    const status = await readClusterStatus(parts.store.db, cluster.arn);
    return reply.type('application/json').send(JSON.stringify(status));
  });

  app.get('/metrics', async (_request, reply) => {
    const registry = parts.dataPlane.metrics.registry;
    return reply.type(registry.contentType).send(await registry.metrics());
  });
}

function received(request: FastifyRequest) {
  return {
    id: request.id,
    method: request.method,
    url: request.url,
    headers: request.headers,
    query: request.query as Record<string, unknown>,
    body: Buffer.isBuffer(request.body) ? request.body : undefined,
  };
}
