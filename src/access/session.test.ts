// Console sessions and the admin directory over an in-memory AccessStore (issue 19): idle expiry and
// absolute lifetime, CSRF check, the admin's current role, removal and rotation ending sessions,
// root and mTLS sessions bound to their current credential, the per-principal cap, tokens only hashed.
import { describe, expect, it } from 'vitest';
import { testClock } from '../../test/helpers/clock.js';
import type { AccessCollection, AccessStore, Versioned } from '../store/index.js';
import { principalOf, type AdminRole, type Principal } from './admin.js';
import { createAdminDirectory } from './admins.js';
import { createSessions } from './session.js';

function memoryStore(): AccessStore & { dump(): string } {
  const maps: Record<AccessCollection, Map<string, Versioned>> = {
    admin: new Map(),
    session: new Map(),
  };
  return {
    getAccess: async (coll, id) => maps[coll].get(id),
    listAccess: async (coll) => [...maps[coll]].map(([id, v]) => ({ id, ...v })),
    putAccess: async (coll, id, value, expected) => {
      const current = maps[coll].get(id);
      if (
        (expected === null && current) ||
        (typeof expected === 'number' && current?.version !== expected)
      ) {
        throw Object.assign(new Error('conflict'), { code: 'ERR_STORE_CONFLICT' });
      }
      const version = (current?.version ?? 0) + 1;
      maps[coll].set(id, {
        value: JSON.parse(JSON.stringify(value)) as Versioned['value'],
        version,
      });
      return version;
    },
    deleteAccess: async (coll, id) => maps[coll].delete(id),
    dump: () => JSON.stringify([...maps.admin, ...maps.session]),
  };
}

const ROOT_TOKEN = 'root-token-0123456789abcdef';

function setup(options: { maxAgeMs?: number; endSessions?: boolean } = {}) {
  const clock = testClock();
  const store = memoryStore();
  const config = {
    rootToken: ROOT_TOKEN,
    /** adminIds as configured now: SPIFFE ID -> name and role. */
    adminIds: new Map<string, { name: string; role: AdminRole }>(),
  };
  const sessions = createSessions({
    store,
    now: clock.nowMs,
    idleMs: 60_000,
    ...(options.maxAgeMs === undefined ? {} : { maxAgeMs: options.maxAgeMs }),
    rootToken: () => config.rootToken,
    mtlsAdmin: (id) => {
      const named = config.adminIds.get(id);
      return named === undefined ? undefined : principalOf(named.name, named.role, 'mtls', id);
    },
  });
  const admins = createAdminDirectory({
    store,
    now: clock.nowMs,
    endSessions: (n) => (options.endSessions === false ? Promise.resolve(0) : sessions.endFor(n)),
  });
  return { store, sessions, admins, config, advance: (ms: number) => clock.advanceMs(ms) };
}

const ROOT = principalOf('root', 'admin', 'root');

describe('console sessions', () => {
  it('resume within the idle period touches the session; past it the session is gone', async () => {
    const { sessions, advance } = setup();
    const { cookie } = await sessions.start(ROOT);
    advance(50_000);
    expect((await sessions.resume(cookie))?.principal.name).toBe('root');
    advance(50_000); // 100 s after start, 50 s after the touch
    expect(await sessions.resume(cookie)).toBeDefined();
    advance(60_000);
    expect(await sessions.resume(cookie)).toBeUndefined();
  });

  it.each([
    ['a malformed cookie', 'x'],
    ['an unknown cookie', 'A'.repeat(43)],
  ])('%s has no session', async (_what, cookie) => {
    const { sessions } = setup();
    expect(await sessions.resume(cookie)).toBeUndefined();
  });

  it('checks the CSRF token in constant time and refuses a missing or different one', async () => {
    const { sessions } = setup();
    const { session } = await sessions.start(ROOT);
    expect(sessions.checkCsrf(session, session.csrf)).toBe(true);
    expect(sessions.checkCsrf(session, undefined)).toBe(false);
    expect(sessions.checkCsrf(session, `${session.csrf.slice(1)}x`)).toBe(false);
  });

  it("a named admin's session follows their record: removal and rotation end it", async () => {
    const { sessions, admins, store } = setup();
    const { token } = await admins.add('alice', 'admin', { actor: 'admin:root' });
    expect(store.dump()).not.toContain(token.split('.')[2]);
    const principal = await admins.authenticate(token);
    expect(principal).toMatchObject({ name: 'alice', actor: 'admin:alice', via: 'token' });
    const first = await sessions.start(principal ?? principalOf('x', 'viewer', 'token'));
    expect(store.dump()).not.toContain(first.cookie);
    const rotated = await admins.rotate('alice');
    expect(await sessions.resume(first.cookie)).toBeUndefined();
    expect(await admins.authenticate(token)).toBeUndefined();
    const second = await sessions.start((await admins.authenticate(rotated.token)) ?? principal!);
    expect(await admins.remove('alice')).toEqual({ sessionsEnded: 1 });
    expect(await sessions.resume(second.cookie)).toBeUndefined();
  });

  it.each([
    ['a token of another shape', 'not-a-token'],
    ['an unknown admin', `fba.nobody.${'A'.repeat(43)}`],
    ['a wrong secret', undefined],
  ])('refuses %s', async (_what, presented) => {
    const { admins } = setup();
    const { token } = await admins.add('bob', 'viewer', { actor: 'admin:root' });
    const wrong = presented ?? `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    expect(await admins.authenticate(wrong)).toBeUndefined();
  });
});

describe('console sessions live only as long as their credential', () => {
  it('a root session is refused once the bootstrap token changes; the store keeps no copy of it', async () => {
    const { sessions, store, config } = setup();
    const { cookie } = await sessions.start(ROOT);
    expect(store.dump()).not.toContain(ROOT_TOKEN);
    expect((await sessions.resume(cookie))?.principal.via).toBe('root');
    config.rootToken = 'another-root-token-0123456789';
    expect(await sessions.resume(cookie)).toBeUndefined();
    config.rootToken = ROOT_TOKEN; // refused means deleted: the old token does not bring it back
    expect(await sessions.resume(cookie)).toBeUndefined();
  });

  it('a root session stored without its token binding (made before it existed) is refused', async () => {
    const { sessions, store } = setup();
    const { cookie } = await sessions.start(ROOT);
    const [stored] = await store.listAccess('session');
    const { rootSalt: _salt, rootMac: _mac, ...unbound } = stored!.value;
    await store.putAccess('session', stored!.id, unbound, 'any');
    expect(await sessions.resume(cookie)).toBeUndefined();
  });

  it("an mTLS admin's session follows adminIds: a downgrade applies at once, removal ends it", async () => {
    const { sessions, config } = setup();
    const id = 'spiffe://home.test/ops/alice';
    config.adminIds.set(id, { name: 'alice', role: 'admin' });
    const { cookie } = await sessions.start(principalOf('alice', 'admin', 'mtls', id));
    expect((await sessions.resume(cookie))?.principal).toMatchObject({
      role: 'admin',
      via: 'mtls',
    });
    config.adminIds.set(id, { name: 'alice', role: 'viewer' });
    expect((await sessions.resume(cookie))?.principal).toMatchObject({
      name: 'alice',
      role: 'viewer',
    });
    config.adminIds.delete(id);
    expect(await sessions.resume(cookie)).toBeUndefined();
  });

  it('a session ends at its absolute lifetime however active it is', async () => {
    const { sessions, advance } = setup({ maxAgeMs: 5 * 60_000 });
    const { cookie } = await sessions.start(ROOT);
    for (let step = 1; step <= 5; step += 1) {
      advance(50_000); // a page every 50 s: never idle for the 60 s idle period
      expect(await sessions.resume(cookie)).toBeDefined();
    }
    advance(50_000); // 5 min after sign-in
    expect(await sessions.resume(cookie)).toBeUndefined();
  });

  it("a named admin's session made before their last rotation is refused even if rotation missed it", async () => {
    // Another replica's rotation can race a sign-in here: the record's rotatedAtMs decides.
    const { sessions, admins, advance } = setup({ endSessions: false });
    const { token } = await admins.add('carol', 'admin', { actor: 'admin:root' });
    const { cookie } = await sessions.start((await admins.authenticate(token))!);
    advance(1_000);
    await admins.rotate('carol');
    expect(await sessions.resume(cookie)).toBeUndefined();
  });
});

describe('console sessions are bounded per principal', () => {
  /** Two named viewers, as their tokens authenticate them. */
  async function viewers(admins: ReturnType<typeof setup>['admins']): Promise<Principal[]> {
    return Promise.all(
      ['dave', 'erin'].map(async (name) => {
        const { token } = await admins.add(name, 'viewer', { actor: 'admin:root' });
        return (await admins.authenticate(token))!;
      }),
    );
  }

  it('signing in beyond 8 live sessions ends the oldest; other principals keep theirs', async () => {
    const { sessions, store, admins, advance } = setup();
    const principals = await viewers(admins);
    const other = await sessions.start(principals[1]!);
    const cookies: string[] = [];
    for (let i = 0; i < 10; i += 1) {
      advance(1_000);
      cookies.push((await sessions.start(principals[0]!)).cookie);
    }
    const live = await Promise.all(
      cookies.map(async (c) => (await sessions.resume(c)) !== undefined),
    );
    expect(live).toEqual([false, false, true, true, true, true, true, true, true, true]);
    expect(await sessions.resume(other.cookie)).toBeDefined();
    expect(await store.listAccess('session')).toHaveLength(9);
  });

  it('signing in removes expired sessions of every principal, not only when they are resumed', async () => {
    const { sessions, store, admins, advance } = setup();
    const principals = await viewers(admins);
    await sessions.start(principals[0]!);
    await sessions.start(principals[1]!);
    advance(60_000);
    await sessions.start(principals[0]!);
    expect(await store.listAccess('session')).toHaveLength(1);
  });
});
