import { pino, type Logger } from 'pino';

/**
 * Structured JSON logs: one event name plus fields. Headers that carry signatures are
 * redacted wherever they appear, as a second line of defence behind never logging them.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'scram-secrets' },
    redact: {
      paths: [
        'req.headers.authorization',
        'headers.authorization',
        'rawPacket',
        '*.rawPacket',
        '*.SecretString',
        '*.password',
      ],
      censor: '[redacted]',
    },
  });
}
