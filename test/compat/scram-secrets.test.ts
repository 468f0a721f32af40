import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  BatchAssociateScramSecretCommand,
  BatchDisassociateScramSecretCommand,
  DeleteClusterCommand,
  DescribeClusterCommand,
  ListClustersCommand,
  ListScramSecretsCommand,
  paginateListScramSecrets,
  UpdateSecurityCommand,
  type BatchAssociateScramSecretCommandOutput,
  type KafkaClient,
  type UnprocessedScramSecret,
} from '@aws-sdk/client-kafka';
import {
  CreateAliasCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  ScheduleKeyDeletionCommand,
  type KMSClient,
} from '@aws-sdk/client-kms';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetResourcePolicyCommand,
  PutResourcePolicyCommand,
  PutSecretValueCommand,
  RestoreSecretCommand,
  UpdateSecretCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';

import {
  createKey,
  createMskSecret,
  createMskSecrets,
  createScramCluster,
  kafkaRequest,
  recordResponses,
  uniqueTag,
  type MskSecret,
  type MskSecretInput,
  type RecordedResponse,
} from '../support/fixtures.js';
import { startMoto, type MotoServer } from '../support/moto.js';
import { clusterPath, type RawResponse } from '../support/raw.js';
import { secretSourceKind } from '../support/secret-source.js';
import {
  ACCOUNT_ID,
  OTHER_ACCESS_KEY_ID,
  OTHER_ACCOUNT_ID,
  OTHER_SECRET_ACCESS_KEY,
  REGION,
  startTestServer,
  type TestServer,
} from '../support/server.js';
import { countAssociations } from '../support/store.js';

/** Every raw response the suite receives; the last test checks them all. */
const responses: RecordedResponse[] = [];
/** Every password (or raw secret value) the suite stores; none may ever come back. */
const passwords = new Set<string>();

const OTHER_ACCOUNT = {
  accessKeyId: OTHER_ACCESS_KEY_ID,
  secretAccessKey: OTHER_SECRET_ACCESS_KEY,
};

let t: TestServer;
/** Set when the suite runs against moto's Secrets Manager and KMS instead of the built-in. */
let moto: MotoServer | undefined;
let kafka: KafkaClient;
let secretsManager: SecretsManagerClient;
let kms: KMSClient;
let otherKafka: KafkaClient;
let otherSecretsManager: SecretsManagerClient;
let otherKms: KMSClient;
/** The customer managed key most secrets are encrypted under. */
let keyId: string;

/**
 * With moto, the secrets and keys are made there; moto's own answers are not recorded, since
 * the last test checks this service's responses, and moto's GetSecretValue holds passwords.
 * The other account's clients stay on the built-in service: its secrets are refused by ARN.
 */
function connectClients(): void {
  kafka = recordResponses(t.kafka(), responses);
  secretsManager = moto ? moto.secretsManager() : recordResponses(t.secretsManager(), responses);
  kms = moto ? moto.kms() : recordResponses(t.kms(), responses);
  otherKafka = recordResponses(t.kafka(OTHER_ACCOUNT), responses);
  otherSecretsManager = recordResponses(t.secretsManager(OTHER_ACCOUNT), responses);
  otherKms = recordResponses(t.kms(OTHER_ACCOUNT), responses);
}

before(async () => {
  if (secretSourceKind() === 'moto') moto = await startMoto();
  t = await startTestServer(moto ? { SCRAM_SECRETS_SECRET_SOURCES: moto.sourceSetting() } : {});
  connectClients();
  keyId = await createKey(kms, 'scram secrets suite');
});

after(async () => {
  await t.stop();
  await moto?.stop();
});

// Helpers. Those that store a secret value remember its password for the last test.

async function secret(input: MskSecretInput = {}, client = secretsManager): Promise<MskSecret> {
  if (input.secretString !== undefined) rememberSensitive(input.secretString);
  const created = await createMskSecret(client, { kmsKeyId: keyId, ...input });
  passwords.add(created.password);
  return created;
}

/** A raw value that is not JSON is sensitive as a whole; in JSON, the `pw-` strings are. */
function rememberSensitive(secretString: string): void {
  try {
    JSON.parse(secretString);
  } catch {
    passwords.add(secretString);
  }
  for (const match of secretString.matchAll(/pw-[A-Za-z0-9-]+/g)) passwords.add(match[0]);
}

async function secrets(
  count: number,
  prefix = `AmazonMSK_many-${uniqueTag()}`,
): Promise<MskSecret[]> {
  const created = await createMskSecrets(
    secretsManager,
    keyId,
    count,
    (index) => `${prefix}-${String(index).padStart(4, '0')}`,
  );
  for (const one of created) passwords.add(one.password);
  return created;
}

async function cluster(options: { scram?: boolean } = {}): Promise<string> {
  return createScramCluster(kafka, options);
}

async function associate(
  clusterArn: string,
  secretArnList: string[],
  client = kafka,
): Promise<BatchAssociateScramSecretCommandOutput> {
  return client.send(
    new BatchAssociateScramSecretCommand({ ClusterArn: clusterArn, SecretArnList: secretArnList }),
  );
}

async function disassociate(clusterArn: string, secretArnList: string[], client = kafka) {
  const input = { ClusterArn: clusterArn, SecretArnList: secretArnList };
  return client.send(new BatchDisassociateScramSecretCommand(input));
}

async function listPage(clusterArn: string, maxResults?: number, nextToken?: string) {
  const input = { ClusterArn: clusterArn, MaxResults: maxResults, NextToken: nextToken };
  return kafka.send(new ListScramSecretsCommand(input));
}

/** The refusals of a batch, as [secretArn, errorCode] pairs. */
function refusalCodes(result: { UnprocessedScramSecrets?: UnprocessedScramSecret[] }) {
  const refusals = result.UnprocessedScramSecrets ?? [];
  return refusals.map((refusal) => [refusal.SecretArn, refusal.ErrorCode]);
}

/** Associates everything in batches of ten, and insists that nothing was refused. */
async function associateAll(clusterArn: string, secretArnList: string[]): Promise<void> {
  const batches: string[][] = [];
  for (let start = 0; start < secretArnList.length; start += 10) {
    batches.push(secretArnList.slice(start, start + 10));
  }
  for (let start = 0; start < batches.length; start += 10) {
    const results = await Promise.all(
      batches.slice(start, start + 10).map((batch) => associate(clusterArn, batch)),
    );
    for (const result of results) assert.deepEqual(result.UnprocessedScramSecrets ?? [], []);
  }
}

async function listAll(clusterArn: string, client = kafka, pageSize = 100): Promise<string[]> {
  const listed: string[] = [];
  for await (const page of paginateListScramSecrets(
    { client, pageSize },
    { ClusterArn: clusterArn },
  )) {
    listed.push(...(page.SecretArnList ?? []));
  }
  return listed;
}

function accepted(result: { UnprocessedScramSecrets?: UnprocessedScramSecret[] }): void {
  assert.deepEqual(result.UnprocessedScramSecrets ?? [], []);
}

/** The one refusal a single-secret batch got; the secret must not have been associated. */
async function assertRefused(
  clusterArn: string,
  secretArn: string,
  errorCode: string,
  message: RegExp,
): Promise<void> {
  const result = await associate(clusterArn, [secretArn]);
  assert.equal(result.ClusterArn, clusterArn);
  assert.deepEqual(refusalCodes(result), [[secretArn, errorCode]]);
  assert.match(result.UnprocessedScramSecrets![0]!.ErrorMessage ?? '', message);
  assert.equal((await listAll(clusterArn)).includes(secretArn), false);
}

function sdkBadRequest(parameter: string, message?: RegExp) {
  return (error: unknown): boolean => {
    const failure = error as {
      name: string;
      InvalidParameter?: string;
      message: string;
      $metadata: { httpStatusCode?: number };
    };
    assert.equal(failure.name, 'BadRequestException');
    assert.equal(failure.$metadata.httpStatusCode, 400);
    assert.equal(failure.InvalidParameter, parameter);
    if (message) assert.match(failure.message, message);
    return true;
  };
}

function sdkNotFound(error: unknown): boolean {
  const failure = error as { name: string; $metadata: { httpStatusCode?: number } };
  assert.equal(failure.name, 'NotFoundException');
  assert.equal(failure.$metadata.httpStatusCode, 404);
  return true;
}

/** A REST-JSON error as MSK renders it: the type header and exactly {message, invalidParameter}. */
function assertWireBadRequest(response: RawResponse, parameter: string): void {
  assert.equal(response.status, 400, response.text);
  assert.equal(response.headers.get('x-amzn-errortype'), 'BadRequestException');
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
  assert.deepEqual(Object.keys(response.json).sort(), ['invalidParameter', 'message']);
  assert.equal(response.json.invalidParameter, parameter);
  assert.equal(typeof response.json.message, 'string');
  assert.notEqual(response.json.message, '');
}

function raw(input: Parameters<typeof kafkaRequest>[1]): Promise<RawResponse> {
  return kafkaRequest(t.url, input, responses);
}

function scramPath(clusterArn: string, query = ''): string {
  return clusterPath(clusterArn, `/scram-secrets${query}`);
}

async function policyStatements(secretArn: string): Promise<Array<Record<string, unknown>>> {
  const policy = await secretsManager.send(new GetResourcePolicyCommand({ SecretId: secretArn }));
  if (policy.ResourcePolicy === undefined) return [];
  const { Statement } = JSON.parse(policy.ResourcePolicy) as { Statement: unknown };
  const statements = Array.isArray(Statement) ? Statement : [Statement];
  return statements as Array<Record<string, unknown>>;
}

function kafkaStatements(statements: Array<Record<string, unknown>>) {
  return statements.filter(
    (statement) =>
      JSON.stringify(statement.Principal ?? '').includes('kafka.amazonaws.com') &&
      statement.Effect === 'Allow',
  );
}

/** For each character of `token`, the token with only that character changed. */
function singleCharacterEdits(token: string): string[] {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const edits: string[] = [];
  for (let index = 0; index < token.length; index += 1) {
    const position = alphabet.indexOf(token[index]!);
    // Flipping the lowest bit catches decoders that ignore a token's unused trailing bits.
    const replacement = alphabet[position ^ 1]!;
    edits.push(`${token.slice(0, index)}${replacement}${token.slice(index + 1)}`);
  }
  return edits;
}

describe('ListScramSecrets', () => {
  let clusterArn: string;
  let listed: MskSecret[];

  before(async () => {
    clusterArn = await cluster();
    listed = await secrets(25);
    await associateAll(
      clusterArn,
      listed.map((one) => one.arn),
    );
  });

  test('a cluster without secrets lists none and no nextToken', async () => {
    const empty = await kafka.send(new ListScramSecretsCommand({ ClusterArn: await cluster() }));
    assert.deepEqual(empty.SecretArnList ?? [], []);
    assert.equal(empty.NextToken, undefined);
  });

  test('lists exactly the associated secrets, in a stable order', async () => {
    const first = await kafka.send(new ListScramSecretsCommand({ ClusterArn: clusterArn }));
    const second = await kafka.send(new ListScramSecretsCommand({ ClusterArn: clusterArn }));
    assert.equal(first.NextToken, undefined);
    assert.deepEqual(new Set(first.SecretArnList), new Set(listed.map((one) => one.arn)));
    assert.equal(first.SecretArnList!.length, 25);
    assert.deepEqual(second.SecretArnList, first.SecretArnList);

    const paged: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await listPage(clusterArn, 7, nextToken);
      assert.ok(page.SecretArnList!.length <= 7);
      paged.push(...page.SecretArnList!);
      nextToken = page.NextToken;
    } while (nextToken !== undefined);
    assert.deepEqual(paged, first.SecretArnList, 'pages concatenate to the whole listing');
  });

  test('maxResults 1 and 100 are the bounds that are accepted', async () => {
    const one = await listPage(clusterArn, 1);
    assert.equal(one.SecretArnList!.length, 1);
    assert.equal(typeof one.NextToken, 'string');

    const hundred = await listPage(clusterArn, 100);
    assert.equal(hundred.SecretArnList!.length, 25);
    assert.equal(hundred.NextToken, undefined);

    const rawOne = await raw({ method: 'GET', path: scramPath(clusterArn, '?maxResults=1') });
    assert.equal(rawOne.status, 200);
    assert.equal((rawOne.json.secretArnList as string[]).length, 1);
  });

  for (const value of ['0', '101', 'abc', '-1', '1.5', '', '1e2', '100000']) {
    test(`maxResults=${JSON.stringify(value)} is a 400 on maxResults`, async () => {
      const response = await raw({
        method: 'GET',
        path: scramPath(clusterArn, `?maxResults=${encodeURIComponent(value)}`),
      });
      assertWireBadRequest(response, 'maxResults');
    });
  }

  test('maxResults given twice is a 400 on maxResults', async () => {
    const path = scramPath(clusterArn, '?maxResults=5&maxResults=6');
    assertWireBadRequest(await raw({ method: 'GET', path }), 'maxResults');
  });

  test('nextToken given twice is a 400 on nextToken', async () => {
    const first = await listPage(clusterArn, 1);
    const token = encodeURIComponent(first.NextToken!);
    const path = scramPath(clusterArn, `?nextToken=${token}&nextToken=${token}`);
    assertWireBadRequest(await raw({ method: 'GET', path }), 'nextToken');
  });

  test('the SDK paginator walks every page', async () => {
    const pages: string[][] = [];
    for await (const page of paginateListScramSecrets(
      { client: kafka, pageSize: 10 },
      { ClusterArn: clusterArn },
    )) {
      pages.push(page.SecretArnList ?? []);
    }
    assert.deepEqual(
      pages.map((page) => page.length),
      [10, 10, 5],
    );
    const all = pages.flat();
    assert.equal(new Set(all).size, 25, 'no secret is listed twice');
    assert.deepEqual(new Set(all), new Set(listed.map((one) => one.arn)));
  });

  test('nextToken is opaque: it shows no secret ARN, plain or base64-decoded', async () => {
    const page = await listPage(clusterArn, 3);
    const token = page.NextToken!;
    for (const text of [token, Buffer.from(token, 'base64').toString('latin1')]) {
      assert.equal(text.includes('AmazonMSK'), false);
      assert.equal(text.includes('secretsmanager'), false);
      assert.equal(text.includes(ACCOUNT_ID), false);
    }
  });

  test('a nextToken changed in any character, padded or cut is a 400 on nextToken', async () => {
    // Tokens for positions of three consecutive name lengths: one of them has unused bits.
    const tag = uniqueTag();
    const names = ['a', 'ab', 'abc', 'abcd'].map((suffix) => `AmazonMSK_z-${tag}-${suffix}`);
    const tokenCluster = await cluster();
    const made = await Promise.all(names.map((name) => secret({ name })));
    await associateAll(
      tokenCluster,
      made.map((one) => one.arn),
    );
    const tokens: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await listPage(tokenCluster, 1, nextToken);
      nextToken = page.NextToken;
      if (nextToken) tokens.push(nextToken);
    } while (nextToken !== undefined);
    assert.equal(tokens.length, 3);

    for (const token of tokens) {
      const edits = [
        ...singleCharacterEdits(token),
        `${token}=`,
        `${token}A`,
        `${token.slice(0, 4)}.${token.slice(4)}`,
        token.slice(0, -1),
        token.slice(1),
      ];
      const outcomes = await Promise.all(
        edits.map((edit) =>
          kafka
            .send(new ListScramSecretsCommand({ ClusterArn: tokenCluster, NextToken: edit }))
            .then(
              () => `accepted ${edit}`,
              (error: { name: string; InvalidParameter?: string }) =>
                `${error.name}/${error.InvalidParameter}`,
            ),
        ),
      );
      assert.deepEqual(new Set(outcomes), new Set(['BadRequestException/nextToken']));
    }
  });

  test('garbage and empty nextTokens are a 400 on nextToken', async () => {
    for (const garbage of ['abc', 'not a token', 'x'.repeat(500)]) {
      await assert.rejects(
        kafka.send(new ListScramSecretsCommand({ ClusterArn: clusterArn, NextToken: garbage })),
        sdkBadRequest('nextToken'),
      );
    }
    assertWireBadRequest(
      await raw({ method: 'GET', path: scramPath(clusterArn, '?nextToken=') }),
      'nextToken',
    );
    assertWireBadRequest(
      await raw({ method: 'GET', path: scramPath(clusterArn, '?nextToken=%00%01') }),
      'nextToken',
    );
  });

  test("another cluster's nextToken, or ListClusters', is a 400 on nextToken", async () => {
    const otherCluster = await cluster();
    await associateAll(
      otherCluster,
      listed.slice(0, 3).map((one) => one.arn),
    );
    const foreign = await kafka.send(
      new ListScramSecretsCommand({ ClusterArn: otherCluster, MaxResults: 1 }),
    );
    assert.equal(typeof foreign.NextToken, 'string');
    await assert.rejects(
      listPage(clusterArn, undefined, foreign.NextToken),
      sdkBadRequest('nextToken'),
    );

    const clusters = await kafka.send(new ListClustersCommand({ MaxResults: 1 }));
    assert.equal(typeof clusters.NextToken, 'string');
    await assert.rejects(
      listPage(clusterArn, undefined, clusters.NextToken),
      sdkBadRequest('nextToken'),
    );

    // The token stays good for its own cluster.
    const rest = await kafka.send(
      new ListScramSecretsCommand({ ClusterArn: otherCluster, NextToken: foreign.NextToken }),
    );
    assert.equal(rest.SecretArnList!.length, 2);
  });

  test('a cluster the caller cannot see is a 404, whatever the nextToken', async () => {
    const first = await listPage(clusterArn, 1);
    assert.equal(typeof first.NextToken, 'string');
    const asOther = new ListScramSecretsCommand({
      ClusterArn: clusterArn,
      NextToken: first.NextToken,
    });
    await assert.rejects(otherKafka.send(asOther), sdkNotFound);

    const ghost = ghostClusterArn();
    for (const token of [first.NextToken, 'abc']) {
      await assert.rejects(listPage(ghost, undefined, token), sdkNotFound);
    }
  });

  test('paging stays correct while secrets come and go between pages', async () => {
    const pagingCluster = await cluster();
    const prefix = `AmazonMSK_page-${uniqueTag()}`;
    // Fixed-width names, so the listing order (by ARN) is the order of the numbers.
    const make = (number: number) =>
      secret({ name: `${prefix}-${String(number).padStart(3, '0')}` });
    const initial = await Promise.all(Array.from({ length: 30 }, (_, i) => make((i + 1) * 10)));
    await associateAll(
      pagingCluster,
      initial.map((one) => one.arn),
    );
    const byNumber = new Map(initial.map((one, i) => [(i + 1) * 10, one.arn]));
    const removed = new Set<string>();
    const added = new Set<string>();

    const page = (nextToken?: string) => listPage(pagingCluster, 10, nextToken);

    const first = await page();
    assert.deepEqual(first.SecretArnList, [...byNumber.values()].slice(0, 10));

    // Between pages one and two: drop one already seen, one not yet seen, and add on both sides.
    const early = await make(55);
    const late = await make(155);
    accepted(await associate(pagingCluster, [early.arn, late.arn]));
    accepted(await disassociate(pagingCluster, [byNumber.get(50)!, byNumber.get(150)!]));
    removed.add(byNumber.get(50)!).add(byNumber.get(150)!);
    added.add(early.arn).add(late.arn);
    const second = await page(first.NextToken);

    // Between pages two and three: drop the very secret the token points after.
    const lastOfSecond = second.SecretArnList!.at(-1)!;
    accepted(await disassociate(pagingCluster, [lastOfSecond]));
    removed.add(lastOfSecond);
    const rest: string[] = [];
    let nextToken = second.NextToken;
    while (nextToken !== undefined) {
      const next = await page(nextToken);
      rest.push(...next.SecretArnList!);
      nextToken = next.NextToken;
    }

    const seen = [...first.SecretArnList!, ...second.SecretArnList!, ...rest];
    assert.equal(new Set(seen).size, seen.length, 'nothing is listed twice');
    for (const arn of byNumber.values()) {
      if (!removed.has(arn)) assert.ok(seen.includes(arn), `${arn} was there throughout`);
    }
    for (const arn of seen) assert.ok(byNumber.has(Number(arn.slice(-10, -7))) || added.has(arn));
    assert.equal(seen.includes(byNumber.get(150)!), false, 'removed before its page was read');
    assert.ok(seen.includes(late.arn), 'added ahead of the position before its page was read');
  });
});

describe('BatchAssociateScramSecret and BatchDisassociateScramSecret: the request body', () => {
  let clusterArn: string;

  before(async () => {
    clusterArn = await cluster();
  });

  for (const [operation, method] of [
    ['BatchAssociateScramSecret', 'POST'],
    ['BatchDisassociateScramSecret', 'PATCH'],
  ] as const) {
    const send = (list: string[]) =>
      method === 'POST' ? associate(clusterArn, list) : disassociate(clusterArn, list);

    test(`${operation}: an empty list and a list of 11 are a 400 on secretArnList`, async () => {
      const eleven = Array.from(
        { length: 11 },
        (_, i) => `arn:aws:secretsmanager:${REGION}:${ACCOUNT_ID}:secret:AmazonMSK_x${i}-abcdef`,
      );
      for (const list of [[], eleven]) {
        await assert.rejects(send(list), sdkBadRequest('secretArnList', /1 to 10/));
      }
    });

    const bodies: Array<[string, string | undefined]> = [
      ['no body', undefined],
      ['an empty object', '{}'],
      ['a string instead of a list', '{"secretArnList":"arn:aws:secretsmanager:x"}'],
      ['an object instead of a list', '{"secretArnList":{"0":"arn"}}'],
      ['a list of numbers', '{"secretArnList":[1,2]}'],
      ['a list holding null', '{"secretArnList":[null]}'],
      ['a list holding an empty string', '{"secretArnList":[""]}'],
      ['a list holding a list', '{"secretArnList":[["arn"]]}'],
      ['null', 'null'],
      ['a bare list', '["arn:aws:secretsmanager:us-east-1:111122223333:secret:AmazonMSK_a"]'],
      ['a bare string', '"secretArnList"'],
      ['the name in another case', '{"SecretArnList":["arn"]}'],
    ];
    for (const [name, body] of bodies) {
      test(`${operation}: ${name} is a 400 on secretArnList`, async () => {
        const response = await raw({ method, path: scramPath(clusterArn), body });
        assertWireBadRequest(response, 'secretArnList');
      });
    }

    test(`${operation}: a body that is not JSON is a 400 BadRequestException`, async () => {
      const body = '{"secretArnList":';
      const response = await raw({ method, path: scramPath(clusterArn), body });
      assert.equal(response.status, 400);
      assert.equal(response.headers.get('x-amzn-errortype'), 'BadRequestException');
      assert.equal(typeof response.json.message, 'string');
    });
  }

  test('lists of 1 and of 10 secrets are accepted and associated', async () => {
    const ten = await secrets(10);
    const single = await secret();
    accepted(await associate(clusterArn, [single.arn]));
    accepted(
      await associate(
        clusterArn,
        ten.map((one) => one.arn),
      ),
    );
    assert.deepEqual(
      new Set(await listAll(clusterArn)),
      new Set([single.arn, ...ten.map((one) => one.arn)]),
    );
    accepted(
      await disassociate(
        clusterArn,
        ten.map((one) => one.arn),
      ),
    );
    accepted(await disassociate(clusterArn, [single.arn]));
    assert.deepEqual(await listAll(clusterArn), []);
  });
});

describe('BatchAssociateScramSecret: which secrets MSK accepts', () => {
  let clusterArn: string;

  before(async () => {
    clusterArn = await cluster();
  });

  test('a valid secret is associated, and the response names the cluster', async () => {
    const valid = await secret();
    const result = await associate(clusterArn, [valid.arn]);
    assert.equal(result.ClusterArn, clusterArn);
    accepted(result);
    assert.ok((await listAll(clusterArn)).includes(valid.arn));
  });

  test('a name without the AmazonMSK_ prefix is InvalidSecretArn', async () => {
    const unprefixed = await secret({ name: `msk_${uniqueTag()}` });
    await assertRefused(clusterArn, unprefixed.arn, 'InvalidSecretArn', /AmazonMSK_/);
    const wrongCase = await secret({ name: `amazonmsk_${uniqueTag()}` });
    await assertRefused(clusterArn, wrongCase.arn, 'InvalidSecretArn', /AmazonMSK_/);
    const inside = await secret({ name: `team/AmazonMSK_${uniqueTag()}` });
    await assertRefused(clusterArn, inside.arn, 'InvalidSecretArn', /AmazonMSK_/);
  });

  test('malformed secret ARNs are InvalidSecretArn', async () => {
    const valid = await secret();
    const malformed = [
      'not-an-arn',
      valid.name,
      `arn:aws:kms:${REGION}:${ACCOUNT_ID}:key/${keyId}`,
      `arn:aws:secretsmanager:${REGION}:${ACCOUNT_ID}:${valid.name}`,
      `arn:aws:secretsmanager:${REGION}:12345:secret:${valid.name}`,
      ` ${valid.arn}`,
      `${valid.arn}/extra`,
    ];
    for (const arn of malformed) await assertRefused(clusterArn, arn, 'InvalidSecretArn', /ARN/);
  });

  test('an ARN without its random suffix is InvalidSecretArn, naming the full ARN', async () => {
    const valid = await secret();
    const partial = valid.arn.slice(0, -7);
    await assertRefused(clusterArn, partial, 'InvalidSecretArn', new RegExp(escape(valid.arn)));
  });

  test('a secret in another account is InvalidSecretArn', async () => {
    const otherKey = await createKey(otherKms);
    const foreign = await secret({ kmsKeyId: otherKey }, otherSecretsManager);
    assert.ok(foreign.arn.includes(`:${OTHER_ACCOUNT_ID}:`));
    await assertRefused(clusterArn, foreign.arn, 'InvalidSecretArn', /account/);

    // The same secret is fine for a cluster of its own account.
    const otherCluster = await createScramCluster(otherKafka);
    accepted(await associate(otherCluster, [foreign.arn], otherKafka));
    assert.deepEqual(await listAll(otherCluster, otherKafka), [foreign.arn]);
  });

  test('a secret in another region is InvalidSecretArn', async () => {
    const regionKey = await createKey(recordResponses(t.kms({ region: 'eu-west-1' }), responses));
    const elsewhere = await secret(
      { kmsKeyId: regionKey },
      recordResponses(t.secretsManager({ region: 'eu-west-1' }), responses),
    );
    assert.ok(elsewhere.arn.startsWith('arn:aws:secretsmanager:eu-west-1:'));
    await assertRefused(clusterArn, elsewhere.arn, 'InvalidSecretArn', /region/);
  });

  test('a secret that does not exist, or no longer does, is InvalidSecretArn', async () => {
    const missing = `arn:aws:secretsmanager:${REGION}:${ACCOUNT_ID}:secret:AmazonMSK_none-abcdef`;
    await assertRefused(clusterArn, missing, 'InvalidSecretArn', /secret/);

    const gone = await secret();
    await secretsManager.send(
      new DeleteSecretCommand({ SecretId: gone.arn, ForceDeleteWithoutRecovery: true }),
    );
    await assertRefused(clusterArn, gone.arn, 'InvalidSecretArn', /secret/);
  });

  test('a secret scheduled for deletion is InvalidSecretArn until it is restored', async () => {
    const doomed = await secret();
    await secretsManager.send(
      new DeleteSecretCommand({ SecretId: doomed.arn, RecoveryWindowInDays: 7 }),
    );
    await assertRefused(clusterArn, doomed.arn, 'InvalidSecretArn', /deletion/);

    await secretsManager.send(new RestoreSecretCommand({ SecretId: doomed.arn }));
    accepted(await associate(clusterArn, [doomed.arn]));
    assert.ok((await listAll(clusterArn)).includes(doomed.arn));
  });

  test('a secret under the default aws/secretsmanager key is InvalidKmsKey', async () => {
    const unkeyed = await createMskSecret(secretsManager, {});
    passwords.add(unkeyed.password);
    await assertRefused(clusterArn, unkeyed.arn, 'InvalidKmsKey', /aws\/secretsmanager/);

    // Naming the AWS managed key outright is the same key.
    const named = await secret({ kmsKeyId: 'alias/aws/secretsmanager' });
    await assertRefused(clusterArn, named.arn, 'InvalidKmsKey', /aws\/secretsmanager/);

    // Re-encrypted under a customer managed key, with a fresh value, it is accepted.
    const password = `pw-${uniqueTag()}-${uniqueTag()}`;
    passwords.add(password);
    await secretsManager.send(
      new UpdateSecretCommand({
        SecretId: unkeyed.arn,
        KmsKeyId: keyId,
        SecretString: JSON.stringify({ username: unkeyed.username, password }),
      }),
    );
    accepted(await associate(clusterArn, [unkeyed.arn]));
  });

  test('a secret whose key is disabled or pending deletion is InvalidKmsKey', async () => {
    const disabledKey = await createKey(kms);
    const locked = await secret({ kmsKeyId: disabledKey });
    await kms.send(new DisableKeyCommand({ KeyId: disabledKey }));
    await assertRefused(clusterArn, locked.arn, 'InvalidKmsKey', /disabled/);
    await kms.send(new EnableKeyCommand({ KeyId: disabledKey }));
    accepted(await associate(clusterArn, [locked.arn]));

    const doomedKey = await createKey(kms);
    const orphan = await secret({ kmsKeyId: doomedKey });
    await kms.send(new ScheduleKeyDeletionCommand({ KeyId: doomedKey, PendingWindowInDays: 7 }));
    await assertRefused(clusterArn, orphan.arn, 'InvalidKmsKey', /pending deletion/);
  });

  test('a current value under a key that cannot decrypt is never called missing', async () => {
    // The secret now names an enabled key, but its current value was sealed under another.
    const firstKey = await createKey(kms);
    const moved = await secret({ kmsKeyId: firstKey });
    await secretsManager.send(new UpdateSecretCommand({ SecretId: moved.arn, KmsKeyId: keyId }));
    await kms.send(new DisableKeyCommand({ KeyId: firstKey }));
    const result = await associate(clusterArn, [moved.arn]);
    const codes = (result.UnprocessedScramSecrets ?? []).map((refusal) => refusal.ErrorCode);
    // Secrets Manager may re-encrypt the current version under the new key; then it is fine.
    const fine = codes.length === 0 || (codes.length === 1 && codes[0] === 'InvalidKmsKey');
    assert.ok(fine, `refused with ${codes.join(', ')}`);
  });

  test('a customer managed key named by alias or by ARN is accepted', async () => {
    const aliasedKey = await createKey(kms);
    const aliasName = `alias/msk-${uniqueTag()}`;
    await kms.send(new CreateAliasCommand({ AliasName: aliasName, TargetKeyId: aliasedKey }));
    const byAlias = await secret({ kmsKeyId: aliasName });
    const keyArn = (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.Arn!;
    const byArn = await secret({ kmsKeyId: keyArn });
    accepted(await associate(clusterArn, [byAlias.arn, byArn.arn]));
  });

  const invalidValues: Array<[string, MskSecretInput, RegExp]> = [
    ['not JSON', { secretString: `plain text ${uniqueTag()}` }, /username.*password/],
    ['a JSON list', { secretString: '["user","pw-in-a-list"]' }, /username.*password/],
    ['JSON null', { secretString: 'null' }, /username.*password/],
    ['no username', { secretString: '{"password":"pw-without-a-user"}' }, /username/],
    ['an empty username', { secretString: '{"username":"","password":"pw-empty"}' }, /username/],
    ['a numeric username', { secretString: '{"username":42,"password":"pw-numeric"}' }, /username/],
    ['no password', { secretString: '{"username":"nopassword"}' }, /password/],
    ['an empty password', { secretString: '{"username":"empty","password":""}' }, /password/],
    ['a numeric password', { secretString: '{"username":"numeric","password":1234}' }, /password/],
    ['no current value', { noValue: true }, /current value|AWSCURRENT/],
    // Usernames no store keeps exactly: PostgreSQL stores a lone surrogate as U+FFFD, cannot
    // hold NUL in text, and cannot index a row past a few kilobytes.
    [
      'a lone surrogate in the username',
      { secretString: '{"username":"lone-\\ud800","password":"pw-surrogate"}' },
      /username is not well-formed Unicode/,
    ],
    [
      'a NUL in the username',
      { secretString: '{"username":"nul-\\u0000-user","password":"pw-nul"}' },
      /username contains a NUL character/,
    ],
    [
      'a username of 1,025 bytes',
      { secretString: JSON.stringify({ username: 'é'.repeat(512) + 'x', password: 'pw-long' }) },
      /username is longer than 1024 bytes in UTF-8/,
    ],
  ];
  for (const [name, input, message] of invalidValues) {
    test(`a secret value with ${name} is InvalidSecretValue`, async () => {
      const invalid = await secret({ ...input, name: `AmazonMSK_value-${uniqueTag()}` });
      await assertRefused(clusterArn, invalid.arn, 'InvalidSecretValue', message);
    });
  }

  test('a username of 1,024 bytes is associated; two lone surrogates are two refusals', async () => {
    const longest = await secret({
      name: `AmazonMSK_longest-${uniqueTag()}`,
      username: 'é'.repeat(512),
    });
    accepted(await associate(clusterArn, [longest.arn]));
    const first = await secret({
      name: `AmazonMSK_lone-${uniqueTag()}`,
      secretString: '{"username":"\\ud800","password":"pw-lone-1"}',
    });
    const second = await secret({
      name: `AmazonMSK_lone-${uniqueTag()}`,
      secretString: '{"username":"\\ud801","password":"pw-lone-2"}',
    });
    const result = await associate(clusterArn, [first.arn, second.arn]);
    assert.deepEqual(refusalCodes(result), [
      [first.arn, 'InvalidSecretValue'],
      [second.arn, 'InvalidSecretValue'],
    ]);
  });

  test('a binary secret value is InvalidSecretValue', async () => {
    const binary = Buffer.from(JSON.stringify({ username: 'binary', password: 'pw-binary-value' }));
    passwords.add('pw-binary-value');
    const created = await secretsManager.send(
      new CreateSecretCommand({
        Name: `AmazonMSK_bin-${uniqueTag()}`,
        KmsKeyId: keyId,
        SecretBinary: binary,
      }),
    );
    await assertRefused(clusterArn, created.ARN!, 'InvalidSecretValue', /username.*password/);
  });

  test('a secret given a valid value later is accepted then', async () => {
    const late = await secret({ noValue: true });
    await assertRefused(clusterArn, late.arn, 'InvalidSecretValue', /current value|AWSCURRENT/);
    const password = `pw-late-${uniqueTag()}`;
    passwords.add(password);
    await secretsManager.send(
      new PutSecretValueCommand({
        SecretId: late.arn,
        SecretString: JSON.stringify({ username: late.username, password }),
      }),
    );
    accepted(await associate(clusterArn, [late.arn]));
  });

  test('a username already used on the cluster is DuplicateUsername', async () => {
    const username = `dup-${uniqueTag()}`;
    const holder = await secret({ username });
    const rival = await secret({ username });
    accepted(await associate(clusterArn, [holder.arn]));
    await assertRefused(clusterArn, rival.arn, 'DuplicateUsername', new RegExp(escape(holder.arn)));
    // A refused secret is not given the cluster's read grant.
    assert.deepEqual(kafkaStatements(await policyStatements(rival.arn)), []);

    // Usernames are unique per cluster only.
    const otherCluster = await cluster();
    accepted(await associate(otherCluster, [rival.arn]));

    // Once the holder leaves, the username is free again.
    accepted(await disassociate(clusterArn, [holder.arn]));
    accepted(await associate(clusterArn, [rival.arn]));
    await assertRefused(clusterArn, holder.arn, 'DuplicateUsername', new RegExp(escape(rival.arn)));
  });

  test('two secrets with one username in one batch: the first wins', async () => {
    const freshCluster = await cluster();
    const username = `twin-${uniqueTag()}`;
    const first = await secret({ username });
    const second = await secret({ username });
    const result = await associate(freshCluster, [first.arn, second.arn]);
    assert.deepEqual(refusalCodes(result), [[second.arn, 'DuplicateUsername']]);
    assert.deepEqual(await listAll(freshCluster), [first.arn]);
    assert.equal(kafkaStatements(await policyStatements(first.arn)).length, 1);
    assert.deepEqual(kafkaStatements(await policyStatements(second.arn)), []);
  });

  test("refusals of a secret's own rules and of the cluster's come back in the batch's order", async () => {
    const freshCluster = await cluster();
    const taken = await secret();
    accepted(await associate(freshCluster, [taken.arn]));
    const twin = `twin-${uniqueTag()}`;
    const rival = await secret({ username: taken.username });
    const notJson = await secret({ secretString: 'not json at all' });
    const first = await secret({ username: twin });
    const unprefixed = await secret({ name: `orders-${uniqueTag()}` });
    const second = await secret({ username: twin });
    const fine = await secret();
    const batch = [rival.arn, notJson.arn, first.arn, unprefixed.arn, second.arn, fine.arn];
    const result = await associate(freshCluster, batch);
    assert.deepEqual(refusalCodes(result), [
      [rival.arn, 'DuplicateUsername'],
      [notJson.arn, 'InvalidSecretValue'],
      [unprefixed.arn, 'InvalidSecretArn'],
      [second.arn, 'DuplicateUsername'],
    ]);
    assert.match(result.UnprocessedScramSecrets![0]!.ErrorMessage!, new RegExp(escape(taken.arn)));
    assert.match(result.UnprocessedScramSecrets![3]!.ErrorMessage!, new RegExp(escape(first.arn)));
    assert.deepEqual(
      new Set(await listAll(freshCluster)),
      new Set([taken.arn, first.arn, fine.arn]),
    );
  });

  test('associating an associated secret again succeeds and changes nothing', async () => {
    const freshCluster = await cluster();
    const once = await secret();
    const other = await secret();
    accepted(await associate(freshCluster, [once.arn, other.arn]));
    const before = await listAll(freshCluster);
    const policyBefore = await policyStatements(once.arn);

    accepted(await associate(freshCluster, [once.arn]));
    accepted(await associate(freshCluster, [once.arn, once.arn, other.arn]));
    assert.deepEqual(await listAll(freshCluster), before);
    assert.deepEqual(await policyStatements(once.arn), policyBefore);
    assert.equal(kafkaStatements(policyBefore).length, 1);

    // An associated secret is not examined or granted again: a policy changed since stays.
    const ownPolicy = {
      Version: '2012-10-17',
      Statement: [{ Sid: 'Own', Effect: 'Deny', Principal: '*', Action: '*', Resource: '*' }],
    };
    await secretsManager.send(
      new PutResourcePolicyCommand({
        SecretId: once.arn,
        ResourcePolicy: JSON.stringify(ownPolicy),
      }),
    );
    accepted(await associate(freshCluster, [once.arn]));
    assert.deepEqual(await policyStatements(once.arn), ownPolicy.Statement);
  });

  test('a mixed batch associates the valid secrets and refuses only the others', async () => {
    const freshCluster = await cluster();
    const good = await Promise.all([secret(), secret(), secret()]);
    const unprefixed = await secret({ name: `plain-${uniqueTag()}` });
    const unkeyed = await createMskSecret(secretsManager, {});
    passwords.add(unkeyed.password);
    const badValue = await secret({ secretString: `nope ${uniqueTag()}` });
    const missing = `arn:aws:secretsmanager:${REGION}:${ACCOUNT_ID}:secret:AmazonMSK_gone-abcdef`;
    const batch = [good[0]!.arn, unprefixed.arn, good[1]!.arn, unkeyed.arn, badValue.arn, missing];
    batch.push(good[2]!.arn);

    const result = await associate(freshCluster, batch);
    const refusals = new Map(
      (result.UnprocessedScramSecrets ?? []).map((refusal) => [refusal.SecretArn, refusal]),
    );
    assert.deepEqual(
      [...refusals].map(([arn, refusal]) => [arn, refusal.ErrorCode]).sort(),
      [
        [unprefixed.arn, 'InvalidSecretArn'],
        [unkeyed.arn, 'InvalidKmsKey'],
        [badValue.arn, 'InvalidSecretValue'],
        [missing, 'InvalidSecretArn'],
      ].sort(),
    );
    for (const refusal of refusals.values()) assert.ok((refusal.ErrorMessage ?? '').length > 20);
    assert.deepEqual(new Set(await listAll(freshCluster)), new Set(good.map((one) => one.arn)));
    for (const refused of [unprefixed.arn, unkeyed.arn, badValue.arn]) {
      assert.deepEqual(kafkaStatements(await policyStatements(refused)), []);
    }
  });

  test('association lets kafka.amazonaws.com read the secret, keeping its policy', async () => {
    const freshCluster = await cluster();
    const guarded = await secret();
    const existing = {
      Sid: 'KeepMe',
      Effect: 'Deny',
      Principal: { AWS: `arn:aws:iam::${ACCOUNT_ID}:role/nobody` },
      Action: 'secretsmanager:DeleteSecret',
      Resource: '*',
    };
    await secretsManager.send(
      new PutResourcePolicyCommand({
        SecretId: guarded.arn,
        ResourcePolicy: JSON.stringify({ Version: '2012-10-17', Statement: [existing] }),
      }),
    );
    const plain = await secret();
    accepted(await associate(freshCluster, [guarded.arn, plain.arn]));

    for (const arn of [guarded.arn, plain.arn]) {
      const granted = kafkaStatements(await policyStatements(arn));
      assert.equal(granted.length, 1, `one grant on ${arn}`);
      assert.deepEqual(granted[0]!.Principal, { Service: 'kafka.amazonaws.com' });
      assert.match(JSON.stringify(granted[0]!.Action), /secretsmanager:getSecretValue/i);
      assert.equal(granted[0]!.Resource, arn);
    }
    const statements = await policyStatements(guarded.arn);
    assert.deepEqual(
      statements.find((statement) => statement.Sid === 'KeepMe'),
      existing,
    );

    // A second cluster does not add a second grant.
    accepted(await associate(await cluster(), [guarded.arn]));
    assert.equal(kafkaStatements(await policyStatements(guarded.arn)).length, 1);
  });
});

describe('BatchDisassociateScramSecret', () => {
  test('disassociated secrets leave the listing; others stay', async () => {
    const clusterArn = await cluster();
    const members = await secrets(6);
    await associateAll(
      clusterArn,
      members.map((one) => one.arn),
    );
    const result = await disassociate(clusterArn, [members[1]!.arn, members[4]!.arn]);
    assert.equal(result.ClusterArn, clusterArn);
    accepted(result);
    assert.deepEqual(
      new Set(await listAll(clusterArn)),
      new Set([0, 2, 3, 5].map((i) => members[i]!.arn)),
    );
  });

  test('a secret not associated is InvalidSecretArn; the rest of the batch is done', async () => {
    const clusterArn = await cluster();
    const elsewhere = await cluster();
    const [member, stranger, other] = await Promise.all([secret(), secret(), secret()]);
    accepted(await associate(clusterArn, [member.arn]));
    accepted(await associate(elsewhere, [other.arn]));
    const garbage = 'not-an-arn';

    const result = await disassociate(clusterArn, [stranger.arn, member.arn, other.arn, garbage]);
    const refusals = result.UnprocessedScramSecrets ?? [];
    assert.deepEqual(
      refusals.map((refusal) => [refusal.SecretArn, refusal.ErrorCode]).sort(),
      [
        [stranger.arn, 'InvalidSecretArn'],
        [other.arn, 'InvalidSecretArn'],
        [garbage, 'InvalidSecretArn'],
      ].sort(),
    );
    for (const refusal of refusals) assert.match(refusal.ErrorMessage ?? '', /not associated/);
    assert.deepEqual(await listAll(clusterArn), []);
    assert.deepEqual(await listAll(elsewhere), [other.arn], 'another cluster is untouched');

    const again = await disassociate(clusterArn, [member.arn]);
    assert.deepEqual(
      (again.UnprocessedScramSecrets ?? []).map((refusal) => refusal.ErrorCode),
      ['InvalidSecretArn'],
    );
  });
});

describe('the cluster ARN', () => {
  const unknownCluster = ghostClusterArn();
  const someSecret = `arn:aws:secretsmanager:${REGION}:${ACCOUNT_ID}:secret:AmazonMSK_a-abcdef`;

  type Operation = (clusterArn: string, client?: KafkaClient) => Promise<unknown>;
  const operations: Array<[string, Operation]> = [
    [
      'ListScramSecrets',
      (arn, client = kafka) => client.send(new ListScramSecretsCommand({ ClusterArn: arn })),
    ],
    ['BatchAssociateScramSecret', (arn, client = kafka) => associate(arn, [someSecret], client)],
    [
      'BatchDisassociateScramSecret',
      (arn, client = kafka) => disassociate(arn, [someSecret], client),
    ],
  ];

  test('arrives percent-encoded in one path segment, decoded exactly once', async () => {
    const clusterArn = await cluster();
    const member = await secret();
    accepted(await associate(clusterArn, [member.arn]));
    const listed = await raw({ method: 'GET', path: scramPath(clusterArn) });
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.json.secretArnList, [member.arn]);

    const twice = encodeURIComponent(encodeURIComponent(clusterArn));
    const doubly = `/v1/clusters/${twice}/scram-secrets`;
    assertWireBadRequest(await raw({ method: 'GET', path: doubly }), 'clusterArn');

    const posted = await raw({
      method: 'PATCH',
      path: scramPath(clusterArn),
      body: JSON.stringify({ secretArnList: [member.arn] }),
    });
    assert.equal(posted.status, 200);
    assert.deepEqual(posted.json, { clusterArn, unprocessedScramSecrets: [] });
  });

  const malformed = [
    'not-an-arn',
    `arn:aws:kafka:${REGION}:${ACCOUNT_ID}:cluster/demo`,
    `arn:aws:kafka:${REGION}:${ACCOUNT_ID}:topic/demo/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b-1`,
    `arn:aws:secretsmanager:${REGION}:${ACCOUNT_ID}:secret:AmazonMSK_a-abcdef`,
    `${unknownCluster}/extra`,
  ];
  for (const [operation, call] of operations) {
    test(`${operation}: a malformed cluster ARN is a 400 on clusterArn`, async () => {
      for (const arn of malformed) await assert.rejects(call(arn), sdkBadRequest('clusterArn'));
    });

    test(`${operation}: an unknown cluster is a 404 NotFoundException`, async () => {
      await assert.rejects(call(unknownCluster), sdkNotFound);
    });

    test(`${operation}: a cluster of another account or region is a 404`, async () => {
      const ours = await cluster();
      const theirs = await createScramCluster(otherKafka);
      await assert.rejects(call(theirs), sdkNotFound);
      await assert.rejects(call(ours, otherKafka), sdkNotFound);
      const elsewhere = recordResponses(t.kafka({ region: 'eu-west-1' }), responses);
      await assert.rejects(call(ours, elsewhere), sdkNotFound);
    });
  }

  test('a path the router cannot read is still an AWS error with a request id', async () => {
    const overLong = `${unknownCluster}${'x'.repeat(3000)}`;
    for (const path of [
      '/v1/clusters/%E0%A4%A/scram-secrets',
      `/v1/clusters/${encodeURIComponent(overLong)}/scram-secrets`,
    ]) {
      const response = await raw({ method: 'GET', path });
      assert.equal(response.status, 400, response.text);
      assert.equal(response.headers.get('x-amzn-errortype'), 'BadRequestException');
      assert.ok(response.headers.get('x-amzn-requestid'));
      assert.equal(typeof response.json.message, 'string');
    }
  });

  test('an unknown cluster is a 404 on the wire too', async () => {
    const response = await raw({ method: 'GET', path: scramPath(unknownCluster) });
    assert.equal(response.status, 404);
    assert.equal(response.headers.get('x-amzn-errortype'), 'NotFoundException');
    assert.equal(typeof response.json.message, 'string');
  });

  test('associating while SASL/SCRAM is off is a 400 that says so', async () => {
    const clusterArn = await cluster({ scram: false });
    const member = await secret();
    await assert.rejects(associate(clusterArn, [member.arn]), sdkBadRequest('clusterArn', /SCRAM/));
    assert.deepEqual(await listAll(clusterArn), []);

    const described = await kafka.send(new DescribeClusterCommand({ ClusterArn: clusterArn }));
    await kafka.send(
      new UpdateSecurityCommand({
        ClusterArn: clusterArn,
        CurrentVersion: described.ClusterInfo!.CurrentVersion,
        ClientAuthentication: { Sasl: { Scram: { Enabled: true } } },
      }),
    );
    accepted(await associate(clusterArn, [member.arn]));
    assert.deepEqual(await listAll(clusterArn), [member.arn]);
  });

  test('associating while the cluster is not ACTIVE is a 400 that says so', async () => {
    const slow = await startTestServer({ SCRAM_SECRETS_CLUSTER_TRANSITION_SECONDS: '30' });
    try {
      const slowKafka = recordResponses(slow.kafka(), responses);
      const slowSecrets = recordResponses(slow.secretsManager(), responses);
      const slowKey = await createKey(recordResponses(slow.kms(), responses));
      const member = await createMskSecret(slowSecrets, { kmsKeyId: slowKey });
      passwords.add(member.password);
      const clusterArn = await createScramCluster(slowKafka);
      const described = await slowKafka.send(
        new DescribeClusterCommand({ ClusterArn: clusterArn }),
      );
      assert.equal(described.ClusterInfo!.State, 'CREATING');

      await assert.rejects(
        associate(clusterArn, [member.arn], slowKafka),
        sdkBadRequest('clusterArn', /CREATING.*ACTIVE/),
      );
      const listed = await slowKafka.send(new ListScramSecretsCommand({ ClusterArn: clusterArn }));
      assert.deepEqual(listed.SecretArnList ?? [], []);
    } finally {
      await slow.stop();
    }
  });
});

describe('the 1000-secret limit and concurrent batches', () => {
  let pool: MskSecret[];

  before(async () => {
    pool = await secrets(1025);
  });

  test('a cluster holds at most 1000 secrets, even under 20 parallel batches', async () => {
    const clusterArn = await cluster();
    await associateAll(
      clusterArn,
      pool.slice(0, 990).map((one) => one.arn),
    );

    const defaultPage = await kafka.send(new ListScramSecretsCommand({ ClusterArn: clusterArn }));
    assert.equal(defaultPage.SecretArnList!.length, 100, 'the default page size is 100');
    assert.equal(typeof defaultPage.NextToken, 'string');

    const racers = pool.slice(990, 1010);
    const results = await Promise.all(racers.map((one) => associate(clusterArn, [one.arn])));
    const refusals = results.flatMap((result) => result.UnprocessedScramSecrets ?? []);
    assert.equal(refusals.length, 10, 'ten of the twenty fit');
    for (const refusal of refusals) {
      assert.equal(refusal.ErrorCode, 'ClusterSecretLimitExceeded');
      assert.match(refusal.ErrorMessage ?? '', /1000/);
    }

    const listed = await listAll(clusterArn);
    assert.equal(listed.length, 1000);
    assert.equal(new Set(listed).size, 1000);
    for (const refusal of refusals) assert.equal(listed.includes(refusal.SecretArn!), false);

    await assertRefused(clusterArn, pool[1010]!.arn, 'ClusterSecretLimitExceeded', /1000/);
    accepted(await associate(clusterArn, [pool[0]!.arn]));

    // With five places free, a batch of ten takes the first five and refuses the rest.
    accepted(
      await disassociate(
        clusterArn,
        pool.slice(0, 5).map((one) => one.arn),
      ),
    );
    const batch = pool.slice(1011, 1021).map((one) => one.arn);
    const partial = await associate(clusterArn, batch);
    assert.deepEqual(
      refusalCodes(partial),
      batch.slice(5).map((arn) => [arn, 'ClusterSecretLimitExceeded']),
    );
    const after = new Set(await listAll(clusterArn));
    assert.equal(after.size, 1000);
    for (const arn of batch.slice(0, 5)) assert.ok(after.has(arn));

    // The limit is per cluster.
    accepted(await associate(await cluster(), [pool[1024]!.arn, pool[1]!.arn]));
  });

  test('one username raced from 20 secrets in parallel: exactly one wins', async () => {
    const clusterArn = await cluster();
    const username = `racer-${uniqueTag()}`;
    const rivals = await Promise.all(Array.from({ length: 20 }, () => secret({ username })));
    const results = await Promise.all(rivals.map((one) => associate(clusterArn, [one.arn])));
    const refusals = results.flatMap((result) => result.UnprocessedScramSecrets ?? []);
    assert.equal(refusals.length, 19);
    for (const refusal of refusals) assert.equal(refusal.ErrorCode, 'DuplicateUsername');
    const listed = await listAll(clusterArn);
    assert.equal(listed.length, 1);
    assert.equal(
      refusals.some((refusal) => refusal.SecretArn === listed[0]),
      false,
    );
  });

  test('one secret associated by 20 parallel calls is listed once', async () => {
    const clusterArn = await cluster();
    const only = await secret();
    const results = await Promise.all(
      Array.from({ length: 20 }, () => associate(clusterArn, [only.arn])),
    );
    for (const result of results) accepted(result);
    assert.deepEqual(await listAll(clusterArn), [only.arn]);
    assert.equal(kafkaStatements(await policyStatements(only.arn)).length, 1);
  });

  test('20 parallel batches of distinct secrets all land', async () => {
    const clusterArn = await cluster();
    const members = pool.slice(0, 100);
    const batches = Array.from({ length: 20 }, (_, i) => members.slice(i * 5, i * 5 + 5));
    const results = await Promise.all(
      batches.map((batch) =>
        associate(
          clusterArn,
          batch.map((one) => one.arn),
        ),
      ),
    );
    for (const result of results) accepted(result);
    const listed = await listAll(clusterArn);
    assert.equal(listed.length, 100);
    assert.deepEqual(new Set(listed), new Set(members.map((one) => one.arn)));

    // And 20 parallel disassociations of overlapping halves leave nothing behind.
    await Promise.all(
      batches.map((batch, i) =>
        disassociate(
          clusterArn,
          [...batch, ...(batches[(i + 1) % 20] ?? [])].slice(0, 10).map((one) => one.arn),
        ),
      ),
    );
    assert.deepEqual(await listAll(clusterArn), []);
  });
});

describe('across the service', () => {
  test('a restart keeps associations, page tokens and username claims', async () => {
    const clusterArn = await cluster();
    const username = `kept-${uniqueTag()}`;
    const members = [await secret({ username }), await secret(), await secret()];
    accepted(
      await associate(
        clusterArn,
        members.map((one) => one.arn),
      ),
    );
    const listedBefore = await listAll(clusterArn);
    const firstPage = await kafka.send(
      new ListScramSecretsCommand({ ClusterArn: clusterArn, MaxResults: 1 }),
    );

    await t.restart();
    connectClients();

    assert.deepEqual(await listAll(clusterArn), listedBefore);
    const rest = await kafka.send(
      new ListScramSecretsCommand({ ClusterArn: clusterArn, NextToken: firstPage.NextToken }),
    );
    assert.deepEqual(rest.SecretArnList, listedBefore.slice(1));
    const rival = await secret({ username });
    await assertRefused(clusterArn, rival.arn, 'DuplicateUsername', /username/);
    accepted(await disassociate(clusterArn, [members[1]!.arn]));
    const remaining = listedBefore.filter((arn) => arn !== members[1]!.arn);
    assert.deepEqual(await listAll(clusterArn), remaining);
  });

  test('DeleteCluster ends its associations', async () => {
    const clusterArn = await cluster();
    const members = await Promise.all([secret(), secret()]);
    accepted(
      await associate(
        clusterArn,
        members.map((one) => one.arn),
      ),
    );
    await kafka.send(new DeleteClusterCommand({ ClusterArn: clusterArn }));

    for (const call of [
      () => kafka.send(new ListScramSecretsCommand({ ClusterArn: clusterArn })),
      () => associate(clusterArn, [members[0]!.arn]),
      () => disassociate(clusterArn, [members[0]!.arn]),
    ]) {
      await assert.rejects(call(), sdkNotFound);
    }

    // Nothing of the cluster's associations is left behind in the store, either.
    assert.equal(await countAssociations(t, clusterArn), 0);

    // The secrets themselves are free to join another cluster under the same usernames.
    accepted(
      await associate(
        await cluster(),
        members.map((one) => one.arn),
      ),
    );
  });

  test('every response carries x-amzn-RequestId and no body ever holds a password', () => {
    assert.ok(responses.length > 300, `recorded ${responses.length} responses`);
    assert.ok(responses.some((response) => response.status === 400));
    assert.ok(responses.some((response) => response.status === 404));
    assert.ok(passwords.size > 1000);
    const requestIds = new Set<string>();
    for (const response of responses) {
      assert.ok(response.requestId, `${response.operation} (${response.status}) has a request id`);
      requestIds.add(response.requestId);
      for (const password of passwords) {
        assert.equal(
          response.body.includes(password),
          false,
          `${response.operation} (${response.status}) returned a stored password`,
        );
      }
    }
    assert.equal(requestIds.size, responses.length, 'request ids are unique');
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A well-formed ARN of a cluster that was never created. */
function ghostClusterArn(): string {
  const id = '0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b-1';
  return `arn:aws:kafka:${REGION}:${ACCOUNT_ID}:cluster/ghost/${id}`;
}
