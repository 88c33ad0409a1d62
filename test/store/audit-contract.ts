// The audit part of the store contract, run against the file store and real Redis: reading what is
// stored (for `audit verify`), and trims past the cap recorded as `audit.trimmed` events (issue 15).
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  chainTrimmedEvent,
  createAuditRecorder,
  verifyStoredAudit,
  type AuditRecorder,
} from '../../src/audit/index.js';
import type { Store } from '../../src/store/index.js';
import type { AuditFixtureOptions, StoreFixture } from './contract.js';

export function describeAuditContract(name: string, fixture: () => StoreFixture): void {
  describe(`store audit contract: ${name}`, () => {
    const opened: Store[] = [];
    async function open(scope: string, audit?: AuditFixtureOptions): Promise<Store> {
      const store = await fixture().open(scope, audit);
      opened.push(store);
      return store;
    }
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });
    const recorder = (store: Store): AuditRecorder =>
      createAuditRecorder({ store, now: () => 1_700_000_000_000 });
    const verify = (store: Store) =>
      verifyStoredAudit((fromId, limit) => store.readStoredAudit(fromId, limit));

    it('readStoredAudit pages through what is stored, oldest first, from an id', async () => {
      const store = await open(randomUUID());
      const record = recorder(store);
      for (let i = 0; i < 25; i++) await record({ type: 'entry.created', actor: `admin:${i}` });
      const first = await store.readStoredAudit(1, 10);
      expect(first.records.map((r) => r.id)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
      expect(first.unreadable).toBeUndefined();
      const rest = await store.readStoredAudit(11, 100);
      expect(rest.records.map((r) => r.id)).toEqual(Array.from({ length: 15 }, (_, i) => i + 11));
      expect([...first.records, ...rest.records]).toEqual(await store.listAudit({ limit: 100 }));
      expect((await store.readStoredAudit(26, 10)).records).toEqual([]);
      await expect(store.readStoredAudit(0, 10)).rejects.toBeInstanceOf(TypeError);
      await expect(store.readStoredAudit(1, 0)).rejects.toBeInstanceOf(TypeError);
      const result = await verify(store);
      expect(result).toMatchObject({ ok: true, checked: 25, head: { id: 25 } });
      expect(result.trimmed).toBeUndefined();
    });

    it('issue 15 #2: every trim past the cap is an audit.trimmed event that verify reports', async () => {
      const scope = randomUUID();
      const audit = { auditMaxLength: 10, auditTrimmed: chainTrimmedEvent };
      const store = await open(scope, audit);
      const record = recorder(store);
      for (let i = 1; i <= 40; i++) await record({ type: 'entry.created', actor: `admin:${i}` });
      const visible = await store.listAudit({ limit: 100 });
      expect(visible.length).toBeLessThanOrEqual(10);
      const trims = visible.filter((e) => e.type === 'audit.trimmed');
      expect(trims.length).toBeGreaterThan(0);
      const newest = trims.at(-1);
      expect(newest?.data).toMatchObject({
        count: expect.any(Number) as number,
        fromId: expect.any(Number) as number,
        toId: expect.any(Number) as number,
        lastTrimmedHash: expect.stringMatching(/^[0-9a-f]{64}$/) as string,
      });
      // The newest real events survive; nothing of the newest 5 was dropped.
      expect(visible.filter((e) => e.type === 'entry.created').map((e) => e.actor)).toEqual(
        expect.arrayContaining(['admin:36', 'admin:37', 'admin:38', 'admin:39', 'admin:40']),
      );
      const result = await verify(store);
      expect(result.ok).toBe(true);
      expect(result.trimmed?.events).toBeGreaterThanOrEqual(30);
      expect(result.trimmed?.throughId).toBe(newest?.data['toId']);

      // Reopened, the trims still verify and appending goes on trimming with records.
      await store.close();
      const reopened = await open(scope, audit);
      const again = recorder(reopened);
      for (let i = 41; i <= 60; i++) await again({ type: 'entry.created', actor: `admin:${i}` });
      const after = await verify(reopened);
      expect(after.ok).toBe(true);
      expect(after.trimmed?.throughId).toBeGreaterThan(result.trimmed?.throughId ?? 0);
      expect((await reopened.listAudit({ limit: 100 })).length).toBeLessThanOrEqual(10);
    });

    it('a log trimmed silently by an earlier version verifies again after its first recorded trim', async () => {
      const scope = randomUUID();
      const legacy = await open(scope, { auditMaxLength: 10 });
      const record = recorder(legacy);
      for (let i = 1; i <= 30; i++) await record({ type: 'entry.created', actor: `admin:${i}` });
      await legacy.close();
      const upgraded = await open(scope, { auditMaxLength: 10, auditTrimmed: chainTrimmedEvent });
      await recorder(upgraded)({ type: 'entry.created', actor: 'admin:31' });
      const result = await verify(upgraded);
      expect(result.ok, result.brokenAt?.reason).toBe(true);
      expect((await upgraded.listAudit({ limit: 100 })).length).toBeLessThanOrEqual(10);
    });

    it('issue 15 #3: a failed append reaches the recorder as ERR_STORE_UNAVAILABLE, never success', async () => {
      const store = await open(randomUUID());
      const record = recorder(store);
      await record({ type: 'svid.issued', actor: 'a' });
      await store.close();
      await expect(record({ type: 'svid.issued', actor: 'b' })).rejects.toMatchObject({
        code: 'ERR_STORE_UNAVAILABLE',
      });
      // Any other failure of the append is reported the same way (the action is not acknowledged).
      const failing = createAuditRecorder({
        store: {
          appendAudit: () => Promise.reject(new Error('lost the race too many times')),
        },
        now: () => 1,
      });
      await expect(failing({ type: 'token.used', actor: 'x' })).rejects.toMatchObject({
        code: 'ERR_STORE_UNAVAILABLE',
      });
    });

    it('issue 15 #2: concurrent appends past the cap keep a chain that verifies', async () => {
      const store = await open(randomUUID(), {
        auditMaxLength: 5,
        auditTrimmed: chainTrimmedEvent,
      });
      const record = recorder(store);
      await Promise.all(
        Array.from({ length: 30 }, (_, i) => record({ type: 'svid.issued', actor: `a${i}` })),
      );
      const result = await verify(store);
      expect(result.ok).toBe(true);
      expect(result.trimmed?.events).toBeGreaterThan(0);
      expect((await store.listAudit({ limit: 100 })).length).toBeLessThanOrEqual(5);
    });
  });
}
