import * as crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';

import Fastify from 'fastify';

/** A response as captured from the service: its status, its headers in order, its body. */
export interface RecordedResponse {
  statusCode: number;
  headers: Array<[string, string]>;
  bodyBase64: string;
}

/**
 * Headers Node.js writes by itself from the connection's state. Replaying them as well would
 * send them twice; leaving them to Node produces the same values the service sent.
 */
const CONNECTION_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding']);

/** The keep-alive timeout Fastify gives its server, so that both servers keep sockets alike. */
const FASTIFY_KEEP_ALIVE_TIMEOUT_MS = 72_000;

interface Options {
  recordingPath: string;
  /** Answer through a Fastify route instead of a bare `node:http` handler. */
  fastify: boolean;
  /** Microseconds of busy work before each answer, to calibrate what work alone costs. */
  workMicroseconds: number;
  /** Before each answer, the cryptography a SigV4 check makes, on inputs of its size. */
  hashes: boolean;
}

/**
 * The baselines for the ListScramSecrets benchmark: a server that answers every request with
 * one recorded response. By default a bare `node:http` handler sends it byte for byte; with
 * `--fastify` a Fastify route sends the same body, to show what the framework alone costs;
 * with `--work-us=N` each answer first spins N microseconds, to show what a fixed amount of
 * work per request does to throughput; with `--hashes` each answer first makes the
 * cryptography of one SigV4 check and nothing else of it (see `signatureHashes`), the least
 * any check costs. Run as its own process; it listens on a free loopback port and writes that
 * port to stdout as one JSON line.
 */
async function main(options: Options): Promise<void> {
  const recorded = JSON.parse(readFileSync(options.recordingPath, 'utf8')) as RecordedResponse;
  const body = Buffer.from(recorded.bodyBase64, 'base64');
  const headers = recorded.headers.filter(([name]) => !CONNECTION_HEADERS.has(name.toLowerCase()));
  const hashKey = crypto.createSecretKey(crypto.randomBytes(32));
  const work = (request: IncomingMessage): void => {
    spin(options.workMicroseconds);
    if (options.hashes) signatureHashes(request, hashKey);
  };

  let close: () => Promise<void>;
  let port: number;
  if (options.fastify) {
    const app = Fastify();
    const replayed = Object.fromEntries(headers.filter(([name]) => !isFastifyOwn(name)));
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, payload, done) =>
      done(null, payload),
    );
    app.all('*', (request, reply) => {
      work(request.raw);
      reply.code(recorded.statusCode).headers(replayed).send(body);
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    app.server.keepAliveTimeout = FASTIFY_KEEP_ALIVE_TIMEOUT_MS;
    port = (app.server.address() as { port: number }).port;
    close = () => app.close();
  } else {
    const flat = headers.flat();
    const server = createServer((request, response) => {
      // The body is drained so that a keep-alive socket is ready for the next request.
      request.resume();
      work(request);
      response.writeHead(recorded.statusCode, flat);
      response.end(body);
    });
    server.keepAliveTimeout = FASTIFY_KEEP_ALIVE_TIMEOUT_MS;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
    close = () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
  }
  process.stdout.write(`${JSON.stringify({ port })}\n`);

  const stop = (): void => void close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/** Headers Fastify computes itself from the body it sends. */
function isFastifyOwn(name: string): boolean {
  return ['content-length', 'date'].includes(name.toLowerCase());
}

/**
 * What a SigV4 check hashes, and no more: one SHA-256 over a text the size of the canonical
 * request (the method, the target and the received headers), one HMAC-SHA256 under a key
 * derived once, over a text the size of the string to sign, and a constant-time comparison.
 * Building the canonical request itself is left out, so this is the floor of any check.
 */
function signatureHashes(request: IncomingMessage, key: crypto.KeyObject): boolean {
  const canonicalSized = `${request.method}\n${request.url}\n${request.rawHeaders.join('\n')}`;
  // One-shot `crypto.hash` (Node 20.12 and later), as the service's check uses where it can.
  const requestHash =
    typeof crypto.hash === 'function'
      ? crypto.hash('sha256', canonicalSized, 'hex')
      : crypto.createHash('sha256').update(canonicalSized).digest('hex');
  const scope = '20260101/us-east-1/kafka/aws4_request';
  const stringToSign = `AWS4-HMAC-SHA256\n20260101T000000Z\n${scope}\n${requestHash}`;
  const expected = crypto.createHmac('sha256', key).update(stringToSign).digest();
  return crypto.timingSafeEqual(expected, Buffer.from(requestHash.slice(0, 64), 'hex'));
}

function spin(microseconds: number): void {
  if (microseconds <= 0) return;
  const until = process.hrtime.bigint() + BigInt(microseconds) * 1000n;
  while (process.hrtime.bigint() < until);
}

function parseArguments(argv: string[]): Options | undefined {
  const [recordingPath, ...flags] = argv;
  if (recordingPath === undefined) return undefined;
  const options: Options = { recordingPath, fastify: false, workMicroseconds: 0, hashes: false };
  for (const flag of flags) {
    const work = /^--work-us=(\d{1,6})$/.exec(flag);
    if (flag === '--fastify') options.fastify = true;
    else if (flag === '--hashes') options.hashes = true;
    else if (work) options.workMicroseconds = Number(work[1]);
    else return undefined;
  }
  return options;
}

const options = parseArguments(process.argv.slice(2));
if (options === undefined) {
  process.stderr.write(
    'usage: bare-http-server.js RECORDED_RESPONSE.json [--fastify] [--work-us=N] [--hashes]\n',
  );
  process.exitCode = 1;
} else {
  main(options).catch((error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
}
