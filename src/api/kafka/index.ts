import type { RestOperation } from '../types.js';
import * as clusters from './clusters.js';
import * as scramSecrets from './scram-secrets.js';
import * as tags from './tags.js';

/** Every MSK operation this service answers. */
export const kafkaOperations: RestOperation[] = [
  scramSecrets.listScramSecrets,
  scramSecrets.batchAssociateScramSecret,
  scramSecrets.batchDisassociateScramSecret,
  clusters.createCluster,
  clusters.createClusterV2,
  clusters.describeCluster,
  clusters.describeClusterV2,
  clusters.listClusters,
  clusters.listClustersV2,
  clusters.deleteCluster,
  clusters.getBootstrapBrokers,
  clusters.updateSecurity,
  clusters.describeClusterOperation,
  tags.listTagsForResource,
  tags.tagResource,
  tags.untagResource,
];
