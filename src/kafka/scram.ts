import { createHmac, pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);

/** SCRAM-SHA-512's key length: the output of SHA-512. */
const SHA512_BYTES = 64;
const SALT_BYTES = 32;

export interface ScramCredential {
  iterations: number;
  salt: Buffer;
  saltedPassword: Buffer;
}

/**
 * A SCRAM-SHA-512 credential as a broker stores it (RFC 5802): SaltedPassword is Hi(password,
 * salt, i), and Hi is PBKDF2 with HMAC-SHA-512. A fresh random salt each time, so that a
 * credential read off one cluster says nothing about the same password elsewhere. Node's
 * pbkdf2 runs on the thread pool, so a large batch does not stall requests.
 */
export async function scramSha512Credential(
  password: string,
  iterations: number,
): Promise<ScramCredential> {
  const salt = randomBytes(SALT_BYTES);
  // RFC 5802 asks for SASLprep; passwords of printable ASCII, the common case, are unchanged
  // by it, and Kafka's own clients send the password as UTF-8 without it too.
  const saltedPassword = await pbkdf2Async(password, salt, iterations, SHA512_BYTES, 'sha512');
  return { iterations, salt, saltedPassword };
}

/**
 * A keyed hash of what a user was provisioned with, so that a new secret version holding the
 * same password can be told apart from a changed one without keeping the password. The key
 * is derived from the master key, so the hash cannot be tested against guesses without it.
 */
export function credentialFingerprint(
  key: Buffer,
  username: string,
  password: string,
  iterations: number,
): string {
  return createHmac('sha256', key)
    .update(`${username}\u0000${password}\u0000${iterations}`, 'utf8')
    .digest('base64url');
}
