// The only code → HTTP status table, and the one error body shape: { error: { code, message, requestId } }.
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ApiError, isBrokerError, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';

const EXPLICIT: Partial<Record<ErrorCode, ContentfulStatusCode>> = {
  ERR_API_UNAUTHENTICATED: 401,
  ERR_API_FORBIDDEN: 403,
  ERR_API_VALIDATION: 400,
  ERR_API_NOT_FOUND: 404,
  ERR_API_INTERNAL: 500,
  ERR_API_RATE_LIMITED: 429,
  ERR_API_BODY_TOO_LARGE: 413,
  ERR_API_TOO_MANY_STREAMS: 429,
  ERR_API_NOT_NODE: 403,
  ERR_API_NOT_CHILD_ENTRY: 403,
  ERR_API_WORKLOAD_MISMATCH: 403,
  ERR_API_CSRF: 403,
  ERR_FEDERATION_APPROVAL_REPEATED: 409,
  ERR_FEDERATION_APPROVAL_RELATED: 409,
  ERR_FEDERATION_RELATIONSHIP_CHANGED: 409,
  ERR_REGISTRATION_TOKEN_INVALID: 401,
  ERR_CA_ID_NOT_ALLOWED: 403,
  ERR_STORE_UNAVAILABLE: 503,
  ERR_STORE_CORRUPT: 500,
  ERR_CA_NO_ACTIVE_AUTHORITY: 503,
  ERR_CA_KEY_LOAD: 500,
  ERR_CA_STATE: 500,
  ERR_CA_CONFIG: 500,
  ERR_CA_UPSTREAM: 500,
  // FailedPrecondition, as SPIRE answers: the request is fine, upstream mode rules it out.
  ERR_CA_REVOKE_UPSTREAM: 409,
  ERR_CONFIG_INVALID: 500,
  ERR_CONFIG_FILE: 500,
};

/** HTTP status for a broker error code: explicit table first, then by the code's shape. */
export function statusForCode(code: ErrorCode): ContentfulStatusCode {
  const explicit = EXPLICIT[code];
  if (explicit !== undefined) return explicit;
  if (code.endsWith('_NOT_FOUND')) return 404;
  if (/_(EXISTS|CONFLICT|TRANSITION|STATE|STALE|STALE_SEQUENCE|TOO_EARLY)$/.test(code)) return 409;
  if (code.startsWith('ERR_FEDERATION_FETCH_')) return 502;
  // Everything else is about what the caller sent: a malformed ID, bundle, CSR, token or parameter.
  return 400;
}

export type ErrorLogger = Pick<Logger, 'error'>;

/** Builds the one onError of an app: coded errors keep their code; anything else is a generic 500. */
export function errorHandler(logger: ErrorLogger) {
  return (error: Error, c: Context): Response => {
    const requestId = (c.get('requestId' as never) as string | undefined) ?? 'unknown';
    if (isBrokerError(error)) {
      const status = statusForCode(error.code);
      if (status >= 500)
        logger.error('request failed', {
          requestId,
          code: error.code,
          cause: String(error.cause ?? ''),
        });
      // 429s say when to come back; a body over its limit may still be arriving: close the
      // connection rather than read it.
      const retryAfter = error.context?.['retryAfterSeconds'];
      return codedErrorResponse(c, error.code, error.message, {
        ...(status === 429 && typeof retryAfter === 'number'
          ? { 'retry-after': String(retryAfter) }
          : {}),
        ...(error.code === 'ERR_API_BODY_TOO_LARGE' ? { connection: 'close' } : {}),
      });
    }
    logger.error('unexpected failure', { requestId, error: error.message, stack: error.stack });
    return c.json(
      { error: { code: 'ERR_API_INTERNAL', message: 'internal error', requestId } },
      500,
    );
  };
}

/** The one error body shape for `code`, with its status from the table and extra headers. */
export function codedErrorResponse(
  c: Context,
  code: ErrorCode,
  message: string,
  headers: Readonly<Record<string, string>> = {},
): Response {
  const requestId = (c.get('requestId' as never) as string | undefined) ?? 'unknown';
  return c.json({ error: { code, message, requestId } }, statusForCode(code), headers);
}

export function notFoundHandler(c: Context): Response {
  const requestId = (c.get('requestId' as never) as string | undefined) ?? 'unknown';
  return c.json(
    {
      error: {
        code: 'ERR_API_NOT_FOUND',
        message: `no route ${c.req.method} ${c.req.path}`,
        requestId,
      },
    },
    404,
  );
}

export function validationError(message: string): ApiError {
  return new ApiError('ERR_API_VALIDATION', message);
}
