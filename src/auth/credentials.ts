import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { Credential, PrincipalConfig } from '../config/config.js';
import type { Principal } from './policy.js';

export const DEFAULT_ACCOUNT_ID = '000000000000';

export type KnownPrincipal = Principal & Credential;

export interface CredentialSet {
  byAccessKeyId: Map<string, KnownPrincipal>;
  /** Set when the keys came from the data dir rather than the configuration. */
  storedIn?: string;
  /** True when this start generated them. */
  generatedNow?: boolean;
}

/**
 * The access keys the service accepts: the principals of the config file, the keys of
 * SCRAM_SECRETS_CREDENTIALS (each its account's administrator), or else one administrator
 * key pair generated on first start and kept in the data dir (mode 0600).
 */
export function loadCredentials(
  configured: Credential[] | undefined,
  principals: PrincipalConfig[],
  dataDir: string,
): CredentialSet {
  const known: KnownPrincipal[] = [
    ...(configured ?? []).map((credential) => administrator(credential)),
    ...principals.map((principal) => ({
      ...principal,
      name: principal.name ?? principal.accessKeyId,
    })),
  ];
  if (known.length > 0) {
    const byAccessKeyId = new Map<string, KnownPrincipal>();
    for (const principal of known) {
      if (byAccessKeyId.has(principal.accessKeyId)) {
        throw new Error(
          `Invalid configuration: access key ${principal.accessKeyId} is given twice`,
        );
      }
      byAccessKeyId.set(principal.accessKeyId, principal);
    }
    return { byAccessKeyId };
  }
  const file = join(dataDir, 'credentials.json');
  const generatedNow = !existsSync(file);
  if (generatedNow) {
    mkdirSync(dataDir, { recursive: true });
    const generated: Credential = {
      accessKeyId: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`,
      secretAccessKey: randomBytes(30).toString('base64url'),
      accountId: DEFAULT_ACCOUNT_ID,
    };
    writeFileSync(file, `${JSON.stringify(generated, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  }
  const stored = administrator(JSON.parse(readFileSync(file, 'utf8')) as Credential);
  return { byAccessKeyId: new Map([[stored.accessKeyId, stored]]), storedIn: file, generatedNow };
}

function administrator(credential: Credential): KnownPrincipal {
  return { ...credential, name: credential.accessKeyId, administrator: true, policies: [] };
}
