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
  /** A key pair generated in the data dir earlier, and not accepted now that keys are configured. */
  unusedStoredIn?: string;
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
    // One name per account, as IAM has it: the name is who the ARN, the audit log and STS
    // say made a call.
    const names = new Set<string>();
    for (const principal of known) {
      if (byAccessKeyId.has(principal.accessKeyId)) {
        throw new Error(
          `Invalid configuration: access key ${principal.accessKeyId} is given twice`,
        );
      }
      const named = `${principal.accountId}/${principal.name}`;
      if (names.has(named)) {
        throw new Error(
          `Invalid configuration: two principals of account ${principal.accountId} are named ` +
            `${principal.name}; give each its own name (a key of SCRAM_SECRETS_CREDENTIALS is ` +
            'named by its access key id)',
        );
      }
      names.add(named);
      byAccessKeyId.set(principal.accessKeyId, principal);
    }
    const stored = join(dataDir, 'credentials.json');
    return existsSync(stored) ? { byAccessKeyId, unusedStoredIn: stored } : { byAccessKeyId };
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
