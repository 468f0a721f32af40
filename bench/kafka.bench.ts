/**
 * How long 1,000 associated secrets take to become SCRAM users that can log in to a real
 * Kafka broker: 100 BatchAssociateScramSecret calls of 10 secrets each, timed from the first
 * call until every one of the 1,000 users has logged in with its own client. Two references
 * on the same broker:
 *
 * - kafka-configs, one call per user, as an operator would script it: timed on 20 users and
 *   scaled to 1,000;
 * - one batched AlterUserScramCredentials call through Kafka's own Java Admin client
 *   (bench/kafka-batch-alter/BatchAlter.java), the least the brokers need, then the same
 *   login check as ours.
 *
 * The broker (scripts/kafka.sh, on free loopback ports) and the service (in this process)
 * are started and stopped here. The run prints a report, with the comparisons on lines
 * containing `ratio`, and exits 0; it exits 1 only when the benchmark itself could not run.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';

import { BatchAssociateScramSecretCommand } from '@aws-sdk/client-kafka';

import { registeredClusterArn } from '../src/kafka/registration.js';
import { createKey, createMskSecrets } from '../test/support/fixtures.js';
import { ACCOUNT_ID, REGION, startTestServer } from '../test/support/server.js';
import {
  ADMIN_PASSWORD,
  ADMIN_PASSWORD_ENV,
  ADMIN_USER,
  canLogIn,
  clusterStatus,
  setUserByHand,
  startBroker,
  writeClusterConfig,
} from '../test/kafka/support.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const USERS = 1000;
const BATCH = 10;
const CLI_SAMPLE = 20;
const LOGIN_CONCURRENCY = 16;
const CLUSTER = { name: 'bench-kafka', accountId: ACCOUNT_ID, region: REGION };

/** Logs every user in, each retried until it succeeds; resolves when the last one has. */
async function allLogIn(
  bootstrap: string,
  users: { username: string; password: string }[],
  deadlineMs = 300_000,
): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  const queue = [...users];
  const worker = async (): Promise<void> => {
    for (let user = queue.shift(); user; user = queue.shift()) {
      while (!(await canLogIn(bootstrap, user.username, user.password).catch(() => false))) {
        if (Date.now() > deadline) throw new Error(`${user.username} never logged in`);
        await new Promise((wait) => setTimeout(wait, 100));
      }
    }
  };
  await Promise.all(Array.from({ length: LOGIN_CONCURRENCY }, worker));
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

async function main(): Promise<void> {
  const broker = await startBroker();
  const configDir = mkdtempSync(join(tmpdir(), 'scram-secrets-kafka-bench-'));
  const t = await startTestServer({
    SCRAM_SECRETS_CONFIG: writeClusterConfig(configDir, broker, CLUSTER),
    [ADMIN_PASSWORD_ENV]: ADMIN_PASSWORD,
    // The load comes from this same process; the service must not shed it as overload.
    SCRAM_SECRETS_MAX_EVENT_LOOP_DELAY_MS: '0',
  });
  try {
    const clusterArn = registeredClusterArn(CLUSTER);
    const kafka = t.kafka({ maxAttempts: 3 });
    const keyId = await createKey(t.kms());
    const secrets = await createMskSecrets(t.secretsManager({ maxAttempts: 3 }), keyId, USERS);
    process.stdout.write(`broker ${broker.bootstrap}; ${USERS} secrets created\n`);

    const started = performance.now();
    for (let start = 0; start < secrets.length; start += BATCH) {
      const arns = secrets.slice(start, start + BATCH).map((secret) => secret.arn);
      const result = await kafka.send(
        new BatchAssociateScramSecretCommand({ ClusterArn: clusterArn, SecretArnList: arns }),
      );
      if (result.UnprocessedScramSecrets?.length) throw new Error('an association was refused');
    }
    const associated = performance.now() - started;
    let allActive = 0;
    while ((await clusterStatus(t.url, clusterArn)).counts.ACTIVE < USERS) {
      await new Promise((wait) => setTimeout(wait, 50));
    }
    allActive = performance.now() - started;
    await allLogIn(broker.bootstrap, secrets);
    const ours = performance.now() - started;

    const cliStarted = performance.now();
    for (let index = 0; index < CLI_SAMPLE; index += 1) {
      await setUserByHand(broker, { username: `cli-${index}`, password: `cli-${index}-password` });
    }
    const cliPerUser = (performance.now() - cliStarted) / CLI_SAMPLE;
    const cliScaled = cliPerUser * USERS;

    const javaStarted = performance.now();
    const { stdout } = await run(
      'java',
      [
        '-cp',
        join(ROOT, '.kafka/4.4.0/jars/*'),
        join(ROOT, 'bench/kafka-batch-alter/BatchAlter.java'),
        broker.bootstrap,
        'batched-',
        String(USERS),
        '4096',
      ],
      {
        env: { ...process.env, KAFKA_ADMIN_USER: ADMIN_USER, KAFKA_ADMIN_PASSWORD: ADMIN_PASSWORD },
        timeout: 300_000,
      },
    );
    const javaTotal = performance.now() - javaStarted;
    const batchedCall = Number(/batched_ms=([0-9.]+)/.exec(stdout)?.[1]);
    const batchedUsers = Array.from({ length: USERS }, (_, index) => ({
      username: `batched-${index}`,
      password: `batched-${index}-password`,
    }));
    const loginStarted = performance.now();
    await allLogIn(broker.bootstrap, batchedUsers);
    const loginCheck = performance.now() - loginStarted;
    const batchedWithLogins = batchedCall + loginCheck;

    const lines = [
      `scram-secrets: ${USERS} users in ${USERS / BATCH} batches of ${BATCH}`,
      `  all associate calls answered     ${seconds(associated)}`,
      `  all ${USERS} associations ACTIVE    ${seconds(allActive)}`,
      `  all ${USERS} users logged in        ${seconds(ours)}`,
      `kafka-configs, one call per user: ${seconds(cliPerUser)} per user on ${CLI_SAMPLE}, ` +
        `${seconds(cliScaled)} scaled to ${USERS}`,
      `one batched AlterUserScramCredentials (Java Admin): call ${seconds(batchedCall)} ` +
        `(${seconds(javaTotal)} with the JVM); then all ${USERS} logged in after ` +
        `${seconds(batchedWithLogins)}`,
      `ratio ours / kafka-configs per user (scaled): ${(ours / cliScaled).toFixed(3)}`,
      `ratio ours / batched call, both until every user logged in: ` +
        `${(ours / batchedWithLogins).toFixed(2)}`,
      `ratio ours (until all ACTIVE) / batched call alone: ${(allActive / batchedCall).toFixed(1)}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await t.stop();
    await broker.destroy();
    rmSync(configDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`kafka benchmark failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
