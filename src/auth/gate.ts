import type { KnownPrincipal, CredentialSet } from './credentials.js';
import { evaluate } from './policy.js';
import { SignatureVerifier, type ReceivedRequest } from './signature.js';
import { authenticate } from './sigv4.js';
import { Throttle, type BucketSettings } from './throttle.js';
import { partitionOf } from '../domain/arn.js';
import type { RequestContext } from '../domain/context.js';
import { ServiceError, forbidden, jsonError, queryFault, unauthorized } from '../domain/errors.js';

/** MSK's REST-JSON; Secrets Manager's and KMS's JSON 1.1; STS's query protocol. */
export type Protocol = 'rest-json' | 'json' | 'query';
export type CallKind = 'read' | 'write';

export interface GateOptions {
  credentials: CredentialSet;
  verifySignatures: boolean;
  throttle: { read: BucketSettings; write: BucketSettings };
}

/**
 * Everything a request passes before an operation runs: who signed it (401), how fast they
 * call (429), and, once the operation knows its resource, whether they may (403).
 */
export class Gate {
  private readonly verifier: SignatureVerifier | undefined;
  private readonly throttles: Record<CallKind, Throttle>;

  constructor(private readonly options: GateOptions) {
    this.verifier = options.verifySignatures ? new SignatureVerifier() : undefined;
    this.throttles = {
      read: new Throttle(options.throttle.read),
      write: new Throttle(options.throttle.write),
    };
  }

  /** Who signed the request (401 unless a known key signed it well). */
  async admit(
    request: ReceivedRequest & { query: Record<string, unknown>; id: string },
    protocol: Protocol,
    signingName: string,
  ): Promise<RequestContext> {
    const result = authenticate(
      this.options.credentials,
      header(request.headers.authorization),
      request.query,
      signingName,
    );
    if (!result.ok) throw refusal(protocol, result.failure, result.detail);
    const principal = this.options.credentials.byAccessKeyId.get(result.credential.accessKeyId)!;
    if (this.verifier) {
      const presigned = request.headers.authorization === undefined;
      const problem = await this.verifier.verify(
        request,
        result.claims,
        result.credential,
        presigned,
      );
      if (problem !== undefined) throw refusal(protocol, 'bad-signature', problem);
    }
    return {
      accountId: principal.accountId,
      region: result.claims.region,
      accessKeyId: principal.accessKeyId,
      requestId: request.id,
      allows: (action, resource) => evaluate(principal, action, resource) === 'allowed',
      principalArn: principalArn(principal, result.claims.region),
    };
  }

  /** 429 (400 on the JSON 1.1 APIs) when the caller's bucket for this kind of call is empty. */
  throttle(context: RequestContext, protocol: Protocol, kind: CallKind): void {
    const waitSeconds = this.throttles[kind].take(context.accessKeyId);
    if (waitSeconds > 0) throw throttled(protocol, waitSeconds);
  }

  /** 403 unless the caller may perform `action` on `resource`. */
  authorize(context: RequestContext, protocol: Protocol, action: string, resource: string): void {
    if (context.allows(action, resource)) return;
    const message =
      `User: ${context.principalArn} is not authorized to perform: ${action} on resource: ` +
      `${resource}. Ask an administrator to allow it in your policy.`;
    if (protocol === 'rest-json') throw forbidden(message);
    throw protocol === 'query'
      ? queryFault('AccessDenied', message, 403)
      : jsonError('AccessDeniedException', message);
  }

  /** Whether a principal's policies can depend on the resource, so that it must be resolved. */
  needsResource(accessKeyId: string): boolean {
    const principal = this.options.credentials.byAccessKeyId.get(accessKeyId);
    return principal !== undefined && (!principal.administrator || principal.policies.length > 0);
  }
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function principalArn(principal: KnownPrincipal, region: string): string {
  return `arn:${partitionOf(region)}:iam::${principal.accountId}:user/${principal.name}`;
}

/**
 * Refused authentication. The JSON 1.1 services answer every such refusal with 400 and the
 * exception in the body, as Secrets Manager and KMS do; MSK's REST API uses 401, and STS 403
 * with its own codes.
 */
function refusal(protocol: Protocol, failure: string, detail: string): ServiceError {
  if (protocol === 'rest-json') return unauthorized(detail);
  if (protocol === 'query') {
    switch (failure) {
      case 'missing':
        return queryFault('MissingAuthenticationToken', detail, 403);
      case 'unknown-key':
        return queryFault('InvalidClientTokenId', detail, 403);
      case 'malformed':
        return queryFault('IncompleteSignature', detail);
      default:
        return queryFault('SignatureDoesNotMatch', detail, 403);
    }
  }
  switch (failure) {
    case 'missing':
      return jsonError('MissingAuthenticationTokenException', detail);
    case 'unknown-key':
      return jsonError('UnrecognizedClientException', detail);
    case 'malformed':
      return jsonError('IncompleteSignatureException', detail);
    default:
      return jsonError('InvalidSignatureException', detail);
  }
}

function throttled(protocol: Protocol, waitSeconds: number): ServiceError {
  const message = `Rate exceeded: slow down and retry in ${waitSeconds} second(s).`;
  const headers = { 'retry-after': String(waitSeconds) };
  if (protocol === 'rest-json') {
    return new ServiceError('TooManyRequestsException', 429, message, undefined, headers);
  }
  const type = protocol === 'query' ? 'Throttling' : 'ThrottlingException';
  return new ServiceError(type, 400, message, undefined, headers);
}
