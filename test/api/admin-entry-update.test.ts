// PATCH /v1/admin/entries/:id (issue 18 #6) through app.request(): changes in place, audited with
// the admin's name and the changed fields, identity refused, create's validation, viewer 403, and
// fail closed (503, never 200) when the audit record cannot be written.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreError } from '../../src/errors.js';
import { createTestAdminApp, type TestAdminApp } from '../helpers/admin-app.js';

const TD = 'admin.test';
type ErrorBody = { error: { code: string; message: string } };
interface EntryJson {
  id: string;
  spiffeId: string;
  node: boolean;
  parentId: string | null;
  selectors: string[];
  federatesWith: string[];
  ttlSeconds: number | null;
  dnsNames: string[];
  description: string;
  createdBy: string;
}

describe('admin API: PATCH /v1/admin/entries/:id', () => {
  let admin: TestAdminApp;
  let n = 0;

  const create = async (body: Record<string, unknown> = {}): Promise<EntryJson> => {
    const created = await admin.call<{ entry: EntryJson }>('POST', '/v1/admin/entries', {
      spiffeId: `spiffe://${TD}/agents/u${++n}`,
      federatesWith: ['shipping.example'],
      ...body,
    });
    expect(created.status).toBe(201);
    return created.body.entry;
  };

  beforeAll(async () => {
    admin = await createTestAdminApp({ trustDomain: TD });
  });
  afterAll(async () => {
    await admin.close();
  });

  it('changes federatesWith, ttl, dns names and description; audited as entry.updated by the named admin', async () => {
    const added = await admin.call<{ token: string }>('POST', '/v1/admin/admins', {
      name: 'alice',
      role: 'admin',
    });
    const alice = added.body.token;
    const entry = await create({ ttlSeconds: 600 });
    const answer = await admin.call<{ entry: EntryJson; changed: string[] }>(
      'PATCH',
      `/v1/admin/entries/${entry.id}`,
      {
        federatesWith: ['transit.example', 'shipping.example'],
        ttlSeconds: null,
        dnsNames: ['u.internal'],
        description: 'moved',
      },
      alice,
    );
    expect(answer.status).toBe(200);
    expect(answer.body.changed).toEqual(['federatesWith', 'ttlSeconds', 'dnsNames', 'description']);
    expect(answer.body.entry).toEqual({
      ...entry,
      federatesWith: ['shipping.example', 'transit.example'],
      ttlSeconds: null,
      dnsNames: ['u.internal'],
      description: 'moved',
    });
    const shown = await admin.call<{ entry: EntryJson }>('GET', `/v1/admin/entries/${entry.id}`);
    expect(shown.body.entry).toEqual(answer.body.entry);
    const [event] = await admin.store.listAudit({ type: 'entry.updated', limit: 1 });
    expect(event?.actor).toBe('admin:alice');
    expect(event?.data).toMatchObject({
      id: entry.id,
      spiffeId: entry.spiffeId,
      changed: ['federatesWith', 'ttlSeconds', 'dnsNames', 'description'],
      federatesWith: ['shipping.example', 'transit.example'],
      ttlSeconds: null,
    });
  });

  it('workload selectors are replaced', async () => {
    const entry = await create({
      federatesWith: [],
      parentId: `spiffe://${TD}/nodes/n1`,
      selectors: ['unix:uid:1000'],
    });
    const answer = await admin.call<{ entry: EntryJson }>(
      'PATCH',
      `/v1/admin/entries/${entry.id}`,
      {
        selectors: ['unix:uid:2000'],
      },
    );
    expect([answer.status, answer.body.entry.selectors]).toEqual([200, ['unix:uid:2000']]);
  });

  // [name, body, status, code]
  const refused: [string, unknown, number, string][] = [
    ['spiffeId', { spiffeId: `spiffe://${TD}/other` }, 400, 'ERR_REGISTRATION_ENTRY_IMMUTABLE'],
    ['node', { node: true }, 400, 'ERR_REGISTRATION_ENTRY_IMMUTABLE'],
    ['parentId', { parentId: `spiffe://${TD}/nodes/n1` }, 400, 'ERR_REGISTRATION_ENTRY_IMMUTABLE'],
    ['empty body', {}, 400, 'ERR_REGISTRATION_ENTRY_INVALID'],
    ['own trust domain', { federatesWith: [TD] }, 400, 'ERR_REGISTRATION_ENTRY_INVALID'],
    [
      'upper-case partner (ID-4)',
      { federatesWith: ['A.example'] },
      400,
      'ERR_REGISTRATION_ENTRY_INVALID',
    ],
    ['bad dns name', { dnsNames: ['a..b'] }, 400, 'ERR_REGISTRATION_ENTRY_INVALID'],
    [
      'selectors on an agent entry',
      { selectors: ['unix:uid:1'] },
      400,
      'ERR_REGISTRATION_SELECTOR_INVALID',
    ],
    ['ttl below minimum (schema)', { ttlSeconds: 1 }, 400, 'ERR_API_VALIDATION'],
    ['unknown member (schema)', { admin: true }, 400, 'ERR_API_VALIDATION'],
    [
      'too many partners (schema)',
      { federatesWith: Array(65).fill('x.test') },
      400,
      'ERR_API_VALIDATION',
    ],
    ['not JSON', '{"description":', 400, 'ERR_API_VALIDATION'],
  ];

  it.each(refused)(
    'refuses %s -> %i %s; the entry is unchanged',
    async (_n, body, status, code) => {
      const entry = await create();
      const answer = await admin.call<ErrorBody>('PATCH', `/v1/admin/entries/${entry.id}`, body);
      expect([answer.status, answer.body.error.code]).toEqual([status, code]);
      const shown = await admin.call<{ entry: EntryJson }>('GET', `/v1/admin/entries/${entry.id}`);
      expect(shown.body.entry).toEqual(entry);
    },
  );

  it('the identity refusal says to delete and re-create', async () => {
    const entry = await create();
    const answer = await admin.call<ErrorBody>('PATCH', `/v1/admin/entries/${entry.id}`, {
      spiffeId: `spiffe://${TD}/x`,
    });
    expect(answer.body.error.message).toMatch(/delete and re-create/);
  });

  it('unknown entry -> 404 ERR_REGISTRATION_ENTRY_NOT_FOUND', async () => {
    const answer = await admin.call<ErrorBody>(
      'PATCH',
      '/v1/admin/entries/e_AAAAAAAAAAAAAAAAAAAAAA',
      {
        description: 'x',
      },
    );
    expect([answer.status, answer.body.error.code]).toEqual([
      404,
      'ERR_REGISTRATION_ENTRY_NOT_FOUND',
    ]);
  });

  it('a viewer gets 403 ERR_API_FORBIDDEN and changes nothing; no token gets 401', async () => {
    const added = await admin.call<{ token: string }>('POST', '/v1/admin/admins', {
      name: 'val',
      role: 'viewer',
    });
    const entry = await create();
    const path = `/v1/admin/entries/${entry.id}`;
    const viewer = await admin.call<ErrorBody>(
      'PATCH',
      path,
      { description: 'x' },
      added.body.token,
    );
    expect([viewer.status, viewer.body.error.code]).toEqual([403, 'ERR_API_FORBIDDEN']);
    const anonymous = await admin.call<ErrorBody>('PATCH', path, { description: 'x' }, null);
    expect([anonymous.status, anonymous.body.error.code]).toEqual([401, 'ERR_API_UNAUTHENTICATED']);
    const shown = await admin.call<{ entry: EntryJson }>('GET', path);
    expect(shown.body.entry.description).toBe('');
  });

  it('fails closed: an audit write that fails answers 503 ERR_STORE_UNAVAILABLE, never 200', async () => {
    const entry = await create();
    const store = admin.store as { appendAudit: typeof admin.store.appendAudit };
    const real = store.appendAudit;
    store.appendAudit = () =>
      Promise.reject(new StoreError('ERR_STORE_UNAVAILABLE', 'audit log unreachable (test)'));
    let answer;
    try {
      answer = await admin.call<ErrorBody>('PATCH', `/v1/admin/entries/${entry.id}`, {
        description: 'unaudited',
      });
    } finally {
      store.appendAudit = real;
    }
    expect([answer.status, answer.body.error.code]).toEqual([503, 'ERR_STORE_UNAVAILABLE']);
  });

  it('is in the OpenAPI document', async () => {
    const doc = await admin.call<{ paths: Record<string, Record<string, unknown>> }>(
      'GET',
      '/v1/admin/openapi.json',
    );
    expect(Object.keys(doc.body.paths['/v1/admin/entries/{id}'] ?? {})).toContain('patch');
  });
});
