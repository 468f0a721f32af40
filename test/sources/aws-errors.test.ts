import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, test } from 'node:test';

import { kafkaRequest, createScramCluster } from '../support/fixtures.js';
import { clusterPath } from '../support/raw.js';
import { ACCOUNT_ID, REGION, startTestServer, type TestServer } from '../support/server.js';
import { countAssociations } from '../support/store.js';

/**
 * How the source's own errors reach the caller. moto cannot deny or throttle, so a loopback
 * endpoint answers every call with the AWS JSON error under test, and the service's real AWS
 * SDK clients read it as they would read AWS's.
 */
let answer: { status: number; type: string } = { status: 400, type: 'AccessDeniedException' };
let calls = 0;
let endpoint: Server;
let t: TestServer;

before(async () => {
  process.env.AWS_ACCESS_KEY_ID = 'AKIAERRORTESTKEY0001';
  process.env.AWS_SECRET_ACCESS_KEY = 'error-test-secret-access-key';
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  endpoint = createServer((request, response) => {
    calls += 1;
    request.resume();
    request.on('end', () => {
      response.writeHead(answer.status, {
        'content-type': 'application/x-amz-json-1.1',
        'x-amzn-requestid': `req-${calls}`,
      });
      response.end(JSON.stringify({ __type: answer.type, message: `answered ${answer.type}` }));
    });
  });
  await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
  const address = endpoint.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  t = await startTestServer({
    SCRAM_SECRETS_SECRET_SOURCES: JSON.stringify([
      { accountId: ACCOUNT_ID, region: REGION, type: 'aws', endpoint: `http://127.0.0.1:${port}` },
    ]),
  });
});

after(async () => {
  await t?.stop();
  await new Promise((resolve) => endpoint?.close(resolve));
});

const secretArn = `arn:aws:secretsmanager:${REGION}:${ACCOUNT_ID}:secret:AmazonMSK_alice-AbCdEf`;

async function associate(clusterArn: string) {
  return kafkaRequest(t.url, {
    method: 'POST',
    path: clusterPath(clusterArn, '/scram-secrets'),
    body: JSON.stringify({ secretArnList: [secretArn] }),
  });
}

const perSecret: Array<[string, number, RegExp]> = [
  ['AccessDeniedException', 400, /denied secretsmanager:DescribeSecret.*Allow it/],
  ['ThrottlingException', 400, /throttled the request.*Retry this secret later/],
  ['ResourceNotFoundException', 400, /no secret with this ARN exists/],
];
for (const [type, status, message] of perSecret) {
  test(`${type} from the source is a clear refusal of that secret alone`, async () => {
    answer = { status, type };
    const clusterArn = await createScramCluster(t.kafka());
    const response = await associate(clusterArn);
    assert.equal(response.status, 200, response.text);
    const [refusal, ...rest] = response.json.unprocessedScramSecrets as Array<
      Record<string, string>
    >;
    assert.deepEqual(rest, []);
    assert.equal(refusal?.secretArn, secretArn);
    assert.equal(refusal?.errorCode, 'InvalidSecretArn');
    assert.match(refusal?.errorMessage ?? '', message);
    assert.equal(await countAssociations(t, clusterArn), 0);
  });
}

test('a 5xx from the source, after the SDK retries, is a 503 with Retry-After', async () => {
  answer = { status: 500, type: 'InternalServiceError' };
  const clusterArn = await createScramCluster(t.kafka());
  const before = calls;
  const response = await associate(clusterArn);
  assert.equal(response.status, 503, response.text);
  assert.equal(response.headers.get('x-amzn-errortype'), 'ServiceUnavailableException');
  assert.match(response.headers.get('retry-after') ?? '', /^\d+$/);
  assert.equal(calls - before, 3, 'the SDK tried three times');
  assert.equal(await countAssociations(t, clusterArn), 0);
});
