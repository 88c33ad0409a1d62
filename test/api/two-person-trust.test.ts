// The two-person rule after approval (federation.requiredApprovals, issue 19): a change of a
// partner's trust settings (PATCH) or a forced bundle (PUT .../bundle) sends the relationship back to
// pending with its approvals cleared; with the default of 1 both behave as before.
import { afterEach, describe, expect, it } from 'vitest';
import { marshalBundle } from '../../src/bundle/index.js';
import { parseTrustDomain } from '../../src/spiffeid/index.js';
import { createTestAdminApp, type TestAdminApp } from '../helpers/admin-app.js';
import { bundleOf, createCa } from '../helpers/pki.js';

let t: TestAdminApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

type Added = { token: string };
type One = {
  relationship: {
    state: string;
    url: string;
    approvals: { count: number; required: number };
    transitions: { action: string; from: string | null; to: string; actor: string }[];
  };
};
type Forced = { outcome: string; state: string };
const TD = 'partner.test';
const PATH = `/v1/admin/relationships/${TD}`;

async function addAdmin(app: TestAdminApp, name: string): Promise<string> {
  const added = await app.call<Added>('POST', '/v1/admin/admins', { name, role: 'admin' });
  expect(added.status).toBe(201);
  return added.body.token;
}

/** A partner relationship approved by `approvers` (none: root alone), with a bundle stored. */
async function activePartner(app: TestAdminApp, approvers: (string | undefined)[]): Promise<void> {
  const created = await app.call('POST', '/v1/admin/relationships', {
    trustDomain: TD,
    url: 'https://127.0.0.1:9/bundle',
    profile: 'https_web',
  });
  expect(created.status).toBe(201);
  for (const token of approvers) {
    const approved = await app.call('POST', `${PATH}/approve`, { reason: 'checked' }, token);
    expect(approved.status).toBe(200);
  }
  await app.store.putBundle(
    {
      trustDomain: TD,
      raw: await partnerBundle(),
      sequence: null,
      fetchedAt: Date.now(),
      sourceUrl: 'https://127.0.0.1:9/bundle',
      refreshHintSeconds: null,
    },
    { force: false },
  );
  await app.federation.reload();
  expect(trusted(app)).toBeDefined();
}

/** Admins alice and bob, and the partner they both approved (requiredApprovals 2). */
async function approvedByAliceAndBob(app: TestAdminApp): Promise<{ alice: string; bob: string }> {
  const alice = await addAdmin(app, 'alice');
  const bob = await addAdmin(app, 'bob');
  await activePartner(app, [alice, bob]);
  return { alice, bob };
}

function trusted(app: TestAdminApp): unknown {
  return app.federation.getBundleForTrustDomain(parseTrustDomain(TD));
}

async function partnerBundle(): Promise<string> {
  return marshalBundle(bundleOf(TD, [await createCa({ trustDomain: TD })])).toString('utf8');
}

async function auditOf(app: TestAdminApp): Promise<{ type: string; details: unknown }[]> {
  return (await app.store.listAudit({ limit: 100, trustDomain: TD })).map((e) => ({
    type: e.type,
    details: e.data,
  }));
}

describe('two-person rule after approval: trust changes need approval again (issue 19)', () => {
  it('a PATCH of the URL of an active partner sends it back to pending, approvals cleared, bundle kept but untrusted', async () => {
    t = await createTestAdminApp({ requiredApprovals: 2 });
    const { alice, bob } = await approvedByAliceAndBob(t);
    const stored = await t.store.getBundle(TD);

    const patched = await t.call<One>(
      'PATCH',
      PATH,
      { url: 'https://attacker.invalid/b', reason: 'moved' },
      alice,
    );
    expect(patched.status).toBe(200);
    expect(patched.body.relationship).toMatchObject({
      state: 'pending',
      url: 'https://attacker.invalid/b',
      approvals: { count: 0, required: 2 },
    });
    expect(patched.body.relationship.transitions.at(-1)).toMatchObject({
      action: 'update',
      from: 'active',
      to: 'pending',
      actor: 'admin:alice',
    });
    expect(trusted(t)).toBeUndefined();
    expect((await t.store.getBundle(TD))?.raw).toBe(stored?.raw);
    expect(await auditOf(t)).toContainEqual({
      type: 'relationship.updated',
      details: expect.objectContaining({
        from: expect.objectContaining({ state: 'active' }),
        to: expect.objectContaining({ state: 'pending', url: 'https://attacker.invalid/b' }),
        approvalsCleared: 2,
      }),
    });

    // Like a new one: the earlier approvals do not count; two different admins again.
    const first = await t.call<One>('POST', `${PATH}/approve`, {}, alice);
    expect(first.body.relationship).toMatchObject({ state: 'pending', approvals: { count: 1 } });
    const second = await t.call<One>('POST', `${PATH}/approve`, {}, bob);
    expect(second.body.relationship.state).toBe('active');
    expect(trusted(t)).toBeDefined();
  });

  it.each<[string, Record<string, string>]>([
    ['caPem', { caPem: '-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n' }],
    ['profile', { profile: 'https_spiffe', endpointSpiffeId: `spiffe://${TD}/ep` }],
  ])('a PATCH of %s on a suspended partner sends it back to pending too', async (_name, change) => {
    t = await createTestAdminApp({ requiredApprovals: 2 });
    const { alice } = await approvedByAliceAndBob(t);
    expect((await t.call('POST', `${PATH}/suspend`, {}, alice)).status).toBe(200);
    const bootstrap =
      change['profile'] === undefined ? {} : { bootstrapBundle: await partnerBundle() };
    const patched = await t.call<One>('PATCH', PATH, { ...change, ...bootstrap }, alice);
    expect(patched.status).toBe(200);
    expect(patched.body.relationship.state).toBe('pending');
    // Resuming is not a way round it: only approvals make it active again.
    const resumed = await t.call<{ error: { code: string } }>('POST', `${PATH}/resume`, {}, alice);
    expect(resumed.body.error.code).toBe('ERR_FEDERATION_TRANSITION');
  });

  it('a PATCH on a pending partner clears the approvals it had; a PATCH changing nothing keeps the state', async () => {
    t = await createTestAdminApp({ requiredApprovals: 2 });
    const { alice, bob } = await approvedByAliceAndBob(t);
    const same = await t.call<One>('PATCH', PATH, { url: 'https://127.0.0.1:9/bundle' }, alice);
    expect(same.body.relationship).toMatchObject({ state: 'active', approvals: { count: 2 } });
    const reasonOnly = await t.call<One>('PATCH', PATH, { reason: 'just a note' }, alice);
    expect(reasonOnly.body.relationship.state).toBe('active');

    await t.call('PATCH', PATH, { url: 'https://127.0.0.1:9/other' }, alice);
    const bobFirst = await t.call<One>('POST', `${PATH}/approve`, {}, bob);
    expect(bobFirst.body.relationship.approvals.count).toBe(1);
    // Bob approved the URL he saw; Alice changing it again must not ride on his approval.
    const changed = await t.call<One>('PATCH', PATH, { url: 'https://evil.invalid/b' }, alice);
    expect(changed.body.relationship).toMatchObject({ state: 'pending', approvals: { count: 0 } });
    const aliceOnly = await t.call<One>('POST', `${PATH}/approve`, {}, alice);
    expect(aliceOnly.body.relationship.state).toBe('pending');
    // Each relationship.updated event counts the approvals it cleared: none, none, both, Bob's.
    const cleared = (await auditOf(t))
      .filter((e) => e.type === 'relationship.updated')
      .map((e) => (e.details as { approvalsCleared?: unknown }).approvalsCleared);
    expect(cleared).toEqual([0, 0, 2, 1]);
  });

  it('a forced bundle (FED-33) is stored, but the relationship is pending until two admins approve it', async () => {
    t = await createTestAdminApp({ requiredApprovals: 2 });
    const { alice, bob } = await approvedByAliceAndBob(t);
    const chosen = await partnerBundle();

    const forced = await t.call<Forced>(
      'PUT',
      `${PATH}/bundle`,
      { bundle: chosen, reason: 'phone' },
      alice,
    );
    expect(forced.status).toBe(200);
    expect(forced.body).toMatchObject({ outcome: 'replaced', state: 'pending' });
    expect((await t.store.getBundle(TD))?.raw).toBe(chosen);
    expect(trusted(t)).toBeUndefined();
    const types = (await auditOf(t)).map((e) => e.type);
    expect(types).toEqual(
      expect.arrayContaining(['bundle.forced', 'relationship.returned_to_pending']),
    );
    const shown = await t.call<One>('GET', PATH);
    expect(shown.body.relationship).toMatchObject({ state: 'pending', approvals: { count: 0 } });
    expect(shown.body.relationship.transitions.at(-1)).toMatchObject({
      action: 'force',
      from: 'active',
    });

    expect((await t.call<One>('POST', `${PATH}/approve`, {}, alice)).body.relationship.state).toBe(
      'pending',
    );
    expect((await t.call<One>('POST', `${PATH}/approve`, {}, bob)).body.relationship.state).toBe(
      'active',
    );
  });

  it('an invalid forced bundle changes nothing, the state included', async () => {
    t = await createTestAdminApp({ requiredApprovals: 2 });
    const { alice } = await approvedByAliceAndBob(t);
    const refused = await t.call('PUT', `${PATH}/bundle`, { bundle: '{"keys":"no"}' }, alice);
    expect(refused.status).toBe(400);
    expect((await t.call<One>('GET', PATH)).body.relationship.state).toBe('active');
  });

  it('with the default of 1, a PATCH and a forced bundle keep an active partner active (as before)', async () => {
    t = await createTestAdminApp();
    await activePartner(t, [undefined]);
    const patched = await t.call<One>('PATCH', PATH, { url: 'https://127.0.0.1:9/moved' });
    expect(patched.body.relationship.state).toBe('active');
    const chosen = await partnerBundle();
    const forced = await t.call<Forced>('PUT', `${PATH}/bundle`, { bundle: chosen });
    expect(forced.body).toMatchObject({ outcome: 'replaced', state: 'active' });
    expect(trusted(t)).toBeDefined();
    expect((await auditOf(t)).map((e) => e.type)).not.toContain('relationship.returned_to_pending');
  });
});
