import { z } from 'zod';

import type { RestCall, RestOperation, Services } from '../types.js';
import { parseRestInput, tagMap } from '../validation.js';
import { readMaxResults, readNextToken } from './scram-secrets.js';
import type { Cluster, ClusterDefinition } from '../../domain/clusters.js';
import { badRequest } from '../../domain/errors.js';

const record = z.record(z.string(), z.unknown());
const tags = tagMap.optional();
const clientAuthentication = z
  .object({
    sasl: z
      .object({
        scram: z.object({ enabled: z.boolean().optional() }).optional(),
        iam: z.object({ enabled: z.boolean().optional() }).optional(),
      })
      .optional(),
    tls: record.optional(),
    unauthenticated: z.object({ enabled: z.boolean().optional() }).optional(),
  })
  .optional();

const provisionedFields = {
  kafkaVersion: z.string().min(1).max(128),
  numberOfBrokerNodes: z.number().int().min(1).max(15),
  brokerNodeGroupInfo: z
    .object({
      clientSubnets: z.array(z.string()),
      instanceType: z.string().min(5).max(32),
    })
    .passthrough(),
  clientAuthentication,
  encryptionInfo: record.optional(),
  enhancedMonitoring: z.string().optional(),
  openMonitoring: record.optional(),
  loggingInfo: record.optional(),
  configurationInfo: record.optional(),
  storageMode: z.string().optional(),
};

const createClusterBody = z.object({
  clusterName: z.string().min(1).max(64),
  tags,
  ...provisionedFields,
});
const createClusterV2Body = z.object({
  clusterName: z.string().min(1).max(64),
  tags,
  provisioned: z.object(provisionedFields).passthrough().optional(),
  serverless: record.optional(),
});

export const createCluster: RestOperation = {
  name: 'CreateCluster',
  method: 'POST',
  path: '/v1/clusters',
  async handle(services: Services, call: RestCall) {
    const {
      clusterName,
      tags: clusterTags,
      ...definition
    } = parseRestInput(createClusterBody, call.body ?? {});
    const cluster = await services.clusters.createCluster(
      call.context,
      clusterName,
      definition as ClusterDefinition,
      clusterTags ?? {},
    );
    return { body: { clusterArn: cluster.arn, clusterName: cluster.name, state: cluster.state } };
  },
};

export const createClusterV2: RestOperation = {
  name: 'CreateClusterV2',
  method: 'POST',
  path: '/api/v2/clusters',
  async handle(services: Services, call: RestCall) {
    const input = parseRestInput(createClusterV2Body, call.body ?? {});
    if (!input.provisioned || input.serverless) {
      throw badRequest(
        'Only provisioned clusters are supported: pass "provisioned" and not "serverless".',
        input.serverless ? 'serverless' : 'provisioned',
      );
    }
    const cluster = await services.clusters.createCluster(
      call.context,
      input.clusterName,
      input.provisioned as ClusterDefinition,
      input.tags ?? {},
    );
    return {
      body: {
        clusterArn: cluster.arn,
        clusterName: cluster.name,
        state: cluster.state,
        clusterType: 'PROVISIONED',
      },
    };
  },
};

export const describeCluster: RestOperation = {
  name: 'DescribeCluster',
  method: 'GET',
  path: '/v1/clusters/:clusterArn',
  async handle(services: Services, call: RestCall) {
    const cluster = await services.clusters.findCluster(call.context, call.params.clusterArn!);
    return { body: { clusterInfo: clusterInfo(cluster) } };
  },
};

export const describeClusterV2: RestOperation = {
  name: 'DescribeClusterV2',
  method: 'GET',
  path: '/api/v2/clusters/:clusterArn',
  async handle(services: Services, call: RestCall) {
    const cluster = await services.clusters.findCluster(call.context, call.params.clusterArn!);
    return { body: { clusterInfo: clusterV2(cluster) } };
  },
};

export const listClusters: RestOperation = {
  name: 'ListClusters',
  method: 'GET',
  path: '/v1/clusters',
  async handle(services: Services, call: RestCall) {
    const page = await listPage(services, call);
    return { body: { clusterInfoList: page.clusters.map(clusterInfo), nextToken: page.nextToken } };
  },
};

export const listClustersV2: RestOperation = {
  name: 'ListClustersV2',
  method: 'GET',
  path: '/api/v2/clusters',
  async handle(services: Services, call: RestCall) {
    const typeFilter = call.query.clusterTypeFilter;
    if (typeFilter !== undefined && typeFilter !== 'PROVISIONED' && typeFilter !== 'SERVERLESS') {
      throw badRequest('clusterTypeFilter must be PROVISIONED or SERVERLESS.', 'clusterTypeFilter');
    }
    const page = typeFilter === 'SERVERLESS' ? { clusters: [] } : await listPage(services, call);
    return { body: { clusterInfoList: page.clusters.map(clusterV2), nextToken: page.nextToken } };
  },
};

export const deleteCluster: RestOperation = {
  name: 'DeleteCluster',
  method: 'DELETE',
  path: '/v1/clusters/:clusterArn',
  async handle(services: Services, call: RestCall) {
    const currentVersion = call.query.currentVersion;
    if (currentVersion !== undefined && typeof currentVersion !== 'string') {
      throw badRequest('currentVersion must be given once.', 'currentVersion');
    }
    const cluster = await services.clusters.deleteCluster(
      call.context,
      call.params.clusterArn!,
      currentVersion,
    );
    return { body: { clusterArn: cluster.arn, state: 'DELETING' } };
  },
};

export const getBootstrapBrokers: RestOperation = {
  name: 'GetBootstrapBrokers',
  method: 'GET',
  path: '/v1/clusters/:clusterArn/bootstrap-brokers',
  async handle(services: Services, call: RestCall) {
    const cluster = await services.clusters.findCluster(call.context, call.params.clusterArn!);
    return { body: bootstrapBrokers(cluster) };
  },
};

const updateSecurityBody = z.object({
  currentVersion: z.string().min(1),
  clientAuthentication,
  encryptionInfo: record.optional(),
});

export const updateSecurity: RestOperation = {
  name: 'UpdateSecurity',
  method: 'PATCH',
  path: '/v1/clusters/:clusterArn/security',
  async handle(services: Services, call: RestCall) {
    const input = parseRestInput(updateSecurityBody, call.body ?? {});
    const { cluster, operationArn } = await services.clusters.updateSecurity(
      call.context,
      call.params.clusterArn!,
      input,
    );
    return { body: { clusterArn: cluster.arn, clusterOperationArn: operationArn } };
  },
};

/** GET /v1/operations/{clusterOperationArn}: the operations UpdateSecurity starts. */
export const describeClusterOperation: RestOperation = {
  name: 'DescribeClusterOperation',
  method: 'GET',
  path: '/v1/operations/:clusterOperationArn',
  async handle(services: Services, call: RestCall) {
    const operation = await services.clusters.findOperation(
      call.context,
      call.params.clusterOperationArn!,
    );
    return {
      body: {
        clusterOperationInfo: {
          clusterArn: operation.clusterArn,
          operationArn: operation.operationArn,
          operationType: operation.operationType,
          operationState: operation.state,
          creationTime: new Date(operation.creationTime).toISOString(),
          endTime:
            operation.endTime === undefined ? undefined : new Date(operation.endTime).toISOString(),
          sourceClusterInfo: operation.sourceClusterInfo,
          targetClusterInfo: operation.targetClusterInfo,
        },
      },
    };
  },
};

async function listPage(
  services: Services,
  call: RestCall,
): Promise<{ clusters: Cluster[]; nextToken?: string }> {
  const limit = readMaxResults(call.query.maxResults);
  const token = readNextToken(call.query.nextToken);
  const nameFilter =
    typeof call.query.clusterNameFilter === 'string' ? call.query.clusterNameFilter : undefined;
  const listing = `clusters:${call.context.accountId}:${call.context.region}:${nameFilter ?? ''}`;
  const afterArn =
    token === undefined ? undefined : services.tokens.read(listing, token, 'nextToken');
  const clusters = await services.clusters.listClusters(call.context, {
    nameFilter,
    afterArn,
    limit: limit + 1,
  });
  if (clusters.length <= limit) return { clusters };
  const page = clusters.slice(0, limit);
  return { clusters: page, nextToken: services.tokens.issue(listing, page[page.length - 1]!.arn) };
}

function clusterInfo(cluster: Cluster): Record<string, unknown> {
  const definition = cluster.definition;
  return {
    clusterArn: cluster.arn,
    clusterName: cluster.name,
    creationTime: new Date(cluster.creationTime).toISOString(),
    currentVersion: cluster.currentVersion,
    state: cluster.state,
    brokerNodeGroupInfo: definition.brokerNodeGroupInfo,
    clientAuthentication: definition.clientAuthentication,
    currentBrokerSoftwareInfo: { kafkaVersion: definition.kafkaVersion },
    encryptionInfo: definition.encryptionInfo,
    enhancedMonitoring: definition.enhancedMonitoring ?? 'DEFAULT',
    openMonitoring: definition.openMonitoring,
    loggingInfo: definition.loggingInfo,
    numberOfBrokerNodes: definition.numberOfBrokerNodes,
    storageMode: definition.storageMode ?? 'LOCAL',
    tags: cluster.tags,
  };
}

function clusterV2(cluster: Cluster): Record<string, unknown> {
  const {
    brokerNodeGroupInfo,
    clientAuthentication: auth,
    currentBrokerSoftwareInfo,
    encryptionInfo,
    enhancedMonitoring,
    openMonitoring,
    loggingInfo,
    numberOfBrokerNodes,
    storageMode,
  } = clusterInfo(cluster);
  return {
    clusterArn: cluster.arn,
    clusterName: cluster.name,
    clusterType: 'PROVISIONED',
    creationTime: new Date(cluster.creationTime).toISOString(),
    currentVersion: cluster.currentVersion,
    state: cluster.state,
    tags: cluster.tags,
    provisioned: {
      brokerNodeGroupInfo,
      clientAuthentication: auth,
      currentBrokerSoftwareInfo,
      encryptionInfo,
      enhancedMonitoring,
      openMonitoring,
      loggingInfo,
      numberOfBrokerNodes,
      storageMode,
    },
  };
}

/**
 * A registered Kafka cluster answers with its real bootstrap servers. A cluster without real
 * brokers gets broker names in MSK's format, so that tools which read them find what they
 * expect; nothing listens there.
 */
function bootstrapBrokers(cluster: Cluster): Record<string, string> {
  const registered = cluster.definition.selfManagedBrokers;
  if (registered) return { bootstrapBrokerStringSaslScram: registered.bootstrapServers };
  const id = cluster.arn.split('/')[2]!.slice(0, 6);
  const domain = `${cluster.name.toLowerCase()}.${id}.c1.kafka.${cluster.region}.amazonaws.com`;
  const hosts = (port: number): string =>
    Array.from(
      { length: Math.min(cluster.definition.numberOfBrokerNodes, 3) },
      (_, index) => `b-${index + 1}.${domain}:${port}`,
    ).join(',');
  const brokers: Record<string, string> = {};
  const auth = cluster.definition.clientAuthentication;
  if (auth?.unauthenticated?.enabled || !auth) brokers.bootstrapBrokerString = hosts(9092);
  if (auth?.tls) brokers.bootstrapBrokerStringTls = hosts(9094);
  if (cluster.scramEnabled) brokers.bootstrapBrokerStringSaslScram = hosts(9096);
  if (auth?.sasl?.iam?.enabled) brokers.bootstrapBrokerStringSaslIam = hosts(9098);
  return brokers;
}
