import { badRequest } from './errors.js';
import { open, seal } from '../crypto/envelope.js';

/**
 * Opaque, tamper-evident pagination tokens. The position is sealed with AES-GCM under a key
 * derived from the master key, with the listing it belongs to (for example one cluster's
 * secrets) bound in as additional data: a token edited by hand, or replayed against another
 * listing, fails to open.
 */
export class PageTokens {
  constructor(private readonly key: Buffer) {}

  issue(listing: string, position: string): string {
    return seal(this.key, Buffer.from(position, 'utf8'), listing).toString('base64url');
  }

  /** The position a token stands for, or a 400 naming `parameter`. */
  read(listing: string, token: string, parameter: string): string {
    try {
      const sealed = Buffer.from(token, 'base64url');
      // The decoder skips stray characters and unused bits; only the exact token we issued counts.
      if (sealed.toString('base64url') !== token) throw new Error('not a token we issued');
      return open(this.key, sealed, listing).toString('utf8');
    } catch {
      throw badRequest(
        'The nextToken is not valid for this request. Pass the nextToken from the previous ' +
          'response of the same call, unchanged.',
        parameter,
      );
    }
  }
}
