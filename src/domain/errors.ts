/**
 * Every error the service answers with, named as the AWS SDKs expect them. The class name of
 * the error on the wire (`type`) is what SDKs turn into an exception class, so it must match
 * the service models exactly.
 */
export class ServiceError extends Error {
  constructor(
    readonly type: string,
    readonly statusCode: number,
    message: string,
    readonly invalidParameter?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = type;
  }
}

// MSK (REST-JSON) errors: the body is {"message", "invalidParameter"}.

export function badRequest(message: string, invalidParameter?: string): ServiceError {
  return new ServiceError('BadRequestException', 400, message, invalidParameter);
}

export function unauthorized(message: string): ServiceError {
  return new ServiceError('UnauthorizedException', 401, message);
}

export function forbidden(message: string): ServiceError {
  return new ServiceError('ForbiddenException', 403, message);
}

export function notFound(message: string, invalidParameter?: string): ServiceError {
  return new ServiceError('NotFoundException', 404, message, invalidParameter);
}

export function conflict(message: string, invalidParameter?: string): ServiceError {
  return new ServiceError('ConflictException', 409, message, invalidParameter);
}

export function internalError(): ServiceError {
  return new ServiceError(
    'InternalServerErrorException',
    500,
    'There was an unexpected internal server error. Retrying your request might resolve the issue.',
  );
}

export function serviceUnavailable(message: string, retryAfterSeconds = 1): ServiceError {
  return new ServiceError('ServiceUnavailableException', 503, message, undefined, {
    'retry-after': String(retryAfterSeconds),
  });
}

// JSON 1.1 (Secrets Manager, KMS) errors: the body is {"__type", "message"}; most are 400.

export function jsonError(type: string, message: string, statusCode = 400): ServiceError {
  return new ServiceError(type, statusCode, message);
}

// STS (query protocol) errors: the body is XML, `<ErrorResponse><Error><Code>`.

export function queryFault(type: string, message: string, statusCode = 400): ServiceError {
  return new ServiceError(type, statusCode, message);
}
