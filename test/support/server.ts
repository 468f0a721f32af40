import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { KafkaClient } from '@aws-sdk/client-kafka';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

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
}

/**
 * Starts the real service on a free loopback port with its own data dir and two accounts'
 * keys; clients are the real AWS SDK v3 clients pointed at it.
 */
export async function startTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'scram-secrets-test-'));
  const config = loadConfig({
    SCRAM_SECRETS_PORT: '0',
    SCRAM_SECRETS_DATA_DIR: dataDir,
    SCRAM_SECRETS_LOG_LEVEL: 'silent',
    SCRAM_SECRETS_CREDENTIALS:
      `${ACCESS_KEY_ID}:${SECRET_ACCESS_KEY}:${ACCOUNT_ID},` +
      `${OTHER_ACCESS_KEY_ID}:${OTHER_SECRET_ACCESS_KEY}:${OTHER_ACCOUNT_ID}`,
    ...env,
  });
  let server = await startServer(config);
  const clientConfig = (options: ClientOptions = {}) => ({
    endpoint: server.url,
    region: options.region ?? REGION,
    credentials: {
      accessKeyId: options.accessKeyId ?? ACCESS_KEY_ID,
      secretAccessKey: options.secretAccessKey ?? SECRET_ACCESS_KEY,
    },
    maxAttempts: 1,
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
      server = await startServer({ ...config, port });
    },
    async stop() {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return handle;
}
