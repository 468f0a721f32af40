import type { Services } from '../api/types.js';
import { kmsAliasArn, partitionOf } from '../domain/arn.js';
import type { RequestContext } from '../domain/context.js';

/**
 * The ARN a Secrets Manager or KMS call acts on, for policy checks and the audit log: the
 * secret or key the input names, resolved to its full ARN where it exists, else '*' for
 * calls on no particular resource.
 */
export async function resourceOfJsonCall(
  services: Services,
  context: RequestContext,
  signingName: string,
  operationName: string,
  input: Record<string, unknown>,
): Promise<string> {
  const { region, accountId } = context;
  const prefix = `arn:${partitionOf(region)}:${signingName}:${region}:${accountId}`;
  if (signingName === 'secretsmanager') {
    if (typeof input.SecretId === 'string') {
      const secret = await services.secrets
        .findSecret(context, input.SecretId, { allowDeleted: true })
        .catch(() => undefined);
      if (secret) return secret.arn;
      return input.SecretId.startsWith('arn:')
        ? input.SecretId
        : `${prefix}:secret:${input.SecretId}`;
    }
    if (operationName === 'CreateSecret' && typeof input.Name === 'string') {
      return `${prefix}:secret:${input.Name}`;
    }
    return '*';
  }
  const keyReference = typeof input.KeyId === 'string' ? input.KeyId : input.TargetKeyId;
  if (typeof keyReference !== 'string') {
    // DeleteAlias names only the alias.
    return typeof input.AliasName === 'string' ? kmsAliasArn(context, input.AliasName) : '*';
  }
  const key = await services.keys.findKey(context, keyReference).catch(() => undefined);
  return key?.arn ?? keyReference;
}
