import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { KafkaClient } from '@aws-sdk/client-kafka';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import pg from 'pg';
import type { Logger } from 'pino';

import { loadConfig, type Config } from '../../src/config/config.js';
import { startServer, type RunningServer } from '../../src/server.js';

export const ACCOUNT_ID = '111122223333';
export const OTHER_ACCOUNT_ID = '444455556666';
export const ACCESS_KEY_ID = 'AKIATESTPRIMARY00001';
export const SECRET_ACCESS_KEY = 'test-secret-access-key-primary';
export const OTHER_ACCESS_KEY_ID = 'AKIATESTOTHER0000001';
export const OTHER_SECRET_ACCESS_KEY = 'test-secret-access-key-other';
export const REGION = 'us-east-1';

export interface TestServer {
  server: RunningServer;
  url: string;
  dataDir: string;
  config: Config;
  kafka(options?: ClientOptions): KafkaClient;
  secretsManager(options?: ClientOptions): SecretsManagerClient;
  kms(options?: ClientOptions): KMSClient;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface ClientOptions {
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** 1 unless a test exercises the SDK's retries. */
  maxAttempts?: number;
  retryMode?: 'standard' | 'adaptive';
}

/**
 * With SCRAM_SECRETS_TEST_DATABASE_URL set (a PostgreSQL server's URL), every test server gets
 * a database of its own there, so that the whole suite runs against PostgreSQL too.
 */
async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> } | undefined> {
  const serverUrl = process.env.SCRAM_SECRETS_TEST_DATABASE_URL;
  if (!serverUrl) return undefined;
  const name = `scram_test_${randomUUID().replaceAll('-', '')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const dropper = new pg.Client({ connectionString: serverUrl });
      await dropper.connect();
      try {
        await dropper.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await dropper.end();
      }
    },
  };
}

/**
 * Starts the real service on a free loopback port with its own data dir and two accounts'
 * keys; clients are the real AWS SDK v3 clients pointed at it.
 */
export async function startTestServer(
  env: Record<string, string> = {},
  options: { logger?: Logger } = {},
): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'scram-secrets-test-'));
  const database = await createTestDatabase();
  const config = loadConfig({
    ...(database ? { SCRAM_SECRETS_DATABASE_URL: database.url } : {}),
    SCRAM_SECRETS_PORT: '0',
    SCRAM_SECRETS_DATA_DIR: dataDir,
    SCRAM_SECRETS_LOG_LEVEL: 'silent',
    // A busy test machine must not turn event-loop lag into 503s that no test asked for.
    SCRAM_SECRETS_MAX_EVENT_LOOP_DELAY_MS: '0',
    SCRAM_SECRETS_CREDENTIALS:
      `${ACCESS_KEY_ID}:${SECRET_ACCESS_KEY}:${ACCOUNT_ID},` +
      `${OTHER_ACCESS_KEY_ID}:${OTHER_SECRET_ACCESS_KEY}:${OTHER_ACCOUNT_ID}`,
    ...env,
  });
  let server = await startServer(config, options.logger);
  const clientConfig = (options: ClientOptions = {}) => ({
    endpoint: server.url,
    region: options.region ?? REGION,
    credentials: {
      accessKeyId: options.accessKeyId ?? ACCESS_KEY_ID,
      secretAccessKey: options.secretAccessKey ?? SECRET_ACCESS_KEY,
    },
    maxAttempts: options.maxAttempts ?? 1,
    retryMode: options.retryMode,
  });
  const handle: TestServer = {
    get server() {
      return server;
    },
    get url() {
      return server.url;
    },
    dataDir,
    config,
    kafka: (options) => new KafkaClient(clientConfig(options)),
    secretsManager: (options) => new SecretsManagerClient(clientConfig(options)),
    kms: (options) => new KMSClient(clientConfig(options)),
    async restart() {
      const port = Number(new URL(server.url).port);
      await server.close();
      server = await startServer({ ...config, port }, options.logger);
    },
    async stop() {
      await server.close();
      await database?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return handle;
}
