import type { FastifyReply, FastifyRequest } from 'fastify';

import {
  badRequest,
  internalError,
  jsonError,
  queryFault,
  serviceUnavailable,
  ServiceError,
} from '../domain/errors.js';
import { queryError } from './query.js';
import type { Protocol } from '../auth/gate.js';
import { isStoreUnavailable } from '../store/errors.js';

/**
 * Turns anything thrown while serving a request into the AWS error the caller should see.
 * Only our own ServiceErrors say what went wrong; anything unexpected is a 500 that says
 * nothing of its cause, logged without its message (which may quote request data).
 */
export function toServiceError(error: unknown, request: FastifyRequest): ServiceError {
  if (error instanceof ServiceError) return error;
  const protocol = request.awsProtocol;
  const json = protocol === 'json';
  if (isStoreUnavailable(error)) {
    request.log.warn(
      { event: 'store.unavailable', requestId: request.id, code: errorCode(error) },
      'store unavailable',
    );
    // A database that is there but held by another writer is not one that cannot be reached.
    const busy = /^(SQLITE_(BUSY|LOCKED)|55P03)/.test(errorCode(error) ?? '');
    return serviceUnavailable(
      busy
        ? 'The database is busy with other writes right now. Retry shortly.'
        : 'The service cannot reach its database right now. Retry shortly.',
      2,
    );
  }
  const statusCode = (error as { statusCode?: number }).statusCode;
  if (statusCode === 413) return unreadable(protocol, 'The request body is too large.');
  if (statusCode !== undefined && statusCode >= 400 && statusCode < 500) {
    return unreadable(protocol, 'The request could not be read.');
  }
  request.log.error(
    {
      event: 'request.failed',
      requestId: request.id,
      errorName: (error as Error)?.name,
      frames: stackFrames(error),
    },
    'unexpected failure',
  );
  if (protocol === 'query') return queryFault('InternalFailure', internalError().message, 500);
  if (!json) return internalError();
  // Secrets Manager and KMS each name a server fault their own way; their SDKs map only
  // that name to the modelled exception class.
  const target = String(request.headers['x-amz-target'] ?? '');
  const type = target.startsWith('TrentService.') ? 'KMSInternalException' : 'InternalServiceError';
  return jsonError(type, internalError().message, 500);
}

function unreadable(protocol: Protocol, message: string): ServiceError {
  switch (protocol) {
    case 'json':
      return jsonError('ValidationException', message);
    case 'query':
      return queryFault('ValidationError', message);
    default:
      return badRequest(message);
  }
}

/** Renders an error in its protocol's AWS shape, with `x-amzn-ErrorType`. */
export function sendError(
  request: FastifyRequest,
  reply: FastifyReply,
  error: ServiceError,
): FastifyReply {
  reply.code(error.statusCode);
  reply.header('x-amzn-RequestId', request.id);
  reply.header('x-amzn-ErrorType', error.type);
  for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
  if (request.awsProtocol === 'query') {
    return reply.type('text/xml').send(queryError(error, request.id));
  }
  if (request.awsProtocol === 'json') {
    return reply
      .type('application/x-amz-json-1.1')
      .send(JSON.stringify({ __type: error.type, message: error.message }));
  }
  const body: { message: string; invalidParameter?: string } = { message: error.message };
  if (error.invalidParameter !== undefined) body.invalidParameter = error.invalidParameter;
  return reply.type('application/json').send(JSON.stringify(body));
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

function stackFrames(error: unknown): string | undefined {
  const stack = (error as Error | undefined)?.stack;
  return stack?.split('\n').slice(1).join('\n');
}
