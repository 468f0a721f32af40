import { readFileSync } from 'node:fs';

import {
  alterUserScramCredentialsV0,
  Connection,
  describeUserScramCredentialsV0,
} from '@platformatic/kafka';

import {
  BrokerUnavailableError,
  describeError,
  SCRAM_SHA_512,
  type AlterFailure,
  type BrokerUser,
  type ScramAdmin,
  type UserDeletion,
  type UserUpsertion,
} from './admin-client.js';
import type { KafkaClusterConfig } from '../config/config.js';

/**
 * The admin connection to one cluster, through @platformatic/kafka's protocol calls for
 * DescribeUserScramCredentials and AlterUserScramCredentials, logged in with SCRAM-SHA-512 as
 * the configured admin. One connection is kept and made again after any failure; KRaft
 * brokers forward credential changes to the controller, so any bootstrap server will do.
 */
export class KafkaScramAdmin implements ScramAdmin {
  private connection: Connection | undefined;

  constructor(
    private readonly cluster: KafkaClusterConfig,
    private readonly timeouts = { connectMs: 5000, requestMs: 30000 },
  ) {}

  async describeUsers(): Promise<Map<string, BrokerUser>> {
    const connection = await this.connect();
    let response;
    try {
      // No names asks for every user that has a SCRAM credential.
      response = await describeUserScramCredentialsV0.api.async(connection, []);
    } catch (error) {
      response = responseOf(error) as typeof response | undefined;
      if (!response || response.errorCode !== 0) throw this.unavailable(error);
    }
    const users = new Map<string, BrokerUser>();
    for (const result of response.results) {
      if (result.errorCode !== 0) continue;
      users.set(result.user, {
        name: result.user,
        credentials: result.credentialInfos.map((info) => ({
          mechanism: info.mechanism,
          iterations: info.iterations,
        })),
      });
    }
    return users;
  }

  async alterUsers(
    deletions: UserDeletion[],
    upsertions: UserUpsertion[],
  ): Promise<Map<string, AlterFailure>> {
    if (deletions.length === 0 && upsertions.length === 0) return new Map();
    const connection = await this.connect();
    let response;
    try {
      response = await alterUserScramCredentialsV0.api.async(
        connection,
        deletions,
        upsertions.map((user) => ({
          name: user.name,
          mechanism: SCRAM_SHA_512,
          iterations: user.iterations,
          salt: user.salt,
          saltedPassword: user.saltedPassword,
        })),
      );
    } catch (error) {
      response = responseOf(error) as typeof response | undefined;
      if (!response) throw this.unavailable(error);
    }
    const failures = new Map<string, AlterFailure>();
    for (const result of response.results) {
      if (result.errorCode === 0) continue;
      failures.set(result.user, {
        errorCode: result.errorCode,
        errorMessage: result.errorMessage ?? `Kafka error code ${result.errorCode}`,
      });
    }
    return failures;
  }

  async close(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    await connection?.close().catch(() => undefined);
  }

  private async connect(): Promise<Connection> {
    if (this.connection?.isConnected()) return this.connection;
    await this.close();
    const problems: string[] = [];
    for (const server of this.cluster.bootstrapServers) {
      const separator = server.lastIndexOf(':');
      const connection = new Connection('scram-secrets', {
        connectTimeout: this.timeouts.connectMs,
        requestTimeout: this.timeouts.requestMs,
        tls: this.tlsOptions(),
        sasl: {
          mechanism: 'SCRAM-SHA-512',
          username: this.cluster.adminUsername,
          password: () => this.cluster.readAdminPassword(),
        },
      });
      // A connection reports a dropped socket as an event; without a listener Node would
      // treat it as an uncaught error. The next call sees the connection closed and redials.
      connection.on('error', () => undefined);
      try {
        await connection.connect(server.slice(0, separator), Number(server.slice(separator + 1)));
        this.connection = connection;
        return connection;
      } catch (error) {
        problems.push(`${server}: ${describeError(error)}`);
        await connection.close().catch(() => undefined);
      }
    }
    throw new BrokerUnavailableError(
      `no bootstrap server accepted the admin login (${problems.join('; ')})`,
    );
  }

  private tlsOptions(): { ca?: Buffer } | undefined {
    if (this.cluster.securityProtocol !== 'SASL_SSL') return undefined;
    return this.cluster.caFile ? { ca: readFileSync(this.cluster.caFile) } : {};
  }

  private unavailable(error: unknown): BrokerUnavailableError {
    // The connection may be half-broken after a failed request; start afresh next time.
    void this.close();
    return new BrokerUnavailableError(describeError(error), { cause: error });
  }
}

function responseOf(error: unknown): unknown {
  return (error as { response?: unknown } | undefined)?.response;
}
