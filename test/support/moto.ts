import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

import { ACCOUNT_ID, REGION } from './server.js';

/**
 * moto's server (PyPI `moto[server]`), a third-party Secrets Manager and KMS, on a free
 * loopback port. The executable is SCRAM_SECRETS_MOTO_SERVER if set, else `moto_server` on
 * PATH; when neither exists the test fails, so that CI never skips these tests in silence.
 */
export interface MotoServer {
  endpoint: string;
  /** The SCRAM_SECRETS_SECRET_SOURCES setting that points the service's account here. */
  sourceSetting(options?: SourceOptions): string;
  secretsManager(): SecretsManagerClient;
  kms(): KMSClient;
  /** Stops the server: the source is unreachable until `start`. */
  kill(): Promise<void>;
  /** Starts it again on the same port. moto keeps nothing across a restart. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface SourceOptions {
  pollIntervalSeconds?: number;
  attachResourcePolicy?: boolean;
  /** Where the service calls instead of moto itself, e.g. a recording proxy in front of it. */
  endpoint?: string;
}

/** Dummy keys: the service reads them through the AWS SDK's default provider chain. */
export const MOTO_ACCESS_KEY_ID = 'AKIAMOTOTESTKEY00001';
const MOTO_SECRET_ACCESS_KEY = 'moto-test-secret-access-key';

export function motoExecutable(): string {
  const configured = process.env.SCRAM_SECRETS_MOTO_SERVER;
  if (configured) return configured;
  const found = spawnSync('sh', ['-c', 'command -v moto_server'], { encoding: 'utf8' });
  const path = found.stdout.trim();
  if (found.status !== 0 || path === '') {
    throw new Error(
      "moto's server was not found: install it with pip install 'moto[server]', put " +
        'moto_server on PATH or set SCRAM_SECRETS_MOTO_SERVER to its path.',
    );
  }
  return path;
}

export async function startMoto(): Promise<MotoServer> {
  const executable = motoExecutable();
  // The service in this process reads these through the default provider chain; no instance
  // metadata lookup may leave the machine.
  process.env.AWS_ACCESS_KEY_ID = MOTO_ACCESS_KEY_ID;
  process.env.AWS_SECRET_ACCESS_KEY = MOTO_SECRET_ACCESS_KEY;
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  delete process.env.AWS_PROFILE;
  delete process.env.AWS_SESSION_TOKEN;
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;

  const start = async (): Promise<void> => {
    const started = spawn(executable, ['-H', '127.0.0.1', '-p', String(port)], {
      env: { ...process.env, MOTO_ACCOUNT_ID: ACCOUNT_ID },
      stdio: ['ignore', 'ignore', process.env.MOTO_DEBUG ? 'inherit' : 'pipe'],
    });
    let output = '';
    started.stderr?.on('data', (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
    });
    child = started;
    await waitUntilUp(endpoint, started, () => output);
  };
  const kill = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGTERM');
    await exited;
  };
  // moto's threaded server now and then answers a burst of parallel calls with a 500.
  const client = { endpoint, region: REGION, maxAttempts: 5 };
  const credentials = { accessKeyId: MOTO_ACCESS_KEY_ID, secretAccessKey: MOTO_SECRET_ACCESS_KEY };

  await start();
  return {
    endpoint,
    sourceSetting: (options = {}) =>
      JSON.stringify([
        {
          accountId: ACCOUNT_ID,
          region: REGION,
          type: 'aws',
          endpoint: options.endpoint ?? endpoint,
          pollIntervalSeconds: options.pollIntervalSeconds ?? 60,
          attachResourcePolicy: options.attachResourcePolicy ?? true,
        },
      ]),
    secretsManager: () => new SecretsManagerClient({ ...client, credentials }),
    kms: () => new KMSClient({ ...client, credentials }),
    kill,
    start,
    stop: kill,
  };
}

async function waitUntilUp(
  endpoint: string,
  child: ChildProcess,
  output: () => string,
): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`moto_server exited with ${child.exitCode}: ${output()}`);
    }
    try {
      const response = await fetch(`${endpoint}/moto-api/`);
      if (response.status < 500) return;
    } catch {
      // Not listening yet.
    }
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error(`moto_server did not answer on ${endpoint} within 30 s: ${output()}`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
