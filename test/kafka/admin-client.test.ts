import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ScramMechanisms } from '@platformatic/kafka';

import { SCRAM_SHA_256, SCRAM_SHA_512 } from '../../src/kafka/admin-client.js';

test('the SCRAM mechanism numbers are the Kafka client’s own', () => {
  assert.equal(SCRAM_SHA_256, ScramMechanisms.SCRAM_SHA_256);
  assert.equal(SCRAM_SHA_512, ScramMechanisms.SCRAM_SHA_512);
});
