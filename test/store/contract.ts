// The store contract: one suite every backend must pass (file store, Redis standalone, Sentinel, Cluster).
// Fixtures open stores on real storage; a scope names the data, so opening a scope twice sees the same data.
// The suite's parts live in contract-bundles.ts, contract-records.ts and contract-coordination.ts.
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/index.js';
import { describeBundles, describeLocalBundle } from './contract-bundles.js';
import {
  describeAuditLog,
  describeJoinTokens,
  describeLeases,
  describeNotifications,
} from './contract-coordination.js';
import {
  bundleInput,
  chained,
  checkChain,
  rejection,
  TD,
  type ContractContext,
  type StoreFixture,
} from './contract-kit.js';
import {
  describeAccess,
  describeRefreshStatus,
  describeReplicaAuthorities,
  describeVersionedRecords,
} from './contract-records.js';

export type { AuditFixtureOptions, StoreFixture } from './contract-kit.js';
export { bundleInput, chained, checkChain, rejection, TD } from './contract-kit.js';

export function describeStoreContract(name: string, fixture: () => StoreFixture): void {
  describe(`store contract: ${name}`, () => {
    const opened: Store[] = [];
    let scope = '';
    async function open(): Promise<Store> {
      const store = await fixture().open(scope);
      opened.push(store);
      return store;
    }
    async function fresh(): Promise<Store> {
      scope = randomUUID();
      return open();
    }
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });
    const ctx: ContractContext = { opened, open, fresh };

    describeBundles(ctx);
    describeVersionedRecords(ctx);
    describeAccess(ctx);
    describeLocalBundle(ctx);
    describeJoinTokens(ctx);
    describeAuditLog(ctx);
    describeRefreshStatus(ctx);
    describeReplicaAuthorities(ctx);
    describeLeases(ctx);
    describeNotifications(ctx);
    describeLifecycle(ctx);
  });
}

/** Ping, close, and every kind of record kept across reopening. */
function describeLifecycle({ open, fresh }: ContractContext): void {
  describe('lifecycle', () => {
    it('answers ping and refuses calls once closed', async () => {
      const store = await fresh();
      await store.ping();
      await store.close();
      expect((await rejection(store.getBundle(TD))).code).toBe('ERR_STORE_UNAVAILABLE');
      expect((await rejection(store.putBundle(bundleInput('1')))).code).toBe(
        'ERR_STORE_UNAVAILABLE',
      );
      await store.close();
    });

    it('keeps every kind of record across reopening', async () => {
      const first = await fresh();
      for (let i = 1; i <= 3; i++) await first.putBundle(bundleInput(String(i)));
      await first.putRelationship(TD, { state: 'active' }, null);
      await first.putRelationship(TD, { state: 'active', n: 2 }, 1);
      await first.putLocalBundle({ raw: '{"keys":[]}', sequence: '4', publishedAt: 1 });
      await first.putEntry('e-1', { a: 1 }, null);
      await first.putAccess('admin', 'alice', { role: 'admin' }, null);
      await first.putAccess('session', 's-1', { admin: 'alice' }, null);
      await first.putToken({ hash: 'keep', expiresAt: 9_000, data: { x: 1 } });
      await first.putToken({ hash: 'used', expiresAt: 9_000, data: {} });
      await first.consumeToken('used', 1);
      await first.appendAudit(chained('a'));
      await first.appendAudit(chained('b'));
      await first.putRefreshStatus(TD, { ok: true });
      await first.putReplicaAuthorities('replica-a', { x509: ['a1'] });
      await first.close();

      const second = await open();
      expect((await second.getBundle(TD))?.sequence).toBe('3');
      expect((await second.bundleHistory(TD)).map((b) => b.sequence)).toEqual(['3', '2', '1']);
      expect(await second.getRelationship(TD)).toEqual({
        value: { state: 'active', n: 2 },
        version: 2,
      });
      expect((await second.getLocalBundle())?.sequence).toBe('4');
      expect((await second.getEntry('e-1'))?.value).toEqual({ a: 1 });
      expect((await second.getAccess('admin', 'alice'))?.value).toEqual({ role: 'admin' });
      expect((await second.getAccess('session', 's-1'))?.value).toEqual({ admin: 'alice' });
      expect((await second.listTokens(1)).map((t) => t.hash)).toEqual(['keep']);
      const audit = await second.listAudit({ limit: 10 });
      expect(audit.map((r) => r.type)).toEqual(['a', 'b']);
      checkChain(audit);
      expect(await second.getRefreshStatus(TD)).toEqual({ ok: true });
      expect(await second.listReplicaAuthorities()).toEqual([
        { replicaId: 'replica-a', value: { x509: ['a1'] } },
      ]);
      expect((await second.appendAudit(chained('c'))).id).toBe(3);
      expect((await rejection(second.putBundle(bundleInput('2')))).code).toBe(
        'ERR_STORE_STALE_SEQUENCE',
      );
    });
  });
}
