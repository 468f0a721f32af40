import { pino, type Logger } from 'pino';

/** Query parameters of a presigned URL that carry its signature or a session token. */
const SECRET_QUERY_PARAMETERS = /([?&]X-Amz-(?:Signature|Security-Token)=)[^&#]*/gi;

/**
 * Structured JSON logs: one event name plus fields. Headers that carry signatures or session
 * tokens are redacted wherever they appear, and so are those parts of a logged URL, as a
 * second line of defence behind never logging them.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'scram-secrets' },
    redact: {
      paths: [
        'req.headers.authorization',
        'headers.authorization',
        'req.headers["x-amz-security-token"]',
        'headers["x-amz-security-token"]',
        'rawPacket',
        '*.rawPacket',
        '*.SecretString',
        '*.password',
      ],
      censor: '[redacted]',
    },
    serializers: {
      url: (url: unknown) => (typeof url === 'string' ? withoutSecretQuery(url) : url),
      req: (req: { url?: unknown }) =>
        typeof req?.url === 'string' ? { ...req, url: withoutSecretQuery(req.url) } : req,
    },
  });
}

export function withoutSecretQuery(url: string): string {
  return url.replace(SECRET_QUERY_PARAMETERS, '$1[redacted]');
}
