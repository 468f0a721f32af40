import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  BatchAssociateScramSecretCommand,
  ListScramSecretsCommand,
  type BatchAssociateScramSecretCommandOutput,
  type KafkaClient,
} from '@aws-sdk/client-kafka';
import { CreateKeyCommand, ListKeysCommand } from '@aws-sdk/client-kms';
import { CreateSecretCommand, ListSecretsCommand } from '@aws-sdk/client-secrets-manager';

import { createKey, createMskSecret, createScramCluster, uniqueTag } from '../support/fixtures.js';
import { AuditLog } from '../../src/observability/audit.js';
import { clusterPath, rawRequest, type RawResponse } from '../support/raw.js';
import {
  ACCOUNT_ID,
  startTestServer,
  type ClientOptions,
  type TestServer,
} from '../support/server.js';
import { signedHeaders } from '../support/signing.js';

/**
 * Throttling per principal, 2 writes a second with a burst of 2 and 4 reads a second with a
 * burst of 4: what a raw caller and an SDK that does not retry see, and that the AWS SDK's
 * standard retry mode, honouring Retry-After, gets every call through. Each scenario signs
 * with principals of its own, so that it starts with full buckets.
 */

const WRITE = { rate: 2, burst: 2 };
const READ = { rate: 4, burst: 4 };
const POOL_SIZE = 40;

interface Caller {
  accessKeyId: string;
  secretAccessKey: string;
}

const pool: Caller[] = Array.from({ length: POOL_SIZE }, (_, index) => ({
  accessKeyId: `AKIATHROTTLE${String(index).padStart(8, '0')}`,
  secretAccessKey: `throttle-secret-access-key-${index}`,
}));
let nextInPool = 0;

/** A principal no call has been made with yet: its buckets are full. */
function freshCaller(): Caller {
  const caller = pool[nextInPool++];
  assert.ok(caller, 'the pool of principals is used up; make it larger');
  return caller;
}

let t: TestServer;
let configDir: string;
let clusterArn: string;
let keyId: string;

function clients(caller: Caller, retrying = false) {
  const options: ClientOptions = retrying
    ? { ...caller, maxAttempts: 5, retryMode: 'standard' }
    : { ...caller };
  return {
    kafka: t.kafka(options),
    secretsManager: t.secretsManager(options),
    kms: t.kms(options),
  };
}

/** MSK-shaped secrets, each created by a fresh principal so that setup is never throttled. */
async function mskSecrets(count: number): Promise<string[]> {
  const created = await Promise.all(
    Array.from({ length: count }, () =>
      createMskSecret(clients(freshCaller()).secretsManager, { kmsKeyId: keyId }),
    ),
  );
  return created.map((secret) => secret.arn);
}

async function rawAssociate(caller: Caller, secretArn: string): Promise<RawResponse> {
  const url = `${t.url}${clusterPath(clusterArn, '/scram-secrets')}`;
  const init = {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ secretArnList: [secretArn] }),
  };
  return rawRequest(url, { ...init, headers: await signedHeaders(url, init, caller) });
}

async function rawList(caller: Caller): Promise<RawResponse> {
  const url = `${t.url}${clusterPath(clusterArn, '/scram-secrets')}`;
  return rawRequest(url, { headers: await signedHeaders(url, {}, caller) });
}

async function rawJson(
  caller: Caller,
  service: string,
  target: string,
  body: object,
): Promise<RawResponse> {
  const init = {
    method: 'POST',
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target },
    body: JSON.stringify(body),
  };
  const headers = await signedHeaders(t.url, init, { ...caller, service });
  return rawRequest(t.url, { ...init, headers });
}

async function sequentially<T>(count: number, call: (index: number) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  for (let index = 0; index < count; index += 1) results.push(await call(index));
  return results;
}

function associate(kafka: KafkaClient, secretArn: string) {
  return kafka.send(
    new BatchAssociateScramSecretCommand({ ClusterArn: clusterArn, SecretArnList: [secretArn] }),
  );
}

interface SdkError extends Error {
  $metadata?: { httpStatusCode?: number; attempts?: number };
  $response?: { headers: Record<string, string> };
}

/** The audit log's row for a request, by the request id the answer carried. */
async function auditedOutcome(response: RawResponse): Promise<string | undefined> {
  const requestId = response.headers.get('x-amzn-requestid');
  const events = await new AuditLog(t.server.store).query({ limit: 100_000 });
  return events.find((event) => event.requestId === requestId)?.outcome;
}

function retryAfterSeconds(response: RawResponse): number {
  const header = response.headers.get('retry-after');
  assert.match(header ?? '', /^[1-9]\d*$/, 'Retry-After is a whole number of seconds');
  return Number(header);
}

before(async () => {
  configDir = mkdtempSync(join(tmpdir(), 'scram-secrets-throttling-'));
  const configFile = join(configDir, 'config.json');
  const principals = pool.map((caller, index) => ({
    ...caller,
    accountId: ACCOUNT_ID,
    name: `caller-${index}`,
    administrator: true,
  }));
  writeFileSync(configFile, JSON.stringify({ principals }), { mode: 0o600 });
  t = await startTestServer({
    SCRAM_SECRETS_CONFIG: configFile,
    SCRAM_SECRETS_THROTTLE_WRITE: `${WRITE.rate}:${WRITE.burst}`,
    SCRAM_SECRETS_THROTTLE_READ: `${READ.rate}:${READ.burst}`,
  });
  keyId = await createKey(clients(freshCaller()).kms);
  clusterArn = await createScramCluster(clients(freshCaller()).kafka);
});

after(async () => {
  await t?.stop();
  if (configDir) rmSync(configDir, { recursive: true, force: true });
});

describe('MSK', () => {
  test('writes past the burst are 429 TooManyRequestsException, truthful Retry-After', async () => {
    const caller = freshCaller();
    const [secretArn] = await mskSecrets(1);

    const statuses = await sequentially(WRITE.burst + 1, () => rawAssociate(caller, secretArn!));

    assert.deepEqual(
      statuses.map((response) => response.status),
      [200, 200, 429],
    );
    const throttled = statuses[2]!;
    assert.equal(throttled.headers.get('x-amzn-errortype'), 'TooManyRequestsException');
    assert.ok(throttled.headers.get('x-amzn-requestid'));
    assert.deepEqual(Object.keys(throttled.json), ['message']);
    assert.match(String(throttled.json.message), /Rate exceeded/);
    const wait = retryAfterSeconds(throttled);
    assert.ok(wait <= Math.ceil(1 / WRITE.rate), `Retry-After ${wait} is longer than a refill`);
    assert.equal(await auditedOutcome(throttled), 'TooManyRequestsException', 'it is audited');

    await sleep(wait * 1000);
    assert.equal((await rawAssociate(caller, secretArn!)).status, 200, 'Retry-After was too short');
  });

  test('reads have a bucket of their own, and so does every principal', async () => {
    const caller = freshCaller();
    const [secretArn] = await mskSecrets(1);
    await sequentially(WRITE.burst, () => rawAssociate(caller, secretArn!));
    assert.equal((await rawAssociate(caller, secretArn!)).status, 429);

    const reads = await sequentially(READ.burst + 1, () => rawList(caller));
    const someoneElse = await rawAssociate(freshCaller(), secretArn!);

    assert.deepEqual(
      reads.map((response) => response.status),
      [...Array<number>(READ.burst).fill(200), 429],
    );
    assert.equal(reads[READ.burst]!.headers.get('x-amzn-errortype'), 'TooManyRequestsException');
    retryAfterSeconds(reads[READ.burst]!);
    assert.equal(someoneElse.status, 200, "one principal's throttling held up another");
  });

  test('the AWS SDK without retries gets TooManyRequestsException', async () => {
    const { kafka } = clients(freshCaller());
    const [secretArn] = await mskSecrets(1);
    await sequentially(WRITE.burst, () => associate(kafka, secretArn!));
    await assert.rejects(associate(kafka, secretArn!), (error: SdkError) => {
      assert.equal(error.name, 'TooManyRequestsException');
      assert.equal(error.$metadata?.httpStatusCode, 429);
      assert.equal(error.$metadata?.attempts, 1);
      assert.match(error.$response?.headers['retry-after'] ?? '', /^[1-9]\d*$/);
      return true;
    });
  });

  test("the AWS SDK's standard retry mode gets every call of a burst through", async () => {
    const { kafka } = clients(freshCaller(), true);
    const secretArns = await mskSecrets(6);

    const results: BatchAssociateScramSecretCommandOutput[] = await Promise.all(
      secretArns.map((secretArn) => associate(kafka, secretArn)),
    );

    for (const result of results) assert.deepEqual(result.UnprocessedScramSecrets, []);
    const attempts = results.map((result) => result.$metadata.attempts ?? 0);
    const firstTime = attempts.filter((count) => count === 1);
    assert.equal(firstTime.length, WRITE.burst, `attempts: ${attempts}`);
    assert.ok(
      attempts.every((count) => count <= 5),
      `attempts: ${attempts}`,
    );
    for (const result of results.filter((each) => (each.$metadata.attempts ?? 0) > 1)) {
      // The SDK waited at least the Retry-After second, not only its own jittered backoff.
      const delay = result.$metadata.totalRetryDelay ?? 0;
      assert.ok(delay >= 900, `retried after ${delay} ms`);
    }
    const listed = await clients(freshCaller()).kafka.send(
      new ListScramSecretsCommand({ ClusterArn: clusterArn }),
    );
    for (const secretArn of secretArns) assert.ok(listed.SecretArnList?.includes(secretArn));
  });
});

describe('Secrets Manager and KMS', () => {
  test('writes and reads past the burst are ThrottlingException with Retry-After', async () => {
    const writer = freshCaller();
    const reader = freshCaller();

    const writes = await sequentially(WRITE.burst + 1, (index) =>
      rawJson(writer, 'secretsmanager', 'secretsmanager.CreateSecret', {
        Name: `throttled-${uniqueTag()}-${index}`,
        SecretString: 'x',
      }),
    );
    const reads = await sequentially(READ.burst + 1, () =>
      rawJson(reader, 'kms', 'TrentService.ListKeys', {}),
    );

    for (const [responses, burst] of [
      [writes, WRITE.burst],
      [reads, READ.burst],
    ] as const) {
      assert.deepEqual(
        responses.map((response) => response.status),
        [...Array<number>(burst).fill(200), 400],
      );
      const throttled = responses[burst]!;
      assert.equal(throttled.json.__type, 'ThrottlingException');
      assert.equal(throttled.headers.get('x-amzn-errortype'), 'ThrottlingException');
      assert.match(String(throttled.json.message), /Rate exceeded/);
      retryAfterSeconds(throttled);
    }
    assert.equal(await auditedOutcome(writes[WRITE.burst]!), 'ThrottlingException');
    assert.equal(await auditedOutcome(reads[READ.burst]!), undefined, 'reads are not audited');
  });

  test('the AWS SDK without retries gets ThrottlingException', async () => {
    const { secretsManager, kms } = clients(freshCaller());

    await sequentially(READ.burst, () => secretsManager.send(new ListSecretsCommand({})));
    await assert.rejects(secretsManager.send(new ListSecretsCommand({})), {
      name: 'ThrottlingException',
      message: /Rate exceeded/,
    });
    await sequentially(WRITE.burst, () => kms.send(new CreateKeyCommand({})));
    await assert.rejects(kms.send(new CreateKeyCommand({})), { name: 'ThrottlingException' });
  });

  test("the AWS SDK's standard retry mode gets every call of a burst through", async () => {
    const { secretsManager, kms } = clients(freshCaller(), true);
    const tag = uniqueTag();

    const [secrets, keys] = await Promise.all([
      Promise.all(
        Array.from({ length: 3 }, (_, index) =>
          secretsManager.send(
            new CreateSecretCommand({ Name: `retried-${tag}-${index}`, SecretString: 'x' }),
          ),
        ),
      ),
      // The same principal, so the same write bucket: all 6 calls share 2 a second.
      Promise.all(Array.from({ length: 3 }, () => kms.send(new CreateKeyCommand({})))),
    ]);

    const attempts = [...secrets, ...keys].map((result) => result.$metadata.attempts ?? 0);
    const retried = attempts.filter((count) => count > 1);
    assert.equal(retried.length, 6 - WRITE.burst, `attempts: ${attempts}`);
    assert.ok(
      attempts.every((count) => count <= 5),
      `attempts: ${attempts}`,
    );
    const listed = await clients(freshCaller()).secretsManager.send(
      new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [`retried-${tag}`] }] }),
    );
    assert.equal(listed.SecretList?.length, 3);
    const allKeys = await clients(freshCaller()).kms.send(new ListKeysCommand({}));
    const keyIds = new Set(allKeys.Keys?.map((key) => key.KeyId));
    for (const key of keys) assert.ok(keyIds.has(key.KeyMetadata?.KeyId));
  });
});
