/**
 * What running on PostgreSQL, and on several replicas of it, does to throughput, compared
 * with one replica on SQLite; and how long a replica takes to take over a cluster's
 * reconciler lease after its holder is killed.
 *
 * Three deployments are measured in turn, each as separate `serve` processes on 127.0.0.1:
 * SQLite with one replica, PostgreSQL with one replica, and the same PostgreSQL database with
 * three replicas. Each gets two loads, every request signed with SigV4 as the AWS SDK signs:
 *
 * - ListScramSecrets: the first page (maxResults=100) of a cluster with 1,000 associated
 *   secrets, as `bench/list-scram-secrets.bench.ts` measures it;
 * - batch calls: each client owns 10 secrets and alternates BatchAssociateScramSecret and
 *   BatchDisassociateScramSecret of them on a cluster of their own, so that every call
 *   changes 10 associations and the load can run forever. Calls per second count both.
 *
 * With three replicas the same number of connections is spread evenly over them, as a load
 * balancer would. The lease takeover is measured on three more replicas that register a real
 * Kafka broker (scripts/kafka.sh): the holder is killed with SIGKILL and the time until a
 * survivor's claim is in the database is reported, for two lease and interval settings.
 *
 * PostgreSQL comes from scripts/postgres.sh, in a new directory on a free port, unless
 * BENCH_POSTGRES_URL names a server (a database of the run's own is created on it and dropped
 * afterwards). When PostgreSQL or Kafka cannot be had, the rows that need them say why and the
 * others are still reported. The run exits 0 with a report; 1 only when it could not run.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

import {
  BatchAssociateScramSecretCommand,
  BatchDisassociateScramSecretCommand,
  DescribeClusterV2Command,
  KafkaClient,
} from '@aws-sdk/client-kafka';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import autocannon from 'autocannon';
import pg from 'pg';

import { registeredClusterArn } from '../src/kafka/registration.js';
import {
  ADMIN_PASSWORD,
  ADMIN_PASSWORD_ENV,
  createDatabase,
  freePort,
  startBroker,
  writeClusterConfig,
  type TestBroker,
} from '../test/kafka/support.js';
import {
  createKey,
  createMskSecrets,
  createScramCluster,
  type MskSecret,
} from '../test/support/fixtures.js';
import { ACCESS_KEY_ID, ACCOUNT_ID, REGION, SECRET_ACCESS_KEY } from '../test/support/server.js';
import { signedHeaders } from '../test/support/signing.js';
import { runBenchmark } from './run.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const SERVICE_MAIN = join(ROOT, 'dist/src/cli/main.js');
const POSTGRES_SH = join(ROOT, 'scripts/postgres.sh');
const HOST = '127.0.0.1';

const LISTED_SECRETS = 1000;
const PAGE_SIZE = 100;
const BATCH_SIZE = 10;
/** Divisible by three, so that three replicas get the same share. */
const CONNECTIONS = 12;
const WARMUP_SECONDS = 2;
const MEASURE_SECONDS = 10;

/** Lease and reconcile interval settings the takeover is measured with, in seconds. */
const LEASE_SETTINGS = [
  { leaseSeconds: 5, intervalSeconds: 1 },
  { leaseSeconds: 10, intervalSeconds: 5 },
];
const TAKEOVER_SAMPLES = 3;

const RUN_LIMIT_MS = 480_000;
const START_LIMIT_MS = 30_000;
const STOP_GRACE_MS = 5_000;

interface Replica {
  url: string;
  process: ChildProcess;
  /** The last few kilobytes it wrote, to explain a failure. */
  output(): string;
}

interface Deployment {
  name: string;
  replicas: Replica[];
}

/** What each deployment is loaded with: set up once per database. */
interface Workload {
  listClusterArn: string;
  batchClusterArn: string;
  /** One group of BATCH_SIZE secrets per connection. */
  batches: MskSecret[][];
}

/** One request as autocannon sends it, signed for one replica. */
interface SignedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

interface Throughput {
  list: number;
  batch: number;
}

const running = new Set<ChildProcess>();
const cleanups: (() => Promise<void>)[] = [];

async function main(): Promise<void> {
  const workDir = mkdtempSync(join(tmpdir(), 'scram-secrets-replicas-bench-'));
  cleanups.push(async () => rmSync(workDir, { recursive: true, force: true }));
  const rows: { name: string; figures: Throughput }[] = [];
  const missing: string[] = [];

  const sqlite = await startReplica({ SCRAM_SECRETS_DATA_DIR: join(workDir, 'sqlite') });
  rows.push({
    name: 'SQLite, 1 replica',
    figures: await measure(
      {
        name: 'SQLite',
        replicas: [sqlite],
      },
      await prepare(sqlite.url),
    ),
  });
  await stopReplica(sqlite);

  const postgres = await postgresServer().catch((error: Error) => {
    missing.push(`PostgreSQL rows missing: ${error.message}`);
    return undefined;
  });
  if (postgres) {
    const databaseUrl = await databaseOn(postgres);
    const shared = {
      SCRAM_SECRETS_DATABASE_URL: databaseUrl,
      SCRAM_SECRETS_MASTER_KEY_FILE: join(workDir, 'master.key'),
    };
    const replica = (index: number) =>
      startReplica({ ...shared, SCRAM_SECRETS_DATA_DIR: join(workDir, `pg-${index}`) });
    // The first replica makes the master key file; the others must find it there.
    const first = await replica(0);
    const workload = await prepare(first.url);
    rows.push({
      name: 'PostgreSQL, 1 replica',
      figures: await measure(
        {
          name: 'PostgreSQL',
          replicas: [first],
        },
        workload,
      ),
    });
    const three = [first, ...(await Promise.all([replica(1), replica(2)]))];
    rows.push({
      name: 'PostgreSQL, 3 replicas',
      figures: await measure(
        {
          name: 'PostgreSQL ×3',
          replicas: three,
        },
        workload,
      ),
    });
    await Promise.all(three.map(stopReplica));

    const takeovers = await measureTakeovers(workDir, postgres).catch((error: Error) => {
      missing.push(`Lease takeover rows missing: ${error.message}`);
      return [];
    });
    report(rows, takeovers, missing);
    return;
  }
  missing.push('Lease takeover rows missing: they need PostgreSQL for three replicas.');
  report(rows, [], missing);
}

/** A PostgreSQL server URL: BENCH_POSTGRES_URL, or a throwaway server of this run's own. */
async function postgresServer(): Promise<string> {
  if (process.env.BENCH_POSTGRES_URL) return process.env.BENCH_POSTGRES_URL;
  // A directory of its own under the temp dir: the postgres user must be able to reach it,
  // and the run's work dir is its owner's alone.
  const dataDir = mkdtempSync(join(tmpdir(), 'scram-secrets-bench-pg-'));
  const env = {
    ...process.env,
    SCRAM_SECRETS_PG_DIR: dataDir,
    SCRAM_SECRETS_PG_PORT: String(await freePort()),
  };
  cleanups.push(async () => {
    await run('bash', [POSTGRES_SH, 'stop'], { env }).catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  });
  try {
    const { stdout } = await run('bash', [POSTGRES_SH, 'start'], { env, timeout: 90_000 });
    return stdout.trim();
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? '').trim();
    throw new Error(`scripts/postgres.sh start failed: ${stderr || (error as Error).message}`);
  }
}

/** A database of its own on the server, dropped when the run ends. */
async function databaseOn(serverUrl: string): Promise<string> {
  const database = await createDatabase(serverUrl, 'scram_bench');
  cleanups.unshift(() => database.drop());
  return database.url;
}

async function startReplica(env: Record<string, string>): Promise<Replica> {
  const port = await freePort();
  const child = spawn(process.execPath, [SERVICE_MAIN, 'serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      SCRAM_SECRETS_HOST: HOST,
      SCRAM_SECRETS_PORT: String(port),
      SCRAM_SECRETS_CREDENTIALS: `${ACCESS_KEY_ID}:${SECRET_ACCESS_KEY}:${ACCOUNT_ID}`,
      SCRAM_SECRETS_LOG_LEVEL: 'warn',
      SCRAM_SECRETS_CLUSTER_TRANSITION_SECONDS: '0',
      // Throughput is measured here, not load shedding: two shared cores lag under load.
      SCRAM_SECRETS_MAX_EVENT_LOOP_DELAY_MS: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-4096);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const replica = { url: `http://${HOST}:${port}`, process: child, output: () => output };
  await waitUntilListening(replica);
  return replica;
}

async function waitUntilListening(replica: Replica): Promise<void> {
  const deadline = Date.now() + START_LIMIT_MS;
  while (Date.now() < deadline) {
    if (replica.process.exitCode !== null) break;
    const answered = await fetch(`${replica.url}/`).then(
      () => true,
      () => false,
    );
    if (answered) return;
    await sleep(100);
  }
  throw new Error(`A replica did not start. Its output:\n${replica.output() || '(none)'}`);
}

async function stopReplica(replica: Replica): Promise<void> {
  const child = replica.process;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

function clientConfig(endpoint: string) {
  return {
    endpoint,
    region: REGION,
    credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
    maxAttempts: 1,
  };
}

/** Secrets and clusters for both loads, made through the API of one replica. */
async function prepare(endpoint: string): Promise<Workload> {
  const kafka = new KafkaClient(clientConfig(endpoint));
  const secretsManager = new SecretsManagerClient(clientConfig(endpoint));
  try {
    const keyId = await createKey(new KMSClient(clientConfig(endpoint)), 'replicas benchmark');
    const listed = await createMskSecrets(secretsManager, keyId, LISTED_SECRETS);
    const listClusterArn = await activeCluster(kafka);
    for (let start = 0; start < listed.length; start += BATCH_SIZE) {
      const arns = listed.slice(start, start + BATCH_SIZE).map((secret) => secret.arn);
      await associate(kafka, listClusterArn, arns);
    }
    const churned = await createMskSecrets(secretsManager, keyId, CONNECTIONS * BATCH_SIZE);
    const batches = Array.from({ length: CONNECTIONS }, (_, index) =>
      churned.slice(index * BATCH_SIZE, (index + 1) * BATCH_SIZE),
    );
    return { listClusterArn, batchClusterArn: await activeCluster(kafka), batches };
  } finally {
    kafka.destroy();
    secretsManager.destroy();
  }
}

async function activeCluster(kafka: KafkaClient): Promise<string> {
  const clusterArn = await createScramCluster(kafka);
  const deadline = Date.now() + START_LIMIT_MS;
  for (;;) {
    const described = await kafka.send(new DescribeClusterV2Command({ ClusterArn: clusterArn }));
    if (described.ClusterInfo?.State === 'ACTIVE') return clusterArn;
    if (Date.now() > deadline) throw new Error(`A cluster stayed ${described.ClusterInfo?.State}.`);
    await sleep(100);
  }
}

async function associate(kafka: KafkaClient, clusterArn: string, arns: string[]): Promise<void> {
  const result = await kafka.send(
    new BatchAssociateScramSecretCommand({ ClusterArn: clusterArn, SecretArnList: arns }),
  );
  const refused = result.UnprocessedScramSecrets?.[0];
  if (refused) throw new Error(`A secret was not associated: ${refused.ErrorCode}`);
}

async function measure(deployment: Deployment, workload: Workload): Promise<Throughput> {
  const { replicas } = deployment;
  const list = await spreadLoad(replicas, async (replica) => {
    const path = `/v1/clusters/${encodeURIComponent(workload.listClusterArn)}/scram-secrets`;
    return [await sign(replica, 'GET', `${path}?maxResults=${PAGE_SIZE}`)];
  });

  // Every batch starts out disassociated, whatever the previous deployment's load left.
  const kafka = new KafkaClient(clientConfig(replicas[0]!.url));
  for (const batch of workload.batches) {
    await kafka.send(
      new BatchDisassociateScramSecretCommand({
        ClusterArn: workload.batchClusterArn,
        SecretArnList: batch.map((secret) => secret.arn),
      }),
    );
  }
  kafka.destroy();
  const path = `/v1/clusters/${encodeURIComponent(workload.batchClusterArn)}/scram-secrets`;
  const batch = await spreadLoad(replicas, async (replica, connection) => {
    const body = JSON.stringify({
      secretArnList: workload.batches[connection]!.map((secret) => secret.arn),
    });
    return [await sign(replica, 'POST', path, body), await sign(replica, 'PATCH', path, body)];
  });
  return { list, batch };
}

/**
 * Runs one single-connection autocannon per connection, the connections dealt round-robin
 * over the replicas, all at once; returns completed requests per second over all of them.
 * Each connection cycles through its own requests, in order.
 */
async function spreadLoad(
  replicas: Replica[],
  requestsFor: (replica: Replica, connection: number) => Promise<SignedRequest[]>,
): Promise<number> {
  const clients = await Promise.all(
    Array.from({ length: CONNECTIONS }, async (_, connection) => {
      const replica = replicas[connection % replicas.length]!;
      return { url: replica.url, requests: await requestsFor(replica, connection) };
    }),
  );
  const loadAll = (duration: number) =>
    Promise.all(
      clients.map((client) =>
        autocannon({
          url: client.url,
          connections: 1,
          duration,
          timeout: 10,
          requests: client.requests,
        }),
      ),
    );
  requireClean(await loadAll(WARMUP_SECONDS));
  const results = await loadAll(MEASURE_SECONDS);
  requireClean(results);
  return results.reduce((sum, result) => sum + result.requests.total / result.duration, 0);
}

/** A request signed for one replica (its host and port are signed), as the AWS SDK signs. */
async function sign(
  replica: Replica,
  method: string,
  path: string,
  body?: string,
): Promise<SignedRequest> {
  const headers: Record<string, string> =
    body === undefined ? {} : { 'content-type': 'application/json' };
  const signed = await signedHeaders(`${replica.url}${path}`, { method, headers, body });
  return { method, path, headers: signed, body };
}

/** A run with failed or refused requests measures something else; it is a failed benchmark. */
function requireClean(results: autocannon.Result[]): void {
  for (const result of results) {
    if (result.errors === 0 && result.timeouts === 0 && result.non2xx === 0) continue;
    throw new Error(
      `A load had ${result.errors} errors, ${result.timeouts} timeouts and ` +
        `${result.non2xx} non-2xx responses (${JSON.stringify(result.statusCodeStats)}).`,
    );
  }
}

interface Takeover {
  leaseSeconds: number;
  intervalSeconds: number;
  /** Seconds from SIGKILL until a survivor's claim is in the database, one per sample. */
  seconds: number[];
}

/**
 * Three replicas register one real broker; their lease holder is killed again and again,
 * each time replaced by a fresh replica, and the time until a survivor holds the lease taken.
 */
async function measureTakeovers(workDir: string, serverUrl: string): Promise<Takeover[]> {
  let broker: TestBroker;
  try {
    broker = await startBroker();
  } catch (error) {
    throw new Error(`the Kafka broker did not start (${(error as Error).message.split('\n')[0]})`);
  }
  cleanups.unshift(() => broker.destroy());
  const cluster = { name: 'bench-lease', accountId: ACCOUNT_ID, region: REGION };
  const clusterArn = registeredClusterArn(cluster);
  const configFile = writeClusterConfig(workDir, broker, cluster);
  const takeovers: Takeover[] = [];
  for (const settings of LEASE_SETTINGS) {
    const databaseUrl = await databaseOn(serverUrl);
    const database = new pg.Client({ connectionString: databaseUrl });
    const env = {
      SCRAM_SECRETS_DATABASE_URL: databaseUrl,
      SCRAM_SECRETS_MASTER_KEY_FILE: join(workDir, `lease-${settings.leaseSeconds}.key`),
      SCRAM_SECRETS_CONFIG: configFile,
      [ADMIN_PASSWORD_ENV]: ADMIN_PASSWORD,
      SCRAM_SECRETS_KAFKA_LEASE_SECONDS: String(settings.leaseSeconds),
      SCRAM_SECRETS_KAFKA_RECONCILE_INTERVAL_SECONDS: String(settings.intervalSeconds),
    };
    let started = 0;
    const replica = () =>
      startReplica({ ...env, SCRAM_SECRETS_DATA_DIR: join(workDir, `lease-${started++}`) });
    const replicas = [await replica()];
    replicas.push(...(await Promise.all([replica(), replica()])));
    await database.connect();
    try {
      const seconds: number[] = [];
      for (let sample = 0; sample < TAKEOVER_SAMPLES; sample += 1) {
        const holderPid = await waitForHolder(database, clusterArn, () => true);
        const index = replicas.findIndex((r) => r.process.pid === holderPid);
        if (index < 0) throw new Error('the lease is held by no replica of this run');
        const killedAt = performance.now();
        replicas[index]!.process.kill('SIGKILL');
        await waitForHolder(database, clusterArn, (pid) => pid !== holderPid);
        seconds.push((performance.now() - killedAt) / 1000);
        replicas[index] = await replica();
      }
      takeovers.push({ ...settings, seconds });
    } finally {
      await database.end();
      await Promise.all(replicas.map(stopReplica));
    }
  }
  return takeovers;
}

/** Polls the lease row until a replica whose pid passes `accept` holds it; returns the pid. */
async function waitForHolder(
  database: pg.Client,
  clusterArn: string,
  accept: (pid: number) => boolean,
): Promise<number> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const row = await database.query<{ lease_holder: string | null; lease_expires_at: string }>(
      'select lease_holder, lease_expires_at from kafka_cluster_sync where cluster_arn = $1',
      [clusterArn],
    );
    const { lease_holder: holder, lease_expires_at: expiresAt } = row.rows[0] ?? {};
    // The holder id starts with its process id.
    const pid = Number(holder?.split('-', 1)[0]);
    if (holder && Number(expiresAt) > Date.now() && accept(pid)) return pid;
    await sleep(20);
  }
  throw new Error('no replica took the lease within 120 s');
}

function report(
  rows: { name: string; figures: Throughput }[],
  takeovers: Takeover[],
  missing: string[],
): void {
  const base = rows[0]!.figures;
  const ratio = (value: number, reference: number) => (value / reference).toFixed(2);
  const lines = [
    `Replicas: ${CONNECTIONS} connections spread evenly over the replicas, ` +
      `${WARMUP_SECONDS} s warm-up + ${MEASURE_SECONDS} s measured per load`,
    `ListScramSecrets: first page (maxResults=${PAGE_SIZE}) of ${LISTED_SECRETS} secrets. ` +
      `Batch: each connection alternates`,
    `BatchAssociateScramSecret and BatchDisassociateScramSecret of its own ${BATCH_SIZE} ` +
      'secrets; calls/s counts both.',
    '',
    'deployment'.padEnd(26) +
      'List req/s'.padStart(12) +
      'ratio'.padStart(8) +
      'Batch calls/s'.padStart(15) +
      'ratio'.padStart(8),
    ...rows.map(
      ({ name, figures }) =>
        name.padEnd(26) +
        figures.list.toFixed(1).padStart(12) +
        ratio(figures.list, base.list).padStart(8) +
        figures.batch.toFixed(1).padStart(15) +
        ratio(figures.batch, base.batch).padStart(8),
    ),
    'Ratios are to SQLite with one replica.',
    '',
    ...takeovers.map(
      ({ leaseSeconds, intervalSeconds, seconds }) =>
        `lease takeover after SIGKILL: ${seconds.map((s) => `${s.toFixed(1)} s`).join(', ')} ` +
        `with lease ${leaseSeconds} s, interval ${intervalSeconds} s ` +
        `(bound: lease + interval = ${leaseSeconds + intervalSeconds} s)`,
    ),
    ...missing,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function cleanUp(): Promise<void> {
  await Promise.all(
    [...running].map((child) =>
      stopReplica({
        url: '',
        process: child,
        output: () => '',
      }),
    ),
  );
  for (const cleanup of cleanups) await cleanup().catch(() => undefined);
}

runBenchmark(main, {
  limitMs: RUN_LIMIT_MS,
  killNow: () => {
    for (const child of running) child.kill('SIGKILL');
  },
  // The PostgreSQL server and the broker are processes of their own: cleaning up stops them.
  cleanUp,
});
