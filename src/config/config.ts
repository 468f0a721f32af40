import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

import { z } from 'zod';

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
  name: z.string().min(1).max(128).optional(),
  administrator: z.boolean().default(false),
  policies: z.array(policySchema).default([]),
});

export type PrincipalConfig = z.infer<typeof principalSchema>;

const bucketSchema = z
  .object({
    rate: z.coerce.number().min(0),
    burst: z.coerce.number().min(0),
  })
  .refine((bucket) => bucket.rate === 0 || bucket.burst >= 1, {
    message: 'a burst of at least 1 is needed when the rate is not 0',
  });

// Strict: a misspelt setting in the config file must stop the start, not fall back in silence.
const configSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.coerce.number().int().min(0).max(65535).default(4566),
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
  maxInFlight: z.coerce.number().int().min(1).default(1024),
  maxEventLoopDelayMs: z.coerce.number().int().min(0).default(1000),
  storeBusyTimeoutMs: z.coerce.number().int().min(0).default(5000),
  masterKeyFile: z.string().optional(),
  corsAllowedOrigins: z.array(z.string().min(1)).default(['*']),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  clusterTransitionSeconds: z.coerce.number().min(0).max(3600).default(0),
  verifySignatures: z.preprocess(
    (value) => (value === 'true' || value === '1' ? true : value === 'false' || value === '0' ? false : value),
    z.boolean(),
  ).default(true),
});

export type Config = z.infer<typeof configSchema> & { masterKeyFile: string };

/**
 * Builds the one configuration object from an optional JSON file (SCRAM_SECRETS_CONFIG) and
 * the environment, which wins. Invalid settings stop the start with a message naming them.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const fromFile = env.SCRAM_SECRETS_CONFIG ? readConfigFile(env.SCRAM_SECRETS_CONFIG) : {};
  const fromEnv: Record<string, unknown> = {
    host: env.SCRAM_SECRETS_HOST,
    port: env.SCRAM_SECRETS_PORT,
    dataDir: env.SCRAM_SECRETS_DATA_DIR,
    databaseUrl: env.SCRAM_SECRETS_DATABASE_URL,
    credentials: env.SCRAM_SECRETS_CREDENTIALS
      ? parseCredentials(env.SCRAM_SECRETS_CREDENTIALS)
      : undefined,
    masterKeyFile: env.SCRAM_SECRETS_MASTER_KEY_FILE,
    corsAllowedOrigins: env.SCRAM_SECRETS_CORS_ORIGINS !== undefined
      ? env.SCRAM_SECRETS_CORS_ORIGINS.split(',').map((origin) => origin.trim())
      : undefined,
    logLevel: env.SCRAM_SECRETS_LOG_LEVEL,
    clusterTransitionSeconds: env.SCRAM_SECRETS_CLUSTER_TRANSITION_SECONDS,
    verifySignatures: env.SCRAM_SECRETS_VERIFY_SIGNATURES,
    maxInFlight: env.SCRAM_SECRETS_MAX_IN_FLIGHT,
    maxEventLoopDelayMs: env.SCRAM_SECRETS_MAX_EVENT_LOOP_DELAY_MS,
    storeBusyTimeoutMs: env.SCRAM_SECRETS_STORE_BUSY_TIMEOUT_MS,
  };
  const throttleFromEnv = withoutUndefined({
    read: env.SCRAM_SECRETS_THROTTLE_READ ? parseBucket(env.SCRAM_SECRETS_THROTTLE_READ) : undefined,
    write: env.SCRAM_SECRETS_THROTTLE_WRITE ? parseBucket(env.SCRAM_SECRETS_THROTTLE_WRITE) : undefined,
  });
  const merged: Record<string, unknown> = { ...fromFile, ...withoutUndefined(fromEnv) };
  if (Object.keys(throttleFromEnv).length > 0) {
    merged.throttle = { ...(fromFile.throttle as object | undefined), ...throttleFromEnv };
  }
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new Error(`Invalid configuration: ${problems.join('; ')}`);
  }
  const dataDir = resolve(parsed.data.dataDir);
  return {
    ...parsed.data,
    dataDir,
    masterKeyFile: resolve(parsed.data.masterKeyFile ?? `${dataDir}/master.key`),
  };
}

function parseCredentials(text: string): unknown[] {
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => {
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

function parseBucket(text: string): { rate: string; burst: string } {
  const [rate, burst, ...rest] = text.split(':');
  if (rest.length > 0 || rate === undefined || burst === undefined) {
    throw new Error('Invalid configuration: throttle settings are RATE:BURST, e.g. 10:20');
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
