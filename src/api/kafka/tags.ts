import { z } from 'zod';

import type { RestCall, RestOperation, Services } from '../types.js';
import { parseRestInput } from '../validation.js';
import { badRequest } from '../../domain/errors.js';

const PATH = '/v1/tags/:resourceArn';

export const listTagsForResource: RestOperation = {
  name: 'ListTagsForResource',
  method: 'GET',
  path: PATH,
  async handle(services: Services, call: RestCall) {
    const cluster = await services.clusters.findCluster(call.context, call.params.resourceArn!);
    return { body: { tags: cluster.tags } };
  },
};

const tagBody = z.object({ tags: z.record(z.string().min(1).max(128), z.string().max(256)) });

export const tagResource: RestOperation = {
  name: 'TagResource',
  method: 'POST',
  path: PATH,
  async handle(services: Services, call: RestCall) {
    const { tags } = parseRestInput(tagBody, call.body ?? {});
    await services.clusters.updateTags(call.context, call.params.resourceArn!, (current) => ({
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
    await services.clusters.updateTags(call.context, call.params.resourceArn!, (current) =>
      Object.fromEntries(Object.entries(current).filter(([key]) => !tagKeys.includes(key))),
    );
    return { statusCode: 204 };
  },
};
