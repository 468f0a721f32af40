import assert from 'node:assert/strict';
import { test } from 'node:test';

import { SCRAM_SHA_256, SCRAM_SHA_512, type BrokerUser } from '../../src/kafka/admin-client.js';
import { planReconcile, requestRounds, type OwnedUser } from '../../src/kafka/plan.js';

const wanted = (username: string, versionId = 'v1', secretArn = `arn-${username}`) => ({
  username,
  versionId,
  secretArn,
});
const owned = (username: string, versionId: string | null = 'v1'): OwnedUser => ({
  username,
  secretArn: `arn-${username}`,
  versionId,
  fingerprint: versionId === null ? null : 'fp',
  iterations: versionId === null ? null : 4096,
});
const onBrokers = (name: string, iterations = 4096, mechanism = SCRAM_SHA_512): BrokerUser => ({
  name,
  credentials: [{ mechanism, iterations }],
});

function plan(input: {
  wanted?: ReturnType<typeof wanted>[];
  owned?: OwnedUser[];
  actual?: BrokerUser[];
  fullResync?: boolean;
}) {
  return planReconcile({
    wanted: input.wanted ?? [],
    refused: [],
    owned: new Map((input.owned ?? []).map((user) => [user.username, user])),
    actual: new Map((input.actual ?? []).map((user) => [user.name, user])),
    iterations: 4096,
    fullResync: input.fullResync ?? false,
  });
}

test('a wanted user that nobody has is new; one that is ours and right is in sync', () => {
  const result = plan({
    wanted: [wanted('alice'), wanted('bob')],
    owned: [owned('bob')],
    actual: [onBrokers('bob')],
  });
  assert.deepEqual(
    result.provision.map((p) => [p.user.username, p.cause]),
    [['alice', 'new']],
  );
  assert.deepEqual(
    result.inSync.map((u) => u.username),
    ['bob'],
  );
  assert.deepEqual(result.deletions, []);
});

test('users we did not make are never changed or removed, and block the association', () => {
  const result = plan({
    wanted: [wanted('admin')],
    actual: [onBrokers('admin'), onBrokers('someone-else')],
  });
  assert.deepEqual(
    result.foreign.map((u) => u.username),
    ['admin'],
  );
  assert.deepEqual(result.provision, []);
  assert.deepEqual(result.deletions, []);
  assert.deepEqual(result.forget, []);
});

test('a new version, another secret, a removal or other iterations on the brokers rewrite', () => {
  const result = plan({
    wanted: [
      wanted('rotated', 'v2'),
      wanted('moved', 'v1', 'arn-other'),
      wanted('gone'),
      wanted('tampered'),
    ],
    owned: [owned('rotated'), owned('moved'), owned('gone'), owned('tampered')],
    actual: [onBrokers('rotated'), onBrokers('moved'), onBrokers('tampered', 8192)],
  });
  assert.deepEqual(
    result.provision.map((p) => [p.user.username, p.cause]),
    [
      ['rotated', 'rotated'],
      ['moved', 'rotated'],
      ['gone', 'restored'],
      ['tampered', 'restored'],
    ],
  );
});

test('a user claimed before a crash, not yet confirmed, is written again', () => {
  const result = plan({ wanted: [wanted('alice')], owned: [owned('alice', null)], actual: [] });
  assert.deepEqual(
    result.provision.map((p) => p.cause),
    ['unconfirmed'],
  );
});

test('unwanted users of ours lose every credential; rows of users already gone are dropped', () => {
  const result = plan({
    owned: [owned('revoked'), owned('already-gone')],
    actual: [
      {
        name: 'revoked',
        credentials: [
          { mechanism: SCRAM_SHA_512, iterations: 4096 },
          { mechanism: SCRAM_SHA_256, iterations: 4096 },
        ],
      },
    ],
  });
  assert.deepEqual(result.deletions, [
    { name: 'revoked', mechanism: SCRAM_SHA_512 },
    { name: 'revoked', mechanism: SCRAM_SHA_256 },
  ]);
  assert.deepEqual(result.forget, ['already-gone']);
});

test('a second mechanism added to one of our wanted users is removed', () => {
  const result = plan({
    wanted: [wanted('alice')],
    owned: [owned('alice')],
    actual: [
      {
        name: 'alice',
        credentials: [
          { mechanism: SCRAM_SHA_512, iterations: 4096 },
          { mechanism: SCRAM_SHA_256, iterations: 4096 },
        ],
      },
    ],
  });
  assert.deepEqual(result.deletions, [{ name: 'alice', mechanism: SCRAM_SHA_256 }]);
  assert.deepEqual(
    result.inSync.map((u) => u.username),
    ['alice'],
  );
});

test('a full resync rewrites every user in sync', () => {
  const result = plan({
    wanted: [wanted('alice')],
    owned: [owned('alice')],
    actual: [onBrokers('alice')],
    fullResync: true,
  });
  assert.deepEqual(
    result.provision.map((p) => p.cause),
    ['resync'],
  );
});

test('requests hold each user once and at most the given number of changes', () => {
  const changes = [
    { name: 'a', n: 1 },
    { name: 'a', n: 2 },
    { name: 'b', n: 3 },
    { name: 'c', n: 4 },
  ];
  assert.deepEqual(
    requestRounds(changes, 2).map((round) => round.map((change) => change.n)),
    [
      [1, 3],
      [2, 4],
    ],
  );
  assert.equal(
    requestRounds(
      Array.from({ length: 1000 }, (_, i) => ({ name: `u${i}` })),
      500,
    ).length,
    2,
  );
});
