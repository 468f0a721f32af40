import { setTimeout as sleep } from 'node:timers/promises';

import { sql, type Kysely } from 'kysely';

import { parseArn, type Scope } from './arn.js';
import type { RequestContext } from './context.js';
import { requireClusterArn, type Cluster, type ClusterService } from './clusters.js';
import { badRequest, serviceUnavailable, ServiceError } from './errors.js';
import type { KeyService } from './keys.js';
import type { PageTokens } from './paging.js';
import { noDataPlane, type DataPlaneHook } from './sync.js';
import type { SecretService } from './secrets.js';
import type { AwsSecretSource } from '../sources/aws.js';
import { BuiltinSecretFacts } from '../sources/builtin.js';
import { SecretSources } from '../sources/registry.js';
import { SourceFailure, SourceUnavailableError, type SecretFacts } from '../sources/source.js';
import { ReusableQuery, type SlotFor } from '../store/reusable-query.js';
import type { Database } from '../store/schema.js';
import type { Executor, Store } from '../store/store.js';

/** MSK accepts only secrets whose names carry this prefix. */
export const SECRET_NAME_PREFIX = 'AmazonMSK_';
export const MAX_SECRETS_PER_CLUSTER = 1000;
export const MAX_SECRETS_PER_BATCH = 10;
/** Page sizes whose queries are kept compiled; ListScramSecrets allows 1 to 100. */
const MAX_COMPILED_PAGE_SIZES = 100;

/**
 * Why a secret was not associated or disassociated. `InvalidSecretArn` is the code MSK itself
 * uses for a secret it cannot use or reach; the others name the rule that failed.
 */
export type UnprocessedCode =
  | 'InvalidSecretArn'
  | 'InvalidKmsKey'
  | 'InvalidSecretValue'
  | 'DuplicateUsername'
  | 'ClusterSecretLimitExceeded';

export interface UnprocessedScramSecret {
  secretArn: string;
  errorCode: UnprocessedCode;
  errorMessage: string;
}

export interface BatchResult {
  clusterArn: string;
  unprocessedScramSecrets: UnprocessedScramSecret[];
}

class Refusal extends Error {
  constructor(
    readonly code: UnprocessedCode,
    message: string,
  ) {
    super(message);
  }
}

const KAFKA_POLICY_SID = 'AWSKafkaResourcePolicy';
/** How long a caller is asked to wait when the secret source cannot be reached. */
const SOURCE_RETRY_AFTER_SECONDS = 5;

/** What an external source said about one secret, gathered before the batch's transaction. */
type Judged = Map<string, string | Refusal>;

/** A row the batch's transaction wrote; its time tells it from a later batch's row. */
interface AddedAssociation {
  secretArn: string;
  createdAt: number;
}

/**
 * The Scram Secrets resource: which secrets are associated with which cluster, and the rules
 * MSK applies before it accepts one. A batch is decided and written in one transaction that
 * holds the cluster's lock, so concurrent batches never exceed the limit or duplicate a user.
 * With an external secret source, every secret is examined before that transaction and the
 * cluster's read grant is attached after it, so that no network call is made while the lock
 * is held, an unreachable source writes nothing, and only associated secrets get the grant.
 */
export class ScramSecretService {
  /** Listing is the busiest call of all, so its queries are compiled once per page size. */
  private readonly pageQueries = new Map<number, PageQueries>();

  constructor(
    private readonly store: Store,
    private readonly clusters: ClusterService,
    private readonly secrets: SecretService,
    private readonly tokens: PageTokens,
    private readonly keys: KeyService,
    private readonly dataPlane: DataPlaneHook = noDataPlane,
    private readonly sources: SecretSources = new SecretSources(),
  ) {}

  async associate(
    context: RequestContext,
    clusterArn: string,
    secretArnList: string[],
  ): Promise<BatchResult> {
    const source = this.sources.externalFor(context);
    const judged = source
      ? await this.judgeExternally(context, source, clusterArn, secretArnList)
      : undefined;
    const { result, added } = await this.store.transaction(async (trx) => {
      const cluster = await this.clusters.findCluster(context, clusterArn, trx);
      requireScramReady(cluster);
      await this.clusters.lockCluster(trx, cluster.arn);

      const batch = unique(secretArnList);
      const associated = await this.associatedAmong(cluster.arn, batch, trx);
      // The built-in secrets are read in this transaction, each once for the whole batch.
      const judge = judged ?? new BuiltinSecretFacts(this.secrets, this.keys, trx);
      if (judge instanceof BuiltinSecretFacts) {
        await judge.prefetch(
          cluster,
          batch.filter((secretArn) => !associated.has(secretArn)),
        );
      }
      // Each secret in the batch's order: first the rules of the secret itself...
      const outcomes: Array<Refusal | string | undefined> = [];
      for (const secretArn of batch) {
        outcomes.push(
          await this.usernameToAssociate(context, cluster, secretArn, associated, judge),
        );
      }
      // ...then those of the cluster: one user per username, and its limit.
      const rows = await this.admitToCluster(cluster.arn, batch, outcomes, trx);

      const createdAt = Date.now();
      if (rows.length > 0) {
        await trx
          .insertInto('scram_associations')
          .values(
            rows.map((row) => ({
              cluster_arn: cluster.arn,
              secret_arn: row.secretArn,
              username: row.username,
              created_at: createdAt,
            })),
          )
          .execute();
      }
      // An external secret gets its grant after the commit, from `grantAfterCommit`.
      if (judge instanceof BuiltinSecretFacts) {
        await this.grantClusterRead(
          rows.map((row) => row.secretArn),
          trx,
        );
      }
      const unprocessed: UnprocessedScramSecret[] = [];
      batch.forEach((secretArn, index) => {
        const outcome = outcomes[index];
        if (outcome instanceof Refusal) {
          unprocessed.push({ secretArn, errorCode: outcome.code, errorMessage: outcome.message });
        }
      });
      const added = rows.map((row): AddedAssociation => ({ secretArn: row.secretArn, createdAt }));
      return { result: { clusterArn: cluster.arn, unprocessedScramSecrets: unprocessed }, added };
    });
    if (source?.settings.attachResourcePolicy && added.length > 0) {
      const ungranted = await this.grantAfterCommit(source, result.clusterArn, added);
      result.unprocessedScramSecrets.push(...ungranted);
    }
    this.dataPlane.changed({ kind: 'associations', clusterArn: result.clusterArn });
    return result;
  }

  async disassociate(
    scope: Scope,
    clusterArn: string,
    secretArnList: string[],
  ): Promise<BatchResult> {
    const result = await this.store.transaction(async (trx) => {
      const cluster = await this.clusters.findCluster(scope, clusterArn, trx);
      await this.clusters.lockCluster(trx, cluster.arn);

      const unprocessed: UnprocessedScramSecret[] = [];
      const batch = unique(secretArnList);
      const removed = await this.removeAssociations(cluster.arn, batch, trx);
      for (const secretArn of batch) {
        if (!removed.has(secretArn)) {
          const cause = `The secret ${secretArn} is not associated with the cluster`;
          unprocessed.push({
            secretArn,
            errorCode: 'InvalidSecretArn',
            errorMessage: `${cause} ${cluster.arn}.`,
          });
        }
      }
      return { clusterArn: cluster.arn, unprocessedScramSecrets: unprocessed };
    });
    this.dataPlane.changed({ kind: 'associations', clusterArn: result.clusterArn });
    return result;
  }

  /**
   * One page of a cluster's secret ARNs, in ARN order; the token carries the last ARN seen.
   * The page is read in one query that also checks the cluster is the caller's; only an
   * empty page needs a second look, to tell an empty cluster from one the caller cannot see.
   */
  async list(
    scope: Scope,
    clusterArn: string,
    maxResults: number,
    nextToken?: string,
  ): Promise<{ secretArnList: string[]; nextToken?: string }> {
    requireClusterArn(clusterArn);
    const after =
      nextToken === undefined ? undefined : await this.pageStart(scope, clusterArn, nextToken);
    const queries = this.pageQueriesFor(maxResults + 1);
    const cluster = { clusterArn, accountId: scope.accountId, region: scope.region };
    const rows =
      after === undefined
        ? await queries.first.execute(this.store.db, cluster)
        : await queries.next.execute(this.store.db, { ...cluster, after });
    if (rows.length === 0) await this.clusters.findClusterArn(scope, clusterArn);

    // Built by push, not map: a packed array is what JSON.stringify serializes fastest.
    const page: string[] = [];
    for (let index = 0; index < rows.length && index < maxResults; index += 1) {
      page.push(rows[index]!.secret_arn);
    }
    if (rows.length <= maxResults) return { secretArnList: page };
    const lastArn = page[page.length - 1]!;
    return { secretArnList: page, nextToken: this.tokens.issue(listing(clusterArn), lastArn) };
  }

  /** Where a page begins; a cluster the caller cannot see is 404 before its token is judged. */
  private async pageStart(scope: Scope, clusterArn: string, nextToken: string): Promise<string> {
    try {
      return this.tokens.read(listing(clusterArn), nextToken, 'nextToken');
    } catch (error) {
      await this.clusters.findClusterArn(scope, clusterArn);
      throw error;
    }
  }

  private pageQueriesFor(limit: number): PageQueries {
    let queries = this.pageQueries.get(limit);
    if (queries === undefined) {
      if (this.pageQueries.size >= MAX_COMPILED_PAGE_SIZES) this.pageQueries.clear();
      queries = pageQueries(this.store.db, limit);
      this.pageQueries.set(limit, queries);
    }
    return queries;
  }

  /**
   * Examines every secret of the batch in an external source, in parallel (a batch holds at
   * most 10), except those already associated with the cluster, which need no call at all.
   * Refusals are kept for the transaction to report; an unreachable source fails the whole
   * call, before any write. Nothing is written to the source here: see `grantAfterCommit`.
   */
  private async judgeExternally(
    context: RequestContext,
    source: AwsSecretSource,
    clusterArn: string,
    secretArnList: string[],
  ): Promise<Judged> {
    const cluster = await this.clusters.findCluster(context, clusterArn);
    requireScramReady(cluster);
    const candidates = unique(secretArnList).filter((secretArn) => {
      try {
        requireUsableArn(context, cluster, secretArn);
        return true;
      } catch (error) {
        if (error instanceof Refusal) return false;
        throw error;
      }
    });
    const associated = await this.associatedAmong(cluster.arn, candidates);
    const toExamine = candidates.filter((secretArn) => !associated.has(secretArn));
    try {
      const verdicts = await Promise.all(
        toExamine.map(async (secretArn): Promise<[string, string | Refusal]> => {
          try {
            return [secretArn, await usernameOf(source, cluster, secretArn)];
          } catch (error) {
            if (error instanceof Refusal) return [secretArn, error];
            throw error;
          }
        }),
      );
      return new Map(verdicts);
    } catch (error) {
      if (!(error instanceof SourceUnavailableError)) throw error;
      throw serviceUnavailable(
        `Amazon MSK can't reach the secret source of account ${cluster.accountId}, region ` +
          `${cluster.region} (${error.reason}). Nothing was associated; retry the whole batch.`,
        SOURCE_RETRY_AFTER_SECONDS,
      );
    }
  }

  /** Which of the given secrets the cluster has already; they are judged no further. */
  private async associatedAmong(
    clusterArn: string,
    secretArns: string[],
    db: Executor = this.store.db,
  ): Promise<Set<string>> {
    if (secretArns.length === 0) return new Set();
    const rows = await db
      .selectFrom('scram_associations')
      .select('secret_arn')
      .where('cluster_arn', '=', clusterArn)
      .where('secret_arn', 'in', secretArns)
      .execute();
    return new Set(rows.map((row) => row.secret_arn));
  }

  /**
   * Attaches the cluster's read grant to each secret the batch has just associated in an
   * external source, retrying while the source throttles. A secret whose grant still cannot
   * be attached is disassociated again, in a second transaction, and reported unprocessed:
   * the answer never leaves a secret associated without the grant MSK would have given it.
   */
  private async grantAfterCommit(
    source: AwsSecretSource,
    clusterArn: string,
    added: AddedAssociation[],
  ): Promise<UnprocessedScramSecret[]> {
    const outcomes = await Promise.all(
      added.map(async (association) => {
        try {
          await withThrottlingRetries(() => grantExternally(source, association.secretArn));
          return undefined;
        } catch (error) {
          if (!(error instanceof SourceFailure || error instanceof SourceUnavailableError)) {
            throw error;
          }
          return { association, refusal: grantRefusal(association.secretArn, error) };
        }
      }),
    );
    const ungranted = outcomes.filter((outcome) => outcome !== undefined);
    if (ungranted.length === 0) return [];

    const undo = this.store.transaction(async (trx) => {
      await this.clusters.lockCluster(trx, clusterArn);
      for (const { association } of ungranted) {
        // Only the row this batch wrote: a later batch may have associated the secret anew.
        await trx
          .deleteFrom('scram_associations')
          .where('cluster_arn', '=', clusterArn)
          .where('secret_arn', '=', association.secretArn)
          .where('created_at', '=', association.createdAt)
          .execute();
      }
    });
    // A cluster deleted since took its associations with it: there is nothing to undo.
    await undo.catch((error: unknown) => {
      if (!(error instanceof ServiceError && error.type === 'NotFoundException')) throw error;
    });
    return ungranted.map(({ association, refusal }) => ({
      secretArn: association.secretArn,
      errorCode: refusal.code,
      errorMessage: refusal.message,
    }));
  }

  /**
   * The username a secret would be associated under, by the rules of the secret itself; its
   * refusal; or undefined when the cluster has it already. A secret is judged by the built-in
   * facts, read in the batch's transaction, or by the verdicts an external source gave before.
   */
  private async usernameToAssociate(
    context: RequestContext,
    cluster: Cluster,
    secretArn: string,
    associated: Set<string>,
    judge: Judged | BuiltinSecretFacts,
  ): Promise<Refusal | string | undefined> {
    try {
      requireUsableArn(context, cluster, secretArn);
      if (associated.has(secretArn)) return undefined;
      if (judge instanceof BuiltinSecretFacts) return await usernameOf(judge, cluster, secretArn);
      const verdict = judge.get(secretArn);
      // Judged as associated already, and disassociated by another call since.
      if (verdict === undefined) {
        return new Refusal(
          'InvalidSecretArn',
          `The secret ${secretArn} was disassociated by another call while this batch ran. ` +
            'Associate it again.',
        );
      }
      return verdict;
    } catch (error) {
      if (error instanceof Refusal) return error;
      throw error;
    }
  }

  /**
   * Of the secrets whose own rules passed (a username in `outcomes`), those the cluster takes,
   * in the batch's order: a username no association holds (nor an earlier secret of the
   * batch), while the cluster is under its limit. The others' outcomes become refusals.
   */
  private async admitToCluster(
    clusterArn: string,
    batch: string[],
    outcomes: Array<Refusal | string | undefined>,
    trx: Executor,
  ): Promise<Array<{ secretArn: string; username: string }>> {
    const usernames = outcomes.filter((outcome) => typeof outcome === 'string');
    const holders = await this.holdersOf(clusterArn, usernames, trx);
    let associatedCount = await this.countAssociations(clusterArn, trx);
    const admitted: Array<{ secretArn: string; username: string }> = [];
    batch.forEach((secretArn, index) => {
      const username = outcomes[index];
      if (typeof username !== 'string') return;
      const holder = holders.get(username);
      if (holder !== undefined) {
        outcomes[index] = new Refusal(
          'DuplicateUsername',
          `The username in this secret is already used by the associated secret ${holder}. ` +
            'Each username can belong to only one secret per cluster.',
        );
      } else if (associatedCount >= MAX_SECRETS_PER_CLUSTER) {
        outcomes[index] = new Refusal(
          'ClusterSecretLimitExceeded',
          `The cluster already has ${MAX_SECRETS_PER_CLUSTER} associated secrets, the most ` +
            'it can hold. Disassociate a secret before associating another.',
        );
      } else {
        holders.set(username, secretArn);
        associatedCount += 1;
        admitted.push({ secretArn, username });
      }
    });
    return admitted;
  }

  /** Which associated secrets hold these usernames in the cluster, by username. */
  private async holdersOf(
    clusterArn: string,
    usernames: string[],
    trx: Executor,
  ): Promise<Map<string, string>> {
    if (usernames.length === 0) return new Map();
    const rows = await trx
      .selectFrom('scram_associations')
      .select(['secret_arn', 'username'])
      .where('cluster_arn', '=', clusterArn)
      .where('username', 'in', unique(usernames))
      .execute();
    return new Map(rows.map((row) => [row.username, row.secret_arn]));
  }

  /**
   * MSK attaches a resource policy that lets the cluster read the secret; so do we. Each
   * policy is read again, locked, just before it is written: a PutResourcePolicy that
   * committed since the batch read the secret is kept, not overwritten. The rows are locked in
   * ARN order, so that batches naming the same secrets in other orders do not deadlock. (On
   * SQLite a write transaction already holds the whole database.)
   */
  private async grantClusterRead(secretArns: string[], trx: Executor): Promise<void> {
    if (secretArns.length === 0) return;
    let current = trx
      .selectFrom('secrets')
      .select(['arn', 'resource_policy'])
      .where('arn', 'in', secretArns)
      .orderBy('arn');
    if (this.store.dialect === 'postgres') current = current.forUpdate();
    for (const secret of await current.execute()) {
      await trx
        .updateTable('secrets')
        .set({ resource_policy: withKafkaGrant(secret.resource_policy, secret.arn) })
        .where('arn', '=', secret.arn)
        .execute();
    }
  }

  /** Removes the batch's associations in one statement; returns the secrets it removed. */
  private async removeAssociations(
    clusterArn: string,
    secretArns: string[],
    trx: Executor,
  ): Promise<Set<string>> {
    if (secretArns.length === 0) return new Set();
    const rows = await trx
      .deleteFrom('scram_associations')
      .where('cluster_arn', '=', clusterArn)
      .where('secret_arn', 'in', secretArns)
      .returning('secret_arn')
      .execute();
    return new Set(rows.map((row) => row.secret_arn));
  }

  private async countAssociations(clusterArn: string, trx: Executor): Promise<number> {
    const row = await trx
      .selectFrom('scram_associations')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .where('cluster_arn', '=', clusterArn)
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }
}

type PageQueries = ReturnType<typeof pageQueries>;

/**
 * A cluster's secret ARNs in ARN order, if the cluster is in the caller's account and region:
 * the first page, and a page after a given ARN. The limit is written into the SQL rather than
 * bound: SQLite plans a LIMIT by its value, so a bound one made it prepare the statement again
 * on every call.
 */
function pageQueries(db: Kysely<Database>, limit: number) {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new Error(`Invalid page limit ${limit}`);
  type ClusterSlot = 'clusterArn' | 'accountId' | 'region';
  const page = (db: Kysely<Database>, slot: SlotFor<ClusterSlot>) =>
    db
      .selectFrom('scram_associations')
      .select('secret_arn')
      .where('cluster_arn', '=', slot<string>('clusterArn'))
      .where(({ exists, selectFrom }) =>
        exists(
          selectFrom('clusters')
            .select('arn')
            .where('arn', '=', slot<string>('clusterArn'))
            .where('account_id', '=', slot<string>('accountId'))
            .where('region', '=', slot<string>('region')),
        ),
      )
      .orderBy('secret_arn')
      .limit(sql.lit(limit));
  return {
    first: new ReusableQuery(db, (db, slot: SlotFor<ClusterSlot>) => page(db, slot)),
    next: new ReusableQuery(db, (db, slot: SlotFor<ClusterSlot | 'after'>) =>
      page(db, slot).where('secret_arn', '>', slot<string>('after')),
    ),
  };
}

/** The checks that need only the ARN and the caller, made before any source is asked. */
function requireUsableArn(context: RequestContext, cluster: Cluster, secretArn: string): void {
  const arn = parseArn(secretArn);
  if (!arn || arn.service !== 'secretsmanager' || !arn.resource.startsWith('secret:')) {
    throw new Refusal(
      'InvalidSecretArn',
      `${secretArn} is not a Secrets Manager secret ARN. Pass the full ARN that CreateSecret ` +
        'or DescribeSecret returned.',
    );
  }
  if (arn.accountId !== cluster.accountId || arn.region !== cluster.region) {
    throw new Refusal(
      'InvalidSecretArn',
      `The secret is in account ${arn.accountId}, region ${arn.region}; the cluster is in ` +
        `account ${cluster.accountId}, region ${cluster.region}. Create the secret in the ` +
        "cluster's account and region.",
    );
  }
  if (!arn.resource.startsWith(`secret:${SECRET_NAME_PREFIX}`)) {
    throw new Refusal(
      'InvalidSecretArn',
      `The provided secret ARN cannot be used with Amazon MSK: secret names must begin with ` +
        `'${SECRET_NAME_PREFIX}'. Create a secret whose name has this prefix.`,
    );
  }
  // As on AWS, the caller must be allowed to read the secret it hands to the cluster.
  if (!context.allows('secretsmanager:GetSecretValue', secretArn)) {
    throw new Refusal(
      'InvalidSecretArn',
      `Amazon MSK wasn't able to access the secret ${secretArn}: ${context.principalArn} is ` +
        'not allowed secretsmanager:GetSecretValue on it. Allow that action in your policy.',
    );
  }
}

/**
 * Checks the secret's state, key and value, wherever they are kept, and returns the username
 * its value claims. Every refusal of a secret MSK could not use is decided here.
 */
async function usernameOf(
  facts: SecretFacts,
  cluster: Cluster,
  secretArn: string,
): Promise<string> {
  const secret = await facts.describeSecret(cluster, secretArn).catch((error: unknown) => {
    if (!(error instanceof SourceFailure)) throw error;
    if (error.kind === 'NotFound') {
      throw new Refusal(
        'InvalidSecretArn',
        `Amazon MSK wasn't able to access the secret ${secretArn}: no secret with this ARN ` +
          `exists in account ${cluster.accountId}, region ${cluster.region}.`,
      );
    }
    throw sourceRefusal('InvalidSecretArn', secretArn, error, 'secretsmanager:DescribeSecret');
  });
  if (secret.arn !== secretArn) {
    throw new Refusal('InvalidSecretArn', `Pass the secret's full ARN, ${secret.arn}.`);
  }
  if (secret.scheduledForDeletion) {
    throw new Refusal(
      'InvalidSecretArn',
      "Amazon MSK wasn't able to access the provided secret: it is scheduled for deletion. " +
        'Restore it with RestoreSecret first.',
    );
  }
  const awsManagedKey = new Refusal(
    'InvalidKmsKey',
    'The secret is encrypted with the AWS managed key aws/secretsmanager, which Amazon MSK ' +
      'cannot use. Encrypt it with a customer managed KMS key (UpdateSecret --kms-key-id).',
  );
  if (secret.kmsKeyId === undefined) throw awsManagedKey;
  const keyId = secret.kmsKeyId;
  const key = await facts.describeKey(cluster, keyId).catch((error: unknown) => {
    if (!(error instanceof SourceFailure)) throw error;
    if (error.kind === 'NotFound') {
      throw new Refusal(
        'InvalidKmsKey',
        `The secret's KMS key ${keyId} does not exist. Encrypt the secret with an enabled ` +
          'customer managed key.',
      );
    }
    throw sourceRefusal('InvalidKmsKey', secretArn, error, 'kms:DescribeKey');
  });
  if (key.awsManaged) throw awsManagedKey;
  if (!key.symmetric) {
    throw new Refusal(
      'InvalidKmsKey',
      `The secret's KMS key ${key.arn} is not a symmetric encryption key. Encrypt the secret ` +
        'with a symmetric customer managed key.',
    );
  }
  if (!key.enabled) {
    throw new Refusal(
      'InvalidKmsKey',
      `The secret's KMS key ${key.arn} is ${key.stateDescription}. Enable the key, or ` +
        'encrypt the secret with an enabled customer managed key.',
    );
  }
  const current = await facts.currentValue(cluster, secret.arn).catch((error: unknown) => {
    throw readFailure(secretArn, error);
  });
  return parseCredentials(current.secretString);
}

/** A source's answer about one secret, as the refusal of that secret alone. */
function sourceRefusal(
  code: UnprocessedCode,
  secretArn: string,
  failure: SourceFailure,
  action: string,
): Refusal {
  // Our own words only: the source's message may name the service's own IAM identity.
  const answered = failure.code ?? failure.message;
  if (failure.kind === 'Throttled') {
    return new Refusal(
      code,
      `Amazon MSK wasn't able to check the secret ${secretArn}: the secret source throttled ` +
        `${action} (${answered}). Retry this secret later.`,
    );
  }
  if (failure.kind === 'AccessDenied') {
    return new Refusal(
      code,
      `Amazon MSK wasn't able to access the secret ${secretArn}: the secret source refused ` +
        `${action} (${answered}). Grant ${action} to the credentials this service calls the ` +
        'source with, then retry.',
    );
  }
  return new Refusal(
    code,
    `Amazon MSK wasn't able to access the secret ${secretArn}: ${failure.message}`,
  );
}

/** Attaching the grant failed: the secret is refused, and its association undone. */
function grantRefusal(secretArn: string, error: SourceFailure | SourceUnavailableError): Refusal {
  if (error instanceof SourceFailure) {
    return sourceRefusal(
      'InvalidSecretArn',
      secretArn,
      error,
      'secretsmanager:GetResourcePolicy and secretsmanager:PutResourcePolicy',
    );
  }
  return new Refusal(
    'InvalidSecretArn',
    `Amazon MSK can't reach the secret source to let the cluster read the secret ${secretArn} ` +
      `(${error.reason}), so it was not associated. Retry this secret.`,
  );
}

/** Attempts of one grant while the source throttles, on top of the AWS SDK's own retries. */
const GRANT_ATTEMPTS = 3;
const GRANT_RETRY_DELAY_MS = 200;

async function withThrottlingRetries(attempt: () => Promise<void>): Promise<void> {
  for (let attempted = 1; ; attempted += 1) {
    try {
      return await attempt();
    } catch (error) {
      const throttled = error instanceof SourceFailure && error.kind === 'Throttled';
      if (!throttled || attempted >= GRANT_ATTEMPTS) throw error;
      await sleep(GRANT_RETRY_DELAY_MS * attempted);
    }
  }
}

/** MSK attaches a resource policy that lets the cluster read the secret; so do we. */
async function grantExternally(source: AwsSecretSource, secretArn: string): Promise<void> {
  const current = await source.resourcePolicy(secretArn);
  await source.putResourcePolicy(secretArn, withKafkaGrant(current ?? null, secretArn));
}

/** The policy with our statement, replacing an earlier one of ours by its Sid. */
function withKafkaGrant(policyText: string | null, secretArn: string): string {
  const policy = parsePolicy(policyText);
  const statements = policy.Statement.filter((statement) => statement.Sid !== KAFKA_POLICY_SID);
  statements.push({
    Sid: KAFKA_POLICY_SID,
    Effect: 'Allow',
    Principal: { Service: 'kafka.amazonaws.com' },
    Action: 'secretsmanager:getSecretValue',
    Resource: secretArn,
  });
  return JSON.stringify({ ...policy, Statement: statements });
}

function requireScramReady(cluster: Cluster): void {
  if (!cluster.scramEnabled) {
    throw badRequest(
      `SASL/SCRAM authentication is not enabled on the cluster ${cluster.arn}. Turn it on with ` +
        'UpdateSecurity (clientAuthentication.sasl.scram.enabled = true), then retry.',
      'clusterArn',
    );
  }
  if (cluster.state !== 'ACTIVE') {
    throw badRequest(
      `The cluster ${cluster.arn} is ${cluster.state}. Secrets can be associated only while it ` +
        'is ACTIVE; retry when DescribeCluster reports ACTIVE.',
      'clusterArn',
    );
  }
}

function parseCredentials(text: string | undefined): string {
  let value: unknown;
  try {
    value = text === undefined ? undefined : JSON.parse(text);
  } catch {
    value = undefined;
  }
  const record = value as { username?: unknown; password?: unknown } | undefined;
  if (
    typeof record !== 'object' ||
    record === null ||
    typeof record.username !== 'string' ||
    record.username === '' ||
    typeof record.password !== 'string' ||
    record.password === ''
  ) {
    throw new Refusal(
      'InvalidSecretValue',
      `The secret's current value is not valid. ${valueHelp()}`,
    );
  }
  return usableUsername(record.username);
}

/** Usernames longer than this, in UTF-8, are refused: no store could index them alike. */
const MAX_USERNAME_BYTES = 1024;

/**
 * A username both stores keep exactly as given, so that the one-username rule compares what
 * is stored: not a lone UTF-16 surrogate (which the JSON of a value may escape, and
 * PostgreSQL would store as U+FFFD), not NUL (which PostgreSQL's text cannot hold), and not
 * longer than an index row holds.
 */
function usableUsername(username: string): string {
  // Text with a lone surrogate does not survive UTF-8: it comes back with U+FFFD.
  const utf8 = Buffer.from(username, 'utf8');
  const problem =
    utf8.toString('utf8') !== username
      ? 'is not well-formed Unicode (it holds a lone surrogate)'
      : username.includes('\u0000')
        ? 'contains a NUL character'
        : utf8.length > MAX_USERNAME_BYTES
          ? `is longer than ${MAX_USERNAME_BYTES} bytes in UTF-8`
          : undefined;
  if (problem === undefined) return username;
  throw new Refusal(
    'InvalidSecretValue',
    `The secret's username ${problem}. Store a username of printable characters.`,
  );
}

/**
 * Why the current value could not be read. The version may be encrypted under a key other
 * than the one the secret names now (UpdateSecret changes the key for new versions), so a
 * key that cannot decrypt is a key problem, not a missing value.
 */
function readFailure(secretArn: string, error: unknown): unknown {
  if (!(error instanceof SourceFailure)) return error;
  if (error.kind === 'DecryptionFailure') {
    return new Refusal('InvalidKmsKey', `${error.message} Amazon MSK cannot read the secret.`);
  }
  if (error.kind === 'Throttled' || error.kind === 'AccessDenied') {
    return sourceRefusal('InvalidSecretArn', secretArn, error, 'secretsmanager:GetSecretValue');
  }
  return new Refusal(
    'InvalidSecretValue',
    `The secret has no current value (AWSCURRENT). ${valueHelp()}`,
  );
}

function valueHelp(): string {
  return (
    'Store a JSON object with non-empty string fields "username" and "password" as the ' +
    'secret string (PutSecretValue --secret-string).'
  );
}

interface PolicyStatement {
  Sid?: string;
  [field: string]: unknown;
}

function parsePolicy(text: string | null): { Version: string; Statement: PolicyStatement[] } {
  const empty = { Version: '2012-10-17', Statement: [] as PolicyStatement[] };
  if (!text) return empty;
  try {
    const policy = JSON.parse(text) as { Version?: string; Statement?: unknown };
    const statements = Array.isArray(policy.Statement)
      ? (policy.Statement as PolicyStatement[])
      : policy.Statement
        ? [policy.Statement as PolicyStatement]
        : [];
    return { ...policy, Version: policy.Version ?? empty.Version, Statement: statements };
  } catch {
    return empty;
  }
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

function listing(clusterArn: string): string {
  return `scram-secrets:${clusterArn}`;
}
