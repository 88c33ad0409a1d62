// Admin audit routes through app.request(): the chain check, with and without an anchor kept
// outside the broker, each validation error and authentication, with the exact status and code.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/index.js';
import { createTestAdminApp, type TestAdminApp } from '../helpers/admin-app.js';
import { resultEvents } from '../helpers/audit-events.js';

const TD = 'audit-api.test';
type ErrorBody = { error: { code: string; message: string } };
interface Verified {
  ok: boolean;
  checked: number;
  brokenAt?: { id: number; reason: string };
  head?: { id: number; hash: string };
  anchor?: { id: number; hash: string };
}

describe('admin API: audit verify', () => {
  let admin: TestAdminApp;
  let events: AuditEvent[];

  const verify = (anchor?: string) =>
    admin.call<Verified>(
      'GET',
      `/v1/admin/audit/verify${anchor === undefined ? '' : `?${new URLSearchParams({ anchor }).toString()}`}`,
    );

  beforeAll(async () => {
    admin = await createTestAdminApp({ trustDomain: TD });
    for (const name of ['a', 'b', 'c']) {
      const created = await admin.call('POST', '/v1/admin/entries', {
        spiffeId: `spiffe://${TD}/agents/${name}`,
      });
      expect(created.status).toBe(201);
    }
    const listed = await admin.call<{ events: AuditEvent[] }>('GET', '/v1/admin/audit?limit=100');
    events = listed.body.events;
    expect(resultEvents(events).map((e) => e.type)).toEqual([
      'entry.created',
      'entry.created',
      'entry.created',
    ]);
  });
  afterAll(async () => {
    await admin.close();
  });

  it('an intact chain verifies and names its head', async () => {
    const last = events.at(-1) as AuditEvent;
    const result = await verify();
    expect(result.status).toBe(200);
    expect(result.body).toEqual({
      ok: true,
      checked: events.length,
      head: { id: last.id, hash: last.hash },
    });
  });

  it('an anchor that still holds is echoed back', async () => {
    const first = events[0] as AuditEvent;
    const last = events.at(-1) as AuditEvent;
    const result = await verify(`${first.id}:${first.hash}`);
    expect(result.status).toBe(200);
    expect(result.body).toEqual({
      ok: true,
      checked: events.length,
      head: { id: last.id, hash: last.hash },
      anchor: { id: first.id, hash: first.hash },
    });
  });

  it('an anchor beyond the newest event or with another hash fails and says why', async () => {
    const last = events.at(-1) as AuditEvent;
    const beyond = await verify(`${last.id + 5}:${last.hash}`);
    expect(beyond.status).toBe(200);
    expect(beyond.body).toMatchObject({
      ok: false,
      checked: events.length,
      brokenAt: {
        id: last.id + 5,
        reason: `anchored event ${last.id + 5} is missing: the log ends at event ${last.id} (newest events removed)`,
      },
    });
    const other = 'f'.repeat(64);
    const rewritten = await verify(`${last.id}:${other}`);
    expect(rewritten.body.ok).toBe(false);
    expect(rewritten.body.brokenAt).toEqual({
      id: last.id,
      reason: `anchored event ${last.id} has hash ${last.hash}, not the anchored ${other} (rewritten)`,
    });
    expect(rewritten.body.anchor).toBeUndefined();
  });

  it.each([
    ['no hash', '3'],
    ['a # prefix as once printed', `#3 ${'a'.repeat(64)}`],
    ['id 0', `0:${'a'.repeat(64)}`],
    ['a short hash', `3:${'a'.repeat(63)}`],
    ['upper-case hex', `3:${'A'.repeat(64)}`],
    ['an empty anchor', ''],
  ])('a malformed anchor (%s) is ERR_API_VALIDATION', async (_name, anchor) => {
    const result = await admin.call<ErrorBody>(
      'GET',
      `/v1/admin/audit/verify?${new URLSearchParams({ anchor }).toString()}`,
    );
    expect([result.status, result.body.error.code]).toEqual([400, 'ERR_API_VALIDATION']);
    expect(result.body.error.message).toMatch(/anchor must be ID:HASH/);
  });

  it('refuses calls without the admin token, or with a wrong one', async () => {
    for (const token of [null, 'not-the-admin-token']) {
      const result = await admin.call<ErrorBody>('GET', '/v1/admin/audit/verify', undefined, token);
      expect([result.status, result.body.error.code]).toEqual([401, 'ERR_API_UNAUTHENTICATED']);
    }
  });
});
