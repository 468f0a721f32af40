import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

import { z } from 'zod';

const credentialSchema = z.object({
  accessKeyId: z.string().regex(/^[A-Z0-9]{16,128}$/, 'access key ids are 16-128 A-Z0-9'),
  secretAccessKey: z.string().min(16),
  accountId: z.string().regex(/^\d{12}$/, 'account ids are 12 digits'),
});

export type Credential = z.infer<typeof credentialSchema>;

const configSchema = z.object({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.coerce.number().int().min(0).max(65535).default(4566),
  dataDir: z.string().min(1).default('./data'),
  credentials: z.array(credentialSchema).optional(),
  masterKeyFile: z.string().optional(),
  corsAllowedOrigins: z.array(z.string().min(1)).default(['*']),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  clusterTransitionSeconds: z.coerce.number().min(0).max(3600).default(0),
  verifySignatures: z.preprocess(
    (value) => (typeof value === 'string' ? value !== 'false' && value !== '0' : value),
    z.boolean(),
  ).default(false),
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
    credentials: env.SCRAM_SECRETS_CREDENTIALS
      ? parseCredentials(env.SCRAM_SECRETS_CREDENTIALS)
      : undefined,
    masterKeyFile: env.SCRAM_SECRETS_MASTER_KEY_FILE,
    corsAllowedOrigins: env.SCRAM_SECRETS_CORS_ORIGINS
      ? env.SCRAM_SECRETS_CORS_ORIGINS.split(',').map((origin) => origin.trim())
      : undefined,
    logLevel: env.SCRAM_SECRETS_LOG_LEVEL,
    clusterTransitionSeconds: env.SCRAM_SECRETS_CLUSTER_TRANSITION_SECONDS,
    verifySignatures: env.SCRAM_SECRETS_VERIFY_SIGNATURES,
  };
  const merged = { ...fromFile, ...withoutUndefined(fromEnv) };
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
