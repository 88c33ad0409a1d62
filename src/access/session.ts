// Console sessions, kept in the store so every replica knows them: the cookie holds a random secret,
// the store its sha256; each session has its own CSRF token, ends after an idle period or an absolute
// lifetime, and lives only as long as the credential that made it (bootstrap token, admin, adminIds).
import { createHmac, randomBytes } from 'node:crypto';
import type { AccessStore } from '../store/index.js';
import { adminFromValue, hashSecret, principalOf, sameHash, type Principal } from './admin.js';
import type { Clock } from '../clock.js';

/** Default idle expiry of a console session. */
export const DEFAULT_SESSION_IDLE_MS = 15 * 60_000;
/** Default absolute lifetime of a console session, however active. */
export const DEFAULT_SESSION_MAX_AGE_MS = 12 * 60 * 60_000;
/** Live sessions one principal may hold; signing in beyond ends their oldest. */
export const DEFAULT_SESSIONS_PER_PRINCIPAL = 8;
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
  /**
   * Starts a session; the returned cookie value is the only copy of its secret. Removes expired
   * sessions and, past the per-principal cap, the principal's oldest ones first.
   */
  start(principal: Principal): Promise<{ cookie: string; session: Session }>;
  /**
   * The live session of a cookie, touched; undefined when unknown, idle too long, older than the
   * absolute lifetime, or its credential is gone (another bootstrap token, admin removed or rotated,
   * SPIFFE ID no longer in adminIds).
   */
  resume(cookie: string): Promise<Session | undefined>;
  end(cookie: string): Promise<void>;
  /** Ends every session of the named admin (admin remove, rotate); returns how many. */
  endFor(name: string): Promise<number>;
  /** True when `presented` is the session's CSRF token. */
  checkCsrf(session: Session, presented: string | undefined): boolean;
}

export interface SessionsDeps {
  readonly store: AccessStore;
  readonly now: Clock;
  readonly idleMs?: number;
  readonly maxAgeMs?: number;
  readonly maxPerPrincipal?: number;
  /** The current bootstrap token (a root session keeps only a salted HMAC of the one it began with). */
  readonly rootToken: () => string;
  /** The current principal of an mTLS admin's SPIFFE ID (adminIds); undefined when it is none. */
  readonly mtlsAdmin?: (spiffeId: string) => Principal | undefined;
}

/** A session as stored: what the credential check needs besides the session itself. */
interface Stored extends Session {
  /** Root: the per-session salt and HMAC-SHA256(salt, bootstrap token), hex. */
  readonly rootSalt?: string;
  readonly rootMac?: string;
}

/** Who a session belongs to, for the per-principal cap and the sign-in limit. */
export function sessionOwnerOf(principal: Principal): string {
  return `${principal.via}:${principal.spiffeId ?? principal.name}`;
}

function rootMacOf(salt: string, token: string): string {
  return createHmac('sha256', salt).update(token, 'utf8').digest('hex');
}

function sessionFromValue(value: Readonly<Record<string, unknown>>): Stored | undefined {
  const { name, role, via, csrf, createdAtMs, lastSeenAtMs, spiffeId, rootSalt, rootMac } = value;
  if (typeof name !== 'string' || typeof csrf !== 'string') return undefined;
  if (role !== 'admin' && role !== 'viewer') return undefined;
  if (via !== 'root' && via !== 'token' && via !== 'mtls') return undefined;
  if (typeof createdAtMs !== 'number' || typeof lastSeenAtMs !== 'number') return undefined;
  const id = typeof spiffeId === 'string' ? spiffeId : undefined;
  return {
    principal: principalOf(name, role, via, id),
    csrf,
    createdAtMs,
    lastSeenAtMs,
    ...(typeof rootSalt === 'string' ? { rootSalt } : {}),
    ...(typeof rootMac === 'string' ? { rootMac } : {}),
  };
}

function valueOf(session: Stored): object {
  const { principal, csrf, createdAtMs, lastSeenAtMs, rootSalt, rootMac } = session;
  return {
    name: principal.name,
    role: principal.role,
    via: principal.via,
    ...(principal.spiffeId === undefined ? {} : { spiffeId: principal.spiffeId }),
    ...(rootSalt === undefined ? {} : { rootSalt, rootMac }),
    csrf,
    createdAtMs,
    lastSeenAtMs,
  };
}

export function createSessions(deps: SessionsDeps): Sessions {
  const idleMs = deps.idleMs ?? DEFAULT_SESSION_IDLE_MS;
  const maxAgeMs = deps.maxAgeMs ?? DEFAULT_SESSION_MAX_AGE_MS;
  const maxPerPrincipal = deps.maxPerPrincipal ?? DEFAULT_SESSIONS_PER_PRINCIPAL;
  const idOf = (cookie: string): string | undefined =>
    COOKIE_PATTERN.test(cookie) ? hashSecret(cookie) : undefined;
  const isOver = (session: Session, now: number): boolean =>
    now - session.lastSeenAtMs >= idleMs || now - session.createdAtMs >= maxAgeMs;

  /** The principal the session stands for now, or undefined when its credential is gone. */
  const currentPrincipal = async (session: Stored): Promise<Principal | undefined> => {
    const { principal } = session;
    if (principal.via === 'root') {
      const { rootSalt, rootMac } = session;
      if (rootSalt === undefined || rootMac === undefined) return undefined;
      return sameHash(rootMac, rootMacOf(rootSalt, deps.rootToken())) ? principal : undefined;
    }
    if (principal.via === 'mtls') {
      return principal.spiffeId === undefined ? undefined : deps.mtlsAdmin?.(principal.spiffeId);
    }
    // The admin's current record decides: removed or rotated since means signed out, a new role applies now.
    const admin = await deps.store.getAccess('admin', principal.name);
    const record = admin === undefined ? undefined : adminFromValue(admin.value);
    if (record === undefined) return undefined;
    if (record.rotatedAtMs !== null && session.createdAtMs < record.rotatedAtMs) return undefined;
    return principalOf(record.name, record.role, 'token');
  };

  /** Deletes expired sessions, and the owner's oldest so that one more fits under the cap. */
  const makeRoom = async (owner: string, now: number): Promise<void> => {
    const own: { id: string; createdAtMs: number }[] = [];
    for (const { id, value } of await deps.store.listAccess('session')) {
      const session = sessionFromValue(value);
      if (session === undefined || isOver(session, now)) {
        await deps.store.deleteAccess('session', id, 'any');
      } else if (sessionOwnerOf(session.principal) === owner) {
        own.push({ id, createdAtMs: session.createdAtMs });
      }
    }
    own.sort((a, b) => a.createdAtMs - b.createdAtMs);
    for (const { id } of own.slice(0, Math.max(0, own.length - (maxPerPrincipal - 1)))) {
      await deps.store.deleteAccess('session', id, 'any');
    }
  };

  return {
    async start(principal) {
      const now = deps.now();
      await makeRoom(sessionOwnerOf(principal), now);
      const cookie = randomBytes(32).toString('base64url');
      const rootSalt = randomBytes(16).toString('base64url');
      const session: Stored = {
        principal,
        csrf: randomBytes(32).toString('base64url'),
        createdAtMs: now,
        lastSeenAtMs: now,
        ...(principal.via === 'root'
          ? { rootSalt, rootMac: rootMacOf(rootSalt, deps.rootToken()) }
          : {}),
      };
      await deps.store.putAccess('session', hashSecret(cookie), valueOf(session), null);
      return {
        cookie,
        session: { principal, csrf: session.csrf, createdAtMs: now, lastSeenAtMs: now },
      };
    },
    async resume(cookie) {
      const id = idOf(cookie);
      if (id === undefined) return undefined;
      const found = await deps.store.getAccess('session', id);
      if (found === undefined) return undefined;
      const stored = sessionFromValue(found.value);
      const now = deps.now();
      const principal =
        stored === undefined || isOver(stored, now) ? undefined : await currentPrincipal(stored);
      if (stored === undefined || principal === undefined) {
        await deps.store.deleteAccess('session', id, 'any');
        return undefined;
      }
      let { lastSeenAtMs } = stored;
      if (now - lastSeenAtMs >= TOUCH_EVERY_MS) {
        lastSeenAtMs = now;
        await deps.store.putAccess('session', id, valueOf({ ...stored, lastSeenAtMs }), 'any');
      }
      return { principal, csrf: stored.csrf, createdAtMs: stored.createdAtMs, lastSeenAtMs };
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
