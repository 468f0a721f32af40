import { randomUUID } from 'node:crypto';

import cors from '@fastify/cors';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';

import { SignatureVerifier } from '../auth/signature.js';
import { authenticate } from '../auth/sigv4.js';
import type { CredentialSet } from '../auth/credentials.js';
import type { RequestContext } from '../domain/context.js';
import { internalError, jsonError, ServiceError, unauthorized, badRequest, notFound } from '../domain/errors.js';
import type { JsonOperation, RestOperation, Services } from '../api/types.js';
import { kafkaOperations } from '../api/kafka/index.js';
import { secretsManagerOperations } from '../api/secretsmanager/index.js';
import { kmsOperations } from '../api/kms/index.js';

/** Headers the AWS SDKs send from a browser, which a CORS preflight must allow. */
export const CORS_ALLOWED_HEADERS = [
  'authorization',
  'content-type',
  'x-amz-date',
  'x-amz-security-token',
  'x-amz-user-agent',
  'x-amz-target',
  'amz-sdk-invocation-id',
  'amz-sdk-request',
  'x-amz-content-sha256',
];
const CORS_EXPOSED_HEADERS = ['x-amzn-RequestId', 'x-amzn-ErrorType', 'x-amz-apigw-id', 'Date'];

export interface AppOptions {
  services: Services;
  credentials: CredentialSet;
  logger: Logger;
  corsAllowedOrigins: string[];
  /** Off only to measure what verification costs; every real deployment verifies. */
  verifySignatures: boolean;
}

type Protocol = 'rest-json' | 'json';

interface JsonService {
  signingName: string;
  operations: Record<string, JsonOperation>;
}

/** JSON 1.1 services, by the prefix of their `X-Amz-Target` header. */
const JSON_SERVICES: Record<string, JsonService> = {
  secretsmanager: { signingName: 'secretsmanager', operations: secretsManagerOperations },
  TrentService: { signingName: 'kms', operations: kmsOperations },
};

declare module 'fastify' {
  interface FastifyRequest {
    awsProtocol: Protocol;
  }
}

/**
 * The one HTTP endpoint: MSK's REST-JSON paths under /v1 and /api/v2, and the JSON 1.1 APIs
 * of Secrets Manager and KMS on POST /, told apart by `X-Amz-Target`, as AWS clients address
 * them. Every response carries `x-amzn-RequestId`; every error is rendered in its protocol's
 * AWS shape.
 */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => randomUUID(),
    bodyLimit: 1024 * 1024,
    // A percent-encoded cluster ARN alone runs to ~180 characters, past the default of 100.
    routerOptions: {
      ignoreTrailingSlash: true,
      ignoreDuplicateSlashes: false,
      maxParamLength: 2048,
    },
    // The router refuses a malformed or over-long path before any hook runs; the answer must
    // still be an AWS error with a request id.
    frameworkErrors: (error, request, reply) => {
      reply.header('x-amzn-RequestId', request.id);
      sendError(request, reply, toServiceError(error, request));
    },
  });

  app.decorateRequest('awsProtocol', 'rest-json');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-amzn-RequestId', request.id);
    if (request.method === 'POST' && request.headers['x-amz-target'] !== undefined) request.awsProtocol = 'json';
  });

  await app.register(cors, {
    origin: options.corsAllowedOrigins.includes('*') ? '*' : options.corsAllowedOrigins,
    methods: ['GET', 'POST', 'PATCH', 'PUT', 'DELETE', 'OPTIONS'],
    allowedHeaders: CORS_ALLOWED_HEADERS,
    exposedHeaders: CORS_EXPOSED_HEADERS,
    maxAge: 86400,
    strictPreflight: false,
    optionsSuccessStatus: 200,
  });

  app.setErrorHandler((error, request, reply) => sendError(request, reply, toServiceError(error, request)));
  app.setNotFoundHandler((request, reply) =>
    sendError(request, reply, notFound(`No operation matches ${request.method} ${request.url.split('?')[0]}.`)),
  );

  const verifier = options.verifySignatures ? new SignatureVerifier() : undefined;
  const authorize = (request: FastifyRequest, signingName: string): Promise<RequestContext> =>
    authorizeRequest(options, verifier, request, signingName);
  for (const operation of kafkaOperations) registerRest(app, options, authorize, operation);
  app.post('/', (request, reply) => handleJson(options, authorize, request, reply));
  return app;
}

type Authorize = (request: FastifyRequest, signingName: string) => Promise<RequestContext>;

function registerRest(
  app: FastifyInstance,
  options: AppOptions,
  authorize: Authorize,
  operation: RestOperation,
): void {
  app.route({
    method: operation.method,
    url: operation.path,
    handler: async (request, reply) => {
      const context = await authorize(request, 'kafka');
      const result = await operation.handle(options.services, {
        context,
        params: request.params as Record<string, string>,
        query: request.query as Record<string, string | string[] | undefined>,
        body: parseRestBody(request.body),
      });
      const statusCode = result.statusCode ?? 200;
      reply.code(statusCode);
      if (result.body === undefined || statusCode === 204) return reply.send();
      return reply.type('application/json').send(JSON.stringify(result.body));
    },
  });
}

async function handleJson(
  options: AppOptions,
  authorize: Authorize,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  const target = String(request.headers['x-amz-target'] ?? '');
  const [prefix, operationName] = target.split('.', 2);
  const service = prefix === undefined ? undefined : JSON_SERVICES[prefix];
  const operation = service && operationName ? service.operations[operationName] : undefined;
  if (!service || !operation) {
    throw jsonError('UnknownOperationException', `The operation ${target || '(none)'} is not served here.`);
  }
  const context = await authorize(request, service.signingName);
  const input = parseJsonBody(request.body);
  const output = await operation(options.services, context, input);
  reply.type('application/x-amz-json-1.1').send(JSON.stringify(output ?? {}));
}

async function authorizeRequest(
  options: AppOptions,
  verifier: SignatureVerifier | undefined,
  request: FastifyRequest,
  signingName: string,
): Promise<RequestContext> {
  const result = authenticate(
    options.credentials,
    request.headers.authorization,
    request.query as Record<string, unknown>,
    signingName,
  );
  if (result.ok && verifier) {
    const problem = await verifier.verify(
      {
        method: request.method,
        url: request.url,
        headers: request.headers,
        body: Buffer.isBuffer(request.body) ? request.body : undefined,
      },
      result.claims,
      result.credential,
      request.headers.authorization === undefined,
    );
    if (problem !== undefined) {
      if (request.awsProtocol === 'rest-json') throw unauthorized(problem);
      throw jsonError('InvalidSignatureException', problem, 403);
    }
  }
  if (!result.ok) {
    if (request.awsProtocol === 'rest-json') throw unauthorized(result.detail);
    const type = result.failure === 'missing'
      ? 'MissingAuthenticationTokenException'
      : result.failure === 'unknown-key'
        ? 'UnrecognizedClientException'
        : result.failure === 'wrong-service'
          ? 'InvalidSignatureException'
          : 'IncompleteSignatureException';
    throw jsonError(type, result.detail, result.failure === 'malformed' ? 400 : 403);
  }
  return {
    accountId: result.credential.accountId,
    region: result.claims.region,
    accessKeyId: result.credential.accessKeyId,
    requestId: request.id,
  };
}

function parseRestBody(body: unknown): unknown {
  if (!Buffer.isBuffer(body) || body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw badRequest('The request body is not valid JSON.');
  }
}

function parseJsonBody(body: unknown): Record<string, unknown> {
  if (!Buffer.isBuffer(body) || body.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw jsonError('SerializationException', 'The request body is not valid JSON.');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw jsonError('SerializationException', 'The request body must be a JSON object.');
  }
  return parsed as Record<string, unknown>;
}

function toServiceError(error: unknown, request: FastifyRequest): ServiceError {
  if (error instanceof ServiceError) return error;
  const fastifyError = error as { statusCode?: number; code?: string };
  if (fastifyError.statusCode === 413) {
    return request.awsProtocol === 'json'
      ? jsonError('ValidationException', 'The request body is too large.')
      : badRequest('The request body is too large.');
  }
  if (fastifyError.statusCode !== undefined && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return request.awsProtocol === 'json'
      ? jsonError('ValidationException', 'The request could not be read.')
      : badRequest('The request could not be read.');
  }
  request.log.error(
    // The message line is left out: an unexpected error's message may quote request data.
    { event: 'request.failed', requestId: request.id, errorName: (error as Error)?.name, frames: stackFrames(error) },
    'unexpected failure',
  );
  if (request.awsProtocol !== 'json') return internalError();
  // Secrets Manager and KMS each name a server fault their own way; their SDKs map only
  // that name to the modelled exception class.
  const target = String(request.headers['x-amz-target'] ?? '');
  const type = target.startsWith('TrentService.') ? 'KMSInternalException' : 'InternalServiceError';
  return jsonError(type, internalError().message, 500);
}

function sendError(request: FastifyRequest, reply: FastifyReply, error: ServiceError): FastifyReply {
  reply.code(error.statusCode);
  reply.header('x-amzn-ErrorType', error.type);
  for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
  if (request.awsProtocol === 'json') {
    return reply
      .type('application/x-amz-json-1.1')
      .send(JSON.stringify({ __type: error.type, message: error.message }));
  }
  const body: { message: string; invalidParameter?: string } = { message: error.message };
  if (error.invalidParameter !== undefined) body.invalidParameter = error.invalidParameter;
  return reply.type('application/json').send(JSON.stringify(body));
}

function stackFrames(error: unknown): string | undefined {
  const stack = (error as Error | undefined)?.stack;
  return stack?.split('\n').slice(1).join('\n');
}
