import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { BatchAssociateScramSecretCommand } from '@aws-sdk/client-kafka';
import { build } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';

import { CORS_ALLOWED_HEADERS } from '../../src/http/app.js';
import { createKey, createMskSecret, createScramCluster } from '../support/fixtures.js';
import {
  ACCESS_KEY_ID,
  REGION,
  SECRET_ACCESS_KEY,
  startTestServer,
  type TestServer,
} from '../support/server.js';

/**
 * The browser case: a page on one origin calls the service on another through the AWS SDK for
 * JavaScript's browser build, so every call needs the CORS preflight to pass in real Chromium.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
// Nothing in the browser may reach beyond loopback.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The SDK calls the page makes, each answering with what it got or the error's name. */
const PAGE_ENTRY = `
import { KafkaClient, ListScramSecretsCommand } from '@aws-sdk/client-kafka';

window.listScramSecrets = async (input) => {
  const { endpoint, region, accessKeyId, secretAccessKey, clusterArn } = input;
  const client = new KafkaClient({
    endpoint,
    region,
    credentials: { accessKeyId, secretAccessKey },
    maxAttempts: 1,
  });
  try {
    const output = await client.send(new ListScramSecretsCommand({ ClusterArn: clusterArn }));
    return { secretArnList: output.SecretArnList, requestId: output.$metadata.requestId };
  } catch (error) {
    return { errorName: error.name, message: String(error.message) };
  }
};
`;

interface PageResult {
  secretArnList?: string[];
  requestId?: string;
  errorName?: string;
  message?: string;
}

interface Seeded {
  clusterArn: string;
  secretArns: string[];
}

let bundleDir: string;
let pages: PageServer;
let browser: Browser;

before(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is not at ${CHROMIUM}; the browser tests need it. Install it with ` +
        '`apt-get install -y chromium` (.ci/run does).',
    );
  }
  bundleDir = mkdtempSync(join(tmpdir(), 'scram-secrets-browser-'));
  const bundleFile = join(bundleDir, 'kafka-client.js');
  await build({
    stdin: { contents: PAGE_ENTRY, resolveDir: ROOT, sourcefile: 'page-entry.js' },
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    outfile: bundleFile,
    logLevel: 'silent',
  });
  pages = await startPageServer(readFileSync(bundleFile, 'utf8'));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  await pages?.close();
  if (bundleDir) rmSync(bundleDir, { recursive: true, force: true });
});

describe('with every origin allowed (the default)', () => {
  let service: TestServer;
  let seeded: Seeded;

  before(async () => {
    service = await startTestServer({ SCRAM_SECRETS_VERIFY_SIGNATURES: 'true' });
    seeded = await seedAssociatedSecrets(service);
  });
  after(async () => service?.stop());

  test('a page on another origin lists the secrets associated with a cluster', async () => {
    const pageOrigin = pages.origin('localhost');
    assert.notEqual(pageOrigin, new URL(service.url).origin);

    const result = await listFromPage(pageOrigin, service.url, seeded.clusterArn);

    assert.deepEqual(result, {
      secretArnList: [...seeded.secretArns].sort(),
      requestId: result.requestId,
    });
    assert.match(result.requestId ?? '', /^[0-9a-f-]{36}$/, 'x-amzn-RequestId must be exposed');
  });

  test('errors reach the page with their AWS type, not as a failed fetch', async () => {
    const pageOrigin = pages.origin('localhost');
    const unknownCluster = seeded.clusterArn.replace(/cluster\/[^/]+\//, 'cluster/gone/');

    const wrongKey = await listFromPage(pageOrigin, service.url, seeded.clusterArn, {
      secretAccessKey: `${SECRET_ACCESS_KEY}-but-wrong`,
    });
    const missing = await listFromPage(pageOrigin, service.url, unknownCluster);

    assert.equal(wrongKey.errorName, 'UnauthorizedException', wrongKey.message);
    assert.equal(missing.errorName, 'NotFoundException', missing.message);
  });

  test('a preflight on the scram-secrets path is answered 200 without credentials', async () => {
    const path = `/v1/clusters/${encodeURIComponent(seeded.clusterArn)}/scram-secrets`;
    const requestedHeaders = [
      'amz-sdk-invocation-id',
      'amz-sdk-request',
      'authorization',
      'content-type',
      'x-amz-content-sha256',
      'x-amz-date',
      'x-amz-security-token',
      'x-amz-user-agent',
    ];

    const response = await fetch(`${service.url}${path}`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://app.example',
        'access-control-request-method': 'PATCH',
        'access-control-request-headers': requestedHeaders.join(','),
      },
    });

    assert.equal(response.status, 200);
    assert.equal(response.headers.get('access-control-allow-origin'), '*');
    const methods = listHeader(response.headers.get('access-control-allow-methods'));
    for (const method of ['GET', 'POST', 'PATCH']) assert.ok(methods.includes(method), method);
    const allowedHeaders = listHeader(response.headers.get('access-control-allow-headers'));
    for (const header of requestedHeaders) {
      assert.ok(allowedHeaders.includes(header), `${header} is not allowed`);
      assert.ok(CORS_ALLOWED_HEADERS.includes(header));
    }
  });
});

describe('with SCRAM_SECRETS_CORS_ORIGINS naming one origin', () => {
  let service: TestServer;
  let seeded: Seeded;
  let allowedOrigin: string;

  before(async () => {
    allowedOrigin = pages.origin('localhost');
    service = await startTestServer({
      SCRAM_SECRETS_VERIFY_SIGNATURES: 'true',
      SCRAM_SECRETS_CORS_ORIGINS: allowedOrigin,
    });
    seeded = await seedAssociatedSecrets(service);
  });
  after(async () => service?.stop());

  test('a page on that origin lists the secrets', async () => {
    const result = await listFromPage(allowedOrigin, service.url, seeded.clusterArn);

    assert.deepEqual(result.secretArnList, [...seeded.secretArns].sort(), result.message);
  });

  test('a page on any other origin is stopped by the browser', async () => {
    const otherOrigin = pages.origin('127.0.0.1');
    assert.notEqual(otherOrigin, allowedOrigin);

    const result = await listFromPage(otherOrigin, service.url, seeded.clusterArn);

    assert.equal(result.secretArnList, undefined);
    assert.match(result.message ?? '', /fetch/i, 'the browser refuses the call before it is sent');
  });

  test('only the named origin is granted, in preflights and in answers', async () => {
    const path = `/v1/clusters/${encodeURIComponent(seeded.clusterArn)}/scram-secrets`;
    const preflight = (origin: string) =>
      fetch(`${service.url}${path}`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'GET',
          'access-control-request-headers': 'authorization,x-amz-date',
        },
      });

    const allowed = await preflight(allowedOrigin);
    const refused = await preflight('http://elsewhere.example');
    const unsignedGet = await fetch(`${service.url}${path}`, {
      headers: { origin: 'http://elsewhere.example' },
    });

    assert.equal(allowed.status, 200);
    assert.equal(allowed.headers.get('access-control-allow-origin'), allowedOrigin);
    assert.match(allowed.headers.get('vary') ?? '', /origin/i);
    assert.equal(refused.headers.get('access-control-allow-origin'), null);
    assert.equal(unsignedGet.status, 401);
    assert.equal(unsignedGet.headers.get('access-control-allow-origin'), null);
  });
});

/** Two secrets associated with a new SCRAM cluster, made through the Node.js SDK. */
async function seedAssociatedSecrets(service: TestServer): Promise<Seeded> {
  const kmsKeyId = await createKey(service.kms());
  const secrets = await Promise.all([
    createMskSecret(service.secretsManager(), { kmsKeyId }),
    createMskSecret(service.secretsManager(), { kmsKeyId }),
  ]);
  const clusterArn = await createScramCluster(service.kafka());
  const secretArns = secrets.map((secret) => secret.arn);
  const associated = await service
    .kafka()
    .send(
      new BatchAssociateScramSecretCommand({ ClusterArn: clusterArn, SecretArnList: secretArns }),
    );
  assert.deepEqual(associated.UnprocessedScramSecrets, []);
  return { clusterArn, secretArns };
}

async function listFromPage(
  pageOrigin: string,
  endpoint: string,
  clusterArn: string,
  credentials: { secretAccessKey?: string } = {},
): Promise<PageResult> {
  const page: Page = await browser.newPage();
  try {
    await page.goto(`${pageOrigin}/`);
    await page.waitForFunction(() => 'listScramSecrets' in window);
    return await page.evaluate(
      (input) =>
        (
          window as unknown as { listScramSecrets(input: unknown): Promise<PageResult> }
        ).listScramSecrets(input),
      {
        endpoint,
        region: REGION,
        accessKeyId: ACCESS_KEY_ID,
        secretAccessKey: credentials.secretAccessKey ?? SECRET_ACCESS_KEY,
        clusterArn,
      },
    );
  } finally {
    await page.close();
  }
}

function listHeader(value: string | null): string[] {
  return (value ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

interface PageServer {
  /** The page's origin under a given loopback host name: each name is a separate origin. */
  origin(host: 'localhost' | '127.0.0.1'): string;
  close(): Promise<void>;
}

/** Serves the test page and the SDK bundle, apart from the service. */
async function startPageServer(bundle: string): Promise<PageServer> {
  const html =
    '<!doctype html><html><head><meta charset="utf-8"><title>scram-secrets</title>' +
    '<script src="/kafka-client.js"></script></head><body></body></html>';
  const server: Server = createServer((request, response) => {
    if (request.url === '/') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
    } else if (request.url === '/kafka-client.js') {
      response.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(bundle);
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: (host) => `http://${host}:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
