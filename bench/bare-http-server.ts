import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

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

/**
 * The baseline for the ListScramSecrets benchmark: a bare `node:http` server that answers
 * every request with one recorded response, byte for byte. Run as its own process with the
 * path of a JSON-encoded `RecordedResponse`; it listens on a free loopback port and writes
 * that port to stdout as one JSON line.
 */
function main(recordingPath: string): void {
  const recorded = JSON.parse(readFileSync(recordingPath, 'utf8')) as RecordedResponse;
  const body = Buffer.from(recorded.bodyBase64, 'base64');
  const headers = recorded.headers
    .filter(([name]) => !CONNECTION_HEADERS.has(name.toLowerCase()))
    .flat();

  const server = createServer((request, response) => {
    // The body is drained so that a keep-alive socket is ready for the next request.
    request.resume();
    response.writeHead(recorded.statusCode, headers);
    response.end(body);
  });
  server.keepAliveTimeout = FASTIFY_KEEP_ALIVE_TIMEOUT_MS;
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    process.stdout.write(`${JSON.stringify({ port })}\n`);
  });

  const stop = (): void => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

const recordingPath = process.argv[2];
if (recordingPath === undefined) {
  process.stderr.write('usage: bare-http-server.js RECORDED_RESPONSE.json\n');
  process.exitCode = 1;
} else {
  main(recordingPath);
}
