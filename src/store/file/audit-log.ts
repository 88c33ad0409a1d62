// The file store's AuditLog port over the segments: appends are group-committed (those that arrive
// while a batch is being made durable share the next write), trims past the cap become an
// `audit.trimmed` record in the same write, and on-disk reads queue behind the appends.
import {
  auditRecordFromDraft,
  auditTrimCount,
  checkAuditQuery,
  checkStoredAuditRange,
} from '../records.js';
import type {
  AuditDraft,
  AuditLog,
  AuditQuery,
  AuditRecord,
  AuditTrimBuilder,
  StoredAuditPage,
  StoreLogger,
} from '../store.js';
import type { AuditSegments } from './audit-segments.js';
import { unavailable } from './durable-file.js';

type AuditBuild = (previous: AuditRecord | undefined, id: number) => AuditDraft;

interface PendingAppend {
  readonly build: AuditBuild;
  readonly resolve: (record: AuditRecord) => void;
  readonly reject: (error: Error) => void;
}

export interface FileAuditLogOptions {
  readonly dir: string;
  readonly auditMax: number;
  /** Makes every trim past `auditMax` an `audit.trimmed` record; without it trims are silent. */
  readonly auditTrimmed: AuditTrimBuilder | undefined;
  readonly logger: StoreLogger | undefined;
  /** Throws `ERR_STORE_UNAVAILABLE` once the store is closed. */
  readonly checkOpen: () => void;
}

export class FileAuditLog implements AuditLog {
  private readonly pending: PendingAppend[] = [];
  /**
   * Audit appends have their own queue: they touch only the segments, so they need not wait for a
   * journal write (or a snapshot) and no crash can leave the two out of step.
   */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly segments: AuditSegments,
    private readonly options: FileAuditLogOptions,
  ) {}

  appendAudit(build: AuditBuild): Promise<AuditRecord> {
    return this.whenOpen<AuditRecord>((resolve, reject) => {
      this.pending.push({ build, resolve, reject });
      if (this.pending.length === 1) this.serial(() => this.lingerThenFlush());
    });
  }

  async lastAudit(): Promise<AuditRecord | undefined> {
    this.options.checkOpen();
    return this.segments.last();
  }

  async listAudit(query: AuditQuery): Promise<AuditRecord[]> {
    checkAuditQuery(query);
    this.options.checkOpen();
    return this.segments.list(query);
  }

  async readStoredAudit(fromId: number, limit: number): Promise<StoredAuditPage> {
    checkStoredAuditRange(fromId, limit);
    // Queued with the appends: never reads a segment while this process writes to it.
    return this.whenOpen<StoredAuditPage>((resolve, reject) => {
      this.serial(() => this.segments.readStored(fromId, limit).then(resolve, reject));
    });
  }

  /** Resolves once every queued append and read has finished. */
  async idle(): Promise<void> {
    await this.queue;
  }

  /** A promise that `start` settles, or that rejects at once when the store is closed. */
  private whenOpen<T>(
    start: (resolve: (value: T) => void, reject: (error: Error) => void) => void,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      try {
        this.options.checkOpen();
      } catch (error) {
        reject(error as Error);
        return;
      }
      start(resolve, reject);
    });
  }

  private serial(task: () => Promise<void>): void {
    this.queue = this.queue.then(task).catch(() => undefined);
  }

  /**
   * Group commit: once the previous batch is durable, the next one waits for the rest of the current
   * event-loop turn (setImmediate, not a timer) so that appends made by the callbacks of that turn
   * share its write and sync. Under load this makes batches about half as many again as large; an
   * idle store adds one loop turn.
   */
  private async lingerThenFlush(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    await this.flush();
  }

  /** Chains the waiting appends in order and writes them with one durable write (per segment). */
  private async flush(): Promise<void> {
    const batch = this.pending.splice(0, this.pending.length);
    const built: { record: AuditRecord; item: PendingAppend }[] = [];
    let previous = this.segments.last();
    let id = this.segments.lastId();
    for (const item of batch) {
      try {
        const record = auditRecordFromDraft(id + 1, item.build(previous, id + 1));
        id += 1;
        previous = record;
        built.push({ record, item });
      } catch (error) {
        item.reject(error as Error);
      }
    }
    if (built.length === 0) return;
    const records = built.map(({ record }) => record);
    const trimCount = this.addTrimmedRecord(records, previous as AuditRecord, id);
    const { written, error } = await this.segments.append(records, trimCount);
    built.forEach(({ record, item }, i) => {
      if (i < written) item.resolve(record);
      else item.reject(error ?? unavailable('cannot write the audit log'));
    });
    try {
      await this.segments.dropTrimmedSegments();
    } catch (dropError) {
      this.options.logger?.warn?.('store: cannot remove a trimmed audit segment', {
        dir: this.options.dir,
        error: String(dropError),
      });
    }
  }

  /**
   * With a trim builder: when the batch would take the log past auditMax, appends the
   * `audit.trimmed` record to `records` (same durable write) and returns how many to trim.
   */
  private addTrimmedRecord(records: AuditRecord[], previous: AuditRecord, id: number): number {
    const build = this.options.auditTrimmed;
    const segments = this.segments;
    const count =
      build === undefined
        ? 0
        : auditTrimCount(segments.visibleCount(), records.length, this.options.auditMax);
    // The trim may reach into the batch itself (a batch larger than the cap).
    const visible = segments.visibleCount();
    const at = (offset: number): AuditRecord | undefined =>
      offset < visible ? segments.visibleAt(offset) : records[offset - visible];
    const first = at(0);
    const last = at(count - 1);
    if (build === undefined || count === 0 || first === undefined || last === undefined) return 0;
    const trim = { count, fromId: first.id, toId: last.id, lastTrimmedHash: last.hash };
    records.push(auditRecordFromDraft(id + 1, build(previous, id + 1, trim)));
    return count;
  }
}
