import type { Scope } from '../domain/arn.js';
import { ServiceError } from '../domain/errors.js';
import { AWSCURRENT, type SecretService } from '../domain/secrets.js';
import type { Executor } from '../store/store.js';

/** An association whose secret can be served: the user it wants, at which secret version. */
export interface WantedUser {
  secretArn: string;
  username: string;
  versionId: string;
}

/** An association that cannot be served, and why: its user must not be on the brokers. */
export interface RefusedAssociation {
  secretArn: string;
  username: string;
  reason: string;
}

export interface DesiredState {
  wanted: WantedUser[];
  refused: RefusedAssociation[];
}

/**
 * Where one cluster's desired state comes from: the built-in store, or a polled external
 * secret source. `read` is asked only for users that `load` returned in the same pass.
 */
export interface DesiredStateReader {
  load(db: Executor, clusterArn: string): Promise<DesiredState>;
  read(scope: Scope, user: WantedUser): Promise<CredentialsRead>;
}

/** The built-in Secrets Manager and KMS, read straight from the store. */
export function builtinDesiredState(secrets: SecretService): DesiredStateReader {
  return {
    load: loadDesiredState,
    read: (scope, user) => readCredentials(secrets, scope, user),
  };
}

/** SQLite's limit on bound parameters is far above this; PostgreSQL's too. */
const IN_LIST_CHUNK = 500;

/**
 * What the brokers should hold for one cluster, read from the store in three queries however
 * many secrets it has: each association's secret, its AWSCURRENT version and that version's
 * KMS key. A secret that is deleted or scheduled for deletion, has no current value, or whose
 * value's key is not enabled is refused, so that its user is removed (failing closed).
 * Values are not decrypted here; only users that must be written are, by `readCredentials`.
 */
export async function loadDesiredState(db: Executor, clusterArn: string): Promise<DesiredState> {
  const now = Date.now();
  const associations = await db
    .selectFrom('scram_associations as a')
    .leftJoin('secrets as s', 's.arn', 'a.secret_arn')
    .select(['a.secret_arn', 'a.username', 's.arn as found', 's.deleted_date'])
    .where('a.cluster_arn', '=', clusterArn)
    .orderBy('a.username')
    .execute();
  const secretArns = associations.filter((row) => row.found !== null).map((row) => row.secret_arn);
  const versions = await inChunks(secretArns, (chunk) =>
    db
      .selectFrom('secret_versions')
      .select(['secret_arn', 'version_id', 'stages', 'key_id'])
      .where('secret_arn', 'in', chunk)
      .execute(),
  );
  const currentVersions = new Map(
    versions
      .filter((version) => (JSON.parse(version.stages) as string[]).includes(AWSCURRENT))
      .map((version) => [version.secret_arn, version]),
  );
  const keyIds = [...new Set([...currentVersions.values()].map((version) => version.key_id))];
  const keys = await inChunks(keyIds, (chunk) =>
    db
      .selectFrom('kms_keys')
      .select(['key_id', 'arn', 'key_state'])
      .where('key_id', 'in', chunk)
      .execute(),
  );
  const keyById = new Map(keys.map((key) => [key.key_id, key]));

  const state: DesiredState = { wanted: [], refused: [] };
  for (const row of associations) {
    const refuse = (reason: string): void => {
      state.refused.push({ secretArn: row.secret_arn, username: row.username, reason });
    };
    if (row.found === null || (row.deleted_date !== null && Number(row.deleted_date) <= now)) {
      refuse('The secret was deleted. Disassociate it, or associate a secret that exists.');
      continue;
    }
    if (row.deleted_date !== null) {
      refuse('The secret is scheduled for deletion. Restore it with RestoreSecret.');
      continue;
    }
    const version = currentVersions.get(row.secret_arn);
    if (!version) {
      refuse('The secret has no current (AWSCURRENT) value. Put one with PutSecretValue.');
      continue;
    }
    const key = keyById.get(version.key_id);
    if (!key || key.key_state !== 'Enabled') {
      const keyState = key ? key.key_state.toLowerCase() : 'gone';
      refuse(
        `The KMS key ${key?.arn ?? version.key_id} that encrypts the secret's current value is ` +
          `${keyState === 'pendingdeletion' ? 'pending deletion' : keyState}. Enable the key.`,
      );
      continue;
    }
    state.wanted.push({
      secretArn: row.secret_arn,
      username: row.username,
      versionId: version.version_id,
    });
  }
  return state;
}

/** A user's password, read from the version that is to be provisioned. */
export type CredentialsRead = { ok: true; password: string } | { ok: false; reason: string };

/**
 * Decrypts one wanted version through the Secrets Manager domain, which checks the key again,
 * and checks that it still names the association's username: MSK ties an association to the
 * username it claimed, so a value that now names another user is refused, not followed.
 */
export async function readCredentials(
  secrets: SecretService,
  scope: Scope,
  user: WantedUser,
): Promise<CredentialsRead> {
  let text: string | undefined;
  try {
    const { value } = await secrets.getValue(scope, user.secretArn, { versionId: user.versionId });
    text = value.kind === 'string' ? value.value : undefined;
  } catch (error) {
    if (!(error instanceof ServiceError)) throw error;
    return { ok: false, reason: error.message };
  }
  return credentialsFrom(text, user.username);
}

/**
 * The password in a secret string, if the string is the JSON MSK expects and still names the
 * username the association claimed. Never says anything of the value in its reasons.
 */
export function credentialsFrom(text: string | undefined, username: string): CredentialsRead {
  let parsed: { username?: unknown; password?: unknown } | undefined;
  try {
    parsed = text === undefined ? undefined : (JSON.parse(text) as typeof parsed);
  } catch {
    parsed = undefined;
  }
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    typeof parsed.password !== 'string' ||
    parsed.password === '' ||
    typeof parsed.username !== 'string'
  ) {
    return {
      ok: false,
      reason:
        'The secret\'s current value is not JSON with non-empty string "username" and ' +
        '"password". Put a valid value with PutSecretValue.',
    };
  }
  if (parsed.username !== username) {
    return {
      ok: false,
      reason:
        `The secret's current value names the user ${parsed.username}, but it was associated ` +
        `for ${username}. Put back the username, or disassociate and associate again.`,
    };
  }
  return { ok: true, password: parsed.password };
}

async function inChunks<T, R>(items: T[], query: (chunk: T[]) => Promise<R[]>): Promise<R[]> {
  const results: R[] = [];
  for (let start = 0; start < items.length; start += IN_LIST_CHUNK) {
    results.push(...(await query(items.slice(start, start + IN_LIST_CHUNK))));
  }
  return results;
}
