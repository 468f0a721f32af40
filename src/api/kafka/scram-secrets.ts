import type { RestCall, RestOperation, Services } from '../types.js';
import { badRequest } from '../../domain/errors.js';
import { MAX_SECRETS_PER_BATCH } from '../../domain/scram-secrets.js';

const PATH = '/v1/clusters/:clusterArn/scram-secrets';

export const listScramSecrets: RestOperation = {
  name: 'ListScramSecrets',
  method: 'GET',
  path: PATH,
  async handle(services: Services, call: RestCall) {
    const maxResults = readMaxResults(call.query.maxResults);
    const nextToken = readNextToken(call.query.nextToken);
    const clusterArn = call.params.clusterArn!;
    const page = await services.scramSecrets.list(call.context, clusterArn, maxResults, nextToken);
    return { body: page };
  },
};

export const batchAssociateScramSecret: RestOperation = {
  name: 'BatchAssociateScramSecret',
  method: 'POST',
  path: PATH,
  async handle(services: Services, call: RestCall) {
    const secretArnList = readSecretArnList(call.body);
    const clusterArn = call.params.clusterArn!;
    return { body: await services.scramSecrets.associate(call.context, clusterArn, secretArnList) };
  },
};

export const batchDisassociateScramSecret: RestOperation = {
  name: 'BatchDisassociateScramSecret',
  method: 'PATCH',
  path: PATH,
  async handle(services: Services, call: RestCall) {
    const secretArnList = readSecretArnList(call.body);
    const clusterArn = call.params.clusterArn!;
    return {
      body: await services.scramSecrets.disassociate(call.context, clusterArn, secretArnList),
    };
  },
};

export function readMaxResults(value: string | string[] | undefined, max = 100): number {
  if (value === undefined) return max;
  const whole = typeof value === 'string' && /^\d{1,4}$/.test(value);
  if (!whole || Number(value) < 1 || Number(value) > max) {
    throw badRequest(`maxResults must be a whole number from 1 to ${max}.`, 'maxResults');
  }
  return Number(value);
}

export function readNextToken(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') {
    throw badRequest(
      'nextToken must be the nextToken of a previous response, unchanged.',
      'nextToken',
    );
  }
  return value;
}

function readSecretArnList(body: unknown): string[] {
  const list = (body as { secretArnList?: unknown } | undefined)?.secretArnList;
  const valid =
    Array.isArray(list) &&
    list.length >= 1 &&
    list.length <= MAX_SECRETS_PER_BATCH &&
    list.every((arn) => typeof arn === 'string' && arn !== '');
  if (!valid) {
    throw badRequest(
      `secretArnList must be a list of 1 to ${MAX_SECRETS_PER_BATCH} secret ARNs (non-empty ` +
        'strings) in a JSON body: {"secretArnList": ["arn:aws:secretsmanager:..."]}.',
      'secretArnList',
    );
  }
  return list as string[];
}
