import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';

import type { Services } from './api/types.js';
import { loadCredentials, type CredentialSet } from './auth/credentials.js';
import { Gate } from './auth/gate.js';
import type { Config } from './config/config.js';
import { deriveKey } from './crypto/envelope.js';
import { loadOrCreateMasterKey } from './crypto/master-key.js';
import { ClusterService } from './domain/clusters.js';
import { KeyService } from './domain/keys.js';
import { PageTokens } from './domain/paging.js';
import { ScramSecretService } from './domain/scram-secrets.js';
import { SecretService } from './domain/secrets.js';
import { noDataPlane, type DataPlaneHook } from './domain/sync.js';
import { buildApp } from './http/app.js';
import { KafkaDataPlane } from './kafka/data-plane.js';
import { registerDataPlaneRoutes } from './kafka/routes.js';
import { AuditLog } from './observability/audit.js';
import { createLogger } from './observability/logger.js';
import { SecretSources } from './sources/registry.js';
import { lockDataDir } from './store/data-dir-lock.js';
import { isStoreUnavailable } from './store/errors.js';
import type { Store } from './store/store.js';

export interface RunningServer {
  app: FastifyInstance;
  url: string;
  credentials: CredentialSet;
  logger: Logger;
  store: Store;
  dataPlane: KafkaDataPlane;
  /** Answers newcomers 503 until the requests in flight finish, then stops listening, closes. */
  close(): Promise<void>;
}

/** Wires configuration, store, domain and HTTP together and starts listening. */
export async function startServer(
  config: Config,
  logger = createLogger(config.logLevel),
): Promise<RunningServer> {
  // Made for its owner alone: besides the encrypted values, the database holds usernames,
  // resource policies and the audit log. An existing directory keeps its mode.
  makeDataDir(config.dataDir);
  const lock = config.databaseUrl ? undefined : lockDataDir(config.dataDir);
  try {
    const running = await serve(config, logger);
    const close = running.close;
    return { ...running, close: () => close().finally(() => lock?.release()) };
  } catch (error) {
    lock?.release();
    throw error;
  }
}

function makeDataDir(dataDir: string): void {
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  } catch (error) {
    const code = (error as { code?: string }).code ?? 'an error';
    throw new Error(
      `Invalid configuration: the data dir ${dataDir} (SCRAM_SECRETS_DATA_DIR, or dataDir in ` +
        `the config file) cannot be made (${code}): name a directory, or a path where one can ` +
        'be created',
    );
  }
}

/**
 * Files this start made are 0600; one that existed keeps its mode, and is named at `warn`
 * when users other than its owner may read or write it: the master key opens every secret,
 * and the credentials file holds a secret access key.
 */
function warnIfOthersMayRead(logger: Logger, files: Array<string | undefined>): void {
  for (const file of files) {
    if (file === undefined) continue;
    const mode = statSync(file).mode & 0o777;
    if ((mode & 0o077) === 0) continue;
    logger.warn(
      { event: 'file.open_to_others', file, mode: mode.toString(8).padStart(4, '0') },
      'users other than its owner may read or change this file; make it 0600 (chmod 600)',
    );
  }
}

async function serve(config: Config, logger: Logger): Promise<RunningServer> {
  const masterKey = loadOrCreateMasterKey(config.masterKeyFile);
  const credentials = loadCredentials(config.credentials, config.principals, config.dataDir);
  warnIfOthersMayRead(logger, [config.masterKeyFile, credentials.storedIn]);
  const store = await openStore(config);
  const sources = await SecretSources.open(config.secretSources, logger);
  for (const source of config.secretSources) {
    const { accountId, region, type, endpoint, pollIntervalSeconds } = source;
    logger.info(
      { event: 'secret_source.configured', accountId, region, type, endpoint, pollIntervalSeconds },
      'secret source chosen',
    );
  }
  const dataPlane = new KafkaDataPlane({ store, masterKey, settings: config, logger, sources });
  const services = createServices(store, masterKey, config, dataPlane, sources);
  if (!(await services.keys.masterKeyOpensStore())) {
    sources.close();
    await store.close();
    throw new Error(
      `The master key in ${config.masterKeyFile} does not open the keys in this database. Start ` +
        'with the master key file the database was created with (SCRAM_SECRETS_MASTER_KEY_FILE); ' +
        'every replica of one database needs the same one.',
    );
  }
  // Registered before the first request, so GetBootstrapBrokers answers with the real brokers.
  await dataPlane.start().catch(async (error: unknown) => {
    await dataPlane.close();
    sources.close();
    await store.close();
    throw error;
  });

  const { fastify: app, beginShutdown } = await buildApp({
    services,
    credentials,
    logger,
    corsAllowedOrigins: config.corsAllowedOrigins,
    verifySignatures: config.verifySignatures,
    throttle: config.throttle,
    maxInFlight: config.maxInFlight,
    maxEventLoopDelayMs: config.maxEventLoopDelayMs,
    requestTimeoutMs: config.requestTimeoutSeconds * 1000,
    audit: new AuditLog(store),
  });
  registerDataPlaneRoutes(app, {
    gate: new Gate({
      credentials,
      verifySignatures: config.verifySignatures,
      throttle: config.throttle,
    }),
    clusters: services.clusters,
    store,
    dataPlane,
  });
  await app.listen({ host: config.host, port: config.port }).catch(async (error: unknown) => {
    await app.close();
    await dataPlane.close();
    sources.close();
    await store.close();
    throw new Error(
      `Cannot listen on ${config.host} port ${config.port} (SCRAM_SECRETS_HOST, ` +
        `SCRAM_SECRETS_PORT): ${(error as { code?: string }).code ?? String(error)}. ` +
        'Choose an address of this machine and a free port.',
    );
  });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  logger.info({ event: 'server.started', url, dataDir: config.dataDir }, 'listening');
  if (!config.verifySignatures) {
    logger.warn(
      { event: 'signatures.unverified' },
      'SigV4 signatures are not checked: anyone who knows an access key id is let in',
    );
  }

  return {
    app,
    url,
    credentials,
    logger,
    store,
    dataPlane,
    async close() {
      // The listener stays open until then, so that a newcomer hears 503 and Retry-After
      // rather than a refused or reset connection.
      await beginShutdown();
      await app.close();
      await dataPlane.close();
      sources.close();
      await store.close();
    },
  };
}

/**
 * PostgreSQL when a database URL is configured, else SQLite in the data dir. Only the driver
 * in use is loaded, which keeps the other's memory out of the process. A reader (`audit`,
 * `status`) opens only a SQLite database that exists: pointed at the wrong data dir, it must
 * say so rather than make an empty one there.
 */
export async function openStore(
  config: Config,
  options: { existingOnly?: boolean } = {},
): Promise<Store> {
  if (config.databaseUrl) {
    const { openPostgresStore } = await import('./store/postgres.js');
    try {
      return await openPostgresStore(config.databaseUrl, {
        lockTimeoutMs: config.storeBusyTimeoutMs,
        connectTimeoutMs: config.databaseConnectTimeoutSeconds * 1000,
      });
    } catch (error) {
      if (!isStoreUnavailable(error)) throw error;
      // Named without its password: the host, port and database are what to check.
      const url = new URL(config.databaseUrl);
      const where = `${url.hostname}:${url.port || '5432'}${url.pathname}`;
      const code = (error as { code?: string }).code;
      const why =
        code ??
        `no answer within ${config.databaseConnectTimeoutSeconds} s ` +
          '(SCRAM_SECRETS_DATABASE_CONNECT_TIMEOUT_SECONDS)';
      throw new Error(
        `Cannot reach the PostgreSQL database of SCRAM_SECRETS_DATABASE_URL (${where}): ` +
          `${why}. Check that it runs and that the URL is right.`,
      );
    }
  }
  const file = join(config.dataDir, 'scram-secrets.sqlite');
  if (options.existingOnly && !existsSync(file)) {
    throw new Error(
      `No database in ${config.dataDir}: run this with the same SCRAM_SECRETS_DATA_DIR (or ` +
        'SCRAM_SECRETS_DATABASE_URL, or SCRAM_SECRETS_CONFIG) as the service',
    );
  }
  const { openSqliteStore } = await import('./store/sqlite.js');
  return openSqliteStore(file, {
    busyTimeoutMs: config.storeBusyTimeoutMs,
  });
}

export function createServices(
  store: Store,
  masterKey: Buffer,
  config: Pick<Config, 'clusterTransitionSeconds'>,
  dataPlane: DataPlaneHook = noDataPlane,
  sources: SecretSources = new SecretSources(),
): Services {
  const keys = new KeyService(store, masterKey, dataPlane);
  const secrets = new SecretService(store, keys, dataPlane);
  const clusters = new ClusterService(store, config.clusterTransitionSeconds * 1000, dataPlane);
  const tokens = new PageTokens(deriveKey(masterKey, 'pagination-tokens'));
  const scramSecrets = new ScramSecretService(
    store,
    clusters,
    secrets,
    tokens,
    keys,
    dataPlane,
    sources,
  );
  return { clusters, secrets, keys, scramSecrets, tokens };
}
