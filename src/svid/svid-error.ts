// The svid room's one SvidError constructor: a stable code, a safe message, optional context and cause.
import { SvidError, type SvidErrorCode } from '../errors.js';

export function svidError(
  code: SvidErrorCode,
  message: string,
  context?: Record<string, unknown>,
  cause?: unknown,
): SvidError {
  return new SvidError(code, message, {
    ...(context === undefined ? {} : { context }),
    ...(cause === undefined ? {} : { cause }),
  });
}
