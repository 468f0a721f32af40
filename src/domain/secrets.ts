import { randomUUID } from 'node:crypto';

import { parseArn, partitionOf, secretArn, type Scope } from './arn.js';
import { jsonError, ServiceError } from './errors.js';
import {
  SECRETS_MANAGER_DEFAULT_ALIAS,
  type KeyReader,
  type KeyService,
  type KmsKey,
} from './keys.js';
import { noDataPlane, type DataPlaneHook } from './sync.js';
import { newKey, open, seal } from '../crypto/envelope.js';
import type { SecretTable, SecretVersionTable } from '../store/schema.js';
import { isUniqueViolation } from '../store/errors.js';
import type { Executor, Store } from '../store/store.js';

export const AWSCURRENT = 'AWSCURRENT';
export const AWSPREVIOUS = 'AWSPREVIOUS';
/** The versions a change of key seals again under the new key, as Secrets Manager does. */
const RE_ENCRYPTED_STAGES = new Set([AWSCURRENT, 'AWSPENDING', AWSPREVIOUS]);
const DAY_MS = 24 * 60 * 60 * 1000;
const NAME_PATTERN = /^[A-Za-z0-9/_+=.@-]{1,512}$/;

export interface Tag {
  Key: string;
  Value: string;
}

export interface Secret {
  arn: string;
  name: string;
  accountId: string;
  region: string;
  description: string | null;
  kmsKeyId: string | null;
  createdDate: number;
  lastChangedDate: number;
  lastAccessedDate: number | null;
  deletedDate: number | null;
  resourcePolicy: string | null;
  tags: Tag[];
}

export interface SecretVersion {
  versionId: string;
  createdDate: number;
  stages: string[];
  keyId: string;
}

export type SecretValue = { kind: 'string'; value: string } | { kind: 'binary'; value: Buffer };

export interface SecretListFilter {
  key: string;
  values: string[];
}

export type SecretSortKey = 'created-date' | 'last-accessed-date' | 'last-changed-date' | 'name';

const SORT_COLUMNS = {
  'created-date': 'created_date',
  'last-accessed-date': 'last_accessed_date',
  'last-changed-date': 'last_changed_date',
  name: 'name',
} as const;

/**
 * The built-in Secrets Manager: secrets, their versions and staging labels, values encrypted
 * under the KMS key each secret names (a fresh data key per version, wrapped by the key's
 * material), scheduled deletion and restore, resource policies and tags.
 */
export class SecretService {
  constructor(
    private readonly store: Store,
    private readonly keys: KeyService,
    private readonly dataPlane: DataPlaneHook = noDataPlane,
  ) {}

  async createSecret(
    scope: Scope,
    input: {
      name: string;
      description?: string;
      kmsKeyId?: string;
      value?: SecretValue;
      clientRequestToken?: string;
      tags?: Tag[];
    },
  ): Promise<{ secret: Secret; versionId?: string }> {
    if (!NAME_PATTERN.test(input.name)) {
      throw jsonError(
        'ValidationException',
        'Name must be 1 to 512 characters of letters, digits and /_+=.@-',
      );
    }
    if (input.kmsKeyId === undefined) await this.keys.ensureDefaultSecretsManagerKey(scope);
    try {
      return await this.createOnce(scope, input);
    } catch (error) {
      // A concurrent create of the same name won the race: decide again, now that it is there.
      if (!isUniqueViolation(error)) throw error;
      return this.createOnce(scope, input);
    }
  }

  private async createOnce(
    scope: Scope,
    input: Parameters<SecretService['createSecret']>[1],
  ): Promise<{ secret: Secret; versionId?: string }> {
    return this.store.transaction(async (trx) => {
      await this.purgeExpired(scope, trx);
      const existing = await trx
        .selectFrom('secrets')
        .selectAll()
        .where('account_id', '=', scope.accountId)
        .where('region', '=', scope.region)
        .where('name', '=', input.name)
        .executeTakeFirst();
      if (existing?.deleted_date != null) {
        throw jsonError(
          'InvalidRequestException',
          "You can't create this secret because a secret with this name is already scheduled " +
            'for deletion. Restore it with RestoreSecret, or delete it with ' +
            'ForceDeleteWithoutRecovery first.',
        );
      }
      if (existing) {
        const retried = await this.retriedCreate(scope, toSecret(existing), input, trx);
        if (retried) return retried;
        throw jsonError(
          'ResourceExistsException',
          `The operation failed because the secret ${input.name} already exists.`,
        );
      }
      if (input.kmsKeyId !== undefined) await this.usableKey(scope, input.kmsKeyId, trx);

      const now = Date.now();
      const row: SecretTable = {
        arn: secretArn(scope, input.name),
        account_id: scope.accountId,
        region: scope.region,
        name: input.name,
        description: input.description ?? null,
        kms_key_id: input.kmsKeyId ?? null,
        created_date: now,
        last_changed_date: now,
        last_accessed_date: null,
        deleted_date: null,
        resource_policy: null,
        tags: JSON.stringify(input.tags ?? []),
      };
      await trx.insertInto('secrets').values(row).execute();
      const secret = toSecret(row);
      if (!input.value) return { secret };
      const versionId = input.clientRequestToken ?? randomUUID();
      await this.addVersion(secret, versionId, input.value, [AWSCURRENT], trx);
      return { secret, versionId };
    });
  }

  /**
   * A CreateSecret sent again with the same ClientRequestToken and value, as SDKs do when a
   * response is lost, answers as the first one did instead of failing on the existing name.
   */
  private async retriedCreate(
    scope: Scope,
    secret: Secret,
    input: { value?: SecretValue; clientRequestToken?: string },
    trx: Executor,
  ): Promise<{ secret: Secret; versionId: string } | undefined> {
    const versionId = input.clientRequestToken;
    if (versionId === undefined || input.value === undefined) return undefined;
    const repeated = await this.repeatedVersion(scope, secret, versionId, input.value, trx);
    return repeated === undefined ? undefined : { secret, versionId };
  }

  /**
   * The staging labels of the version a ClientRequestToken already made, when a request
   * repeats that token with the same value; the same token with another value is refused,
   * because a version, once written, never changes.
   */
  private async repeatedVersion(
    scope: Scope,
    secret: Secret,
    versionId: string,
    value: SecretValue,
    trx: Executor,
  ): Promise<string[] | undefined> {
    const existing = await trx
      .selectFrom('secret_versions')
      .select('stages')
      .where('secret_arn', '=', secret.arn)
      .where('version_id', '=', versionId)
      .executeTakeFirst();
    if (!existing) return undefined;
    const stored = await this.getValue(scope, secret.arn, { versionId }, trx);
    if (!sameValue(stored.value, value)) {
      throw jsonError(
        'ResourceExistsException',
        `A version with ClientRequestToken ${versionId} already exists with a different ` +
          'value. Use a new ClientRequestToken for a new value.',
      );
    }
    return JSON.parse(existing.stages) as string[];
  }

  /** A secret of this scope, by name, full ARN or ARN without its random suffix. */
  async findSecret(
    scope: Scope,
    secretId: string,
    options: { allowDeleted?: boolean } = {},
    db: Executor = this.store.db,
  ): Promise<Secret> {
    const row = await this.lookup(scope, secretId, db);
    if (!row || isExpired(row)) {
      throw jsonError(
        'ResourceNotFoundException',
        "Secrets Manager can't find the specified secret.",
      );
    }
    if (row.deleted_date !== null && !options.allowDeleted) {
      throw jsonError(
        'InvalidRequestException',
        "You can't perform this operation on the secret because it was marked for deletion.",
      );
    }
    return toSecret(row);
  }

  async versions(secret: Secret, db: Executor = this.store.db): Promise<SecretVersion[]> {
    const rows = await db
      .selectFrom('secret_versions')
      .select(['version_id', 'created_date', 'stages', 'key_id'])
      .where('secret_arn', '=', secret.arn)
      .orderBy('created_date', 'desc')
      .orderBy('version_id')
      .execute();
    return rows.map((row) => ({
      versionId: row.version_id,
      createdDate: Number(row.created_date),
      stages: JSON.parse(row.stages) as string[],
      keyId: row.key_id,
    }));
  }

  /** Decrypts one version's value; refuses when the key that protects it is not enabled. */
  async getValue(
    scope: Scope,
    secretId: string,
    selector: { versionId?: string; versionStage?: string },
    db: Executor = this.store.db,
  ): Promise<{ secret: Secret; version: SecretVersion; value: SecretValue }> {
    const secret = await this.findSecret(scope, secretId, {}, db);
    return this.valueOf(scope, secret, selector, db);
  }

  /**
   * `getValue` of a secret already found. A batch that read the secret's versions already
   * passes them, and may pass its own reader of the same keys (one that reads each key once).
   */
  async valueOf(
    scope: Scope,
    secret: Secret,
    selector: { versionId?: string; versionStage?: string },
    db: Executor = this.store.db,
    keys: KeyReader = this.keys,
    versions?: SecretVersionTable[],
  ): Promise<{ secret: Secret; version: SecretVersion; value: SecretValue }> {
    const row = pickVersion(
      versions ?? (await this.versionRows([secret.arn], db)).get(secret.arn) ?? [],
      selector,
    );
    const key = await keys.findKey(scope, row.key_id, db);
    if (key.keyState !== 'Enabled') {
      throw jsonError(
        'DecryptionFailure',
        `Secrets Manager can't decrypt the secret value: the KMS key ${key.arn} is ` +
          `${describeKeyState(key)}. Enable the key, then retry.`,
      );
    }
    const dataKey = open(await keys.material(key, db), Buffer.from(row.wrapped_data_key), key.arn);
    const plaintext = open(
      dataKey,
      Buffer.from(row.encrypted_value),
      `${secret.arn}/${row.version_id}`,
    );
    const value: SecretValue =
      row.value_kind === 'binary'
        ? { kind: 'binary', value: plaintext }
        : { kind: 'string', value: plaintext.toString('utf8') };
    const version = {
      versionId: row.version_id,
      createdDate: Number(row.created_date),
      stages: JSON.parse(row.stages) as string[],
      keyId: row.key_id,
    };
    return { secret, version, value };
  }

  async touchAccessed(secret: Secret): Promise<void> {
    const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
    if (secret.lastAccessedDate === today) return;
    await this.store.db
      .updateTable('secrets')
      .set({ last_accessed_date: today })
      .where('arn', '=', secret.arn)
      .execute();
  }

  async putValue(
    scope: Scope,
    secretId: string,
    input: { value: SecretValue; clientRequestToken?: string; versionStages?: string[] },
  ): Promise<{ secret: Secret; versionId: string; stages: string[] }> {
    const result = await this.store.transaction(async (trx) => {
      const secret = await this.findSecret(scope, secretId, {}, trx);
      const versionId = input.clientRequestToken ?? randomUUID();
      const stages = input.versionStages ?? [AWSCURRENT];
      const repeated = await this.repeatedVersion(scope, secret, versionId, input.value, trx);
      if (repeated) return { secret, versionId, stages: repeated };
      await this.addVersion(secret, versionId, input.value, stages, trx);
      await trx
        .updateTable('secrets')
        .set({ last_changed_date: Date.now() })
        .where('arn', '=', secret.arn)
        .execute();
      return { secret, versionId, stages };
    });
    this.dataPlane.changed({ kind: 'secret', secretArn: result.secret.arn });
    return result;
  }

  async updateSecret(
    scope: Scope,
    secretId: string,
    input: {
      description?: string;
      kmsKeyId?: string;
      value?: SecretValue;
      clientRequestToken?: string;
    },
  ): Promise<{ secret: Secret; versionId?: string }> {
    const result = await this.store.transaction(async (trx) => {
      const secret = await this.findSecret(scope, secretId, {}, trx);
      const newKey =
        input.kmsKeyId === undefined ? undefined : await this.usableKey(scope, input.kmsKeyId, trx);
      const changes: Partial<SecretTable> = { last_changed_date: Date.now() };
      if (input.description !== undefined) changes.description = input.description;
      if (input.kmsKeyId !== undefined) changes.kms_key_id = input.kmsKeyId;
      await trx.updateTable('secrets').set(changes).where('arn', '=', secret.arn).execute();
      if (newKey) await this.rewrapStagedVersions(scope, secret, newKey, trx);
      const updated = { ...secret, kmsKeyId: input.kmsKeyId ?? secret.kmsKeyId };
      if (!input.value) return { secret: updated };
      const versionId = input.clientRequestToken ?? randomUUID();
      if (await this.repeatedVersion(scope, secret, versionId, input.value, trx)) {
        return { secret: updated, versionId };
      }
      await this.addVersion(updated, versionId, input.value, [AWSCURRENT], trx);
      return { secret: updated, versionId };
    });
    this.dataPlane.changed({ kind: 'secret', secretArn: result.secret.arn });
    return result;
  }

  async deleteSecret(
    scope: Scope,
    secretId: string,
    input: { recoveryWindowInDays?: number; forceDeleteWithoutRecovery?: boolean },
  ): Promise<{ secret: Secret; deletionDate: number }> {
    if (input.recoveryWindowInDays !== undefined && input.forceDeleteWithoutRecovery) {
      throw jsonError(
        'InvalidParameterException',
        "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
      );
    }
    const days = input.recoveryWindowInDays ?? 30;
    if (!Number.isInteger(days) || days < 7 || days > 30) {
      throw jsonError(
        'InvalidParameterException',
        'RecoveryWindowInDays must be a whole number from 7 to 30.',
      );
    }
    const result = await this.store.transaction(async (trx) => {
      const secret = await this.findSecret(scope, secretId, { allowDeleted: true }, trx);
      if (input.forceDeleteWithoutRecovery) {
        await trx.deleteFrom('secrets').where('arn', '=', secret.arn).execute();
        return { secret, deletionDate: Date.now() };
      }
      if (secret.deletedDate !== null) {
        throw jsonError(
          'InvalidRequestException',
          'The secret is already scheduled for deletion. Restore it with RestoreSecret first.',
        );
      }
      const deletionDate = Date.now() + days * DAY_MS;
      await trx
        .updateTable('secrets')
        .set({ deleted_date: deletionDate })
        .where('arn', '=', secret.arn)
        .execute();
      return { secret, deletionDate };
    });
    this.dataPlane.changed({ kind: 'secret', secretArn: result.secret.arn });
    return result;
  }

  async restoreSecret(scope: Scope, secretId: string): Promise<Secret> {
    const secret = await this.findSecret(scope, secretId, { allowDeleted: true });
    await this.store.db
      .updateTable('secrets')
      .set({ deleted_date: null })
      .where('arn', '=', secret.arn)
      .execute();
    this.dataPlane.changed({ kind: 'secret', secretArn: secret.arn });
    return { ...secret, deletedDate: null };
  }

  async listSecrets(
    scope: Scope,
    input: {
      filters: SecretListFilter[];
      includePlannedDeletion: boolean;
      descending: boolean;
      sortBy?: SecretSortKey;
    },
  ): Promise<Secret[]> {
    await this.purgeExpired(scope, this.store.db);
    const direction = input.descending ? 'desc' : 'asc';
    let query = this.store.db
      .selectFrom('secrets')
      .selectAll()
      .where('account_id', '=', scope.accountId)
      .where('region', '=', scope.region)
      .orderBy(SORT_COLUMNS[input.sortBy ?? 'created-date'], direction)
      .orderBy('arn', direction);
    if (!input.includePlannedDeletion) query = query.where('deleted_date', 'is', null);
    const secrets = (await query.execute()).map(toSecret);
    return secrets.filter((secret) =>
      input.filters.every((filter) => matchesFilter(secret, filter)),
    );
  }

  async setResourcePolicy(scope: Scope, secretId: string, policy: string | null): Promise<Secret> {
    const secret = await this.findSecret(scope, secretId, { allowDeleted: true });
    await this.store.db
      .updateTable('secrets')
      .set({ resource_policy: policy })
      .where('arn', '=', secret.arn)
      .execute();
    return { ...secret, resourcePolicy: policy };
  }

  async setTags(scope: Scope, secretId: string, change: (tags: Tag[]) => Tag[]): Promise<void> {
    await this.store.transaction(async (trx) => {
      const secret = await this.findSecret(scope, secretId, { allowDeleted: true }, trx);
      await trx
        .updateTable('secrets')
        .set({ tags: JSON.stringify(change(secret.tags)) })
        .where('arn', '=', secret.arn)
        .execute();
    });
  }

  /** The KMS key a secret is encrypted under: the one it names, or the account's default. */
  async keyOf(scope: Scope, secret: Secret, db: Executor = this.store.db): Promise<KmsKey> {
    if (secret.kmsKeyId === null) return this.keys.defaultSecretsManagerKey(scope, db);
    return this.keys.findKey(scope, secret.kmsKeyId, db);
  }

  private async usableKey(scope: Scope, reference: string, db: Executor): Promise<KmsKey> {
    // Named, the AWS managed key is made on first use, as when no key is named at all.
    const defaultAliasArn =
      `arn:${partitionOf(scope.region)}:kms:${scope.region}:${scope.accountId}:` +
      SECRETS_MANAGER_DEFAULT_ALIAS;
    if (reference === SECRETS_MANAGER_DEFAULT_ALIAS || reference === defaultAliasArn) {
      return this.keys.defaultSecretsManagerKey(scope, db);
    }
    let key: KmsKey;
    try {
      key = await this.keys.findKey(scope, reference, db);
    } catch {
      throw jsonError(
        'InvalidParameterException',
        `The KMS key ${reference} does not exist in this account and region.`,
      );
    }
    if (key.keyState !== 'Enabled') {
      throw jsonError(
        'EncryptionFailure',
        `Secrets Manager can't encrypt with the KMS key ${key.arn}: it is ` +
          `${describeKeyState(key)}.`,
      );
    }
    return key;
  }

  /**
   * A new key for a secret also seals its AWSCURRENT, AWSPENDING and AWSPREVIOUS versions, as
   * Secrets Manager re-encrypts them: retiring the old key then loses none of them. A version
   * whose key can no longer decrypt (disabled, pending deletion) is left as it is, as Secrets
   * Manager leaves those it cannot decrypt; other versions keep their keys.
   */
  private async rewrapStagedVersions(
    scope: Scope,
    secret: Secret,
    newKey: KmsKey,
    trx: Executor,
  ): Promise<void> {
    const rows = await trx
      .selectFrom('secret_versions')
      .select(['version_id', 'stages', 'key_id', 'wrapped_data_key'])
      .where('secret_arn', '=', secret.arn)
      .where('key_id', '!=', newKey.keyId)
      .execute();
    const newMaterial = await this.keys.material(newKey, trx);
    for (const row of rows) {
      const stages = JSON.parse(row.stages) as string[];
      if (!stages.some((stage) => RE_ENCRYPTED_STAGES.has(stage))) continue;
      const oldKey = await this.keys.findKey(scope, row.key_id, trx).catch(() => undefined);
      if (oldKey?.keyState !== 'Enabled') continue;
      const dataKey = open(
        await this.keys.material(oldKey, trx),
        Buffer.from(row.wrapped_data_key),
        oldKey.arn,
      );
      await trx
        .updateTable('secret_versions')
        .set({ key_id: newKey.keyId, wrapped_data_key: seal(newMaterial, dataKey, newKey.arn) })
        .where('secret_arn', '=', secret.arn)
        .where('version_id', '=', row.version_id)
        .execute();
    }
  }

  private async addVersion(
    secret: Secret,
    versionId: string,
    value: SecretValue,
    stages: string[],
    trx: Executor,
  ): Promise<void> {
    // KMS's own NotFoundException is no Secrets Manager error: a key the secret names that is
    // gone (an alias deleted since) is a failure to encrypt, as a disabled one is.
    const key = await this.keyOf(secret, secret, trx).catch((error: unknown) => {
      if (!(error instanceof ServiceError) || error.type !== 'NotFoundException') throw error;
      throw jsonError(
        'EncryptionFailure',
        `Secrets Manager can't encrypt with the KMS key ${secret.kmsKeyId}: it does not exist ` +
          'in this account and region. Point the secret at a key with UpdateSecret.',
      );
    });
    if (key.keyState !== 'Enabled') {
      throw jsonError(
        'EncryptionFailure',
        `Secrets Manager can't encrypt with the KMS key ${key.arn}: it is ` +
          `${describeKeyState(key)}.`,
      );
    }
    const dataKey = newKey();
    const plaintext = value.kind === 'binary' ? value.value : Buffer.from(value.value, 'utf8');
    for (const stage of stages) await this.takeStage(secret, stage, trx);
    await trx
      .insertInto('secret_versions')
      .values({
        secret_arn: secret.arn,
        version_id: versionId,
        created_date: Date.now(),
        stages: JSON.stringify(stages),
        value_kind: value.kind,
        key_id: key.keyId,
        wrapped_data_key: seal(await this.keys.material(key, trx), dataKey, key.arn),
        encrypted_value: seal(dataKey, plaintext, `${secret.arn}/${versionId}`),
      })
      .execute();
  }

  /** Moves a staging label off whichever version holds it; AWSCURRENT leaves AWSPREVIOUS behind. */
  private async takeStage(secret: Secret, stage: string, trx: Executor): Promise<void> {
    const versions = await this.versions(secret, trx);
    for (const version of versions) {
      if (stage === AWSCURRENT && version.stages.includes(AWSPREVIOUS)) {
        await this.writeStages(
          secret,
          version.versionId,
          version.stages.filter((s) => s !== AWSPREVIOUS),
          trx,
        );
      }
    }
    for (const version of versions) {
      if (!version.stages.includes(stage)) continue;
      let stages = version.stages.filter((s) => s !== stage);
      if (stage === AWSCURRENT) stages = [...stages.filter((s) => s !== AWSPREVIOUS), AWSPREVIOUS];
      await this.writeStages(secret, version.versionId, stages, trx);
    }
  }

  private async writeStages(
    secret: Secret,
    versionId: string,
    stages: string[],
    trx: Executor,
  ): Promise<void> {
    await trx
      .updateTable('secret_versions')
      .set({ stages: JSON.stringify(stages) })
      .where('secret_arn', '=', secret.arn)
      .where('version_id', '=', versionId)
      .execute();
  }

  /**
   * Secrets of this scope by their full ARNs, in one query, for a batch: deleted ones too, not
   * those past their deletion date. An ARN not among them may still name a secret by its
   * name; `findSecret` tells.
   */
  async findByArns(scope: Scope, arns: string[], db: Executor): Promise<Map<string, Secret>> {
    if (arns.length === 0) return new Map();
    const rows = await db
      .selectFrom('secrets')
      .selectAll()
      .where('account_id', '=', scope.accountId)
      .where('region', '=', scope.region)
      .where('arn', 'in', arns)
      .execute();
    return new Map(rows.filter((row) => !isExpired(row)).map((row) => [row.arn, toSecret(row)]));
  }

  /** The versions of these secrets, in one query, by secret ARN. */
  async versionRows(arns: string[], db: Executor): Promise<Map<string, SecretVersionTable[]>> {
    const bySecret = new Map<string, SecretVersionTable[]>();
    if (arns.length === 0) return bySecret;
    const rows = await db
      .selectFrom('secret_versions')
      .selectAll()
      .where('secret_arn', 'in', arns)
      .execute();
    for (const row of rows) {
      const list = bySecret.get(row.secret_arn);
      if (list) list.push(row);
      else bySecret.set(row.secret_arn, [row]);
    }
    return bySecret;
  }

  private async lookup(
    scope: Scope,
    secretId: string,
    db: Executor,
  ): Promise<SecretTable | undefined> {
    const base = db
      .selectFrom('secrets')
      .selectAll()
      .where('account_id', '=', scope.accountId)
      .where('region', '=', scope.region);
    const arn = parseArn(secretId);
    if (!arn) return base.where('name', '=', secretId).executeTakeFirst();
    if (
      arn.service !== 'secretsmanager' ||
      arn.accountId !== scope.accountId ||
      arn.region !== scope.region ||
      !arn.resource.startsWith('secret:')
    ) {
      return undefined;
    }
    const exact = await base.where('arn', '=', secretId).executeTakeFirst();
    if (exact) return exact;
    // An ARN without the random suffix names the secret by its name, as in AWS.
    return base.where('name', '=', arn.resource.slice('secret:'.length)).executeTakeFirst();
  }

  private async purgeExpired(scope: Scope, db: Executor): Promise<void> {
    await db
      .deleteFrom('secrets')
      .where('account_id', '=', scope.accountId)
      .where('region', '=', scope.region)
      .where('deleted_date', '<=', Date.now())
      .execute();
  }
}

/** The version a selector names: by id, by staging label, or AWSCURRENT. */
function pickVersion(
  rows: SecretVersionTable[],
  selector: { versionId?: string; versionStage?: string },
): SecretVersionTable {
  const stage = selector.versionStage ?? (selector.versionId ? undefined : AWSCURRENT);
  const row = rows.find(
    (candidate) =>
      (selector.versionId === undefined || candidate.version_id === selector.versionId) &&
      (stage === undefined || (JSON.parse(candidate.stages) as string[]).includes(stage)),
  );
  if (!row) {
    throw jsonError(
      'ResourceNotFoundException',
      "Secrets Manager can't find the specified secret value for " +
        (selector.versionId ? `VersionId: ${selector.versionId}` : `staging label: ${stage}`),
    );
  }
  return row;
}

export function describeKeyState(key: KmsKey): string {
  return key.keyState === 'PendingDeletion' ? 'pending deletion' : key.keyState.toLowerCase();
}

function isExpired(row: SecretTable): boolean {
  return row.deleted_date !== null && Number(row.deleted_date) <= Date.now();
}

function sameValue(a: SecretValue, b: SecretValue): boolean {
  if (a.kind !== b.kind) return false;
  return a.kind === 'string' ? a.value === b.value : a.value.equals(b.value as Buffer);
}

/**
 * Secrets Manager's filter rules: every key is a prefix match; description and `all` ignore
 * case, the others do not; `all` splits the value into words and looks for each in every
 * attribute; a value starting with `!` excludes what it matches.
 */
function matchesFilter(secret: Secret, filter: SecretListFilter): boolean {
  const fields: Record<string, string[]> = {
    name: [secret.name],
    description: secret.description === null ? [] : [secret.description],
    'tag-key': secret.tags.map((tag) => tag.Key),
    'tag-value': secret.tags.map((tag) => tag.Value),
    'primary-region': [secret.region],
    'owning-service': [],
  };
  const everyField = filter.key === 'all';
  const ignoreCase = everyField || filter.key === 'description';
  const fold = (text: string): string => (ignoreCase ? text.toLowerCase() : text);
  const candidates = (
    everyField ? Object.values(fields).flat().flatMap(wordsAndWhole) : (fields[filter.key] ?? [])
  ).map(fold);
  const matches = (value: string): boolean => {
    const terms = everyField ? value.split(/\s+/).filter((term) => term !== '') : [value];
    return terms.every((term) => candidates.some((candidate) => candidate.startsWith(fold(term))));
  };
  const positive = filter.values.filter((value) => !value.startsWith('!'));
  const negative = filter.values
    .filter((value) => value.startsWith('!'))
    .map((value) => value.slice(1));
  if (negative.some(matches)) return false;
  return positive.length === 0 || positive.some(matches);
}

function wordsAndWhole(text: string): string[] {
  return [text, ...text.split(/[^A-Za-z0-9]+/).filter((word) => word !== '' && word !== text)];
}

function toSecret(row: SecretTable): Secret {
  return {
    arn: row.arn,
    name: row.name,
    accountId: row.account_id,
    region: row.region,
    description: row.description,
    kmsKeyId: row.kms_key_id,
    createdDate: Number(row.created_date),
    lastChangedDate: Number(row.last_changed_date),
    lastAccessedDate: row.last_accessed_date === null ? null : Number(row.last_accessed_date),
    deletedDate: row.deleted_date === null ? null : Number(row.deleted_date),
    resourcePolicy: row.resource_policy,
    tags: JSON.parse(row.tags) as Tag[],
  };
}
