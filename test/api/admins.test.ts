// Named administrators and the two-person rule through the admin API (issue 19): personal tokens,
// roles, audit actors, removal and rotation; approvals by different admins.
import { afterEach, describe, expect, it } from 'vitest';
import { createTestAdminApp, type TestAdminApp } from '../helpers/admin-app.js';

let t: TestAdminApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

type ErrorBody = { error: { code: string } };
type Added = { admin: { name: string; role: string }; token: string };

async function addAdmin(app: TestAdminApp, name: string, role = 'admin'): Promise<string> {
  const added = await app.call<Added>('POST', '/v1/admin/admins', { name, role });
  expect(added.status).toBe(201);
  return added.body.token;
}

async function createPending(app: TestAdminApp, td: string): Promise<void> {
  const created = await app.call('POST', '/v1/admin/relationships', {
    trustDomain: td,
    url: 'https://127.0.0.1:9/bundle',
    profile: 'https_web',
  });
  expect(created.status).toBe(201);
}

describe('named admins (issue 19)', () => {
  it('adds an admin whose personal token works, shown once and never listed; audit names them', async () => {
    t = await createTestAdminApp();
    const token = await addAdmin(t, 'alice');
    expect(token).toMatch(/^fba\.alice\./);
    const listed = await t.call<{ admins: Record<string, unknown>[] }>('GET', '/v1/admin/admins');
    expect(listed.body.admins.map((a) => a['name'])).toEqual(['alice']);
    expect(listed.text).not.toContain(token.split('.')[2]);
    expect(listed.text).not.toContain('tokenHash');
    const stored = await t.store.getAccess('admin', 'alice');
    expect(JSON.stringify(stored)).not.toContain(token.split('.')[2]);

    const me = await t.call<{ name: string; actor: string }>(
      'GET',
      '/v1/admin/whoami',
      undefined,
      token,
    );
    expect(me.body).toMatchObject({
      name: 'alice',
      role: 'admin',
      via: 'token',
      actor: 'admin:alice',
    });
    await createPending(t, 'alice.test');
    await t.call('POST', '/v1/admin/relationships/alice.test/reject', { reason: 'no' }, token);
    const audit = await t.store.listAudit({ limit: 100 });
    expect(audit.find((e) => e.type === 'admin.added')?.actor).toBe('admin:root');
    expect(audit.find((e) => e.type === 'relationship.rejected')?.actor).toBe('admin:alice');
  });

  it.each([
    ['a name with a space', { name: 'a b' }, 'ERR_ACCESS_ADMIN_INVALID'],
    ['the reserved name root', { name: 'root' }, 'ERR_ACCESS_ADMIN_INVALID'],
    ['an upper-case name', { name: 'Alice' }, 'ERR_ACCESS_ADMIN_INVALID'],
    ['an unknown role', { name: 'bob', role: 'owner' }, 'ERR_API_VALIDATION'],
  ])('refuses %s', async (_what, body, code) => {
    t = await createTestAdminApp();
    const refused = await t.call<ErrorBody>('POST', '/v1/admin/admins', body);
    expect(refused.body.error.code).toBe(code);
  });

  it('refuses a second admin of the same name (ERR_ACCESS_ADMIN_EXISTS) and unknown names (404)', async () => {
    t = await createTestAdminApp();
    await addAdmin(t, 'alice');
    const again = await t.call<ErrorBody>('POST', '/v1/admin/admins', { name: 'alice' });
    expect([again.status, again.body.error.code]).toEqual([409, 'ERR_ACCESS_ADMIN_EXISTS']);
    const missing = await t.call<ErrorBody>('DELETE', '/v1/admin/admins/nobody');
    expect([missing.status, missing.body.error.code]).toEqual([404, 'ERR_ACCESS_ADMIN_NOT_FOUND']);
  });

  it('a viewer reads everything and every change is 403 ERR_API_FORBIDDEN', async () => {
    t = await createTestAdminApp();
    const viewer = await addAdmin(t, 'val', 'viewer');
    await createPending(t, 'view.test');
    expect((await t.call('GET', '/v1/admin/relationships', undefined, viewer)).status).toBe(200);
    expect((await t.call('GET', '/v1/admin/audit', undefined, viewer)).status).toBe(200);
    for (const [method, path, body] of [
      ['POST', '/v1/admin/relationships/view.test/approve', {}],
      ['POST', '/v1/admin/relationships/view.test/reject', {}],
      ['DELETE', '/v1/admin/relationships/view.test', undefined],
      ['POST', '/v1/admin/admins', { name: 'eve' }],
      ['POST', '/v1/admin/entries', { spiffeId: 'spiffe://admin.test/x' }],
    ] as const) {
      const refused = await t.call<ErrorBody>(method, path, body, viewer);
      expect([path, refused.status, refused.body.error.code]).toEqual([
        path,
        403,
        'ERR_API_FORBIDDEN',
      ]);
    }
    expect((await t.federation.get('view.test')).relationship.state).toBe('pending');
  });

  it('remove: the token stops at once and past events still name the admin; rotate replaces the token', async () => {
    t = await createTestAdminApp();
    const bob = await addAdmin(t, 'bob');
    await createPending(t, 'bob.test');
    await t.call('POST', '/v1/admin/relationships/bob.test/reject', {}, bob);
    const rotated = await t.call<Added>('POST', '/v1/admin/admins/bob/rotate');
    expect(rotated.body.token).not.toBe(bob);
    expect((await t.call('GET', '/v1/admin/whoami', undefined, bob)).status).toBe(401);
    expect((await t.call('GET', '/v1/admin/whoami', undefined, rotated.body.token)).status).toBe(
      200,
    );
    const removed = await t.call('DELETE', '/v1/admin/admins/bob');
    expect(removed.status).toBe(200);
    const after = await t.call<ErrorBody>('GET', '/v1/admin/whoami', undefined, rotated.body.token);
    expect([after.status, after.body.error.code]).toEqual([401, 'ERR_API_UNAUTHENTICATED']);
    const audit = await t.store.listAudit({ limit: 100 });
    expect(audit.find((e) => e.type === 'relationship.rejected')?.actor).toBe('admin:bob');
    expect(audit.map((e) => e.type)).toEqual(
      expect.arrayContaining(['admin.added', 'admin.rotated', 'admin.removed']),
    );
  });

  it('the bootstrap token is the break-glass admin "root"', async () => {
    t = await createTestAdminApp();
    const me = await t.call('GET', '/v1/admin/whoami');
    expect(me.body).toMatchObject({
      name: 'root',
      role: 'admin',
      via: 'root',
      actor: 'admin:root',
    });
  });
});

describe('two-person approval (federation.requiredApprovals, issue 19)', () => {
  it('the first approval records 1 of 2 with its reason; a second, different admin activates', async () => {
    t = await createTestAdminApp({ requiredApprovals: 2 });
    const alice = await addAdmin(t, 'alice');
    const bob = await addAdmin(t, 'bob');
    await createPending(t, 'two.test');
    type One = {
      relationship: {
        state: string;
        approvals: { count: number; required: number; by: { actor: string; reason: string }[] };
      };
    };
    const first = await t.call<One>(
      'POST',
      '/v1/admin/relationships/two.test/approve',
      { reason: 'checked sha256 by phone' },
      alice,
    );
    expect(first.status).toBe(200);
    expect(first.body.relationship.state).toBe('pending');
    expect(first.body.relationship.approvals).toMatchObject({
      count: 1,
      required: 2,
      by: [{ actor: 'admin:alice', reason: 'checked sha256 by phone' }],
    });
    const twice = await t.call<ErrorBody>(
      'POST',
      '/v1/admin/relationships/two.test/approve',
      {},
      alice,
    );
    expect([twice.status, twice.body.error.code]).toEqual([
      409,
      'ERR_FEDERATION_APPROVAL_REPEATED',
    ]);
    const second = await t.call<One>(
      'POST',
      '/v1/admin/relationships/two.test/approve',
      { reason: 'agreed' },
      bob,
    );
    expect(second.body.relationship.state).toBe('active');
    expect(second.body.relationship.approvals.count).toBe(2);
    const types = (await t.store.listAudit({ limit: 100, trustDomain: 'two.test' })).map((e) => [
      e.type,
      e.actor,
    ]);
    expect(types).toEqual(
      expect.arrayContaining([
        ['relationship.approval_recorded', 'admin:alice'],
        ['relationship.approved', 'admin:bob'],
      ]),
    );
  });

  it('a viewer cannot approve; a reject by anyone ends it', async () => {
    t = await createTestAdminApp({ requiredApprovals: 2 });
    const alice = await addAdmin(t, 'alice');
    const viewer = await addAdmin(t, 'val', 'viewer');
    await createPending(t, 'end.test');
    await t.call('POST', '/v1/admin/relationships/end.test/approve', {}, alice);
    const refused = await t.call<ErrorBody>(
      'POST',
      '/v1/admin/relationships/end.test/approve',
      {},
      viewer,
    );
    expect(refused.body.error.code).toBe('ERR_API_FORBIDDEN');
    const rejected = await t.call<{ relationship: { state: string } }>(
      'POST',
      '/v1/admin/relationships/end.test/reject',
      { reason: 'wrong url' },
    );
    expect(rejected.body.relationship.state).toBe('rejected');
    const late = await t.call<ErrorBody>('POST', '/v1/admin/relationships/end.test/approve', {});
    expect(late.body.error.code).toBe('ERR_FEDERATION_TRANSITION');
  });

  it('with the default of 1, one approval activates (as before)', async () => {
    t = await createTestAdminApp();
    await createPending(t, 'one.test');
    const approved = await t.call<{ relationship: { state: string } }>(
      'POST',
      '/v1/admin/relationships/one.test/approve',
      {},
    );
    expect(approved.body.relationship.state).toBe('active');
  });
});

describe('two-person rule: no approval beside an identity one made (issue 19)', () => {
  type Admin = { admin: { addedBy: string | null } };
  const approve = (app: TestAdminApp, td: string, token?: string) =>
    app.call<ErrorBody>('POST', `/v1/admin/relationships/${td}/approve`, {}, token);
  const refusedAsRelated = (answer: { status: number; body: ErrorBody }) =>
    expect([answer.status, answer.body.error.code]).toEqual([
      409,
      'ERR_FEDERATION_APPROVAL_RELATED',
    ]);

  it('root cannot approve beside an admin it added; each admin records who added them', async () => {
    t = await createTestAdminApp({ requiredApprovals: 2 });
    await createPending(t, 'sock.test');
    expect((await approve(t, 'sock.test')).status).toBe(200);
    const sock = await addAdmin(t, 'sock');
    const shown = await t.call<Admin>('GET', '/v1/admin/admins/sock');
    expect(shown.body.admin.addedBy).toBe('root');
    refusedAsRelated(await approve(t, 'sock.test', sock));
    const rel = await t.call<{ relationship: { state: string } }>(
      'GET',
      '/v1/admin/relationships/sock.test',
    );
    expect(rel.body.relationship.state).toBe('pending');
  });

  it('related through admins they added, either order; unrelated siblings may approve', async () => {
    t = await createTestAdminApp({ requiredApprovals: 2 });
    const alice = await addAdmin(t, 'alice');
    const bob = await addAdmin(t, 'bob');
    const carol = await t.call<Added>('POST', '/v1/admin/admins', { name: 'carol' }, alice);
    const dave = await t.call<Added>(
      'POST',
      '/v1/admin/admins',
      { name: 'dave' },
      carol.body.token,
    );
    expect(dave.body.admin).toMatchObject({ name: 'dave' });
    expect((await t.call<Admin>('GET', '/v1/admin/admins/dave')).body.admin.addedBy).toBe('carol');
    await createPending(t, 'chain.test');
    expect((await approve(t, 'chain.test', dave.body.token)).status).toBe(200);
    refusedAsRelated(await approve(t, 'chain.test', alice));
    refusedAsRelated(await approve(t, 'chain.test', carol.body.token));
    refusedAsRelated(await approve(t, 'chain.test'));
    // bob was added by root too, but added none of them and was added by none of them.
    expect((await approve(t, 'chain.test', bob)).status).toBe(200);
  });

  it('an admin stored before addedBy was recorded is placed by its createdBy; with neither, it counts as unrelated', async () => {
    t = await createTestAdminApp({ requiredApprovals: 2 });
    const alice = await addAdmin(t, 'alice');
    const old = await t.call<Added>('POST', '/v1/admin/admins', { name: 'old' }, alice);
    const stored = await t.store.getAccess('admin', 'old');
    const { addedBy: _dropped, ...before } = stored!.value;
    await t.store.putAccess('admin', 'old', before, stored!.version);
    await createPending(t, 'old.test');
    expect((await approve(t, 'old.test', alice)).status).toBe(200);
    // createdBy says alice added old: still related.
    refusedAsRelated(await approve(t, 'old.test', old.body.token));
    const again = await t.store.getAccess('admin', 'old');
    const { createdBy: _unknown, ...bare } = again!.value;
    await t.store.putAccess('admin', 'old', bare, again!.version);
    expect((await approve(t, 'old.test', old.body.token)).status).toBe(200);
  });
});
