import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { KMSClient } from '@aws-sdk/client-kms';
import {
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';

import { createKey, createMskSecret } from '../support/fixtures.js';
import { rawRequest } from '../support/raw.js';
import { startServe, type ServeProcess } from '../support/serve.js';
import { ACCESS_KEY_ID, ACCOUNT_ID, REGION, SECRET_ACCESS_KEY } from '../support/server.js';
import { presignedUrl, signedHeaders } from '../support/signing.js';

/**
 * `serve` at its most verbose level, through every way a call can be signed or spoiled and
 * every call that carries a password: nothing it prints may hold the secret access key, a
 * request's signature or a password.
 */

const dataDir = mkdtempSync(join(tmpdir(), 'scram-secrecy-'));
let service: ServeProcess;
const signatures = new Set<string>();

/** Notes the signature of every request a client sends, after the SDK has signed it. */
function recordingSignatures<Client extends { middlewareStack: unknown }>(client: Client): Client {
  const stack = client.middlewareStack as {
    add(middleware: unknown, options: Record<string, unknown>): void;
  };
  type Args = { request: { headers?: Record<string, string> } };
  const record = (next: (args: Args) => Promise<unknown>) => async (args: Args) => {
    const authorization = args.request.headers?.authorization ?? '';
    const signature = /Signature=([0-9a-f]{64})/.exec(authorization)?.[1];
    if (signature) signatures.add(signature);
    return next(args);
  };
  stack.add(record, { step: 'deserialize', name: 'recordSignature' });
  return client;
}

const clientConfig = () => ({
  endpoint: service.url,
  region: REGION,
  credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
  maxAttempts: 1,
});

before(async () => {
  service = await startServe({
    env: {
      SCRAM_SECRETS_DATA_DIR: dataDir,
      SCRAM_SECRETS_LOG_LEVEL: 'trace',
      SCRAM_SECRETS_MAX_EVENT_LOOP_DELAY_MS: '0',
      SCRAM_SECRETS_CREDENTIALS: `${ACCESS_KEY_ID}:${SECRET_ACCESS_KEY}:${ACCOUNT_ID}`,
    },
  });
});
after(async () => {
  await service?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('at trace level, no secret key, signature or password reaches the output', async () => {
  const secretsManager = recordingSignatures(new SecretsManagerClient(clientConfig()));
  const kms = recordingSignatures(new KMSClient(clientConfig()));
  const keyId = await createKey(kms);
  const secret = await createMskSecret(secretsManager, { kmsKeyId: keyId });
  const passwords = [secret.password, `${secret.password}-rotated`];
  await secretsManager.send(
    new PutSecretValueCommand({
      SecretId: secret.arn,
      SecretString: JSON.stringify({ username: secret.username, password: passwords[1] }),
    }),
  );
  const value = await secretsManager.send(new GetSecretValueCommand({ SecretId: secret.arn }));
  assert.ok(value.SecretString?.includes(passwords[1]!), 'the calls were really served');

  // A signature spoiled by one digit: refused, and still never printed.
  const init = {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': 'secretsmanager.GetSecretValue',
    },
    body: JSON.stringify({ SecretId: secret.arn }),
  };
  const headers = await signedHeaders(service.url, init, { service: 'secretsmanager' });
  const good = /Signature=([0-9a-f]{64})/.exec(headers.authorization!)![1]!;
  const spoiled = `${good.slice(0, -1)}${good.endsWith('0') ? '1' : '0'}`;
  signatures.add(good).add(spoiled);
  headers.authorization = headers.authorization!.replace(good, spoiled);
  const refused = await rawRequest(service.url, { ...init, headers });
  assert.equal(refused.json.__type, 'InvalidSignatureException');

  // Presigned, with the signature and a session token in the query string.
  const listClusters = `${service.url}/v1/clusters`;
  const presigned = await presignedUrl(listClusters, { expiresIn: 300 });
  const presignedSignature = new URL(presigned).searchParams.get('X-Amz-Signature')!;
  signatures.add(presignedSignature);
  assert.equal((await rawRequest(presigned, {})).status, 200);
  const token = 'secrecy-test-session-token-0123456789';
  const withToken = await presignedUrl(`${listClusters}?X-Amz-Security-Token=${token}`);
  signatures.add(new URL(withToken).searchParams.get('X-Amz-Signature')!);
  await rawRequest(withToken, {});
  const spoiledPresigned = presigned.replace(presignedSignature, spoiled);
  assert.equal((await rawRequest(spoiledPresigned, {})).status, 401);

  await new Promise((resolve) => setTimeout(resolve, 200));
  const output = service.output();
  assert.ok(output.includes('"level":'), 'the service logged');
  assert.ok(signatures.size >= 6, `signatures of every kind were sent (${signatures.size})`);
  assert.ok(!output.includes(SECRET_ACCESS_KEY), 'the secret access key is not printed');
  for (const signature of signatures) {
    assert.ok(!output.includes(signature), `the signature ${signature} is not printed`);
  }
  for (const password of passwords) {
    assert.ok(!output.includes(password), 'no password is printed');
  }
  assert.ok(!output.includes(token), 'no session token is printed');
});
