import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';

import { MAIN, startServe } from '../support/serve.js';

const packageVersion = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string })
  .version;

test('--help and --version', () => {
  const help = spawnSync(process.execPath, [MAIN, '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /scram-secrets serve/);
  // The lease's default follows the reconcile interval (src/config/config.ts).
  assert.match(help.stdout, /LEASE_SECONDS .*\n +\(twice the reconcile interval\)/);
  // Every setting the README's tables document is named in the help too.
  const documented = readFileSync('README.md', 'utf8').matchAll(/^\| `(SCRAM_SECRETS_[A-Z_]+)`/gm);
  const names = [...documented].map((match) => match[1]!);
  assert.ok(names.length > 10, 'the README lists its settings');
  for (const name of names) assert.match(help.stdout, new RegExp(`\\b${name}\\b`), name);
  const version = spawnSync(process.execPath, [MAIN, '--version'], { encoding: 'utf8' });
  assert.equal(version.status, 0);
  assert.equal(version.stdout.trim(), packageVersion);
  const unknown = spawnSync(process.execPath, [MAIN, 'fly'], { encoding: 'utf8' });
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /Unknown command: fly/);
});

/** Starts `serve` with no configured key pair, and stops it once it has printed `readyText`. */
async function serveOnce(dataDir: string, readyText: string): Promise<string> {
  const service = await startServe({
    env: { SCRAM_SECRETS_DATA_DIR: dataDir, SCRAM_SECRETS_CREDENTIALS: undefined },
    readyText,
  });
  assert.equal(await service.stop(), 0);
  return service.output();
}

test('a first start makes a 0600 key pair in a 0700 data dir and prints the CLI setup', async () => {
  const parent = mkdtempSync(join(tmpdir(), 'scram-cli-'));
  const dataDir = join(parent, 'data');
  try {
    const first = await serveOnce(dataDir, 'AWS_ENDPOINT_URL');
    assert.equal(statSync(dataDir).mode & 0o777, 0o700);
    const credentialsFile = join(dataDir, 'credentials.json');
    const stored = JSON.parse(readFileSync(credentialsFile, 'utf8')) as Record<string, string>;
    assert.equal(statSync(credentialsFile).mode & 0o777, 0o600);
    assert.equal(statSync(join(dataDir, 'master.key')).mode & 0o777, 0o600);
    assert.ok(first.includes(`export AWS_ACCESS_KEY_ID=${stored.accessKeyId}`));
    assert.ok(first.includes(`export AWS_SECRET_ACCESS_KEY=${stored.secretAccessKey}`));
    assert.match(first, /export AWS_ENDPOINT_URL=http:\/\/127\.0\.0\.1:\d+/);

    const second = await serveOnce(dataDir, 'Endpoint:');
    assert.ok(second.includes(`Using access key ${stored.accessKeyId}`), 'the same key, restarted');
    assert.ok(!second.includes(stored.secretAccessKey!), 'the secret is printed only when made');

    // Configured keys replace the generated pair, and the start says so.
    const configured = await startServe({
      env: {
        SCRAM_SECRETS_DATA_DIR: dataDir,
        SCRAM_SECRETS_CREDENTIALS: 'AKIACONFIGURED000001:a-configured-secret-key:111122223333',
      },
      readyText: 'credentials.stored_unused',
    });
    assert.equal(await configured.stop(), 0);
    assert.ok(configured.output().includes(join(dataDir, 'credentials.json')));
    assert.ok(!configured.output().includes(stored.secretAccessKey!));
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});

test('a key file that others may read is named at warn on start, never its contents', async () => {
  const parent = mkdtempSync(join(tmpdir(), 'scram-cli-open-'));
  const dataDir = join(parent, 'data');
  try {
    const first = await serveOnce(dataDir, 'AWS_ENDPOINT_URL');
    assert.ok(!first.includes('file.open_to_others'), 'files it made are 0600');
    const credentialsFile = join(dataDir, 'credentials.json');
    const masterKeyFile = join(dataDir, 'master.key');
    chmodSync(credentialsFile, 0o644);
    chmodSync(masterKeyFile, 0o640);

    const second = await serveOnce(dataDir, 'Endpoint:');
    const warnings = second
      .split('\n')
      .filter((line) => line.includes('"event":"file.open_to_others"'));
    assert.equal(warnings.length, 2, second);
    assert.ok(warnings.some((line) => line.includes(credentialsFile) && line.includes('"0644"')));
    assert.ok(warnings.some((line) => line.includes(masterKeyFile) && line.includes('"0640"')));
    const stored = JSON.parse(readFileSync(credentialsFile, 'utf8')) as Record<string, string>;
    const masterKey = readFileSync(masterKeyFile, 'utf8').trim();
    assert.ok(!second.includes(stored.secretAccessKey!) && !second.includes(masterKey));
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});

test('audit and status pointed at a data dir without a database say so, and make none', () => {
  const parent = mkdtempSync(join(tmpdir(), 'scram-cli-readers-'));
  const dataDir = join(parent, 'not-the-service-data');
  const env: NodeJS.ProcessEnv = { ...process.env, SCRAM_SECRETS_DATA_DIR: dataDir };
  delete env.SCRAM_SECRETS_DATABASE_URL;
  delete env.SCRAM_SECRETS_CONFIG;
  try {
    for (const args of [['audit'], ['status', '--cluster-arn', 'arn:aws:kafka:x']]) {
      const result = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env });
      assert.equal(result.status, 1, args[0]);
      assert.match(result.stderr, /No database in .*not-the-service-data: run this with the same/);
      assert.ok(!existsSync(dataDir), `${args[0]} made ${dataDir}`);
    }
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});

test('while serving, every file in the data dir is 0600: the database, its WAL and the lock', async () => {
  const parent = mkdtempSync(join(tmpdir(), 'scram-cli-modes-'));
  const dataDir = join(parent, 'data');
  try {
    // The SQLite files, so on SQLite even in the PostgreSQL pass of the tests.
    const service = await startServe({
      env: {
        SCRAM_SECRETS_DATA_DIR: dataDir,
        SCRAM_SECRETS_CREDENTIALS: undefined,
        SCRAM_SECRETS_DATABASE_URL: undefined,
      },
      readyText: 'AWS_ENDPOINT_URL',
    });
    try {
      const files = readdirSync(dataDir);
      for (const name of ['scram-secrets.sqlite', 'scram-secrets.sqlite-wal', 'serve.lock']) {
        assert.ok(files.includes(name), `${name} is not in ${files.join(', ')}`);
      }
      for (const name of files) {
        assert.equal(statSync(join(dataDir, name)).mode & 0o777, 0o600, name);
      }
    } finally {
      assert.equal(await service.stop(), 0);
    }
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});

test('a start that cannot listen, or reach its database, names the settings to change', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'scram-cli-start-'));
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  try {
    const port = String((taken.address() as { port: number }).port);
    const serve = (env: NodeJS.ProcessEnv) =>
      spawnSync(process.execPath, [MAIN, 'serve'], {
        env: { ...process.env, SCRAM_SECRETS_DATA_DIR: dataDir, ...env },
        encoding: 'utf8',
        timeout: 30_000,
      });
    const busy = serve({ SCRAM_SECRETS_PORT: port, SCRAM_SECRETS_DATABASE_URL: undefined });
    assert.equal(busy.status, 1, busy.stderr);
    assert.match(
      busy.stderr,
      new RegExp(
        `Cannot listen on 127\\.0\\.0\\.1 port ${port} \\(SCRAM_SECRETS_HOST, ` +
          'SCRAM_SECRETS_PORT\\): EADDRINUSE',
      ),
    );
    // A port nothing listens on: the one just taken, once freed.
    await new Promise((resolve) => taken.close(resolve));
    const unreachable = serve({
      SCRAM_SECRETS_PORT: '0',
      SCRAM_SECRETS_DATABASE_URL: `postgres://scram:a-db-password@127.0.0.1:${port}/scram`,
    });
    assert.equal(unreachable.status, 1, unreachable.stderr);
    assert.match(
      unreachable.stderr,
      /Cannot reach the PostgreSQL database of SCRAM_SECRETS_DATABASE_URL \(127\.0\.0\.1:\d+\/scram\)/,
    );
    assert.doesNotMatch(unreachable.stderr + unreachable.stdout, /a-db-password/);
  } finally {
    if (taken.listening) taken.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a database host that takes the connection and never answers fails the start in time', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'scram-cli-silent-db-'));
  const held: Socket[] = [];
  const silent = createServer((socket) => held.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  try {
    const port = (silent.address() as { port: number }).port;
    const started = Date.now();
    const child = spawn(process.execPath, [MAIN, 'serve'], {
      env: {
        ...process.env,
        SCRAM_SECRETS_DATA_DIR: dataDir,
        SCRAM_SECRETS_PORT: '0',
        SCRAM_SECRETS_DATABASE_URL: `postgres://scram:a-db-password@127.0.0.1:${port}/scram`,
        SCRAM_SECRETS_DATABASE_CONNECT_TIMEOUT_SECONDS: '1',
      },
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const [status] = (await once(child, 'exit')) as [number | null];
    clearTimeout(killer);
    assert.equal(status, 1, output);
    assert.ok(held.length > 0, 'the service never connected to the silent database');
    assert.ok(Date.now() - started < 20_000, `the start took ${Date.now() - started} ms`);
    assert.match(
      output,
      /Cannot reach the PostgreSQL database of SCRAM_SECRETS_DATABASE_URL \(127\.0\.0\.1:\d+\/scram\): no answer within 1 s \(SCRAM_SECRETS_DATABASE_CONNECT_TIMEOUT_SECONDS\)/,
    );
    assert.doesNotMatch(output, /a-db-password/);
  } finally {
    for (const socket of held) socket.destroy();
    silent.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
