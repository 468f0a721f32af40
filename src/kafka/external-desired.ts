import type { Logger } from 'pino';

import {
  credentialsFrom,
  type CredentialsRead,
  type DesiredState,
  type DesiredStateReader,
  type WantedUser,
} from './desired.js';
import { parseArn, type Scope } from '../domain/arn.js';
import type { AwsSecretSource, PolledSecret } from '../sources/aws.js';
import {
  SourceFailure,
  SourceUnavailableError,
  type CurrentValue,
  type KeyDescription,
} from '../sources/source.js';
import type { Executor } from '../store/store.js';

/** What the last poll said of one secret: usable, refused (its user must go), or unknown. */
type Verdict = { usable: true } | { usable: false; reason: string };

/**
 * One cluster's desired state when its secrets live in an external Secrets Manager. The
 * associations come from the store; the secrets' state is polled at most once per poll
 * interval (sooner only for secrets associated since), in a bounded number of calls:
 * ListSecrets for version ids, key ids and deletion dates, KMS DescribeKey once per distinct
 * key, and BatchGetSecretValue for the secrets whose current version changed.
 *
 * The last good value of each secret is kept in memory only, for the reconciler to write.
 * While the source cannot be reached, or throttles or denies a poll's ListSecrets or
 * BatchGetSecretValue as a whole, the last verdicts stand until the next interval: users
 * stay as they are, nothing is asked again sooner, and a pass that would need a secret never
 * seen fails and is retried, so an outage never removes a user.
 */
export class ExternalDesiredState implements DesiredStateReader {
  private readonly lastGood = new Map<string, CurrentValue>();
  private readonly verdicts = new Map<string, Verdict>();
  private polledAt = Number.NEGATIVE_INFINITY;
  /** Secrets never seen whose first poll failed: asked again at the next interval only. */
  private readonly unanswered = new Set<string>();
  private readonly scope: Scope;

  constructor(
    private readonly source: AwsSecretSource,
    private readonly clusterArn: string,
    private readonly logger: Logger,
  ) {
    const arn = parseArn(clusterArn);
    this.scope = { accountId: arn?.accountId ?? '', region: arn?.region ?? '' };
  }

  async load(db: Executor, clusterArn: string): Promise<DesiredState> {
    const associations = await db
      .selectFrom('scram_associations')
      .select(['secret_arn', 'username'])
      .where('cluster_arn', '=', clusterArn)
      .orderBy('username')
      .execute();
    const due = Date.now() - this.polledAt >= this.source.settings.pollIntervalSeconds * 1000;
    if (due) this.unanswered.clear();
    const toPoll = associations
      .map((row) => row.secret_arn)
      .filter(
        (secretArn) => due || (!this.verdicts.has(secretArn) && !this.unanswered.has(secretArn)),
      );
    if (toPoll.length > 0) {
      try {
        await this.poll(toPoll);
      } catch (error) {
        this.pollFailed(error, toPoll);
      }
      if (due) this.polledAt = Date.now();
    }

    this.forgetAllBut(new Set(associations.map((row) => row.secret_arn)));
    const state: DesiredState = { wanted: [], refused: [] };
    for (const row of associations) {
      const verdict = this.verdicts.get(row.secret_arn);
      const known = this.lastGood.get(row.secret_arn);
      if (verdict === undefined || (verdict.usable && known === undefined)) {
        throw new SourceUnavailableError(
          this.source.settings.name,
          `the secret ${row.secret_arn} has not been read yet`,
        );
      }
      if (!verdict.usable) {
        state.refused.push({ ...row, secretArn: row.secret_arn, reason: verdict.reason });
        continue;
      }
      state.wanted.push({
        secretArn: row.secret_arn,
        username: row.username,
        versionId: known!.versionId,
      });
    }
    return state;
  }

  async read(_scope: Scope, user: WantedUser): Promise<CredentialsRead> {
    const known = this.lastGood.get(user.secretArn);
    if (known === undefined || known.versionId !== user.versionId) {
      return { ok: false, reason: 'The secret changed during the pass; it is read again.' };
    }
    return credentialsFrom(known.secretString, user.username);
  }

  /**
   * A poll the source did not answer, throttled or denied as a whole: the verdicts it could
   * not renew stand, and the secrets it could not see are asked again at the next interval.
   */
  private pollFailed(error: unknown, polled: string[]): void {
    if (!(error instanceof SourceUnavailableError || error instanceof SourceFailure)) throw error;
    for (const secretArn of polled) {
      if (!this.verdicts.has(secretArn)) this.unanswered.add(secretArn);
    }
    const unavailable = error instanceof SourceUnavailableError;
    this.logger.warn(
      {
        event: 'secret_source.poll_failed',
        clusterArn: this.clusterArn,
        errorCode: unavailable ? 'Unavailable' : error.kind,
        reason: unavailable ? error.reason : error.message,
        retryInSeconds: this.source.settings.pollIntervalSeconds,
      },
      'secret source poll failed; keeping the last verdicts until the next poll',
    );
  }

  /** A disassociated secret's password leaves memory with its association. */
  private forgetAllBut(associated: Set<string>): void {
    const known = [...this.verdicts.keys(), ...this.lastGood.keys(), ...this.unanswered];
    for (const secretArn of known) {
      if (associated.has(secretArn)) continue;
      this.verdicts.delete(secretArn);
      this.lastGood.delete(secretArn);
      this.unanswered.delete(secretArn);
    }
  }

  /** Polls the given secrets and records a verdict for each one the source answered about. */
  private async poll(secretArns: string[]): Promise<void> {
    const polled = await this.source.pollSecrets(
      secretArns.map((arn) => ({ arn, name: secretName(arn) })),
    );
    const keys = await this.describeKeys(polled);
    const changed: string[] = [];
    for (const [secretArn, secret] of polled) {
      const verdict = this.judge(secretArn, secret, keys);
      if (verdict === 'read') changed.push(secretArn);
      else if (verdict !== 'unknown') this.verdicts.set(secretArn, verdict);
    }
    const values = await this.source.currentValues(changed);
    for (const secretArn of changed) {
      const value = values.get(secretArn);
      if (value === undefined || (!value.ok && value.failure.kind === 'Throttled')) continue;
      if (!value.ok) {
        this.verdicts.set(secretArn, {
          usable: false,
          reason: `The secret's current value cannot be read: ${value.failure.message}`,
        });
        continue;
      }
      this.lastGood.set(secretArn, value.value);
      this.verdicts.set(secretArn, { usable: true });
    }
  }

  private async describeKeys(
    polled: Map<string, PolledSecret>,
  ): Promise<Map<string, KeyDescription | SourceFailure>> {
    const keyIds = new Set<string>();
    for (const secret of polled.values()) {
      if (secret.state === 'present' && secret.kmsKeyId) keyIds.add(secret.kmsKeyId);
    }
    const keys = new Map<string, KeyDescription | SourceFailure>();
    for (const keyId of keyIds) {
      const key = await this.source.describeKey(this.scope, keyId).catch((error: unknown) => {
        if (error instanceof SourceFailure) return error;
        throw error;
      });
      keys.set(keyId, key);
    }
    return keys;
  }

  /** The verdict the poll allows, 'read' when the value must be fetched, or 'unknown'. */
  private judge(
    secretArn: string,
    secret: PolledSecret,
    keys: Map<string, KeyDescription | SourceFailure>,
  ): Verdict | 'read' | 'unknown' {
    if (secret.state === 'missing') {
      this.lastGood.delete(secretArn);
      return refuse('The secret was deleted. Disassociate it, or associate a secret that exists.');
    }
    if (secret.state === 'scheduledForDeletion') {
      return refuse('The secret is scheduled for deletion. Restore it with RestoreSecret.');
    }
    if (secret.kmsKeyId === undefined) {
      return refuse('The secret is encrypted with aws/secretsmanager; use a customer managed key.');
    }
    const key = keys.get(secret.kmsKeyId);
    if (key instanceof SourceFailure) {
      if (key.kind === 'Throttled') return 'unknown';
      return refuse(`The secret's KMS key ${secret.kmsKeyId} cannot be used: ${key.message}`);
    }
    if (key === undefined || key.awsManaged || !key.symmetric || !key.enabled) {
      const state = key?.enabled === false ? key.stateDescription : 'not a usable customer key';
      return refuse(`The KMS key ${key?.arn ?? secret.kmsKeyId} of the secret is ${state}.`);
    }
    if (secret.currentVersionId === undefined) {
      return refuse('The secret has no current (AWSCURRENT) value. Put one with PutSecretValue.');
    }
    const known = this.lastGood.get(secretArn);
    if (known?.versionId === secret.currentVersionId) return { usable: true };
    return 'read';
  }
}

function refuse(reason: string): Verdict {
  return { usable: false, reason };
}

/** A secret's name: its ARN's resource without `secret:` and the random six-character tail. */
function secretName(secretArn: string): string {
  const resource = parseArn(secretArn)?.resource ?? '';
  return resource.replace(/^secret:/, '').replace(/-[A-Za-z0-9]{6}$/, '');
}
