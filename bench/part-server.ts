import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import type { RecordedResponse } from './bare-http-server.js';
import { loadCredentials } from '../src/auth/credentials.js';
import { Gate } from '../src/auth/gate.js';
import { loadConfig } from '../src/config/config.js';
import { loadOrCreateMasterKey } from '../src/crypto/master-key.js';
import { createServices, openStore } from '../src/server.js';

/** Headers Node.js writes by itself, or that this server computes from its own body. */
const OWN_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length']);
const FASTIFY_KEEP_ALIVE_TIMEOUT_MS = 72_000;

type Part = 'sigv4' | 'page';

/**
 * One part of the service's work per ListScramSecrets request, done by the service's own code
 * on a bare `node:http` server, to show what that part alone costs in throughput:
 *
 * - `--sigv4`: the signature check the service makes (its Gate: parsing, the canonical
 *   request, SHA-256, HMAC), then the recorded response, byte for byte;
 * - `--page`: the page the service reads (its ScramSecretService: the SQL query on its SQLite
 *   store, the sealed nextToken), sent as JSON with the recorded headers, with no signature
 *   check.
 *
 * The configuration comes from the same SCRAM_SECRETS_* variables the service reads; `--page`
 * needs its own copy of the data dir. Listens on a free loopback port and writes it to
 * stdout as one JSON line. A request the part refuses gets a 403, which fails the benchmark.
 */
async function main(recordingPath: string, part: Part): Promise<void> {
  const recorded = JSON.parse(readFileSync(recordingPath, 'utf8')) as RecordedResponse;
  const recordedBody = Buffer.from(recorded.bodyBase64, 'base64');
  const headers = recorded.headers.filter(([name]) => !OWN_HEADERS.has(name.toLowerCase()));
  const config = loadConfig();
  const credentials = loadCredentials(config.credentials, config.principals, config.dataDir);
  const noLimit = { rate: 0, burst: 0 };
  const gate = new Gate({
    credentials,
    verifySignatures: true,
    throttle: { read: noLimit, write: noLimit },
  });
  const principal = [...credentials.byAccessKeyId.values()][0]!;
  const store = part === 'page' ? await openStore(config) : undefined;
  const services =
    store === undefined
      ? undefined
      : createServices(store, loadOrCreateMasterKey(config.masterKeyFile), config);

  const server = createServer((request, response) => {
    request.resume();
    const answer = (body: Buffer | string): void => {
      response.writeHead(200, [
        ...headers.flat(),
        'content-length',
        String(Buffer.byteLength(body)),
      ]);
      response.end(body);
    };
    const refuse = (error: unknown): void => {
      response.writeHead(403, { 'content-type': 'text/plain' });
      response.end(`The ${part} part refused the request: ${(error as Error).message}`);
    };
    const [path = '', rawQuery = ''] = (request.url ?? '').split('?', 2);
    if (part === 'sigv4') {
      const query = Object.fromEntries(new URLSearchParams(rawQuery));
      const received = {
        id: 'bench',
        method: request.method ?? 'GET',
        url: request.url ?? '/',
        headers: request.headers,
        query,
        body: undefined,
      };
      gate.admit(received, 'rest-json', 'kafka').then(() => answer(recordedBody), refuse);
      return;
    }
    // /v1/clusters/{clusterArn}/scram-secrets, the ARN percent-encoded in one segment.
    const clusterArn = decodeURIComponent(path.split('/')[3] ?? '');
    const maxResults = Number(new URLSearchParams(rawQuery).get('maxResults') ?? '100');
    const scope = { accountId: principal.accountId, region: 'us-east-1' };
    services!.scramSecrets
      .list(scope, clusterArn, maxResults)
      .then((page) => answer(JSON.stringify(page)), refuse);
  });
  server.keepAliveTimeout = FASTIFY_KEEP_ALIVE_TIMEOUT_MS;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.stdout.write(
    `${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`,
  );
  const stop = (): void => {
    server.close();
    server.closeAllConnections();
    void (store?.close() ?? Promise.resolve()).then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

const [recordingPath, flag] = process.argv.slice(2);
const part = flag === '--sigv4' ? 'sigv4' : flag === '--page' ? 'page' : undefined;
if (recordingPath === undefined || part === undefined) {
  process.stderr.write('usage: part-server.js RECORDED_RESPONSE.json --sigv4|--page\n');
  process.exitCode = 1;
} else {
  main(recordingPath, part).catch((error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
}
