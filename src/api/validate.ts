// Reads and validates untrusted request bodies and queries with zod; failures are ERR_API_VALIDATION.
import type { Context } from 'hono';
import type { z } from 'zod';
import { readLimitedBody } from './body-limit.js';
import { validationError } from './http-errors.js';

/** Maximum JSON body accepted by the APIs (bundles are ≤ 1 MiB, BUNDLE-7, plus envelope). */
export const MAX_JSON_BODY_BYTES = 2 * 1024 * 1024;

function describe(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map(
      (issue) =>
        `${issue.path.length > 0 ? issue.path.map(String).join('.') : 'body'}: ${issue.message}`,
    )
    .join('; ');
}

export async function parseJsonBody<S extends z.ZodType>(
  c: Context,
  schema: S,
): Promise<z.output<S>> {
  // Counted while it streams in (issue 15): 413 ERR_API_BODY_TOO_LARGE past the limit, before parsing.
  const text = (await readLimitedBody(c, MAX_JSON_BODY_BYTES)).toString('utf8');
  let raw: unknown;
  try {
    raw = text === '' ? {} : JSON.parse(text);
  } catch {
    throw validationError('body is not valid JSON');
  }
  const result = schema.safeParse(raw);
  if (!result.success) throw validationError(describe(result.error));
  return result.data;
}

export function parseQuery<S extends z.ZodType>(c: Context, schema: S): z.output<S> {
  const result = schema.safeParse(c.req.query());
  if (!result.success) throw validationError(describe(result.error));
  return result.data;
}
