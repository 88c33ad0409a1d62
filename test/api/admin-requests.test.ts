// `admin.requested` (Vault's audit model): every change route of the admin API and the console,
// walked from the listener's own route list, is recorded durably before its handler runs, by the
// admin who asked, with method, route pattern, params, request id and body digest (never the body);
// callers refused for authentication, role, CSRF or Origin record nothing.
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
  sha256Hex,
  signIn,
  type Answer,
  type ConsoleSession,
} from './admin-requests-fixture.js';

let t: TestAdminApp;
let root: ConsoleSession;

beforeAll(async () => {
  t = await createTestAdminApp({ trustDomain: 'requests.test' });
  root = await signIn(t, ADMIN_TOKEN);
});
afterAll(async () => t?.close());

/** One request to a change route as root: JSON to the API, a form (with CSRF) to the console. */
async function ask(method: string, path: string): Promise<{ answer: Answer; body: string }> {
  if (path.startsWith('/console/')) {
    const body = new URLSearchParams({ csrf: root.csrf, probe: 'yes' }).toString();
    return { answer: await consolePost(t, root, path, body), body };
  }
  const body = JSON.stringify({ probe: 'yes' });
  return { answer: await apiCall(t, method, path, body, ADMIN_TOKEN), body };
}

describe('admin.requested before every change (the listener route list walked)', () => {
  const routes = (): { method: string; path: string }[] =>
    changeRoutes(t).filter((r) => !NOT_REQUESTS.includes(`${r.method} ${r.path}`));

  it('the walk covers both doors and every change resource', () => {
    const listed = routes().map((r) => `${r.method} ${r.path}`);
    for (const expected of [
      'POST /v1/admin/entries',
      'PATCH /v1/admin/entries/:id',
      'DELETE /v1/admin/tokens/:tokenId',
      'POST /v1/admin/authorities/:kind/:id/revoke',
      'PUT /v1/admin/relationships/:td/bundle',
      'POST /v1/admin/admins/:name/rotate',
      'POST /v1/admin/invites/accept',
      'POST /v1/admin/svids/jwt',
      'POST /console/agents/entries',
      'POST /console/federation/:td/approve',
      'POST /console/authorities/:kind/:id/taint',
    ]) {
      expect(listed).toContain(expected);
    }
    expect(listed.length).toBeGreaterThan(30);
  });

  it('each one writes admin.requested first: actor, method, pattern, params, request id, body digest', async () => {
    for (const { method, path: pattern } of routes()) {
      const { path, params } = filled(pattern);
      const before = await mark(t);
      const { answer, body } = await ask(method, path);
      const what = `${method} ${pattern} (answered ${answer.status} ${answer.code ?? ''})`;
      const written = await eventsSince(t, before);
      expect(written[0]?.type, what).toBe('admin.requested');
      expect(written[0]?.actor, what).toBe('admin:root');
      expect(written[0]?.data, what).toEqual({
        method,
        route: pattern,
        params,
        requestId: answer.requestId,
        bodySha256: sha256Hex(body),
      });
      expect(JSON.stringify(written[0]), what).not.toContain('probe');
      // Whatever else the request wrote names the same request.
      for (const event of written) expect(event.data['requestId'], what).toBe(answer.requestId);
    }
  });

  it('sign-in writes console.signed_in only; sign-out writes nothing', async () => {
    const before = await mark(t);
    const session = await signIn(t, ADMIN_TOKEN);
    const out = await consolePost(
      t,
      session,
      '/console/logout',
      new URLSearchParams({ csrf: session.csrf }).toString(),
    );
    expect(out.status).toBe(303);
    expect((await eventsSince(t, before)).map((e) => e.type)).toEqual(['console.signed_in']);
  });
});

describe('refused callers write no admin.requested', () => {
  let viewerToken: string;
  let viewer: ConsoleSession;

  beforeAll(async () => {
    const added = await t.call<{ token: string }>('POST', '/v1/admin/admins', {
      name: 'val',
      role: 'viewer',
    });
    expect(added.status).toBe(201);
    viewerToken = added.body.token;
    viewer = await signIn(t, viewerToken);
  });

  const entry = JSON.stringify({ spiffeId: 'spiffe://requests.test/refused' });
  const form = (csrf: string | undefined): string =>
    new URLSearchParams({
      ...(csrf === undefined ? {} : { csrf }),
      spiffeId: 'spiffe://requests.test/refused',
    }).toString();

  it.each<[string, () => Promise<Answer>, number, string]>([
    [
      'no token',
      () => apiCall(t, 'POST', '/v1/admin/entries', entry, null),
      401,
      'ERR_API_UNAUTHENTICATED',
    ],
    [
      'a wrong token',
      () => apiCall(t, 'POST', '/v1/admin/entries', entry, `${ADMIN_TOKEN}-x`),
      401,
      'ERR_API_UNAUTHENTICATED',
    ],
    [
      'a viewer (API)',
      () => apiCall(t, 'POST', '/v1/admin/entries', entry, viewerToken),
      403,
      'ERR_API_FORBIDDEN',
    ],
    [
      'a viewer (API, DELETE)',
      () => apiCall(t, 'DELETE', '/v1/admin/admins/val', '', viewerToken),
      403,
      'ERR_API_FORBIDDEN',
    ],
    [
      'no console session',
      () => consolePost(t, undefined, '/console/agents/entries', form(root.csrf)),
      401,
      'ERR_API_UNAUTHENTICATED',
    ],
    [
      'no CSRF token',
      () => consolePost(t, root, '/console/agents/entries', form(undefined)),
      403,
      'ERR_API_CSRF',
    ],
    [
      'a wrong CSRF token',
      () => consolePost(t, root, '/console/agents/entries', form(viewer.csrf)),
      403,
      'ERR_API_CSRF',
    ],
    [
      'another Origin',
      () => consolePost(t, root, '/console/agents/entries', form(root.csrf), 'http://evil'),
      403,
      'ERR_API_CSRF',
    ],
    [
      'a viewer (console)',
      () => consolePost(t, viewer, '/console/agents/entries', form(viewer.csrf)),
      403,
      'ERR_API_FORBIDDEN',
    ],
  ])('%s', async (_name, send, status, code) => {
    const before = await mark(t);
    const answer = await send();
    expect(answer.status).toBe(status);
    expect(answer.code).toBe(code);
    const written = await eventsSince(t, before);
    expect(written.filter((e) => e.type === 'admin.requested')).toEqual([]);
  });
});
