// Admin registration routes through app.request(): entries and join tokens, every validation
// error, and authentication, with the exact status and error code each time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleDigest, marshalBundle } from '../../src/bundle/index.js';
import { createTestAdminApp, type TestAdminApp } from '../helpers/admin-app.js';

const TD = 'admin.test';
type ErrorBody = { error: { code: string; message: string } };
type EntryBody = { entry: { id: string; spiffeId: string; kind: string; federatesWith: string[] } };

describe('admin API: registration entries and join tokens', () => {
  let admin: TestAdminApp;

  beforeAll(async () => {
    admin = await createTestAdminApp({ trustDomain: TD });
  });
  afterAll(async () => {
    await admin.close();
  });

  it('creates, shows, lists and deletes an entry; each step audited', async () => {
    const created = await admin.call<EntryBody>('POST', '/v1/admin/entries', {
      spiffeId: `spiffe://${TD}/agents/planner/instance/{instance}`,
      federatesWith: ['shipping.example'],
      ttlSeconds: 600,
      dnsNames: ['planner.internal'],
      description: 'route planner',
    });
    expect(created.status).toBe(201);
    const { entry } = created.body;
    expect(entry.kind).toBe('template');
    expect(entry.federatesWith).toEqual(['shipping.example']);
    const shown = await admin.call<EntryBody>('GET', `/v1/admin/entries/${entry.id}`);
    expect(shown.body.entry).toEqual(entry);
    const listed = await admin.call<{ entries: { id: string }[] }>('GET', '/v1/admin/entries');
    expect(listed.body.entries.map((e) => e.id)).toContain(entry.id);
    expect((await admin.call('DELETE', `/v1/admin/entries/${entry.id}`)).status).toBe(200);
    const gone = await admin.call<ErrorBody>('GET', `/v1/admin/entries/${entry.id}`);
    expect([gone.status, gone.body.error.code]).toEqual([404, 'ERR_REGISTRATION_ENTRY_NOT_FOUND']);
    const again = await admin.call<ErrorBody>('DELETE', `/v1/admin/entries/${entry.id}`);
    expect([again.status, again.body.error.code]).toEqual([
      404,
      'ERR_REGISTRATION_ENTRY_NOT_FOUND',
    ]);
    const types = (await admin.store.listAudit({ limit: 100 })).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['entry.created', 'entry.deleted']));
  });

  it.each([
    ['no body', undefined],
    ['missing spiffeId', { federatesWith: [] }],
    ['unknown member', { spiffeId: `spiffe://${TD}/a`, admin: true }],
    ['spiffeId not a string', { spiffeId: 7 }],
    ['ttl below minimum', { spiffeId: `spiffe://${TD}/a`, ttlSeconds: 1 }],
    ['ttl not an integer', { spiffeId: `spiffe://${TD}/a`, ttlSeconds: 60.5 }],
    [
      'too many partners',
      { spiffeId: `spiffe://${TD}/a`, federatesWith: Array(65).fill('x.test') },
    ],
    ['not JSON', '{"spiffeId":'],
  ])('entry body validation: %s → 400 ERR_API_VALIDATION', async (_name, body) => {
    const answer = await admin.call<ErrorBody>('POST', '/v1/admin/entries', body ?? '');
    expect([answer.status, answer.body.error.code]).toEqual([400, 'ERR_API_VALIDATION']);
  });

  it.each([
    ['another trust domain', 'spiffe://shipping.example/agents/x'],
    ['the trust domain ID', `spiffe://${TD}`],
    ['the bundle endpoint ID (reserved)', `spiffe://${TD}/spiffe/bundle-endpoint`],
    ['a template reaching the reserved ID', `spiffe://${TD}/spiffe/{instance}`],
    ['a placeholder inside a segment', `spiffe://${TD}/agents/a{instance}`],
    ['a dot segment', `spiffe://${TD}/agents/../x`],
  ])('entry semantics: %s → 400 ERR_REGISTRATION_ENTRY_INVALID', async (_name, spiffeId) => {
    const answer = await admin.call<ErrorBody>('POST', '/v1/admin/entries', { spiffeId });
    expect([answer.status, answer.body.error.code]).toEqual([
      400,
      'ERR_REGISTRATION_ENTRY_INVALID',
    ]);
  });

  it('an overlapping entry is a 409 ERR_REGISTRATION_ENTRY_EXISTS', async () => {
    const first = await admin.call('POST', '/v1/admin/entries', {
      spiffeId: `spiffe://${TD}/agents/overlap/{instance}`,
    });
    expect(first.status).toBe(201);
    const clash = await admin.call<ErrorBody>('POST', '/v1/admin/entries', {
      spiffeId: `spiffe://${TD}/agents/overlap/one`,
    });
    expect([clash.status, clash.body.error.code]).toEqual([409, 'ERR_REGISTRATION_ENTRY_EXISTS']);
  });

  it('a join token is shown once with the agent API URL and bundle digest; listed without secret; revocable, the revocation audited', async () => {
    const created = await admin.call<EntryBody>('POST', '/v1/admin/entries', {
      spiffeId: `spiffe://${TD}/agents/token-holder`,
    });
    const token = await admin.call<{
      token: string;
      tokenId: string;
      expiresAt: string;
      bundleDigest: string;
      agentApiUrl: string;
      spiffeId: string;
    }>('POST', '/v1/admin/tokens', { entryId: created.body.entry.id, ttlSeconds: 120 });
    expect(token.status).toBe(201);
    expect(token.headers.get('cache-control')).toBe('no-store');
    expect(token.body.token).toMatch(/^fbjt_[A-Za-z0-9_-]{43}$/);
    expect(token.body.bundleDigest).toBe(bundleDigest(marshalBundle(admin.ca.localBundle())));
    expect(token.body.agentApiUrl).toBe('https://127.0.0.1:8444');
    expect(token.body.spiffeId).toBe(`spiffe://${TD}/agents/token-holder`);
    const listed = await admin.call('GET', '/v1/admin/tokens');
    expect(listed.text).toContain(token.body.tokenId);
    expect(listed.text).not.toContain(token.body.token.slice(5));
    // Neither the audit log nor the store's token listing holds the secret.
    expect(JSON.stringify(await admin.store.listAudit({ limit: 100 }))).not.toContain(
      token.body.token,
    );
    expect((await admin.call('DELETE', `/v1/admin/tokens/${token.body.tokenId}`)).status).toBe(200);
    // The revocation is audited: who, which token, for which entry.
    const revoked = (await admin.store.listAudit({ limit: 100 })).filter(
      (e) => e.type === 'token.revoked',
    );
    expect(revoked).toHaveLength(1);
    expect(revoked[0]).toMatchObject({
      actor: 'admin:root',
      data: { tokenId: token.body.tokenId, entryId: created.body.entry.id },
    });
    const again = await admin.call<ErrorBody>('DELETE', `/v1/admin/tokens/${token.body.tokenId}`);
    expect([again.status, again.body.error.code]).toEqual([401, 'ERR_REGISTRATION_TOKEN_INVALID']);
  });

  it.each([
    ['missing entryId', {}, 400, 'ERR_API_VALIDATION'],
    ['ttl too long', { entryId: 'e_x', ttlSeconds: 8 * 86_400 }, 400, 'ERR_API_VALIDATION'],
    ['unknown member', { entryId: 'e_x', secret: 'x' }, 400, 'ERR_API_VALIDATION'],
    ['unknown entry', { entryId: `e_${'A'.repeat(22)}` }, 404, 'ERR_REGISTRATION_ENTRY_NOT_FOUND'],
  ])('token body: %s → %i %s', async (_name, body, status, code) => {
    const answer = await admin.call<ErrorBody>('POST', '/v1/admin/tokens', body);
    expect([answer.status, answer.body.error.code]).toEqual([status, code]);
  });

  it.each([
    ['POST', '/v1/admin/entries'],
    ['GET', '/v1/admin/entries'],
    ['GET', '/v1/admin/entries/e_x'],
    ['DELETE', '/v1/admin/entries/e_x'],
    ['POST', '/v1/admin/tokens'],
    ['GET', '/v1/admin/tokens'],
    ['DELETE', '/v1/admin/tokens/abc'],
  ])(
    '%s %s refuses no token and a wrong token (401 ERR_API_UNAUTHENTICATED)',
    async (method, path) => {
      for (const token of [null, 'wrong-token-0123456789']) {
        const answer = await admin.call<ErrorBody>(method, path, undefined, token);
        expect([answer.status, answer.body.error.code]).toEqual([401, 'ERR_API_UNAUTHENTICATED']);
      }
    },
  );
});
