import assert from 'node:assert/strict';
import { test } from 'node:test';

import { evaluate, type PolicyDocument, type Principal } from '../../src/auth/policy.js';

const CLUSTER =
  'arn:aws:kafka:us-east-1:111122223333:cluster/orders/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b-1';
const OTHER_CLUSTER =
  'arn:aws:kafka:us-east-1:111122223333:cluster/billing/1f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b-1';

function principal(policies: PolicyDocument[], administrator = false): Principal {
  return {
    accessKeyId: 'AKIAEXAMPLE000000000',
    accountId: '111122223333',
    name: 'p',
    administrator,
    policies,
  };
}

const cases: Array<[string, Principal, string, string, string]> = [
  ['no policy allows nothing', principal([]), 'kafka:ListScramSecrets', CLUSTER, 'not-allowed'],
  [
    'an administrator needs no Allow',
    principal([], true),
    'kafka:BatchAssociateScramSecret',
    CLUSTER,
    'allowed',
  ],
  [
    'an exact Allow',
    principal([
      { Statement: [{ Effect: 'Allow', Action: 'kafka:ListScramSecrets', Resource: CLUSTER }] },
    ]),
    'kafka:ListScramSecrets',
    CLUSTER,
    'allowed',
  ],
  [
    'an action wildcard in the middle',
    principal([{ Statement: { Effect: 'Allow', Action: 'kafka:*ScramSecret*', Resource: '*' } }]),
    'kafka:BatchDisassociateScramSecret',
    CLUSTER,
    'allowed',
  ],
  [
    'an action wildcard that does not match',
    principal([{ Statement: { Effect: 'Allow', Action: 'kafka:*ScramSecret*', Resource: '*' } }]),
    'kafka:DeleteCluster',
    CLUSTER,
    'not-allowed',
  ],
  [
    'action names ignore case',
    principal([
      { Statement: { Effect: 'Allow', Action: 'KAFKA:listscramsecrets', Resource: '*' } },
    ]),
    'kafka:ListScramSecrets',
    CLUSTER,
    'allowed',
  ],
  [
    'a resource wildcard limited to one cluster name',
    principal([
      {
        Statement: {
          Effect: 'Allow',
          Action: 'kafka:*',
          Resource: 'arn:aws:kafka:*:*:cluster/orders/*',
        },
      },
    ]),
    'kafka:ListScramSecrets',
    OTHER_CLUSTER,
    'not-allowed',
  ],
  [
    'a ? matches exactly one character',
    principal([{ Statement: { Effect: 'Allow', Action: 'kms:?escribeKey', Resource: '*' } }]),
    'kms:DescribeKey',
    'arn:aws:kms:us-east-1:111122223333:key/k',
    'allowed',
  ],
  [
    'an explicit Deny wins over an Allow',
    principal([
      { Statement: { Effect: 'Allow', Action: '*', Resource: '*' } },
      { Statement: { Effect: 'Deny', Action: 'kafka:Batch*', Resource: CLUSTER } },
    ]),
    'kafka:BatchAssociateScramSecret',
    CLUSTER,
    'explicitly-denied',
  ],
  [
    'an explicit Deny wins over administration',
    principal(
      [{ Statement: { Effect: 'Deny', Action: 'kafka:DeleteCluster', Resource: '*' } }],
      true,
    ),
    'kafka:DeleteCluster',
    CLUSTER,
    'explicitly-denied',
  ],
  [
    'resource patterns are case-sensitive',
    principal([{ Statement: { Effect: 'Allow', Action: '*', Resource: CLUSTER.toUpperCase() } }]),
    'kafka:ListScramSecrets',
    CLUSTER,
    'not-allowed',
  ],
  [
    'regular-expression characters in a pattern are literal',
    principal([{ Statement: { Effect: 'Allow', Action: 'kafka:List.*', Resource: '*' } }]),
    'kafka:ListScramSecrets',
    CLUSTER,
    'not-allowed',
  ],
];

for (const [name, who, action, resource, expected] of cases) {
  test(name, () => assert.equal(evaluate(who, action, resource), expected));
}
