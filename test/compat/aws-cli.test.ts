import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { KafkaClient } from '@aws-sdk/client-kafka';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

import { assertCliError, awsCli, ENDPOINT_VARIABLES, type AwsCli } from '../support/aws-cli.js';
import { createMskSecret, createScramCluster, uniqueTag } from '../support/fixtures.js';
import { startServe, type ServeProcess } from '../support/serve.js';
import { REGION } from '../support/server.js';

/**
 * The unmodified AWS CLI (v1, from PyPI) against the real `scram-secrets serve` process: the
 * README's worked example, run verbatim, and the errors a CLI user sees.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

interface Example {
  credentials: { accessKeyId: string; secretAccessKey: string; accountId: string };
  script: string;
  expectedOutput: string;
}

let example: Example;
let workDir: string;
let service: ServeProcess;
let cli: AwsCli;

before(async () => {
  example = readReadmeExample();
  workDir = mkdtempSync(join(tmpdir(), 'scram-secrets-aws-cli-'));
  const { accessKeyId, secretAccessKey, accountId } = example.credentials;
  service = await startServe({
    env: {
      SCRAM_SECRETS_DATA_DIR: join(workDir, 'data'),
      SCRAM_SECRETS_CREDENTIALS: `${accessKeyId}:${secretAccessKey}:${accountId}`,
      SCRAM_SECRETS_LOG_LEVEL: 'info',
      SCRAM_SECRETS_CORS_ORIGINS: '*',
      // The CLI signs differently from the JavaScript SDK (no x-amz-content-sha256 header, for
      // one); a deployment verifies signatures, so the CLI must pass that check.
      SCRAM_SECRETS_VERIFY_SIGNATURES: 'true',
    },
  });
  cli = await awsCli(service.url);
});

after(async () => {
  await service?.stop();
  await cli?.close();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

test('the README example runs verbatim and prints what the README shows', async () => {
  const scriptFile = join(workDir, 'readme-example.sh');
  writeFileSync(scriptFile, example.script);

  const script = ['-euo', 'pipefail', scriptFile];
  const result = await cli.exec('bash', script, example.credentials, workDir);

  assert.equal(result.status, 0, `the example failed:\n${result.stderr}`);
  assert.equal(withoutRandomParts(result.stdout), withoutRandomParts(example.expectedOutput));
  assert.deepEqual(cli.strayRequests, [], 'the CLI sent requests elsewhere than the service');
});

describe('errors as the AWS CLI shows them', () => {
  let clusterArn: string;
  let defaultKeySecretArn: string;

  before(async () => {
    const { accessKeyId, secretAccessKey } = example.credentials;
    const clientConfig = {
      endpoint: service.url,
      region: REGION,
      credentials: { accessKeyId, secretAccessKey },
      maxAttempts: 1,
    };
    clusterArn = await createScramCluster(new KafkaClient(clientConfig));
    // Left without a KMS key id, Secrets Manager encrypts with aws/secretsmanager, which MSK
    // refuses.
    defaultKeySecretArn = (await createMskSecret(new SecretsManagerClient(clientConfig))).arn;
  });

  after(() => {
    assert.deepEqual(cli.strayRequests, [], 'the CLI sent requests elsewhere than the service');
  });

  test('invalid input is a BadRequestException, with its message, and a failing exit', async () => {
    const [malformedArn, tooManyResults] = await Promise.all([
      aws(['kafka', 'list-scram-secrets', '--cluster-arn', 'not-a-cluster-arn']),
      aws(['kafka', 'list-scram-secrets', '--cluster-arn', clusterArn, '--max-results', '101']),
    ]);

    assertCliError(malformedArn, 'BadRequestException', 'ListScramSecrets', /not a valid cluster/);
    assertCliError(tooManyResults, 'BadRequestException', 'ListScramSecrets', /maxResults/);
  });

  test('an unknown access key or a wrong secret key is an UnauthorizedException', async () => {
    const [unknownKey, wrongSecret] = await Promise.all([
      aws(['kafka', 'list-scram-secrets', '--cluster-arn', clusterArn], {
        AWS_ACCESS_KEY_ID: 'AKIAUNKNOWNKEY000001',
      }),
      aws(['kafka', 'list-scram-secrets', '--cluster-arn', clusterArn], {
        AWS_SECRET_ACCESS_KEY: `${example.credentials.secretAccessKey}-but-wrong`,
      }),
    ]);

    assertCliError(unknownKey, 'UnauthorizedException', 'ListScramSecrets', /\S/);
    assertCliError(wrongSecret, 'UnauthorizedException', 'ListScramSecrets', /signature/i);
  });

  test('an unknown cluster is a NotFoundException', async () => {
    const unknownCluster = clusterArn.replace(/cluster\/[^/]+\//, `cluster/gone-${uniqueTag()}/`);

    const result = await aws(['kafka', 'list-scram-secrets', '--cluster-arn', unknownCluster]);

    assertCliError(result, 'NotFoundException', 'ListScramSecrets', /does not exist/);
  });

  test('a refused secret comes back in UnprocessedScramSecrets and the call succeeds', async () => {
    const missingSecretArn =
      `arn:aws:secretsmanager:${REGION}:${example.credentials.accountId}:secret:` +
      'AmazonMSK_nobody-abcdef';

    const associated = await aws([
      'kafka',
      'batch-associate-scram-secret',
      '--cluster-arn',
      clusterArn,
      '--secret-arn-list',
      defaultKeySecretArn,
      missingSecretArn,
      '--output',
      'json',
    ]);
    const listed = await aws([
      'kafka',
      'list-scram-secrets',
      '--cluster-arn',
      clusterArn,
      '--output',
      'json',
    ]);

    assert.equal(associated.status, 0, associated.stderr);
    const output = JSON.parse(associated.stdout) as {
      ClusterArn: string;
      UnprocessedScramSecrets: { SecretArn: string; ErrorCode: string; ErrorMessage: string }[];
    };
    assert.equal(output.ClusterArn, clusterArn);
    const byArn = new Map(output.UnprocessedScramSecrets.map((entry) => [entry.SecretArn, entry]));
    assert.equal(byArn.size, 2);
    assert.equal(byArn.get(defaultKeySecretArn)?.ErrorCode, 'InvalidKmsKey');
    assert.equal(byArn.get(missingSecretArn)?.ErrorCode, 'InvalidSecretArn');
    for (const entry of byArn.values()) assert.ok(entry.ErrorMessage.length > 0);
    assert.equal(listed.status, 0, listed.stderr);
    assert.deepEqual(JSON.parse(listed.stdout), { SecretArnList: [] });
  });

  test('Secrets Manager errors carry their JSON 1.1 type', async () => {
    const result = await aws([
      'secretsmanager',
      'get-secret-value',
      '--secret-id',
      `AmazonMSK_missing-${uniqueTag()}`,
    ]);

    assertCliError(result, 'ResourceNotFoundException', 'GetSecretValue', /\S/);
  });
});

function aws(args: string[], overrides: NodeJS.ProcessEnv = {}) {
  return cli.run(args, example.credentials, overrides);
}

/**
 * The README's worked example: the key pair it starts the service with, the shell block it
 * runs in a second terminal, and the output it shows.
 */
function readReadmeExample(): Example {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = /<!-- example:start -->([\s\S]*?)<!-- example:end -->/.exec(readme)?.[1];
  assert.ok(section, 'README.md has no <!-- example:start --> ... <!-- example:end --> section');
  const blocks = [...section.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map(([, language, body]) => ({
    language,
    body: body!,
  }));
  const start = blocks.find((block) => block.language === 'sh' && block.body.includes('npm start'));
  const script = blocks.find((block) => block.language === 'sh' && block.body.includes('aws '));
  const output = blocks.find((block) => block.language === 'text');
  assert.ok(start && script && output, 'the example needs its start, script and output blocks');

  const credentials = /SCRAM_SECRETS_CREDENTIALS=([^:\s]+):([^:\s]+):(\d{12})/.exec(start.body);
  assert.ok(credentials, 'the start command names no SCRAM_SECRETS_CREDENTIALS');
  assertEndpointsCovered(script.body);
  return {
    credentials: {
      accessKeyId: credentials[1]!,
      secretAccessKey: credentials[2]!,
      accountId: credentials[3]!,
    },
    script: script.body,
    expectedOutput: output.body,
  };
}

/**
 * The script exports the endpoint a user's service listens on (port 4566); the test's
 * service listens elsewhere, so each service the script calls must have a service-specific
 * endpoint variable here, which the CLI ranks above AWS_ENDPOINT_URL.
 */
function assertEndpointsCovered(script: string): void {
  const endpoint = /AWS_ENDPOINT_URL=(\S+)/.exec(script)?.[1];
  assert.ok(endpoint, 'the example script does not export AWS_ENDPOINT_URL');
  assert.equal(new URL(endpoint).hostname, '127.0.0.1');
  for (const [, name] of script.matchAll(/\baws\s+([a-z0-9-]+)/g)) {
    assert.ok(name! in ENDPOINT_VARIABLES, `the example calls aws ${name}, not mapped here`);
  }
}

/** ARN suffixes and ids differ from run to run; everything else must match the README. */
function withoutRandomParts(output: string): string {
  return output
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(-\d+)?/g, '<uuid>')
    .replace(/(:secret:[\w/+=.@-]+)-[A-Za-z0-9]{6}\b/g, '$1-<suffix>')
    .trim();
}
