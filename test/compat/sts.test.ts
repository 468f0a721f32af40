import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { ListClustersV2Command } from '@aws-sdk/client-kafka';
import {
  AssumeRoleCommand,
  GetCallerIdentityCommand,
  STSClient,
  STSServiceException,
} from '@aws-sdk/client-sts';

import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';

import { assertCliError, awsCli, type AwsCli } from '../support/aws-cli.js';
import {
  ACCESS_KEY_ID,
  ACCOUNT_ID,
  OTHER_ACCESS_KEY_ID,
  OTHER_ACCOUNT_ID,
  OTHER_SECRET_ACCESS_KEY,
  REGION,
  SECRET_ACCESS_KEY,
  startTestServer,
  type TestServer,
} from '../support/server.js';

/** A principal with no permission at all, named with every sign an IAM user name may have. */
const RESTRICTED = {
  name: 'ops+audit=1,a.b@c_d-e',
  accessKeyId: 'AKIATESTRESTRICTED01',
  secretAccessKey: 'test-secret-access-key-restricted',
  accountId: ACCOUNT_ID,
};

let server: TestServer;
let configDir: string;

function sts(
  options: { accessKeyId?: string; secretAccessKey?: string; region?: string } = {},
): STSClient {
  return new STSClient({
    endpoint: server.url,
    region: options.region ?? REGION,
    credentials: {
      accessKeyId: options.accessKeyId ?? ACCESS_KEY_ID,
      secretAccessKey: options.secretAccessKey ?? SECRET_ACCESS_KEY,
    },
    maxAttempts: 1,
  });
}

/** The AWS SDK's own signer, for requests the STS client does not make (presigned, raw). */
function stsSigner(): SignatureV4 {
  return new SignatureV4({
    credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
    region: REGION,
    service: 'sts',
    sha256: Hash.bind(null, 'sha256'),
  });
}

async function refusal(promise: Promise<unknown>): Promise<STSServiceException> {
  const error = await promise.then(
    () => assert.fail('expected a refusal'),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof STSServiceException, `not an STS error: ${String(error)}`);
  return error;
}

before(async () => {
  configDir = mkdtempSync(join(tmpdir(), 'scram-secrets-sts-'));
  const configFile = join(configDir, 'config.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      principals: [RESTRICTED],
    }),
    { mode: 0o600 },
  );
  server = await startTestServer({ SCRAM_SECRETS_CONFIG: configFile });
});
after(async () => {
  await server.stop();
  rmSync(configDir, { recursive: true, force: true });
});

describe('STS GetCallerIdentity through the AWS SDK', () => {
  test("names the signing key's account and principal", async () => {
    const identity = await sts().send(new GetCallerIdentityCommand({}));
    assert.equal(identity.Account, ACCOUNT_ID);
    assert.equal(identity.Arn, `arn:aws:iam::${ACCOUNT_ID}:user/${ACCESS_KEY_ID}`);
    assert.match(identity.UserId ?? '', /^AIDA[A-Z2-7]{17}$/);
    assert.ok(!identity.UserId!.includes(ACCESS_KEY_ID));

    const other = await sts({
      accessKeyId: OTHER_ACCESS_KEY_ID,
      secretAccessKey: OTHER_SECRET_ACCESS_KEY,
    }).send(new GetCallerIdentityCommand({}));
    assert.equal(other.Account, OTHER_ACCOUNT_ID);
    assert.equal(other.Arn, `arn:aws:iam::${OTHER_ACCOUNT_ID}:user/${OTHER_ACCESS_KEY_ID}`);
    assert.notEqual(other.UserId, identity.UserId);
  });

  test('keeps the same user id across a restart, and in every region', async () => {
    const before = await sts().send(new GetCallerIdentityCommand({}));
    await server.restart();
    const afterRestart = await sts().send(new GetCallerIdentityCommand({}));
    const elsewhere = await sts({ region: 'eu-west-1' }).send(new GetCallerIdentityCommand({}));
    assert.equal(afterRestart.UserId, before.UserId);
    assert.equal(elsewhere.UserId, before.UserId);
    assert.equal(elsewhere.Account, ACCOUNT_ID);
  });

  test('needs no permission, as on AWS', async () => {
    const restricted = {
      accessKeyId: RESTRICTED.accessKeyId,
      secretAccessKey: RESTRICTED.secretAccessKey,
    };
    // The principal may do nothing else...
    const denied = await server
      .kafka(restricted)
      .send(new ListClustersV2Command({}))
      .then(
        () => undefined,
        (error: { name?: string }) => error.name,
      );
    assert.equal(denied, 'ForbiddenException');
    // ...and still learns who it is.
    const identity = await sts(restricted).send(new GetCallerIdentityCommand({}));
    assert.equal(identity.Arn, `arn:aws:iam::${ACCOUNT_ID}:user/${RESTRICTED.name}`);
  });

  test('refuses a wrong secret key and an unknown access key in STS terms', async () => {
    const wrong = await refusal(
      sts({ secretAccessKey: 'not-the-secret' }).send(new GetCallerIdentityCommand({})),
    );
    assert.equal(wrong.name, 'SignatureDoesNotMatch');
    assert.equal(wrong.$metadata.httpStatusCode, 403);
    assert.ok(!wrong.message.includes('not-the-secret'));

    const unknown = await refusal(
      sts({ accessKeyId: 'AKIAUNKNOWNKEY000001' }).send(new GetCallerIdentityCommand({})),
    );
    assert.equal(unknown.name, 'InvalidClientTokenId');
    assert.equal(unknown.$metadata.httpStatusCode, 403);
  });

  test('answers any other action InvalidAction, and says what is served', async () => {
    const error = await refusal(
      sts().send(
        new AssumeRoleCommand({
          RoleArn: `arn:aws:iam::${ACCOUNT_ID}:role/kafka-admin`,
          RoleSessionName: 'session',
        }),
      ),
    );
    assert.equal(error.name, 'InvalidAction');
    assert.equal(error.$metadata.httpStatusCode, 400);
    assert.match(error.message, /AssumeRole is not served here.*STS GetCallerIdentity/);
  });
});

describe('STS on the wire', () => {
  test('an unsigned form is 403 MissingAuthenticationToken, in XML with a request id', async () => {
    const response = await fetch(`${server.url}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      body: 'Action=GetCallerIdentity&Version=2011-06-15',
    });
    const body = await response.text();
    assert.equal(response.status, 403);
    assert.equal(response.headers.get('x-amzn-errortype'), 'MissingAuthenticationToken');
    assert.match(response.headers.get('content-type') ?? '', /^text\/xml/);
    const requestId = response.headers.get('x-amzn-requestid');
    assert.ok(requestId);
    assert.match(body, /^<ErrorResponse xmlns="https:\/\/sts\.amazonaws\.com\/doc\/2011-06-15\/">/);
    assert.ok(body.includes('<Code>MissingAuthenticationToken</Code>'));
    assert.ok(body.includes(`<RequestId>${requestId}</RequestId>`));
  });

  test('a form without an Action is MissingAction; JSON without a target stays JSON 1.1', async () => {
    const form = await fetch(`${server.url}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'Version=2011-06-15',
    });
    assert.equal(form.status, 400);
    assert.equal(form.headers.get('x-amzn-errortype'), 'MissingAction');
    assert.ok((await form.text()).includes('<Code>MissingAction</Code>'));

    const json = await fetch(`${server.url}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.1' },
      body: '{}',
    });
    assert.equal(json.status, 400);
    assert.equal(json.headers.get('x-amzn-errortype'), 'UnknownOperationException');
    assert.equal(((await json.json()) as { __type: string }).__type, 'UnknownOperationException');
  });

  test('the Action may come in the query string; named twice, it is refused', async () => {
    const signer = stsSigner();
    const url = new URL(server.url);
    const send = async (query: Record<string, string>, body: string) => {
      const signed = await signer.sign({
        method: 'POST',
        protocol: 'http:',
        hostname: url.hostname,
        port: Number(url.port),
        path: '/',
        query,
        headers: {
          host: url.host,
          'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
        },
        body,
      });
      const search = new URLSearchParams(query).toString();
      return fetch(`${server.url}/${search ? `?${search}` : ''}`, {
        method: 'POST',
        headers: signed.headers,
        body,
      });
    };
    const inQuery = await send({ Action: 'GetCallerIdentity', Version: '2011-06-15' }, '');
    assert.equal(inQuery.status, 200);
    assert.ok((await inQuery.text()).includes(`<Account>${ACCOUNT_ID}</Account>`));

    for (const [query, body] of [
      [{ Action: 'GetCallerIdentity' }, 'Action=GetCallerIdentity'],
      [{}, 'Action=GetCallerIdentity&Action=AssumeRole'],
      [{}, 'Action=AssumeRole&Action=GetCallerIdentity'],
    ] as const) {
      const twice = await send(query, body);
      assert.equal(twice.status, 400, body);
      assert.equal(twice.headers.get('x-amzn-errortype'), 'ValidationError', body);
      assert.ok((await twice.text()).includes('more than once'), body);
    }
  });

  test('a presigned GET, as an EKS token carries it, answers the identity', async () => {
    const signer = stsSigner();
    const url = new URL(server.url);
    const presigned = await signer.presign(
      {
        method: 'GET',
        protocol: 'http:',
        hostname: url.hostname,
        port: Number(url.port),
        path: '/',
        query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
        headers: { host: url.host, 'x-k8s-aws-id': 'demo' },
      },
      { expiresIn: 60 },
    );
    const search = new URLSearchParams(presigned.query as Record<string, string>).toString();
    const response = await fetch(`${server.url}/?${search}`, {
      headers: { 'x-k8s-aws-id': 'demo' },
    });
    const body = await response.text();
    assert.equal(response.status, 200, body);
    assert.ok(body.includes(`<Arn>arn:aws:iam::${ACCOUNT_ID}:user/${ACCESS_KEY_ID}</Arn>`), body);

    // The signed header is part of the signature.
    const tampered = await fetch(`${server.url}/?${search}`, {
      headers: { 'x-k8s-aws-id': 'another-cluster' },
    });
    assert.equal(tampered.status, 403);
    assert.equal(tampered.headers.get('x-amzn-errortype'), 'SignatureDoesNotMatch');

    // GET / with no Action is still no operation.
    const bare = await fetch(`${server.url}/`);
    assert.equal(bare.status, 404);
    assert.equal(bare.headers.get('x-amzn-errortype'), 'NotFoundException');
  });

  test("a GET that is STS's but names no Action is MissingAction, in XML", async () => {
    const url = new URL(server.url);
    const presigned = await stsSigner().presign(
      {
        method: 'GET',
        protocol: 'http:',
        hostname: url.hostname,
        port: Number(url.port),
        path: '/',
        query: {},
        headers: { host: url.host },
      },
      { expiresIn: 60 },
    );
    const search = new URLSearchParams(presigned.query as Record<string, string>).toString();
    for (const target of ['/?Version=2011-06-15', `/?${search}`]) {
      const response = await fetch(`${server.url}${target}`);
      const body = await response.text();
      assert.equal(response.status, 400, `${target}: ${body}`);
      assert.equal(response.headers.get('x-amzn-errortype'), 'MissingAction', target);
      assert.ok(body.includes('<Code>MissingAction</Code>'), body);
    }
  });

  test('an Action that is not a name is not echoed', async () => {
    const response = await fetch(`${server.url}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `Action=${encodeURIComponent('<script>alert(1)</script>')}`,
    });
    const body = await response.text();
    assert.equal(response.status, 400);
    assert.equal(response.headers.get('x-amzn-errortype'), 'InvalidAction');
    assert.ok(!body.includes('script'), body);
  });
});

describe('STS through the AWS CLI', () => {
  let cli: AwsCli;
  before(async () => {
    cli = await awsCli(server.url);
  });
  after(async () => cli.close());

  test('aws sts get-caller-identity prints the account and ARN', async () => {
    const result = await cli.run(['sts', 'get-caller-identity', '--output', 'json'], {
      accessKeyId: ACCESS_KEY_ID,
      secretAccessKey: SECRET_ACCESS_KEY,
    });
    assert.equal(result.status, 0, result.stderr);
    const identity = JSON.parse(result.stdout) as { Account: string; Arn: string };
    assert.equal(identity.Account, ACCOUNT_ID);
    assert.equal(identity.Arn, `arn:aws:iam::${ACCOUNT_ID}:user/${ACCESS_KEY_ID}`);
    assert.deepEqual(cli.strayRequests, []);
  });

  test('aws eks get-token makes a presigned URL that the service answers', async () => {
    const result = await cli.run(
      ['eks', 'get-token', '--cluster-name', 'demo', '--output', 'json'],
      { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
    );
    assert.equal(result.status, 0, result.stderr);
    const token = (JSON.parse(result.stdout) as { status: { token: string } }).status.token;
    assert.ok(token.startsWith('k8s-aws-v1.'), token);
    const presignedUrl = Buffer.from(token.slice('k8s-aws-v1.'.length), 'base64url').toString();
    assert.ok(presignedUrl.startsWith(`${server.url}/?`), presignedUrl);
    const response = await fetch(presignedUrl, { headers: { 'x-k8s-aws-id': 'demo' } });
    const body = await response.text();
    assert.equal(response.status, 200, body);
    assert.ok(body.includes(`<Account>${ACCOUNT_ID}</Account>`), body);
  });

  test('a wrong secret key is SignatureDoesNotMatch', async () => {
    const result = await cli.run(['sts', 'get-caller-identity'], {
      accessKeyId: ACCESS_KEY_ID,
      secretAccessKey: 'not-the-secret',
    });
    assertCliError(result, 'SignatureDoesNotMatch', 'GetCallerIdentity', /does not match/);
  });
});
