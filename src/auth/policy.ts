/**
 * IAM-style policy evaluation: statements allow or deny actions on resources, with `*` and
 * `?` wildcards; an explicit Deny wins; without an Allow nothing is allowed, except for an
 * account's administrators.
 */
export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: string | string[];
}

export interface PolicyDocument {
  Version?: string;
  Statement: PolicyStatement | PolicyStatement[];
}

export interface Principal {
  accessKeyId: string;
  accountId: string;
  name: string;
  administrator: boolean;
  policies: PolicyDocument[];
}

export type Decision = 'allowed' | 'explicitly-denied' | 'not-allowed';

export function evaluate(principal: Principal, action: string, resource: string): Decision {
  let allowed = principal.administrator;
  for (const policy of principal.policies) {
    for (const statement of asList(policy.Statement)) {
      if (!asList(statement.Action).some((pattern) => matches(pattern, action, true))) continue;
      if (!asList(statement.Resource).some((pattern) => matches(pattern, resource, false)))
        continue;
      if (statement.Effect === 'Deny') return 'explicitly-denied';
      allowed = true;
    }
  }
  return allowed ? 'allowed' : 'not-allowed';
}

function asList<T>(value: T | T[]): T[] {
  return Array.isArray(value) ? value : [value];
}

const compiled = new Map<string, RegExp>();

/** Action names compare without regard to case, as in IAM; resource ARNs with it. */
function matches(pattern: string, value: string, ignoreCase: boolean): boolean {
  const key = `${ignoreCase ? 'i' : 's'}${pattern}`;
  let expression = compiled.get(key);
  if (!expression) {
    const source = pattern
      .split('')
      .map((char) =>
        char === '*' ? '.*' : char === '?' ? '.' : char.replace(/[.+^${}()|[\]\\]/g, '\\$&'),
      )
      .join('');
    expression = new RegExp(`^${source}$`, ignoreCase ? 'is' : 's');
    if (compiled.size > 10000) compiled.clear();
    compiled.set(key, expression);
  }
  return expression.test(value);
}
