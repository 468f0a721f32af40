import { z } from 'zod';

import type { RestCall, RestOperation, Services } from '../types.js';
import { parseRestInput, tagMap } from '../validation.js';
import { requireClusterArn } from '../../domain/clusters.js';
import { badRequest } from '../../domain/errors.js';

const PATH = '/v1/tags/:resourceArn';

/** Only clusters carry tags here; a malformed ARN is 400 on the parameter the caller sent. */
function resourceArnOf(call: RestCall): string {
  const arn = call.params.resourceArn!;
  requireClusterArn(arn, 'resourceArn');
  return arn;
}

export const listTagsForResource: RestOperation = {
  name: 'ListTagsForResource',
  method: 'GET',
  path: PATH,
  async handle(services: Services, call: RestCall) {
    const cluster = await services.clusters.findCluster(call.context, resourceArnOf(call));
    return { body: { tags: cluster.tags } };
  },
};

const tagBody = z.object({ tags: tagMap });

export const tagResource: RestOperation = {
  name: 'TagResource',
  method: 'POST',
  path: PATH,
  async handle(services: Services, call: RestCall) {
    const { tags } = parseRestInput(tagBody, call.body ?? {});
    await services.clusters.updateTags(call.context, resourceArnOf(call), (current) => ({
      ...current,
      ...tags,
    }));
    return { statusCode: 204 };
  },
};

export const untagResource: RestOperation = {
  name: 'UntagResource',
  method: 'DELETE',
  path: PATH,
  async handle(services: Services, call: RestCall) {
    const raw = call.query.tagKeys;
    const tagKeys = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
    if (tagKeys.length === 0) {
      throw badRequest('tagKeys must name at least one tag key.', 'tagKeys');
    }
    await services.clusters.updateTags(call.context, resourceArnOf(call), (current) =>
      Object.fromEntries(Object.entries(current).filter(([key]) => !tagKeys.includes(key))),
    );
    return { statusCode: 204 };
  },
};
