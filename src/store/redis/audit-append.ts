// The Redis store's audit appends, group-committed per store instance: appends that arrive while a
// batch is on its way to Redis wait and go together in the next one, so appends of one replica never
// race each other. One script checks the stream's last id and adds the whole batch (and, with a trim
// builder, the `audit.trimmed` record and the exact trim); only appends of other replicas can make it
// lose, and then the batch is built again on the new last record.
import { StoreError } from '../../errors.js';
import { auditRecordFromDraft, auditTrimCount } from '../records.js';
import type { AuditDraft, AuditRecord, AuditTrimBuilder } from '../store.js';
import type { RedisContext } from './scan.js';
import { APPEND_AUDIT } from './scripts.js';

/** Lost races (to other replicas) before a batch gives up with ERR_STORE_CONFLICT. */
const AUDIT_APPEND_ATTEMPTS = 100;
/** Records in one script at most (fewer when auditMax is small: a trim must fit beside them). */
const MAX_BATCH = 256;

export type AuditBuild = (previous: AuditRecord | undefined, id: number) => AuditDraft;

export interface RedisAuditOptions {
  readonly auditMax: number;
  /** With one, trims are exact and recorded; without, the stream is capped silently (MAXLEN ~). */
  readonly auditTrimmed: AuditTrimBuilder | undefined;
}

/** Reads the last stream entry as a record (its id checked against the stream id). */
export type ReadLast = () => Promise<AuditRecord | undefined>;
/** Decodes one stream entry (its id checked against the stream id). */
export type DecodeEntry = (entry: [string, string[]]) => AuditRecord;

interface Waiting {
  readonly build: AuditBuild;
  readonly resolve: (record: AuditRecord) => void;
  readonly reject: (error: unknown) => void;
}

interface Trim {
  readonly record: AuditRecord;
  readonly keepFromId: number;
}

export class RedisAuditAppender {
  private readonly waiting: Waiting[] = [];
  private draining = false;
  private readonly maxBatch: number;

  constructor(
    private readonly context: RedisContext,
    private readonly options: RedisAuditOptions,
    private readonly readLast: ReadLast,
    private readonly decode: DecodeEntry,
  ) {
    this.maxBatch = Math.max(1, Math.min(MAX_BATCH, Math.floor(options.auditMax / 2)));
  }

  append(build: AuditBuild): Promise<AuditRecord> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ build, resolve, reject });
      if (!this.draining) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.waiting.length > 0) {
        await this.commit(this.waiting.splice(0, this.maxBatch));
      }
    } finally {
      this.draining = false;
    }
  }

  /** Settles every item of the batch: appended, its builder's own error, or the store's error. */
  private async commit(batch: Waiting[]): Promise<void> {
    let live = batch;
    try {
      for (let attempt = 0; attempt < AUDIT_APPEND_ATTEMPTS; attempt++) {
        const previous = await this.context.conn.call('read audit', this.readLast);
        const built = this.build(live, previous);
        live = built.map(({ item }) => item);
        if (built.length === 0) return;
        const records = built.map(({ record }) => record);
        if (await this.write(previous, records)) {
          built.forEach(({ item, record }) => item.resolve(record));
          return;
        }
        // Another replica won; back off a little so a crowd spreads out.
        await new Promise((resolve) =>
          setTimeout(resolve, Math.random() * 5 * Math.min(attempt + 1, 10)),
        );
      }
      throw new StoreError('ERR_STORE_CONFLICT', 'audit append lost the race too many times');
    } catch (error) {
      // Redis did not answer: those who queued meanwhile have waited about a timeout already, and
      // would wait another; they fail now as well.
      const unreachable = error instanceof StoreError && error.code === 'ERR_STORE_UNAVAILABLE';
      const failed = unreachable ? [...live, ...this.waiting.splice(0)] : live;
      for (const item of failed) item.reject(error);
    }
  }

  /**
   * Builds each record on the one before it. A builder's own error goes to its caller unchanged
   * and leaves that item out; the builders run outside `call`.
   */
  private build(
    batch: Waiting[],
    previous: AuditRecord | undefined,
  ): { item: Waiting; record: AuditRecord }[] {
    const out: { item: Waiting; record: AuditRecord }[] = [];
    let last = previous;
    for (const item of batch) {
      const id = (last?.id ?? 0) + 1;
      try {
        const record = auditRecordFromDraft(id, item.build(last, id));
        out.push({ item, record });
        last = record;
      } catch (error) {
        item.reject(error);
      }
    }
    return out;
  }

  /** One script: true when written, false when another appender moved the stream meanwhile. */
  private async write(previous: AuditRecord | undefined, records: AuditRecord[]): Promise<boolean> {
    const { conn, keys } = this.context;
    const trim = await conn.call('read audit', () => this.trimmedRecord(records));
    if (trim === 'raced') return false;
    const won = await conn.call('append audit', () =>
      conn.runBeforeDeadline(
        APPEND_AUDIT,
        [keys.audit],
        [
          String(previous?.id ?? 0),
          // '0': no MAXLEN (explicit trims only, with a trim builder).
          this.options.auditTrimmed === undefined ? this.options.auditMax : 0,
          records.length,
          ...records.flatMap((record) => [String(record.id), JSON.stringify(record)]),
          ...(trim === undefined
            ? []
            : [String(trim.record.id), JSON.stringify(trim.record), String(trim.keepFromId)]),
        ],
      ),
    );
    return won === 1;
  }

  /**
   * With a trim builder: the `audit.trimmed` record to append after `records` when the stream would
   * pass auditMax, and the first id to keep. Counted by XLEN and read by XRANGE, so a gap left by an
   * XDEL does not throw the range off; the append script's last-id check makes it atomic.
   */
  private async trimmedRecord(records: AuditRecord[]): Promise<Trim | 'raced' | undefined> {
    const { conn, keys } = this.context;
    const build = this.options.auditTrimmed;
    const newest = records.at(-1);
    if (build === undefined || newest === undefined) return undefined;
    const visible = await conn.client.xlen(keys.audit);
    const count = Math.min(visible, auditTrimCount(visible, records.length, this.options.auditMax));
    if (count === 0) return undefined;
    const entries = await conn.client.xrange(keys.audit, '-', '+', 'COUNT', count);
    const first = entries[0];
    const lastEntry = entries.at(-1);
    // Emptied meanwhile by another appender, whose append then also makes ours lose the race.
    if (first === undefined || lastEntry === undefined) return 'raced';
    const last = this.decode(lastEntry);
    const trim = {
      count: entries.length,
      fromId: Number.parseInt(first[0], 10),
      toId: last.id,
      lastTrimmedHash: last.hash,
    };
    return {
      record: auditRecordFromDraft(newest.id + 1, build(newest, newest.id + 1, trim)),
      keepFromId: last.id + 1,
    };
  }
}
