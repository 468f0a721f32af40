import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';

import {
  BatchAssociateScramSecretCommand,
  BatchDisassociateScramSecretCommand,
  KafkaClient,
  ListScramSecretsCommand,
} from '@aws-sdk/client-kafka';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import pg from 'pg';

import { registeredClusterArn } from '../../src/kafka/registration.js';
import {
  ADMIN_PASSWORD,
  ADMIN_PASSWORD_ENV,
  ADMIN_USER,
  brokerUsers,
  createDatabase,
  setUserByHand,
  startBroker,
  waitFor,
  writeClusterConfig,
  type TestBroker,
  type TestDatabaseHandle,
} from '../kafka/support.js';
import {
  createKey,
  createMskSecret,
  createMskSecrets,
  createScramCluster,
  type MskSecret,
} from '../support/fixtures.js';
import { startServe } from '../support/serve.js';
import { ACCESS_KEY_ID, ACCOUNT_ID, REGION, SECRET_ACCESS_KEY } from '../support/server.js';

const serverUrl = process.env.SCRAM_SECRETS_TEST_DATABASE_URL;
/** The storm's cluster: registered with a real broker, whose users must end up matching. */
const STORM_CLUSTER = { name: 'storm-kafka', accountId: ACCOUNT_ID, region: REGION };
const STORM_CLUSTER_ARN = registeredClusterArn(STORM_CLUSTER);
/** Lease and reconcile interval of the replicas: short, so that the storm sees a takeover. */
const LEASE_SECONDS = 3;
const INTERVAL_SECONDS = 1;
/**
 * A survivor takes the lease over within lease plus interval of the holder's death (README,
 * Failover); five times that leaves room for a slow, shared machine.
 */
const TAKEOVER_BOUND_MS = 5 * (LEASE_SECONDS + INTERVAL_SECONDS) * 1000;
/** A user made with Kafka's own tools, which the replicas must leave alone. */
const HAND_MADE = { username: 'made-by-hand', password: 'kept-by-an-operator' };
/**
 * The per-secret refusals the storm provokes (README, the errorCode table): places taken at
 * the limit, usernames taken by a twin, and disassociating a secret that is not associated.
 */
const EXPECTED_REFUSALS = new Set([
  'associate ClusterSecretLimitExceeded',
  'associate DuplicateUsername',
  'disassociate InvalidSecretArn',
]);
/** How a call to a replica that was just killed may fail: it can no longer be reached. */
const CONNECTION_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE']);

/** A failed call's kind: its HTTP status when it got an answer, else the socket's error. */
function failureOf(error: unknown): string {
  const failure = error as { $metadata?: { httpStatusCode?: number }; code?: string };
  const status = failure.$metadata?.httpStatusCode;
  if (status === 503) return 'HTTP 503';
  if (status !== undefined) return `HTTP ${status} ${(error as Error).name}`;
  return failure.code ?? (error as Error)?.name ?? String(error);
}

interface Replica {
  child: ChildProcess;
  url: string;
  kafka: KafkaClient;
}

/**
 * Several replicas of the real `serve` command on one PostgreSQL database, sharing the
 * master key (as replicas must) and nothing else. They register one real Kafka broker, whose
 * SCRAM users the storm's associations must become.
 */
const needsPostgres = 'needs PostgreSQL: set SCRAM_SECRETS_TEST_DATABASE_URL (CI does)';
describe('three replicas on one PostgreSQL', { skip: serverUrl ? false : needsPostgres }, () => {
  const workDir = mkdtempSync(join(tmpdir(), 'scram-replicas-'));
  let database: TestDatabaseHandle | undefined;
  let databaseUrl: string;
  let broker: TestBroker | undefined;
  let clusterConfigFile: string;
  const replicas: Replica[] = [];

  async function startReplica(index: number): Promise<Replica> {
    const service = await startServe({
      env: {
        SCRAM_SECRETS_DATABASE_URL: databaseUrl,
        SCRAM_SECRETS_DATA_DIR: join(workDir, `replica-${index}`),
        SCRAM_SECRETS_MASTER_KEY_FILE: join(workDir, 'master.key'),
        SCRAM_SECRETS_MAX_EVENT_LOOP_DELAY_MS: '0',
        SCRAM_SECRETS_LOG_LEVEL: 'info',
        SCRAM_SECRETS_CREDENTIALS: `${ACCESS_KEY_ID}:${SECRET_ACCESS_KEY}:${ACCOUNT_ID}`,
        SCRAM_SECRETS_CONFIG: clusterConfigFile,
        [ADMIN_PASSWORD_ENV]: ADMIN_PASSWORD,
        SCRAM_SECRETS_KAFKA_RECONCILE_INTERVAL_SECONDS: String(INTERVAL_SECONDS),
        SCRAM_SECRETS_KAFKA_LEASE_SECONDS: String(LEASE_SECONDS),
      },
    });
    const kafka = new KafkaClient(clientConfig(service.url));
    return { child: service.child, url: service.url, kafka };
  }

  function clientConfig(url: string) {
    return {
      endpoint: url,
      region: REGION,
      credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
      maxAttempts: 1,
    };
  }

  before(async () => {
    broker = await startBroker();
    await setUserByHand(broker, HAND_MADE);
    clusterConfigFile = writeClusterConfig(workDir, broker, STORM_CLUSTER);
    database = await createDatabase(serverUrl!, 'scram_replicas');
    databaseUrl = database.url;
    // All three start at once: the migrations must run exactly once between them.
    replicas.push(...(await Promise.all([0, 1, 2].map((index) => startReplica(index)))));
  });

  after(async () => {
    for (const replica of replicas) replica.child.kill('SIGKILL');
    await broker?.destroy();
    await database?.drop();
    rmSync(workDir, { recursive: true, force: true });
  });

  async function listAll(kafka: KafkaClient, clusterArn: string): Promise<string[]> {
    const arns: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await kafka.send(
        new ListScramSecretsCommand({
          ClusterArn: clusterArn,
          NextToken: nextToken,
          MaxResults: 100,
        }),
      );
      arns.push(...(page.SecretArnList ?? []));
      nextToken = page.NextToken;
    } while (nextToken);
    return arns;
  }

  test('a page token from one replica works on another', async () => {
    const first = replicas[0]!;
    const secretsManager = new SecretsManagerClient(clientConfig(first.url));
    const keyId = await createKey(new KMSClient(clientConfig(first.url)));
    const clusterArn = await createScramCluster(first.kafka);
    const secrets = await createMskSecrets(secretsManager, keyId, 5);
    await first.kafka.send(
      new BatchAssociateScramSecretCommand({
        ClusterArn: clusterArn,
        SecretArnList: secrets.map((s) => s.arn),
      }),
    );
    const page = await first.kafka.send(
      new ListScramSecretsCommand({ ClusterArn: clusterArn, MaxResults: 2 }),
    );
    const next = await replicas[2]!.kafka.send(
      new ListScramSecretsCommand({
        ClusterArn: clusterArn,
        MaxResults: 10,
        NextToken: page.NextToken,
      }),
    );
    assert.deepEqual(
      [...page.SecretArnList!, ...next.SecretArnList!],
      secrets.map((s) => s.arn).sort(),
    );
  });

  test('at the limit, 30 concurrent associations over 3 replicas take the last 5', async () => {
    const first = replicas[0]!;
    const secretsManager = new SecretsManagerClient(clientConfig(first.url));
    const keyId = await createKey(new KMSClient(clientConfig(first.url)));
    const clusterArn = await createScramCluster(first.kafka);
    const secrets = await createMskSecrets(secretsManager, keyId, 1025);
    for (let start = 0; start < 995; start += 10) {
      await replicas[start % 3]!.kafka.send(
        new BatchAssociateScramSecretCommand({
          ClusterArn: clusterArn,
          SecretArnList: secrets.slice(start, Math.min(start + 10, 995)).map((s) => s.arn),
        }),
      );
    }
    const results = await Promise.all(
      secrets.slice(995).map((secret, index) =>
        replicas[index % 3]!.kafka.send(
          new BatchAssociateScramSecretCommand({
            ClusterArn: clusterArn,
            SecretArnList: [secret.arn],
          }),
        ),
      ),
    );
    const refused = results.filter((result) => (result.UnprocessedScramSecrets ?? []).length > 0);
    assert.equal(refused.length, 25);
    for (const result of refused) {
      assert.equal(result.UnprocessedScramSecrets![0]!.ErrorCode, 'ClusterSecretLimitExceeded');
    }
    assert.equal((await listAll(replicas[1]!.kafka, clusterArn)).length, 1000);
  });

  test('a storm of batches over all replicas, one killed: no duplicate, limit held', async () => {
    const first = replicas[0]!;
    const secretsManager = new SecretsManagerClient(clientConfig(first.url));
    const keyId = await createKey(new KMSClient(clientConfig(first.url)));
    const clusterArn = STORM_CLUSTER_ARN;
    // 1,020 distinct users and 20 more secrets that claim usernames already taken.
    const secrets: MskSecret[] = await createMskSecrets(secretsManager, keyId, 1020);
    const twins = await Promise.all(
      secrets
        .slice(980, 1000)
        .map((taken) =>
          createMskSecret(secretsManager, { kmsKeyId: keyId, username: taken.username }),
        ),
    );
    const usernameOf = new Map(secrets.map((s) => [s.arn, s.username]));
    const all = [...secrets, ...twins];

    // Fill to just under the limit first, so the storm fights over the last places.
    for (let start = 0; start < 990; start += 10) {
      await replicas[start % 3]!.kafka.send(
        new BatchAssociateScramSecretCommand({
          ClusterArn: clusterArn,
          SecretArnList: secrets.slice(start, start + 10).map((s) => s.arn),
        }),
      );
    }

    let stop = false;
    let calls = 0;
    const refusals = new Map<string, number>();
    const outcomes = new Map<string, number>();
    const unexpected: string[] = [];
    const bump = (counts: Map<string, number>, key: string): void => {
      counts.set(key, (counts.get(key) ?? 0) + 1);
    };
    // Set just before the SIGKILL: only then may calls to that replica fail to connect.
    let killed = -1;
    let killedAt = Infinity;
    const pick = (count: number): number => Math.floor(Math.random() * count);
    const worker = async (): Promise<void> => {
      while (!stop) {
        const target = pick(3);
        const replica = replicas[target]!;
        const batch = Array.from({ length: 1 + pick(10) }, () => all[pick(all.length)]!.arn);
        const operation = pick(13) === 0 ? 'disassociate' : 'associate';
        const command =
          operation === 'disassociate'
            ? new BatchDisassociateScramSecretCommand({
                ClusterArn: clusterArn,
                SecretArnList: batch.slice(0, 1),
              })
            : new BatchAssociateScramSecretCommand({
                ClusterArn: clusterArn,
                SecretArnList: batch,
              });
        try {
          const result = await replica.kafka.send(command as BatchAssociateScramSecretCommand);
          calls += 1;
          bump(outcomes, 'answered');
          for (const refused of result.UnprocessedScramSecrets ?? []) {
            const refusal = `${operation} ${refused.ErrorCode}`;
            bump(refusals, refused.ErrorCode!);
            if (!EXPECTED_REFUSALS.has(refusal)) unexpected.push(`refused: ${refusal}`);
          }
        } catch (error) {
          const outcome = failureOf(error);
          bump(outcomes, outcome);
          if (outcome === 'HTTP 503') continue;
          const atTheKill = target === killed && performance.now() >= killedAt;
          if (atTheKill && CONNECTION_ERRORS.has(outcome)) continue;
          unexpected.push(`replica ${target} (killed: ${killed}) ${operation}: ${outcome}`);
        }
      }
    };
    // The limit must hold at every instant, not only once the storm is over.
    const samples: number[] = [];
    const sampler = async (): Promise<void> => {
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      try {
        while (!stop) {
          const row = await client.query<{ count: string }>(
            'select count(*) as count from scram_associations where cluster_arn = $1',
            [clusterArn],
          );
          samples.push(Number(row.rows[0]!.count));
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      } finally {
        await client.end();
      }
    };
    const workers = Array.from({ length: 24 }, () => worker());
    const sampling = sampler();
    await new Promise((resolve) => setTimeout(resolve, 2500));
    // The replica that reconciles the cluster dies, so that another must take its lease over.
    let killedPid: number | undefined;
    const holds = async () => (killedPid = await leaseHolderPid(clusterArn)) !== undefined;
    await waitFor('a replica holds the lease', holds, 30_000);
    killed = replicas.findIndex((replica) => replica.child.pid === killedPid);
    assert.ok(killed >= 0, `the lease holder ${killedPid} is one of the replicas`);
    killedAt = performance.now();
    replicas[killed]!.child.kill('SIGKILL');
    const takenOver = async (): Promise<boolean> => {
      const holder = await leaseHolderPid(clusterArn);
      return holder !== undefined && holder !== killedPid;
    };
    // Fails the test if no survivor holds the lease within the bound.
    const takeover = waitFor('a survivor takes the lease over', takenOver, TAKEOVER_BOUND_MS);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    stop = true;
    await Promise.all([...workers, sampling]);
    await takeover;
    const tally = JSON.stringify({ outcomes: [...outcomes], refusals: [...refusals] });
    const firsts = unexpected.slice(0, 10).join('; ');
    assert.equal(unexpected.length, 0, `nothing else went wrong, but: ${firsts} (${tally})`);
    assert.ok(samples.length > 20, `the association count was sampled ${samples.length} times`);
    const most = Math.max(...samples);
    assert.ok(most <= 1000, `the limit held at every sample: at most ${most}`);
    assert.ok(most >= 995, `the storm came up to the limit: at most ${most}`);
    assert.ok(calls > 100, `the storm made ${calls} calls`);
    assert.ok(refusals.get('ClusterSecretLimitExceeded')! > 0, 'the storm fought at the limit');
    assert.ok(refusals.get('DuplicateUsername')! > 0, 'the storm raced usernames');

    replicas[killed] = await startReplica(killed);
    const views = await Promise.all(replicas.map((replica) => listAll(replica.kafka, clusterArn)));
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const rows = await client.query<{ secret_arn: string; username: string }>(
        'select secret_arn, username from scram_associations where cluster_arn = $1 ' +
          'order by secret_arn',
        [clusterArn],
      );
      const inDatabase = rows.rows.map((row) => row.secret_arn);
      assert.ok(inDatabase.length <= 1000, `the limit held: ${inDatabase.length}`);
      assert.equal(new Set(inDatabase).size, inDatabase.length, 'no secret twice');
      const usernames = rows.rows.map((row) => row.username);
      assert.equal(new Set(usernames).size, usernames.length, 'no username twice');
      for (const row of rows.rows) {
        const expected = usernameOf.get(row.secret_arn);
        if (expected !== undefined) assert.equal(row.username, expected);
      }
      for (const view of views)
        assert.deepEqual(view, inDatabase, 'every replica lists what the database holds');
      await assertBrokerHolds(usernames);
    } finally {
      await client.end();
    }
  });

  /** The process id of the replica holding the cluster's reconciler lease, if any. */
  async function leaseHolderPid(clusterArn: string): Promise<number | undefined> {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const row = await client.query<{ lease_holder: string | null }>(
        'select lease_holder from kafka_cluster_sync where cluster_arn = $1',
        [clusterArn],
      );
      // A replica's holder id starts with its process id.
      const holder = row.rows[0]?.lease_holder;
      return holder ? Number(holder.split('-', 1)[0]) : undefined;
    } finally {
      await client.end();
    }
  }

  /**
   * The broker's SCRAM users, apart from its admin and the hand-made one, come to be exactly
   * the associated usernames. Polled, because the lease holder writes them after the calls
   * have been answered; bounded, because a holder that never took over must fail the test.
   */
  async function assertBrokerHolds(usernames: string[]): Promise<void> {
    const expected = [...usernames].sort();
    let onBroker: string[] = [];
    let handMadeKept = false;
    const converged = async (): Promise<boolean> => {
      const users = await brokerUsers(broker!);
      handMadeKept = users.delete(HAND_MADE.username);
      users.delete(ADMIN_USER);
      onBroker = [...users].sort();
      return handMadeKept && onBroker.join('\n') === expected.join('\n');
    };
    // A timeout is reported by the assertions below, which show what differs.
    await waitFor('the broker holds the associated users', converged, 180_000).catch(() => {});
    assert.ok(handMadeKept, 'the hand-made user is left alone');
    assert.deepEqual(onBroker, expected, 'the broker holds exactly the associated users');
  }
});
