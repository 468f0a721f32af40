import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, test } from 'node:test';

import { pino } from 'pino';

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
/** As AWS words a denial: it names the service's own IAM identity, never to be passed on. */
const SERVICE_IDENTITY = 'arn:aws:iam::999988887777:role/scram-secrets-service';
const SOURCE_MESSAGE =
  `User: ${SERVICE_IDENTITY} is not authorized to perform: secretsmanager:DescribeSecret ` +
  'because no identity-based policy allows the secretsmanager:DescribeSecret action';
let endpoint: Server;
const logLines: string[] = [];
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
      response.end(JSON.stringify({ __type: answer.type, message: SOURCE_MESSAGE }));
    });
  });
  await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
  const address = endpoint.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const logger = pino({ level: 'warn' }, { write: (line: string) => void logLines.push(line) });
  t = await startTestServer(
    {
      SCRAM_SECRETS_SECRET_SOURCES: JSON.stringify([
        {
          accountId: ACCOUNT_ID,
          region: REGION,
          type: 'aws',
          endpoint: `http://127.0.0.1:${port}`,
        },
      ]),
    },
    { logger },
  );
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
  [
    'AccessDeniedException',
    400,
    /refused secretsmanager:DescribeSecret \(AccessDeniedException\)\. Grant secretsmanager:DescribeSecret to the credentials/,
  ],
  [
    'ThrottlingException',
    400,
    /throttled secretsmanager:DescribeSecret \(ThrottlingException\)\. Retry this secret later/,
  ],
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
    assert.ok(
      !(refusal?.errorMessage ?? '').includes(SERVICE_IDENTITY),
      'no word of the service identity',
    );
    assert.ok(
      !(refusal?.errorMessage ?? '').includes('not authorized'),
      "the source's words stay out",
    );
    assert.equal(await countAssociations(t, clusterArn), 0);
    const logged = logLines.filter((line) => line.includes('"secret_source.refused"')).at(-1);
    assert.ok(logged?.includes(SERVICE_IDENTITY), "the source's own words are in the warn log");
    assert.equal((JSON.parse(logged!) as { level: number }).level, 40);
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
