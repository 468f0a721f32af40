import { createHash } from 'node:crypto';

import type { RequestContext } from '../../domain/context.js';

/** STS's namespace, in which every answer and error of its query protocol is written. */
export const STS_XML_NAMESPACE = 'https://sts.amazonaws.com/doc/2011-06-15/';

export interface CallerIdentity {
  Arn: string;
  UserId: string;
  Account: string;
}

/**
 * STS GetCallerIdentity: who signed the request. AWS needs no permission for it, and neither
 * do we. A user's id is stable and unique, as IAM's are (`AIDA` and 17 more characters); here
 * it is derived from the caller's ARN, so that it never changes between starts and never
 * carries the access key.
 */
export function getCallerIdentity(context: RequestContext): CallerIdentity {
  const digest = createHash('sha256').update(context.principalArn).digest();
  const userId = `AIDA${idCharacters(digest).slice(0, 17)}`;
  return { Arn: context.principalArn, UserId: userId, Account: context.accountId };
}

/** The characters IAM's unique ids are written in. */
const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function idCharacters(bytes: Buffer): string {
  let text = '';
  for (const byte of bytes) text += ID_ALPHABET[byte & 31];
  return text;
}
