import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { loadCredentials } from '../../src/auth/credentials.js';
import { loadConfig } from '../../src/config/config.js';

test('defaults: loopback, port 4566, ./data, CORS open', () => {
  const config = loadConfig({});
  assert.equal(config.host, '127.0.0.1');
  assert.equal(config.port, 4566);
  assert.equal(config.dataDir, join(process.cwd(), 'data'));
  assert.equal(config.masterKeyFile, join(process.cwd(), 'data', 'master.key'));
  assert.deepEqual(config.corsAllowedOrigins, ['*']);
  assert.equal(config.credentials, undefined);
});

test('credentials are ACCESS_KEY_ID:SECRET_ACCESS_KEY:ACCOUNT_ID, comma-separated', () => {
  const config = loadConfig({
    SCRAM_SECRETS_CREDENTIALS:
      'AKIAAAAAAAAAAAAAAAAA:secret-secret-secret:111122223333, ' +
      'AKIABBBBBBBBBBBBBBBB:other-other-other-x:444455556666',
  });
  assert.deepEqual(
    config.credentials?.map((c) => c.accountId),
    ['111122223333', '444455556666'],
  );
});

test('invalid settings stop the start with a message naming them, never the secret', () => {
  assert.throws(() => loadConfig({ SCRAM_SECRETS_PORT: 'eighty' }), /SCRAM_SECRETS_PORT/);
  assert.throws(
    () => loadConfig({ SCRAM_SECRETS_CREDENTIALS: 'AKIAAAAAAAAAAAAAAAAA:only-two' }),
    /ACCESS_KEY_ID:SECRET_ACCESS_KEY:ACCOUNT_ID/,
  );
  assert.throws(
    () => loadConfig({ SCRAM_SECRETS_CREDENTIALS: 'AKIAAAAAAAAAAAAAAAAA:a-long-secret-value:12' }),
    (error: Error) =>
      /accountId/.test(error.message) && !error.message.includes('a-long-secret-value'),
  );
});

test('a refusal names the variable or the file key the user set', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'scram-config-')), 'config.json');
  writeFileSync(file, JSON.stringify({ port: 'x', throttle: { read: { rate: -1, burst: 1 } } }));
  const message = (env: NodeJS.ProcessEnv): string => {
    try {
      loadConfig(env);
    } catch (error) {
      return (error as Error).message;
    }
    throw new Error('the configuration was accepted');
  };
  assert.match(
    message({ SCRAM_SECRETS_PORT: 'eighty' }),
    /^Invalid configuration: SCRAM_SECRETS_PORT: /,
  );
  const fromFile = message({ SCRAM_SECRETS_CONFIG: file });
  assert.match(fromFile, new RegExp(`port in ${file}: `));
  assert.match(fromFile, new RegExp(`throttle\\.read\\.rate in ${file}: `));
  // The environment wins over the file, and is named where it is the one that is wrong.
  const both = message({ SCRAM_SECRETS_CONFIG: file, SCRAM_SECRETS_PORT: '6000' });
  assert.doesNotMatch(both, /port in /);
  assert.match(
    message({ SCRAM_SECRETS_THROTTLE_WRITE: 'a:1' }),
    /SCRAM_SECRETS_THROTTLE_WRITE \(throttle\.write\.rate\): /,
  );
  assert.match(
    message({ SCRAM_SECRETS_CREDENTIALS: 'AKIAAAAAAAAAAAAAAAAA:too-short:111122223333' }),
    /SCRAM_SECRETS_CREDENTIALS \(credentials\.0\.secretAccessKey\): /,
  );
});

test('numbers are decimal; a missing one or an unknown key is named plainly', () => {
  for (const port of ['0x1000', '1e3', ' 80', 'abc']) {
    assert.throws(
      () => loadConfig({ SCRAM_SECRETS_PORT: port }),
      /SCRAM_SECRETS_PORT: expected a decimal number/,
      port,
    );
  }
  assert.equal(
    loadConfig({ SCRAM_SECRETS_SHUTDOWN_GRACE_SECONDS: '2.5' }).shutdownGraceSeconds,
    2.5,
  );
  assert.throws(
    () => loadConfig({ SCRAM_SECRETS_MAX_IN_FLIGHT: '1.5' }),
    /SCRAM_SECRETS_MAX_IN_FLIGHT: expected a whole number/,
  );
  assert.throws(
    () => loadConfig({ SCRAM_SECRETS_THROTTLE_READ: '5' }),
    /SCRAM_SECRETS_THROTTLE_READ is RATE:BURST/,
  );
  assert.throws(
    () => loadConfig({ SCRAM_SECRETS_KAFKA_LEASE_SECONDS: '10' }),
    /SCRAM_SECRETS_KAFKA_LEASE_SECONDS \(10\) must be longer than kafkaReconcileIntervalSeconds/,
  );
  const file = join(mkdtempSync(join(tmpdir(), 'scram-config-')), 'config.json');
  writeFileSync(file, JSON.stringify({ prot: 1, throttle: { read: { rate: 1 } } }));
  const refusal = (() => {
    try {
      loadConfig({ SCRAM_SECRETS_CONFIG: file });
    } catch (error) {
      return (error as Error).message;
    }
    return 'accepted';
  })();
  assert.match(refusal, new RegExp(`throttle\\.read\\.burst in ${file}: a number is required`));
  assert.match(refusal, new RegExp(`; ${file}: Unrecognized key: "prot"`));
  assert.doesNotMatch(refusal, /NaN/);
});

test('a config file gives settings and the environment wins over it', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'scram-config-')), 'config.json');
  writeFileSync(
    file,
    JSON.stringify({ port: 5000, host: '0.0.0.0', corsAllowedOrigins: ['http://a.example'] }),
  );
  const config = loadConfig({ SCRAM_SECRETS_CONFIG: file, SCRAM_SECRETS_PORT: '6000' });
  assert.equal(config.port, 6000);
  assert.equal(config.host, '0.0.0.0');
  assert.deepEqual(config.corsAllowedOrigins, ['http://a.example']);
});

test('a misspelt or malformed setting stops the start', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'scram-config-')), 'config.json');
  writeFileSync(file, JSON.stringify({ corsAllowedOrigin: ['http://a.example'] }));
  assert.throws(() => loadConfig({ SCRAM_SECRETS_CONFIG: file }), /corsAllowedOrigin/);
  for (const name of ['SCRAM_SECRETS_PORT', 'SCRAM_SECRETS_CORS_ORIGINS', 'SCRAM_SECRETS_CONFIG']) {
    assert.throws(() => loadConfig({ [name]: '' }), new RegExp(`${name} is set but empty`));
  }
  assert.throws(
    () => loadConfig({ SCRAM_SECRETS_VERIFY_SIGNATURES: 'no' }),
    /SCRAM_SECRETS_VERIFY_SIGNATURES.*expected true, false, 1 or 0/,
  );
  // Set, yet naming no key: never read as unset, which would generate a key pair.
  for (const credentials of [',', ' , ,']) {
    assert.throws(
      () => loadConfig({ SCRAM_SECRETS_CREDENTIALS: credentials }),
      /SCRAM_SECRETS_CREDENTIALS names no key/,
    );
  }
  assert.equal(loadConfig({ SCRAM_SECRETS_VERIFY_SIGNATURES: 'false' }).verifySignatures, false);
  assert.equal(loadConfig({ SCRAM_SECRETS_VERIFY_SIGNATURES: '1' }).verifySignatures, true);
  assert.throws(() => loadConfig({ SCRAM_SECRETS_THROTTLE_WRITE: '5:0' }), /burst of at least 1/);
  assert.equal(loadConfig({ SCRAM_SECRETS_THROTTLE_WRITE: '0:0' }).throttle.write.rate, 0);
});

test('the Kafka lease outlasts the reconcile interval: twice it by default, longer if set', () => {
  assert.equal(loadConfig({}).kafkaLeaseSeconds, 60);
  const interval = { SCRAM_SECRETS_KAFKA_RECONCILE_INTERVAL_SECONDS: '5' };
  assert.equal(loadConfig(interval).kafkaLeaseSeconds, 10);
  const longer = { ...interval, SCRAM_SECRETS_KAFKA_LEASE_SECONDS: '7' };
  assert.equal(loadConfig(longer).kafkaLeaseSeconds, 7);
  for (const lease of ['5', '3']) {
    assert.throws(
      () => loadConfig({ ...interval, SCRAM_SECRETS_KAFKA_LEASE_SECONDS: lease }),
      // Both named as the user set them: here, both variables.
      /SCRAM_SECRETS_KAFKA_LEASE_SECONDS \(\d\) must be longer than SCRAM_SECRETS_KAFKA_RECONCILE_INTERVAL_SECONDS \(5\)/,
    );
  }
});

test('secretSources choose the source per account and region, validated strictly', () => {
  const sources = (value: unknown) =>
    loadConfig({ SCRAM_SECRETS_SECRET_SOURCES: JSON.stringify(value) }).secretSources;
  const [aws] = sources([
    {
      accountId: '111122223333',
      region: 'us-east-1',
      type: 'aws',
      endpoint: 'http://127.0.0.1:5000',
    },
  ]);
  assert.equal(aws?.attachResourcePolicy, true);
  assert.equal(aws?.pollIntervalSeconds, 60);
  assert.throws(() => sources([{ accountId: '1', region: 'us-east-1', type: 'aws' }]), /accountId/);
  assert.throws(
    () => sources([{ accountId: '111122223333', region: 'us-east-1', type: 'vault' }]),
    /type/,
  );
  assert.throws(
    () => sources([{ accountId: '111122223333', region: 'us-east-1', type: 'aws', typo: 1 }]),
    /typo/,
  );
  assert.throws(
    () =>
      sources([
        { accountId: '111122223333', region: 'us-east-1', type: 'builtin', endpoint: 'http://x:1' },
      ]),
    /endpoint, sourceRegion and profile are for type aws/,
  );
  const [profiled] = sources([
    { accountId: '111122223333', region: 'us-east-1', type: 'aws', profile: 'msk-prod' },
  ]);
  assert.equal(profiled?.profile, 'msk-prod');
  assert.throws(
    () =>
      sources([{ accountId: '111122223333', region: 'us-east-1', type: 'builtin', profile: 'a' }]),
    /profile are for type aws/,
  );
  assert.throws(
    () =>
      sources([{ accountId: '111122223333', region: 'us-east-1', type: 'aws', profile: 'a b' }]),
    /profile/,
  );
  assert.throws(
    () =>
      sources([
        { accountId: '111122223333', region: 'us-east-1', type: 'aws' },
        { accountId: '111122223333', region: 'us-east-1', type: 'builtin' },
      ]),
    /111122223333\/us-east-1 has a secret source already/,
  );
  assert.throws(
    () => loadConfig({ SCRAM_SECRETS_SECRET_SOURCES: '[{' }),
    /SCRAM_SECRETS_SECRET_SOURCES is not JSON/,
  );
});

test("a principal's name is an IAM user name, one per account", () => {
  const dir = mkdtempSync(join(tmpdir(), 'scram-config-'));
  const principal = (name: string, accessKeyId: string, accountId = '111122223333') => ({
    name,
    accessKeyId,
    secretAccessKey: `secret-access-key-of-${accessKeyId}`,
    accountId,
  });
  const load = (principals: unknown[], env: NodeJS.ProcessEnv = {}) => {
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ principals }));
    const config = loadConfig({ SCRAM_SECRETS_CONFIG: file, ...env });
    return loadCredentials(config.credentials, config.principals, dir);
  };
  // Control characters would make STS's XML unreadable; a slash would read as an IAM path.
  for (const name of ['esc\u001b[31mred', 'nul\u0000', 'a/b', 'x'.repeat(65), '']) {
    assert.throws(
      () => load([principal(name, 'AKIAPRINCIPAL0000001')]),
      /principals\.0\.name in .*: a name is an IAM user name: 1 to 64 letters, digits/,
      JSON.stringify(name),
    );
  }
  const known = load([principal('ops+audit=1,a.b@c_d-e', 'AKIAPRINCIPAL0000001')]);
  assert.equal(known.byAccessKeyId.get('AKIAPRINCIPAL0000001')?.name, 'ops+audit=1,a.b@c_d-e');

  assert.throws(
    () =>
      load([principal('dup', 'AKIAPRINCIPAL0000001'), principal('dup', 'AKIAPRINCIPAL0000002')]),
    /two principals of account 111122223333 are named dup/,
  );
  // The same name in two accounts is two users.
  const apart = load([
    principal('dup', 'AKIAPRINCIPAL0000001'),
    principal('dup', 'AKIAPRINCIPAL0000002', '444455556666'),
  ]);
  assert.equal(apart.byAccessKeyId.size, 2);
  // A key of SCRAM_SECRETS_CREDENTIALS is named by its access key id.
  assert.throws(
    () =>
      load([principal('AKIACREDENTIAL000001', 'AKIAPRINCIPAL0000001')], {
        SCRAM_SECRETS_CREDENTIALS: 'AKIACREDENTIAL000001:a-long-enough-secret-key:111122223333',
      }),
    /are named AKIACREDENTIAL000001/,
  );
});
