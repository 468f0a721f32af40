import { sql, type Kysely } from 'kysely';

import { parseArn, type Scope } from './arn.js';
import type { RequestContext } from './context.js';
import { requireClusterArn, type Cluster, type ClusterService } from './clusters.js';
import { badRequest, ServiceError } from './errors.js';
import type { PageTokens } from './paging.js';
import { noDataPlane, type DataPlaneHook } from './sync.js';
import { describeKeyState, type SecretService } from './secrets.js';
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

/**
 * The Scram Secrets resource: which secrets are associated with which cluster, and the rules
 * MSK applies before it accepts one. A batch is decided and written in one transaction that
 * holds the cluster's lock, so concurrent batches never exceed the limit or duplicate a user.
 */
export class ScramSecretService {
  /** Listing is the busiest call of all, so its queries are compiled once per page size. */
  private readonly pageQueries = new Map<number, PageQueries>();

  constructor(
    private readonly store: Store,
    private readonly clusters: ClusterService,
    private readonly secrets: SecretService,
    private readonly tokens: PageTokens,
    private readonly dataPlane: DataPlaneHook = noDataPlane,
  ) {}

  async associate(
    context: RequestContext,
    clusterArn: string,
    secretArnList: string[],
  ): Promise<BatchResult> {
    const result = await this.store.transaction(async (trx) => {
      const cluster = await this.clusters.findCluster(context, clusterArn, trx);
      requireScramReady(cluster);
      await this.clusters.lockCluster(trx, cluster.arn);

      const unprocessed: UnprocessedScramSecret[] = [];
      let associatedCount = await this.countAssociations(cluster.arn, trx);
      for (const secretArn of unique(secretArnList)) {
        try {
          const added = await this.associateOne(context, cluster, secretArn, associatedCount, trx);
          if (added) associatedCount += 1;
        } catch (error) {
          if (!(error instanceof Refusal)) throw error;
          unprocessed.push({ secretArn, errorCode: error.code, errorMessage: error.message });
        }
      }
      return { clusterArn: cluster.arn, unprocessedScramSecrets: unprocessed };
    });
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
      for (const secretArn of unique(secretArnList)) {
        const removed = await trx
          .deleteFrom('scram_associations')
          .where('cluster_arn', '=', cluster.arn)
          .where('secret_arn', '=', secretArn)
          .executeTakeFirst();
        if (Number(removed.numDeletedRows) === 0) {
          unprocessed.push({
            secretArn,
            errorCode: 'InvalidSecretArn',
            errorMessage:
              `The secret ${secretArn} is not associated with the cluster ${cluster.arn}.`,
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

  /** Returns true when a new association was written, false when it already existed. */
  private async associateOne(
    context: RequestContext,
    cluster: Cluster,
    secretArn: string,
    associatedCount: number,
    trx: Executor,
  ): Promise<boolean> {
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
    const existing = await trx
      .selectFrom('scram_associations')
      .select('secret_arn')
      .where('cluster_arn', '=', cluster.arn)
      .where('secret_arn', '=', secretArn)
      .executeTakeFirst();
    if (existing) return false;

    const username = await this.usernameOf(cluster, secretArn, trx);
    await this.requireFreeUsername(cluster, username, trx);
    if (associatedCount >= MAX_SECRETS_PER_CLUSTER) {
      throw new Refusal(
        'ClusterSecretLimitExceeded',
        `The cluster already has ${MAX_SECRETS_PER_CLUSTER} associated secrets, the most it ` +
          'can hold. Disassociate a secret before associating another.',
      );
    }
    await trx
      .insertInto('scram_associations')
      .values({ cluster_arn: cluster.arn, secret_arn: secretArn, username, created_at: Date.now() })
      .execute();
    await this.grantClusterRead(cluster, secretArn, trx);
    return true;
  }

  /** Checks the secret's state, key and value, and returns the username its value claims. */
  private async usernameOf(cluster: Cluster, secretArn: string, trx: Executor): Promise<string> {
    const secret = await this.secrets
      .findSecret(cluster, secretArn, { allowDeleted: true }, trx)
      .catch((error: unknown) => {
        if (error instanceof ServiceError) {
          throw new Refusal(
            'InvalidSecretArn',
            `Amazon MSK wasn't able to access the secret ${secretArn}: no secret with this ARN ` +
              `exists in account ${cluster.accountId}, region ${cluster.region}.`,
          );
        }
        throw error;
      });
    if (secret.arn !== secretArn) {
      throw new Refusal('InvalidSecretArn', `Pass the secret's full ARN, ${secret.arn}.`);
    }
    if (secret.deletedDate !== null) {
      throw new Refusal(
        'InvalidSecretArn',
        "Amazon MSK wasn't able to access the provided secret: it is scheduled for deletion. " +
          'Restore it with RestoreSecret first.',
      );
    }
    const key = await this.secrets.keyOf(cluster, secret, trx);
    if (key.keyManager === 'AWS') {
      throw new Refusal(
        'InvalidKmsKey',
        'The secret is encrypted with the AWS managed key aws/secretsmanager, which Amazon MSK ' +
          'cannot use. Encrypt it with a customer managed KMS key (UpdateSecret --kms-key-id).',
      );
    }
    if (key.keyState !== 'Enabled') {
      throw new Refusal(
        'InvalidKmsKey',
        `The secret's KMS key ${key.arn} is ${describeKeyState(key)}. Enable the key, or ` +
          'encrypt the secret with an enabled customer managed key.',
      );
    }
    const current = await this.secrets
      .getValue(cluster, secret.arn, {}, trx)
      .catch((error: unknown) => {
        throw readFailure(error);
      });
    return parseCredentials(current.value.kind === 'string' ? current.value.value : undefined);
  }

  private async requireFreeUsername(
    cluster: Cluster,
    username: string,
    trx: Executor,
  ): Promise<void> {
    const holder = await trx
      .selectFrom('scram_associations')
      .select('secret_arn')
      .where('cluster_arn', '=', cluster.arn)
      .where('username', '=', username)
      .executeTakeFirst();
    if (holder) {
      throw new Refusal(
        'DuplicateUsername',
        `The username in this secret is already used by the associated secret ` +
          `${holder.secret_arn}. Each username can belong to only one secret per cluster.`,
      );
    }
  }

  /** MSK attaches a resource policy that lets the cluster read the secret; so do we. */
  private async grantClusterRead(
    cluster: Cluster,
    secretArn: string,
    trx: Executor,
  ): Promise<void> {
    const secret = await this.secrets.findSecret(cluster, secretArn, {}, trx);
    const policy = parsePolicy(secret.resourcePolicy);
    const statements = policy.Statement.filter((statement) => statement.Sid !== KAFKA_POLICY_SID);
    statements.push({
      Sid: KAFKA_POLICY_SID,
      Effect: 'Allow',
      Principal: { Service: 'kafka.amazonaws.com' },
      Action: 'secretsmanager:getSecretValue',
      Resource: secret.arn,
    });
    await trx
      .updateTable('secrets')
      .set({ resource_policy: JSON.stringify({ ...policy, Statement: statements }) })
      .where('arn', '=', secret.arn)
      .execute();
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
  return record.username;
}

/**
 * Why the current value could not be read. The version may be encrypted under a key other
 * than the one the secret names now (UpdateSecret changes the key for new versions), so a
 * key that cannot decrypt is a key problem, not a missing value.
 */
function readFailure(error: unknown): unknown {
  if (!(error instanceof ServiceError)) return error;
  if (error.type === 'DecryptionFailure') {
    return new Refusal('InvalidKmsKey', `${error.message} Amazon MSK cannot read the secret.`);
  }
  return new Refusal(
    'InvalidSecretValue',
    `The secret has no current value (AWSCURRENT). ${valueHelp()}`,
  );
}

function valueHelp(): string {
  return 'Store a JSON object with non-empty string fields "username" and "password" as the ' +
    'secret string (PutSecretValue --secret-string).';
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
