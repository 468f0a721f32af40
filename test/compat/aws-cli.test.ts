import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { KafkaClient } from '@aws-sdk/client-kafka';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

import { createMskSecret, createScramCluster, uniqueTag } from '../support/fixtures.js';

/**
 * The unmodified AWS CLI (v1, from PyPI) against the real `scram-secrets serve` process: the
 * README's worked example, run verbatim, and the errors a CLI user sees.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const REGION = 'us-east-1';

/** The AWS CLI's names for the services the CLI calls here, and their endpoint variables. */
const ENDPOINT_VARIABLES: Record<string, string> = {
  kafka: 'AWS_ENDPOINT_URL_KAFKA',
  kms: 'AWS_ENDPOINT_URL_KMS',
  secretsmanager: 'AWS_ENDPOINT_URL_SECRETS_MANAGER',
};

interface Example {
  credentials: { accessKeyId: string; secretAccessKey: string; accountId: string };
  script: string;
  expectedOutput: string;
}

interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

let example: Example;
let workDir: string;
let service: RunningService;
let strayRequests: StrayRequestTrap;
let cliEnvironment: NodeJS.ProcessEnv;

before(async () => {
  requireAwsCli();
  example = readReadmeExample();
  workDir = mkdtempSync(join(tmpdir(), 'scram-secrets-aws-cli-'));
  const { accessKeyId, secretAccessKey, accountId } = example.credentials;
  service = await startService({
    SCRAM_SECRETS_DATA_DIR: join(workDir, 'data'),
    SCRAM_SECRETS_CREDENTIALS: `${accessKeyId}:${secretAccessKey}:${accountId}`,
    // The CLI signs differently from the JavaScript SDK (no x-amz-content-sha256 header, for
    // one); a deployment verifies signatures, so the CLI must pass that check.
    SCRAM_SECRETS_VERIFY_SIGNATURES: 'true',
  });
  strayRequests = await startStrayRequestTrap();
  cliEnvironment = awsCliEnvironment(service.url, strayRequests.url, workDir);
});

after(async () => {
  await service?.stop();
  await strayRequests?.close();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

test('the README example runs verbatim and prints what the README shows', async () => {
  const scriptFile = join(workDir, 'readme-example.sh');
  writeFileSync(scriptFile, example.script);

  const result = await run('bash', ['-euo', 'pipefail', scriptFile], cliEnvironment);

  assert.equal(result.status, 0, `the example failed:\n${result.stderr}`);
  assert.equal(withoutRandomParts(result.stdout), withoutRandomParts(example.expectedOutput));
  assert.deepEqual(strayRequests.seen, [], 'the CLI sent requests elsewhere than the service');
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
    assert.deepEqual(strayRequests.seen, [], 'the CLI sent requests elsewhere than the service');
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
      'kafka', 'batch-associate-scram-secret', '--cluster-arn', clusterArn,
      '--secret-arn-list', defaultKeySecretArn, missingSecretArn, '--output', 'json',
    ]);
    const listed = await aws([
      'kafka', 'list-scram-secrets', '--cluster-arn', clusterArn, '--output', 'json',
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
      'secretsmanager', 'get-secret-value', '--secret-id', `AmazonMSK_missing-${uniqueTag()}`,
    ]);

    assertCliError(result, 'ResourceNotFoundException', 'GetSecretValue', /\S/);
  });
});

function aws(args: string[], overrides: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const { accessKeyId, secretAccessKey } = example.credentials;
  return run('aws', args, {
    ...cliEnvironment,
    AWS_ACCESS_KEY_ID: accessKeyId,
    AWS_SECRET_ACCESS_KEY: secretAccessKey,
    AWS_DEFAULT_REGION: REGION,
    ...overrides,
  });
}

function assertCliError(
  result: CliResult,
  errorType: string,
  operation: string,
  message: RegExp,
): void {
  assert.notEqual(result.status, 0, `expected a failure, got:\n${result.stdout}`);
  assert.equal(result.stdout, '');
  const prefix = `An error occurred (${errorType}) when calling the ${operation} operation: `;
  const line = result.stderr.split('\n').find((candidate) => candidate.startsWith(prefix));
  assert.ok(line, `stderr does not name ${errorType}:\n${result.stderr}`);
  assert.match(line.slice(prefix.length), message);
}

/** Fails, rather than skips, without a CLI recent enough to honour AWS_ENDPOINT_URL_<SERVICE>. */
function requireAwsCli(): void {
  const probe = spawnSync('aws', ['--version'], { encoding: 'utf8' });
  if (probe.error) {
    throw new Error(
      'The AWS CLI (`aws`) is not on PATH; these tests need it. Install it with ' +
        '`python3 -m pip install awscli` (.ci/run does), then run `pyenv rehash` under pyenv.',
    );
  }
  const version = /aws-cli\/(\d+)\.(\d+)\./.exec(`${probe.stdout}${probe.stderr}`);
  const [major, minor] = version ? [Number(version[1]), Number(version[2])] : [0, 0];
  // Older releases ignore the endpoint variables and would send the calls to AWS itself.
  const recentEnough = (major === 1 && minor >= 29) || (major === 2 && minor >= 13) || major > 2;
  if (!recentEnough) {
    throw new Error(
      `The AWS CLI is too old (${probe.stdout.trim()}): these tests need 1.29 or later ` +
        '(`python3 -m pip install --upgrade awscli`).',
    );
  }
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

/** The CLI's environment: only the test's settings, none of the user's AWS configuration. */
function awsCliEnvironment(serviceUrl: string, trapUrl: string, home: string): NodeJS.ProcessEnv {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^(AWS_|HTTPS?_PROXY|NO_PROXY)/i.test(name)),
  );
  const endpoints = Object.fromEntries(
    Object.values(ENDPOINT_VARIABLES).map((variable) => [variable, serviceUrl]),
  );
  return {
    ...inherited,
    ...endpoints,
    AWS_CONFIG_FILE: join(home, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-aws-credentials'),
    AWS_MAX_ATTEMPTS: '1',
    AWS_PAGER: '',
    // Anything not bound for the service goes to a trap that refuses it and records it.
    HTTP_PROXY: trapUrl,
    HTTPS_PROXY: trapUrl,
    NO_PROXY: '127.0.0.1',
  };
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, cwd: workDir });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** ARN suffixes and ids differ from run to run; everything else must match the README. */
function withoutRandomParts(output: string): string {
  return output
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(-\d+)?/g, '<uuid>')
    .replace(/(:secret:[\w/+=.@-]+)-[A-Za-z0-9]{6}\b/g, '$1-<suffix>')
    .trim();
}

interface RunningService {
  url: string;
  stop(): Promise<void>;
}

/** `scram-secrets serve` as a user starts it, on a free loopback port. */
function startService(settings: Record<string, string>): Promise<RunningService> {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [MAIN, 'serve'], {
    env: {
      ...process.env,
      SCRAM_SECRETS_HOST: '127.0.0.1',
      SCRAM_SECRETS_PORT: '0',
      SCRAM_SECRETS_LOG_LEVEL: 'info',
      SCRAM_SECRETS_CORS_ORIGINS: '*',
      ...settings,
    },
  });
  let output = '';
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`scram-secrets serve did not start within 15 s:\n${output}`));
    }, 15_000);
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const url = startedUrl(output);
      if (url === undefined) return;
      clearTimeout(timer);
      resolve({ url, stop });
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`scram-secrets serve exited with ${code}:\n${output}`));
    });
  });
}

/** The URL from the `server.started` log event, once it has been written. */
function startedUrl(output: string): string | undefined {
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const event = JSON.parse(line) as { event?: string; url?: string };
      if (event.event === 'server.started' && event.url) return event.url;
    } catch {
      // A line still being written; the next chunk completes it.
    }
  }
  return undefined;
}

interface StrayRequestTrap {
  url: string;
  seen: string[];
  close(): Promise<void>;
}

/** A loopback proxy that refuses every request and keeps its target. */
async function startStrayRequestTrap(): Promise<StrayRequestTrap> {
  const seen: string[] = [];
  const server: Server = createServer((request, response) => {
    seen.push(`${request.method} ${request.url}`);
    response.writeHead(502).end();
  });
  server.on('connect', (request, socket) => {
    seen.push(`CONNECT ${request.url}`);
    socket.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
