// Store contract, records: versioned records under compare-and-set (relationships, registration
// entries, admins and sessions) and plain keyed records (refresh status, replica authorities).
import { describe, expect, it } from 'vitest';
import { rejection, TD, type ContractContext } from './contract-kit.js';

/** Relationships and registration entries, versioned (compare-and-set). */
export function describeVersionedRecords({ fresh }: ContractContext): void {
  describe('relationships and entries (compare-and-set)', () => {
    it('creates, updates with the expected version and refuses stale versions', async () => {
      const store = await fresh();
      expect(await store.putRelationship(TD, { state: 'pending' }, null)).toBe(1);
      expect((await rejection(store.putRelationship(TD, { state: 'x' }, null))).code).toBe(
        'ERR_STORE_CONFLICT',
      );
      expect(await store.putRelationship(TD, { state: 'active' }, 1)).toBe(2);
      expect((await rejection(store.putRelationship(TD, { state: 'x' }, 1))).code).toBe(
        'ERR_STORE_CONFLICT',
      );
      expect(await store.putRelationship(TD, { state: 'suspended' }, 'any')).toBe(3);
      expect(await store.getRelationship(TD)).toEqual({
        value: { state: 'suspended' },
        version: 3,
      });
      expect(await store.listRelationships()).toEqual([
        { value: { state: 'suspended' }, version: 3 },
      ]);
      expect((await rejection(store.deleteRelationship(TD, 2))).code).toBe('ERR_STORE_CONFLICT');
      expect(await store.deleteRelationship(TD, 3)).toBe(true);
      expect(await store.deleteRelationship(TD, 'any')).toBe(false);
      expect(await store.getRelationship(TD)).toBeUndefined();
    });

    it('lets exactly one of two concurrent edits of the same version win', async () => {
      const store = await fresh();
      await store.putRelationship(TD, { n: 0 }, null);
      const results = await Promise.allSettled([
        store.putRelationship(TD, { n: 1 }, 1),
        store.putRelationship(TD, { n: 2 }, 1),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const failed = results.find((r) => r.status === 'rejected');
      expect((failed as PromiseRejectedResult).reason.code).toBe('ERR_STORE_CONFLICT');
      expect((await store.getRelationship(TD))?.version).toBe(2);
    });

    it('stores registration entries by id with the same versioning', async () => {
      const store = await fresh();
      expect(await store.putEntry('e-1', { spiffeId: 'spiffe://td/a' }, null)).toBe(1);
      expect(await store.putEntry('e-2', { spiffeId: 'spiffe://td/b' }, null)).toBe(1);
      expect(await store.putEntry('e-1', { spiffeId: 'spiffe://td/c' }, 1)).toBe(2);
      expect((await rejection(store.putEntry('e-2', {}, 5))).code).toBe('ERR_STORE_CONFLICT');
      const list = await store.listEntries();
      expect(list.sort((a, b) => a.id.localeCompare(b.id))).toEqual([
        { id: 'e-1', value: { spiffeId: 'spiffe://td/c' }, version: 2 },
        { id: 'e-2', value: { spiffeId: 'spiffe://td/b' }, version: 1 },
      ]);
      expect(await store.deleteEntry('e-1', 'any')).toBe(true);
      expect(await store.getEntry('e-1')).toBeUndefined();
      expect((await store.getEntry('e-2'))?.version).toBe(1);
      await expect(store.putEntry('e-3', [] as unknown as object, null)).rejects.toBeInstanceOf(
        TypeError,
      );
    });
  });
}

/** Named admins and console sessions, versioned, in two collections. */
export function describeAccess({ fresh }: ContractContext): void {
  describe('access: named admins and console sessions (issue 19)', () => {
    it('keeps admins and sessions apart, with compare-and-set, and lists each collection', async () => {
      const store = await fresh();
      expect(
        await store.putAccess('admin', 'alice', { role: 'admin', tokenHash: 'h1' }, null),
      ).toBe(1);
      expect(await store.putAccess('admin', 'bob', { role: 'viewer' }, null)).toBe(1);
      expect(await store.putAccess('session', 'alice', { admin: 'alice' }, null)).toBe(1);
      expect(await store.putAccess('admin', 'alice', { role: 'viewer' }, 1)).toBe(2);
      expect((await rejection(store.putAccess('admin', 'alice', {}, 1))).code).toBe(
        'ERR_STORE_CONFLICT',
      );
      expect((await rejection(store.putAccess('admin', 'bob', {}, null))).code).toBe(
        'ERR_STORE_CONFLICT',
      );
      const admins = await store.listAccess('admin');
      expect(admins.map((a) => a.id).sort()).toEqual(['alice', 'bob']);
      expect((await store.listAccess('session')).map((a) => a.id)).toEqual(['alice']);
      expect(await store.getAccess('admin', 'alice')).toEqual({
        value: { role: 'viewer' },
        version: 2,
      });
      expect(await store.deleteAccess('session', 'alice', 'any')).toBe(true);
      expect(await store.deleteAccess('session', 'alice', 'any')).toBe(false);
      expect((await store.getAccess('admin', 'alice'))?.version).toBe(2);
      expect(await store.getAccess('session', 'alice')).toBeUndefined();
      await expect(
        store.getAccess('relationship' as unknown as 'admin', 'x'),
      ).rejects.toBeInstanceOf(TypeError);
      await expect(store.getAccess('admin', 'a b')).rejects.toBeInstanceOf(TypeError);
    });
  });
}

/** One refresh status per partner (FED-43). */
export function describeRefreshStatus({ fresh }: ContractContext): void {
  describe('refresh status (FED-43)', () => {
    it('keeps one status per partner', async () => {
      const store = await fresh();
      await store.putRefreshStatus(TD, { nextDueAt: 1, lastResult: 'ok' });
      await store.putRefreshStatus(TD, { nextDueAt: 2, lastResult: 'network' });
      await store.putRefreshStatus('other.example', { nextDueAt: 3 });
      expect(await store.getRefreshStatus(TD)).toEqual({ nextDueAt: 2, lastResult: 'network' });
      const all = await store.listRefreshStatuses();
      expect(all.sort((a, b) => a.trustDomain.localeCompare(b.trustDomain))).toEqual([
        { trustDomain: 'other.example', status: { nextDueAt: 3 } },
        { trustDomain: TD, status: { nextDueAt: 2, lastResult: 'network' } },
      ]);
      expect(await store.deleteRefreshStatus(TD)).toBe(true);
      expect(await store.deleteRefreshStatus(TD)).toBe(false);
      expect(await store.getRefreshStatus(TD)).toBeUndefined();
    });
  });
}

/** Each replica's authorities, one record per replica (BUNDLE-31). */
export function describeReplicaAuthorities({ fresh }: ContractContext): void {
  describe('replica authorities (one bundle for all replicas, BUNDLE-31)', () => {
    it('keeps one record per replica, replaces it on write and deletes it once', async () => {
      const store = await fresh();
      await store.putReplicaAuthorities('replica-a', { x509: ['a1'], jwt: [] });
      await store.putReplicaAuthorities('replica-a', { x509: ['a1', 'a2'], jwt: [] });
      await store.putReplicaAuthorities('replica-b', { x509: ['b1'], jwt: [] });
      const all = await store.listReplicaAuthorities();
      expect(all.sort((a, b) => a.replicaId.localeCompare(b.replicaId))).toEqual([
        { replicaId: 'replica-a', value: { x509: ['a1', 'a2'], jwt: [] } },
        { replicaId: 'replica-b', value: { x509: ['b1'], jwt: [] } },
      ]);
      expect(await store.deleteReplicaAuthorities('replica-a')).toBe(true);
      expect(await store.deleteReplicaAuthorities('replica-a')).toBe(false);
      expect((await store.listReplicaAuthorities()).map((r) => r.replicaId)).toEqual(['replica-b']);
    });

    it('refuses a replica id that could escape its key', async () => {
      const store = await fresh();
      await expect(store.putReplicaAuthorities('a*b', {})).rejects.toBeInstanceOf(TypeError);
      await expect(store.putReplicaAuthorities('', {})).rejects.toBeInstanceOf(TypeError);
      expect(await store.listReplicaAuthorities()).toEqual([]);
    });
  });
}
