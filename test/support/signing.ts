import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';

import { ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY } from './server.js';

export interface SigningOptions {
  service?: string;
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  signingDate?: Date;
  /**
   * Whether to send (and sign) `x-amz-content-sha256`, as the JavaScript SDK does; botocore
   * (the AWS CLI) sends none, and the body's hash is then only inside the signature.
   */
  payloadHashHeader?: boolean;
  /** Whether the canonical path escapes the path once more, as every AWS service but S3 does. */
  uriEscapePath?: boolean;
}

type RequestInit = { method?: string; headers?: Record<string, string>; body?: string };

function signer(options: SigningOptions): SignatureV4 {
  return new SignatureV4({
    credentials: {
      accessKeyId: options.accessKeyId ?? ACCESS_KEY_ID,
      secretAccessKey: options.secretAccessKey ?? SECRET_ACCESS_KEY,
    },
    region: options.region ?? REGION,
    service: options.service ?? 'kafka',
    sha256: Hash.bind(null, 'sha256'),
    applyChecksum: options.payloadHashHeader ?? true,
    uriEscapePath: options.uriEscapePath ?? true,
  });
}

function queryOf(target: URL): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const [name, value] of target.searchParams) {
    const existing = query[name];
    query[name] = existing === undefined ? value : [existing, value].flat();
  }
  return query;
}

/**
 * Signs a raw request exactly as the AWS SDKs do, for inputs the SDKs refuse to send (a
 * missing body, wrong types, a forged token). Returns the headers to send with fetch.
 */
export async function signedHeaders(
  url: string,
  init: RequestInit = {},
  options: SigningOptions = {},
): Promise<Record<string, string>> {
  const target = new URL(url);
  const signed = await signer(options).sign(
    {
      method: init.method ?? 'GET',
      protocol: target.protocol,
      hostname: target.hostname,
      port: Number(target.port),
      path: target.pathname,
      query: queryOf(target),
      headers: { host: target.host, ...(init.headers ?? {}) },
      body: init.body,
    },
    { signingDate: options.signingDate },
  );
  const headers = { ...(signed.headers as Record<string, string>) };
  delete headers.host;
  return headers;
}

/** fetch, signed first. */
export async function signedFetch(
  url: string,
  init: RequestInit = {},
  options: SigningOptions = {},
): Promise<Response> {
  const headers = await signedHeaders(url, init, options);
  return fetch(url, { method: init.method ?? 'GET', headers, body: init.body });
}

/**
 * A presigned GET URL: the signature and its credential travel in the query string (the
 * `X-Amz-*` parameters), valid for `expiresIn` seconds from the signing date.
 */
export async function presignedUrl(
  url: string,
  options: SigningOptions & { expiresIn?: number } = {},
): Promise<string> {
  const target = new URL(url);
  const presigned = await signer(options).presign(
    {
      method: 'GET',
      protocol: target.protocol,
      hostname: target.hostname,
      port: Number(target.port),
      path: target.pathname,
      query: queryOf(target),
      headers: { host: target.host },
    },
    { signingDate: options.signingDate, expiresIn: options.expiresIn ?? 300 },
  );
  const search = Object.entries(presigned.query ?? {})
    .flatMap(([name, value]) => [value ?? ''].flat().map((item) => [name, item] as const))
    .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`)
    .join('&');
  return `${target.origin}${target.pathname}?${search}`;
}
