import assert from 'node:assert/strict';
import { test } from 'node:test';

import { deriveKey, newKey, open, seal } from '../../src/crypto/envelope.js';

test('what is sealed opens with the same key and context', () => {
  const key = newKey();
  const sealed = seal(key, Buffer.from('the value'), 'secret-a/v1');
  assert.equal(open(key, sealed, 'secret-a/v1').toString(), 'the value');
  assert.ok(!sealed.includes(Buffer.from('the value')));
});

test('a wrong key, a wrong context or a changed byte does not open', () => {
  const key = newKey();
  const sealed = seal(key, Buffer.from('the value'), 'secret-a/v1');
  assert.throws(() => open(newKey(), sealed, 'secret-a/v1'));
  assert.throws(() => open(key, sealed, 'secret-b/v1'));
  const tampered = Buffer.from(sealed);
  tampered[tampered.length - 1]! ^= 1;
  assert.throws(() => open(key, tampered, 'secret-a/v1'));
  assert.throws(() => open(key, Buffer.from([1, 2, 3]), 'secret-a/v1'));
});

test('derived keys differ by purpose and are stable', () => {
  const master = newKey();
  assert.deepEqual(deriveKey(master, 'a'), deriveKey(master, 'a'));
  assert.notDeepEqual(deriveKey(master, 'a'), deriveKey(master, 'b'));
});

test('every seal has an IV of its own, across many refills of the IV pool', () => {
  const key = newKey();
  const ivs = new Set<string>();
  for (let index = 0; index < 2000; index += 1) {
    const sealed = seal(key, Buffer.from(`value ${index}`), 'listing');
    ivs.add(sealed.subarray(1, 13).toString('hex'));
    assert.equal(open(key, sealed, 'listing').toString(), `value ${index}`);
  }
  assert.equal(ivs.size, 2000);
});
