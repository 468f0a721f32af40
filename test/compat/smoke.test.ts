import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  BatchAssociateScramSecretCommand,
  CreateClusterV2Command,
  ListScramSecretsCommand,
} from '@aws-sdk/client-kafka';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';

import { startTestServer, type TestServer } from '../support/server.js';

let t: TestServer;
before(async () => {
  t = await startTestServer();
});
after(async () => t.stop());

test('smoke: associate one secret, refuse one that does not exist, list', async () => {
  const key = await t.kms().send(new CreateKeyCommand({}));
  const secret = await t.secretsManager().send(
    new CreateSecretCommand({
      Name: 'AmazonMSK_alice',
      KmsKeyId: key.KeyMetadata!.KeyId,
      SecretString: JSON.stringify({ username: 'alice', password: 'pw' }),
    }),
  );
  const cluster = await t.kafka().send(
    new CreateClusterV2Command({
      ClusterName: 'demo',
      Provisioned: {
        KafkaVersion: '3.6.0',
        NumberOfBrokerNodes: 3,
        BrokerNodeGroupInfo: { ClientSubnets: ['subnet-1'], InstanceType: 'kafka.m5.large' },
        ClientAuthentication: { Sasl: { Scram: { Enabled: true } } },
      },
    }),
  );
  const result = await t.kafka().send(
    new BatchAssociateScramSecretCommand({
      ClusterArn: cluster.ClusterArn,
      SecretArnList: [
        secret.ARN!,
        'arn:aws:secretsmanager:us-east-1:111122223333:secret:nope-abcdef',
      ],
    }),
  );
  assert.deepEqual(
    (result.UnprocessedScramSecrets ?? []).map((refusal) => refusal.ErrorCode),
    ['InvalidSecretArn'],
    'the secret that does not exist is refused, and only it',
  );
  const listed = await t
    .kafka()
    .send(new ListScramSecretsCommand({ ClusterArn: cluster.ClusterArn }));
  assert.deepEqual(listed.SecretArnList, [secret.ARN]);
});
