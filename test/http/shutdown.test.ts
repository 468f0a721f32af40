import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import {
  CreateSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';

import { startServe, type ServeProcess } from '../support/serve.js';
import { ACCESS_KEY_ID, ACCOUNT_ID, REGION, SECRET_ACCESS_KEY } from '../support/server.js';

const dataDir = mkdtempSync(join(tmpdir(), 'scram-shutdown-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

function serve(env: Record<string, string> = {}): Promise<ServeProcess> {
  return startServe({
    env: {
      SCRAM_SECRETS_DATA_DIR: dataDir,
      SCRAM_SECRETS_MAX_EVENT_LOOP_DELAY_MS: '0',
      SCRAM_SECRETS_CREDENTIALS: `${ACCESS_KEY_ID}:${SECRET_ACCESS_KEY}:${ACCOUNT_ID}`,
      ...env,
    },
  });
}

function client(url: string): SecretsManagerClient {
  return new SecretsManagerClient({
    endpoint: url,
    region: REGION,
    credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
    maxAttempts: 1,
  });
}

type Outcome = 'created' | 'refused-503' | 'not-connected' | 'unknown';

test('SIGTERM under load: in-flight calls finish, newcomers get 503, nothing is lost', async () => {
  const service = await serve();
  const secretsManager = client(service.url);
  const outcomes = new Map<string, Outcome>();
  let stopping = false;
  let sequence = 0;

  // A well-behaved client: told 503 with Retry-After, it waits that long before its next call.
  const worker = async (): Promise<void> => {
    while (true) {
      const name = `load-${(sequence += 1)}`;
      try {
        await secretsManager.send(
          new CreateSecretCommand({ Name: name, SecretString: `value-${name}` }),
        );
        outcomes.set(name, 'created');
      } catch (error) {
        const failure = error as {
          $metadata?: { httpStatusCode?: number };
          $response?: { headers: Record<string, string> };
          code?: string;
        };
        const status = failure.$metadata?.httpStatusCode;
        if (status === 503) outcomes.set(name, 'refused-503');
        else if (failure.code === 'ECONNREFUSED') outcomes.set(name, 'not-connected');
        else outcomes.set(name, 'unknown');
        if (stopping && status !== 503) return;
        const retryAfter = Number(failure.$response?.headers['retry-after'] ?? 0);
        await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000));
      }
    }
  };
  const workers = Array.from({ length: 8 }, () => worker());
  await new Promise((resolve) => setTimeout(resolve, 1500));
  stopping = true;
  assert.equal(await service.stop('SIGTERM'), 0, 'the service exits 0 after SIGTERM');
  await Promise.all(workers);

  const created = [...outcomes]
    .filter(([, outcome]) => outcome === 'created')
    .map(([name]) => name);
  assert.ok(created.length > 20, `a steady load ran before the stop (${created.length} calls)`);
  const tally = (wanted: Outcome) => [...outcomes.values()].filter((o) => o === wanted).length;
  assert.ok(tally('refused-503') >= 1, 'a call that arrived during the stop got a 503');
  const lost = [...outcomes].filter(([, outcome]) => outcome === 'unknown');
  assert.deepEqual(lost, [], 'no request was cut off in flight (reset or otherwise lost)');

  const restarted = await serve();
  try {
    const again = client(restarted.url);
    const listed = new Set<string>();
    let nextToken: string | undefined;
    do {
      const page = await again.send(
        new ListSecretsCommand({ MaxResults: 100, NextToken: nextToken }),
      );
      for (const secret of page.SecretList ?? []) listed.add(secret.Name!);
      nextToken = page.NextToken;
    } while (nextToken);
    for (const name of created) {
      assert.ok(listed.has(name), `${name} was answered as created, and is there`);
    }
    for (const [name, outcome] of outcomes) {
      if (outcome === 'refused-503' || outcome === 'not-connected') {
        assert.ok(!listed.has(name), `${name} was refused (${outcome}), and is not there`);
      }
    }
    const sample = created.at(-1)!;
    const value = await again.send(new GetSecretValueCommand({ SecretId: sample }));
    assert.equal(value.SecretString, `value-${sample}`, 'the last answered write is whole');
  } finally {
    await restarted.stop();
  }
});

test('traffic that never pauses does not hold a stop past its drain window', async () => {
  const service = await serve({ SCRAM_SECRETS_SHUTDOWN_GRACE_SECONDS: '10' });
  let polling = true;
  // A poller that never waits longer than the quiet spell a stop looks for.
  const poller = (async () => {
    while (polling) {
      await fetch(`${service.url}/health`).catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  try {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const startedAt = Date.now();
    assert.equal(await service.stop('SIGTERM'), 0, 'nothing was in flight: a clean stop');
    const elapsed = Date.now() - startedAt;
    assert.ok(elapsed < 6_000, `it stopped within its drain window (${elapsed} ms)`);
  } finally {
    polling = false;
    await poller;
  }
});

test('a request that outlives the shutdown grace period makes the stop exit 1', async () => {
  const service = await serve({ SCRAM_SECRETS_SHUTDOWN_GRACE_SECONDS: '1' });
  // A body that never finishes keeps its request in flight past any grace period.
  const stalled = httpRequest(service.url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-amz-json-1.1', 'content-length': '100' },
  });
  stalled.on('error', () => undefined);
  stalled.write('{');
  await new Promise((resolve) => setTimeout(resolve, 300));
  const timedOut = service.nextEvent('server.stop_timed_out');
  const startedAt = Date.now();
  try {
    assert.equal(await service.stop('SIGTERM'), 1, 'a stop that was not clean exits 1');
  } finally {
    stalled.destroy();
  }
  const elapsed = Date.now() - startedAt;
  assert.ok(elapsed >= 900 && elapsed < 10_000, `it waited the grace period (${elapsed} ms)`);
  const event = await timedOut;
  assert.equal(event.level, 50, 'logged at error');
  assert.equal(event.graceSeconds, 1);
});

test('too many requests in flight get 503 with Retry-After, and serving goes on', async () => {
  const service = await serve({ SCRAM_SECRETS_MAX_IN_FLIGHT: '2' });
  const { url } = service;
  let stalled: ReturnType<typeof httpRequest>[] = [];
  try {
    // Two requests whose bodies never finish stay in flight for as long as we like.
    stalled = [1, 2].map(() => {
      const request = httpRequest(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-amz-json-1.1', 'content-length': '100' },
      });
      request.on('error', () => undefined);
      request.write('{');
      return request;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const secretsManager = client(url);
    let response: { statusCode: number; headers: Record<string, string> } | undefined;
    await assert.rejects(
      secretsManager.send(new CreateSecretCommand({ Name: 'shed', SecretString: 'x' })),
      (error: Error & { $response?: typeof response }) => {
        response = error.$response;
        return true;
      },
    );
    assert.equal(response?.statusCode, 503);
    assert.equal(response?.headers['x-amzn-errortype'], 'ServiceUnavailableException');
    assert.equal(response?.headers['retry-after'], '1');
    const fromPage = await fetch(`${url}/v1/clusters`, {
      headers: { origin: 'http://app.example' },
    });
    assert.equal(fromPage.status, 503);
    assert.equal(
      fromPage.headers.get('access-control-allow-origin'),
      '*',
      'a page in a browser is let see the 503, not a network failure',
    );

    for (const request of stalled) request.destroy();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const created = await secretsManager.send(
      new CreateSecretCommand({ Name: 'served', SecretString: 'x' }),
    );
    assert.ok(created.ARN, 'once the stalled requests are gone, calls are served again');
  } finally {
    // A stalled request left open would keep the service from stopping.
    for (const request of stalled) request.destroy();
    await service.stop();
  }
});
