import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import {
  BatchAssociateScramSecretCommand,
  BatchDisassociateScramSecretCommand,
  DeleteClusterCommand,
  DescribeClusterCommand,
  ListClustersCommand,
  ListScramSecretsCommand,
  type KafkaClient,
} from '@aws-sdk/client-kafka';
import {
  CreateKeyCommand,
  DescribeKeyCommand,
  ListKeysCommand,
  type KMSClient,
} from '@aws-sdk/client-kms';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';

import { loadConfig } from '../../src/config/config.js';
import { assertCliError, awsCli, type AwsCli } from '../support/aws-cli.js';
import { createKey, createMskSecret, createScramCluster, uniqueTag } from '../support/fixtures.js';
import {
  OTHER_ACCESS_KEY_ID,
  OTHER_SECRET_ACCESS_KEY,
  startTestServer,
  type TestServer,
} from '../support/server.js';

/**
 * Principals with IAM-style policies, driven through the AWS SDK v3 and the AWS CLI. The
 * README's example principals are the ones under test: the test starts the service with the
 * README's JSON block, which must also equal the fixture file beside the other test data.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const FIXTURE = join(ROOT, 'test', 'support', 'principals.example.json');

interface PrincipalEntry {
  name: string;
  accessKeyId: string;
  secretAccessKey: string;
  accountId: string;
  administrator?: boolean;
  policies?: unknown[];
}

interface Clients {
  kafka: KafkaClient;
  secretsManager: SecretsManagerClient;
  kms: KMSClient;
}

/** The first JSON block of the README's section on principals. */
function readmeExample(): { principals: PrincipalEntry[] } {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = /\n## Principals, policies and throttling\n([\s\S]*?)\n## /.exec(readme)?.[1];
  assert.ok(section, 'README.md has no "## Principals, policies and throttling" section');
  const block = /```json\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(block, 'the section has no ```json block');
  return JSON.parse(block) as { principals: PrincipalEntry[] };
}

const example = readmeExample();
const ACCOUNT = '123456789012';

/** Principals the README does not show: explicit Denies, with and without administration. */
const extraPrincipals: PrincipalEntry[] = [
  {
    name: 'no-payroll',
    accessKeyId: 'AKIANOPAYROLL0000001',
    secretAccessKey: 'no-payroll-secret-access-key',
    accountId: ACCOUNT,
    policies: [
      {
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Action: ['kafka:*', 'secretsmanager:*', 'kms:*'], Resource: '*' },
          {
            Effect: 'Deny',
            Action: 'secretsmanager:GetSecretValue',
            Resource: 'arn:aws:secretsmanager:*:*:secret:AmazonMSK_payroll*',
          },
          { Effect: 'Deny', Action: 'kafka:DeleteCluster', Resource: '*' },
        ],
      },
    ],
  },
  {
    name: 'admin-but-no-deletes',
    accessKeyId: 'AKIANODELETES0000001',
    secretAccessKey: 'admin-but-no-deletes-secret-key',
    accountId: ACCOUNT,
    administrator: true,
    policies: [
      {
        Statement: {
          Effect: 'Deny',
          Action: ['kafka:Delete*', 'secretsmanager:DeleteSecret'],
          Resource: '*',
        },
      },
    ],
  },
];

let t: TestServer;
let configDir: string;
const clientsByName = new Map<string, Clients>();
let keyId: string;
let ordersClusterArn: string;
let billingClusterArn: string;
let ordersAppSecretArn: string;
let ordersApp2SecretArn: string;
let payrollSecretArn: string;
let otherAccount: { clusterArn: string; secretArn: string; keyArn: string };

function as(name: string): Clients {
  const clients = clientsByName.get(name);
  assert.ok(clients, `no principal named ${name}`);
  return clients;
}

/** Rejects with the named error, the status, and a message containing every fragment. */
async function refused(
  call: Promise<unknown>,
  name: string,
  status: number,
  ...fragments: string[]
): Promise<void> {
  await assert.rejects(call, (error: Error & { $metadata?: { httpStatusCode?: number } }) => {
    assert.equal(error.name, name, error.message);
    assert.equal(error.$metadata?.httpStatusCode, status);
    for (const fragment of fragments) assert.ok(error.message.includes(fragment), error.message);
    return true;
  });
}

function associate(kafka: KafkaClient, clusterArn: string, ...secretArns: string[]) {
  return kafka.send(
    new BatchAssociateScramSecretCommand({ ClusterArn: clusterArn, SecretArnList: secretArns }),
  );
}

function disassociate(kafka: KafkaClient, clusterArn: string, ...secretArns: string[]) {
  return kafka.send(
    new BatchDisassociateScramSecretCommand({ ClusterArn: clusterArn, SecretArnList: secretArns }),
  );
}

function listScram(kafka: KafkaClient, clusterArn: string) {
  return kafka.send(new ListScramSecretsCommand({ ClusterArn: clusterArn }));
}

function describeCluster(kafka: KafkaClient, clusterArn: string) {
  return kafka.send(new DescribeClusterCommand({ ClusterArn: clusterArn }));
}

function getSecretValue(secretsManager: SecretsManagerClient, secretId: string) {
  return secretsManager.send(new GetSecretValueCommand({ SecretId: secretId }));
}

async function scramSecretsOf(clusterArn: string): Promise<string[]> {
  const listed = await as('platform-admin').kafka.send(
    new ListScramSecretsCommand({ ClusterArn: clusterArn }),
  );
  return listed.SecretArnList ?? [];
}

before(async () => {
  configDir = mkdtempSync(join(tmpdir(), 'scram-secrets-policies-'));
  const configFile = join(configDir, 'config.json');
  writeFileSync(
    configFile,
    JSON.stringify({ ...example, principals: [...example.principals, ...extraPrincipals] }),
    { mode: 0o600 },
  );
  t = await startTestServer({ SCRAM_SECRETS_CONFIG: configFile });
  for (const principal of [...example.principals, ...extraPrincipals]) {
    const options = {
      accessKeyId: principal.accessKeyId,
      secretAccessKey: principal.secretAccessKey,
    };
    clientsByName.set(principal.name, {
      kafka: t.kafka(options),
      secretsManager: t.secretsManager(options),
      kms: t.kms(options),
    });
  }

  const admin = as('platform-admin');
  keyId = await createKey(admin.kms);
  [ordersClusterArn, billingClusterArn] = await Promise.all([
    createScramCluster(admin.kafka, { name: 'orders' }),
    createScramCluster(admin.kafka, { name: 'billing' }),
  ]);
  const secret = (name: string) =>
    createMskSecret(admin.secretsManager, { kmsKeyId: keyId, name: `${name}-${uniqueTag()}` });
  const [ordersApp, ordersApp2, payroll] = await Promise.all([
    secret('AmazonMSK_orders-app'),
    secret('AmazonMSK_orders-app2'),
    secret('AmazonMSK_payroll'),
  ]);
  ordersAppSecretArn = ordersApp!.arn;
  ordersApp2SecretArn = ordersApp2!.arn;
  payrollSecretArn = payroll!.arn;

  const other = { accessKeyId: OTHER_ACCESS_KEY_ID, secretAccessKey: OTHER_SECRET_ACCESS_KEY };
  const otherKeyId = await createKey(t.kms(other));
  const otherKey = await t.kms(other).send(new DescribeKeyCommand({ KeyId: otherKeyId }));
  otherAccount = {
    clusterArn: await createScramCluster(t.kafka(other), { name: 'orders' }),
    secretArn: (
      await createMskSecret(t.secretsManager(other), {
        kmsKeyId: otherKeyId,
        name: 'AmazonMSK_orders-app',
      })
    ).arn,
    keyArn: otherKey.KeyMetadata!.Arn!,
  };
});

after(async () => {
  await t?.stop();
  if (configDir) rmSync(configDir, { recursive: true, force: true });
});

test("the README's example principals are the fixture file's", () => {
  const fixture = JSON.parse(readFileSync(FIXTURE, 'utf8')) as unknown;
  assert.deepEqual(example, fixture);
  assert.deepEqual(
    example.principals.map((principal) => principal.name),
    ['platform-admin', 'auditor', 'orders-team'],
  );
});

describe('the read-only principal (auditor)', () => {
  test('lists and describes across MSK, Secrets Manager and KMS', async () => {
    const auditor = as('auditor');

    const clusters = await auditor.kafka.send(new ListClustersCommand({}));
    const described = await describeCluster(auditor.kafka, ordersClusterArn);
    await listScram(auditor.kafka, ordersClusterArn);
    const secrets = await auditor.secretsManager.send(new ListSecretsCommand({}));
    await auditor.secretsManager.send(new DescribeSecretCommand({ SecretId: payrollSecretArn }));
    const keys = await auditor.kms.send(new ListKeysCommand({}));
    await auditor.kms.send(new DescribeKeyCommand({ KeyId: keyId }));

    assert.equal(clusters.ClusterInfoList?.length, 2);
    assert.equal(described.ClusterInfo?.ClusterName, 'orders');
    assert.equal(secrets.SecretList?.length, 3);
    assert.equal(keys.Keys?.length, 1);
  });

  test('associating is 403 ForbiddenException naming kafka:BatchAssociateScramSecret', async () => {
    await refused(
      associate(as('auditor').kafka, ordersClusterArn, ordersAppSecretArn),
      'ForbiddenException',
      403,
      `User: arn:aws:iam::${ACCOUNT}:user/auditor is not authorized to perform: `,
      'kafka:BatchAssociateScramSecret',
      `on resource: ${ordersClusterArn}`,
    );
    assert.deepEqual(await scramSecretsOf(ordersClusterArn), []);
  });

  test('reading a secret value or creating anything is AccessDeniedException', async () => {
    const auditor = as('auditor');

    await refused(
      getSecretValue(auditor.secretsManager, ordersAppSecretArn),
      'AccessDeniedException',
      400,
      'secretsmanager:GetSecretValue',
      ordersAppSecretArn,
    );
    await refused(
      auditor.secretsManager.send(
        new CreateSecretCommand({ Name: 'AmazonMSK_sneaky', SecretString: 'x' }),
      ),
      'AccessDeniedException',
      400,
      'secretsmanager:CreateSecret',
    );
    await refused(
      auditor.kms.send(new CreateKeyCommand({})),
      'AccessDeniedException',
      400,
      'kms:CreateKey',
    );
    const keys = await auditor.kms.send(new ListKeysCommand({}));
    assert.equal(keys.Keys?.length, 1, 'a refused CreateKey created a key');
  });
});

describe('the principal limited to one cluster (orders-team)', () => {
  test('associates, lists and disassociates on the orders cluster', async () => {
    const kafka = as('orders-team').kafka;

    const associated = await associate(kafka, ordersClusterArn, ordersAppSecretArn);
    const listed = await listScram(kafka, ordersClusterArn);

    assert.deepEqual(associated.UnprocessedScramSecrets, []);
    assert.deepEqual(listed.SecretArnList, [ordersAppSecretArn]);
    const disassociated = await disassociate(kafka, ordersClusterArn, ordersAppSecretArn);
    assert.deepEqual(disassociated.UnprocessedScramSecrets, []);
    assert.deepEqual(await scramSecretsOf(ordersClusterArn), []);
  });

  test('is 403 on the other cluster, and on calls its policy does not name', async () => {
    const kafka = as('orders-team').kafka;

    await refused(
      associate(kafka, billingClusterArn, ordersAppSecretArn),
      'ForbiddenException',
      403,
      'kafka:BatchAssociateScramSecret',
      billingClusterArn,
      'user/orders-team',
    );
    await refused(
      listScram(kafka, billingClusterArn),
      'ForbiddenException',
      403,
      'kafka:ListScramSecrets',
    );
    await refused(
      describeCluster(kafka, ordersClusterArn),
      'ForbiddenException',
      403,
      'kafka:DescribeCluster',
    );
    await refused(
      kafka.send(new ListClustersCommand({})),
      'ForbiddenException',
      403,
      'kafka:ListClusters',
    );
    assert.deepEqual(await scramSecretsOf(billingClusterArn), []);
  });

  test('may read the AmazonMSK_ secrets, and nothing else in Secrets Manager or KMS', async () => {
    const { secretsManager, kms } = as('orders-team');

    const value = await getSecretValue(secretsManager, ordersAppSecretArn);

    assert.match(value.SecretString ?? '', /"username"/);
    await refused(
      secretsManager.send(new ListSecretsCommand({})),
      'AccessDeniedException',
      400,
      'secretsmanager:ListSecrets',
    );
    await refused(
      kms.send(new DescribeKeyCommand({ KeyId: keyId })),
      'AccessDeniedException',
      400,
      'kms:DescribeKey',
    );
  });
});

describe('a secret the caller may not read', () => {
  test('comes back unprocessed as InvalidSecretArn; the others are associated', async () => {
    const result = await associate(
      as('no-payroll').kafka,
      ordersClusterArn,
      payrollSecretArn,
      ordersApp2SecretArn,
    );

    assert.equal(result.UnprocessedScramSecrets?.length, 1);
    const [refusal] = result.UnprocessedScramSecrets!;
    assert.equal(refusal!.SecretArn, payrollSecretArn);
    assert.equal(refusal!.ErrorCode, 'InvalidSecretArn');
    assert.match(refusal!.ErrorMessage ?? '', /secretsmanager:GetSecretValue/);
    assert.deepEqual(await scramSecretsOf(ordersClusterArn), [ordersApp2SecretArn]);
  });

  test('is associated by a caller who may read it', async () => {
    const result = await associate(as('platform-admin').kafka, billingClusterArn, payrollSecretArn);
    assert.deepEqual(result.UnprocessedScramSecrets, []);
    assert.deepEqual(await scramSecretsOf(billingClusterArn), [payrollSecretArn]);
  });
});

describe('an explicit Deny wins', () => {
  test('over an Allow of the same action', async () => {
    const { kafka, secretsManager } = as('no-payroll');
    const payrollName = payrollSecretArn.split(':secret:')[1]!.slice(0, -7);

    await refused(
      getSecretValue(secretsManager, payrollSecretArn),
      'AccessDeniedException',
      400,
      'secretsmanager:GetSecretValue',
    );
    // By name, the secret resolves to the same ARN, and the same Deny.
    await refused(
      getSecretValue(secretsManager, payrollName),
      'AccessDeniedException',
      400,
      payrollSecretArn,
    );
    await refused(
      kafka.send(new DeleteClusterCommand({ ClusterArn: billingClusterArn })),
      'ForbiddenException',
      403,
      'kafka:DeleteCluster',
    );
    await getSecretValue(secretsManager, ordersApp2SecretArn);
    await describeCluster(kafka, billingClusterArn);
  });

  test('over administration', async () => {
    const { kafka, secretsManager } = as('admin-but-no-deletes');

    await refused(
      kafka.send(new DeleteClusterCommand({ ClusterArn: billingClusterArn })),
      'ForbiddenException',
      403,
      'user/admin-but-no-deletes',
      'kafka:DeleteCluster',
    );
    await refused(
      secretsManager.send(new DeleteSecretCommand({ SecretId: ordersAppSecretArn })),
      'AccessDeniedException',
      400,
      'secretsmanager:DeleteSecret',
    );
    const described = await describeCluster(kafka, billingClusterArn);
    assert.equal(described.ClusterInfo?.State, 'ACTIVE');
    await secretsManager.send(new DescribeSecretCommand({ SecretId: ordersAppSecretArn }));
  });
});

describe("another account's resources", () => {
  test('are 404 to callers whose policies allow the call, as if they did not exist', async () => {
    const admin = as('platform-admin');
    const auditor = as('auditor');

    await refused(listScram(admin.kafka, otherAccount.clusterArn), 'NotFoundException', 404);
    await refused(
      associate(admin.kafka, otherAccount.clusterArn, ordersAppSecretArn),
      'NotFoundException',
      404,
    );
    await refused(
      describeCluster(auditor.kafka, otherAccount.clusterArn),
      'NotFoundException',
      404,
    );
    await refused(
      getSecretValue(admin.secretsManager, otherAccount.secretArn),
      'ResourceNotFoundException',
      400,
    );
    await refused(
      auditor.secretsManager.send(new DescribeSecretCommand({ SecretId: otherAccount.secretArn })),
      'ResourceNotFoundException',
      400,
    );
    await refused(
      admin.kms.send(new DescribeKeyCommand({ KeyId: otherAccount.keyArn })),
      'NotFoundException',
      400,
    );
  });

  test('are 403 to a caller whose policy names only its own account', async () => {
    await refused(
      listScram(as('orders-team').kafka, otherAccount.clusterArn),
      'ForbiddenException',
      403,
      'kafka:ListScramSecrets',
    );
  });

  test("cannot have this account's secrets associated with them", async () => {
    const other = t.kafka({
      accessKeyId: OTHER_ACCESS_KEY_ID,
      secretAccessKey: OTHER_SECRET_ACCESS_KEY,
    });
    const result = await associate(other, otherAccount.clusterArn, ordersAppSecretArn);
    assert.equal(result.UnprocessedScramSecrets?.[0]?.ErrorCode, 'InvalidSecretArn');
  });
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

  test('shows ForbiddenException and AccessDeniedException with the refused action', async () => {
    const auditor = example.principals.find((principal) => principal.name === 'auditor')!;
    const cluster = ['--cluster-arn', ordersClusterArn];
    const secrets = ['--secret-arn-list', ordersAppSecretArn];
    const [associated, getValue, list] = await Promise.all([
      cli.run(['kafka', 'batch-associate-scram-secret', ...cluster, ...secrets], auditor),
      cli.run(['secretsmanager', 'get-secret-value', '--secret-id', ordersAppSecretArn], auditor),
      cli.run(['kafka', 'list-scram-secrets', ...cluster, '--output', 'json'], auditor),
    ]);

    assertCliError(
      associated!,
      'ForbiddenException',
      'BatchAssociateScramSecret',
      /user\/auditor is not authorized to perform: kafka:BatchAssociateScramSecret/,
    );
    assertCliError(
      getValue!,
      'AccessDeniedException',
      'GetSecretValue',
      /secretsmanager:GetSecretValue/,
    );
    assert.equal(list!.status, 0, list!.stderr);
    assert.ok(Array.isArray(JSON.parse(list!.stdout).SecretArnList));
  });
});

describe('policies the service cannot evaluate faithfully', () => {
  for (const [field, statement] of [
    ['Condition', { Condition: { Bool: { 'aws:SecureTransport': 'true' } } }],
    ['NotResource', { NotResource: 'arn:aws:kafka:*:*:cluster/orders/*' }],
    ['NotAction', { NotAction: 'kafka:ListClusters' }],
  ] as const) {
    test(`a statement with ${field} stops the start, rather than being applied without it`, () => {
      const file = join(configDir, `${field}.json`);
      const unsupported = { Effect: 'Allow', Action: 'kafka:*', Resource: '*', ...statement };
      const principal = { ...extraPrincipals[0]!, policies: [{ Statement: [unsupported] }] };
      writeFileSync(file, JSON.stringify({ principals: [principal] }));
      assert.throws(
        () => loadConfig({ SCRAM_SECRETS_CONFIG: file, SCRAM_SECRETS_DATA_DIR: configDir }),
        new RegExp(`Invalid configuration: .*${field}`),
      );
    });
  }

  test('a statement of Effect, Action and Resource loads', () => {
    const file = join(configDir, 'plain.json');
    writeFileSync(file, JSON.stringify({ principals: example.principals }));
    const config = loadConfig({ SCRAM_SECRETS_CONFIG: file, SCRAM_SECRETS_DATA_DIR: configDir });
    assert.equal(config.principals.length, 3);
  });
});
