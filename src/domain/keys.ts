import { randomUUID } from 'node:crypto';

import { kmsAliasArn, kmsKeyArn, parseArn, type Scope } from './arn.js';
import { jsonError, type ServiceError } from './errors.js';
import { noDataPlane, type DataPlaneHook } from './sync.js';
import { newKey, open, seal } from '../crypto/envelope.js';
import type { KmsKeyTable } from '../store/schema.js';
import type { Executor, Store } from '../store/store.js';
import { isUniqueViolation } from '../store/errors.js';

export type KeyState = 'Enabled' | 'Disabled' | 'PendingDeletion';
export type KeyManager = 'CUSTOMER' | 'AWS';

/** The alias of the AWS-managed key Secrets Manager uses when a secret names no key. */
export const SECRETS_MANAGER_DEFAULT_ALIAS = 'alias/aws/secretsmanager';

export interface KmsKey {
  keyId: string;
  arn: string;
  accountId: string;
  region: string;
  description: string;
  keyState: KeyState;
  keyManager: KeyManager;
  keyUsage: string;
  keySpec: string;
  creationDate: number;
  deletionDate: number | null;
  tags: KeyTag[];
  /** The key's own policy; null for KMS's default one. */
  policy: string | null;
  /** The rotation period when automatic rotation is on; null when off. */
  rotationPeriodDays: number | null;
}

export interface KeyTag {
  TagKey: string;
  TagValue: string;
}

export interface KeyAlias {
  aliasName: string;
  aliasArn: string;
  targetKeyId: string;
  creationDate: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** What reading a secret's value needs of its keys. */
export type KeyReader = Pick<KeyService, 'findKey' | 'material'>;

/**
 * The built-in KMS: symmetric keys whose material is wrapped by the master key, aliases, and
 * the key-state rules that decide whether a secret encrypted under a key can be read.
 */
export class KeyService {
  constructor(
    private readonly store: Store,
    private readonly masterKey: Buffer,
    private readonly dataPlane: DataPlaneHook = noDataPlane,
  ) {}

  async createKey(
    scope: Scope,
    input: {
      description?: string;
      keyUsage?: string;
      keySpec?: string;
      tags?: unknown;
      policy?: string;
    },
    keyManager: KeyManager = 'CUSTOMER',
    db: Executor = this.store.db,
  ): Promise<KmsKey> {
    const keyUsage = input.keyUsage ?? 'ENCRYPT_DECRYPT';
    const keySpec = input.keySpec ?? 'SYMMETRIC_DEFAULT';
    if (keyUsage !== 'ENCRYPT_DECRYPT' || keySpec !== 'SYMMETRIC_DEFAULT') {
      throw jsonError(
        'UnsupportedOperationException',
        'Only symmetric encryption keys (KeyUsage ENCRYPT_DECRYPT, KeySpec SYMMETRIC_DEFAULT) ' +
          'are supported by this service.',
      );
    }
    if (input.policy !== undefined) requirePolicyDocument(input.policy);
    const keyId = randomUUID();
    const arn = kmsKeyArn(scope, keyId);
    const row: KmsKeyTable = {
      key_id: keyId,
      arn,
      account_id: scope.accountId,
      region: scope.region,
      description: input.description ?? '',
      key_state: 'Enabled',
      key_manager: keyManager,
      key_usage: keyUsage,
      key_spec: keySpec,
      creation_date: Date.now(),
      deletion_date: null,
      wrapped_material: seal(this.masterKey, newKey(), arn),
      tags: JSON.stringify(input.tags ?? []),
      policy: input.policy ?? null,
      rotation_period_days: null,
    };
    await db.insertInto('kms_keys').values(row).execute();
    return toKey(row);
  }

  /**
   * Finds a key of this scope by key id, key ARN, alias name or alias ARN; a key of another
   * account or region is as absent as one that never existed.
   */
  async findKey(scope: Scope, keyReference: string, db: Executor = this.store.db): Promise<KmsKey> {
    const keyId = await this.resolveKeyId(scope, keyReference, db);
    const row = keyId
      ? await db
          .selectFrom('kms_keys')
          .selectAll()
          .where('key_id', '=', keyId)
          .where('account_id', '=', scope.accountId)
          .where('region', '=', scope.region)
          .executeTakeFirst()
      : undefined;
    if (!row) {
      throw jsonError('NotFoundException', `Key '${keyReference}' does not exist`);
    }
    return toKey(row);
  }

  async listKeys(scope: Scope, limit: number, afterKeyId?: string): Promise<KmsKey[]> {
    let query = this.store.db
      .selectFrom('kms_keys')
      .selectAll()
      .where('account_id', '=', scope.accountId)
      .where('region', '=', scope.region)
      .orderBy('key_id')
      .limit(limit);
    if (afterKeyId) query = query.where('key_id', '>', afterKeyId);
    return (await query.execute()).map(toKey);
  }

  async createAlias(scope: Scope, aliasName: string, targetKeyReference: string): Promise<void> {
    refuseReservedAlias(aliasName);
    try {
      await this.store.transaction(async (trx) => {
        const key = await this.aliasTarget(scope, targetKeyReference, trx);
        await this.insertAlias(scope, aliasName, key.keyId, trx);
      });
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      throw aliasExists(scope, aliasName);
    }
  }

  /** Removes an alias; the key it pointed at, and what that key sealed, are untouched. */
  async deleteAlias(scope: Scope, aliasName: string): Promise<void> {
    refuseReservedAlias(aliasName);
    const deleted = await this.store.db
      .deleteFrom('kms_aliases')
      .where('account_id', '=', scope.accountId)
      .where('region', '=', scope.region)
      .where('alias_name', '=', aliasName)
      .executeTakeFirst();
    if (Number(deleted.numDeletedRows) === 0) throw aliasNotFound(scope, aliasName);
  }

  /** Points an existing alias at another customer managed key. */
  async updateAlias(scope: Scope, aliasName: string, targetKeyReference: string): Promise<void> {
    refuseReservedAlias(aliasName);
    await this.store.transaction(async (trx) => {
      const key = await this.aliasTarget(scope, targetKeyReference, trx);
      const updated = await trx
        .updateTable('kms_aliases')
        .set({ target_key_id: key.keyId })
        .where('account_id', '=', scope.accountId)
        .where('region', '=', scope.region)
        .where('alias_name', '=', aliasName)
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) === 0) throw aliasNotFound(scope, aliasName);
    });
  }

  /**
   * Makes sure the account's default Secrets Manager key exists, in a transaction of its own,
   * so that concurrent first secrets of an account agree on one key.
   */
  async ensureDefaultSecretsManagerKey(scope: Scope): Promise<void> {
    try {
      await this.store.transaction((trx) => this.defaultSecretsManagerKey(scope, trx));
    } catch (error) {
      // Another request (or replica) created it first, and its alias is taken: it exists,
      // which is all we need.
      const exists = await this.resolveKeyId(scope, SECRETS_MANAGER_DEFAULT_ALIAS, this.store.db);
      if (!exists) throw error;
    }
  }

  async listAliases(
    scope: Scope,
    limit: number,
    afterAlias?: string,
    keyId?: string,
  ): Promise<KeyAlias[]> {
    let query = this.store.db
      .selectFrom('kms_aliases')
      .selectAll()
      .where('account_id', '=', scope.accountId)
      .where('region', '=', scope.region)
      .orderBy('alias_name')
      .limit(limit);
    if (afterAlias) query = query.where('alias_name', '>', afterAlias);
    if (keyId) query = query.where('target_key_id', '=', (await this.findKey(scope, keyId)).keyId);
    const rows = await query.execute();
    return rows.map((row) => ({
      aliasName: row.alias_name,
      aliasArn: row.alias_arn,
      targetKeyId: row.target_key_id,
      creationDate: Number(row.creation_date),
    }));
  }

  /** Replaces the key's policy. It is kept and shown as given, not enforced (see README). */
  async putKeyPolicy(scope: Scope, keyReference: string, policy: string): Promise<void> {
    requirePolicyDocument(policy);
    const key = await this.customerKey(scope, keyReference);
    this.refuseIfPendingDeletion(key);
    await this.update(key, { policy });
  }

  /** Turns automatic rotation on (with its period) or off; shown, as keys are never rotated. */
  async setRotation(scope: Scope, keyReference: string, periodDays: number | null): Promise<void> {
    if (
      periodDays !== null &&
      (!Number.isInteger(periodDays) || periodDays < 90 || periodDays > 2560)
    ) {
      throw jsonError(
        'ValidationException',
        'RotationPeriodInDays must be a whole number of days from 90 to 2560.',
      );
    }
    const key = await this.customerKey(scope, keyReference);
    if (key.keyState !== 'Enabled') {
      throw jsonError('KMSInvalidStateException', `${key.arn} is ${key.keyState}.`);
    }
    await this.update(key, { rotation_period_days: periodDays });
  }

  async updateDescription(scope: Scope, keyReference: string, description: string): Promise<void> {
    const key = await this.customerKey(scope, keyReference);
    this.refuseIfPendingDeletion(key);
    await this.update(key, { description });
  }

  /** Adds tags, or gives new values to tags the key has; removes the named ones. */
  async changeTags(
    scope: Scope,
    keyReference: string,
    change: { set?: KeyTag[]; remove?: string[] },
  ): Promise<void> {
    await this.store.transaction(async (trx) => {
      const key = await this.customerKey(scope, keyReference, trx);
      this.refuseIfPendingDeletion(key);
      const tags = new Map(key.tags.map((tag) => [tag.TagKey, tag.TagValue]));
      for (const tag of change.set ?? []) tags.set(tag.TagKey, tag.TagValue);
      for (const tagKey of change.remove ?? []) tags.delete(tagKey);
      const kept = [...tags].map(([TagKey, TagValue]) => ({ TagKey, TagValue }));
      await this.update(key, { tags: JSON.stringify(kept) }, trx);
    });
  }

  async enableKey(scope: Scope, keyReference: string): Promise<void> {
    const key = await this.customerKey(scope, keyReference);
    this.refuseIfPendingDeletion(key);
    await this.setState(key, 'Enabled', null);
  }

  async disableKey(scope: Scope, keyReference: string): Promise<void> {
    const key = await this.customerKey(scope, keyReference);
    this.refuseIfPendingDeletion(key);
    await this.setState(key, 'Disabled', null);
  }

  async scheduleKeyDeletion(
    scope: Scope,
    keyReference: string,
    pendingWindowInDays: number,
  ): Promise<KmsKey> {
    if (
      !Number.isInteger(pendingWindowInDays) ||
      pendingWindowInDays < 7 ||
      pendingWindowInDays > 30
    ) {
      throw jsonError(
        'ValidationException',
        'PendingWindowInDays must be a whole number from 7 to 30.',
      );
    }
    const key = await this.customerKey(scope, keyReference);
    this.refuseIfPendingDeletion(key);
    const deletionDate = Date.now() + pendingWindowInDays * DAY_MS;
    await this.setState(key, 'PendingDeletion', deletionDate);
    return { ...key, keyState: 'PendingDeletion', deletionDate };
  }

  async cancelKeyDeletion(scope: Scope, keyReference: string): Promise<KmsKey> {
    const key = await this.customerKey(scope, keyReference);
    if (key.keyState !== 'PendingDeletion') {
      throw jsonError('KMSInvalidStateException', `${key.arn} is not pending deletion.`);
    }
    await this.setState(key, 'Disabled', null);
    return { ...key, keyState: 'Disabled', deletionDate: null };
  }

  /**
   * The AWS-managed key Secrets Manager encrypts with when a secret names none, created on
   * first use in each account and region, as AWS does.
   */
  async defaultSecretsManagerKey(scope: Scope, db: Executor = this.store.db): Promise<KmsKey> {
    const existing = await this.resolveKeyId(scope, SECRETS_MANAGER_DEFAULT_ALIAS, db);
    if (existing) return this.findKey(scope, existing, db);
    const key = await this.createKey(
      scope,
      {
        description:
          'Default key that protects my Secrets Manager data when no other key is defined',
      },
      'AWS',
      db,
    );
    await this.insertAlias(scope, SECRETS_MANAGER_DEFAULT_ALIAS, key.keyId, db);
    return key;
  }

  /**
   * Whether the master key opens the keys already in the store: a replica or a restart with
   * another master key file would otherwise start and then fail every read of a secret.
   */
  async masterKeyOpensStore(): Promise<boolean> {
    const sample = await this.store.db
      .selectFrom('kms_keys')
      .select(['arn', 'wrapped_material'])
      .orderBy('creation_date')
      .limit(1)
      .executeTakeFirst();
    if (!sample) return true;
    try {
      open(this.masterKey, Buffer.from(sample.wrapped_material), sample.arn);
      return true;
    } catch {
      return false;
    }
  }

  /** The key's material, for envelope encryption; only usable while the key is enabled. */
  async material(key: KmsKey, db: Executor = this.store.db): Promise<Buffer> {
    const row = await db
      .selectFrom('kms_keys')
      .select('wrapped_material')
      .where('key_id', '=', key.keyId)
      .executeTakeFirstOrThrow();
    return open(this.masterKey, Buffer.from(row.wrapped_material), key.arn);
  }

  private async resolveKeyId(
    scope: Scope,
    reference: string,
    db: Executor,
  ): Promise<string | undefined> {
    const arn = parseArn(reference);
    let local = reference;
    if (arn) {
      if (
        arn.service !== 'kms' ||
        arn.accountId !== scope.accountId ||
        arn.region !== scope.region
      ) {
        return undefined;
      }
      local = arn.resource;
    }
    if (local.startsWith('key/')) return local.slice('key/'.length);
    if (!local.startsWith('alias/')) return local;
    const alias = await db
      .selectFrom('kms_aliases')
      .select('target_key_id')
      .where('account_id', '=', scope.accountId)
      .where('region', '=', scope.region)
      .where('alias_name', '=', local)
      .executeTakeFirst();
    return alias?.target_key_id;
  }

  private async insertAlias(
    scope: Scope,
    aliasName: string,
    keyId: string,
    db: Executor,
  ): Promise<void> {
    const taken = await db
      .selectFrom('kms_aliases')
      .select('alias_name')
      .where('account_id', '=', scope.accountId)
      .where('region', '=', scope.region)
      .where('alias_name', '=', aliasName)
      .executeTakeFirst();
    if (taken) throw aliasExists(scope, aliasName);
    await db
      .insertInto('kms_aliases')
      .values({
        account_id: scope.accountId,
        region: scope.region,
        alias_name: aliasName,
        alias_arn: kmsAliasArn(scope, aliasName),
        target_key_id: keyId,
        creation_date: Date.now(),
      })
      .execute();
  }

  private async customerKey(
    scope: Scope,
    keyReference: string,
    db: Executor = this.store.db,
  ): Promise<KmsKey> {
    const key = await this.findKey(scope, keyReference, db);
    if (key.keyManager === 'AWS') {
      throw jsonError(
        'UnsupportedOperationException',
        `${key.arn} is an AWS managed key and cannot be changed.`,
      );
    }
    return key;
  }

  private async update(
    key: KmsKey,
    changes: Partial<Pick<KmsKeyTable, 'policy' | 'rotation_period_days' | 'description' | 'tags'>>,
    db: Executor = this.store.db,
  ): Promise<void> {
    await db.updateTable('kms_keys').set(changes).where('key_id', '=', key.keyId).execute();
  }

  /** The key an alias may point at: a customer managed key, named by id or ARN, not deleted. */
  private async aliasTarget(scope: Scope, targetKeyReference: string, trx: Executor) {
    if (isAliasReference(targetKeyReference)) {
      throw jsonError(
        'ValidationException',
        'TargetKeyId must be a key id or key ARN: an alias cannot point to another alias.',
      );
    }
    const key = await this.findKey(scope, targetKeyReference, trx);
    if (key.keyManager === 'AWS') {
      throw jsonError('NotAuthorizedException', 'An alias cannot point to an AWS managed key.');
    }
    this.refuseIfPendingDeletion(key);
    return key;
  }

  private refuseIfPendingDeletion(key: KmsKey): void {
    if (key.keyState === 'PendingDeletion') {
      throw jsonError('KMSInvalidStateException', `${key.arn} is pending deletion.`);
    }
  }

  private async setState(key: KmsKey, state: KeyState, deletionDate: number | null): Promise<void> {
    await this.store.db
      .updateTable('kms_keys')
      .set({ key_state: state, deletion_date: deletionDate })
      .where('key_id', '=', key.keyId)
      .execute();
    this.dataPlane.changed({ kind: 'key', keyId: key.keyId });
  }
}

function isAliasReference(reference: string): boolean {
  const arn = parseArn(reference);
  return (arn ? arn.resource : reference).startsWith('alias/');
}

function toKey(row: KmsKeyTable): KmsKey {
  return {
    keyId: row.key_id,
    arn: row.arn,
    accountId: row.account_id,
    region: row.region,
    description: row.description,
    keyState: row.key_state as KeyState,
    keyManager: row.key_manager as KeyManager,
    keyUsage: row.key_usage,
    keySpec: row.key_spec,
    creationDate: Number(row.creation_date),
    deletionDate: row.deletion_date === null ? null : Number(row.deletion_date),
    tags: JSON.parse(row.tags) as KeyTag[],
    policy: row.policy,
    rotationPeriodDays: row.rotation_period_days === null ? null : Number(row.rotation_period_days),
  };
}

/** A key policy must be a JSON object of at most 32 KB, as KMS requires. */
function requirePolicyDocument(policy: string): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(policy);
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw jsonError('MalformedPolicyDocumentException', 'The key policy must be a JSON object.');
  }
  if (Buffer.byteLength(policy, 'utf8') > 32 * 1024) {
    throw jsonError('LimitExceededException', 'The key policy is larger than 32 KB.');
  }
}

/** An alias name the caller may create, point elsewhere or delete. */
function refuseReservedAlias(aliasName: string): void {
  if (!/^alias\/[a-zA-Z0-9/_-]{1,250}$/.test(aliasName)) {
    throw jsonError(
      'ValidationException',
      `Alias name '${aliasName}' is not valid: it must begin with 'alias/' followed by ` +
        'letters, digits, slashes, underscores or dashes (a name, not an alias ARN).',
    );
  }
  if (aliasName.startsWith('alias/aws/')) {
    throw jsonError(
      'NotAuthorizedException',
      `Alias names that begin with 'alias/aws/' are reserved for AWS managed keys.`,
    );
  }
}

function aliasNotFound(scope: Scope, aliasName: string): ServiceError {
  return jsonError('NotFoundException', `Alias ${kmsAliasArn(scope, aliasName)} is not found.`);
}

function aliasExists(scope: Scope, aliasName: string): ServiceError {
  return jsonError(
    'AlreadyExistsException',
    `An alias with the name ${kmsAliasArn(scope, aliasName)} already exists`,
  );
}
