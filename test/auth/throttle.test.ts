import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Throttle } from '../../src/auth/throttle.js';

test('a burst is allowed, then calls wait for the refill', () => {
  let now = 0;
  const throttle = new Throttle({ rate: 2, burst: 3 }, () => now);
  assert.deepEqual(
    [1, 2, 3].map(() => throttle.take('a')),
    [0, 0, 0],
  );
  assert.equal(throttle.take('a'), 1, 'the fourth call waits about a second');
  now += 500;
  assert.equal(throttle.take('a'), 0, 'half a second at 2/s refills one token');
  assert.equal(throttle.take('b'), 0, 'each principal has its own bucket');
});

test('the refill never exceeds the burst', () => {
  let now = 0;
  const throttle = new Throttle({ rate: 10, burst: 2 }, () => now);
  now += 60_000;
  assert.deepEqual(
    [1, 2, 3].map(() => throttle.take('a') === 0),
    [true, true, false],
  );
});

test('a rate of 0 turns throttling off', () => {
  const throttle = new Throttle({ rate: 0, burst: 0 });
  for (let i = 0; i < 1000; i += 1) assert.equal(throttle.take('a'), 0);
});

test('a burst under 1 still lets one call through at a time, at the rate', () => {
  let now = 0;
  for (const burst of [0, 0.5]) {
    const throttle = new Throttle({ rate: 2, burst }, () => now);
    assert.deepEqual(
      [1, 2].map(() => throttle.take('a')),
      [0, 1],
      `burst ${burst}`,
    );
    now += 500;
    assert.equal(throttle.take('a'), 0, `burst ${burst}: half a second at 2/s refills one token`);
  }
});
