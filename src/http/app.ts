import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

import cors from '@fastify/cors';
import underPressure from '@fastify/under-pressure';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Logger } from 'pino';

import { queryResponse } from './query.js';
import { resourceOfJsonCall } from './resources.js';
import { sendError, toServiceError } from './errors.js';
import { kafkaOperations } from '../api/kafka/index.js';
import { kmsOperations } from '../api/kms/index.js';
import { secretsManagerOperations } from '../api/secretsmanager/index.js';
import { getCallerIdentity } from '../api/sts/index.js';
import type { JsonOperation, RestOperation, Services } from '../api/types.js';
import type { CredentialSet } from '../auth/credentials.js';
import { Gate, type CallKind, type Protocol } from '../auth/gate.js';
import type { BucketSettings } from '../auth/throttle.js';
import type { RequestContext } from '../domain/context.js';
import {
  badRequest,
  jsonError,
  notFound,
  queryFault,
  serviceUnavailable,
  type ServiceError,
} from '../domain/errors.js';
import type { AuditEvent, AuditLog } from '../observability/audit.js';

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
/** How long no request may have arrived before a shutdown closes the listener. */
const SHUTDOWN_QUIET_MS = 250;
/** The longest the listener stays open for newcomers once nothing is in flight. */
const SHUTDOWN_DRAIN_MS = 2000;
/** The longest a request may take to arrive when the configuration does not say. */
const DEFAULT_REQUEST_TIMEOUT_MS = 20_000;
/** How often Node looks for requests past their time; its own default is 30 s. */
const REQUEST_TIMEOUT_CHECK_MS = 1000;
/** Reason phrases of the statuses written straight to a socket too broken for Fastify. */
const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
};

export interface AppOptions {
  services: Services;
  credentials: CredentialSet;
  logger: Logger;
  corsAllowedOrigins: string[];
  /** Off only to measure what verification costs; every real deployment verifies. */
  verifySignatures: boolean;
  throttle?: { read: BucketSettings; write: BucketSettings };
  maxInFlight?: number;
  maxEventLoopDelayMs?: number;
  /** How long a client may take to send a whole request, headers and body. */
  requestTimeoutMs?: number;
  audit?: AuditLog;
}

export interface App {
  fastify: FastifyInstance;
  /**
   * From now on new requests are answered 503, and every answer closes its connection;
   * resolves once the requests in flight have finished.
   */
  beginShutdown(): Promise<void>;
}

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
 * The one HTTP endpoint: MSK's REST-JSON paths under /v1 and /api/v2, the JSON 1.1 APIs of
 * Secrets Manager and KMS on POST /, told apart by `X-Amz-Target`, and STS's GetCallerIdentity
 * (the query protocol: a form on POST /, or GET /?Action=…), as AWS clients address them.
 * Every response carries `x-amzn-RequestId`; every error is rendered in its protocol's AWS
 * shape.
 */
export async function buildApp(options: AppOptions): Promise<App> {
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const inFlight = new Set<ServerResponse>();
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => randomUUID(),
    bodyLimit: 1024 * 1024,
    // A client that never finishes its request would hold its place among those in flight
    // (and hold up a shutdown) for good: past this it is answered 408 and disconnected.
    requestTimeout: requestTimeoutMs,
    http: {
      headersTimeout: Math.min(requestTimeoutMs, 60_000),
      connectionsCheckingInterval: Math.min(REQUEST_TIMEOUT_CHECK_MS, requestTimeoutMs),
    },
    // Shutdown answers newcomers itself, in the AWS shape.
    return503OnClosing: false,
    // A percent-encoded cluster ARN alone runs to ~180 characters, past the default of 100.
    routerOptions: {
      ignoreTrailingSlash: true,
      ignoreDuplicateSlashes: false,
      maxParamLength: 2048,
    },
    // The router refuses a malformed or over-long path before any hook runs; the answer must
    // still be an AWS error with a request id.
    frameworkErrors: (error, request, reply) => {
      refuseEarly(reply);
      allowOrigin(options.corsAllowedOrigins, request, reply);
      sendError(request, reply, toServiceError(error, request));
    },
    clientErrorHandler: (error, socket) => answerUnreadableRequest(options.logger, error, socket),
  });
  const gate = new Gate({
    credentials: options.credentials,
    verifySignatures: options.verifySignatures,
    throttle: options.throttle ?? { read: { rate: 0, burst: 0 }, write: { rate: 0, burst: 0 } },
  });

  app.decorateRequest('awsProtocol', 'rest-json');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  let closing = false;
  let lastArrival = 0;
  const maxInFlight = options.maxInFlight ?? 1024;
  // Callbacks rather than async hooks: every request passes here, and a promise per request
  // is a cost these hooks need not pay.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-amzn-RequestId', request.id);
    // Every request passes here: the root is told apart without splitting the URL.
    if (request.url === '/' || request.url.startsWith('/?')) {
      if (request.method === 'POST') request.awsProtocol = isQueryForm(request) ? 'query' : 'json';
      // A query-protocol call may also come as GET, its parameters in the query string, as a
      // presigned GetCallerIdentity URL does (`aws eks get-token` makes one).
      else if (request.method === 'GET' && isQueryGet(request)) request.awsProtocol = 'query';
    }
    done();
  });

  // CORS comes before every refusal below, so that a browser sees the AWS error (a 503
  // while shutting down or overloaded) rather than a bare network failure.
  await app.register(cors, {
    origin: options.corsAllowedOrigins.includes('*') ? '*' : options.corsAllowedOrigins,
    methods: ['GET', 'POST', 'PATCH', 'PUT', 'DELETE', 'OPTIONS'],
    allowedHeaders: CORS_ALLOWED_HEADERS,
    exposedHeaders: CORS_EXPOSED_HEADERS,
    maxAge: 86400,
    strictPreflight: false,
    optionsSuccessStatus: 200,
  });

  await app.register(underPressure, {
    maxEventLoopDelay: options.maxEventLoopDelayMs ?? 1000,
    retryAfter: 1,
    pressureHandler: (request, reply) => {
      refuseEarly(reply);
      sendError(request, reply, serviceUnavailable('The service is overloaded. Retry shortly.', 1));
    },
  });

  app.addHook('onRequest', (_request, reply, done) => {
    if (closing) {
      lastArrival = Date.now();
      refuseEarly(reply);
      const message = 'The service is shutting down. Retry against another replica or shortly.';
      done(serviceUnavailable(message, 1));
      return;
    }
    const response = reply.raw;
    inFlight.add(response);
    response.once('close', () => inFlight.delete(response));
    if (inFlight.size > maxInFlight) {
      refuseEarly(reply);
      done(serviceUnavailable('The service has too many requests in flight. Retry shortly.', 1));
      return;
    }
    done();
  });

  app.setErrorHandler((error, request, reply) =>
    sendError(request, reply, toServiceError(error, request)),
  );
  app.setNotFoundHandler((request, reply) =>
    sendError(
      request,
      reply,
      notFound(`No operation matches ${request.method} ${request.url.split('?')[0]}.`),
    ),
  );

  app.get('/health', async () => ({ status: 'ok' }));
  for (const operation of kafkaOperations) registerRest(app, options, gate, operation);
  app.post('/', (request, reply) =>
    request.awsProtocol === 'query'
      ? handleQuery(gate, request, reply)
      : handleJson(options, gate, request, reply),
  );
  app.get('/', (request, reply) => {
    if (request.awsProtocol === 'query') return handleQuery(gate, request, reply);
    throw notFound('No operation matches GET /.');
  });

  return {
    fastify: app,
    beginShutdown: async () => {
      closing = true;
      lastArrival = Date.now();
      // A client that kept this connection for its next call would find it closed under
      // that call, and could not tell whether it ran; told now, it opens a new one.
      for (const response of inFlight) {
        if (!response.headersSent) response.shouldKeepAlive = false;
      }
      // Closing the listener also drops the idle keep-alive connections, under any call a
      // client is sending on one. A quiet spell first lets active clients make that call,
      // hear 503 with `Connection: close`, and go.
      // Under steady traffic no spell is ever quiet: by the end of the drain window every
      // client has heard its 503, and only the calls in flight are waited for.
      const drainEnds = Date.now() + SHUTDOWN_DRAIN_MS;
      const quietOrDrained = () =>
        Date.now() - lastArrival >= SHUTDOWN_QUIET_MS || Date.now() >= drainEnds;
      while (inFlight.size > 0 || !quietOrDrained()) {
        await sleep(SHUTDOWN_QUIET_MS / 10);
      }
    },
  };
}

/**
 * An answer given before the request's body has been read closes the connection after it:
 * the rest of the body is never read, and a client that never sends it holds no connection
 * until its request times out, to be answered a second time.
 */
function refuseEarly(reply: FastifyReply): void {
  reply.header('connection', 'close');
}

/**
 * The CORS headers of an answer given before any hook runs (a path the router refuses), so
 * that a browser still sees the AWS error; the CORS plugin sets them on every other answer.
 */
function allowOrigin(allowed: string[], request: FastifyRequest, reply: FastifyReply): void {
  const origin = request.headers.origin;
  if (allowed.includes('*')) {
    reply.header('access-control-allow-origin', '*');
  } else if (origin !== undefined && allowed.includes(origin)) {
    reply.header('access-control-allow-origin', origin);
    reply.header('vary', 'Origin');
  } else {
    return;
  }
  reply.header('access-control-expose-headers', CORS_EXPOSED_HEADERS.join(', '));
}

function registerRest(
  app: FastifyInstance,
  options: AppOptions,
  gate: Gate,
  operation: RestOperation,
): void {
  const action = `kafka:${operation.name}`;
  const kind: CallKind = operation.method === 'GET' ? 'read' : 'write';
  app.route({
    method: operation.method,
    url: operation.path,
    handler: async (request, reply) => {
      const context = await gate.admit(received(request), 'rest-json', 'kafka');
      const params = request.params as Record<string, string>;
      const resource = params.clusterArn ?? params.resourceArn ?? params.clusterOperationArn ?? '*';
      const result = await audited(
        options,
        context,
        kind,
        action,
        () => resource,
        async () => {
          gate.throttle(context, 'rest-json', kind);
          gate.authorize(context, 'rest-json', action, resource);
          return operation.handle(options.services, {
            context,
            params,
            query: request.query as Record<string, string | string[] | undefined>,
            body: parseRestBody(request.body),
          });
        },
      );
      const statusCode = result.statusCode ?? 200;
      reply.code(statusCode);
      if (result.body === undefined || statusCode === 204) return reply.send();
      return reply.type('application/json').send(JSON.stringify(result.body));
    },
  });
}

async function handleJson(
  options: AppOptions,
  gate: Gate,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  const target = String(request.headers['x-amz-target'] ?? '');
  const match = /^([A-Za-z]+)\.([A-Za-z0-9]+)$/.exec(target);
  const [, prefix = '', operationName = ''] = match ?? [];
  // Only the tables' own entries: a name such as `constructor` must never reach an object's
  // prototype.
  const service = Object.hasOwn(JSON_SERVICES, prefix) ? JSON_SERVICES[prefix] : undefined;
  const operation =
    service && Object.hasOwn(service.operations, operationName)
      ? service.operations[operationName]
      : undefined;
  if (!service || !operation) {
    throw jsonError(
      'UnknownOperationException',
      target === ''
        ? 'The request names no operation: a JSON 1.1 call names it in X-Amz-Target ' +
            '(secretsmanager.<Operation> or TrentService.<Operation>).'
        : `The operation ${target.slice(0, 128)} is not served here.`,
    );
  }
  const kind: CallKind = /^(List|Describe|Get)/.test(operationName) ? 'read' : 'write';
  const context = await gate.admit(received(request), 'json', service.signingName);
  const input = parseJsonBody(request.body);
  const action = `${service.signingName}:${operationName}`;
  // Until the throttle has let the call through, no store read is spent on its resource: a
  // throttled call is audited against `*`.
  let resource = '*';
  const output = await audited(
    options,
    context,
    kind,
    action,
    () => resource,
    async () => {
      gate.throttle(context, 'json', kind);
      if (gate.needsResource(context.accessKeyId) || (kind === 'write' && options.audit)) {
        resource = await resourceOfJsonCall(
          options.services,
          context,
          service.signingName,
          operationName,
          input,
        );
      }
      gate.authorize(context, 'json', action, resource);
      return operation(options.services, context, input);
    },
  );
  reply.type('application/x-amz-json-1.1').send(JSON.stringify(output ?? {}));
}

/**
 * A query-protocol request (STS, as the AWS CLI, the SDKs and Terraform's provider send it): a
 * form on POST / with no `X-Amz-Target`.
 */
function isQueryForm(request: FastifyRequest): boolean {
  if (request.headers['x-amz-target'] !== undefined) return false;
  const type = request.headers['content-type'] ?? '';
  return type.split(';', 1)[0]!.trim().toLowerCase() === 'application/x-www-form-urlencoded';
}

/**
 * A GET / that is STS's: it names an Action or a Version, or is signed for STS. One that names
 * no Action is then refused in STS's own words (MissingAction), not as an unknown MSK path.
 */
function isQueryGet(request: FastifyRequest): boolean {
  const query = request.query as Record<string, unknown> | undefined;
  if (query === undefined) return false;
  if (Object.hasOwn(query, 'Action') || Object.hasOwn(query, 'Version')) return true;
  const scope = Object.hasOwn(query, 'X-Amz-Credential')
    ? query['X-Amz-Credential']
    : request.headers.authorization;
  return typeof scope === 'string' && scope.includes('/sts/aws4_request');
}

/**
 * STS's GetCallerIdentity, which tools call to learn the account their keys belong to
 * (Terraform's provider does so when it starts, unless told not to). It is the one
 * query-protocol operation served; it needs no permission, as on AWS.
 */
async function handleQuery(
  gate: Gate,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  // The parameters may come in the query string, the form, or both; AWS reads them all.
  const body = Buffer.isBuffer(request.body) ? request.body.toString('utf8') : '';
  const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?') + 1) : '';
  const actions = [
    ...new URLSearchParams(query).getAll('Action'),
    ...new URLSearchParams(body).getAll('Action'),
  ];
  if (actions.length > 1) {
    throw queryFault('ValidationError', 'The request names its Action more than once.');
  }
  const action = actions[0] ?? '';
  if (action !== 'GetCallerIdentity') {
    const served = 'Of the query-protocol APIs, this service answers only STS GetCallerIdentity.';
    if (action === '') throw queryFault('MissingAction', `The request names no Action. ${served}`);
    // Only a name is repeated back: the parameter is the caller's text.
    const named = /^[A-Za-z0-9]{1,64}$/.test(action) ? `The action ${action}` : 'This action';
    throw queryFault('InvalidAction', `${named} is not served here. ${served}`);
  }
  const context = await gate.admit(received(request), 'query', 'sts');
  gate.throttle(context, 'query', 'read');
  reply
    .type('text/xml')
    .send(queryResponse('GetCallerIdentity', getCallerIdentity(context), request.id));
}

/** Attempts at an audit row, and the pause before each retry. */
const AUDIT_RETRY_DELAYS_MS = [50, 250];

/**
 * Runs a call; a mutating one, allowed, refused or throttled, is recorded in the audit log
 * before the answer. The row is written after the change's own transaction, so by then the
 * change stands: a row that cannot be written is retried, then logged as `audit.write_failed`
 * at error, and the caller still gets the answer the call earned, never a failure for a
 * change that was made.
 */
async function audited<T>(
  options: AppOptions,
  context: RequestContext,
  kind: CallKind,
  action: string,
  resource: () => string,
  run: () => Promise<T>,
): Promise<T> {
  if (kind === 'read' || !options.audit) return run();
  const audit = options.audit;
  const record = (outcome: string, onResource: string): Promise<void> =>
    recordWithRetries(options.logger, audit, {
      time: Date.now(),
      requestId: context.requestId,
      accountId: context.accountId,
      principal: context.principalArn,
      action,
      resource: onResource,
      outcome,
    });
  let result: T;
  try {
    result = await run();
  } catch (error) {
    const type = (error as Partial<ServiceError>).type ?? 'InternalServerErrorException';
    await record(type, resource());
    throw error;
  }
  // The answer names the resource in full where the request could not: the secret that
  // CreateSecret made, with its suffix, or the cluster that CreateCluster made.
  await record('success', resourceInAnswer(result) ?? resource());
  return result;
}

async function recordWithRetries(logger: Logger, audit: AuditLog, event: AuditEvent) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      await audit.record(event);
      return;
    } catch (error) {
      const fields = {
        event: 'audit.write_failed',
        requestId: event.requestId,
        principal: event.principal,
        action: event.action,
        resource: event.resource,
        outcome: event.outcome,
        attempt: attempt + 1,
        error: storeErrorSummary(error),
      };
      const delay = AUDIT_RETRY_DELAYS_MS[attempt];
      if (delay === undefined) {
        logger.error(fields, 'the call is done but its audit row could not be written');
        return;
      }
      logger.warn({ ...fields, event: 'audit.write_retried' }, 'audit row not written, retrying');
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/** A store error's kind and message; audit rows hold no secret, and neither does this. */
function storeErrorSummary(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? `${code}: ${error.message}` : error.message;
}

/** A call that creates a resource names it only in its answer; the audit log names it too. */
/** The ARN an answer names as the resource acted on (the same one, or a new one). */
function resourceInAnswer(result: unknown): string | undefined {
  const output = result as
    | {
        body?: { clusterArn?: unknown };
        ARN?: unknown;
        KeyMetadata?: { Arn?: unknown };
      }
    | undefined;
  const arn = output?.body?.clusterArn ?? output?.ARN ?? output?.KeyMetadata?.Arn;
  return typeof arn === 'string' ? arn : undefined;
}

function received(request: FastifyRequest) {
  return {
    id: request.id,
    method: request.method,
    url: request.url,
    headers: request.headers,
    query: request.query as Record<string, unknown>,
    body: Buffer.isBuffer(request.body) ? request.body : undefined,
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

/**
 * A request too malformed for HTTP parsing (bad framing, headers past the size limit) still
 * gets an AWS-shaped answer with a request id. Only the error code is logged: the raw bytes
 * hold signatures and may hold secret values.
 */
function answerUnreadableRequest(
  logger: Logger,
  error: Error & { code?: string },
  socket: Duplex,
): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const requestId = randomUUID();
  logger.debug({ event: 'request.unreadable', requestId, code: error.code }, 'unreadable request');
  const status =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? 431
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? 408
        : 400;
  const message =
    status === 431
      ? 'The request headers are too large.'
      : status === 408
        ? 'The request took too long to arrive.'
        : 'The request is not well-formed HTTP.';
  const body = JSON.stringify({ message });
  // Closed outright once the answer is written: a client that neither reads nor closes must
  // not keep the connection, nor the place in flight of a request it never finished.
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Bad Request'}\r\n` +
      `x-amzn-RequestId: ${requestId}\r\nx-amzn-ErrorType: BadRequestException\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Connection: close\r\n\r\n${body}`,
    () => socket.destroy(),
  );
}
