import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

import { KEY_BYTES, newKey } from './envelope.js';

/**
 * The installation's master key wraps every KMS key's material. It lives in its own file,
 * never in the database, so that the database file alone reveals no secret value. Replicas
 * that share a database must share this file too.
 */
export function loadOrCreateMasterKey(file: string): Buffer {
  if (!existsSync(file)) {
    // Folders made here are for the owner alone, whatever the umask: whoever may write in them
    // could swap the key. A folder that exists keeps its mode.
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    // Written aside and linked into place, so that a reader never sees half a key.
    const draft = `${file}.${process.pid}.draft`;
    writeFileSync(draft, `${newKey().toString('base64')}\n`, { mode: 0o600 });
    try {
      linkSync(draft, file);
    } catch (error) {
      // Another replica starting at the same moment put its key there first: use theirs.
      if ((error as { code?: string }).code !== 'EEXIST') throw error;
    } finally {
      unlinkSync(draft);
    }
  }
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  if (key.length !== KEY_BYTES) {
    throw new Error(`The master key in ${file} is not ${KEY_BYTES} bytes of base64`);
  }
  return key;
}
