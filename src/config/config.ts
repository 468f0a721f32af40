import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

import { z } from 'zod';

import { REGION_NAME } from '../domain/arn.js';

const credentialSchema = z.object({
  accessKeyId: z.string().regex(/^[A-Z0-9]{16,128}$/, 'access key ids are 16-128 A-Z0-9'),
  secretAccessKey: z.string().min(16),
  accountId: z.string().regex(/^\d{12}$/, 'account ids are 12 digits'),
});

export type Credential = z.infer<typeof credentialSchema>;

const patterns = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);
// Strict: a Condition, NotAction or NotResource dropped in silence would widen an Allow.
const statementSchema = z.strictObject({
  Sid: z.string().optional(),
  Effect: z.enum(['Allow', 'Deny']),
  Action: patterns,
  Resource: patterns,
});
const policySchema = z.object({
  Version: z.string().optional(),
  Statement: z.union([statementSchema, z.array(statementSchema)]),
});

/** A caller: an access key of an account, with IAM-style policies or administration. */
const principalSchema = credentialSchema.extend({
  // An IAM user name: it is the last part of the principal's ARN, in errors, the audit log
  // and STS's XML answers.
  name: z
    .string()
    .regex(
      /^[A-Za-z0-9+=,.@_-]{1,64}$/,
      'a name is an IAM user name: 1 to 64 letters, digits and + = , . @ _ -',
    )
    .optional(),
  administrator: z.boolean().default(false),
  policies: z.array(policySchema).default([]),
});

export type PrincipalConfig = z.infer<typeof principalSchema>;

/**
 * A number, from the file as a JSON number or from the environment as decimal text
 * (`4566`, `0.5`); anything else (`0x10`, `1e3`, an empty or missing value) is refused
 * rather than read as some other number, or as NaN.
 */
function decimal(limits: (number: z.ZodNumber) => z.ZodNumber = (number) => number) {
  return z.preprocess(
    (value) => (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value),
    limits(
      z.number({
        error: (issue) =>
          issue.code !== 'invalid_type'
            ? undefined
            : issue.input === undefined
              ? 'a number is required'
              : issue.expected === 'int'
                ? 'expected a whole number'
                : 'expected a decimal number',
      }),
    ),
  );
}

const bucketSchema = z
  .object({
    rate: decimal((n) => n.min(0)),
    burst: decimal((n) => n.min(0)),
  })
  .refine((bucket) => bucket.rate === 0 || bucket.burst >= 1, {
    message: 'a burst of at least 1 is needed when the rate is not 0',
  });

/**
 * An existing Kafka cluster whose SCRAM users this service keeps in step with the secrets
 * associated with it. The admin password is named, never written, here: it is read from an
 * environment variable or a file when a connection is made, and never stored in the database.
 */
const kafkaClusterSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[0-9A-Za-z][0-9A-Za-z-]{0,63}$/, 'names are 1-64 letters, digits and dashes'),
    accountId: z.string().regex(/^\d{12}$/, 'account ids are 12 digits'),
    region: z.string().regex(REGION_NAME, 'a region such as us-east-1'),
    bootstrapServers: z
      .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
      .transform((value) =>
        (Array.isArray(value) ? value : value.split(',')).map((server) => server.trim()),
      )
      .pipe(z.array(z.string().regex(/^[^\s:,]+:\d{1,5}$/, 'bootstrap servers are HOST:PORT'))),
    securityProtocol: z.enum(['SASL_PLAINTEXT', 'SASL_SSL']),
    caFile: z.string().min(1).optional(),
    adminUsername: z.string().min(1),
    adminPasswordEnv: z.string().min(1).optional(),
    adminPasswordFile: z.string().min(1).optional(),
    kafkaVersion: z.string().min(1).max(128).optional(),
  })
  .refine(
    (cluster) =>
      (cluster.adminPasswordEnv === undefined) !== (cluster.adminPasswordFile === undefined),
    'give exactly one of adminPasswordEnv and adminPasswordFile',
  )
  .refine(
    (cluster) => cluster.caFile === undefined || cluster.securityProtocol === 'SASL_SSL',
    'caFile is for securityProtocol SASL_SSL',
  );

export type KafkaClusterSettings = z.infer<typeof kafkaClusterSchema>;

/**
 * Where the secrets of one account and region are read: the built-in Secrets Manager and KMS
 * (the default for every account and region not listed), or AWS's own, or any endpoint that
 * speaks their APIs. Credentials for `aws` come from the AWS SDK's default provider chain,
 * or from a named profile of the shared config and credentials files, one per source, so that
 * sources of different AWS accounts each sign as their own account.
 */
const secretSourceSchema = z
  .strictObject({
    accountId: z.string().regex(/^\d{12}$/, 'account ids are 12 digits'),
    region: z.string().regex(REGION_NAME, 'a region such as us-east-1'),
    type: z.enum(['builtin', 'aws']),
    endpoint: z
      .string()
      .regex(/^https?:\/\/[^\s/]+(\/\S*)?$/, 'an endpoint is an http:// or https:// URL')
      .optional(),
    sourceRegion: z.string().regex(REGION_NAME, 'a region such as us-east-1').optional(),
    profile: z
      .string()
      .regex(/^[\w.+=,@-]{1,128}$/, 'a profile name of the shared config and credentials files')
      .optional(),
    attachResourcePolicy: z.boolean().default(true),
    pollIntervalSeconds: decimal((n) => n.min(1).max(86400)).default(60),
  })
  .refine(
    (source) =>
      source.type === 'aws' ||
      (source.endpoint === undefined &&
        source.sourceRegion === undefined &&
        source.profile === undefined),
    'endpoint, sourceRegion and profile are for type aws',
  );

export type SecretSourceConfig = z.infer<typeof secretSourceSchema>;

/** A registered cluster's settings, with a way to read its admin password when it is needed. */
export interface KafkaClusterConfig extends KafkaClusterSettings {
  readAdminPassword(): string;
}

// Strict: a misspelt setting in the config file must stop the start, not fall back in silence.
const configSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: decimal((n) => n.int().min(0).max(65535)).default(4566),
  dataDir: z.string().min(1).default('./data'),
  databaseUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'a database URL begins with postgres://')
    .optional(),
  credentials: z.array(credentialSchema).optional(),
  principals: z.array(principalSchema).default([]),
  throttle: z
    .object({
      read: bucketSchema.default({ rate: 0, burst: 0 }),
      write: bucketSchema.default({ rate: 0, burst: 0 }),
    })
    .default({ read: { rate: 0, burst: 0 }, write: { rate: 0, burst: 0 } }),
  maxInFlight: decimal((n) => n.int().min(1)).default(1024),
  maxEventLoopDelayMs: decimal((n) => n.int().min(0)).default(1000),
  storeBusyTimeoutMs: decimal((n) => n.int().min(0)).default(5000),
  databaseConnectTimeoutSeconds: decimal((n) => n.min(0.1).max(600)).default(10),
  shutdownGraceSeconds: decimal((n) => n.min(1).max(3600)).default(30),
  requestTimeoutSeconds: decimal((n) => n.min(1).max(3600)).default(20),
  masterKeyFile: z.string().optional(),
  corsAllowedOrigins: z.array(z.string().min(1)).default(['*']),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  clusterTransitionSeconds: decimal((n) => n.min(0).max(3600)).default(0),
  kafkaClusters: z.array(kafkaClusterSchema).default([]),
  secretSources: z.array(secretSourceSchema).default([]),
  kafkaReconcileIntervalSeconds: decimal((n) => n.min(0.1).max(86400)).default(30),
  // Kafka itself refuses fewer than 4096 iterations for SCRAM-SHA-512, and more than 16384.
  kafkaScramIterations: decimal((n) => n.int().min(4096).max(16384)).default(4096),
  kafkaLeaseSeconds: decimal((n) => n.min(1).max(3600)).optional(),
  kafkaFullResyncSeconds: decimal((n) => n.min(0).max(7 * 86400)).default(3600),
  verifySignatures: z
    .preprocess(
      (value) =>
        value === 'true' || value === '1'
          ? true
          : value === 'false' || value === '0'
            ? false
            : value,
      z.boolean({ error: 'expected true, false, 1 or 0' }),
    )
    .default(true),
});

export type Config = Omit<z.infer<typeof configSchema>, 'kafkaClusters' | 'kafkaLeaseSeconds'> & {
  masterKeyFile: string;
  kafkaLeaseSeconds: number;
  kafkaClusters: KafkaClusterConfig[];
};

/** The environment variable that gives each setting, by the setting's key in the config file. */
const ENVIRONMENT = {
  host: 'SCRAM_SECRETS_HOST',
  port: 'SCRAM_SECRETS_PORT',
  dataDir: 'SCRAM_SECRETS_DATA_DIR',
  databaseUrl: 'SCRAM_SECRETS_DATABASE_URL',
  credentials: 'SCRAM_SECRETS_CREDENTIALS',
  masterKeyFile: 'SCRAM_SECRETS_MASTER_KEY_FILE',
  corsAllowedOrigins: 'SCRAM_SECRETS_CORS_ORIGINS',
  logLevel: 'SCRAM_SECRETS_LOG_LEVEL',
  clusterTransitionSeconds: 'SCRAM_SECRETS_CLUSTER_TRANSITION_SECONDS',
  verifySignatures: 'SCRAM_SECRETS_VERIFY_SIGNATURES',
  maxInFlight: 'SCRAM_SECRETS_MAX_IN_FLIGHT',
  maxEventLoopDelayMs: 'SCRAM_SECRETS_MAX_EVENT_LOOP_DELAY_MS',
  storeBusyTimeoutMs: 'SCRAM_SECRETS_STORE_BUSY_TIMEOUT_MS',
  databaseConnectTimeoutSeconds: 'SCRAM_SECRETS_DATABASE_CONNECT_TIMEOUT_SECONDS',
  shutdownGraceSeconds: 'SCRAM_SECRETS_SHUTDOWN_GRACE_SECONDS',
  requestTimeoutSeconds: 'SCRAM_SECRETS_REQUEST_TIMEOUT_SECONDS',
  kafkaReconcileIntervalSeconds: 'SCRAM_SECRETS_KAFKA_RECONCILE_INTERVAL_SECONDS',
  kafkaScramIterations: 'SCRAM_SECRETS_KAFKA_SCRAM_ITERATIONS',
  kafkaLeaseSeconds: 'SCRAM_SECRETS_KAFKA_LEASE_SECONDS',
  kafkaFullResyncSeconds: 'SCRAM_SECRETS_KAFKA_FULL_RESYNC_SECONDS',
  secretSources: 'SCRAM_SECRETS_SECRET_SOURCES',
  'throttle.read': 'SCRAM_SECRETS_THROTTLE_READ',
  'throttle.write': 'SCRAM_SECRETS_THROTTLE_WRITE',
} as const;

/**
 * Where the user set the setting at `path`, so that a refusal names what to change: the
 * environment variable when it came from there (the environment wins over the file), else
 * the key in the config file.
 */
function settingName(
  path: PropertyKey[],
  env: NodeJS.ProcessEnv,
  configFile: string | undefined,
): string {
  const key = path.map(String).join('.');
  for (let length = Math.min(path.length, 2); length >= 1; length -= 1) {
    const prefix = path.slice(0, length).map(String).join('.');
    const name = Object.hasOwn(ENVIRONMENT, prefix)
      ? ENVIRONMENT[prefix as keyof typeof ENVIRONMENT]
      : undefined;
    if (name !== undefined && env[name] !== undefined) {
      return key === prefix ? name : `${name} (${key})`;
    }
  }
  // A key the schema does not know is reported on the object that holds it: for the top
  // level, the file itself.
  if (key === '') return configFile ?? 'the configuration';
  return configFile ? `${key} in ${configFile}` : key;
}

/**
 * Builds the one configuration object from an optional JSON file (SCRAM_SECRETS_CONFIG) and
 * the environment, which wins. Invalid settings stop the start with a message naming them.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // An empty variable is a mistake more often than a choice (`SCRAM_SECRETS_PORT=$PORT` with
  // PORT unset would listen on a random port): it stops the start.
  const nonEmpty = (name: string): string | undefined => {
    if (env[name] === '') {
      throw new Error(
        `Invalid configuration: ${name} is set but empty. Unset it to use the default, or ` +
          'give it a value.',
      );
    }
    return env[name];
  };
  const configFile = nonEmpty('SCRAM_SECRETS_CONFIG');
  const fromFile = configFile ? readConfigFile(configFile) : {};
  const read = (key: keyof typeof ENVIRONMENT): string | undefined => nonEmpty(ENVIRONMENT[key]);
  const credentials = read('credentials');
  const corsOrigins = read('corsAllowedOrigins');
  const secretSources = read('secretSources');
  const fromEnv: Record<string, unknown> = {
    host: read('host'),
    port: read('port'),
    dataDir: read('dataDir'),
    databaseUrl: read('databaseUrl'),
    credentials: credentials ? parseCredentials(credentials) : undefined,
    masterKeyFile: read('masterKeyFile'),
    corsAllowedOrigins:
      corsOrigins !== undefined ? corsOrigins.split(',').map((origin) => origin.trim()) : undefined,
    logLevel: read('logLevel'),
    clusterTransitionSeconds: read('clusterTransitionSeconds'),
    verifySignatures: read('verifySignatures'),
    maxInFlight: read('maxInFlight'),
    maxEventLoopDelayMs: read('maxEventLoopDelayMs'),
    storeBusyTimeoutMs: read('storeBusyTimeoutMs'),
    databaseConnectTimeoutSeconds: read('databaseConnectTimeoutSeconds'),
    shutdownGraceSeconds: read('shutdownGraceSeconds'),
    requestTimeoutSeconds: read('requestTimeoutSeconds'),
    kafkaReconcileIntervalSeconds: read('kafkaReconcileIntervalSeconds'),
    kafkaScramIterations: read('kafkaScramIterations'),
    kafkaLeaseSeconds: read('kafkaLeaseSeconds'),
    kafkaFullResyncSeconds: read('kafkaFullResyncSeconds'),
    secretSources: secretSources
      ? parseJsonSetting(ENVIRONMENT.secretSources, secretSources)
      : undefined,
  };
  const throttleRead = read('throttle.read');
  const throttleWrite = read('throttle.write');
  const throttleFromEnv = withoutUndefined({
    read: throttleRead ? parseBucket(ENVIRONMENT['throttle.read'], throttleRead) : undefined,
    write: throttleWrite ? parseBucket(ENVIRONMENT['throttle.write'], throttleWrite) : undefined,
  });
  const merged: Record<string, unknown> = { ...fromFile, ...withoutUndefined(fromEnv) };
  if (Object.keys(throttleFromEnv).length > 0) {
    merged.throttle = { ...(fromFile.throttle as object | undefined), ...throttleFromEnv };
  }
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${settingName(issue.path, env, configFile)}: ${issue.message}`,
    );
    throw new Error(`Invalid configuration: ${problems.join('; ')}`);
  }
  requireOneSourceEach(parsed.data.secretSources);
  const dataDir = resolve(parsed.data.dataDir);
  return {
    ...parsed.data,
    dataDir,
    kafkaLeaseSeconds: leaseSeconds(parsed.data, (key) => settingName([key], env, configFile)),
    masterKeyFile: resolve(parsed.data.masterKeyFile ?? `${dataDir}/master.key`),
    kafkaClusters: withPasswordReaders(parsed.data.kafkaClusters, env),
  };
}

/**
 * A lease holder renews at each reconcile pass, so a lease that does not outlast the interval
 * would lapse before every renewal and hop between live replicas. Unset, it is two intervals.
 */
function leaseSeconds(
  settings: {
    kafkaLeaseSeconds?: number | undefined;
    kafkaReconcileIntervalSeconds: number;
  },
  nameOf: (key: string) => string,
): number {
  const interval = settings.kafkaReconcileIntervalSeconds;
  if (settings.kafkaLeaseSeconds === undefined) return 2 * interval;
  if (settings.kafkaLeaseSeconds <= interval) {
    throw new Error(
      `Invalid configuration: ${nameOf('kafkaLeaseSeconds')} (${settings.kafkaLeaseSeconds}) ` +
        `must be longer than ${nameOf('kafkaReconcileIntervalSeconds')} (${interval}), or its ` +
        'holder loses it between passes; twice the interval is a good choice.',
    );
  }
  return settings.kafkaLeaseSeconds;
}

/**
 * Checks that every cluster's admin password can be read now, so that a typo stops the start,
 * and reads it again at each connection, so that a changed file or variable takes effect.
 */
function withPasswordReaders(
  clusters: KafkaClusterSettings[],
  env: NodeJS.ProcessEnv,
): KafkaClusterConfig[] {
  const names = new Set<string>();
  return clusters.map((cluster, index) => {
    const key = `${cluster.accountId}/${cluster.region}/${cluster.name}`;
    if (names.has(key)) {
      throw new Error(`Invalid configuration: kafkaClusters.${index}: ${key} is registered twice`);
    }
    names.add(key);
    const where = `kafkaClusters.${index}`;
    const readAdminPassword = (): string => {
      const password =
        cluster.adminPasswordEnv !== undefined
          ? env[cluster.adminPasswordEnv]
          : readPasswordFile(cluster.adminPasswordFile!, where);
      if (!password) {
        throw new Error(
          `Invalid configuration: ${where}: the admin password in ` +
            (cluster.adminPasswordEnv !== undefined
              ? `the environment variable ${cluster.adminPasswordEnv}`
              : `the file ${cluster.adminPasswordFile}`) +
            ' is missing or empty',
        );
      }
      return password;
    };
    readAdminPassword();
    return { ...cluster, readAdminPassword };
  });
}

function requireOneSourceEach(sources: SecretSourceConfig[]): void {
  const seen = new Set<string>();
  sources.forEach((source, index) => {
    const key = `${source.accountId}/${source.region}`;
    if (seen.has(key)) {
      throw new Error(
        `Invalid configuration: secretSources.${index}: ${key} has a secret source already`,
      );
    }
    seen.add(key);
  });
}

function parseJsonSetting(name: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new Error(`Invalid configuration: ${name} is not JSON: ${(error as Error).message}`);
  }
}

function readPasswordFile(file: string, where: string): string {
  try {
    // A trailing newline is an editor's, not part of the password.
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (error) {
    const reason = (error as Error).message;
    throw new Error(`Invalid configuration: ${where}: cannot read ${file}: ${reason}`);
  }
}

function parseCredentials(text: string): unknown[] {
  const entries = text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  // Set but naming no key would otherwise read as unset, and a key pair would be generated.
  if (entries.length === 0) {
    throw new Error(
      'Invalid configuration: SCRAM_SECRETS_CREDENTIALS names no key; give ' +
        'ACCESS_KEY_ID:SECRET_ACCESS_KEY:ACCOUNT_ID entries separated by commas, or unset it',
    );
  }
  return entries.map((entry) => {
    const [accessKeyId, secretAccessKey, accountId, ...rest] = entry.split(':');
    if (rest.length > 0 || !accountId) {
      throw new Error(
        'Invalid configuration: SCRAM_SECRETS_CREDENTIALS entries are ' +
          'ACCESS_KEY_ID:SECRET_ACCESS_KEY:ACCOUNT_ID, separated by commas',
      );
    }
    return { accessKeyId, secretAccessKey, accountId };
  });
}

function parseBucket(name: string, text: string): { rate: string; burst: string } {
  const [rate, burst, ...rest] = text.split(':');
  if (rest.length > 0 || rate === undefined || burst === undefined) {
    throw new Error(`Invalid configuration: ${name} is RATE:BURST, e.g. 10:20`);
  }
  return { rate, burst };
}

function readConfigFile(path: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`Invalid configuration: cannot read ${path}: ${(error as Error).message}`);
  }
}

function withoutUndefined(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined));
}
