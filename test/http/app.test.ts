import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';

import { ListClustersCommand } from '@aws-sdk/client-kafka';
import { CreateSecretCommand, ListSecretsCommand } from '@aws-sdk/client-secrets-manager';
import { pino } from 'pino';

import { loadCredentials } from '../../src/auth/credentials.js';
import { buildApp } from '../../src/http/app.js';
import type { Services } from '../../src/api/types.js';
import { clusterPath, rawRequest, unsignedAuthorization } from '../support/raw.js';
import { signedHeaders } from '../support/signing.js';
import { ACCESS_KEY_ID, ACCOUNT_ID, startTestServer, type TestServer } from '../support/server.js';

const SOME_CLUSTER =
  'arn:aws:kafka:us-east-1:111122223333:cluster/demo/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b-1';

let t: TestServer;
before(async () => {
  t = await startTestServer();
});
after(async () => t.stop());

describe('authentication on the MSK API', () => {
  const cases: Array<[string, Record<string, string>]> = [
    ['no Authorization header', {}],
    ['a header of another scheme', { authorization: 'Basic dXNlcjpwYXNz' }],
    ['a malformed SigV4 header', { authorization: 'AWS4-HMAC-SHA256 Credential=oops' }],
    [
      'an unknown access key',
      { authorization: unsignedAuthorization('kafka', 'AKIAUNKNOWNKEY000000') },
    ],
    ['a scope for another service', { authorization: unsignedAuthorization('secretsmanager') }],
  ];
  for (const [name, headers] of cases) {
    test(`${name} is 401 UnauthorizedException`, async () => {
      const response = await rawRequest(`${t.url}${clusterPath(SOME_CLUSTER, '/scram-secrets')}`, {
        headers,
      });
      assert.equal(response.status, 401);
      assert.equal(response.headers.get('x-amzn-errortype'), 'UnauthorizedException');
      assert.equal(typeof response.json.message, 'string');
      assert.ok(response.headers.get('x-amzn-requestid'));
    });
  }

  test('the SDK with an unknown access key gets UnauthorizedException', async () => {
    const client = t.kafka({
      accessKeyId: 'AKIAUNKNOWNKEY000000',
      secretAccessKey: 'whatever-secret',
    });
    await assert.rejects(client.send(new ListClustersCommand({})), {
      name: 'UnauthorizedException',
    });
  });

  test('a correctly signed request reaches the operation', async () => {
    const url = `${t.url}${clusterPath(SOME_CLUSTER, '/scram-secrets')}`;
    const response = await rawRequest(url, { headers: await signedHeaders(url) });
    assert.equal(response.status, 404);
    assert.equal(response.headers.get('x-amzn-errortype'), 'NotFoundException');
  });
});

describe('authentication on the JSON 1.1 APIs', () => {
  test('the SDK with an unknown access key gets UnrecognizedClientException', async () => {
    const client = t.secretsManager({
      accessKeyId: 'AKIAUNKNOWNKEY000000',
      secretAccessKey: 'x'.repeat(20),
    });
    await assert.rejects(client.send(new ListSecretsCommand({})), {
      name: 'UnrecognizedClientException',
    });
  });

  test('an unsigned request is refused with MissingAuthenticationTokenException', async () => {
    const response = await rawRequest(t.url, {
      method: 'POST',
      headers: {
        'x-amz-target': 'secretsmanager.ListSecrets',
        'content-type': 'application/x-amz-json-1.1',
      },
      body: '{}',
    });
    assert.equal(response.status, 400);
    assert.equal(response.json.__type, 'MissingAuthenticationTokenException');
  });
});

describe('wire protocol', () => {
  test('the region of the signature scope is the region of the resources', async () => {
    const created = await t
      .secretsManager({ region: 'eu-west-1' })
      .send(new CreateSecretCommand({ Name: 'regional', SecretString: 'x' }));
    assert.match(
      created.ARN!,
      new RegExp(`^arn:aws:secretsmanager:eu-west-1:${ACCOUNT_ID}:secret:regional-`),
    );
    const elsewhere = await t
      .secretsManager({ region: 'us-west-2' })
      .send(new ListSecretsCommand({}));
    assert.equal(
      elsewhere.SecretList?.some((secret) => secret.Name === 'regional'),
      false,
    );
  });

  test('an unknown X-Amz-Target is UnknownOperationException', async () => {
    const response = await rawRequest(t.url, {
      method: 'POST',
      headers: { 'x-amz-target': 'secretsmanager.RotateEverything' },
      body: '{}',
    });
    assert.equal(response.status, 400);
    assert.equal(response.json.__type, 'UnknownOperationException');
    assert.equal(response.headers.get('x-amzn-errortype'), 'UnknownOperationException');
  });

  test('operation names that are not operations never reach an object prototype', async () => {
    for (const target of [
      'secretsmanager.constructor',
      'TrentService.constructor',
      'secretsmanager.__proto__',
      'secretsmanager.toString',
      'secretsmanager.hasOwnProperty',
      'secretsmanager.ListSecrets.constructor',
      'constructor.ListSecrets',
      'toString.ListSecrets',
    ]) {
      const service = target.startsWith('TrentService') ? 'kms' : 'secretsmanager';
      const init = {
        method: 'POST',
        headers: { 'x-amz-target': target, 'content-type': 'application/x-amz-json-1.1' },
        body: '{}',
      };
      const headers = await signedHeaders(t.url, init, { service });
      const response = await rawRequest(t.url, { ...init, headers });
      assert.equal(response.status, 400, target);
      assert.equal(response.json.__type, 'UnknownOperationException', target);
      assert.ok(!/masterKey|"key"|tokens/i.test(response.text), `${target} leaks nothing`);
    }
  });

  test('a request too large or malformed for HTTP gets an AWS error and request id', async () => {
    const oversized = await rawRequest(`${t.url}/v1/clusters`, {
      headers: { 'x-padding': 'p'.repeat(20_000) },
    });
    assert.equal(oversized.status, 431);
    assert.equal(oversized.headers.get('x-amzn-errortype'), 'BadRequestException');
    assert.ok(oversized.headers.get('x-amzn-requestid'));
    assert.equal(typeof oversized.json.message, 'string');

    const { port } = new URL(t.url);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () =>
        socket.write('GET / HTTP/9.9\r\n\r\n'),
      );
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    assert.match(answer, /^HTTP\/1\.1 400 /);
    assert.match(answer, /x-amzn-RequestId: [0-9a-f-]{36}/);
    assert.match(answer, /x-amzn-ErrorType: BadRequestException/);
  });

  test('a JSON 1.1 body that is not JSON is SerializationException', async () => {
    const init = {
      method: 'POST',
      headers: {
        'x-amz-target': 'secretsmanager.ListSecrets',
        'content-type': 'application/x-amz-json-1.1',
      },
      body: '{not json',
    };
    const headers = await signedHeaders(t.url, init, { service: 'secretsmanager' });
    const response = await rawRequest(t.url, { ...init, headers });
    assert.equal(response.status, 400);
    assert.equal(response.json.__type, 'SerializationException');
  });

  test('a REST body that is not JSON is BadRequestException', async () => {
    const url = `${t.url}${clusterPath(SOME_CLUSTER, '/scram-secrets')}`;
    const init = {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"secretArnList": [',
    };
    const response = await rawRequest(url, { ...init, headers: await signedHeaders(url, init) });
    assert.equal(response.status, 400);
    assert.equal(response.headers.get('x-amzn-errortype'), 'BadRequestException');
    assert.match(String(response.json.message), /not valid JSON/);
  });

  test('a path the router refuses is 400 in the AWS shape, with CORS for a browser', async () => {
    const response = await rawRequest(`${t.url}/v1/clusters/%E0%A4%A/scram-secrets`, {
      headers: { origin: 'http://app.example' },
    });
    assert.equal(response.status, 400);
    assert.equal(response.headers.get('x-amzn-errortype'), 'BadRequestException');
    assert.ok(response.headers.get('x-amzn-requestid'));
    assert.equal(response.headers.get('access-control-allow-origin'), '*');
  });

  test('a JSON 1.1 call without X-Amz-Target is refused in the JSON 1.1 shape', async () => {
    const response = await rawRequest(t.url, { method: 'POST', body: '{}' });
    assert.equal(response.status, 400);
    assert.equal(response.json.__type, 'UnknownOperationException');
    assert.equal(response.headers.get('x-amzn-errortype'), 'UnknownOperationException');
    assert.match(response.json.message as string, /names no operation.*X-Amz-Target/);
  });

  test('a path no operation serves is 404 NotFoundException with a request id', async () => {
    const response = await rawRequest(`${t.url}/v1/nothing-here`, {});
    assert.equal(response.status, 404);
    assert.equal(response.headers.get('x-amzn-errortype'), 'NotFoundException');
    assert.ok(response.headers.get('x-amzn-requestid'));
  });
});

test('an unexpected failure is a 500 that leaks nothing, logged without its message', async () => {
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
  const leaky = 'password=hunter2-in-an-error-message';
  const failing = {
    scramSecrets: {
      list: async () => {
        throw new Error(leaky);
      },
    },
  } as unknown as Services;
  const { fastify: app } = await buildApp({
    services: failing,
    credentials: loadCredentials(
      [{ accessKeyId: ACCESS_KEY_ID, secretAccessKey: 's'.repeat(20), accountId: ACCOUNT_ID }],
      [],
      '/nonexistent',
    ),
    logger,
    corsAllowedOrigins: ['*'],
    verifySignatures: false,
  });
  try {
    const response = await app.inject({
      method: 'GET',
      url: clusterPath(SOME_CLUSTER, '/scram-secrets'),
      headers: { authorization: unsignedAuthorization() },
    });
    assert.equal(response.statusCode, 500);
    assert.equal(response.headers['x-amzn-errortype'], 'InternalServerErrorException');
    assert.ok(!response.body.includes('hunter2'));
    assert.ok(!response.body.includes('at '), 'no stack frames in the body');
    assert.ok(lines.some((line) => line.includes('request.failed')));
    assert.ok(lines.every((line) => !line.includes('hunter2')));
  } finally {
    await app.close();
  }
});
