import { SCRAM_SHA_512, type BrokerUser, type UserDeletion } from './admin-client.js';
import type { RefusedAssociation, WantedUser } from './desired.js';

/** A user this service made on a cluster, as the store remembers it. */
export interface OwnedUser {
  username: string;
  secretArn: string | null;
  /** Null until the first write of the user is known to have reached the brokers. */
  versionId: string | null;
  fingerprint: string | null;
  iterations: number | null;
}

/** Why a wanted user is written to the brokers in this pass. */
export type ProvisionCause = 'new' | 'rotated' | 'restored' | 'resync' | 'unconfirmed';

export interface Plan {
  /** Wanted users to write, each with why; their values must be read first. */
  provision: { user: WantedUser; owned: OwnedUser | undefined; cause: ProvisionCause }[];
  /** Wanted users the brokers already hold as we last wrote them. */
  inSync: WantedUser[];
  /** Wanted users whose name is taken on the brokers by a user we did not make. */
  foreign: WantedUser[];
  /** Credentials of our users that must go: not wanted, refused, or not ours to keep. */
  deletions: UserDeletion[];
  /** Our users that are neither wanted nor on the brokers: only the store's row remains. */
  forget: string[];
}

export interface PlanInput {
  wanted: WantedUser[];
  refused: RefusedAssociation[];
  owned: Map<string, OwnedUser>;
  actual: Map<string, BrokerUser>;
  iterations: number;
  fullResync: boolean;
}

/**
 * Desired (the store) against actual (the brokers), for one cluster. Only users in `owned`
 * are ever changed or removed: a user on the brokers that this service did not make is left
 * alone, and an association that claims its name fails instead. Deciding is pure, so that it
 * can be tested without a broker.
 */
export function planReconcile(input: PlanInput): Plan {
  const plan: Plan = { provision: [], inSync: [], foreign: [], deletions: [], forget: [] };
  const wantedNames = new Set<string>();

  for (const user of input.wanted) {
    wantedNames.add(user.username);
    const owned = input.owned.get(user.username);
    const onBrokers = input.actual.get(user.username);
    if (!owned) {
      if (onBrokers) plan.foreign.push(user);
      else plan.provision.push({ user, owned, cause: 'new' });
      continue;
    }
    const cause = provisionCause(user, owned, onBrokers, input);
    if (cause) plan.provision.push({ user, owned, cause });
    else plan.inSync.push(user);
    // Another mechanism added to our user behind our back is a second way in: remove it.
    for (const credential of onBrokers?.credentials ?? []) {
      if (credential.mechanism !== SCRAM_SHA_512) {
        plan.deletions.push({ name: user.username, mechanism: credential.mechanism });
      }
    }
  }

  for (const owned of input.owned.values()) {
    if (wantedNames.has(owned.username)) continue;
    const onBrokers = input.actual.get(owned.username);
    if (!onBrokers || onBrokers.credentials.length === 0) {
      plan.forget.push(owned.username);
      continue;
    }
    for (const credential of onBrokers.credentials) {
      plan.deletions.push({ name: owned.username, mechanism: credential.mechanism });
    }
  }
  return plan;
}

function provisionCause(
  user: WantedUser,
  owned: OwnedUser,
  onBrokers: BrokerUser | undefined,
  input: PlanInput,
): ProvisionCause | undefined {
  if (owned.versionId === null || owned.fingerprint === null) return 'unconfirmed';
  const ours = onBrokers?.credentials.find((credential) => credential.mechanism === SCRAM_SHA_512);
  // Removed, or rewritten with other iterations than we wrote, on the brokers: restore it.
  if (!ours || ours.iterations !== owned.iterations) return 'restored';
  if (owned.secretArn !== user.secretArn || owned.versionId !== user.versionId) return 'rotated';
  if (owned.iterations !== input.iterations) return 'rotated';
  if (input.fullResync) return 'resync';
  return undefined;
}

/**
 * Splits changes into requests in which each user appears once, as Kafka requires, and of at
 * most `size` changes each, so that a thousand users are a handful of requests.
 */
export function requestRounds<T extends { name: string }>(changes: T[], size: number): T[][] {
  const rounds: T[][] = [];
  const pending = [...changes];
  while (pending.length > 0) {
    const round: T[] = [];
    const names = new Set<string>();
    const later: T[] = [];
    for (const change of pending) {
      if (names.has(change.name) || round.length >= size) later.push(change);
      else {
        names.add(change.name);
        round.push(change);
      }
    }
    rounds.push(round);
    pending.splice(0, pending.length, ...later);
  }
  return rounds;
}
