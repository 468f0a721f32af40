import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { Credential } from '../config/config.js';

export const DEFAULT_ACCOUNT_ID = '000000000000';

export interface CredentialSet {
  byAccessKeyId: Map<string, Credential>;
  /** Set when the keys came from the data dir rather than the configuration. */
  storedIn?: string;
}

/**
 * The access keys the service accepts: those configured, or else one pair generated on first
 * start and kept in the data dir (mode 0600) so that it survives restarts.
 */
export function loadCredentials(configured: Credential[] | undefined, dataDir: string): CredentialSet {
  if (configured && configured.length > 0) {
    return { byAccessKeyId: new Map(configured.map((c) => [c.accessKeyId, c])) };
  }
  const file = join(dataDir, 'credentials.json');
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true });
    const generated: Credential = {
      accessKeyId: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`,
      secretAccessKey: randomBytes(30).toString('base64url'),
      accountId: DEFAULT_ACCOUNT_ID,
    };
    writeFileSync(file, `${JSON.stringify(generated, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  }
  const stored = JSON.parse(readFileSync(file, 'utf8')) as Credential;
  return { byAccessKeyId: new Map([[stored.accessKeyId, stored]]), storedIn: file };
}
