import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { KafkaClient, ListScramSecretsCommand } from '@aws-sdk/client-kafka';
import { ListKeysCommand } from '@aws-sdk/client-kms';
import {
  CreateSecretCommand,
  ListSecretsCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';

import { assertCliError, awsCli, type AwsCli } from '../support/aws-cli.js';
import { createKey, createMskSecret, createScramCluster } from '../support/fixtures.js';
import { clusterPath, rawRequest, type RawResponse } from '../support/raw.js';
import {
  ACCESS_KEY_ID,
  REGION,
  SECRET_ACCESS_KEY,
  startTestServer,
  type TestServer,
} from '../support/server.js';
import { presignedUrl, signedHeaders, type SigningOptions } from '../support/signing.js';

/**
 * Requests signed exactly as the AWS SDKs sign them, then spoiled in one way each: every
 * spoiled request must be refused before it reaches an operation, and its unspoiled twin
 * must go through, so that each refusal is owed to the spoiling alone.
 */

const MINUTE = 60_000;
const WRONG_SECRET_ACCESS_KEY = `${SECRET_ACCESS_KEY}-but-wrong`;
const UNKNOWN_ACCESS_KEY_ID = 'AKIAUNKNOWNKEY000042';
const MISMATCH = /The request signature we calculated does not match the signature you provided/;

interface Sendable {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
}

let t: TestServer;
let kafka: KafkaClient;
let clusterArn: string;
let otherClusterArn: string;
let secretArns: string[];

before(async () => {
  t = await startTestServer();
  kafka = t.kafka();
  const keyId = await createKey(t.kms());
  [clusterArn, otherClusterArn] = await Promise.all([
    createScramCluster(kafka),
    createScramCluster(kafka),
  ]);
  secretArns = (
    await Promise.all([1, 2, 3].map(() => createMskSecret(t.secretsManager(), { kmsKeyId: keyId })))
  ).map((secret) => secret.arn);
});

after(async () => t?.stop());

async function signed(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
  options: SigningOptions = {},
): Promise<Sendable> {
  return {
    url,
    method: init.method ?? 'GET',
    headers: await signedHeaders(url, init, options),
    body: init.body,
  };
}

function send(request: Sendable): Promise<RawResponse> {
  return rawRequest(request.url, {
    method: request.method,
    headers: request.headers,
    body: request.body,
  });
}

/** The same Authorization header with the last hex digit of its signature changed. */
function withChangedDigit(authorization: string): string {
  return authorization.replace(
    /Signature=([0-9a-f]{63})([0-9a-f])/,
    (_match, head: string, last: string) => `Signature=${head}${last === '0' ? '1' : '0'}`,
  );
}

function signatureOf(request: Sendable): string {
  return /Signature=([0-9a-f]{64})/.exec(request.headers.authorization ?? '')?.[1] ?? '';
}

/** `YYYYMMDDTHHMMSSZ` one second later. */
function oneSecondLater(amzDate: string): string {
  const [, y, mo, d, h, mi, s] = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate)!;
  const date = new Date(Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +s! + 1));
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

function assertMskUnauthorized(response: RawResponse, message: RegExp, signature = ''): void {
  assert.equal(response.status, 401, response.text);
  assert.equal(response.headers.get('x-amzn-errortype'), 'UnauthorizedException');
  assert.ok(response.headers.get('x-amzn-requestid'));
  assert.deepEqual(Object.keys(response.json), ['message']);
  assert.match(String(response.json.message), message);
  if (signature) assert.ok(!response.text.includes(signature), 'the signature is echoed back');
}

function assertJsonError(
  response: RawResponse,
  status: number,
  type: string,
  message: RegExp,
): void {
  assert.equal(response.status, status, response.text);
  assert.equal(response.json.__type, type);
  assert.equal(response.headers.get('x-amzn-errortype'), type);
  assert.match(String(response.json.message), message);
}

describe('MSK: a spoiled signature is 401 UnauthorizedException', () => {
  const listUrl = (arn = clusterArn, maxResults = 5): string =>
    `${t.url}${clusterPath(arn, '/scram-secrets')}?maxResults=${maxResults}`;
  const associateInit = (secretArn: string) => ({
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ secretArnList: [secretArn] }),
  });
  const associateUrl = (): string => `${t.url}${clusterPath(clusterArn, '/scram-secrets')}`;

  test('the unspoiled requests go through', async () => {
    const listed = await send(await signed(listUrl()));
    const associated = await send(await signed(associateUrl(), associateInit(secretArns[0]!)));

    assert.equal(listed.status, 200, listed.text);
    assert.deepEqual(listed.json.secretArnList, []);
    assert.equal(associated.status, 200, associated.text);
    assert.deepEqual(associated.json.unprocessedScramSecrets, []);
  });

  test('signed with the wrong secret key', async () => {
    const request = await signed(listUrl(), {}, { secretAccessKey: WRONG_SECRET_ACCESS_KEY });
    assertMskUnauthorized(await send(request), MISMATCH, signatureOf(request));
  });

  test('one hex digit of the signature changed', async () => {
    const request = await signed(listUrl());
    request.headers.authorization = withChangedDigit(request.headers.authorization!);
    assertMskUnauthorized(await send(request), MISMATCH);
  });

  test('the body changed after signing, with and without x-amz-content-sha256', async () => {
    const withHash = await signed(associateUrl(), associateInit(secretArns[1]!));
    withHash.body = JSON.stringify({ secretArnList: [secretArns[2]] });
    const withoutHash = await signed(associateUrl(), associateInit(secretArns[1]!), {
      payloadHashHeader: false,
    });
    withoutHash.body = JSON.stringify({ secretArnList: [secretArns[2]] });
    assert.equal(withoutHash.headers['x-amz-content-sha256'], undefined);

    assertMskUnauthorized(
      await send(withHash),
      /x-amz-content-sha256.*does not match the request body/,
    );
    assertMskUnauthorized(await send(withoutHash), MISMATCH);
    const listed = await kafka.send(new ListScramSecretsCommand({ ClusterArn: clusterArn }));
    assert.deepEqual(listed.SecretArnList, [secretArns[0]], 'a refused body was acted upon');
  });

  test('a signed UNSIGNED-PAYLOAD does not let the body change', async () => {
    const init = associateInit(secretArns[1]!);
    const request = await signed(associateUrl(), {
      ...init,
      headers: { ...init.headers, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    });
    assert.match(request.headers.authorization!, /SignedHeaders=[^,]*x-amz-content-sha256/);
    request.body = JSON.stringify({ secretArnList: [secretArns[2]] });

    assertMskUnauthorized(await send(request), /UNSIGNED-PAYLOAD/);
    const listed = await kafka.send(new ListScramSecretsCommand({ ClusterArn: clusterArn }));
    assert.deepEqual(listed.SecretArnList, [secretArns[0]], 'an unsigned body was acted upon');
  });

  test('the path changed after signing: another cluster ARN', async () => {
    const request = await signed(listUrl(clusterArn));
    request.url = listUrl(otherClusterArn);
    const unspoiled = await send(await signed(listUrl(otherClusterArn)));

    assertMskUnauthorized(await send(request), MISMATCH);
    assert.equal(unspoiled.status, 200, unspoiled.text);
  });

  test('the query changed after signing: maxResults', async () => {
    const request = await signed(listUrl(clusterArn, 5));
    request.url = listUrl(clusterArn, 6);
    assertMskUnauthorized(await send(request), MISMATCH);
  });

  test('a signed header changed after signing: x-amz-date', async () => {
    const request = await signed(listUrl());
    request.headers['x-amz-date'] = oneSecondLater(request.headers['x-amz-date']!);
    // One second later on the same day, the signature fails; across midnight, the scope date.
    assertMskUnauthorized(await send(request), /does not match/);
  });

  test('a signed header changed after signing: content-type', async () => {
    const request = await signed(associateUrl(), associateInit(secretArns[1]!));
    request.headers['content-type'] = 'application/x-amz-json-1.1';
    assertMskUnauthorized(await send(request), MISMATCH);
  });

  test('a signed header left out of the request', async () => {
    const request = await signed(listUrl());
    delete request.headers['x-amz-content-sha256'];
    assertMskUnauthorized(await send(request), /signed header x-amz-content-sha256 is missing/);
  });

  test('a signed header named like an object property, and not sent, is missing', async () => {
    const request = await signed(listUrl());
    request.headers.authorization = request.headers.authorization!.replace(
      'SignedHeaders=',
      'SignedHeaders=constructor;',
    );
    assertMskUnauthorized(await send(request), /signed header constructor is missing/);
  });

  test('a header added after signing, and so not signed, changes nothing', async () => {
    const request = await signed(listUrl());
    request.headers['x-added-after-signing'] = 'anything';
    const response = await send(request);
    assert.equal(response.status, 200, response.text);
  });

  test('signed more than 5 minutes ago or ahead is refused; within 5 minutes is not', async () => {
    const at = async (offset: number) =>
      send(await signed(listUrl(), {}, { signingDate: new Date(Date.now() + offset) }));
    const [past, future, recentPast, nearFuture] = await Promise.all(
      [-6 * MINUTE, 6 * MINUTE, -4 * MINUTE, 4 * MINUTE].map(at),
    );

    assertMskUnauthorized(past!, /Signature expired/);
    assertMskUnauthorized(future!, /Signature expired/);
    assert.equal(recentPast!.status, 200, recentPast!.text);
    assert.equal(nearFuture!.status, 200, nearFuture!.text);
  });

  test('a credential scope for another service', async () => {
    const request = await signed(listUrl(), {}, { service: 'secretsmanager' });
    assertMskUnauthorized(await send(request), /scoped to correct service: 'kafka'/);
  });

  test('an access key the service does not know, correctly signed', async () => {
    const request = await signed(
      listUrl(),
      {},
      {
        accessKeyId: UNKNOWN_ACCESS_KEY_ID,
        secretAccessKey: 'whatever-secret-key-of-unknown',
      },
    );
    assertMskUnauthorized(await send(request), /security token included in the request is invalid/);
  });

  const malformations: Array<[string, (authorization: string) => string]> = [
    ['without its Signature', (header) => header.replace(/, Signature=[0-9a-f]+/, '')],
    [
      'with a 63-digit signature',
      (header) => header.replace(/(Signature=[0-9a-f]{63})[0-9a-f]/, '$1'),
    ],
    ['without SignedHeaders', (header) => header.replace(/SignedHeaders=[^,]+, /, '')],
    [
      'with a scope that does not end in aws4_request',
      (header) => header.replace('/aws4_request', '/aws4'),
    ],
    ['with a scope without its date', (header) => header.replace(/\/\d{8}\//, '/')],
    ['of another algorithm', (header) => header.replace('AWS4-HMAC-SHA256', 'AWS4-HMAC-SHA512')],
  ];
  for (const [name, malform] of malformations) {
    test(`a malformed Authorization header: ${name}`, async () => {
      const request = await signed(listUrl());
      request.headers.authorization = malform(request.headers.authorization!);
      assertMskUnauthorized(await send(request), /malformed|not signed/);
    });
  }
});

describe('MSK: presigned query strings', () => {
  const listUrl = (maxResults = 5): string =>
    `${t.url}${clusterPath(clusterArn, '/scram-secrets')}?maxResults=${maxResults}`;

  test('a correctly presigned GET of ListScramSecrets works, with no Authorization', async () => {
    const url = await presignedUrl(listUrl());
    assert.match(url, /X-Amz-Signature=[0-9a-f]{64}/);

    const response = await rawRequest(url, {});

    assert.equal(response.status, 200, response.text);
    assert.ok(Array.isArray(response.json.secretArnList));
  });

  test('an expired presigned URL is refused', async () => {
    const url = await presignedUrl(listUrl(), {
      signingDate: new Date(Date.now() - 10 * MINUTE),
      expiresIn: 60,
    });
    assertMskUnauthorized(await rawRequest(url, {}), /expired/);
  });

  test('a presigned URL dated in the future is refused', async () => {
    const url = await presignedUrl(listUrl(), { signingDate: new Date(Date.now() + 10 * MINUTE) });
    assertMskUnauthorized(await rawRequest(url, {}), /future/);
  });

  const tamperings: Array<[string, (url: string) => string]> = [
    ['its maxResults changed', (url) => url.replace('maxResults=5', 'maxResults=6')],
    ['its expiry extended', (url) => url.replace('X-Amz-Expires=300', 'X-Amz-Expires=3000')],
    [
      'one digit of its signature changed',
      (url) =>
        url.replace(
          /(X-Amz-Signature=[0-9a-f]{63})([0-9a-f])/,
          (_m, head: string, last: string) => `${head}${last === '0' ? '1' : '0'}`,
        ),
    ],
    [
      'another cluster in its path',
      (url) => url.replace(encodeURIComponent(clusterArn), encodeURIComponent(otherClusterArn)),
    ],
  ];
  for (const [name, tamper] of tamperings) {
    test(`a presigned URL with ${name} is refused`, async () => {
      const url = await presignedUrl(listUrl());
      const tampered = tamper(url);
      assert.notEqual(tampered, url);
      assertMskUnauthorized(await rawRequest(tampered, {}), MISMATCH);
    });
  }

  test('a presigned URL signed with the wrong secret key is refused', async () => {
    const url = await presignedUrl(listUrl(), { secretAccessKey: WRONG_SECRET_ACCESS_KEY });
    assertMskUnauthorized(await rawRequest(url, {}), MISMATCH);
  });
});

describe('MSK: the cluster ARN is signed as its percent-encoding was sent', () => {
  const encodings: Record<string, (arn: string) => string> = {
    // What the AWS SDKs and the CLI send: every ':' and '/' in the ARN escaped.
    sdk: (arn) => encodeURIComponent(arn),
    colonsLiteral: (arn) => encodeURIComponent(arn).replace(/%3A/g, ':'),
    lowercaseHex: (arn) => encodeURIComponent(arn).replace(/%3A/g, '%3a').replace(/%2F/g, '%2f'),
  };
  const url = (encoding: keyof typeof encodings): string =>
    `${t.url}/v1/clusters/${encodings[encoding]!(clusterArn)}/scram-secrets`;

  for (const encoding of Object.keys(encodings)) {
    test(`a path signed and sent as ${encoding} reaches the same cluster`, async () => {
      const response = await send(await signed(url(encoding)));
      assert.equal(response.status, 200, response.text);
      assert.deepEqual(response.json.secretArnList, [secretArns[0]]);
    });
  }

  for (const [signedAs, sentAs] of [
    ['sdk', 'colonsLiteral'],
    ['colonsLiteral', 'sdk'],
    ['sdk', 'lowercaseHex'],
  ] as const) {
    test(`a path signed as ${signedAs} but sent as ${sentAs} is refused`, async () => {
      const request = await signed(url(signedAs));
      request.url = url(sentAs);
      assertMskUnauthorized(await send(request), MISMATCH);
    });
  }

  test('a canonical path not escaped a second time (as only S3 signs) is refused', async () => {
    const request = await signed(url('sdk'), {}, { uriEscapePath: false });
    assertMskUnauthorized(await send(request), MISMATCH);
  });
});

for (const api of [
  {
    service: 'secretsmanager',
    target: 'secretsmanager.ListSecrets',
    changedTarget: 'secretsmanager.DescribeSecret',
    otherService: 'kms',
    changedBody: '{"MaxResults":1}',
  },
  {
    service: 'kms',
    target: 'TrentService.ListKeys',
    changedTarget: 'TrentService.ListAliases',
    otherService: 'secretsmanager',
    changedBody: '{"Limit":1}',
  },
]) {
  describe(`${api.service}: a spoiled signature is the JSON 1.1 error`, () => {
    const init = {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': api.target },
      body: '{}',
    };
    const sign = (options: SigningOptions = {}) =>
      signed(t.url, init, { service: api.service, ...options });
    const invalid = (response: RawResponse, message = MISMATCH) =>
      assertJsonError(response, 400, 'InvalidSignatureException', message);

    test('the unspoiled request goes through', async () => {
      const response = await send(await sign());
      assert.equal(response.status, 200, response.text);
    });

    test('signed with the wrong secret key', async () => {
      invalid(await send(await sign({ secretAccessKey: WRONG_SECRET_ACCESS_KEY })));
    });

    test('one hex digit of the signature changed', async () => {
      const request = await sign();
      request.headers.authorization = withChangedDigit(request.headers.authorization!);
      invalid(await send(request));
    });

    test('the body changed after signing, with and without x-amz-content-sha256', async () => {
      const withHash = await sign();
      withHash.body = api.changedBody;
      const withoutHash = await sign({ payloadHashHeader: false });
      withoutHash.body = api.changedBody;

      invalid(await send(withHash), /x-amz-content-sha256/);
      invalid(await send(withoutHash));
    });

    test('a signed UNSIGNED-PAYLOAD does not let the body change', async () => {
      const request = await signed(
        t.url,
        { ...init, headers: { ...init.headers, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } },
        { service: api.service },
      );
      request.body = api.changedBody;
      invalid(await send(request), /UNSIGNED-PAYLOAD/);
    });

    test('signed headers changed after signing: X-Amz-Target, content-type, date', async () => {
      const target = await sign();
      target.headers['x-amz-target'] = api.changedTarget;
      const contentType = await sign();
      contentType.headers['content-type'] = 'application/json';
      const date = await sign();
      date.headers['x-amz-date'] = oneSecondLater(date.headers['x-amz-date']!);

      invalid(await send(target));
      invalid(await send(contentType));
      invalid(await send(date), /does not match/);
    });

    test('signed more than 5 minutes ago or ahead', async () => {
      const past = await sign({ signingDate: new Date(Date.now() - 6 * MINUTE) });
      const future = await sign({ signingDate: new Date(Date.now() + 6 * MINUTE) });
      invalid(await send(past), /Signature expired/);
      invalid(await send(future), /Signature expired/);
    });

    test('a credential scope for another service', async () => {
      const request = await sign({ service: api.otherService });
      invalid(await send(request), new RegExp(`scoped to correct service: '${api.service}'`));
    });

    test('an access key the service does not know', async () => {
      const request = await sign({
        accessKeyId: UNKNOWN_ACCESS_KEY_ID,
        secretAccessKey: 'whatever-secret-key-of-unknown',
      });
      assertJsonError(await send(request), 400, 'UnrecognizedClientException', /security token/);
    });

    test('a malformed Authorization header', async () => {
      const request = await sign();
      request.headers.authorization = request.headers.authorization!.replace(
        /, Signature=[0-9a-f]+/,
        '',
      );
      assertJsonError(await send(request), 400, 'IncompleteSignatureException', /malformed/);
    });
  });
}

describe('real clients with the wrong secret key', () => {
  const wrong = { secretAccessKey: WRONG_SECRET_ACCESS_KEY };

  test('the AWS SDK v3: UnauthorizedException; InvalidSignatureException on SM, KMS', async () => {
    await assert.rejects(
      t.kafka(wrong).send(new ListScramSecretsCommand({ ClusterArn: clusterArn })),
      (error: Error & { $metadata?: { httpStatusCode?: number } }) => {
        assert.equal(error.name, 'UnauthorizedException');
        assert.equal(error.$metadata?.httpStatusCode, 401);
        assert.match(error.message, MISMATCH);
        return true;
      },
    );
    await assert.rejects(t.secretsManager(wrong).send(new ListSecretsCommand({})), {
      name: 'InvalidSignatureException',
      message: MISMATCH,
    });
    await assert.rejects(t.kms(wrong).send(new ListKeysCommand({})), {
      name: 'InvalidSignatureException',
      message: MISMATCH,
    });
    // The same clients with the right key go through.
    await t.kafka().send(new ListScramSecretsCommand({ ClusterArn: clusterArn }));
    await t.secretsManager().send(new ListSecretsCommand({}));
    await t.kms().send(new ListKeysCommand({}));
  });

  test('the AWS SDK v3 with a clock 6 minutes off: UnauthorizedException', async () => {
    const skewed = new KafkaClient({
      endpoint: t.url,
      region: REGION,
      credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
      maxAttempts: 1,
      systemClockOffset: -6 * MINUTE,
    });
    await assert.rejects(skewed.send(new ListScramSecretsCommand({ ClusterArn: clusterArn })), {
      name: 'UnauthorizedException',
      message: /Signature expired/,
    });
  });

  test('the AWS SDK v3 set to a region name AWS does not use: refused, nothing created', async () => {
    const config = {
      endpoint: t.url,
      region: 'local',
      credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
      maxAttempts: 1,
    };
    const notARegion = /region 'local', which is not an AWS region name/;
    await assert.rejects(
      new KafkaClient(config).send(new ListScramSecretsCommand({ ClusterArn: clusterArn })),
      { name: 'UnauthorizedException', message: notARegion },
    );
    await assert.rejects(
      new SecretsManagerClient(config).send(new CreateSecretCommand({ Name: 'AmazonMSK_x' })),
      { name: 'IncompleteSignatureException', message: notARegion },
    );
    const listed = await t.secretsManager().send(new ListSecretsCommand({}));
    assert.ok(!listed.SecretList?.some((secret) => secret.Name === 'AmazonMSK_x'));
  });

  describe('the AWS CLI', () => {
    let cli: AwsCli;
    before(async () => {
      cli = await awsCli(t.url);
    });
    after(async () => {
      await cli?.close();
      assert.deepEqual(cli?.strayRequests, [], 'the CLI sent requests elsewhere than the service');
    });

    test('UnauthorizedException from MSK, InvalidSignatureException from SM and KMS', async () => {
      const caller = { accessKeyId: ACCESS_KEY_ID, secretAccessKey: WRONG_SECRET_ACCESS_KEY };
      const right = { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY };
      const listScram = ['kafka', 'list-scram-secrets', '--cluster-arn', clusterArn];
      const [kafkaResult, smResult, kmsResult, control] = await Promise.all([
        cli.run(listScram, caller),
        cli.run(['secretsmanager', 'list-secrets'], caller),
        cli.run(['kms', 'list-keys'], caller),
        cli.run([...listScram, '--output', 'json'], right),
      ]);

      assertCliError(kafkaResult!, 'UnauthorizedException', 'ListScramSecrets', MISMATCH);
      assertCliError(smResult!, 'InvalidSignatureException', 'ListSecrets', MISMATCH);
      assertCliError(kmsResult!, 'InvalidSignatureException', 'ListKeys', MISMATCH);
      assert.equal(control!.status, 0, control!.stderr);
      assert.deepEqual(JSON.parse(control!.stdout), { SecretArnList: [secretArns[0]] });
    });
  });
});
