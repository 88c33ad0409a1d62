// Console sessions, kept in the store so every replica knows them: the cookie holds a random secret,
// the store its sha256; each session has its own CSRF token and ends after an idle period.
import { randomBytes } from 'node:crypto';
import type { AccessStore } from '../store/index.js';
import { adminFromValue, hashSecret, principalOf, sameHash, type Principal } from './admin.js';
import type { Clock } from '../clock.js';

/** Default idle expiry of a console session. */
export const DEFAULT_SESSION_IDLE_MS = 15 * 60_000;
/** A session's last-seen time is written at most this often (not on every page). */
const TOUCH_EVERY_MS = 30_000;
const COOKIE_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export interface Session {
  readonly principal: Principal;
  /** Must come back with every change (form field `csrf`); compared in constant time. */
  readonly csrf: string;
  readonly createdAtMs: number;
  readonly lastSeenAtMs: number;
}

export interface Sessions {
  /** Starts a session; the returned cookie value is the only copy of its secret. */
  start(principal: Principal): Promise<{ cookie: string; session: Session }>;
  /** The live session of a cookie, touched; undefined when unknown, idle too long or its admin is gone. */
  resume(cookie: string): Promise<Session | undefined>;
  end(cookie: string): Promise<void>;
  /** Ends every session of the named admin (admin remove, rotate); returns how many. */
  endFor(name: string): Promise<number>;
  /** True when `presented` is the session's CSRF token. */
  checkCsrf(session: Session, presented: string | undefined): boolean;
}

function sessionFromValue(value: Readonly<Record<string, unknown>>): Session | undefined {
  const { name, role, via, csrf, createdAtMs, lastSeenAtMs } = value;
  if (typeof name !== 'string' || typeof csrf !== 'string') return undefined;
  if (role !== 'admin' && role !== 'viewer') return undefined;
  if (via !== 'root' && via !== 'token' && via !== 'mtls') return undefined;
  if (typeof createdAtMs !== 'number' || typeof lastSeenAtMs !== 'number') return undefined;
  return { principal: principalOf(name, role, via), csrf, createdAtMs, lastSeenAtMs };
}

export function createSessions(deps: {
  readonly store: AccessStore;
  readonly now: Clock;
  readonly idleMs?: number;
}): Sessions {
  const idleMs = deps.idleMs ?? DEFAULT_SESSION_IDLE_MS;
  const idOf = (cookie: string): string | undefined =>
    COOKIE_PATTERN.test(cookie) ? hashSecret(cookie) : undefined;
  const valueOf = (session: Session): object => ({
    name: session.principal.name,
    role: session.principal.role,
    via: session.principal.via,
    csrf: session.csrf,
    createdAtMs: session.createdAtMs,
    lastSeenAtMs: session.lastSeenAtMs,
  });
  return {
    async start(principal) {
      const cookie = randomBytes(32).toString('base64url');
      const now = deps.now();
      const session: Session = {
        principal,
        csrf: randomBytes(32).toString('base64url'),
        createdAtMs: now,
        lastSeenAtMs: now,
      };
      await deps.store.putAccess('session', hashSecret(cookie), valueOf(session), null);
      return { cookie, session };
    },
    async resume(cookie) {
      const id = idOf(cookie);
      if (id === undefined) return undefined;
      const found = await deps.store.getAccess('session', id);
      if (found === undefined) return undefined;
      let session = sessionFromValue(found.value);
      const now = deps.now();
      if (session === undefined || now - session.lastSeenAtMs >= idleMs) {
        await deps.store.deleteAccess('session', id, 'any');
        return undefined;
      }
      if (session.principal.via === 'token') {
        // The admin's current record decides: removed means signed out, a new role applies now.
        const admin = await deps.store.getAccess('admin', session.principal.name);
        const record = admin === undefined ? undefined : adminFromValue(admin.value);
        if (record === undefined) {
          await deps.store.deleteAccess('session', id, 'any');
          return undefined;
        }
        session = { ...session, principal: principalOf(record.name, record.role, 'token') };
      }
      if (now - session.lastSeenAtMs >= TOUCH_EVERY_MS) {
        session = { ...session, lastSeenAtMs: now };
        await deps.store.putAccess('session', id, valueOf(session), 'any');
      }
      return session;
    },
    async end(cookie) {
      const id = idOf(cookie);
      if (id !== undefined) await deps.store.deleteAccess('session', id, 'any');
    },
    async endFor(name) {
      let ended = 0;
      for (const { id, value } of await deps.store.listAccess('session')) {
        if (value['name'] === name && value['via'] === 'token') {
          if (await deps.store.deleteAccess('session', id, 'any')) ended += 1;
        }
      }
      return ended;
    },
    checkCsrf(session, presented) {
      return presented !== undefined && sameHash(session.csrf, presented);
    },
  };
}
