import type { ScramCredential } from './scram.js';

/** Kafka's protocol error codes that this adapter reads. */
export const RESOURCE_NOT_FOUND = 91;

/**
 * The SCRAM mechanisms as Kafka's protocol numbers them (ScramMechanism in
 * DescribeUserScramCredentials and AlterUserScramCredentials). Written here rather than read
 * from the Kafka client, so that a service with no Kafka cluster never loads the client.
 */
export const SCRAM_SHA_256 = 1;
export const SCRAM_SHA_512 = 2;

/** What a broker holds for one user: a credential per mechanism, never the password. */
export interface BrokerUser {
  name: string;
  credentials: { mechanism: number; iterations: number }[];
}

export interface UserDeletion {
  name: string;
  mechanism: number;
}

export interface UserUpsertion extends ScramCredential {
  name: string;
}

/** A user the broker refused to change, with the broker's own code and message. */
export interface AlterFailure {
  errorCode: number;
  errorMessage: string;
}

/** The brokers could not be reached or refused our admin login: nothing was changed. */
export class BrokerUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BrokerUnavailableError';
  }
}

/** The two admin calls the data plane needs, so that the reconciler never sees the wire. */
export interface ScramAdmin {
  describeUsers(): Promise<Map<string, BrokerUser>>;
  alterUsers(
    deletions: UserDeletion[],
    upsertions: UserUpsertion[],
  ): Promise<Map<string, AlterFailure>>;
  close(): Promise<void>;
}

/** A one-line account of a client error, with the causes it wraps (never credentials). */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  const visit = (item: unknown, depth: number): void => {
    if (depth > 4 || !(item instanceof Error)) return;
    if (item.message && !parts.includes(item.message)) parts.push(item.message);
    for (const inner of (item as AggregateError).errors ?? []) visit(inner, depth + 1);
    visit((item as { cause?: unknown }).cause, depth + 1);
  };
  visit(error, 0);
  return parts.join(': ') || String(error);
}
