import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, test } from 'node:test';

import { DescribeClusterCommand, ListScramSecretsCommand } from '@aws-sdk/client-kafka';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { DescribeSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';

import {
  ACCESS_KEY_ID,
  ACCOUNT_ID,
  REGION,
  SECRET_ACCESS_KEY,
  startTestServer,
  type TestServer,
} from '../support/server.js';

/**
 * Terraform's AWS provider, unmodified, drives the service through a whole life: create a
 * key with an alias, three secrets (under the key id, the key ARN and the alias), a secret
 * policy, a SCRAM cluster, the association and a single association; plan again and find
 * nothing to change; swap an associated secret; destroy it all. Terraform and the provider cannot be
 * installed from the registries this project uses, so the test runs where they already are:
 * `terraform` on PATH and the provider in a filesystem mirror (SCRAM_SECRETS_TERRAFORM_PLUGINS,
 * by default /opt/tf-plugins). Elsewhere it is skipped, saying why.
 */
const PLUGINS = process.env.SCRAM_SECRETS_TERRAFORM_PLUGINS ?? '/opt/tf-plugins';
const PROVIDER_DIR = join(PLUGINS, 'registry.terraform.io', 'hashicorp', 'aws');
const TERRAFORM_LIMIT_MS = 180_000;

const terraform = (process.env.PATH ?? '')
  .split(delimiter)
  .map((dir) => join(dir, 'terraform'))
  .find((path) => existsSync(path));
const providerVersion = existsSync(PROVIDER_DIR)
  ? readdirSync(PROVIDER_DIR).find((version) => /^\d+\.\d+\.\d+$/.test(version))
  : undefined;
const missing =
  terraform === undefined
    ? 'terraform is not on PATH'
    : providerVersion === undefined
      ? `no hashicorp/aws provider in ${PROVIDER_DIR}`
      : undefined;

let server: TestServer;
let workDir: string;

before(async () => {
  if (missing) return;
  server = await startTestServer();
  workDir = mkdtempSync(join(tmpdir(), 'scram-secrets-terraform-'));
  writeFileSync(
    join(workDir, 'cli.tfrc'),
    `provider_installation {
  filesystem_mirror {
    path    = "${PLUGINS}"
    include = ["registry.terraform.io/hashicorp/aws"]
  }
}
`,
  );
});

after(async () => {
  if (missing) return;
  await server.stop();
  rmSync(workDir, { recursive: true, force: true });
});

/** The configuration: the resources the MSK documentation's SCRAM example makes. */
function configuration(associated: Array<'alice' | 'bob'>, keyDescription = 'first'): string {
  const secret = (name: string, keyReference: string) => `
resource "aws_secretsmanager_secret" "${name}" {
  name                    = "AmazonMSK_${name}"
  kms_key_id              = aws_kms_key.msk.${keyReference}
  recovery_window_in_days = 0
}
resource "aws_secretsmanager_secret_version" "${name}" {
  secret_id     = aws_secretsmanager_secret.${name}.id
  secret_string = jsonencode({ username = "${name}", password = "${name}-password" })
}
`;
  return `
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "${providerVersion}" }
  }
}
provider "aws" {
  region                      = "${REGION}"
  access_key                  = "${ACCESS_KEY_ID}"
  secret_key                  = "${SECRET_ACCESS_KEY}"
  skip_metadata_api_check     = true
  endpoints {
    kafka          = "${server.url}"
    kms            = "${server.url}"
    secretsmanager = "${server.url}"
    sts            = "${server.url}"
  }
}
data "aws_caller_identity" "current" {}
resource "aws_kms_key" "msk" {
  description         = "${keyDescription}"
  enable_key_rotation = true
  tags                = { team = "orders", stage = "${keyDescription === 'first' ? 'one' : 'two'}" }
  policy = jsonencode({
    Version = "2012-10-17"
    Id      = "orders-key"
    Statement = [{
      Sid       = "Enable IAM User Permissions"
      Effect    = "Allow"
      Principal = { AWS = "*" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
}
resource "aws_kms_alias" "msk" {
  name          = "alias/orders-scram"
  target_key_id = aws_kms_key.msk.key_id
}
${secret('alice', 'key_id')}
${secret('bob', 'arn')}
resource "aws_secretsmanager_secret" "carol" {
  name                    = "AmazonMSK_carol"
  kms_key_id              = aws_kms_alias.msk.name
  recovery_window_in_days = 0
  tags                    = { team = "orders" }
}
resource "aws_secretsmanager_secret_version" "carol" {
  secret_id     = aws_secretsmanager_secret.carol.id
  secret_string = jsonencode({ username = "carol", password = "carol-password" })
}
# The read grant MSK attaches, kept in Terraform's state so that it plans clean.
resource "aws_secretsmanager_secret_policy" "alice" {
  secret_arn = aws_secretsmanager_secret.alice.arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AWSKafkaResourcePolicy"
      Effect    = "Allow"
      Principal = { Service = "kafka.amazonaws.com" }
      Action    = "secretsmanager:getSecretValue"
      Resource  = aws_secretsmanager_secret.alice.arn
    }]
  })
}
resource "aws_msk_cluster" "orders" {
  cluster_name           = "orders"
  kafka_version          = "3.6.0"
  number_of_broker_nodes = 3
  broker_node_group_info {
    instance_type   = "kafka.m5.large"
    client_subnets  = ["subnet-1", "subnet-2", "subnet-3"]
    security_groups = ["sg-1"]
  }
  client_authentication {
    sasl {
      scram = true
      iam   = ${keyDescription === 'first' ? 'false' : 'true'}
    }
  }
  tags = { team = "orders" }
}
# The exclusive association lists carol too, as the provider asks of one that sits beside
# single associations.
resource "aws_msk_scram_secret_association" "orders" {
  cluster_arn     = aws_msk_cluster.orders.arn
  secret_arn_list = [${[...associated, 'carol'].map((name) => `aws_secretsmanager_secret.${name}.arn`).join(', ')}]
  depends_on = [
    aws_secretsmanager_secret_version.alice,
    aws_secretsmanager_secret_version.bob,
    aws_secretsmanager_secret_version.carol,
  ]
}
resource "aws_msk_single_scram_secret_association" "carol" {
  cluster_arn = aws_msk_cluster.orders.arn
  secret_arn  = aws_secretsmanager_secret.carol.arn
  depends_on  = [aws_secretsmanager_secret_version.carol]
}
output "account_id" { value = data.aws_caller_identity.current.account_id }
output "caller_arn" { value = data.aws_caller_identity.current.arn }
output "cluster_arn" { value = aws_msk_cluster.orders.arn }
output "key_arn" { value = aws_kms_key.msk.arn }
output "alice_arn" { value = aws_secretsmanager_secret.alice.arn }
output "bob_arn" { value = aws_secretsmanager_secret.bob.arn }
output "carol_arn" { value = aws_secretsmanager_secret.carol.arn }
`;
}

interface Run {
  status: number | null;
  output: string;
}

/** Runs terraform in the work dir, offline: no version check, no other registry. */
function run(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(terraform!, args, {
      cwd: workDir,
      env: {
        PATH: process.env.PATH,
        HOME: workDir,
        TF_CLI_CONFIG_FILE: join(workDir, 'cli.tfrc'),
        TF_IN_AUTOMATION: '1',
        CHECKPOINT_DISABLE: '1',
        AWS_EC2_METADATA_DISABLED: 'true',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), TERRAFORM_LIMIT_MS);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, output });
    });
  });
}

async function succeed(...args: string[]): Promise<string> {
  // `output` takes neither flag.
  const flags = args[0] === 'output' ? [] : ['-no-color', '-input=false'];
  const result = await run(...args, ...flags);
  assert.equal(result.status, 0, `terraform ${args.join(' ')}:\n${result.output}`);
  return result.output;
}

/** `plan -detailed-exitcode` exits 0 only when the real state matches the configuration. */
async function requireNoChanges(): Promise<void> {
  const result = await run('plan', '-detailed-exitcode', '-no-color', '-input=false');
  assert.equal(result.status, 0, `a plan after apply wants changes:\n${result.output}`);
}

async function outputs(): Promise<Record<string, string>> {
  const printed = JSON.parse(await succeed('output', '-json')) as Record<string, { value: string }>;
  return Object.fromEntries(Object.entries(printed).map(([name, { value }]) => [name, value]));
}

async function associated(clusterArn: string): Promise<string[]> {
  const page = await server.kafka().send(new ListScramSecretsCommand({ ClusterArn: clusterArn }));
  return page.SecretArnList ?? [];
}

test(
  'Terraform creates, reads without drift, changes and destroys a SCRAM association',
  { skip: missing ? `${missing}: Terraform's AWS provider is not available here` : false },
  async () => {
    writeFileSync(join(workDir, 'main.tf'), configuration(['alice']));
    await succeed('init');
    await succeed('apply', '-auto-approve');
    const created = await outputs();
    // The provider asked STS who its keys belong to, as it does unless told not to.
    assert.equal(created.account_id, ACCOUNT_ID);
    assert.equal(created.caller_arn, `arn:aws:iam::${ACCOUNT_ID}:user/${ACCESS_KEY_ID}`);
    assert.deepEqual(await associated(created.cluster_arn!), [
      created.alice_arn,
      created.carol_arn,
    ]);
    const key = await server.kms().send(new DescribeKeyCommand({ KeyId: created.key_arn }));
    assert.equal(key.KeyMetadata?.KeyState, 'Enabled');
    const value = await server
      .secretsManager()
      .send(new GetSecretValueCommand({ SecretId: created.alice_arn }));
    assert.deepEqual(JSON.parse(value.SecretString!), {
      username: 'alice',
      password: 'alice-password',
    });
    await requireNoChanges();

    // The provider adds bob and removes alice in one apply.
    // The key's description and tags change in place too, and the cluster's authentication
    // (UpdateSecurity, whose operation the provider follows).
    writeFileSync(join(workDir, 'main.tf'), configuration(['bob'], 'second'));
    await succeed('apply', '-auto-approve');
    assert.deepEqual(await associated(created.cluster_arn!), [created.bob_arn, created.carol_arn]);
    const renamed = await server.kms().send(new DescribeKeyCommand({ KeyId: created.key_arn }));
    assert.equal(renamed.KeyMetadata?.Description, 'second');
    const cluster = await server
      .kafka()
      .send(new DescribeClusterCommand({ ClusterArn: created.cluster_arn }));
    assert.equal(cluster.ClusterInfo?.ClientAuthentication?.Sasl?.Iam?.Enabled, true);
    assert.equal(cluster.ClusterInfo?.ClientAuthentication?.Sasl?.Scram?.Enabled, true);
    await requireNoChanges();

    await succeed('destroy', '-auto-approve');
    await assert.rejects(
      server.kafka().send(new DescribeClusterCommand({ ClusterArn: created.cluster_arn })),
      { name: 'NotFoundException' },
    );
    for (const secretArn of [created.alice_arn, created.bob_arn, created.carol_arn]) {
      await assert.rejects(
        server.secretsManager().send(new DescribeSecretCommand({ SecretId: secretArn })),
        { name: 'ResourceNotFoundException' },
      );
    }
    const deleted = await server.kms().send(new DescribeKeyCommand({ KeyId: created.key_arn }));
    assert.equal(deleted.KeyMetadata?.KeyState, 'PendingDeletion');
  },
);
