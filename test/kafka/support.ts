import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

import {
  Admin,
  Consumer,
  MessagesStreamModes,
  Producer,
  stringDeserializers,
  stringSerializers,
} from '@platformatic/kafka';

import {
  createDatabase,
  testDatabase as testDatabaseOn,
  type TestDatabaseHandle,
} from '../support/database.js';
import { kafkaRequest } from '../support/fixtures.js';

export { createDatabase, type TestDatabaseHandle };

const run = promisify(execFile);

/** The repository root: tests run from dist/test/kafka. */
const ROOT = resolve(import.meta.dirname, '../../..');
const KAFKA_SH = join(ROOT, 'scripts/kafka.sh');
export const ADMIN_USER = 'admin';
export const ADMIN_PASSWORD = 'admin-secret';
/** The variable the test configurations name for the admin password. */
export const ADMIN_PASSWORD_ENV = 'SCRAM_SECRETS_TEST_KAFKA_ADMIN_PASSWORD';

/** A single-node broker of our own, started by scripts/kafka.sh on free loopback ports. */
export interface TestBroker {
  bootstrap: string;
  dataDir: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Runs Kafka's own command-line tools against it, as the admin user. */
  tool(
    command: 'configs' | 'acls' | 'topics' | 'describe-users',
    ...args: string[]
  ): Promise<string>;
  /** Stops it and removes its data. */
  destroy(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export async function startBroker(): Promise<TestBroker> {
  const home = mkdtempSync(join(tmpdir(), 'scram-secrets-kafka-'));
  const dataDir = join(home, 'data');
  const port = await freePort();
  const controllerPort = await freePort();
  // KAFKA_DATA_DIR points every kafka.sh command, the admin tools included, at this broker.
  const env = {
    ...process.env,
    KAFKA_DATA_DIR: dataDir,
    KAFKA_ADMIN_USER: ADMIN_USER,
    KAFKA_ADMIN_PASSWORD: ADMIN_PASSWORD,
  };
  const script = async (args: string[]): Promise<string> => {
    const { stdout } = await run('bash', [KAFKA_SH, ...args], {
      env,
      timeout: 180_000,
      maxBuffer: 1 << 24,
    });
    return stdout;
  };
  const start = async (): Promise<void> => {
    await script(['start', '--port', String(port), '--controller-port', String(controllerPort)]);
  };
  await start();
  return {
    bootstrap: `127.0.0.1:${port}`,
    dataDir,
    start,
    stop: async () => {
      await script(['stop']);
    },
    tool: (command, ...args) => script([command, ...args]),
    destroy: async () => {
      await script(['stop']).catch(() => undefined);
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** A configuration file that registers the broker as a cluster; returns its path. */
export function writeClusterConfig(
  dir: string,
  broker: TestBroker,
  cluster: { name: string; accountId: string; region: string },
): string {
  const file = join(dir, `kafka-${cluster.name}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      kafkaClusters: [
        {
          ...cluster,
          bootstrapServers: broker.bootstrap,
          securityProtocol: 'SASL_PLAINTEXT',
          adminUsername: ADMIN_USER,
          adminPasswordEnv: ADMIN_PASSWORD_ENV,
          kafkaVersion: '4.4.0',
        },
      ],
    }),
  );
  return file;
}

function clientOptions(bootstrap: string, username: string, password: string) {
  return {
    clientId: `test-${username}`,
    bootstrapBrokers: [bootstrap],
    sasl: { mechanism: 'SCRAM-SHA-512' as const, username, password },
    retries: 0,
    connectTimeout: 5000,
    timeout: 10_000,
  };
}

function isAuthenticationFailure(error: unknown, depth = 0): boolean {
  if (depth > 6 || !(error instanceof Error)) return false;
  if ((error as { code?: string }).code === 'PLT_KFK_AUTHENTICATION') return true;
  const inner = [...((error as AggregateError).errors ?? []), (error as { cause?: unknown }).cause];
  return inner.some((item) => isAuthenticationFailure(item, depth + 1));
}

/**
 * Whether a client of its own can log in as the user: a metadata request, which needs no
 * ACL, succeeds. A refused login is false; anything else (a broker that is down) throws, so
 * that an outage is never taken for a revoked user.
 */
export async function canLogIn(
  bootstrap: string,
  username: string,
  password: string,
): Promise<boolean> {
  const admin = new Admin(clientOptions(bootstrap, username, password));
  try {
    await admin.metadata({ topics: [] });
    return true;
  } catch (error) {
    if (isAuthenticationFailure(error)) return false;
    throw error;
  } finally {
    await admin.close().catch(() => undefined);
  }
}

/** Polls until `check` holds, or fails the test with what it waited for. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolveWait) => setTimeout(resolveWait, 250));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting until ${what}`, { cause: lastError });
}

/**
 * Produces a message as the user and reads it back as the same user, with Kafka's ACLs
 * granting the user only that topic and its own consumer group.
 */
export async function produceAndConsume(
  broker: TestBroker,
  username: string,
  password: string,
  topic: string,
): Promise<string> {
  await broker.tool(
    'topics',
    '--create',
    '--topic',
    topic,
    '--partitions',
    '1',
    '--replication-factor',
    '1',
  );
  const group = `group-${topic}`;
  await broker.tool(
    'acls',
    '--add',
    '--allow-principal',
    `User:${username}`,
    '--operation',
    'Write',
    '--operation',
    'Read',
    '--operation',
    'Describe',
    '--topic',
    topic,
  );
  await broker.tool(
    'acls',
    '--add',
    '--allow-principal',
    `User:${username}`,
    '--operation',
    'Read',
    '--group',
    group,
  );

  const options = clientOptions(broker.bootstrap, username, password);
  const producer = new Producer({ ...options, serializers: stringSerializers, retries: 5 });
  const text = `hello from ${username}`;
  try {
    // ACLs take a moment to reach the authorizer; retry until the write is allowed.
    await waitFor(
      `${username} may write to ${topic}`,
      async () => {
        await producer.send({ messages: [{ topic, key: 'k', value: text }] });
        return true;
      },
      30_000,
    );
  } finally {
    await producer.close();
  }

  const consumer = new Consumer({
    ...options,
    groupId: group,
    deserializers: stringDeserializers,
    retries: 5,
  });
  try {
    const stream = await consumer.consume({
      topics: [topic],
      mode: MessagesStreamModes.EARLIEST,
      maxWaitTime: 500,
    });
    for await (const message of stream) {
      await stream.close();
      return String(message.value);
    }
    throw new Error('the stream ended without a message');
  } finally {
    await consumer.close(true);
  }
}

/** The JSON status of a cluster's associations, through the signed HTTP endpoint. */
export async function clusterStatus(baseUrl: string, clusterArn: string): Promise<SyncStatus> {
  const response = await kafkaRequest(baseUrl, {
    method: 'GET',
    path: `/_scram-secrets/clusters/${encodeURIComponent(clusterArn)}/status`,
  });
  if (response.status !== 200) throw new Error(`status ${response.status}: ${response.text}`);
  return JSON.parse(response.text) as SyncStatus;
}

export interface SyncStatus {
  clusterArn: string;
  brokers: { bootstrapServers: string; securityProtocol: string } | null;
  lastSuccessfulSyncTime: string | null;
  lastError: string | null;
  counts: { PENDING: number; ACTIVE: number; FAILED: number };
  associations: {
    secretArn: string;
    username: string;
    state: 'PENDING' | 'ACTIVE' | 'FAILED';
    reason: string | null;
    lastSyncTime: string | null;
    provisionedVersionId: string | null;
  }[];
}

export async function stateOf(
  baseUrl: string,
  clusterArn: string,
  secretArn: string,
): Promise<string | undefined> {
  const status = await clusterStatus(baseUrl, clusterArn);
  return status.associations.find((association) => association.secretArn === secretArn)?.state;
}

/** Makes or rewrites a SCRAM-SHA-512 user with Kafka's own kafka-configs, as an operator would. */
export async function setUserByHand(
  broker: TestBroker,
  user: { username: string; password: string },
  iterations = 4096,
): Promise<void> {
  await broker.tool(
    'configs',
    '--alter',
    '--entity-type',
    'users',
    '--entity-name',
    user.username,
    '--add-config',
    `SCRAM-SHA-512=[iterations=${iterations},password=${user.password}]`,
  );
}

/** The users that hold a SCRAM credential on the broker, as Kafka's own tool lists them. */
export async function brokerUsers(broker: TestBroker): Promise<Set<string>> {
  const output = await broker.tool('describe-users');
  const users = new Set<string>();
  for (const match of output.matchAll(/user-principal '([^']+)'/g)) users.add(match[1]!);
  return users;
}

/**
 * With SCRAM_SECRETS_TEST_DATABASE_URL set, a PostgreSQL database of its own for a service
 * started as a separate process, as the in-process test servers get.
 */
export async function testDatabase(): Promise<TestDatabaseHandle | undefined> {
  return testDatabaseOn('scram_kafka');
}
