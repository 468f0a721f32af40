import { ACCESS_KEY_ID, REGION } from './server.js';

/**
 * An Authorization header that is well formed but carries a made-up signature: for requests
 * the SDK cannot send, where only the header's shape and the access key are under test.
 */
export function unsignedAuthorization(
  service = 'kafka',
  accessKeyId = ACCESS_KEY_ID,
  region = REGION,
): string {
  return (
    `AWS4-HMAC-SHA256 Credential=${accessKeyId}/20261204/${region}/${service}/aws4_request, ` +
    `SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}`
  );
}

export interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown>;
}

export async function rawRequest(url: string, init: RequestInit): Promise<RawResponse> {
  const response = await fetch(url, init);
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // Bodiless answers (204, preflights) have nothing to parse.
  }
  return { status: response.status, headers: response.headers, text, json };
}

export function clusterPath(clusterArn: string, suffix = ''): string {
  return `/v1/clusters/${encodeURIComponent(clusterArn)}${suffix}`;
}
