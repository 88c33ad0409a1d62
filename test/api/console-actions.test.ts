// Issue 19 item 4: every console change has an admin API route with the same checks, and both go
// through the same function (admin-actions.ts, the federation service): a viewer is 403 on both
// doors, the two-person rule holds on both, and the audit names the admin alike.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestAdminApp, type TestAdminApp } from '../helpers/admin-app.js';

let t: TestAdminApp;
const cookies: Record<string, string> = {};
const tokens: Record<string, string> = {};

async function signIn(name: string): Promise<void> {
  const body = `token=${encodeURIComponent(tokens[name] ?? '')}`;
  const response = await t.app.request('http://c/console/login', {
    method: 'POST',
    headers: {
      origin: 'http://c',
      'content-type': 'application/x-www-form-urlencoded',
      'content-length': String(body.length),
    },
    body,
  });
  expect(response.status).toBe(303);
  cookies[name] = (response.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
}

/** A console form post as `name`, with that session's CSRF token read from a page. */
async function post(
  name: string,
  path: string,
  fields: Record<string, string> = {},
): Promise<{ status: number; code: string | undefined }> {
  const cookie = cookies[name] ?? '';
  const pageText = await (await t.app.request('http://c/console/', { headers: { cookie } })).text();
  const csrf = /name="csrf" value="([^"]+)"/.exec(pageText)?.[1] ?? '';
  const body = new URLSearchParams({ csrf, ...fields }).toString();
  const response = await t.app.request(`http://c${path}`, {
    method: 'POST',
    headers: {
      cookie,
      origin: 'http://c',
      'content-type': 'application/x-www-form-urlencoded',
      'content-length': String(body.length),
    },
    body,
  });
  const text = await response.text();
  return {
    status: response.status,
    code: /data-testid="error-code">([A-Z_]+)</.exec(text)?.[1],
  };
}

beforeAll(async () => {
  t = await createTestAdminApp({ trustDomain: 'home.test', requiredApprovals: 2 });
  for (const [name, role] of [
    ['alice', 'admin'],
    ['bob', 'admin'],
    ['val', 'viewer'],
  ] as const) {
    const added = await t.call<{ token: string }>('POST', '/v1/admin/admins', { name, role });
    expect(added.status).toBe(201);
    tokens[name] = added.body.token;
    await signIn(name);
  }
  for (const td of ['a.test', 'b.test'])
    await t.federation.create(
      { trustDomain: td, url: `https://127.0.0.1:9/${td}`, profile: 'https_web' },
      { actor: 'admin:setup' },
    );
});
afterAll(async () => t?.close());

describe('console and admin API share each change and its checks (issue 19 item 4)', () => {
  it.each([
    [
      'approve',
      '/console/federation/a.test/approve',
      'POST',
      '/v1/admin/relationships/a.test/approve',
      { reason: 'ok' },
    ],
    [
      'reject',
      '/console/federation/a.test/reject',
      'POST',
      '/v1/admin/relationships/a.test/reject',
      { reason: 'no' },
    ],
    [
      'suspend',
      '/console/federation/a.test/suspend',
      'POST',
      '/v1/admin/relationships/a.test/suspend',
      {},
    ],
    [
      'resume',
      '/console/federation/a.test/resume',
      'POST',
      '/v1/admin/relationships/a.test/resume',
      {},
    ],
    [
      'refresh',
      '/console/federation/a.test/refresh',
      'POST',
      '/v1/admin/relationships/a.test/refresh',
      {},
    ],
    ['delete', '/console/federation/a.test/delete', 'DELETE', '/v1/admin/relationships/a.test', {}],
    [
      'entry create',
      '/console/agents/entries',
      'POST',
      '/v1/admin/entries',
      { spiffeId: 'spiffe://home.test/w' },
    ],
    ['entry delete', '/console/agents/entries/x/delete', 'DELETE', '/v1/admin/entries/x', {}],
    [
      'token generate',
      '/console/agents/entries/x/token',
      'POST',
      '/v1/admin/tokens',
      { entryId: 'x' },
    ],
    ['token revoke', '/console/agents/tokens/x/revoke', 'DELETE', '/v1/admin/tokens/x', {}],
    [
      'authority prepare',
      '/console/authorities/x509/prepare',
      'POST',
      '/v1/admin/authorities/x509/prepare',
      {},
    ],
    [
      'authority activate',
      '/console/authorities/x509/x/activate',
      'POST',
      '/v1/admin/authorities/x509/x/activate',
      {},
    ],
    [
      'authority taint',
      '/console/authorities/x509/x/taint',
      'POST',
      '/v1/admin/authorities/x509/x/taint',
      {},
    ],
    [
      'authority revoke',
      '/console/authorities/x509/x/revoke',
      'POST',
      '/v1/admin/authorities/x509/x/revoke',
      {},
    ],
  ] as const)(
    '%s: a viewer is 403 ERR_API_FORBIDDEN on the console and on the API',
    async (_name, consolePath, method, apiPath, fields) => {
      // The API route exists and is documented (a viewer's 403 alone could come before routing).
      const documented = await t.call<{ paths: Record<string, Record<string, unknown>> }>(
        'GET',
        '/v1/admin/openapi.json',
      );
      const operations = Object.entries(documented.body.paths).filter(([path]) =>
        new RegExp(`^${path.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(apiPath),
      );
      expect(
        operations.map(([, ops]) => Object.keys(ops)),
        apiPath,
      ).toContainEqual(expect.arrayContaining([method.toLowerCase()]));
      const viaConsole = await post('val', consolePath, fields);
      expect(viaConsole).toEqual({ status: 403, code: 'ERR_API_FORBIDDEN' });
      const viaApi = await t.call<{ error: { code: string } }>(
        method,
        apiPath,
        method === 'DELETE' ? undefined : fields,
        tokens['val'],
      );
      expect(viaApi.status).toBe(403);
      expect(viaApi.body.error.code).toBe('ERR_API_FORBIDDEN');
    },
  );

  it('the two-person rule holds across doors: console then API approval by the same admin is refused', async () => {
    expect(
      (await post('alice', '/console/federation/b.test/approve', { reason: 'seen' })).status,
    ).toBe(303);
    const again = await t.call<{ error: { code: string } }>(
      'POST',
      '/v1/admin/relationships/b.test/approve',
      { reason: 'again' },
      tokens['alice'],
    );
    expect(again.body.error.code).toBe('ERR_FEDERATION_APPROVAL_REPEATED');
    const second = await t.call(
      'POST',
      '/v1/admin/relationships/b.test/approve',
      { reason: 'ok' },
      tokens['bob'],
    );
    expect(second.status).toBe(200);
    expect((await t.federation.get('b.test')).relationship.state).toBe('active');
  });

  it('entries and authorities: the console writes the same audit events as the API, in the admin name', async () => {
    // A bad SPIFFE ID is refused with the same code on both doors.
    const api = await t.call<{ error: { code: string } }>(
      'POST',
      '/v1/admin/entries',
      { spiffeId: 'not a spiffe id' },
      tokens['alice'],
    );
    expect(api.body.error.code).toBe('ERR_REGISTRATION_ENTRY_INVALID');
    expect(
      (await post('alice', '/console/agents/entries', { spiffeId: 'not a spiffe id' })).code,
    ).toBe(api.body.error.code);
    expect(
      (await post('alice', '/console/agents/entries', { spiffeId: 'spiffe://home.test/web' }))
        .status,
    ).toBe(303);
    const [entry] = await t.registration.listEntries();
    expect(entry).toBeDefined();
    expect((await post('alice', `/console/agents/entries/${entry?.id ?? ''}/delete`)).status).toBe(
      303,
    );
    expect((await post('alice', '/console/authorities/jwt/prepare')).status).toBe(303);
    const events = await t.store.listAudit({ limit: 50, actor: 'admin:alice' });
    const deleted = events.find((e) => e.type === 'entry.deleted');
    // The API's event carries the SPIFFE ID; the console's copy of the code did not.
    expect(deleted?.data).toEqual({
      id: entry?.id,
      spiffeId: 'spiffe://home.test/web',
      requestId: expect.any(String),
    });
    expect(events.map((e) => e.type)).toEqual(
      expect.arrayContaining(['entry.created', 'entry.deleted', 'authority.prepared']),
    );
  });
});
