import assert from 'node:assert/strict';
import { test } from 'node:test';

import { newKey } from '../../src/crypto/envelope.js';
import { ServiceError } from '../../src/domain/errors.js';
import { PageTokens } from '../../src/domain/paging.js';

const tokens = new PageTokens(newKey());

test('a token reads back to its position in its own listing', () => {
  const token = tokens.issue('cluster-a', 'arn:aws:secretsmanager:us-east-1:1:secret:AmazonMSK_x');
  assert.equal(tokens.read('cluster-a', token, 'nextToken'), 'arn:aws:secretsmanager:us-east-1:1:secret:AmazonMSK_x');
  assert.ok(!token.includes('AmazonMSK'), 'the position is not readable in the token');
});

test('a token of another listing, an edited token or another key is a 400 on the parameter', () => {
  const token = tokens.issue('cluster-a', 'position');
  const edited = `${token.slice(0, -2)}${token.endsWith('A') ? 'B' : 'A'}A`;
  for (const [listing, candidate, reader] of [
    ['cluster-b', token, tokens],
    ['cluster-a', edited, tokens],
    ['cluster-a', token, new PageTokens(newKey())],
    ['cluster-a', 'not-a-token', tokens],
  ] as const) {
    assert.throws(
      () => reader.read(listing, candidate, 'nextToken'),
      (error: unknown) =>
        error instanceof ServiceError && error.statusCode === 400 && error.invalidParameter === 'nextToken',
    );
  }
});
