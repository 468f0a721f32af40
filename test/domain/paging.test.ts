import assert from 'node:assert/strict';
import { test } from 'node:test';

import { newKey } from '../../src/crypto/envelope.js';
import { ServiceError } from '../../src/domain/errors.js';
import { PageTokens } from '../../src/domain/paging.js';

const tokens = new PageTokens(newKey());

test('a token reads back to its position in its own listing', () => {
  const token = tokens.issue('cluster-a', 'arn:aws:secretsmanager:us-east-1:1:secret:AmazonMSK_x');
  assert.equal(
    tokens.read('cluster-a', token, 'nextToken'),
    'arn:aws:secretsmanager:us-east-1:1:secret:AmazonMSK_x',
  );
  assert.ok(!token.includes('AmazonMSK'), 'the position is not readable in the token');
});

test('a token of another listing, an edited token or another key is a 400 on the parameter', () => {
  const token = tokens.issue('cluster-a', 'position');
  // One character inside the IV, always replaced by another: an edit that can leave the token
  // as it was would prove nothing.
  const edited = `${token.slice(0, 10)}${token[10] === 'A' ? 'B' : 'A'}${token.slice(11)}`;
  for (const [listing, candidate, reader] of [
    ['cluster-b', token, tokens],
    ['cluster-a', edited, tokens],
    ['cluster-a', token, new PageTokens(newKey())],
    ['cluster-a', 'not-a-token', tokens],
  ] as const) {
    assert.throws(
      () => reader.read(listing, candidate, 'nextToken'),
      (error: unknown) =>
        error instanceof ServiceError &&
        error.statusCode === 400 &&
        error.invalidParameter === 'nextToken',
    );
  }
});
