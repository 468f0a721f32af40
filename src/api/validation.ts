import type { z } from 'zod';

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
