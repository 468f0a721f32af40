import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
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

import { ACCESS_KEY_ID, ACCOUNT_ID, REGION, SECRET_ACCESS_KEY } from '../support/server.js';

const MAIN = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
const dataDir = mkdtempSync(join(tmpdir(), 'scram-shutdown-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

/** The real `serve` command in its own process, as an operator runs it. */
async function serve(env: Record<string, string> = {}): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [MAIN, 'serve'], {
    env: {
      ...process.env,
      SCRAM_SECRETS_DATA_DIR: dataDir,
      SCRAM_SECRETS_PORT: '0',
      SCRAM_SECRETS_MAX_EVENT_LOOP_DELAY_MS: '0',
      SCRAM_SECRETS_CREDENTIALS: `${ACCESS_KEY_ID}:${SECRET_ACCESS_KEY}:${ACCOUNT_ID}`,
      ...env,
    },
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${output}`)), 15000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /"url":"(http:\/\/[^"]+)"/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${output}`)));
  });
  return { child, url };
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

test('SIGTERM under steady load: in-flight calls finish, newcomers get 503, exit 0, nothing lost', async () => {
  const { child, url } = await serve();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const secretsManager = client(url);
  const outcomes = new Map<string, Outcome>();
  let stopping = false;
  let sequence = 0;

  const worker = async (): Promise<void> => {
    while (true) {
      const name = `load-${(sequence += 1)}`;
      try {
        await secretsManager.send(new CreateSecretCommand({ Name: name, SecretString: `value-${name}` }));
        outcomes.set(name, 'created');
      } catch (error) {
        const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        const code = (error as { code?: string }).code;
        if (status === 503) outcomes.set(name, 'refused-503');
        else if (code === 'ECONNREFUSED') outcomes.set(name, 'not-connected');
        else outcomes.set(name, 'unknown');
        if (stopping && status !== 503) return;
      }
    }
  };
  const workers = Array.from({ length: 8 }, () => worker());
  await new Promise((resolve) => setTimeout(resolve, 1500));
  stopping = true;
  child.kill('SIGTERM');
  assert.equal(await exited, 0, 'the service exits 0 after SIGTERM');
  await Promise.all(workers);

  const created = [...outcomes].filter(([, outcome]) => outcome === 'created').map(([name]) => name);
  assert.ok(created.length > 20, `a steady load ran before the stop (${created.length} calls)`);

  const restarted = await serve();
  try {
    const again = client(restarted.url);
    const listed = new Set<string>();
    let nextToken: string | undefined;
    do {
      const page = await again.send(new ListSecretsCommand({ MaxResults: 100, NextToken: nextToken }));
      for (const secret of page.SecretList ?? []) listed.add(secret.Name!);
      nextToken = page.NextToken;
    } while (nextToken);
    for (const name of created) assert.ok(listed.has(name), `${name} was answered as created, and is there`);
    for (const [name, outcome] of outcomes) {
      if (outcome === 'refused-503' || outcome === 'not-connected') {
        assert.ok(!listed.has(name), `${name} was refused (${outcome}), and is not there`);
      }
    }
    const sample = created.at(-1)!;
    const value = await again.send(new GetSecretValueCommand({ SecretId: sample }));
    assert.equal(value.SecretString, `value-${sample}`, 'the last answered write is whole');
  } finally {
    restarted.child.kill('SIGTERM');
    await new Promise((resolve) => restarted.child.on('exit', resolve));
  }
});

test('too many requests in flight are answered 503 with Retry-After, and serving goes on', async () => {
  const { child, url } = await serve({ SCRAM_SECRETS_MAX_IN_FLIGHT: '2' });
  try {
    // Two requests whose bodies never finish stay in flight for as long as we like.
    const stalled = [1, 2].map(() => {
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

    for (const request of stalled) request.destroy();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const created = await secretsManager.send(new CreateSecretCommand({ Name: 'served', SecretString: 'x' }));
    assert.ok(created.ARN, 'once the stalled requests are gone, calls are served again');
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.on('exit', resolve));
  }
});
