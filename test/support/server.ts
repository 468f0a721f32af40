import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { KafkaClient } from '@aws-sdk/client-kafka';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Logger } from 'pino';

import { loadConfig, type Config } from '../../src/config/config.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { testDatabase } from './database.js';

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
  /** Stops serving and keeps the data, for another start on it. */
  close(): Promise<void>;
  /** Stops serving (unless closed already) and removes the data. */
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
 * Starts the real service on a free loopback port with its own data dir and two accounts'
 * keys; clients are the real AWS SDK v3 clients pointed at it.
 */
export async function startTestServer(
  env: Record<string, string> = {},
  options: { logger?: Logger } = {},
): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'scram-secrets-test-'));
  // With SCRAM_SECRETS_TEST_DATABASE_URL set, each test server gets a database of its own.
  const database = await testDatabase('scram_test');
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
  let closed = false;
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
      await handle.close();
      server = await startServer({ ...config, port }, options.logger);
      closed = false;
    },
    async close() {
      if (closed) return;
      closed = true;
      await server.close();
    },
    async stop() {
      await handle.close();
      await database?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return handle;
}
