import * as crypto from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

import { Hash } from '@smithy/hash-node';
import {
  ALGORITHM_IDENTIFIER,
  ALGORITHM_QUERY_PARAM,
  AMZ_DATE_HEADER,
  AMZ_DATE_QUERY_PARAM,
  CREDENTIAL_QUERY_PARAM,
  EXPIRES_QUERY_PARAM,
  GENERATED_HEADERS,
  SIGNED_HEADERS_QUERY_PARAM,
  SignatureV4,
  createScope,
  getCanonicalHeaders,
  getSigningKey,
  moveHeadersToQuery,
} from '@smithy/signature-v4';

import type { Credential } from '../config/config.js';
import type { SignatureClaims } from './sigv4.js';

/** The parts of a received request that its signature covers, exactly as they arrived. */
export interface ReceivedRequest {
  method: string;
  /** The raw request target: the path as sent (still percent-encoded) and the query. */
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer | undefined;
}

/** A request in the shape the signer takes. */
type SignableRequest = Parameters<SignatureV4['presign']>[0];

const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;
const MAX_PRESIGNED_EXPIRY_SECONDS = 7 * 24 * 60 * 60;
/**
 * Derived signing keys kept: one per access key, day, region and service in use. The scope
 * is read before the signature is checked, so the bound keeps made-up scopes from growing
 * the cache without end.
 */
const MAX_CACHED_SIGNING_KEYS = 1000;
const AMZ_DATE = /^\d{8}T\d{6}Z$/;
/** Headers the signer removes before it signs: it adds its own date, and signs no signature. */
const SIGNER_GENERATED_HEADERS = new Set(GENERATED_HEADERS);
/** SHA-256 of nothing: the payload hash of a request without a body. */
const EMPTY_BODY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const PRESIGN_PARAMETERS = new Set([
  'X-Amz-Algorithm',
  'X-Amz-Credential',
  'X-Amz-Date',
  'X-Amz-Expires',
  'X-Amz-SignedHeaders',
  'X-Amz-Signature',
]);
const MISMATCH =
  'The request signature we calculated does not match the signature you provided. ' +
  'Check your AWS secret access key and signing method.';

/**
 * Checks SigV4 signatures by computing the signature of the received request again and
 * comparing in constant time. The canonical request, the part that must match the client's
 * byte for byte, is built by the AWS SDKs' own signer (`@smithy/signature-v4`), step by step
 * as it signs and presigns. Its derived signing keys are kept here, per access key, day,
 * region and service, so that a request costs two hashes and one HMAC. Returns undefined
 * when the signature holds, or why it does not; never the signature itself.
 */
export class SignatureVerifier {
  private readonly canonical = new CanonicalRequests();
  private readonly signingKeys = new Map<string, { credential: Credential; key: KeyObject }>();

  constructor(private readonly now: () => number = Date.now) {}

  async verify(
    request: ReceivedRequest,
    claims: SignatureClaims,
    credential: Credential,
    presigned: boolean,
  ): Promise<string | undefined> {
    const [rawPath, rawQuery = ''] = splitTarget(request.url);
    const query = parseQuery(rawQuery);
    const dateText = single(presigned ? query['X-Amz-Date'] : request.headers['x-amz-date']);
    const signingDate = dateText === undefined ? undefined : parseAmzDate(dateText);
    if (!signingDate) {
      return 'The request must carry its signing time in X-Amz-Date (YYYYMMDDTHHMMSSZ).';
    }
    if (!dateText!.startsWith(claims.date)) {
      return 'The credential scope date does not match X-Amz-Date.';
    }
    const expiresText = single(query['X-Amz-Expires']);
    const timeProblem = presigned
      ? checkPresignedWindow(signingDate, expiresText, this.now())
      : checkSkew(signingDate, this.now());
    if (timeProblem) return timeProblem;
    if (!claims.signedHeaders.includes('host')) return 'The host header must be signed.';

    // The signer's own headers (the date, the signature) are left out here, as the signer
    // leaves them out before it adds its own: deleting them later would turn the object into
    // a slow dictionary. It is a plain object, whose stores V8 caches; signed header names
    // are [a-z0-9-] only, so none is __proto__, and the own-property check keeps a name such
    // as `constructor` from reading the prototype of Node's header object.
    const headers: Record<string, string> = {};
    for (const name of claims.signedHeaders) {
      const value = Object.hasOwn(request.headers, name) ? request.headers[name] : undefined;
      if (value === undefined) return `The signed header ${name} is missing from the request.`;
      if (SIGNER_GENERATED_HEADERS.has(name)) continue;
      headers[name] = Array.isArray(value) ? value.join(',') : value;
    }
    const hasBody = request.body !== undefined && request.body.length > 0;
    const payloadHash = hasBody ? sha256Hex(request.body!) : EMPTY_BODY_SHA256;
    const payloadProblem = checkPayloadHash(headers['x-amz-content-sha256'], payloadHash);
    if (payloadProblem) return payloadProblem;

    // X-Amz-Date is its own exact form (parseAmzDate refuses any other), so the signing time
    // is the text the client signed, and its day the scope's.
    const longDate = dateText!;
    const shortDate = claims.date;
    const scope = createScope(shortDate, claims.region, claims.service);
    const received: SignableRequest = {
      method: request.method,
      protocol: 'http:',
      hostname: headers.host ?? '',
      path: rawPath,
      query: presigned ? withoutPresignParameters(query) : query,
      headers,
      body: hasBody ? request.body : undefined,
    };
    const signableHeaders = new Set(claims.signedHeaders);
    const canonicalRequest = presigned
      ? this.canonical.presigned(received, signableHeaders, payloadHash, {
          credential: `${credential.accessKeyId}/${scope}`,
          longDate,
          expiresIn: Number(expiresText),
        })
      : this.canonical.headerSigned(received, signableHeaders, payloadHash, longDate);
    const requestHash = sha256Hex(canonicalRequest);
    const stringToSign = `${ALGORITHM_IDENTIFIER}\n${longDate}\n${scope}\n${requestHash}`;

    const key =
      this.cachedSigningKey(credential, scope) ??
      (await this.deriveSigningKey(credential, scope, shortDate, claims));
    const expected = crypto.createHmac('sha256', key).update(stringToSign).digest();
    return sameSignature(expected, claims.signature) ? undefined : MISMATCH;
  }

  private cachedSigningKey(credential: Credential, scope: string): KeyObject | undefined {
    const cached = this.signingKeys.get(`${credential.accessKeyId}/${scope}`);
    return cached?.credential === credential ? cached.key : undefined;
  }

  private async deriveSigningKey(
    credential: Credential,
    scope: string,
    shortDate: string,
    claims: SignatureClaims,
  ): Promise<KeyObject> {
    const derived = await getSigningKey(
      Hash.bind(null, 'sha256'),
      { accessKeyId: credential.accessKeyId, secretAccessKey: credential.secretAccessKey },
      shortDate,
      claims.region,
      claims.service,
    );
    if (this.signingKeys.size >= MAX_CACHED_SIGNING_KEYS) {
      this.signingKeys.delete(this.signingKeys.keys().next().value!);
    }
    // Kept as a KeyObject: an HMAC keyed by one is made faster than by raw bytes.
    const key = crypto.createSecretKey(derived);
    this.signingKeys.set(`${credential.accessKeyId}/${scope}`, { credential, key });
    return key;
  }
}

/**
 * The canonical request, as `SignatureV4` builds it when it signs (`sign`) or presigns
 * (`presign`): the same date header of its own (the received headers come without the
 * signer's own, see SIGNER_GENERATED_HEADERS), the same presign parameters, the same
 * canonical headers, path and query. This signer never signs, so it never reads its
 * credentials. The received request's headers are its own to change.
 */
class CanonicalRequests extends SignatureV4 {
  constructor() {
    super({
      credentials: () => Promise.reject(new Error('This signer only builds canonical requests.')),
      region: '',
      service: '',
      sha256: Hash.bind(null, 'sha256'),
      // Sign exactly the headers the client signed: botocore, unlike the JS SDK, sends no
      // x-amz-content-sha256, so none may be added.
      applyChecksum: false,
    });
  }

  headerSigned(
    received: SignableRequest,
    signableHeaders: Set<string>,
    payloadHash: string,
    longDate: string,
  ): string {
    received.headers[AMZ_DATE_HEADER] = longDate;
    const canonicalHeaders = getCanonicalHeaders(received, undefined, signableHeaders);
    return this.createCanonicalRequest(received, canonicalHeaders, payloadHash);
  }

  presigned(
    received: SignableRequest,
    signableHeaders: Set<string>,
    payloadHash: string,
    presign: { credential: string; longDate: string; expiresIn: number },
  ): string {
    const request = moveHeadersToQuery(received);
    request.query[ALGORITHM_QUERY_PARAM] = ALGORITHM_IDENTIFIER;
    request.query[CREDENTIAL_QUERY_PARAM] = presign.credential;
    request.query[AMZ_DATE_QUERY_PARAM] = presign.longDate;
    request.query[EXPIRES_QUERY_PARAM] = presign.expiresIn.toString(10);
    const canonicalHeaders = getCanonicalHeaders(request, undefined, signableHeaders);
    request.query[SIGNED_HEADERS_QUERY_PARAM] = this.getCanonicalHeaderList(canonicalHeaders);
    return this.createCanonicalRequest(request, canonicalHeaders, payloadHash);
  }
}

function splitTarget(url: string): [string, string | undefined] {
  const separator = url.indexOf('?');
  return separator < 0 ? [url, undefined] : [url.slice(0, separator), url.slice(separator + 1)];
}

function parseQuery(raw: string): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const pair of raw.split('&')) {
    if (pair === '') continue;
    const separator = pair.indexOf('=');
    const name = safeDecode(separator < 0 ? pair : pair.slice(0, separator));
    const value = separator < 0 ? '' : safeDecode(pair.slice(separator + 1));
    const existing = query[name];
    if (existing === undefined) query[name] = value;
    else query[name] = Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  return query;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function withoutPresignParameters(
  query: Record<string, string | string[]>,
): Record<string, string | string[]> {
  return Object.fromEntries(
    Object.entries(query).filter(([name]) => !PRESIGN_PARAMETERS.has(name)),
  );
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? undefined : value;
}

/** The time `YYYYMMDDTHHMMSSZ` names, if it names one exactly (no 13th month, no 61st second). */
function parseAmzDate(text: string): Date | undefined {
  if (!AMZ_DATE.test(text)) return undefined;
  const year = Number(text.slice(0, 4));
  const month = Number(text.slice(4, 6)) - 1;
  const day = Number(text.slice(6, 8));
  const hour = Number(text.slice(9, 11));
  const minute = Number(text.slice(11, 13));
  const second = Number(text.slice(13, 15));
  const date = new Date(Date.UTC(year, month, day, hour, minute, second));
  const exact =
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month &&
    date.getUTCDate() === day &&
    date.getUTCHours() === hour &&
    date.getUTCMinutes() === minute &&
    date.getUTCSeconds() === second;
  return exact ? date : undefined;
}

function checkSkew(signingDate: Date, now: number): string | undefined {
  if (Math.abs(now - signingDate.getTime()) <= MAX_CLOCK_SKEW_MS) return undefined;
  return 'Signature expired: the request time is more than 5 minutes away from the server time.';
}

function checkPresignedWindow(
  signingDate: Date,
  expiresText: string | undefined,
  now: number,
): string | undefined {
  const expires = Number(expiresText);
  if (!Number.isInteger(expires) || expires < 1 || expires > MAX_PRESIGNED_EXPIRY_SECONDS) {
    return 'X-Amz-Expires must be a whole number of seconds from 1 to 604800.';
  }
  if (signingDate.getTime() - now > MAX_CLOCK_SKEW_MS) {
    return 'The presigned request is dated in the future.';
  }
  if (now > signingDate.getTime() + expires * 1000) return 'The presigned request has expired.';
  return undefined;
}

function checkPayloadHash(claimed: string | undefined, actual: string): string | undefined {
  if (claimed === undefined) return undefined;
  // Only S3 lets a signature leave the body out; here the body is the operation's whole input,
  // and a signed UNSIGNED-PAYLOAD would let anyone on the path swap it.
  if (claimed === 'UNSIGNED-PAYLOAD') {
    return (
      'The body must be signed: send its SHA-256 in x-amz-content-sha256, not ' +
      'UNSIGNED-PAYLOAD.'
    );
  }
  return claimed === actual
    ? undefined
    : 'The x-amz-content-sha256 header does not match the request body.';
}

function sha256Hex(data: Buffer | string): string {
  // One-shot `crypto.hash` (Node 20.12 and later) saves building a Hash object.
  return typeof crypto.hash === 'function'
    ? crypto.hash('sha256', data, 'hex')
    : crypto.createHash('sha256').update(data).digest('hex');
}

function sameSignature(expected: Buffer, provided: string): boolean {
  const received = Buffer.from(provided, 'hex');
  return received.length === expected.length && crypto.timingSafeEqual(received, expected);
}
