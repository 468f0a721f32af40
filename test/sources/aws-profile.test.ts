import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { BatchAssociateScramSecretCommand, type KafkaClient } from '@aws-sdk/client-kafka';

import { startAwsProxy, type AwsProxy } from '../support/aws-proxy.js';
import { createKey, createMskSecret, createScramCluster } from '../support/fixtures.js';
import { MOTO_ACCESS_KEY_ID, startMoto, type MotoServer } from '../support/moto.js';
import {
  ACCOUNT_ID,
  OTHER_ACCESS_KEY_ID,
  OTHER_ACCOUNT_ID,
  OTHER_SECRET_ACCESS_KEY,
  REGION,
  startTestServer,
  type TestServer,
} from '../support/server.js';

/**
 * Each `aws` source signs with its own credentials: a `profile` names one of the shared
 * config and credentials files (here temporary ones, one profile in each), and a source
 * without one uses the default chain (the environment's keys). A recording proxy in front of
 * moto reads the access key id of every call's signature; moto itself accepts any key.
 */
const FIRST_ACCESS_KEY_ID = 'AKIAPROFILEFIRST0001';
const SECOND_ACCESS_KEY_ID = 'AKIAPROFILESECOND001';
const DEFAULT_CHAIN_REGION = 'eu-west-1';

let moto: MotoServer;
let proxy: AwsProxy;
let t: TestServer;
let awsDir: string;

before(async () => {
  moto = await startMoto();
  proxy = await startAwsProxy(moto.endpoint);
  awsDir = mkdtempSync(join(tmpdir(), 'scram-secrets-aws-profiles-'));
  const credentialsFile = join(awsDir, 'credentials');
  const configFile = join(awsDir, 'config');
  writeFileSync(
    credentialsFile,
    `[first]\naws_access_key_id = ${FIRST_ACCESS_KEY_ID}\n` +
      'aws_secret_access_key = first-profile-secret-access-key\n',
  );
  writeFileSync(
    configFile,
    `[profile second]\naws_access_key_id = ${SECOND_ACCESS_KEY_ID}\n` +
      'aws_secret_access_key = second-profile-secret-access-key\n',
  );
  process.env.AWS_SHARED_CREDENTIALS_FILE = credentialsFile;
  process.env.AWS_CONFIG_FILE = configFile;
  const source = { type: 'aws', endpoint: proxy.endpoint };
  t = await startTestServer({
    SCRAM_SECRETS_SECRET_SOURCES: JSON.stringify([
      { ...source, accountId: ACCOUNT_ID, region: REGION, profile: 'first' },
      { ...source, accountId: OTHER_ACCOUNT_ID, region: REGION, profile: 'second' },
      { ...source, accountId: ACCOUNT_ID, region: DEFAULT_CHAIN_REGION },
    ]),
  });
});

after(async () => {
  await t?.stop();
  await proxy?.stop();
  await moto?.stop();
  if (awsDir) rmSync(awsDir, { recursive: true, force: true });
});

async function associate(kafka: KafkaClient, clusterArn: string, secretArn: string) {
  const answer = await kafka.send(
    new BatchAssociateScramSecretCommand({ ClusterArn: clusterArn, SecretArnList: [secretArn] }),
  );
  return answer.UnprocessedScramSecrets ?? [];
}

/** The access key ids the calls since the last reset were signed with. */
function signers(): string[] {
  return [...new Set(proxy.calls().map((call) => call.accessKeyId ?? 'unsigned'))].sort();
}

test("a source with a profile signs every call with that profile's keys", async () => {
  const clusterArn = await createScramCluster(t.kafka());
  const keyId = await createKey(moto.kms());
  const secret = await createMskSecret(moto.secretsManager(), { kmsKeyId: keyId });
  proxy.reset();
  assert.deepEqual(await associate(t.kafka(), clusterArn, secret.arn), []);
  assert.equal(proxy.count('PutResourcePolicy'), 1, 'the grant is signed the same way');
  assert.deepEqual(signers(), [FIRST_ACCESS_KEY_ID]);
});

test('two accounts sign as themselves, and a source without a profile uses the chain', async () => {
  const other = t.kafka({
    accessKeyId: OTHER_ACCESS_KEY_ID,
    secretAccessKey: OTHER_SECRET_ACCESS_KEY,
  });
  const otherCluster = await createScramCluster(other);
  // moto keeps this account's secrets only: the other account's is refused as not found,
  // after a DescribeSecret that shows whose keys signed it.
  const otherSecret = `arn:aws:secretsmanager:${REGION}:${OTHER_ACCOUNT_ID}:secret:AmazonMSK_o-AbCdEf`;
  proxy.reset();
  const [refused] = await associate(other, otherCluster, otherSecret);
  assert.equal(refused?.ErrorCode, 'InvalidSecretArn');
  assert.equal(proxy.count('DescribeSecret'), 1);
  assert.deepEqual(signers(), [SECOND_ACCESS_KEY_ID]);

  const elsewhere = t.kafka({ region: DEFAULT_CHAIN_REGION });
  const chainCluster = await createScramCluster(elsewhere);
  const chainSecret = `arn:aws:secretsmanager:${DEFAULT_CHAIN_REGION}:${ACCOUNT_ID}:secret:AmazonMSK_c-AbCdEf`;
  proxy.reset();
  await associate(elsewhere, chainCluster, chainSecret);
  assert.equal(proxy.count('DescribeSecret'), 1);
  assert.deepEqual(signers(), [MOTO_ACCESS_KEY_ID]);
});
