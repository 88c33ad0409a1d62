// Console sessions and the admin directory over an in-memory AccessStore (issue 19): idle expiry,
// CSRF check, the admin's current role, removal and rotation ending sessions, tokens only hashed.
import { describe, expect, it } from 'vitest';
import type { AccessCollection, AccessStore, Versioned } from '../store/index.js';
import { principalOf } from './admin.js';
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

function setup() {
  let clock = 1_000_000;
  const store = memoryStore();
  const sessions = createSessions({ store, now: () => clock, idleMs: 60_000 });
  const admins = createAdminDirectory({
    store,
    now: () => clock,
    endSessions: (n) => sessions.endFor(n),
  });
  return { store, sessions, admins, advance: (ms: number) => (clock += ms) };
}

describe('console sessions', () => {
  it('resume within the idle period touches the session; past it the session is gone', async () => {
    const { sessions, advance } = setup();
    const { cookie } = await sessions.start(principalOf('root', 'admin', 'root'));
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
    const { session } = await sessions.start(principalOf('root', 'admin', 'root'));
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
