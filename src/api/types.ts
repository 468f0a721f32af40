import type { ClusterService } from '../domain/clusters.js';
import type { RequestContext } from '../domain/context.js';
import type { KeyService } from '../domain/keys.js';
import type { PageTokens } from '../domain/paging.js';
import type { ScramSecretService } from '../domain/scram-secrets.js';
import type { SecretService } from '../domain/secrets.js';

/** The domain services every operation module is handed. */
export interface Services {
  clusters: ClusterService;
  secrets: SecretService;
  keys: KeyService;
  scramSecrets: ScramSecretService;
  tokens: PageTokens;
}

/** One REST-JSON request, already authenticated and with its path parameters decoded. */
export interface RestCall {
  context: RequestContext;
  params: Record<string, string>;
  query: Record<string, string | string[] | undefined>;
  body: unknown;
}

export interface RestResult {
  statusCode?: number;
  body?: unknown;
}

export interface RestOperation {
  name: string;
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** The path with `:parameter` segments, as the router matches it. */
  path: string;
  handle(services: Services, call: RestCall): Promise<RestResult>;
}

/** A JSON 1.1 operation, chosen by the `X-Amz-Target` header; input is the parsed body. */
export type JsonOperation = (
  services: Services,
  context: RequestContext,
  input: Record<string, unknown>,
) => Promise<unknown>;
