#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { audit } from './audit.js';
import { status } from './status.js';
import { loadConfig } from '../config/config.js';
import { startServer, type RunningServer } from '../server.js';

const HELP = `scram-secrets: the Amazon MSK Scram Secrets API for any Apache Kafka cluster

Usage:
  scram-secrets serve        start the service (configuration from the environment)
  scram-secrets audit        print the audit log (scram-secrets audit --help for filters)
  scram-secrets status --cluster-arn ARN
                             the Kafka sync status of a cluster's secrets, as JSON
  scram-secrets --help       show this help
  scram-secrets --version    show the version

Environment:
  SCRAM_SECRETS_HOST                       address to listen on (127.0.0.1)
  SCRAM_SECRETS_PORT                       port to listen on (4566)
  SCRAM_SECRETS_DATA_DIR                   where the SQLite file and keys live (./data)
  SCRAM_SECRETS_CREDENTIALS                ACCESS_KEY_ID:SECRET_ACCESS_KEY:ACCOUNT_ID,...
  SCRAM_SECRETS_MASTER_KEY_FILE            the master key file (<data dir>/master.key)
  SCRAM_SECRETS_CORS_ORIGINS               allowed browser origins, comma-separated (*)
  SCRAM_SECRETS_LOG_LEVEL                  fatal|error|warn|info|debug|trace|silent (info)
  SCRAM_SECRETS_CLUSTER_TRANSITION_SECONDS how long CREATING/UPDATING lasts (0)
  SCRAM_SECRETS_DATABASE_URL               postgres://... to keep state in PostgreSQL
  SCRAM_SECRETS_DATABASE_CONNECT_TIMEOUT_SECONDS
                                           how long a PostgreSQL connection may take (10)
  SCRAM_SECRETS_VERIFY_SIGNATURES          check SigV4 signatures: true|false (true)
  SCRAM_SECRETS_THROTTLE_READ              RATE:BURST of reads per principal (0:0, off)
  SCRAM_SECRETS_THROTTLE_WRITE             RATE:BURST of writes per principal (0:0, off)
  SCRAM_SECRETS_MAX_IN_FLIGHT              requests served at once before 503 (1024)
  SCRAM_SECRETS_MAX_EVENT_LOOP_DELAY_MS    event-loop delay before 503, 0 for none (1000)
  SCRAM_SECRETS_STORE_BUSY_TIMEOUT_MS      wait for a locked database before 503 (5000)
  SCRAM_SECRETS_SHUTDOWN_GRACE_SECONDS     how long a stop waits for requests in flight
                                           before it exits 1 anyway (30)
  SCRAM_SECRETS_REQUEST_TIMEOUT_SECONDS    how long a client may take to send a request
                                           before it is answered 408 (20)
  SCRAM_SECRETS_KAFKA_RECONCILE_INTERVAL_SECONDS
                                           seconds between Kafka reconcile passes (30)
  SCRAM_SECRETS_KAFKA_SCRAM_ITERATIONS     SCRAM iterations of the users written (4096)
  SCRAM_SECRETS_KAFKA_FULL_RESYNC_SECONDS  how often every Kafka user is rewritten (3600)
  SCRAM_SECRETS_KAFKA_LEASE_SECONDS        how long a replica's claim on a cluster lasts
                                           (twice the reconcile interval)
  SCRAM_SECRETS_SECRET_SOURCES             JSON list of secret sources per account and region
                                           (builtin, or aws: AWS Secrets Manager and KMS)
  SCRAM_SECRETS_CONFIG                     a JSON file with the same settings, and the Kafka
                                           clusters to register (kafkaClusters)
`;

function version(): string {
  const packageJson = new URL('../../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version;
}

async function serve(): Promise<void> {
  const config = loadConfig();
  const server = await startServer(config);
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    server.logger.info({ event: 'server.stopping', signal }, 'stopping');
    // A request that never ends must not keep an orchestrator's stop waiting for ever; the
    // exit code tells it that this stop was not clean.
    const graceSeconds = config.shutdownGraceSeconds;
    setTimeout(() => {
      server.logger.error(
        { event: 'server.stop_timed_out', graceSeconds },
        'requests still in flight after the shutdown grace period; exiting',
      );
      process.exit(1);
    }, graceSeconds * 1000).unref();
    await server.close();
    server.logger.info({ event: 'server.stopped' }, 'stopped');
    process.exit(0);
  };
  // Listen for signals before telling anyone we are up, so that a stop never finds us deaf.
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  printClientSetup(server);
}

/** Tells a user of the generated key pair how to point the AWS CLI here. */
function printClientSetup(server: RunningServer): void {
  if (server.credentials.unusedStoredIn) {
    server.logger.warn(
      { event: 'credentials.stored_unused', file: server.credentials.unusedStoredIn },
      'the key pair generated in the data dir is not accepted while SCRAM_SECRETS_CREDENTIALS ' +
        'or principals are configured; add it there to keep using it',
    );
  }
  if (!server.credentials.storedIn) return;
  const [credential] = server.credentials.byAccessKeyId.values();
  if (!credential) return;
  if (!server.credentials.generatedNow) {
    // The secret key is printed once, when it is made: stdout often ends up in log systems.
    process.stdout.write(
      `\nUsing access key ${credential.accessKeyId}; its secret is in ` +
        `${server.credentials.storedIn}. Endpoint: ${server.url}\n\n`,
    );
    return;
  }
  process.stdout.write(
    [
      '',
      `Credentials are in ${server.credentials.storedIn}. To point the AWS CLI here, run:`,
      `  export AWS_ACCESS_KEY_ID=${credential.accessKeyId}`,
      `  export AWS_SECRET_ACCESS_KEY=${credential.secretAccessKey}`,
      '  export AWS_DEFAULT_REGION=us-east-1',
      `  export AWS_ENDPOINT_URL=${server.url}`,
      '',
    ].join('\n') + '\n',
  );
}

async function main(argv: string[]): Promise<number> {
  // Subcommands with options of their own parse the rest of the line themselves.
  if (argv[0] === 'audit') return audit(argv.slice(1), (line) => process.stdout.write(line));
  if (argv[0] === 'status') return status(argv.slice(1), (text) => process.stdout.write(text));
  const { values, positionals } = parseArgs({
    args: argv,
    options: { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'v' } },
    allowPositionals: true,
  });
  if (values.version) {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const [command] = positionals;
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(HELP);
    return command === undefined && !values.help ? 1 : 0;
  }
  if (command === 'serve') {
    await serve();
    return -1;
  }
  process.stderr.write(`Unknown command: ${command}\n\n${HELP}`);
  return 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`scram-secrets: ${(error as Error).message}\n`);
    process.exitCode = 1;
  },
);
