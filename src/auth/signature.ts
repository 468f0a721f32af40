import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';

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

const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;
const MAX_PRESIGNED_EXPIRY_SECONDS = 7 * 24 * 60 * 60;
const MAX_CACHED_SIGNERS = 1000;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const PRESIGN_PARAMETERS = new Set([
  'X-Amz-Algorithm',
  'X-Amz-Credential',
  'X-Amz-Date',
  'X-Amz-Expires',
  'X-Amz-SignedHeaders',
  'X-Amz-Signature',
]);

/**
 * Checks SigV4 signatures by signing the received request again, with the same canonical
 * rules the AWS SDKs use (`@smithy/signature-v4`), and comparing in constant time. Signers,
 * and with them the derived signing keys, are kept per access key, region and service.
 * Returns undefined when the signature holds, or why it does not; never the signature itself.
 */
export class SignatureVerifier {
  private readonly signers = new Map<string, SignatureV4>();

  constructor(private readonly now: () => number = Date.now) {}

  async verify(
    request: ReceivedRequest,
    claims: SignatureClaims,
    credential: Credential,
    presigned: boolean,
  ): Promise<string | undefined> {
    const [rawPath, rawQuery = ''] = splitTarget(request.url);
    const query = parseQuery(rawQuery);
    const dateText = presigned ? single(query['X-Amz-Date']) : single(request.headers['x-amz-date']);
    const signingDate = dateText === undefined ? undefined : parseAmzDate(dateText);
    if (!signingDate) return 'The request must carry its signing time in X-Amz-Date (YYYYMMDDTHHMMSSZ).';
    if (!dateText!.startsWith(claims.date)) return 'The credential scope date does not match X-Amz-Date.';
    const timeProblem = presigned
      ? checkPresignedWindow(signingDate, single(query['X-Amz-Expires']), this.now())
      : checkSkew(signingDate, this.now());
    if (timeProblem) return timeProblem;
    if (!claims.signedHeaders.includes('host')) return 'The host header must be signed.';

    const headers: Record<string, string> = {};
    for (const name of claims.signedHeaders) {
      const value = request.headers[name];
      if (value === undefined) return `The signed header ${name} is missing from the request.`;
      headers[name] = Array.isArray(value) ? value.join(',') : value;
    }
    const payloadProblem = checkPayloadHash(headers['x-amz-content-sha256'], request.body);
    if (payloadProblem) return payloadProblem;

    const signer = this.signerFor(credential, claims);
    const toSign = {
      method: request.method,
      protocol: 'http:',
      hostname: headers.host ?? '',
      path: rawPath,
      query: presigned ? withoutPresignParameters(query) : query,
      headers,
      body: request.body && request.body.length > 0 ? request.body : undefined,
    };
    const expected = presigned
      ? await this.presignedSignature(signer, toSign, signingDate, query, claims)
      : await this.headerSignature(signer, toSign, signingDate, claims);
    return expected !== undefined && sameHex(expected, claims.signature)
      ? undefined
      : 'The request signature we calculated does not match the signature you provided. ' +
          'Check your AWS secret access key and signing method.';
  }

  private async headerSignature(
    signer: SignatureV4,
    toSign: Parameters<SignatureV4['sign']>[0],
    signingDate: Date,
    claims: SignatureClaims,
  ): Promise<string | undefined> {
    const signed = await signer.sign(toSign, {
      signingDate,
      signingRegion: claims.region,
      signingService: claims.service,
      signableHeaders: new Set(claims.signedHeaders),
    });
    return /Signature=([0-9a-f]{64})/.exec(String(signed.headers.authorization))?.[1];
  }

  private async presignedSignature(
    signer: SignatureV4,
    toSign: Parameters<SignatureV4['presign']>[0],
    signingDate: Date,
    query: Record<string, string | string[]>,
    claims: SignatureClaims,
  ): Promise<string | undefined> {
    const signed = await signer.presign(toSign, {
      signingDate,
      signingRegion: claims.region,
      signingService: claims.service,
      expiresIn: Number(single(query['X-Amz-Expires'])),
      signableHeaders: new Set(claims.signedHeaders),
    });
    return single(signed.query?.['X-Amz-Signature'] ?? undefined);
  }

  private signerFor(credential: Credential, claims: SignatureClaims): SignatureV4 {
    const key = `${credential.accessKeyId}\n${claims.region}\n${claims.service}`;
    let signer = this.signers.get(key);
    if (!signer) {
      if (this.signers.size >= MAX_CACHED_SIGNERS) this.signers.clear();
      signer = new SignatureV4({
        credentials: { accessKeyId: credential.accessKeyId, secretAccessKey: credential.secretAccessKey },
        region: claims.region,
        service: claims.service,
        sha256: Hash.bind(null, 'sha256'),
        // Sign exactly the headers the client signed: botocore, unlike the JS SDK, sends no
        // x-amz-content-sha256, so the signer must not add one.
        applyChecksum: false,
      });
      this.signers.set(key, signer);
    }
    return signer;
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

function withoutPresignParameters(query: Record<string, string | string[]>): Record<string, string | string[]> {
  return Object.fromEntries(Object.entries(query).filter(([name]) => !PRESIGN_PARAMETERS.has(name)));
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? undefined : value;
}

function parseAmzDate(text: string): Date | undefined {
  const match = AMZ_DATE.exec(text);
  if (!match) return undefined;
  const [, year, month, day, hour, minute, second] = match.map(Number);
  const date = new Date(Date.UTC(year!, month! - 1, day!, hour!, minute!, second!));
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function checkSkew(signingDate: Date, now: number): string | undefined {
  if (Math.abs(now - signingDate.getTime()) <= MAX_CLOCK_SKEW_MS) return undefined;
  return 'Signature expired: the request time is more than 5 minutes away from the server time.';
}

function checkPresignedWindow(signingDate: Date, expiresText: string | undefined, now: number): string | undefined {
  const expires = Number(expiresText);
  if (!Number.isInteger(expires) || expires < 1 || expires > MAX_PRESIGNED_EXPIRY_SECONDS) {
    return 'X-Amz-Expires must be a whole number of seconds from 1 to 604800.';
  }
  if (signingDate.getTime() - now > MAX_CLOCK_SKEW_MS) return 'The presigned request is dated in the future.';
  if (now > signingDate.getTime() + expires * 1000) return 'The presigned request has expired.';
  return undefined;
}

function checkPayloadHash(claimed: string | undefined, body: Buffer | undefined): string | undefined {
  if (claimed === undefined) return undefined;
  // Only S3 lets a signature leave the body out; here the body is the operation's whole input,
  // and a signed UNSIGNED-PAYLOAD would let anyone on the path swap it.
  if (claimed === 'UNSIGNED-PAYLOAD') {
    return (
      'The body must be signed: send its SHA-256 in x-amz-content-sha256, not UNSIGNED-PAYLOAD.'
    );
  }
  const actual = createHash('sha256').update(body ?? Buffer.alloc(0)).digest('hex');
  return claimed === actual ? undefined : 'The x-amz-content-sha256 header does not match the request body.';
}

function sameHex(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  return left.length === right.length && timingSafeEqual(left, right);
}
