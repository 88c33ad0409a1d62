// Unit tests of the file store's state: journal changes replayed in order, snapshots of both formats.
import { describe, expect, it } from 'vitest';
import type { AuditRecord, StoredBundle } from '../store.js';
import { applyChange, emptyState, snapshotOf, stateFromSnapshot, type Snapshot } from './state.js';

function bundle(sequence: string): StoredBundle {
  return {
    trustDomain: 'partner.example',
    raw: `{"keys":[],"spiffe_sequence":${sequence}}`,
    sequence,
    digest: `d${sequence}`,
    fetchedAt: 1,
    sourceUrl: null,
    refreshHintSeconds: null,
  };
}

describe('file store state', () => {
  it('keeps each trust domain the newest bundle and a history cut to the limit (FED-30, FED-34)', () => {
    const state = emptyState();
    for (const sequence of ['1', '2', '3']) {
      applyChange(state, { op: 'bundle', record: bundle(sequence), limit: 2 });
    }
    const slot = state.bundles.get('partner.example');
    expect(slot?.current.sequence).toBe('3');
    expect(slot?.history.map((b) => b.sequence)).toEqual(['3', '2']);
    applyChange(state, { op: 'bundle-del', id: 'partner.example' });
    expect(state.bundles.size).toBe(0);
  });

  it('puts and deletes records of every keyed collection', () => {
    const state = emptyState();
    applyChange(state, { op: 'put', coll: 'entry', id: 'e1', value: { value: {}, version: 1 } });
    applyChange(state, { op: 'put', coll: 'replica', id: 'r1', value: { a: 1 } });
    applyChange(state, { op: 'del', coll: 'entry', id: 'e1' });
    expect(state.entry.size).toBe(0);
    expect(state.replica.get('r1')).toEqual({ a: 1 });
  });

  it('refuses an unknown journal change with ERR_STORE_CORRUPT', () => {
    const change = { op: 'rename' } as unknown as Parameters<typeof applyChange>[1];
    expect(() => applyChange(emptyState(), change)).toThrow(
      expect.objectContaining({ code: 'ERR_STORE_CORRUPT' }),
    );
  });

  it('round-trips a snapshot (format 2) through JSON', () => {
    const state = emptyState();
    applyChange(state, { op: 'bundle', record: bundle('7'), limit: 10 });
    applyChange(state, { op: 'put', coll: 'admin', id: 'alice', value: { value: {}, version: 1 } });
    const snapshot = JSON.parse(JSON.stringify(snapshotOf(state, 12))) as Snapshot;
    expect(snapshot).toMatchObject({ format: 2, seq: 12, local: null });
    expect(stateFromSnapshot(snapshot)).toEqual(state);
  });

  it('reads format 1 (audit in the snapshot) and snapshots written before admins and replicas', () => {
    const audit = [{ id: 1 } as AuditRecord];
    const old = { format: 1, seq: 3, bundles: [], relationship: [], entry: [], token: [] };
    const state = stateFromSnapshot({ ...old, refresh: [], local: null, audit });
    expect(state.legacyAudit).toEqual(audit);
    expect(state.admin.size + state.session.size + state.replica.size).toBe(0);
  });

  it('refuses a snapshot format it does not know with ERR_STORE_CORRUPT', () => {
    const future = { ...snapshotOf(emptyState(), 1), format: 3 };
    expect(() => stateFromSnapshot(future)).toThrow(
      expect.objectContaining({ code: 'ERR_STORE_CORRUPT' }),
    );
  });
});
