import type { Credential } from '../config/config.js';
import type { CredentialSet } from './credentials.js';
import { REGION_NAME } from '../domain/arn.js';

/** What a SigV4 signature claims about its signer, read from the header or query string. */
export interface SignatureClaims {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

const CREDENTIAL =
  /^([A-Za-z0-9]{16,128})\/(\d{8})\/([a-z0-9-]{1,32})\/([a-z0-9-]{1,64})\/aws4_request$/;

/**
 * Reads `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`; undefined when it is
 * malformed.
 */
export function parseAuthorizationHeader(header: string | undefined): SignatureClaims | undefined {
  if (!header?.startsWith('AWS4-HMAC-SHA256 ')) return undefined;
  const fields = new Map<string, string>();
  for (const part of header.slice('AWS4-HMAC-SHA256 '.length).split(',')) {
    const separator = part.indexOf('=');
    if (separator < 0) return undefined;
    fields.set(part.slice(0, separator).trim(), part.slice(separator + 1).trim());
  }
  return claimsFrom(fields.get('Credential'), fields.get('SignedHeaders'), fields.get('Signature'));
}

/** Reads a presigned URL's `X-Amz-Credential`, `X-Amz-SignedHeaders` and `X-Amz-Signature`. */
export function parsePresignedQuery(query: Record<string, unknown>): SignatureClaims | undefined {
  if (query['X-Amz-Algorithm'] !== 'AWS4-HMAC-SHA256') return undefined;
  const text = (name: string): string | undefined =>
    typeof query[name] === 'string' ? (query[name] as string) : undefined;
  return claimsFrom(text('X-Amz-Credential'), text('X-Amz-SignedHeaders'), text('X-Amz-Signature'));
}

function claimsFrom(
  credential: string | undefined,
  signedHeaders: string | undefined,
  signature: string | undefined,
): SignatureClaims | undefined {
  const match = credential === undefined ? null : CREDENTIAL.exec(credential);
  if (!match || !signedHeaders || !/^[a-z0-9-]+(;[a-z0-9-]+)*$/.test(signedHeaders))
    return undefined;
  if (!signature || !/^[0-9a-f]{64}$/.test(signature)) return undefined;
  return {
    accessKeyId: match[1]!,
    date: match[2]!,
    region: match[3]!,
    service: match[4]!,
    signedHeaders: signedHeaders.split(';'),
    signature,
  };
}

export type AuthenticationFailure = 'missing' | 'malformed' | 'unknown-key' | 'wrong-service';

export type AuthenticationResult =
  | { ok: true; claims: SignatureClaims; credential: Credential }
  | { ok: false; failure: AuthenticationFailure; detail: string };

/**
 * Decides who signed a request: a well-formed SigV4 signature, scoped to the API being
 * called, by a known access key.
 */
export function authenticate(
  credentials: CredentialSet,
  authorization: string | undefined,
  query: Record<string, unknown>,
  expectedService: string,
): AuthenticationResult {
  const presigned = authorization === undefined && query['X-Amz-Algorithm'] !== undefined;
  if (authorization === undefined && !presigned) {
    return {
      ok: false,
      failure: 'missing',
      detail: 'The request is not signed. Sign it with AWS Signature Version 4.',
    };
  }
  const claims = presigned ? parsePresignedQuery(query) : parseAuthorizationHeader(authorization);
  if (!claims) {
    return {
      ok: false,
      failure: 'malformed',
      detail:
        'The request signature is malformed. Sign it with AWS Signature Version 4 ' +
        '(AWS4-HMAC-SHA256).',
    };
  }
  const credential = credentials.byAccessKeyId.get(claims.accessKeyId);
  if (!credential) {
    return {
      ok: false,
      failure: 'unknown-key',
      detail: 'The security token included in the request is invalid.',
    };
  }
  if (!REGION_NAME.test(claims.region)) {
    return {
      ok: false,
      failure: 'malformed',
      detail:
        `The credential scope names the region '${claims.region}', which is not an AWS ` +
        'region name. Set the client to a region such as us-east-1.',
    };
  }
  if (claims.service !== expectedService) {
    return {
      ok: false,
      failure: 'wrong-service',
      detail: `Credential should be scoped to correct service: '${expectedService}'.`,
    };
  }
  return { ok: true, claims, credential };
}
