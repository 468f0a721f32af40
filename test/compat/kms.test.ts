import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import {
  AlreadyExistsException,
  CancelKeyDeletionCommand,
  CreateAliasCommand,
  CreateKeyCommand,
  DeleteAliasCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  DisableKeyRotationCommand,
  EnableKeyCommand,
  EnableKeyRotationCommand,
  GetKeyPolicyCommand,
  GetKeyRotationStatusCommand,
  InvalidMarkerException,
  KMSInvalidStateException,
  KMSServiceException,
  ListAliasesCommand,
  ListKeysCommand,
  ListResourceTagsCommand,
  NotFoundException,
  PutKeyPolicyCommand,
  ScheduleKeyDeletionCommand,
  TagResourceCommand,
  UnsupportedOperationException,
  UntagResourceCommand,
  UpdateAliasCommand,
  UpdateKeyDescriptionCommand,
  type AliasListEntry,
  type KMSClient,
  type KeyListEntry,
  type KeyMetadata,
} from '@aws-sdk/client-kms';
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';

import {
  ACCOUNT_ID,
  OTHER_ACCESS_KEY_ID,
  OTHER_ACCOUNT_ID,
  OTHER_SECRET_ACCESS_KEY,
  REGION,
  startTestServer,
  type TestServer,
} from '../support/server.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let server: TestServer;
let kms: KMSClient;

before(async () => {
  server = await startTestServer();
  kms = server.kms();
});
after(async () => server.stop());

function unique(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/**
 * Awaits a call that must fail with the named error. `exception` is the SDK's class where the
 * KMS model declares the error for that operation; `name` alone where it does not, in which
 * case the SDK still reports the wire type as the error's name.
 */
async function rejectsWith(
  call: Promise<unknown>,
  exception: (new (...args: never[]) => Error) | string,
): Promise<Error> {
  const name = typeof exception === 'string' ? exception : exception.name;
  const error = await call.then(
    () => assert.fail(`expected ${name}, but the call succeeded`),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof KMSServiceException, `expected ${name}, got ${String(error)}`);
  if (typeof exception !== 'string') assert.ok(error instanceof exception, String(error));
  assert.equal(error.name, name, error.message);
  return error;
}

async function newKey(client = kms, description = 'test key'): Promise<KeyMetadata> {
  return (await client.send(new CreateKeyCommand({ Description: description }))).KeyMetadata!;
}

async function describeKey(keyId: string, client = kms): Promise<KeyMetadata> {
  return (await client.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!;
}

async function allKeys(client: KMSClient, limit: number): Promise<KeyListEntry[]> {
  const keys: KeyListEntry[] = [];
  let marker: string | undefined;
  do {
    const page = await client.send(new ListKeysCommand({ Limit: limit, Marker: marker }));
    assert.ok((page.Keys ?? []).length <= limit);
    assert.equal(page.Truncated, page.NextMarker !== undefined);
    keys.push(...(page.Keys ?? []));
    marker = page.NextMarker;
  } while (marker !== undefined);
  return keys;
}

async function allAliases(
  client: KMSClient,
  keyId?: string,
  limit = 100,
): Promise<AliasListEntry[]> {
  const aliases: AliasListEntry[] = [];
  let marker: string | undefined;
  do {
    const page = await client.send(
      new ListAliasesCommand({ KeyId: keyId, Limit: limit, Marker: marker }),
    );
    aliases.push(...(page.Aliases ?? []));
    marker = page.NextMarker;
  } while (marker !== undefined);
  return aliases;
}

describe('CreateKey', () => {
  test('creates an enabled symmetric customer managed key', async () => {
    const before = Date.now();
    const key = await newKey(kms, 'for orders');
    assert.match(key.KeyId!, UUID);
    assert.equal(key.Arn, `arn:aws:kms:${REGION}:${ACCOUNT_ID}:key/${key.KeyId}`);
    assert.equal(key.AWSAccountId, ACCOUNT_ID);
    assert.equal(key.Description, 'for orders');
    assert.equal(key.Enabled, true);
    assert.equal(key.KeyState, 'Enabled');
    assert.equal(key.KeyManager, 'CUSTOMER');
    assert.equal(key.KeyUsage, 'ENCRYPT_DECRYPT');
    assert.equal(key.KeySpec, 'SYMMETRIC_DEFAULT');
    assert.equal(key.Origin, 'AWS_KMS');
    assert.ok(key.CreationDate instanceof Date);
    assert.ok(Math.abs(key.CreationDate.getTime() - before) < 60_000);
    assert.equal(key.DeletionDate, undefined);
  });

  test('refuses key types the service cannot hold', async () => {
    await rejectsWith(
      kms.send(new CreateKeyCommand({ KeyUsage: 'SIGN_VERIFY', KeySpec: 'ECC_NIST_P256' })),
      UnsupportedOperationException,
    );
  });
});

describe('DescribeKey', () => {
  test('finds a key by id, key ARN, alias name and alias ARN', async () => {
    const key = await newKey();
    const aliasName = `alias/${unique('describe')}`;
    await kms.send(new CreateAliasCommand({ AliasName: aliasName, TargetKeyId: key.KeyId }));
    const aliasArn = `arn:aws:kms:${REGION}:${ACCOUNT_ID}:${aliasName}`;

    for (const reference of [key.KeyId!, key.Arn!, aliasName, aliasArn]) {
      const found = await describeKey(reference);
      assert.equal(found.KeyId, key.KeyId, reference);
      assert.equal(found.Arn, key.Arn);
      assert.ok(found.CreationDate instanceof Date);
    }
  });

  test('an unknown key, key ARN or alias is NotFoundException', async () => {
    for (const reference of [
      randomUUID(),
      `arn:aws:kms:${REGION}:${ACCOUNT_ID}:key/${randomUUID()}`,
      `alias/${unique('missing')}`,
      `arn:aws:kms:${REGION}:${ACCOUNT_ID}:alias/${unique('missing')}`,
    ]) {
      await rejectsWith(kms.send(new DescribeKeyCommand({ KeyId: reference })), NotFoundException);
    }
  });
});

describe('ListKeys', () => {
  test('pages through every key with Limit and Marker', async () => {
    // A region of its own, so that only this test's keys are listed.
    const client = server.kms({ region: 'ca-central-1' });
    const created = new Set<string>();
    for (let index = 0; index < 7; index += 1) created.add((await newKey(client)).KeyId!);

    const listed = await allKeys(client, 3);
    assert.equal(listed.length, 7);
    assert.deepEqual(new Set(listed.map((key) => key.KeyId)), created);
    for (const key of listed) {
      assert.equal(key.KeyArn, `arn:aws:kms:ca-central-1:${ACCOUNT_ID}:key/${key.KeyId}`);
    }

    const whole = await client.send(new ListKeysCommand({}));
    assert.equal(whole.Truncated, false);
    assert.equal(whole.NextMarker, undefined);
    assert.equal(whole.Keys?.length, 7);

    const exact = await client.send(new ListKeysCommand({ Limit: 7 }));
    assert.equal(exact.Truncated, false, 'a page that holds the last key is not truncated');
  });

  test('a made-up Marker is refused', async () => {
    await rejectsWith(
      kms.send(new ListKeysCommand({ Marker: 'bm90LWEtbWFya2Vy' })),
      InvalidMarkerException,
    );
  });
});

describe('aliases', () => {
  test('CreateAlias refuses a taken name and the reserved alias/aws/ prefix', async () => {
    const first = await newKey();
    const second = await newKey();
    const aliasName = `alias/${unique('taken')}`;
    await kms.send(new CreateAliasCommand({ AliasName: aliasName, TargetKeyId: first.KeyId }));
    await rejectsWith(
      kms.send(new CreateAliasCommand({ AliasName: aliasName, TargetKeyId: second.KeyId })),
      AlreadyExistsException,
    );
    assert.equal((await describeKey(aliasName)).KeyId, first.KeyId, 'the alias did not move');

    // KMS answers NotAuthorizedException here, a type its model does not list for CreateAlias.
    await rejectsWith(
      kms.send(
        new CreateAliasCommand({
          AliasName: `alias/aws/${unique('mine')}`,
          TargetKeyId: first.KeyId,
        }),
      ),
      'NotAuthorizedException',
    );
    await rejectsWith(
      kms.send(
        new CreateAliasCommand({
          AliasName: `alias/${unique('orphan')}`,
          TargetKeyId: randomUUID(),
        }),
      ),
      NotFoundException,
    );
  });

  test('an alias must point at a key, not at another alias', async () => {
    const key = await newKey();
    const aliasName = `alias/${unique('first')}`;
    await kms.send(new CreateAliasCommand({ AliasName: aliasName, TargetKeyId: key.KeyId }));
    for (const target of [aliasName, `arn:aws:kms:${REGION}:${ACCOUNT_ID}:${aliasName}`]) {
      await rejectsWith(
        kms.send(
          new CreateAliasCommand({ AliasName: `alias/${unique('second')}`, TargetKeyId: target }),
        ),
        'ValidationException',
      );
    }
  });

  test('of concurrent CreateAlias calls for one name, exactly one wins', async () => {
    const key = await newKey();
    const aliasName = `alias/${unique('race')}`;
    const outcomes = await Promise.allSettled(
      Array.from({ length: 8 }, () =>
        kms.send(new CreateAliasCommand({ AliasName: aliasName, TargetKeyId: key.KeyId })),
      ),
    );
    assert.equal(outcomes.filter((outcome) => outcome.status === 'fulfilled').length, 1);
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') {
        assert.ok(outcome.reason instanceof AlreadyExistsException, String(outcome.reason));
      }
    }
  });

  test('ListAliases shows alias/aws/secretsmanager once a secret uses the default', async () => {
    const region = 'eu-north-1';
    const client = server.kms({ region });
    const before = await allAliases(client);
    assert.ok(!before.some((alias) => alias.AliasName === 'alias/aws/secretsmanager'));

    await server
      .secretsManager({ region })
      .send(new CreateSecretCommand({ Name: unique('default-key'), SecretString: 'v' }));

    const aliases = await allAliases(client);
    const managed = aliases.find((alias) => alias.AliasName === 'alias/aws/secretsmanager');
    assert.ok(managed, 'the AWS managed alias exists');
    assert.equal(managed.AliasArn, `arn:aws:kms:${region}:${ACCOUNT_ID}:alias/aws/secretsmanager`);
    assert.ok(managed.CreationDate instanceof Date);
    const key = await describeKey(managed.TargetKeyId!, client);
    assert.equal(key.KeyManager, 'AWS');
    assert.equal(key.KeyState, 'Enabled');
    assert.equal((await describeKey('alias/aws/secretsmanager', client)).KeyId, key.KeyId);

    // A second secret reuses the key rather than making another.
    await server
      .secretsManager({ region })
      .send(new CreateSecretCommand({ Name: unique('default-key'), SecretString: 'v' }));
    const managedAliases = (await allAliases(client)).filter((alias) =>
      alias.AliasName!.startsWith('alias/aws/'),
    );
    assert.equal(managedAliases.length, 1);
  });

  test('ListAliases filters by KeyId and pages with Limit and Marker', async () => {
    const client = server.kms({ region: 'sa-east-1' });
    const first = await newKey(client);
    const second = await newKey(client);
    const firstAliases = ['alias/a-one', 'alias/a-two', 'alias/a-three'];
    for (const aliasName of firstAliases) {
      await client.send(new CreateAliasCommand({ AliasName: aliasName, TargetKeyId: first.KeyId }));
    }
    await client.send(
      new CreateAliasCommand({ AliasName: 'alias/b-one', TargetKeyId: second.Arn }),
    );

    const forFirst = await allAliases(client, first.KeyId);
    assert.deepEqual(forFirst.map((alias) => alias.AliasName).sort(), [...firstAliases].sort());
    assert.ok(forFirst.every((alias) => alias.TargetKeyId === first.KeyId));
    const forSecondByArn = await allAliases(client, second.Arn);
    assert.deepEqual(
      forSecondByArn.map((alias) => alias.AliasName),
      ['alias/b-one'],
    );

    const paged = await allAliases(client, undefined, 1);
    assert.deepEqual(
      paged.map((alias) => alias.AliasName).sort(),
      [...firstAliases, 'alias/b-one'].sort(),
    );
    const firstPage = await client.send(new ListAliasesCommand({ Limit: 2 }));
    assert.equal(firstPage.Truncated, true);
    assert.ok(firstPage.NextMarker);

    await rejectsWith(
      client.send(new ListAliasesCommand({ KeyId: randomUUID() })),
      NotFoundException,
    );
  });
});

describe('key states', () => {
  test('DisableKey and EnableKey switch a key off and on', async () => {
    const key = await newKey();
    await kms.send(new DisableKeyCommand({ KeyId: key.KeyId }));
    const disabled = await describeKey(key.KeyId!);
    assert.equal(disabled.Enabled, false);
    assert.equal(disabled.KeyState, 'Disabled');

    await kms.send(new EnableKeyCommand({ KeyId: key.Arn }));
    const enabled = await describeKey(key.KeyId!);
    assert.equal(enabled.Enabled, true);
    assert.equal(enabled.KeyState, 'Enabled');
  });

  test('ScheduleKeyDeletion takes a 7 to 30 day window; the key is PendingDeletion', async () => {
    const key = await newKey();
    for (const days of [6, 31]) {
      await rejectsWith(
        kms.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId, PendingWindowInDays: days })),
        'ValidationException',
      );
    }
    assert.equal((await describeKey(key.KeyId!)).KeyState, 'Enabled');

    const scheduled = await kms.send(
      new ScheduleKeyDeletionCommand({ KeyId: key.KeyId, PendingWindowInDays: 7 }),
    );
    assert.equal(scheduled.KeyId, key.Arn);
    assert.equal(scheduled.KeyState, 'PendingDeletion');
    assert.equal(scheduled.PendingWindowInDays, 7);
    assert.ok(scheduled.DeletionDate instanceof Date);
    assert.ok(Math.abs(scheduled.DeletionDate.getTime() - (Date.now() + 7 * DAY_MS)) < 60_000);

    const pending = await describeKey(key.KeyId!);
    assert.equal(pending.KeyState, 'PendingDeletion');
    assert.equal(pending.Enabled, false);
    assert.ok(pending.DeletionDate instanceof Date);
    assert.equal(pending.DeletionDate.getTime(), scheduled.DeletionDate.getTime());

    await rejectsWith(
      kms.send(new EnableKeyCommand({ KeyId: key.KeyId })),
      KMSInvalidStateException,
    );
    await rejectsWith(
      kms.send(new DisableKeyCommand({ KeyId: key.KeyId })),
      KMSInvalidStateException,
    );
    await rejectsWith(
      kms.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId, PendingWindowInDays: 7 })),
      KMSInvalidStateException,
    );
    await rejectsWith(
      kms.send(
        new CreateAliasCommand({ AliasName: `alias/${unique('late')}`, TargetKeyId: key.KeyId }),
      ),
      KMSInvalidStateException,
    );
  });

  test('CancelKeyDeletion leaves the key Disabled', async () => {
    const key = await newKey();
    await rejectsWith(
      kms.send(new CancelKeyDeletionCommand({ KeyId: key.KeyId })),
      KMSInvalidStateException,
    );
    await kms.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId }));
    const pending = await describeKey(key.KeyId!);
    assert.ok(Math.abs(pending.DeletionDate!.getTime() - (Date.now() + 30 * DAY_MS)) < 60_000);

    const cancelled = await kms.send(new CancelKeyDeletionCommand({ KeyId: key.KeyId }));
    assert.equal(cancelled.KeyId, key.Arn);
    const after = await describeKey(key.KeyId!);
    assert.equal(after.KeyState, 'Disabled');
    assert.equal(after.Enabled, false);
    assert.equal(after.DeletionDate, undefined);

    await kms.send(new EnableKeyCommand({ KeyId: key.KeyId }));
    assert.equal((await describeKey(key.KeyId!)).KeyState, 'Enabled');
  });
});

describe('what IAM tools and Terraform read of a key', () => {
  test("GetKeyPolicy gives KMS's default policy: the account manages the key", async () => {
    const key = await newKey();
    for (const reference of [key.KeyId!, key.Arn!]) {
      const answer = await kms.send(new GetKeyPolicyCommand({ KeyId: reference }));
      assert.equal(answer.PolicyName, 'default');
      const policy = JSON.parse(answer.Policy!) as {
        Statement: Array<{ Effect: string; Principal: { AWS: string }; Action: string }>;
      };
      assert.deepEqual(
        policy.Statement.map(({ Effect, Principal, Action }) => [Effect, Principal.AWS, Action]),
        [['Allow', `arn:aws:iam::${ACCOUNT_ID}:root`, 'kms:*']],
      );
    }
    const named = await kms.send(
      new GetKeyPolicyCommand({ KeyId: key.KeyId, PolicyName: 'default' }),
    );
    assert.equal(named.PolicyName, 'default');
    await rejectsWith(
      kms.send(new GetKeyPolicyCommand({ KeyId: key.KeyId, PolicyName: 'other' })),
      NotFoundException,
    );
    await rejectsWith(
      kms.send(new GetKeyPolicyCommand({ KeyId: randomUUID() })),
      NotFoundException,
    );
  });

  test('GetKeyRotationStatus says a key is not rotated', async () => {
    const key = await newKey();
    const status = await kms.send(new GetKeyRotationStatusCommand({ KeyId: key.KeyId }));
    assert.equal(status.KeyRotationEnabled, false);
    assert.equal(status.KeyId, key.Arn);
  });

  test('ListResourceTags pages through the tags CreateKey was given', async () => {
    const tags = [
      { TagKey: 'team', TagValue: 'streaming' },
      { TagKey: 'env', TagValue: 'test' },
      { TagKey: 'cost-center', TagValue: '42' },
    ];
    const key = (await kms.send(new CreateKeyCommand({ Tags: tags }))).KeyMetadata!;
    const listed: Array<{ TagKey?: string; TagValue?: string }> = [];
    let marker: string | undefined;
    do {
      const page = await kms.send(
        new ListResourceTagsCommand({ KeyId: key.Arn, Limit: 2, Marker: marker }),
      );
      assert.ok((page.Tags ?? []).length <= 2);
      assert.equal(page.Truncated, page.NextMarker !== undefined);
      listed.push(...(page.Tags ?? []));
      marker = page.NextMarker;
    } while (marker !== undefined);
    const byKey = (left: { TagKey?: string }, right: { TagKey?: string }) =>
      left.TagKey! < right.TagKey! ? -1 : 1;
    assert.deepEqual(listed, [...tags].sort(byKey));
    const untagged = await kms.send(new ListResourceTagsCommand({ KeyId: (await newKey()).KeyId }));
    assert.deepEqual(untagged.Tags, []);
    await rejectsWith(
      kms.send(new ListResourceTagsCommand({ KeyId: key.KeyId, Marker: 'made-up' })),
      InvalidMarkerException,
    );
  });

  test('UpdateAlias points an alias elsewhere; DeleteAlias removes it, not its key', async () => {
    const [first, second] = [await newKey(), await newKey()];
    const aliasName = `alias/${unique('moving')}`;
    await kms.send(new CreateAliasCommand({ AliasName: aliasName, TargetKeyId: first.KeyId }));
    await kms.send(new UpdateAliasCommand({ AliasName: aliasName, TargetKeyId: second.Arn }));
    assert.equal((await describeKey(aliasName)).KeyId, second.KeyId);
    await kms.send(new DeleteAliasCommand({ AliasName: aliasName }));
    await rejectsWith(kms.send(new DescribeKeyCommand({ KeyId: aliasName })), NotFoundException);
    assert.equal((await describeKey(second.KeyId!)).KeyState, 'Enabled');
    await rejectsWith(
      kms.send(new DeleteAliasCommand({ AliasName: aliasName })),
      NotFoundException,
    );
    await rejectsWith(
      kms.send(new UpdateAliasCommand({ AliasName: aliasName, TargetKeyId: first.KeyId })),
      NotFoundException,
    );
    // A name must be a name: not an ARN, not without its prefix, not AWS's own.
    for (const name of [`arn:aws:kms:${REGION}:${ACCOUNT_ID}:${aliasName}`, 'moving']) {
      const refused = await rejectsWith(
        kms.send(new DeleteAliasCommand({ AliasName: name })),
        'ValidationException',
      );
      assert.match(refused.message, /must begin with 'alias\/'/);
    }
    await rejectsWith(
      kms.send(new DeleteAliasCommand({ AliasName: 'alias/aws/secretsmanager' })),
      'NotAuthorizedException',
    );
  });

  test('a key policy given at CreateKey or by PutKeyPolicy is the one GetKeyPolicy shows', async () => {
    const policy = (sid: string) =>
      JSON.stringify({
        Version: '2012-10-17',
        Id: sid,
        Statement: [
          {
            Sid: sid,
            Effect: 'Allow',
            Principal: { AWS: `arn:aws:iam::${ACCOUNT_ID}:root` },
            Action: 'kms:*',
            Resource: '*',
          },
        ],
      });
    const key = (await kms.send(new CreateKeyCommand({ Policy: policy('given') }))).KeyMetadata!;
    const shown = async () =>
      (await kms.send(new GetKeyPolicyCommand({ KeyId: key.KeyId }))).Policy;
    assert.equal(await shown(), policy('given'));
    await kms.send(new PutKeyPolicyCommand({ KeyId: key.Arn, Policy: policy('replaced') }));
    assert.equal(await shown(), policy('replaced'));
    for (const malformed of ['not json', '[1]', '"text"']) {
      await rejectsWith(
        kms.send(new PutKeyPolicyCommand({ KeyId: key.KeyId, Policy: malformed })),
        'MalformedPolicyDocumentException',
      );
      await rejectsWith(
        kms.send(new CreateKeyCommand({ Policy: malformed })),
        'MalformedPolicyDocumentException',
      );
    }
    assert.equal(await shown(), policy('replaced'));
  });

  test('rotation is switched on with its period and off again; the description changes', async () => {
    const key = await newKey();
    const status = async () => kms.send(new GetKeyRotationStatusCommand({ KeyId: key.KeyId }));
    await kms.send(new EnableKeyRotationCommand({ KeyId: key.KeyId }));
    assert.deepEqual(
      [(await status()).KeyRotationEnabled, (await status()).RotationPeriodInDays],
      [true, 365],
    );
    await kms.send(new EnableKeyRotationCommand({ KeyId: key.Arn, RotationPeriodInDays: 180 }));
    assert.equal((await status()).RotationPeriodInDays, 180);
    await rejectsWith(
      kms.send(new EnableKeyRotationCommand({ KeyId: key.KeyId, RotationPeriodInDays: 30 })),
      'ValidationException',
    );
    await kms.send(new DisableKeyRotationCommand({ KeyId: key.KeyId }));
    assert.equal((await status()).KeyRotationEnabled, false);

    await kms.send(new UpdateKeyDescriptionCommand({ KeyId: key.KeyId, Description: 'renamed' }));
    assert.equal((await describeKey(key.KeyId!)).Description, 'renamed');
  });

  test('TagResource adds and overwrites tags, UntagResource removes them', async () => {
    const key = (
      await kms.send(new CreateKeyCommand({ Tags: [{ TagKey: 'team', TagValue: 'a' }] }))
    ).KeyMetadata!;
    await kms.send(
      new TagResourceCommand({
        KeyId: key.KeyId,
        Tags: [
          { TagKey: 'team', TagValue: 'b' },
          { TagKey: 'env', TagValue: 'dev' },
        ],
      }),
    );
    const tags = async () =>
      (await kms.send(new ListResourceTagsCommand({ KeyId: key.KeyId }))).Tags;
    assert.deepEqual(await tags(), [
      { TagKey: 'env', TagValue: 'dev' },
      { TagKey: 'team', TagValue: 'b' },
    ]);
    await kms.send(new UntagResourceCommand({ KeyId: key.Arn, TagKeys: ['team', 'absent'] }));
    assert.deepEqual(await tags(), [{ TagKey: 'env', TagValue: 'dev' }]);
  });

  test("another account's key has no policy, status or tags for the caller", async () => {
    const key = await newKey();
    const other = server.kms({
      accessKeyId: OTHER_ACCESS_KEY_ID,
      secretAccessKey: OTHER_SECRET_ACCESS_KEY,
    });
    await rejectsWith(other.send(new GetKeyPolicyCommand({ KeyId: key.Arn })), NotFoundException);
    await rejectsWith(
      other.send(new GetKeyRotationStatusCommand({ KeyId: key.Arn })),
      NotFoundException,
    );
    await rejectsWith(
      other.send(new ListResourceTagsCommand({ KeyId: key.Arn })),
      NotFoundException,
    );
  });
});

describe('isolation between accounts and regions', () => {
  test("another account's keys and aliases do not exist for the caller", async () => {
    const key = await newKey();
    const aliasName = `alias/${unique('private')}`;
    await kms.send(new CreateAliasCommand({ AliasName: aliasName, TargetKeyId: key.KeyId }));
    const other = server.kms({
      accessKeyId: OTHER_ACCESS_KEY_ID,
      secretAccessKey: OTHER_SECRET_ACCESS_KEY,
    });

    for (const reference of [key.KeyId!, key.Arn!, aliasName]) {
      await rejectsWith(
        other.send(new DescribeKeyCommand({ KeyId: reference })),
        NotFoundException,
      );
      await rejectsWith(other.send(new DisableKeyCommand({ KeyId: reference })), NotFoundException);
      await rejectsWith(
        other.send(new ScheduleKeyDeletionCommand({ KeyId: reference, PendingWindowInDays: 7 })),
        NotFoundException,
      );
    }
    await rejectsWith(
      other.send(
        new CreateAliasCommand({ AliasName: `alias/${unique('x')}`, TargetKeyId: key.Arn }),
      ),
      NotFoundException,
    );
    const theirKeys = await allKeys(other, 100);
    assert.ok(!theirKeys.some((listed) => listed.KeyId === key.KeyId));

    // Alias names belong to an account: the other account may use the same one.
    const theirs = await newKey(other);
    assert.equal(theirs.AWSAccountId, OTHER_ACCOUNT_ID);
    await other.send(new CreateAliasCommand({ AliasName: aliasName, TargetKeyId: theirs.KeyId }));
    assert.equal((await describeKey(aliasName, other)).KeyId, theirs.KeyId);
    assert.equal((await describeKey(aliasName)).KeyId, key.KeyId);
    assert.equal((await describeKey(key.KeyId!)).KeyState, 'Enabled');
  });

  test('a key of one region does not exist in another', async () => {
    const key = await newKey();
    const elsewhere = server.kms({ region: 'ap-northeast-1' });
    for (const reference of [key.KeyId!, key.Arn!]) {
      await rejectsWith(
        elsewhere.send(new DescribeKeyCommand({ KeyId: reference })),
        NotFoundException,
      );
    }
  });
});
