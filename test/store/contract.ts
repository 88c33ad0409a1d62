// The store contract: one suite every backend must pass (file store, Redis standalone, Sentinel, Cluster).
// Fixtures open stores on real storage; a scope names the data, so opening a scope twice sees the same data.
import { createHash, randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditRecord, AuditTrimBuilder, BundleInput, Store } from '../../src/store/index.js';
import { CHANNELS, digestOf } from '../../src/store/index.js';

/** Audit options a fixture passes to the store it opens (the audit contract's small caps). */
export interface AuditFixtureOptions {
  readonly auditMaxLength?: number;
  readonly auditTrimmed?: AuditTrimBuilder;
}

export interface StoreFixture {
  /** Opens a store on the data of `scope`; a second open of the same scope sees the same data. */
  open(scope: string, audit?: AuditFixtureOptions): Promise<Store>;
}

export const TD = 'partner.example';

export function bundleInput(sequence: string | null, keys = 'k1', td = TD): BundleInput {
  const keySet = JSON.stringify([{ kty: 'EC', use: 'x509-svid', note: keys }]);
  // The sequence goes in as written: JSON numbers above 2^53 must not be rounded here.
  const raw =
    sequence === null ? `{"keys":${keySet}}` : `{"keys":${keySet},"spiffe_sequence":${sequence}}`;
  return {
    trustDomain: td,
    raw,
    sequence,
    fetchedAt: 1_700_000_000_000,
    sourceUrl: `https://${td}/bundle`,
    refreshHintSeconds: 300,
  };
}

/** Resolves with the error a promise rejects with; fails the test if it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<{ code?: unknown }> {
  try {
    await promise;
  } catch (error) {
    return error as { code?: unknown };
  }
  throw new Error('expected a rejection');
}

/** The audit room's chain, reduced: hash = sha256(previous hash + the event). */
export function chained(
  type: string,
  extra: { actor?: string; trustDomain?: string | null; time?: number } = {},
) {
  return (previous: AuditRecord | undefined, id: number) => {
    const previousHash = previous?.hash ?? null;
    const body = {
      time: extra.time ?? 1_000 + id,
      type,
      actor: extra.actor ?? 'admin',
      trustDomain: extra.trustDomain ?? null,
      data: { n: id },
    };
    const hash = createHash('sha256')
      .update(`${previousHash ?? ''}|${id}|${JSON.stringify(body)}`)
      .digest('hex');
    return { ...body, previousHash, hash };
  };
}

export function checkChain(records: readonly AuditRecord[]): void {
  records.forEach((record, i) => {
    const previous = records[i - 1];
    if (previous !== undefined) {
      expect(record.id).toBe(previous.id + 1);
      expect(record.previousHash).toBe(previous.hash);
    }
    const { id, previousHash, hash, ...body } = record;
    expect(hash).toBe(
      createHash('sha256')
        .update(`${previousHash ?? ''}|${id}|${JSON.stringify(body)}`)
        .digest('hex'),
    );
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

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

    describe('bundles (FED-30..35)', () => {
      it('stores a bundle with its digest and metadata, per trust domain', async () => {
        const store = await fresh();
        expect(await store.getBundle(TD)).toBeUndefined();
        const input = bundleInput('1');
        const result = await store.putBundle(input);
        expect(result.outcome).toBe('created');
        expect(result.previous).toBeUndefined();
        const stored = await store.getBundle(TD);
        expect(stored).toEqual({ ...input, digest: digestOf(input.raw), highestSequence: '1' });
        await store.putBundle(bundleInput(null, 'other', 'other.example'));
        const all = await store.listBundles();
        expect(all.map((b) => b.trustDomain).sort()).toEqual(['other.example', TD]);
        expect((await store.getBundle('other.example'))?.sequence).toBeNull();
      });

      it('FED-32: refuses a lower sequence as stale and keeps the stored bundle', async () => {
        const store = await fresh();
        await store.putBundle(bundleInput('6'));
        const error = await rejection(store.putBundle(bundleInput('5', 'older')));
        expect(error.code).toBe('ERR_STORE_STALE_SEQUENCE');
        expect((await store.getBundle(TD))?.sequence).toBe('6');
        expect(await store.bundleHistory(TD)).toHaveLength(1);
      });

      it('FED-32: compares 64-bit sequences losslessly', async () => {
        const store = await fresh();
        await store.putBundle(bundleInput('9007199254740993'));
        expect((await rejection(store.putBundle(bundleInput('9007199254740992')))).code).toBe(
          'ERR_STORE_STALE_SEQUENCE',
        );
        await store.putBundle(bundleInput('18446744073709551615'));
        expect((await rejection(store.putBundle(bundleInput('18446744073709551614')))).code).toBe(
          'ERR_STORE_STALE_SEQUENCE',
        );
        expect((await rejection(store.putBundle(bundleInput('999')))).code).toBe(
          'ERR_STORE_STALE_SEQUENCE',
        );
        expect((await store.getBundle(TD))?.sequence).toBe('18446744073709551615');
      });

      it('FED-32: an operator can force a lower sequence', async () => {
        const store = await fresh();
        await store.putBundle(bundleInput('6'));
        const result = await store.putBundle(bundleInput('2', 'reset'), { force: true });
        expect(result.outcome).toBe('replaced');
        expect(result.previous?.sequence).toBe('6');
        expect((await store.getBundle(TD))?.sequence).toBe('2');
      });

      it('FED-32: equal sequence and equal bytes is a no-op', async () => {
        const store = await fresh();
        await store.putBundle(bundleInput('3'));
        const again = await store.putBundle({ ...bundleInput('3'), fetchedAt: 1_800_000_000_000 });
        expect(again.outcome).toBe('unchanged');
        expect(again.current.fetchedAt).toBe(1_700_000_000_000);
        expect(await store.bundleHistory(TD)).toHaveLength(1);
      });

      it('FED-32: equal sequence with other bytes is applied and flagged', async () => {
        const store = await fresh();
        await store.putBundle(bundleInput('3'));
        const result = await store.putBundle(bundleInput('3', 'changed'));
        expect(result.outcome).toBe('replaced');
        expect(result.sameSequenceChanged).toBe(true);
        expect((await store.getBundle(TD))?.raw).toContain('changed');
      });

      it('FED-32: without sequences the most recent bundle is current', async () => {
        const store = await fresh();
        await store.putBundle(bundleInput('7'));
        expect((await store.putBundle(bundleInput(null, 'a'))).outcome).toBe('replaced');
        expect((await store.putBundle(bundleInput(null, 'b'))).sameSequenceChanged).toBe(false);
        expect((await store.putBundle(bundleInput('7', 'c'))).outcome).toBe('replaced');
        expect((await store.getBundle(TD))?.raw).toContain('"c"');
      });

      // Issue 15, finding 13: the stricter FED-32 reading keeps the highest sequence ever accepted.
      it('FED-32 (stricter): a sequence-less bundle does not open a rollback', async () => {
        const store = await fresh();
        await store.putBundle(bundleInput('30'));
        const sequenceLess = await store.putBundle(bundleInput(null, 'no-sequence'));
        expect(sequenceLess.outcome).toBe('replaced');
        expect(sequenceLess.current.highestSequence).toBe('30');
        expect((await rejection(store.putBundle(bundleInput('1', 'rollback')))).code).toBe(
          'ERR_STORE_STALE_SEQUENCE',
        );
        expect((await store.getBundle(TD))?.raw).toContain('no-sequence');
        expect((await store.putBundle(bundleInput('31', 'next'))).current.highestSequence).toBe(
          '31',
        );
      });

      it('FED-32 (stricter): the highest sequence survives a restart', async () => {
        const first = await fresh();
        await first.putBundle(bundleInput('30'));
        await first.putBundle(bundleInput(null, 'no-sequence'));
        await first.close();
        opened.splice(opened.indexOf(first), 1);
        const second = await open();
        expect((await second.getBundle(TD))?.highestSequence).toBe('30');
        expect((await rejection(second.putBundle(bundleInput('29', 'rollback')))).code).toBe(
          'ERR_STORE_STALE_SEQUENCE',
        );
      });

      it('FED-32 (stricter): an operator override restarts the highest sequence', async () => {
        const store = await fresh();
        await store.putBundle(bundleInput('30'));
        await store.putBundle(bundleInput(null, 'no-sequence'));
        const forced = await store.putBundle(bundleInput('1', 'reset'), { force: true });
        expect(forced.current.highestSequence).toBe('1');
        expect((await store.putBundle(bundleInput('2', 'after-reset'))).outcome).toBe('replaced');
      });

      it('FED-35: an empty bundle replaces the stored one', async () => {
        const store = await fresh();
        await store.putBundle(bundleInput('1'));
        await store.putBundle({ ...bundleInput('2'), raw: '{"keys":[],"spiffe_sequence":2}' });
        expect((await store.getBundle(TD))?.raw).toBe('{"keys":[],"spiffe_sequence":2}');
      });

      it('keeps the last 10 versions, newest first, the first being current', async () => {
        const store = await fresh();
        for (let i = 1; i <= 13; i++) await store.putBundle(bundleInput(String(i)));
        const history = await store.bundleHistory(TD);
        expect(history.map((b) => b.sequence)).toEqual([
          '13',
          '12',
          '11',
          '10',
          '9',
          '8',
          '7',
          '6',
          '5',
          '4',
        ]);
        expect(history[0]).toEqual(await store.getBundle(TD));
      });

      it('deletes a bundle with its history', async () => {
        const store = await fresh();
        await store.putBundle(bundleInput('1'));
        await store.putBundle(bundleInput('1', 'x', 'other.example'));
        expect(await store.deleteBundle(TD)).toBe(true);
        expect(await store.deleteBundle(TD)).toBe(false);
        expect(await store.getBundle(TD)).toBeUndefined();
        expect(await store.bundleHistory(TD)).toEqual([]);
        expect((await store.listBundles()).map((b) => b.trustDomain)).toEqual(['other.example']);
      });

      it('refuses malformed input as caller mistakes', async () => {
        const store = await fresh();
        await expect(store.putBundle(bundleInput('01'))).rejects.toBeInstanceOf(TypeError);
        await expect(store.putBundle(bundleInput('18446744073709551616'))).rejects.toBeInstanceOf(
          TypeError,
        );
        await expect(store.putBundle(bundleInput('1', 'k', 'a*b'))).rejects.toBeInstanceOf(
          TypeError,
        );
        await expect(store.getBundle('x}{')).rejects.toBeInstanceOf(TypeError);
      });
    });

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

    describe('local bundle (never goes backwards)', () => {
      it('writes only higher sequences; the same bytes again is a no-op', async () => {
        const store = await fresh();
        expect(await store.getLocalBundle()).toBeUndefined();
        const v1 = { raw: '{"keys":[1]}', sequence: '1', publishedAt: 10 };
        expect(await store.putLocalBundle(v1)).toBe('written');
        expect(await store.putLocalBundle(v1)).toBe('unchanged');
        expect((await rejection(store.putLocalBundle({ ...v1, raw: '{"keys":[9]}' }))).code).toBe(
          'ERR_STORE_STALE_SEQUENCE',
        );
        expect(
          await store.putLocalBundle({ raw: '{"keys":[2]}', sequence: '2', publishedAt: 20 }),
        ).toBe('written');
        expect((await rejection(store.putLocalBundle(v1))).code).toBe('ERR_STORE_STALE_SEQUENCE');
        expect(await store.getLocalBundle()).toEqual({
          raw: '{"keys":[2]}',
          sequence: '2',
          digest: digestOf('{"keys":[2]}'),
          publishedAt: 20,
        });
      });
    });

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

      it('gives a token to exactly one of many concurrent consumers', async () => {
        const store = await fresh();
        await store.putToken({ hash: 'h4', expiresAt: 5_000, data: {} });
        const results = await Promise.all(
          Array.from({ length: 20 }, () => store.consumeToken('h4', 1_000)),
        );
        expect(results.filter((r) => r !== undefined)).toHaveLength(1);
      });
    });

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
        expect((await store.listReplicaAuthorities()).map((r) => r.replicaId)).toEqual([
          'replica-b',
        ]);
      });

      it('refuses a replica id that could escape its key', async () => {
        const store = await fresh();
        await expect(store.putReplicaAuthorities('a*b', {})).rejects.toBeInstanceOf(TypeError);
        await expect(store.putReplicaAuthorities('', {})).rejects.toBeInstanceOf(TypeError);
        expect(await store.listReplicaAuthorities()).toEqual([]);
      });
    });

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
  });
}
