// Store contract, coordination: what replicas race on or signal through: one-time join tokens,
// the audit log appended as a hash chain, leases, and published notifications.
import { describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/index.js';
import { CHANNELS } from '../../src/store/index.js';
import { chained, checkChain, rejection, sleep, TD, type ContractContext } from './contract-kit.js';

/** Join tokens: consumed once, never after expiry. */
export function describeJoinTokens({ fresh }: ContractContext): void {
  describe('join tokens (one-time use, expiry)', () => {
    it('consumes a token once; a second attempt gets nothing', async () => {
      const store = await fresh();
      await store.putToken({ hash: 'h1', expiresAt: 5_000, data: { spiffeId: 'spiffe://td/x' } });
      expect((await rejection(store.putToken({ hash: 'h1', expiresAt: 9, data: {} }))).code).toBe(
        'ERR_STORE_CONFLICT',
      );
      expect(await store.consumeToken('h1', 1_000)).toEqual({
        hash: 'h1',
        expiresAt: 5_000,
        data: { spiffeId: 'spiffe://td/x' },
      });
      expect(await store.consumeToken('h1', 1_000)).toBeUndefined();
      expect(await store.consumeToken('unknown', 1_000)).toBeUndefined();
    });

    it('never hands out an expired token', async () => {
      const store = await fresh();
      await store.putToken({ hash: 'h2', expiresAt: 5_000, data: {} });
      await store.putToken({ hash: 'h3', expiresAt: 9_000, data: {} });
      expect((await store.listTokens(6_000)).map((t) => t.hash)).toEqual(['h3']);
      expect(await store.consumeToken('h2', 5_000)).toBeUndefined();
      expect(await store.consumeToken('h2', 1_000)).toBeUndefined();
      expect(await store.deleteToken('h3')).toBe(true);
      expect(await store.deleteToken('h3')).toBe(false);
      expect(await store.listTokens(0)).toEqual([]);
    });

    it('reads a token without consuming it; an expired or consumed one reads as nothing', async () => {
      const store = await fresh();
      await store.putToken({ hash: 'h5', expiresAt: 5_000, data: { entryId: 'e1' } });
      const record = { hash: 'h5', expiresAt: 5_000, data: { entryId: 'e1' } };
      expect(await store.readToken('h5', 1_000)).toEqual(record);
      expect(await store.readToken('h5', 1_000)).toEqual(record);
      expect(await store.readToken('h5', 5_000)).toBeUndefined();
      expect(await store.readToken('unknown', 1_000)).toBeUndefined();
      expect(await store.consumeToken('h5', 1_000)).toEqual(record);
      expect(await store.readToken('h5', 1_000)).toBeUndefined();
    });

    it('gives a token to exactly one of many concurrent consumers', async () => {
      const store = await fresh();
      await store.putToken({ hash: 'h4', expiresAt: 5_000, data: {} });
      const results = await Promise.all(
        Array.from({ length: 20 }, () => store.consumeToken('h4', 1_000)),
      );
      expect(results.filter((r) => r !== undefined)).toHaveLength(1);
    });
  });
}

/** Audit appends: monotonic ids, the builder sees the previous record. */
export function describeAuditLog({ fresh }: ContractContext): void {
  describe('audit log (hash chain hook)', () => {
    it('appends with monotonic ids and hands the previous record to the builder', async () => {
      const store = await fresh();
      expect(await store.lastAudit()).toBeUndefined();
      const first = await store.appendAudit(chained('relationship.created'));
      expect(first.id).toBe(1);
      expect(first.previousHash).toBeNull();
      for (let i = 0; i < 4; i++) await store.appendAudit(chained('bundle.fetched'));
      const all = await store.listAudit({ limit: 100 });
      expect(all.map((r) => r.id)).toEqual([1, 2, 3, 4, 5]);
      checkChain(all);
      expect(await store.lastAudit()).toEqual(all[4]);
    });

    it('keeps the chain intact under concurrent appends', async () => {
      const store = await fresh();
      await Promise.all(Array.from({ length: 20 }, () => store.appendAudit(chained('x'))));
      const all = await store.listAudit({ limit: 100 });
      expect(all.map((r) => r.id)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      checkChain(all);
    });

    it('lets a builder error through unchanged and appends nothing', async () => {
      const store = await fresh();
      const boom = new Error('builder refused');
      await expect(
        store.appendAudit(() => {
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect(await store.lastAudit()).toBeUndefined();
    });

    it('a failing builder among concurrent appends fails alone; the rest chain and persist', async () => {
      const store = await fresh();
      const boom = new Error('builder refused');
      const results = await Promise.allSettled(
        Array.from({ length: 12 }, (_, i) =>
          store.appendAudit(
            i === 5
              ? () => {
                  throw boom;
                }
              : chained('x'),
          ),
        ),
      );
      expect(results.filter((r) => r.status === 'rejected').map((r) => r.reason)).toEqual([boom]);
      const all = await store.listAudit({ limit: 100 });
      expect(all.map((r) => r.id)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
      checkChain(all);
    });

    it('reads by id range, direction and filters', async () => {
      const store = await fresh();
      await store.appendAudit(chained('a', { actor: 'alice', trustDomain: TD, time: 100 }));
      await store.appendAudit(chained('b', { actor: 'bob', trustDomain: null, time: 200 }));
      await store.appendAudit(chained('a', { actor: 'bob', trustDomain: TD, time: 300 }));
      await store.appendAudit(
        chained('b', { actor: 'alice', trustDomain: 'x.example', time: 400 }),
      );
      await store.appendAudit(chained('a', { actor: 'alice', trustDomain: TD, time: 500 }));
      const ids = async (query: Parameters<Store['listAudit']>[0]): Promise<number[]> =>
        (await store.listAudit(query)).map((r) => r.id);
      expect(await ids({ fromId: 2, limit: 2 })).toEqual([2, 3]);
      expect(await ids({ limit: 2, direction: 'backward' })).toEqual([5, 4]);
      expect(await ids({ fromId: 3, limit: 10, direction: 'backward' })).toEqual([3, 2, 1]);
      expect(await ids({ limit: 10, type: 'a' })).toEqual([1, 3, 5]);
      expect(await ids({ limit: 2, type: 'a' })).toEqual([1, 3]);
      expect(await ids({ limit: 10, actor: 'bob' })).toEqual([2, 3]);
      expect(await ids({ limit: 10, trustDomain: TD, direction: 'backward' })).toEqual([5, 3, 1]);
      expect(await ids({ limit: 10, sinceMs: 200, untilMs: 400 })).toEqual([2, 3]);
      expect(await ids({ fromId: 9, limit: 10 })).toEqual([]);
      await expect(store.listAudit({ limit: 0 })).rejects.toBeInstanceOf(TypeError);
    });
  });
}

/** Leases: one owner at a time, until the TTL runs out (FED-43). */
export function describeLeases({ fresh }: ContractContext): void {
  describe('leases (FED-43)', () => {
    it('gives a lease to one owner; only that owner renews or releases it', async () => {
      const store = await fresh();
      expect(await store.acquireLock('refresh', 'replica-a', 10_000)).toBe(true);
      expect(await store.acquireLock('refresh', 'replica-b', 10_000)).toBe(false);
      expect(await store.acquireLock('refresh', 'replica-a', 10_000)).toBe(true);
      expect(await store.lockHolder('refresh')).toBe('replica-a');
      expect(await store.renewLock('refresh', 'replica-b', 10_000)).toBe(false);
      expect(await store.releaseLock('refresh', 'replica-b')).toBe(false);
      expect(await store.renewLock('refresh', 'replica-a', 10_000)).toBe(true);
      expect(await store.releaseLock('refresh', 'replica-a')).toBe(true);
      expect(await store.lockHolder('refresh')).toBeUndefined();
      expect(await store.releaseLock('refresh', 'replica-a')).toBe(false);
      expect(await store.acquireLock('refresh', 'replica-b', 10_000)).toBe(true);
      expect(await store.acquireLock('other', 'replica-a', 10_000)).toBe(true);
    });

    it('lets a lease expire after its TTL', async () => {
      const store = await fresh();
      expect(await store.acquireLock('short', 'replica-a', 100)).toBe(true);
      await sleep(250);
      expect(await store.lockHolder('short')).toBeUndefined();
      expect(await store.renewLock('short', 'replica-a', 100)).toBe(false);
      expect(await store.acquireLock('short', 'replica-b', 10_000)).toBe(true);
    });
  });
}

/** Published messages reach the subscribers of their channel only. */
export function describeNotifications({ fresh }: ContractContext): void {
  describe('notifications', () => {
    it('delivers published messages to subscribers of the channel only', async () => {
      const store = await fresh();
      const got: string[] = [];
      const other: string[] = [];
      const unsubscribe = await store.subscribe(CHANNELS.bundleChanged(TD), (m) => got.push(m));
      await store.subscribe(CHANNELS.relationshipChanged, (m) => other.push(m));
      await store.publish(CHANNELS.bundleChanged(TD), 'seq=7');
      await store.publish(CHANNELS.bundleChanged('elsewhere.example'), 'nope');
      await expect.poll(() => got).toEqual(['seq=7']);
      await unsubscribe();
      await store.publish(CHANNELS.bundleChanged(TD), 'seq=8');
      await store.publish(CHANNELS.relationshipChanged, TD);
      await expect.poll(() => other).toEqual([TD]);
      expect(got).toEqual(['seq=7']);
    });
  });
}
