import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';

import { KafkaClient } from '@aws-sdk/client-kafka';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

import { testDatabase, type TestDatabaseHandle } from './database.js';
import { ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY } from './server.js';

/** The built command line: tests run from dist/test, after `npm run build`. */
export const MAIN = join(
  fileURLToPath(new URL('../../../', import.meta.url)),
  'dist',
  'src',
  'cli',
  'main.js',
);

/** `scram-secrets serve` in its own process, as an operator runs it. */
export interface ServeProcess {
  child: ChildProcess;
  /** The URL from its `server.started` log event. */
  url: string;
  /** Everything it has written to stdout and stderr so far. */
  output(): string;
  /** Resolves with the fields of the next log line that carries this event. */
  nextEvent(event: string): Promise<Record<string, unknown>>;
  /** Resolves with the exit code (null when a signal ended it). */
  exited: Promise<number | null>;
  /** Sends the signal (SIGTERM by default) unless it has exited, and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface ServeOptions {
  /** Settings on top of the test's own environment and a free loopback port. */
  env?: NodeJS.ProcessEnv;
  /** Resolve once stdout contains this text as well as the started event. */
  readyText?: string;
  startTimeoutMs?: number;
}

/**
 * With SCRAM_SECRETS_TEST_DATABASE_URL set, a PostgreSQL database per data dir, as the SQLite
 * file lives in it: a restart on the same data dir finds what the last start stored.
 */
const databases = new Map<string, Promise<TestDatabaseHandle | undefined>>();
const running = new Set<ServeProcess>();

// Registered when a test file imports this module, so on its root: after every test of the
// file. A process a test left running is stopped first, so that no database is dropped under
// a live service.
after(async () => {
  await Promise.all([...running].map((service) => service.stop('SIGKILL')));
  const handles = await Promise.all(databases.values());
  await Promise.all(handles.map((handle) => handle?.drop()));
});

/** The database for a start with these settings, unless they name one themselves. */
async function databaseFor(env: NodeJS.ProcessEnv): Promise<Record<string, string>> {
  if (env.SCRAM_SECRETS_DATABASE_URL !== undefined) return {};
  const dataDir = env.SCRAM_SECRETS_DATA_DIR ?? `no data dir ${databases.size}`;
  if (!databases.has(dataDir)) databases.set(dataDir, testDatabase('scram_serve'));
  const database = await databases.get(dataDir);
  return database ? { SCRAM_SECRETS_DATABASE_URL: database.url } : {};
}

/** Starts `serve` and resolves once it listens (and has printed `readyText`, when given). */
export async function startServe(options: ServeOptions = {}): Promise<ServeProcess> {
  const child = spawn(process.execPath, [MAIN, 'serve'], {
    env: {
      ...process.env,
      SCRAM_SECRETS_HOST: '127.0.0.1',
      SCRAM_SECRETS_PORT: '0',
      ...(await databaseFor({ ...process.env, ...options.env })),
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let stdout = '';
  const waiting: { event: string; resolve: (fields: Record<string, unknown>) => void }[] = [];
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    stdout += chunk.toString();
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const fields = logFields(line);
    if (!fields) return;
    for (const waiter of waiting.filter((candidate) => candidate.event === fields.event)) {
      waiting.splice(waiting.indexOf(waiter), 1);
      waiter.resolve(fields);
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const nextEvent = (event: string): Promise<Record<string, unknown>> =>
    new Promise((resolve) => waiting.push({ event, resolve }));

  const started = nextEvent('server.started');
  const ready = (async () => {
    const { url } = await started;
    while (options.readyText !== undefined && !stdout.includes(options.readyText)) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return String(url);
  })();
  const timeoutMs = options.startTimeoutMs ?? 20_000;
  let timer: NodeJS.Timeout | undefined;
  const url = await Promise.race([
    ready,
    exited.then((code) => {
      throw new Error(`serve exited with ${code} while starting:\n${output}`);
    }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`serve did not start within ${timeoutMs} ms:\n${output}`));
      }, timeoutMs);
    }),
  ]).finally(() => clearTimeout(timer));

  const service: ServeProcess = {
    child,
    url,
    output: () => output,
    nextEvent,
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  running.add(service);
  void exited.then(() => running.delete(service));
  return service;
}

function logFields(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** The AWS SDK clients of the test's primary key, pointed at a served process. */
export function serveClients(url: string) {
  const config = {
    endpoint: url,
    region: REGION,
    credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
    maxAttempts: 1,
  };
  return {
    kafka: new KafkaClient(config),
    kms: new KMSClient(config),
    secretsManager: new SecretsManagerClient(config),
  };
}
