import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';

import { ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY } from './server.js';

export interface SigningOptions {
  service?: string;
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  signingDate?: Date;
}

/**
 * Signs a raw request exactly as the AWS SDKs do, for inputs the SDKs refuse to send (a
 * missing body, wrong types, a forged token). Returns the headers to send with fetch.
 */
export async function signedHeaders(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
  options: SigningOptions = {},
): Promise<Record<string, string>> {
  const target = new URL(url);
  const signer = new SignatureV4({
    credentials: {
      accessKeyId: options.accessKeyId ?? ACCESS_KEY_ID,
      secretAccessKey: options.secretAccessKey ?? SECRET_ACCESS_KEY,
    },
    region: options.region ?? REGION,
    service: options.service ?? 'kafka',
    sha256: Hash.bind(null, 'sha256'),
  });
  const query: Record<string, string | string[]> = {};
  for (const [name, value] of target.searchParams) {
    const existing = query[name];
    query[name] = existing === undefined ? value : [existing, value].flat();
  }
  const signed = await signer.sign(
    {
      method: init.method ?? 'GET',
      protocol: target.protocol,
      hostname: target.hostname,
      port: Number(target.port),
      path: target.pathname,
      query,
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
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
  options: SigningOptions = {},
): Promise<Response> {
  const headers = await signedHeaders(url, init, options);
  return fetch(url, { method: init.method ?? 'GET', headers, body: init.body });
}
