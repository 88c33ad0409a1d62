// Reads and validates untrusted request bodies and queries with zod; failures are ERR_API_VALIDATION.
import type { Context, MiddlewareHandler } from 'hono';
import { z } from 'zod';
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
  rejectControlCharacters(raw);
  const result = schema.safeParse(raw);
  if (!result.success) throw validationError(describe(result.error));
  return result.data;
}

/** Validates an already-read value (a console form) with the API's own schema. */
export function parseValue<S extends z.ZodType>(schema: S, raw: unknown): z.output<S> {
  const result = schema.safeParse(raw);
  if (!result.success) throw validationError(describe(result.error));
  return result.data;
}

export function parseQuery<S extends z.ZodType>(c: Context, schema: S): z.output<S> {
  const result = schema.safeParse(c.req.query());
  if (!result.success) throw validationError(describe(result.error));
  return result.data;
}

// ---- request targets and untrusted strings (issue 15, finding 12) --------------------------------
// Every input is checked before a handler sees it: a path or query that is not valid
// percent-encoding, that decodes to a control character, or whose segment is absurdly long is a
// 400 ERR_API_VALIDATION on every listener, never a 500 from deep inside a handler or the store.

/** Longest path segment accepted (a trust domain is ≤ 255, ids are far shorter). */
export const MAX_PATH_SEGMENT_CHARS = 1024;
/** Longest request target (path + query) accepted. */
export const MAX_REQUEST_TARGET_CHARS = 8192;

// C0 controls and DEL; in JSON bodies tab, LF and CR stay allowed (PEM text carries newlines).
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
// eslint-disable-next-line no-control-regex
const BODY_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

function decodePart(part: string, what: string): string {
  try {
    return decodeURIComponent(part.replaceAll('+', what === 'query' ? ' ' : '+'));
  } catch {
    throw validationError(`${what} is not valid percent-encoding`);
  }
}

/**
 * Checks a raw request target (`/path?query` or an absolute URL): each path segment and query
 * part must decode, hold no control character and stay under the length bounds.
 */
export function checkRequestTarget(target: string): void {
  if (target.length > MAX_REQUEST_TARGET_CHARS) {
    throw validationError(`request target longer than ${MAX_REQUEST_TARGET_CHARS} characters`);
  }
  const withoutOrigin = target.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '');
  const hash = withoutOrigin.indexOf('#');
  const bare = hash === -1 ? withoutOrigin : withoutOrigin.slice(0, hash);
  const mark = bare.indexOf('?');
  const path = mark === -1 ? bare : bare.slice(0, mark);
  for (const segment of path.split('/')) {
    if (segment.length > MAX_PATH_SEGMENT_CHARS) {
      throw validationError(`path segment longer than ${MAX_PATH_SEGMENT_CHARS} characters`);
    }
    if (CONTROL.test(decodePart(segment, 'path'))) {
      throw validationError('path contains a control character');
    }
  }
  if (mark === -1) return;
  for (const part of bare.slice(mark + 1).split('&')) {
    if (CONTROL.test(decodePart(part, 'query'))) {
      throw validationError('query contains a control character');
    }
  }
}

/** Hono middleware running checkRequestTarget on every request of an app, before any route. */
export function requestTargetCheck(): MiddlewareHandler {
  return async (c, next) => {
    checkRequestTarget(c.req.url);
    await next();
  };
}

/** Request bodies nest at most this deep (objects and arrays); deeper is ERR_API_VALIDATION. */
export const MAX_JSON_BODY_DEPTH = 64;

/**
 * Rejects control characters (other than tab, LF, CR) in any string or key of a JSON value, and
 * values nested deeper than MAX_JSON_BODY_DEPTH. Walks with its own stack, never the call stack:
 * a body of 16,000 nested arrays is a 400, not a stack overflow answered 500.
 */
export function rejectControlCharacters(value: unknown, path = 'body'): void {
  const stack: { value: unknown; path: string; depth: number }[] = [{ value, path, depth: 0 }];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const { value: item, path: at, depth } = next;
    if (typeof item === 'string') {
      if (BODY_CONTROL.test(item)) throw validationError(`${at}: contains a control character`);
      continue;
    }
    if (typeof item !== 'object' || item === null) continue;
    if (depth >= MAX_JSON_BODY_DEPTH) {
      throw validationError(`${at}: nested deeper than ${MAX_JSON_BODY_DEPTH} levels`);
    }
    const members = Array.isArray(item)
      ? item.map((member, index): [string, unknown] => [String(index), member])
      : Object.entries(item);
    // Pushed in reverse so that the first offending member is the one named, as a recursive walk would.
    for (let i = members.length - 1; i >= 0; i--) {
      const [key, member] = members[i] as [string, unknown];
      if (!Array.isArray(item) && BODY_CONTROL.test(key)) {
        throw validationError(`${at}: a key contains a control character`);
      }
      stack.push({ value: member, path: `${at}.${key}`, depth: depth + 1 });
    }
  }
}

/** A trust domain name as a path parameter (TD rules: lowercase letters, digits, `.`, `-`, `_`). */
export const trustDomainParam = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[a-z0-9._-]+$/, 'not a trust domain name');

/** An opaque identifier (entry, token, authority id) as a path parameter. */
export const idParam = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:-]+$/, 'not a valid identifier');
