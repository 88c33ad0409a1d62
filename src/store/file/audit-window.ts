// The file store's audit records in memory: the newest `auditMax` records (older ones trimmed), in id
// order, for last/list queries without reading the segment files.
import { matchesAuditQuery } from '../records.js';
import type { AuditQuery, AuditRecord } from '../store.js';

/** Trimmed records are dropped from the in-memory array in batches (amortised O(1) per append). */
const MEMORY_SLACK = 4096;

export class AuditWindow {
  /** Newest records, oldest first: the visible ones are `records[head..]`. */
  private records: AuditRecord[] = [];
  private head = 0;

  constructor(private readonly auditMax: number) {}

  /** Adds the next record; with `autoTrim`, the oldest visible ones past `auditMax` are trimmed. */
  keep(record: AuditRecord, autoTrim = true): void {
    this.records.push(record);
    if (autoTrim && this.records.length - this.head > this.auditMax) {
      this.head = this.records.length - this.auditMax;
    }
    this.compactMemory();
  }

  /** Trims the `count` oldest visible records. */
  trim(count: number): void {
    this.head = Math.min(this.records.length, this.head + count);
    this.compactMemory();
  }

  last(): AuditRecord | undefined {
    return this.records.length > this.head ? this.records.at(-1) : undefined;
  }

  /** How many records are visible (not trimmed). */
  visibleCount(): number {
    return this.records.length - this.head;
  }

  /** The visible record `offset` places after the oldest visible one. */
  visibleAt(offset: number): AuditRecord | undefined {
    return offset < 0 ? undefined : this.records[this.head + offset];
  }

  list(query: AuditQuery): AuditRecord[] {
    const out: AuditRecord[] = [];
    const { records, head } = this;
    if (query.direction === 'backward') {
      const start =
        query.fromId === undefined ? records.length - 1 : this.indexFrom(query.fromId + 1) - 1;
      for (let i = start; i >= head && out.length < query.limit; i--) {
        const record = records[i] as AuditRecord;
        if (matchesAuditQuery(record, query)) out.push(record);
      }
    } else {
      const start = query.fromId === undefined ? head : this.indexFrom(query.fromId);
      for (let i = start; i < records.length && out.length < query.limit; i++) {
        const record = records[i] as AuditRecord;
        if (matchesAuditQuery(record, query)) out.push(record);
      }
    }
    return out;
  }

  private compactMemory(): void {
    if (this.head >= MEMORY_SLACK && this.head * 2 >= this.records.length) {
      this.records = this.records.slice(this.head);
      this.head = 0;
    }
  }

  /** Index of the first visible record with id >= `id` (binary search: ids ascend, gaps allowed). */
  private indexFrom(id: number): number {
    let low = this.head;
    let high = this.records.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((this.records[mid] as AuditRecord).id < id) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}
