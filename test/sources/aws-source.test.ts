import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { ListScramSecretsCommand } from '@aws-sdk/client-kafka';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { GetResourcePolicyCommand } from '@aws-sdk/client-secrets-manager';

import {
  createKey,
  createMskSecret,
  createScramCluster,
  kafkaRequest,
  type MskSecret,
} from '../support/fixtures.js';
import { startAwsProxy, type AwsProxy } from '../support/aws-proxy.js';
import { startMoto, type MotoServer } from '../support/moto.js';
import { clusterPath } from '../support/raw.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { countAssociations } from '../support/store.js';

/**
 * The `aws` secret source against moto's server, beyond the association suite: what happens
 * while the source is down (moto stopped mid-run, then started again, empty), a read grant
 * that cannot be attached, and the switch that leaves resource policies alone.
 */

function associateRaw(t: TestServer, clusterArn: string, secretArnList: string[]) {
  return kafkaRequest(t.url, {
    method: 'POST',
    path: clusterPath(clusterArn, '/scram-secrets'),
    body: JSON.stringify({ secretArnList }),
  });
}

function disassociateRaw(t: TestServer, clusterArn: string, secretArnList: string[]) {
  return kafkaRequest(t.url, {
    method: 'PATCH',
    path: clusterPath(clusterArn, '/scram-secrets'),
    body: JSON.stringify({ secretArnList }),
  });
}

/** Every association row, of every cluster: what a partial write would change. */
function associationRows(t: TestServer) {
  return t.server.store.db
    .selectFrom('scram_associations')
    .selectAll()
    .orderBy('cluster_arn')
    .orderBy('secret_arn')
    .execute();
}

async function listed(t: TestServer, clusterArn: string): Promise<string[]> {
  const page = await t.kafka().send(new ListScramSecretsCommand({ ClusterArn: clusterArn }));
  return page.SecretArnList ?? [];
}

describe('an unreachable source', () => {
  let moto: MotoServer;
  let t: TestServer;

  before(async () => {
    moto = await startMoto();
    t = await startTestServer({ SCRAM_SECRETS_SECRET_SOURCES: moto.sourceSetting() });
  });

  after(async () => {
    await t?.stop();
    await moto?.stop();
  });

  async function mskSecrets(count: number): Promise<MskSecret[]> {
    const keyId = await createKey(moto.kms());
    const created: MskSecret[] = [];
    for (let index = 0; index < count; index += 1) {
      created.push(await createMskSecret(moto.secretsManager(), { kmsKeyId: keyId }));
    }
    return created;
  }

  test('is a 503 with Retry-After for the whole batch, and writes nothing', async () => {
    const clusterArn = await createScramCluster(t.kafka());
    const [first, second, third] = await mskSecrets(3);
    const before = await associateRaw(t, clusterArn, [first!.arn]);
    assert.equal(before.status, 200, before.text);
    assert.deepEqual(before.json.unprocessedScramSecrets, []);
    const stored = await associationRows(t);

    await moto.kill();
    // One secret refused by its ARN alone, two that need the source: still nothing is written.
    const batch = [second!.arn, third!.arn, 'arn:aws:secretsmanager:not-an-arn'];
    const during = await associateRaw(t, clusterArn, batch);
    assert.equal(during.status, 503, during.text);
    assert.equal(during.headers.get('x-amzn-errortype'), 'ServiceUnavailableException');
    assert.match(during.headers.get('retry-after') ?? '', /^\d+$/);
    assert.match(String(during.json.message), /can't reach the secret source.*retry/i);
    for (const secret of [first!, second!, third!]) {
      assert.equal(during.text.includes(secret.password), false);
    }
    assert.equal(await countAssociations(t, clusterArn), 1);
    assert.deepEqual(await listed(t, clusterArn), [first!.arn]);
    assert.deepEqual(await associationRows(t), stored);

    // Disassociation needs no source, so it still works, and listing too.
    const removed = await disassociateRaw(t, clusterArn, [first!.arn]);
    assert.equal(removed.status, 200, removed.text);
    assert.deepEqual(await listed(t, clusterArn), []);

    // moto comes back empty: the batch is retried with secrets made again, and lands whole.
    await moto.start();
    const again = await mskSecrets(2);
    const after = await associateRaw(
      t,
      clusterArn,
      again.map((secret) => secret.arn),
    );
    assert.equal(after.status, 200, after.text);
    assert.deepEqual(after.json.unprocessedScramSecrets, []);
    assert.deepEqual((await listed(t, clusterArn)).sort(), again.map((s) => s.arn).sort());
  });

  test('a secret under an asymmetric (RSA) key is InvalidKmsKey, and says so', async () => {
    const clusterArn = await createScramCluster(t.kafka());
    const created = await moto
      .kms()
      .send(new CreateKeyCommand({ KeySpec: 'RSA_2048', KeyUsage: 'ENCRYPT_DECRYPT' }));
    const rsaKey = created.KeyMetadata!.KeyId!;
    const secret = await createMskSecret(moto.secretsManager(), { kmsKeyId: rsaKey });
    const answer = await associateRaw(t, clusterArn, [secret.arn]);
    assert.equal(answer.status, 200, answer.text);
    const [refusal, ...rest] = answer.json.unprocessedScramSecrets as Array<Record<string, string>>;
    assert.deepEqual(rest, []);
    assert.equal(refusal?.secretArn, secret.arn);
    assert.equal(refusal?.errorCode, 'InvalidKmsKey');
    assert.match(refusal?.errorMessage ?? '', /not a symmetric encryption key.*symmetric customer/);
    assert.equal(await countAssociations(t, clusterArn), 0);
  });

  test('association attaches the cluster read grant with PutResourcePolicy', async () => {
    const clusterArn = await createScramCluster(t.kafka());
    const [secret] = await mskSecrets(1);
    const answer = await associateRaw(t, clusterArn, [secret!.arn]);
    assert.deepEqual(answer.json.unprocessedScramSecrets, []);
    const policy = await moto
      .secretsManager()
      .send(new GetResourcePolicyCommand({ SecretId: secret!.arn }));
    assert.match(policy.ResourcePolicy ?? '', /kafka\.amazonaws\.com/);
  });
});

describe('attachResourcePolicy false', () => {
  let moto: MotoServer;
  let t: TestServer;

  before(async () => {
    moto = await startMoto();
    t = await startTestServer({
      SCRAM_SECRETS_SECRET_SOURCES: moto.sourceSetting({ attachResourcePolicy: false }),
    });
  });

  after(async () => {
    await t?.stop();
    await moto?.stop();
  });

  test('associates without touching the secret resource policy', async () => {
    const clusterArn = await createScramCluster(t.kafka());
    const keyId = await createKey(moto.kms());
    const secret = await createMskSecret(moto.secretsManager(), { kmsKeyId: keyId });
    const answer = await associateRaw(t, clusterArn, [secret.arn]);
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(answer.json.unprocessedScramSecrets, []);
    const policy = await moto
      .secretsManager()
      .send(new GetResourcePolicyCommand({ SecretId: secret.arn }));
    assert.equal(policy.ResourcePolicy, undefined);
  });
});

describe('the read grant, attached after the commit', () => {
  let moto: MotoServer;
  let proxy: AwsProxy;
  let t: TestServer;

  before(async () => {
    moto = await startMoto();
    proxy = await startAwsProxy(moto.endpoint);
    t = await startTestServer({
      SCRAM_SECRETS_SECRET_SOURCES: moto.sourceSetting({ endpoint: proxy.endpoint }),
    });
  });

  after(async () => {
    await t?.stop();
    await proxy?.stop();
    await moto?.stop();
  });

  async function grants(secretArn: string): Promise<boolean> {
    const policy = await moto
      .secretsManager()
      .send(new GetResourcePolicyCommand({ SecretId: secretArn }));
    return /kafka\.amazonaws\.com/.test(policy.ResourcePolicy ?? '');
  }

  test('a denied PutResourcePolicy undoes that association alone and says why', async () => {
    const clusterArn = await createScramCluster(t.kafka());
    const keyId = await createKey(moto.kms());
    const denied = await createMskSecret(moto.secretsManager(), { kmsKeyId: keyId });
    const granted = await createMskSecret(moto.secretsManager(), { kmsKeyId: keyId });
    const pass = await associateRaw(t, clusterArn, [granted.arn]);
    assert.deepEqual(pass.json.unprocessedScramSecrets, []);

    proxy.fail('PutResourcePolicy', { status: 400, type: 'AccessDeniedException' });
    const answer = await associateRaw(t, clusterArn, [denied.arn]);
    proxy.heal();
    assert.equal(answer.status, 200, answer.text);
    const [refusal, ...rest] = answer.json.unprocessedScramSecrets as Array<Record<string, string>>;
    assert.deepEqual(rest, []);
    assert.equal(refusal?.secretArn, denied.arn);
    assert.equal(refusal?.errorCode, 'InvalidSecretArn');
    assert.match(refusal?.errorMessage ?? '', /PutResourcePolicy/);
    assert.deepEqual(await listed(t, clusterArn), [granted.arn]);
    assert.equal(await grants(denied.arn), false);

    const retried = await associateRaw(t, clusterArn, [denied.arn]);
    assert.deepEqual(retried.json.unprocessedScramSecrets, []);
    assert.equal(await grants(denied.arn), true);
  });

  test('a throttled PutResourcePolicy is retried past the SDK attempts', async () => {
    const clusterArn = await createScramCluster(t.kafka());
    const keyId = await createKey(moto.kms());
    const secret = await createMskSecret(moto.secretsManager(), { kmsKeyId: keyId });
    // The SDK's three attempts all throttled, then one more: only our own retry gets through.
    proxy.fail('PutResourcePolicy', { status: 400, type: 'ThrottlingException' }, 4);
    proxy.reset();
    const answer = await associateRaw(t, clusterArn, [secret.arn]);
    proxy.heal();
    assert.deepEqual(answer.json.unprocessedScramSecrets, [], answer.text);
    assert.equal(proxy.count('PutResourcePolicy'), 5);
    assert.deepEqual(await listed(t, clusterArn), [secret.arn]);
    assert.equal(await grants(secret.arn), true);
  });
});
