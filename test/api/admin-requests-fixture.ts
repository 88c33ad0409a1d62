// Shared by the admin.requested tests: a console session in process (sign-in, CSRF token, form
// posts), the change routes the admin listener registers (from Hono's own route list), the audit
// events written since a mark, and a byte snapshot of the data directory.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { AuditEvent } from '../../src/audit/index.js';
import type { TestAdminApp } from '../helpers/admin-app.js';

export const ORIGIN = 'http://c';

/** Methods that change something (stated here, not read from the middleware under test). */
const CHANGE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Changes that are not recorded as a request: sign-in writes `console.signed_in`; sign-out ends the caller's own session. */
export const NOT_REQUESTS = ['POST /console/login', 'POST /console/logout'];

export interface ConsoleSession {
  readonly cookie: string;
  readonly csrf: string;
}

export interface Answer {
  readonly status: number;
  readonly requestId: string | null;
  /** `error.code` of a JSON answer, or the console page's error code. */
  readonly code: string | undefined;
}

export async function signIn(t: TestAdminApp, token: string): Promise<ConsoleSession> {
  const body = `token=${encodeURIComponent(token)}`;
  const response = await t.app.request(`${ORIGIN}/console/login`, {
    method: 'POST',
    headers: { origin: ORIGIN, 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  expect(response.status).toBe(303);
  const cookie = (response.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const page = await (await t.app.request(`${ORIGIN}/console/`, { headers: { cookie } })).text();
  const csrf = /name="csrf" value="([^"]+)"/.exec(page)?.[1] ?? '';
  expect(csrf).not.toBe('');
  return { cookie, csrf };
}

async function answerOf(response: Response): Promise<Answer> {
  const text = await response.text();
  let code = /data-testid="error-code">([A-Z_]+)</.exec(text)?.[1];
  if (code === undefined && text.startsWith('{')) {
    code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  }
  return { status: response.status, requestId: response.headers.get('x-request-id'), code };
}

/** A console form post of `body` (a form with the CSRF token, or without it to be refused). */
export async function consolePost(
  t: TestAdminApp,
  session: ConsoleSession | undefined,
  path: string,
  body: string,
  origin = ORIGIN,
): Promise<Answer> {
  const response = await t.app.request(`${ORIGIN}${path}`, {
    method: 'POST',
    headers: {
      ...(session === undefined ? {} : { cookie: session.cookie }),
      origin,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body,
  });
  return answerOf(response);
}

/** An admin API call with a raw JSON body text (so its digest is known). */
export async function apiCall(
  t: TestAdminApp,
  method: string,
  path: string,
  body: string,
  token: string | null,
): Promise<Answer> {
  const response = await t.app.request(`${ORIGIN}${path}`, {
    method,
    headers: {
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      'content-type': 'application/json',
    },
    body,
  });
  return answerOf(response);
}

/** Every change route the listener serves, `METHOD /pattern`, from Hono's route list. */
export function changeRoutes(t: TestAdminApp): { method: string; path: string }[] {
  const seen = new Set<string>();
  return t.app.routes
    .filter((r) => CHANGE_METHODS.has(r.method))
    .filter((r) => {
      const key = `${r.method} ${r.path}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .map((r) => ({ method: r.method, path: r.path }));
}

/** A route pattern with each `:name` filled with `p-name`, and the params as Hono reads them. */
export function filled(pattern: string): { path: string; params: Record<string, string> } {
  const params: Record<string, string> = {};
  const path = pattern.replace(/:([A-Za-z0-9_]+)/g, (_all, name: string) => {
    params[name] = `p-${name}`;
    return params[name];
  });
  return { path, params };
}

export const sha256Hex = (text: string): string =>
  createHash('sha256').update(text, 'utf8').digest('hex');

/** The id of the newest event (0 when none): events after it were written since. */
export async function mark(t: TestAdminApp): Promise<number> {
  return (await t.store.listAudit({ limit: 1, direction: 'backward' }))[0]?.id ?? 0;
}

export async function eventsSince(t: TestAdminApp, id: number): Promise<AuditEvent[]> {
  return t.store.listAudit({ limit: 1000, fromId: id + 1 });
}

/** Every file under `dir` (store, CA keys and state) by path, as a SHA-256 of its bytes. */
export function snapshot(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files[path] = createHash('sha256').update(readFileSync(path)).digest('hex');
  }
  return files;
}
