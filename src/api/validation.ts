import { z } from 'zod';

import { badRequest, jsonError, type ServiceError } from '../domain/errors.js';

/** Validates a JSON 1.1 request body; the first problem becomes `errorType` with its path. */
export function parseJsonInput<Schema extends z.ZodType>(
  schema: Schema,
  input: unknown,
  errorType = 'ValidationException',
): z.infer<Schema> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw describe(result.error, (message) => jsonError(errorType, message));
}

/** Validates a REST-JSON body or query; failures are 400 naming the parameter at fault. */
export function parseRestInput<Schema extends z.ZodType>(
  schema: Schema,
  input: unknown,
): z.infer<Schema> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const parameter = String(result.error.issues[0]?.path[0] ?? 'body');
  throw describe(result.error, (message) => badRequest(message, parameter));
}

function describe(error: z.ZodError, make: (message: string) => ServiceError): ServiceError {
  const issue = error.issues[0]!;
  const where = issue.path.length > 0 ? issue.path.join('.') : 'the request body';
  return make(`Invalid value for ${where}: ${issue.message}.`);
}

/**
 * A map of tag keys (1 to 128 characters) to values (at most 256). Any key is kept,
 * `__proto__` included: the body's own object is passed on as it was parsed, since a map
 * rebuilt key by key would turn that key into a prototype and lose the tag.
 */
export const tagMap = z.custom<Record<string, string>>(
  (value) =>
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.entries(value).every(
      ([key, text]) =>
        key.length >= 1 && key.length <= 128 && typeof text === 'string' && text.length <= 256,
    ),
  { message: 'tags must map tag keys (1 to 128 characters) to string values (at most 256)' },
);
