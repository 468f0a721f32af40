import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  CancelKeyDeletionCommand,
  CreateAliasCommand,
  CreateKeyCommand,
  DeleteAliasCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  ListAliasesCommand,
  ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms';
import {
  CreateSecretCommand,
  DecryptionFailure,
  EncryptionFailure,
  DeleteResourcePolicyCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetResourcePolicyCommand,
  GetSecretValueCommand,
  InvalidNextTokenException,
  InvalidParameterException,
  InvalidRequestException,
  ListSecretsCommand,
  ListSecretVersionIdsCommand,
  MalformedPolicyDocumentException,
  PutResourcePolicyCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  RestoreSecretCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateSecretCommand,
  type Filter,
  type ListSecretsCommandInput,
  type SecretListEntry,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';

import { rawRequest } from '../support/raw.js';
import {
  ACCOUNT_ID,
  OTHER_ACCESS_KEY_ID,
  OTHER_SECRET_ACCESS_KEY,
  REGION,
  startTestServer,
  type TestServer,
} from '../support/server.js';
import { signedHeaders } from '../support/signing.js';
import { databaseBytes } from '../support/store.js';

const DAY_MS = 24 * 60 * 60 * 1000;

let server: TestServer;
let secrets: SecretsManagerClient;

before(async () => {
  server = await startTestServer();
  secrets = server.secretsManager();
});
after(async () => server.stop());

function unique(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/**
 * Awaits a call that must fail, and checks that the SDK turned the answer into the named
 * exception class: both the class (what `instanceof` callers use) and `name`.
 */
async function rejectsWith<T extends Error>(
  call: Promise<unknown>,
  exception: new (...args: never[]) => T,
): Promise<T> {
  const error = await call.then(
    () => assert.fail(`expected ${exception.name}, but the call succeeded`),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof exception, `expected ${exception.name}, got ${String(error)}`);
  assert.equal(error.name, exception.name);
  return error;
}

async function createKey(region = REGION): Promise<{ keyId: string; arn: string }> {
  const created = await server.kms({ region }).send(new CreateKeyCommand({}));
  return { keyId: created.KeyMetadata!.KeyId!, arn: created.KeyMetadata!.Arn! };
}

async function currentValue(secretId: string): Promise<string | undefined> {
  return (await secrets.send(new GetSecretValueCommand({ SecretId: secretId }))).SecretString;
}

describe('CreateSecret', () => {
  test('concurrent first secrets of a region without a key share one default key', async () => {
    const fresh = server.secretsManager({ region: 'me-central-1' });
    const names = Array.from({ length: 30 }, () => unique('first-in-region'));
    await Promise.all(
      names.map((name) => fresh.send(new CreateSecretCommand({ Name: name, SecretString: 'x' }))),
    );
    // DescribeSecret leaves the default key out; each version names the key that sealed it.
    const keys = new Set<string | undefined>();
    for (const name of names) {
      const value = await fresh.send(new GetSecretValueCommand({ SecretId: name }));
      assert.equal(value.SecretString, 'x');
      const versions = await fresh.send(new ListSecretVersionIdsCommand({ SecretId: name }));
      for (const version of versions.Versions ?? []) keys.add(version.KmsKeyIds?.[0]);
    }
    assert.equal(keys.size, 1, `one key for all: ${[...keys].join(', ')}`);
    const aliases = await server.kms({ region: 'me-central-1' }).send(new ListAliasesCommand({}));
    const defaultKey = (aliases.Aliases ?? []).find(
      (alias) => alias.AliasName === 'alias/aws/secretsmanager',
    );
    assert.match([...keys][0] ?? '', new RegExp(`:key/${defaultKey?.TargetKeyId}$`));
  });

  test('alias/aws/secretsmanager, named before its first use, is made then', async () => {
    for (const [region, reference] of [
      ['ap-south-2', 'alias/aws/secretsmanager'],
      ['eu-south-2', `arn:aws:kms:eu-south-2:${ACCOUNT_ID}:alias/aws/secretsmanager`],
    ] as const) {
      const fresh = server.secretsManager({ region });
      const created = await fresh.send(
        new CreateSecretCommand({
          Name: unique('named-default'),
          KmsKeyId: reference,
          SecretString: 'x',
        }),
      );
      const moved = unique('moved-to-default');
      const other = await fresh.send(new CreateSecretCommand({ Name: moved, SecretString: 'y' }));
      await fresh.send(new UpdateSecretCommand({ SecretId: other.ARN, KmsKeyId: reference }));
      const aliases = await server.kms({ region }).send(new ListAliasesCommand({}));
      const managed = (aliases.Aliases ?? []).filter(
        (alias) => alias.AliasName === 'alias/aws/secretsmanager',
      );
      assert.equal(managed.length, 1, region);
      for (const secretId of [created.ARN!, other.ARN!]) {
        const value = await fresh.send(new GetSecretValueCommand({ SecretId: secretId }));
        assert.ok(value.SecretString === 'x' || value.SecretString === 'y');
      }
    }
  });

  test('returns an ARN that ends in a dash and six random characters', async () => {
    const name = unique('arn-format');
    const created = await secrets.send(new CreateSecretCommand({ Name: name, SecretString: 'x' }));

    assert.equal(created.Name, name);
    assert.match(
      created.ARN!,
      new RegExp(`^arn:aws:secretsmanager:${REGION}:${ACCOUNT_ID}:secret:${name}-[A-Za-z0-9]{6}$`),
    );
    assert.ok(created.VersionId);

    const twin = await server
      .secretsManager({
        accessKeyId: OTHER_ACCESS_KEY_ID,
        secretAccessKey: OTHER_SECRET_ACCESS_KEY,
      })
      .send(new CreateSecretCommand({ Name: name, SecretString: 'x' }));
    assert.notEqual(twin.ARN, created.ARN, 'the same name in two accounts is two secrets');
  });

  test('refuses a name that is taken, and one that is scheduled for deletion', async () => {
    const name = unique('taken');
    await secrets.send(new CreateSecretCommand({ Name: name, SecretString: 'one' }));
    await rejectsWith(
      secrets.send(new CreateSecretCommand({ Name: name, SecretString: 'two' })),
      ResourceExistsException,
    );

    await secrets.send(new DeleteSecretCommand({ SecretId: name, RecoveryWindowInDays: 7 }));
    await rejectsWith(
      secrets.send(new CreateSecretCommand({ Name: name, SecretString: 'three' })),
      InvalidRequestException,
    );
  });

  test('stores a string or a binary value, never both', async () => {
    const textName = unique('text');
    await secrets.send(new CreateSecretCommand({ Name: textName, SecretString: 'plain text' }));
    const text = await secrets.send(new GetSecretValueCommand({ SecretId: textName }));
    assert.equal(text.SecretString, 'plain text');
    assert.equal(text.SecretBinary, undefined);

    const bytes = new Uint8Array([0, 1, 2, 250, 251, 252, 253, 254, 255]);
    const binaryName = unique('binary');
    await secrets.send(new CreateSecretCommand({ Name: binaryName, SecretBinary: bytes }));
    const binary = await secrets.send(new GetSecretValueCommand({ SecretId: binaryName }));
    assert.equal(binary.SecretString, undefined);
    assert.ok(binary.SecretBinary instanceof Uint8Array);
    assert.deepEqual(Buffer.from(binary.SecretBinary), Buffer.from(bytes));

    // A client that sends text that is not base64 is told so; nothing is stored.
    const garbledName = unique('garbled');
    const init = {
      method: 'POST',
      headers: {
        'x-amz-target': 'secretsmanager.CreateSecret',
        'content-type': 'application/x-amz-json-1.1',
      },
      body: JSON.stringify({ Name: garbledName, SecretBinary: 'not base64!!x' }),
    };
    const headers = await signedHeaders(server.url, init, { service: 'secretsmanager' });
    const garbled = await rawRequest(server.url, { ...init, headers });
    assert.equal(garbled.status, 400);
    assert.equal(garbled.json.__type, 'InvalidParameterException');
    assert.match(String(garbled.json.message), /SecretBinary/);
    assert.doesNotMatch(garbled.text, /not base64!!x/, 'the value is never echoed');
    await rejectsWith(
      secrets.send(new DescribeSecretCommand({ SecretId: garbledName })),
      ResourceNotFoundException,
    );

    const bothName = unique('both');
    await rejectsWith(
      secrets.send(
        new CreateSecretCommand({ Name: bothName, SecretString: 'a', SecretBinary: bytes }),
      ),
      InvalidParameterException,
    );
    await rejectsWith(
      secrets.send(new DescribeSecretCommand({ SecretId: bothName })),
      ResourceNotFoundException,
    );
  });

  test('a ClientRequestToken becomes the version id, and a retry with it is harmless', async () => {
    const name = unique('idempotent');
    const token = randomUUID();
    const first = await secrets.send(
      new CreateSecretCommand({ Name: name, SecretString: 'v1', ClientRequestToken: token }),
    );
    assert.equal(first.VersionId, token);

    const retry = await secrets.send(
      new CreateSecretCommand({ Name: name, SecretString: 'v1', ClientRequestToken: token }),
    );
    assert.equal(retry.ARN, first.ARN);
    assert.equal(retry.VersionId, token);

    await rejectsWith(
      secrets.send(
        new CreateSecretCommand({ Name: name, SecretString: 'v2', ClientRequestToken: token }),
      ),
      ResourceExistsException,
    );
    await rejectsWith(
      secrets.send(
        new CreateSecretCommand({
          Name: name,
          SecretString: 'v1',
          ClientRequestToken: randomUUID(),
        }),
      ),
      ResourceExistsException,
    );

    const again = await secrets.send(
      new PutSecretValueCommand({ SecretId: name, SecretString: 'v1', ClientRequestToken: token }),
    );
    assert.equal(again.VersionId, token);
    await rejectsWith(
      secrets.send(
        new PutSecretValueCommand({
          SecretId: name,
          SecretString: 'other',
          ClientRequestToken: token,
        }),
      ),
      ResourceExistsException,
    );
    const versions = await secrets.send(new ListSecretVersionIdsCommand({ SecretId: name }));
    assert.deepEqual(
      versions.Versions?.map((version) => version.VersionId),
      [token],
    );
  });

  test('a secret created without a value has no AWSCURRENT version', async () => {
    const name = unique('empty');
    const created = await secrets.send(new CreateSecretCommand({ Name: name }));
    assert.equal(created.VersionId, undefined);
    await rejectsWith(
      secrets.send(new GetSecretValueCommand({ SecretId: name })),
      ResourceNotFoundException,
    );
    const described = await secrets.send(new DescribeSecretCommand({ SecretId: name }));
    assert.deepEqual(described.VersionIdsToStages ?? {}, {});
  });
});

describe('DescribeSecret', () => {
  test('reports versions and stages, the KMS key, and dates the SDK parses', async () => {
    const key = await createKey();
    const name = unique('described');
    const before = Date.now();
    const created = await secrets.send(
      new CreateSecretCommand({
        Name: name,
        Description: 'the description',
        KmsKeyId: key.keyId,
        SecretString: 'value',
        Tags: [{ Key: 'team', Value: 'streaming' }],
      }),
    );

    const described = await secrets.send(new DescribeSecretCommand({ SecretId: name }));
    assert.equal(described.ARN, created.ARN);
    assert.equal(described.Name, name);
    assert.equal(described.Description, 'the description');
    // As the caller named it: a tool that compares it with what it sent sees no change.
    assert.equal(described.KmsKeyId, key.keyId);
    assert.deepEqual(described.VersionIdsToStages, { [created.VersionId!]: ['AWSCURRENT'] });
    assert.deepEqual(described.Tags, [{ Key: 'team', Value: 'streaming' }]);
    assert.ok(described.CreatedDate instanceof Date);
    assert.ok(described.LastChangedDate instanceof Date);
    assert.ok(Math.abs(described.CreatedDate.getTime() - before) < 60_000);
    assert.equal(described.DeletedDate, undefined);
  });

  test('shows a key ARN and an alias name as given', async () => {
    const key = await createKey();
    const aliasName = `alias/${unique('describe-alias')}`;
    await server.kms().send(new CreateAliasCommand({ AliasName: aliasName, TargetKeyId: key.arn }));
    const byArn = unique('key-arn');
    await secrets.send(
      new CreateSecretCommand({ Name: byArn, KmsKeyId: key.arn, SecretString: 'v' }),
    );
    const byAlias = unique('key-alias');
    await secrets.send(
      new CreateSecretCommand({ Name: byAlias, KmsKeyId: aliasName, SecretString: 'v' }),
    );
    const shown = async (name: string) =>
      (await secrets.send(new DescribeSecretCommand({ SecretId: name }))).KmsKeyId;
    assert.equal(await shown(byArn), key.arn);
    assert.equal(await shown(byAlias), aliasName);
  });

  test('a secret whose alias is gone cannot take a new value, and says so', async () => {
    const key = await createKey();
    const aliasName = `alias/${unique('going')}`;
    await server.kms().send(new CreateAliasCommand({ AliasName: aliasName, TargetKeyId: key.arn }));
    const name = unique('orphaned');
    await secrets.send(
      new CreateSecretCommand({ Name: name, KmsKeyId: aliasName, SecretString: 'v1' }),
    );
    await server.kms().send(new DeleteAliasCommand({ AliasName: aliasName }));
    const refused = await rejectsWith(
      secrets.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'v2' })),
      EncryptionFailure,
    );
    assert.match(refused.message, new RegExp(`${aliasName}: it does not exist`));
    // What it holds is still readable: each version keeps the key that sealed it.
    assert.equal(await currentValue(name), 'v1');
  });

  test('leaves KmsKeyId out for a secret under the default key', async () => {
    const name = unique('default-key');
    await secrets.send(new CreateSecretCommand({ Name: name, SecretString: 'v' }));
    const described = await secrets.send(new DescribeSecretCommand({ SecretId: name }));
    assert.equal(described.KmsKeyId, undefined);
  });

  test('shows DeletedDate once the secret is scheduled for deletion', async () => {
    const name = unique('deleted-date');
    await secrets.send(new CreateSecretCommand({ Name: name, SecretString: 'v' }));
    const deleted = await secrets.send(
      new DeleteSecretCommand({ SecretId: name, RecoveryWindowInDays: 10 }),
    );
    const described = await secrets.send(new DescribeSecretCommand({ SecretId: name }));
    assert.ok(described.DeletedDate instanceof Date);
    assert.equal(described.DeletedDate.getTime(), deleted.DeletionDate!.getTime());
  });
});

describe('GetSecretValue', () => {
  test('finds a secret by name, by full ARN and by ARN without the random suffix', async () => {
    const name = unique('lookup');
    const created = await secrets.send(new CreateSecretCommand({ Name: name, SecretString: 's' }));
    const partialArn = created.ARN!.slice(0, -7);
    assert.ok(partialArn.endsWith(`:secret:${name}`));

    for (const secretId of [name, created.ARN!, partialArn]) {
      const value = await secrets.send(new GetSecretValueCommand({ SecretId: secretId }));
      assert.equal(value.ARN, created.ARN, secretId);
      assert.equal(value.Name, name);
      assert.equal(value.SecretString, 's');
      assert.deepEqual(value.VersionStages, ['AWSCURRENT']);
      assert.ok(value.CreatedDate instanceof Date);
    }

    await rejectsWith(
      secrets.send(new GetSecretValueCommand({ SecretId: `${created.ARN!.slice(0, -6)}ZZZZZZ` })),
      ResourceNotFoundException,
    );
    await rejectsWith(
      secrets.send(new GetSecretValueCommand({ SecretId: unique('never-created') })),
      ResourceNotFoundException,
    );
  });

  test('selects versions by id and by stage as PutSecretValue moves the labels', async () => {
    const name = unique('stages');
    const v1 = (await secrets.send(new CreateSecretCommand({ Name: name, SecretString: 'one' })))
      .VersionId!;
    const v2 = (
      await secrets.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'two' }))
    ).VersionId!;

    assert.equal(await currentValue(name), 'two');
    const previous = await secrets.send(
      new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSPREVIOUS' }),
    );
    assert.equal(previous.SecretString, 'one');
    assert.equal(previous.VersionId, v1);
    assert.deepEqual(previous.VersionStages, ['AWSPREVIOUS']);

    const byId = await secrets.send(new GetSecretValueCommand({ SecretId: name, VersionId: v2 }));
    assert.equal(byId.SecretString, 'two');
    assert.deepEqual(byId.VersionStages, ['AWSCURRENT']);

    await rejectsWith(
      secrets.send(new GetSecretValueCommand({ SecretId: name, VersionId: randomUUID() })),
      ResourceNotFoundException,
    );
    await rejectsWith(
      secrets.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSPENDING' })),
      ResourceNotFoundException,
    );
    await rejectsWith(
      secrets.send(
        new GetSecretValueCommand({ SecretId: name, VersionId: v1, VersionStage: 'AWSCURRENT' }),
      ),
      ResourceNotFoundException,
    );
  });

  test('refuses with DecryptionFailure while the KMS key is disabled', async () => {
    const key = await createKey();
    const name = unique('disabled-key');
    await secrets.send(
      new CreateSecretCommand({ Name: name, KmsKeyId: key.keyId, SecretString: 'guarded' }),
    );
    await server.kms().send(new DisableKeyCommand({ KeyId: key.keyId }));
    await rejectsWith(
      secrets.send(new GetSecretValueCommand({ SecretId: name })),
      DecryptionFailure,
    );

    await server.kms().send(new EnableKeyCommand({ KeyId: key.keyId }));
    assert.equal(await currentValue(name), 'guarded');
  });

  test('refuses with DecryptionFailure while the KMS key is pending deletion', async () => {
    const key = await createKey();
    const name = unique('doomed-key');
    await secrets.send(
      new CreateSecretCommand({ Name: name, KmsKeyId: key.arn, SecretString: 'guarded' }),
    );
    await server.kms().send(new ScheduleKeyDeletionCommand({ KeyId: key.keyId }));
    await rejectsWith(
      secrets.send(new GetSecretValueCommand({ SecretId: name })),
      DecryptionFailure,
    );

    await server.kms().send(new CancelKeyDeletionCommand({ KeyId: key.keyId }));
    await server.kms().send(new EnableKeyCommand({ KeyId: key.keyId }));
    assert.equal(await currentValue(name), 'guarded');
  });

  test('records the day of the last read as LastAccessedDate', async () => {
    const name = unique('accessed');
    await secrets.send(new CreateSecretCommand({ Name: name, SecretString: 'v' }));
    const unread = await secrets.send(new DescribeSecretCommand({ SecretId: name }));
    assert.equal(unread.LastAccessedDate, undefined);

    await currentValue(name);
    const read = await secrets.send(new DescribeSecretCommand({ SecretId: name }));
    assert.ok(read.LastAccessedDate instanceof Date);
    assert.ok(Date.now() - read.LastAccessedDate.getTime() < DAY_MS);
    assert.ok(read.LastAccessedDate.getTime() <= Date.now());
  });
});

describe('PutSecretValue', () => {
  test('the old AWSCURRENT becomes AWSPREVIOUS and the one before loses its label', async () => {
    const name = unique('put');
    const v1 = (await secrets.send(new CreateSecretCommand({ Name: name, SecretString: '1' })))
      .VersionId!;
    const put2 = await secrets.send(
      new PutSecretValueCommand({ SecretId: name, SecretString: '2' }),
    );
    assert.deepEqual(put2.VersionStages, ['AWSCURRENT']);
    const v2 = put2.VersionId!;
    const v3 = (
      await secrets.send(new PutSecretValueCommand({ SecretId: name, SecretString: '3' }))
    ).VersionId!;

    const described = await secrets.send(new DescribeSecretCommand({ SecretId: name }));
    assert.deepEqual(described.VersionIdsToStages, {
      [v3]: ['AWSCURRENT'],
      [v2]: ['AWSPREVIOUS'],
    });
    assert.equal(await currentValue(name), '3');

    const deprecated = await secrets.send(
      new GetSecretValueCommand({ SecretId: name, VersionId: v1 }),
    );
    assert.equal(deprecated.SecretString, '1', 'a version without labels is still readable');
    assert.deepEqual(deprecated.VersionStages, []);
  });

  test('a custom stage leaves AWSCURRENT where it is', async () => {
    const name = unique('pending');
    const v1 = (await secrets.send(new CreateSecretCommand({ Name: name, SecretString: 'old' })))
      .VersionId!;
    const pending = await secrets.send(
      new PutSecretValueCommand({
        SecretId: name,
        SecretString: 'new',
        VersionStages: ['AWSPENDING'],
      }),
    );
    assert.equal(await currentValue(name), 'old');
    const described = await secrets.send(new DescribeSecretCommand({ SecretId: name }));
    assert.deepEqual(described.VersionIdsToStages, {
      [v1]: ['AWSCURRENT'],
      [pending.VersionId!]: ['AWSPENDING'],
    });
  });

  test('refuses a call with no value', async () => {
    const name = unique('no-value');
    await secrets.send(new CreateSecretCommand({ Name: name, SecretString: 'v' }));
    const error = await secrets.send(new PutSecretValueCommand({ SecretId: name })).then(
      () => assert.fail('a PutSecretValue without a value succeeded'),
      (caught: Error) => caught,
    );
    assert.ok(
      error instanceof InvalidRequestException || error instanceof InvalidParameterException,
      String(error),
    );
  });
});

describe('UpdateSecret', () => {
  test('changes the description, the KMS key and the value', async () => {
    const firstKey = await createKey();
    const secondKey = await createKey();
    const name = unique('update');
    const v1 = (
      await secrets.send(
        new CreateSecretCommand({
          Name: name,
          Description: 'before',
          KmsKeyId: firstKey.keyId,
          SecretString: 'old value',
        }),
      )
    ).VersionId!;

    const described = await secrets.send(
      new UpdateSecretCommand({ SecretId: name, Description: 'after' }),
    );
    assert.equal(described.VersionId, undefined, 'no value, no new version');
    assert.equal(
      (await secrets.send(new DescribeSecretCommand({ SecretId: name }))).Description,
      'after',
    );

    const updated = await secrets.send(
      new UpdateSecretCommand({
        SecretId: name,
        KmsKeyId: secondKey.arn,
        SecretString: 'new value',
      }),
    );
    assert.ok(updated.VersionId);
    assert.notEqual(updated.VersionId, v1);

    const after = await secrets.send(new DescribeSecretCommand({ SecretId: name }));
    assert.equal(after.KmsKeyId, secondKey.arn);
    assert.equal(after.Description, 'after');
    assert.deepEqual(after.VersionIdsToStages, {
      [updated.VersionId!]: ['AWSCURRENT'],
      [v1]: ['AWSPREVIOUS'],
    });

    const versions = await secrets.send(new ListSecretVersionIdsCommand({ SecretId: name }));
    const keysByVersion = Object.fromEntries(
      (versions.Versions ?? []).map((version) => [version.VersionId, version.KmsKeyIds]),
    );
    // A new key seals the staged versions again, as Secrets Manager re-encrypts AWSCURRENT,
    // AWSPENDING and AWSPREVIOUS: retiring the first key loses neither value.
    assert.deepEqual(keysByVersion, {
      [updated.VersionId!]: [secondKey.arn],
      [v1]: [secondKey.arn],
    });
    await server.kms().send(new DisableKeyCommand({ KeyId: firstKey.keyId }));
    assert.equal(await currentValue(name), 'new value');
    const previous = await secrets.send(
      new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSPREVIOUS' }),
    );
    assert.equal(previous.SecretString, 'old value');
  });

  test('a change of key leaves a version without a staging label under its own key', async () => {
    const [firstKey, secondKey] = [await createKey(), await createKey()];
    const name = unique('rekey');
    const v1 = (
      await secrets.send(
        new CreateSecretCommand({ Name: name, KmsKeyId: firstKey.keyId, SecretString: 'one' }),
      )
    ).VersionId!;
    await secrets.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'two' }));
    await secrets.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'three' }));
    await secrets.send(new UpdateSecretCommand({ SecretId: name, KmsKeyId: secondKey.keyId }));
    const versions = await secrets.send(
      new ListSecretVersionIdsCommand({ SecretId: name, IncludeDeprecated: true }),
    );
    for (const version of versions.Versions ?? []) {
      const expected = version.VersionId === v1 ? firstKey.arn : secondKey.arn;
      assert.deepEqual(version.KmsKeyIds, [expected], version.VersionId);
    }
    // A key that cannot decrypt any more leaves the versions it holds as they are.
    const thirdKey = await createKey();
    await server.kms().send(new DisableKeyCommand({ KeyId: secondKey.keyId }));
    await secrets.send(new UpdateSecretCommand({ SecretId: name, KmsKeyId: thirdKey.keyId }));
    await server.kms().send(new EnableKeyCommand({ KeyId: secondKey.keyId }));
    assert.equal(await currentValue(name), 'three');
    const after = await secrets.send(new ListSecretVersionIdsCommand({ SecretId: name }));
    assert.ok((after.Versions ?? []).every((version) => version.KmsKeyIds?.[0] === secondKey.arn));
  });
});

describe('UpdateSecret retries', () => {
  test('a retry with the same ClientRequestToken and value makes no second version', async () => {
    const name = unique('update-retry');
    const v1 = (await secrets.send(new CreateSecretCommand({ Name: name, SecretString: 'one' })))
      .VersionId!;
    const token = randomUUID();
    const first = await secrets.send(
      new UpdateSecretCommand({ SecretId: name, SecretString: 'two', ClientRequestToken: token }),
    );
    assert.equal(first.VersionId, token);

    const retry = await secrets.send(
      new UpdateSecretCommand({ SecretId: name, SecretString: 'two', ClientRequestToken: token }),
    );
    assert.equal(retry.VersionId, token);
    const described = await secrets.send(new DescribeSecretCommand({ SecretId: name }));
    assert.deepEqual(described.VersionIdsToStages, {
      [token]: ['AWSCURRENT'],
      [v1]: ['AWSPREVIOUS'],
    });

    await rejectsWith(
      secrets.send(
        new UpdateSecretCommand({
          SecretId: name,
          SecretString: 'three',
          ClientRequestToken: token,
        }),
      ),
      ResourceExistsException,
    );
    assert.equal(await currentValue(name), 'two');
  });
});

describe('DeleteSecret and RestoreSecret', () => {
  test('the recovery window is 7 to 30 days, and cannot be combined with force', async () => {
    const name = unique('window');
    await secrets.send(new CreateSecretCommand({ Name: name, SecretString: 'v' }));
    for (const days of [6, 31, 0]) {
      await rejectsWith(
        secrets.send(new DeleteSecretCommand({ SecretId: name, RecoveryWindowInDays: days })),
        InvalidParameterException,
      );
    }
    await rejectsWith(
      secrets.send(
        new DeleteSecretCommand({
          SecretId: name,
          RecoveryWindowInDays: 7,
          ForceDeleteWithoutRecovery: true,
        }),
      ),
      InvalidParameterException,
    );
    assert.equal(await currentValue(name), 'v', 'refused deletions leave the secret alone');
  });

  test('a scheduled deletion hides the value until RestoreSecret', async () => {
    const name = unique('scheduled');
    const created = await secrets.send(
      new CreateSecretCommand({ Name: name, SecretString: 'keep me' }),
    );
    const deleted = await secrets.send(
      new DeleteSecretCommand({ SecretId: created.ARN, RecoveryWindowInDays: 7 }),
    );
    assert.equal(deleted.ARN, created.ARN);
    assert.equal(deleted.Name, name);
    assert.ok(deleted.DeletionDate instanceof Date);
    const expected = Date.now() + 7 * DAY_MS;
    assert.ok(Math.abs(deleted.DeletionDate.getTime() - expected) < 60_000);

    await rejectsWith(
      secrets.send(new GetSecretValueCommand({ SecretId: name })),
      InvalidRequestException,
    );
    await rejectsWith(
      secrets.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'x' })),
      InvalidRequestException,
    );
    await rejectsWith(
      secrets.send(new DeleteSecretCommand({ SecretId: name, RecoveryWindowInDays: 7 })),
      InvalidRequestException,
    );

    const restored = await secrets.send(new RestoreSecretCommand({ SecretId: name }));
    assert.equal(restored.ARN, created.ARN);
    assert.equal(await currentValue(name), 'keep me');
    const described = await secrets.send(new DescribeSecretCommand({ SecretId: name }));
    assert.equal(described.DeletedDate, undefined);
  });

  test('ForceDeleteWithoutRecovery removes the secret at once and frees its name', async () => {
    const name = unique('forced');
    const created = await secrets.send(new CreateSecretCommand({ Name: name, SecretString: 'v' }));
    const deleted = await secrets.send(
      new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true }),
    );
    assert.ok(deleted.DeletionDate instanceof Date);
    await rejectsWith(
      secrets.send(new DescribeSecretCommand({ SecretId: created.ARN })),
      ResourceNotFoundException,
    );
    await rejectsWith(
      secrets.send(new RestoreSecretCommand({ SecretId: name })),
      ResourceNotFoundException,
    );

    const again = await secrets.send(new CreateSecretCommand({ Name: name, SecretString: 'w' }));
    assert.notEqual(again.ARN, created.ARN);
    assert.equal(await currentValue(name), 'w');
  });

  test('a secret already scheduled for deletion can still be force-deleted', async () => {
    const name = unique('then-forced');
    await secrets.send(new CreateSecretCommand({ Name: name, SecretString: 'v' }));
    await secrets.send(new DeleteSecretCommand({ SecretId: name, RecoveryWindowInDays: 30 }));
    await secrets.send(
      new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true }),
    );
    await rejectsWith(
      secrets.send(new DescribeSecretCommand({ SecretId: name })),
      ResourceNotFoundException,
    );
  });
});

describe('ListSecrets', () => {
  // A region of its own, so that secrets made by other tests never show up in these listings.
  const LIST_REGION = 'eu-west-3';
  let client: SecretsManagerClient;
  const names: string[] = [];

  before(async () => {
    client = server.secretsManager({ region: LIST_REGION });
    const specs: Array<{ name: string; description?: string; tags?: Record<string, string> }> = [
      { name: 'alpha/one', description: 'Payments database', tags: { team: 'payments' } },
      { name: 'alpha/two', description: 'payments cache' },
      { name: 'alpha/three', tags: { owner: 'ops' } },
      { name: 'beta/one', description: 'Search index', tags: { team: 'search' } },
      { name: 'beta/two' },
      { name: 'gamma', description: 'Telemetry', tags: { team: 'observability', tier: 'gold' } },
      { name: 'Alpha-capital' },
    ];
    for (const spec of specs) {
      await client.send(
        new CreateSecretCommand({
          Name: spec.name,
          Description: spec.description,
          SecretString: 'v',
          Tags: Object.entries(spec.tags ?? {}).map(([Key, Value]) => ({ Key, Value })),
        }),
      );
      names.push(spec.name);
      // Distinct creation times make the expected order unambiguous.
      await new Promise((resolve) => setTimeout(resolve, 3));
    }
  });

  async function listAll(input: ListSecretsCommandInput = {}): Promise<SecretListEntry[]> {
    const entries: SecretListEntry[] = [];
    let nextToken: string | undefined;
    do {
      const page = await client.send(new ListSecretsCommand({ ...input, NextToken: nextToken }));
      entries.push(...(page.SecretList ?? []));
      nextToken = page.NextToken;
    } while (nextToken !== undefined);
    return entries;
  }

  async function namesFor(filters: Filter[]): Promise<string[]> {
    return (await listAll({ Filters: filters })).map((entry) => entry.Name!).sort();
  }

  test('lists every secret with its metadata, oldest first', async () => {
    const listed = await listAll();
    assert.deepEqual(
      listed.map((entry) => entry.Name),
      names,
    );
    const gamma = listed.find((entry) => entry.Name === 'gamma')!;
    assert.match(gamma.ARN!, /^arn:aws:secretsmanager:eu-west-3:111122223333:secret:gamma-.{6}$/);
    assert.equal(gamma.Description, 'Telemetry');
    assert.ok(gamma.CreatedDate instanceof Date);
    assert.ok(gamma.LastChangedDate instanceof Date);
    assert.deepEqual(Object.values(gamma.SecretVersionsToStages ?? {}), [['AWSCURRENT']]);
    assert.deepEqual(gamma.Tags, [
      { Key: 'team', Value: 'observability' },
      { Key: 'tier', Value: 'gold' },
    ]);
  });

  test('pages through everything with MaxResults and NextToken', async () => {
    const seen: string[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const page = await client.send(
        new ListSecretsCommand({ MaxResults: 2, NextToken: nextToken }),
      );
      assert.ok((page.SecretList ?? []).length <= 2);
      seen.push(...(page.SecretList ?? []).map((entry) => entry.Name!));
      nextToken = page.NextToken;
      pages += 1;
    } while (nextToken !== undefined);
    assert.equal(pages, Math.ceil(names.length / 2));
    assert.deepEqual(seen, names);
  });

  test('SortOrder desc lists newest first', async () => {
    const descending = await listAll({ SortOrder: 'desc', MaxResults: 3 });
    assert.deepEqual(
      descending.map((entry) => entry.Name),
      [...names].reverse(),
    );
  });

  test('SortBy name orders by name', async () => {
    const byName = await listAll({ SortBy: 'name', SortOrder: 'asc' });
    const expected = [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    assert.deepEqual(
      byName.map((entry) => entry.Name),
      expected,
    );
  });

  test('name filters match a case-sensitive prefix, and ! negates', async () => {
    assert.deepEqual(await namesFor([{ Key: 'name', Values: ['alpha'] }]), [
      'alpha/one',
      'alpha/three',
      'alpha/two',
    ]);
    assert.deepEqual(await namesFor([{ Key: 'name', Values: ['Alpha'] }]), ['Alpha-capital']);
    assert.deepEqual(await namesFor([{ Key: 'name', Values: ['alpha/t', 'gam'] }]), [
      'alpha/three',
      'alpha/two',
      'gamma',
    ]);
    assert.deepEqual(await namesFor([{ Key: 'name', Values: ['!alpha'] }]), [
      'Alpha-capital',
      'beta/one',
      'beta/two',
      'gamma',
    ]);
  });

  test('tag-key and description filters, alone and combined', async () => {
    assert.deepEqual(await namesFor([{ Key: 'tag-key', Values: ['team'] }]), [
      'alpha/one',
      'beta/one',
      'gamma',
    ]);
    assert.deepEqual(await namesFor([{ Key: 'tag-key', Values: ['!team'] }]), [
      'Alpha-capital',
      'alpha/three',
      'alpha/two',
      'beta/two',
    ]);
    assert.deepEqual(await namesFor([{ Key: 'description', Values: ['payments'] }]), [
      'alpha/one',
      'alpha/two',
    ]);
    assert.deepEqual(await namesFor([{ Key: 'description', Values: ['!payments'] }]), [
      'Alpha-capital',
      'alpha/three',
      'beta/one',
      'beta/two',
      'gamma',
    ]);
    assert.deepEqual(
      await namesFor([
        { Key: 'name', Values: ['alpha'] },
        { Key: 'tag-key', Values: ['team'] },
      ]),
      ['alpha/one'],
    );
  });

  test('tag-value is case-sensitive; all searches every attribute, word by word', async () => {
    assert.deepEqual(await namesFor([{ Key: 'tag-value', Values: ['pay'] }]), ['alpha/one']);
    assert.deepEqual(await namesFor([{ Key: 'tag-value', Values: ['Pay'] }]), []);
    assert.deepEqual(await namesFor([{ Key: 'all', Values: ['PAYMENTS'] }]), [
      'alpha/one',
      'alpha/two',
    ]);
    assert.deepEqual(await namesFor([{ Key: 'all', Values: ['search index'] }]), ['beta/one']);
    assert.deepEqual(await namesFor([{ Key: 'all', Values: ['gold'] }]), ['gamma']);
    assert.deepEqual(await namesFor([{ Key: 'all', Values: ['capital'] }]), ['Alpha-capital']);
  });

  test('IncludePlannedDeletion shows secrets scheduled for deletion', async () => {
    const name = 'zeta/doomed';
    await client.send(new CreateSecretCommand({ Name: name, SecretString: 'v' }));
    await client.send(new DeleteSecretCommand({ SecretId: name, RecoveryWindowInDays: 7 }));
    try {
      assert.ok(!(await listAll()).some((entry) => entry.Name === name));
      const withPlanned = await listAll({ IncludePlannedDeletion: true });
      const doomed = withPlanned.find((entry) => entry.Name === name);
      assert.ok(doomed, 'the scheduled secret is listed');
      assert.ok(doomed.DeletedDate instanceof Date);
    } finally {
      await client.send(
        new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true }),
      );
    }
  });

  test('a NextToken that was not issued for this listing is refused', async () => {
    await rejectsWith(
      client.send(new ListSecretsCommand({ NextToken: 'not-a-token' })),
      InvalidNextTokenException,
    );
    const first = await client.send(new ListSecretsCommand({ MaxResults: 1 }));
    assert.ok(first.NextToken);
    await rejectsWith(
      client.send(
        new ListSecretsCommand({
          NextToken: first.NextToken,
          Filters: [{ Key: 'name', Values: ['beta'] }],
        }),
      ),
      InvalidNextTokenException,
    );
  });
});

describe('ListSecretVersionIds', () => {
  test('lists labelled versions, deprecated ones on request, a page at a time', async () => {
    const name = unique('versions');
    const ids: string[] = [];
    ids.push(
      (await secrets.send(new CreateSecretCommand({ Name: name, SecretString: '0' }))).VersionId!,
    );
    for (const value of ['1', '2', '3']) {
      const put = await secrets.send(
        new PutSecretValueCommand({ SecretId: name, SecretString: value }),
      );
      ids.push(put.VersionId!);
    }

    const labelled = await secrets.send(new ListSecretVersionIdsCommand({ SecretId: name }));
    assert.equal(labelled.Name, name);
    assert.deepEqual(
      new Set(labelled.Versions?.map((version) => version.VersionId)),
      new Set([ids[3], ids[2]]),
    );
    for (const version of labelled.Versions ?? []) {
      assert.ok(version.CreatedDate instanceof Date);
    }

    const everything: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await secrets.send(
        new ListSecretVersionIdsCommand({
          SecretId: name,
          IncludeDeprecated: true,
          MaxResults: 3,
          NextToken: nextToken,
        }),
      );
      assert.ok((page.Versions ?? []).length <= 3);
      everything.push(...(page.Versions ?? []).map((version) => version.VersionId!));
      nextToken = page.NextToken;
    } while (nextToken !== undefined);
    assert.deepEqual(new Set(everything), new Set(ids));
    assert.equal(everything.length, ids.length);
  });
});

describe('resource policies', () => {
  test('put, get and delete a policy; a malformed one is refused', async () => {
    const name = unique('policy');
    const created = await secrets.send(new CreateSecretCommand({ Name: name, SecretString: 'v' }));
    const none = await secrets.send(new GetResourcePolicyCommand({ SecretId: name }));
    assert.equal(none.ARN, created.ARN);
    assert.equal(none.ResourcePolicy, undefined);

    const policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { AWS: `arn:aws:iam::${ACCOUNT_ID}:root` },
          Action: 'secretsmanager:GetSecretValue',
          Resource: '*',
        },
      ],
    });
    const put = await secrets.send(
      new PutResourcePolicyCommand({ SecretId: name, ResourcePolicy: policy }),
    );
    assert.equal(put.ARN, created.ARN);
    const got = await secrets.send(new GetResourcePolicyCommand({ SecretId: name }));
    assert.deepEqual(JSON.parse(got.ResourcePolicy!), JSON.parse(policy));

    for (const malformed of ['not json', '{"Version":"2012-10-17"}', '[]']) {
      await rejectsWith(
        secrets.send(new PutResourcePolicyCommand({ SecretId: name, ResourcePolicy: malformed })),
        MalformedPolicyDocumentException,
      );
    }
    const unchanged = await secrets.send(new GetResourcePolicyCommand({ SecretId: name }));
    assert.deepEqual(JSON.parse(unchanged.ResourcePolicy!), JSON.parse(policy));

    await secrets.send(new DeleteResourcePolicyCommand({ SecretId: name }));
    const deleted = await secrets.send(new GetResourcePolicyCommand({ SecretId: name }));
    assert.equal(deleted.ResourcePolicy, undefined);
  });
});

describe('tags', () => {
  test('TagResource adds and replaces tags; UntagResource removes them', async () => {
    const name = unique('tagged');
    await secrets.send(
      new CreateSecretCommand({ Name: name, SecretString: 'v', Tags: [{ Key: 'a', Value: '1' }] }),
    );
    await secrets.send(
      new TagResourceCommand({
        SecretId: name,
        Tags: [
          { Key: 'a', Value: 'one' },
          { Key: 'b', Value: '2' },
          { Key: 'c', Value: '3' },
        ],
      }),
    );
    const tagsOf = async (): Promise<Record<string, string>> => {
      const described = await secrets.send(new DescribeSecretCommand({ SecretId: name }));
      return Object.fromEntries((described.Tags ?? []).map((tag) => [tag.Key!, tag.Value!]));
    };
    assert.deepEqual(await tagsOf(), { a: 'one', b: '2', c: '3' });

    await secrets.send(new UntagResourceCommand({ SecretId: name, TagKeys: ['a', 'c', 'absent'] }));
    assert.deepEqual(await tagsOf(), { b: '2' });
  });
});

describe('isolation between accounts and regions', () => {
  test("another account's secret does not exist for the caller", async () => {
    const name = unique('mine');
    const created = await secrets.send(
      new CreateSecretCommand({ Name: name, SecretString: 'mine' }),
    );
    const other = server.secretsManager({
      accessKeyId: OTHER_ACCESS_KEY_ID,
      secretAccessKey: OTHER_SECRET_ACCESS_KEY,
    });

    for (const secretId of [name, created.ARN!, created.ARN!.slice(0, -7)]) {
      await rejectsWith(
        other.send(new DescribeSecretCommand({ SecretId: secretId })),
        ResourceNotFoundException,
      );
      await rejectsWith(
        other.send(new GetSecretValueCommand({ SecretId: secretId })),
        ResourceNotFoundException,
      );
    }
    await rejectsWith(
      other.send(new PutSecretValueCommand({ SecretId: created.ARN, SecretString: 'theirs' })),
      ResourceNotFoundException,
    );
    await rejectsWith(
      other.send(new UpdateSecretCommand({ SecretId: created.ARN, Description: 'theirs' })),
      ResourceNotFoundException,
    );
    await rejectsWith(
      other.send(
        new TagResourceCommand({ SecretId: created.ARN, Tags: [{ Key: 'k', Value: 'v' }] }),
      ),
      ResourceNotFoundException,
    );
    await rejectsWith(
      other.send(
        new DeleteSecretCommand({ SecretId: created.ARN, ForceDeleteWithoutRecovery: true }),
      ),
      ResourceNotFoundException,
    );
    const listed = await other.send(
      new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [name] }] }),
    );
    assert.deepEqual(listed.SecretList ?? [], []);

    assert.equal(await currentValue(name), 'mine', 'the owner still reads the original');
  });

  test('a secret of one region does not exist in another', async () => {
    const name = unique('regional');
    const created = await secrets.send(new CreateSecretCommand({ Name: name, SecretString: 'v' }));
    const elsewhere = server.secretsManager({ region: 'ap-southeast-2' });
    for (const secretId of [name, created.ARN!]) {
      await rejectsWith(
        elsewhere.send(new GetSecretValueCommand({ SecretId: secretId })),
        ResourceNotFoundException,
      );
    }
  });
});

describe('encryption at rest', () => {
  test('secret values never reach the database files in plaintext', async () => {
    const password = `Distinctive-Password-${randomUUID()}`;
    const binaryMarker = `Binary-Marker-${randomUUID()}`;
    const name = unique('at-rest');
    const stringSecret = await secrets.send(
      new CreateSecretCommand({
        Name: name,
        SecretString: JSON.stringify({ username: 'alice', password }),
      }),
    );
    await secrets.send(
      new PutSecretValueCommand({ SecretId: name, SecretString: `rotated-${password}` }),
    );
    await secrets.send(
      new CreateSecretCommand({
        Name: unique('at-rest-binary'),
        SecretBinary: Buffer.from(binaryMarker, 'utf8'),
      }),
    );
    assert.ok((await currentValue(name))?.includes(password), 'the value reads back');

    const contents = await databaseBytes(server);
    // The name and ARN are stored in the clear, so finding them shows the bytes are the right
    // ones: the absence of the password is then meaningful.
    assert.ok(contents.includes(Buffer.from(stringSecret.ARN!, 'utf8')), 'the ARN is on disk');
    assert.equal(contents.includes(Buffer.from(password, 'utf8')), false);
    assert.equal(contents.includes(Buffer.from(password, 'utf16le')), false);
    assert.equal(contents.includes(Buffer.from(binaryMarker, 'utf8')), false);
    assert.equal(
      contents.includes(Buffer.from(Buffer.from(binaryMarker).toString('base64'))),
      false,
    );
  });
});
