import { randomBytes, randomUUID } from 'node:crypto';

/** Where a resource lives: every resource belongs to exactly one account and region. */
export interface Scope {
  accountId: string;
  region: string;
}

/**
 * An AWS region name (`us-east-1`, `eu-central-2`, `us-gov-west-1`). Every ARN the service
 * makes carries the caller's region, so a request signed for any other name is refused at
 * authentication rather than leaving resources that no later call could name.
 */
export const REGION_NAME = /^[a-z]{2}(-[a-z]+)+-\d$/;

export function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}

export interface ParsedArn {
  partition: string;
  service: string;
  region: string;
  accountId: string;
  resource: string;
}

const ARN_PATTERN = /^arn:(aws|aws-cn|aws-us-gov):([a-z0-9-]+):([a-z0-9-]*):(\d{12}|):(.+)$/;

export function parseArn(text: string): ParsedArn | undefined {
  const match = ARN_PATTERN.exec(text);
  if (!match) return undefined;
  const [, partition, service, region, accountId, resource] = match;
  return {
    partition: partition!,
    service: service!,
    region: region!,
    accountId: accountId!,
    resource: resource!,
  };
}

const CLUSTER_RESOURCE =
  /^cluster\/[A-Za-z0-9-]{1,64}\/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}(-\d+)?$/;

export function isClusterArn(text: string): boolean {
  const arn = parseArn(text);
  return (
    arn !== undefined &&
    arn.service === 'kafka' &&
    REGION_NAME.test(arn.region) &&
    arn.accountId !== '' &&
    CLUSTER_RESOURCE.test(arn.resource)
  );
}

export function clusterArn(scope: Scope, clusterName: string): string {
  const suffix = `${randomUUID()}-${1 + (randomBytes(1)[0]! % 25)}`;
  return `${prefix('kafka', scope)}:cluster/${clusterName}/${suffix}`;
}

/** An operation on a cluster, named as MSK names it: after the cluster's name and id. */
export function clusterOperationArn(clusterArn: string): string {
  const [prefix, resource] = clusterArn.split(':cluster/', 2);
  return `${prefix}:cluster-operation/${resource}/${randomUUID()}`;
}

const SUFFIX_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** Secrets Manager ends every secret ARN in a dash and six random characters. */
export function secretArn(scope: Scope, name: string): string {
  const bytes = randomBytes(6);
  let suffix = '';
  for (const byte of bytes) suffix += SUFFIX_ALPHABET[byte % SUFFIX_ALPHABET.length];
  return `${prefix('secretsmanager', scope)}:secret:${name}-${suffix}`;
}

export function kmsKeyArn(scope: Scope, keyId: string): string {
  return `${prefix('kms', scope)}:key/${keyId}`;
}

export function kmsAliasArn(scope: Scope, aliasName: string): string {
  return `${prefix('kms', scope)}:${aliasName}`;
}

function prefix(service: string, scope: Scope): string {
  return `arn:${partitionOf(scope.region)}:${service}:${scope.region}:${scope.accountId}`;
}
