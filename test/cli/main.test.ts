import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const MAIN = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
const packageVersion = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;

test('--help and --version', () => {
  const help = spawnSync(process.execPath, [MAIN, '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /scram-secrets serve/);
  assert.match(help.stdout, /SCRAM_SECRETS_DATA_DIR/);
  const version = spawnSync(process.execPath, [MAIN, '--version'], { encoding: 'utf8' });
  assert.equal(version.status, 0);
  assert.equal(version.stdout.trim(), packageVersion);
  const unknown = spawnSync(process.execPath, [MAIN, 'fly'], { encoding: 'utf8' });
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /Unknown command: fly/);
});

/** Starts `serve` and resolves with everything it printed once the export lines are out. */
function serveUntilReady(dataDir: string, readyText = 'AWS_ENDPOINT_URL'): Promise<{ output: string; stop: () => Promise<number | null> }> {
  const child = spawn(process.execPath, [MAIN, 'serve'], {
    env: { ...process.env, SCRAM_SECRETS_DATA_DIR: dataDir, SCRAM_SECRETS_PORT: '0', SCRAM_SECRETS_CREDENTIALS: '' },
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${output}`)), 15000);
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(readyText)) {
        clearTimeout(timer);
        resolve({
          output,
          stop: () =>
            new Promise((done) => {
              child.on('exit', (code) => done(code));
              child.kill('SIGTERM');
            }),
        });
      }
    });
    child.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${output}`)));
  });
}

test('first start generates a key pair kept 0600 in the data dir and prints the CLI setup', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'scram-cli-'));
  try {
    const first = await serveUntilReady(dataDir);
    assert.equal(await first.stop(), 0);
    const stored = JSON.parse(readFileSync(join(dataDir, 'credentials.json'), 'utf8')) as Record<string, string>;
    assert.equal(statSync(join(dataDir, 'credentials.json')).mode & 0o777, 0o600);
    assert.equal(statSync(join(dataDir, 'master.key')).mode & 0o777, 0o600);
    assert.ok(first.output.includes(`export AWS_ACCESS_KEY_ID=${stored.accessKeyId}`));
    assert.ok(first.output.includes(`export AWS_SECRET_ACCESS_KEY=${stored.secretAccessKey}`));
    assert.match(first.output, /export AWS_ENDPOINT_URL=http:\/\/127\.0\.0\.1:\d+/);

    const second = await serveUntilReady(dataDir, 'Endpoint:');
    assert.equal(await second.stop(), 0);
    assert.ok(second.output.includes(`Using access key ${stored.accessKeyId}`), 'the same key pair after a restart');
    assert.ok(!second.output.includes(stored.secretAccessKey!), 'the secret is printed only when made');
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
