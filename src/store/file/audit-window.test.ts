// Unit tests of the file store's in-memory audit window: the cap, explicit trims, queries over id gaps.
import { describe, expect, it } from 'vitest';
import type { AuditRecord } from '../store.js';
import { AuditWindow } from './audit-window.js';

function record(id: number, type = 'x.y'): AuditRecord {
  return {
    id,
    time: 1000 + id,
    type,
    actor: 'tester',
    trustDomain: null,
    data: {},
    previousHash: id === 1 ? null : `h${id - 1}`,
    hash: `h${id}`,
  };
}

const ids = (records: readonly AuditRecord[]): number[] => records.map((r) => r.id);

describe('AuditWindow', () => {
  it('keeps the newest auditMax records when trimming on its own', () => {
    const window = new AuditWindow(3);
    for (let id = 1; id <= 5; id++) window.keep(record(id));
    expect(window.visibleCount()).toBe(3);
    expect(window.visibleAt(0)?.id).toBe(3);
    expect(window.visibleAt(-1)).toBeUndefined();
    expect(window.last()?.id).toBe(5);
    expect(ids(window.list({ limit: 10 }))).toEqual([3, 4, 5]);
  });

  it('with explicit trims keeps past the cap until told how many to trim', () => {
    const window = new AuditWindow(3);
    for (let id = 1; id <= 5; id++) window.keep(record(id), false);
    expect(window.visibleCount()).toBe(5);
    window.trim(2);
    expect(ids(window.list({ limit: 10 }))).toEqual([3, 4, 5]);
    window.trim(10);
    expect(window.visibleCount()).toBe(0);
    expect(window.last()).toBeUndefined();
  });

  it('queries from an id in both directions across id gaps, with filters and a limit', () => {
    const window = new AuditWindow(100);
    for (const id of [1, 2, 4, 7, 8]) window.keep(record(id, id % 2 === 0 ? 'even' : 'odd'));
    expect(ids(window.list({ limit: 10, fromId: 3 }))).toEqual([4, 7, 8]);
    expect(ids(window.list({ limit: 10, fromId: 6, direction: 'backward' }))).toEqual([4, 2, 1]);
    expect(ids(window.list({ limit: 10, direction: 'backward', type: 'even' }))).toEqual([8, 4, 2]);
    expect(ids(window.list({ limit: 2, fromId: 2 }))).toEqual([2, 4]);
    expect(ids(window.list({ limit: 10, fromId: 9 }))).toEqual([]);
  });

  it('stays correct when trimmed records are dropped from memory in batches', () => {
    const window = new AuditWindow(10);
    for (let id = 1; id <= 20_000; id++) window.keep(record(id));
    expect(window.visibleCount()).toBe(10);
    expect(window.visibleAt(0)?.id).toBe(19_991);
    expect(ids(window.list({ limit: 3, fromId: 19_995 }))).toEqual([19_995, 19_996, 19_997]);
    expect(ids(window.list({ limit: 3, fromId: 5, direction: 'backward' }))).toEqual([]);
  });
});
