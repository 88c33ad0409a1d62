// A change whose `admin.requested` cannot be written is refused (503 ERR_STORE_UNAVAILABLE) and
// changes nothing: not a byte of the data directory (store, CA keys and state). The result events
// of a change carry the request id of its admin.requested; a change the handler refuses leaves the
// request event alone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN } from '../helpers/broker.js';
import { createTestAdminApp, type TestAdminApp } from '../helpers/admin-app.js';
import {
  NOT_REQUESTS,
  apiCall,
  changeRoutes,
  consolePost,
  eventsSince,
  filled,
  mark,
  signIn,
  snapshot,
  type Answer,
  type ConsoleSession,
} from './admin-requests-fixture.js';

const TD = 'closed.test';
let t: TestAdminApp;
let root: ConsoleSession;
/** Entries made before the tests: one to update and mint tokens for, one to delete. */
let kept: string;
let doomed: string;

// A fixed clock: a console session is touched in the store only when 30 s have passed.
const NOW = new Date('2026-03-01T12:00:00Z');

beforeAll(async () => {
  t = await createTestAdminApp({ trustDomain: TD, now: () => NOW });
  root = await signIn(t, ADMIN_TOKEN);
  const ids: string[] = [];
  for (const name of ['kept', 'doomed']) {
    const made = await t.call<{ entry: { id: string } }>('POST', '/v1/admin/entries', {
      spiffeId: `spiffe://${TD}/agents/${name}`,
    });
    expect(made.status).toBe(201);
    ids.push(made.body.entry.id);
  }
  [kept = '', doomed = ''] = ids;
});
afterAll(async () => t?.close());

const form = (fields: Record<string, string>): string =>
  new URLSearchParams({ csrf: root.csrf, ...fields }).toString();
const json = (value: unknown): string => JSON.stringify(value);

/** Valid changes, each of which changes the store or the CA when it is let through. */
const CHANGES: [string, () => Promise<Answer>][] = [
  [
    'create an entry',
    () =>
      apiCall(
        t,
        'POST',
        '/v1/admin/entries',
        json({ spiffeId: `spiffe://${TD}/new` }),
        ADMIN_TOKEN,
      ),
  ],
  [
    'update an entry',
    () => apiCall(t, 'PATCH', `/v1/admin/entries/${kept}`, json({ description: 'd' }), ADMIN_TOKEN),
  ],
  [
    'create a join token',
    () => apiCall(t, 'POST', '/v1/admin/tokens', json({ entryId: kept }), ADMIN_TOKEN),
  ],
  [
    'prepare an authority',
    () => apiCall(t, 'POST', '/v1/admin/authorities/x509/prepare', '', ADMIN_TOKEN),
  ],
  [
    'create a relationship',
    () =>
      apiCall(
        t,
        'POST',
        '/v1/admin/relationships',
        json({ trustDomain: 'partner.test', url: 'https://127.0.0.1:9/b', profile: 'https_web' }),
        ADMIN_TOKEN,
      ),
  ],
  [
    'add an admin',
    () => apiCall(t, 'POST', '/v1/admin/admins', json({ name: 'carol' }), ADMIN_TOKEN),
  ],
  [
    'mint a JWT-SVID',
    () =>
      apiCall(
        t,
        'POST',
        '/v1/admin/svids/jwt',
        json({ spiffeId: `spiffe://${TD}/ops`, audience: ['x'] }),
        ADMIN_TOKEN,
      ),
  ],
  ['delete an entry', () => apiCall(t, 'DELETE', `/v1/admin/entries/${doomed}`, '', ADMIN_TOKEN)],
  [
    'create an entry (console)',
    () => consolePost(t, root, '/console/agents/entries', form({ spiffeId: `spiffe://${TD}/web` })),
  ],
  [
    'prepare an authority (console)',
    () => consolePost(t, root, '/console/authorities/jwt/prepare', form({})),
  ],
  [
    'create a join token (console)',
    () => consolePost(t, root, `/console/agents/entries/${kept}/token`, form({})),
  ],
];

describe('a request that cannot be recorded changes nothing', () => {
  it.each(CHANGES)(
    '%s: 503 ERR_STORE_UNAVAILABLE, nothing changed; then done once recorded',
    async (_name, send) => {
      const before = snapshot(t.dir);
      const events = await mark(t);
      t.failAuditAppends(true);
      let refused: Answer;
      try {
        refused = await send();
      } finally {
        t.failAuditAppends(false);
      }
      expect(refused.status).toBe(503);
      expect(refused.code).toBe('ERR_STORE_UNAVAILABLE');
      expect(snapshot(t.dir)).toEqual(before);
      // Let through, the same request is a real change (so the refusal above is what kept it out).
      const done = await send();
      expect([200, 201, 303], done.code).toContain(done.status);
      expect(snapshot(t.dir)).not.toEqual(before);
      const written = await eventsSince(t, events);
      expect(written[0]?.type).toBe('admin.requested');
      expect(written.length).toBeGreaterThan(1);
    },
  );

  it('every change route, walked from the route list, answers 503 and writes nothing', async () => {
    const routes = changeRoutes(t).filter((r) => !NOT_REQUESTS.includes(`${r.method} ${r.path}`));
    const before = snapshot(t.dir);
    t.failAuditAppends(true);
    try {
      for (const { method, path: pattern } of routes) {
        const { path } = filled(pattern);
        const answer = path.startsWith('/console/')
          ? await consolePost(t, root, path, form({ probe: 'yes' }))
          : await apiCall(t, method, path, json({ probe: 'yes' }), ADMIN_TOKEN);
        expect([answer.status, answer.code], `${method} ${pattern}`).toEqual([
          503,
          'ERR_STORE_UNAVAILABLE',
        ]);
      }
    } finally {
      t.failAuditAppends(false);
    }
    expect(snapshot(t.dir)).toEqual(before);
  });
});

describe('result events carry the request id of their admin.requested', () => {
  it('an API change: admin.requested, then its result, both with the id the caller got', async () => {
    const before = await mark(t);
    const answer = await apiCall(
      t,
      'POST',
      '/v1/admin/entries',
      json({ spiffeId: `spiffe://${TD}/paired` }),
      ADMIN_TOKEN,
    );
    expect(answer.status).toBe(201);
    const written = await eventsSince(t, before);
    expect(written.map((e) => [e.type, e.actor, e.data['requestId']])).toEqual([
      ['admin.requested', 'admin:root', answer.requestId],
      ['entry.created', 'admin:root', answer.requestId],
    ]);
  });

  it('an event written by another room (federation) carries it too; a refused retry leaves the request alone', async () => {
    const body = json({
      trustDomain: 'paired.test',
      url: 'https://127.0.0.1:9/p',
      profile: 'https_web',
    });
    const before = await mark(t);
    const created = await apiCall(t, 'POST', '/v1/admin/relationships', body, ADMIN_TOKEN);
    expect(created.status).toBe(201);
    const again = await apiCall(t, 'POST', '/v1/admin/relationships', body, ADMIN_TOKEN);
    expect(again.status).toBe(409);
    const written = await eventsSince(t, before);
    expect(written.map((e) => [e.type, e.data['requestId']])).toEqual([
      ['admin.requested', created.requestId],
      ['relationship.created', created.requestId],
      ['admin.requested', again.requestId],
    ]);
    expect(written[1]?.trustDomain).toBe('paired.test');
  });

  it('a console change: the same pair, the console route named', async () => {
    const before = await mark(t);
    const answer = await consolePost(
      t,
      root,
      '/console/agents/entries',
      form({ spiffeId: `spiffe://${TD}/c` }),
    );
    expect(answer.status).toBe(303);
    const written = await eventsSince(t, before);
    expect(written.map((e) => [e.type, e.actor, e.data['requestId']])).toEqual([
      ['admin.requested', 'admin:root', answer.requestId],
      ['entry.created', 'admin:root', answer.requestId],
    ]);
    expect(written[0]?.data['route']).toBe('/console/agents/entries');
  });
});
