import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { REGION } from './server.js';

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface Caller {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface AwsCli {
  /** Runs `aws …` as the given caller against the service; `overrides` change its environment. */
  run(args: string[], caller: Caller, overrides?: NodeJS.ProcessEnv): Promise<CliResult>;
  /** Runs another command, such as a shell script that calls `aws`, in the same environment. */
  exec(command: string, args: string[], caller: Caller, cwd?: string): Promise<CliResult>;
  /** Requests the CLI sent anywhere but the service (there must be none). */
  strayRequests: string[];
  close(): Promise<void>;
}

/** The AWS CLI's names for the services it calls here, and their endpoint variables. */
export const ENDPOINT_VARIABLES: Record<string, string> = {
  kafka: 'AWS_ENDPOINT_URL_KAFKA',
  kms: 'AWS_ENDPOINT_URL_KMS',
  secretsmanager: 'AWS_ENDPOINT_URL_SECRETS_MANAGER',
  sts: 'AWS_ENDPOINT_URL_STS',
};

/**
 * The unmodified AWS CLI pointed at a test server, with none of the user's AWS settings.
 * Anything not bound for the service goes to a loopback proxy that refuses and records it,
 * so that a misconfigured run can never reach AWS itself.
 */
export async function awsCli(serviceUrl: string): Promise<AwsCli> {
  requireAwsCli();
  const home = mkdtempSync(join(tmpdir(), 'scram-secrets-cli-home-'));
  const strayRequests: string[] = [];
  const trap = createServer((request, response) => {
    strayRequests.push(`${request.method} ${request.url}`);
    response.writeHead(502).end();
  });
  trap.on('connect', (request, socket) => {
    strayRequests.push(`CONNECT ${request.url}`);
    socket.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
  });
  await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', resolve));
  const trapUrl = `http://127.0.0.1:${(trap.address() as AddressInfo).port}`;
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^(AWS_|HTTPS?_PROXY|NO_PROXY)/i.test(name)),
  );
  const endpoints = Object.fromEntries(
    Object.values(ENDPOINT_VARIABLES).map((variable) => [variable, serviceUrl]),
  );
  // The service-specific variables outrank AWS_ENDPOINT_URL, even one a script exports.
  const environment: NodeJS.ProcessEnv = {
    ...inherited,
    ...endpoints,
    AWS_ENDPOINT_URL: serviceUrl,
    AWS_CONFIG_FILE: join(home, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-aws-credentials'),
    AWS_DEFAULT_REGION: REGION,
    AWS_MAX_ATTEMPTS: '1',
    AWS_PAGER: '',
    HTTP_PROXY: trapUrl,
    HTTPS_PROXY: trapUrl,
    NO_PROXY: '127.0.0.1',
  };
  return {
    strayRequests,
    run: (args, caller, overrides = {}) =>
      run('aws', args, { ...environment, ...keys(caller), ...overrides }),
    exec: (command, args, caller, cwd) =>
      run(command, args, { ...environment, ...keys(caller) }, cwd),
    close: async () => {
      await new Promise<void>((resolve) => trap.close(() => resolve()));
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** Asserts a failing run whose stderr is the CLI's line for `errorType`, matching `message`. */
export function assertCliError(
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

function keys(caller: Caller): NodeJS.ProcessEnv {
  return { AWS_ACCESS_KEY_ID: caller.accessKeyId, AWS_SECRET_ACCESS_KEY: caller.secretAccessKey };
}

function run(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd?: string,
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/**
 * Fails, rather than skips, without a CLI recent enough to honour AWS_ENDPOINT_URL_<SERVICE>:
 * older releases ignore the endpoint variables and would send the calls to AWS itself.
 */
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
  const recentEnough = (major === 1 && minor >= 29) || (major === 2 && minor >= 13) || major > 2;
  if (!recentEnough) {
    const found = probe.stdout.trim();
    throw new Error(
      `The AWS CLI is too old (${found}): these tests need 1.29 or later ` +
        '(`python3 -m pip install --upgrade awscli`).',
    );
  }
}
