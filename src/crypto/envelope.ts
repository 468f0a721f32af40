import {
  createCipheriv,
  createDecipheriv,
  hkdfSync,
  randomBytes,
  randomFillSync,
} from 'node:crypto';

const FORMAT_VERSION = 1;
const FORMAT_PREFIX = Buffer.from([FORMAT_VERSION]);
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const KEY_BYTES = 32;

/**
 * IVs are drawn from CSPRNG output fetched for many at once: asking OpenSSL for 12 bytes at a
 * time cost a page token more than the encryption itself. Each byte is handed out once, and
 * the pool is refilled with fresh output, never reused.
 */
const ivPool = Buffer.alloc(IV_BYTES * 256);
let ivPoolOffset = ivPool.length;

/**
 * AES-256-GCM with the context bound in as additional data, so that a ciphertext moved to
 * another row (another secret, another key) no longer opens.
 */
export function seal(key: Buffer, plaintext: Buffer, context: string): Buffer {
  const iv = nextIv();
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(context, 'utf8'));
  const body = cipher.update(plaintext);
  const rest = cipher.final();
  return Buffer.concat([FORMAT_PREFIX, iv, cipher.getAuthTag(), body, rest]);
}

/** A view of the pool: valid until the next call, which is enough for `seal`, which copies it. */
function nextIv(): Buffer {
  if (ivPoolOffset === ivPool.length) {
    randomFillSync(ivPool);
    ivPoolOffset = 0;
  }
  const iv = ivPool.subarray(ivPoolOffset, ivPoolOffset + IV_BYTES);
  ivPoolOffset += IV_BYTES;
  return iv;
}

/** Opens what `seal` made; throws when the key, the context or any byte is wrong. */
export function open(key: Buffer, sealed: Buffer, context: string): Buffer {
  if (sealed.length < 1 + IV_BYTES + TAG_BYTES || sealed[0] !== FORMAT_VERSION) {
    throw new Error('sealed data has an unknown format');
  }
  const iv = sealed.subarray(1, 1 + IV_BYTES);
  const tag = sealed.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAAD(Buffer.from(context, 'utf8'));
  decipher.setAuthTag(tag);
  return Buffer.concat([
    decipher.update(sealed.subarray(1 + IV_BYTES + TAG_BYTES)),
    decipher.final(),
  ]);
}

export function newKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

/** A key for one purpose, derived from the installation's master key. */
export function deriveKey(masterKey: Buffer, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), purpose, KEY_BYTES));
}
