// The file store's audit log: append-only segment files under <dir>/audit, one checksummed record per
// line, never rewritten and never part of a snapshot. A segment is unlinked whole once every record in
// it has been trimmed, so compaction cost does not grow with audit history.
import { constants } from 'node:fs';
import { mkdir, open, readFile, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreError } from '../../errors.js';
import type { AuditQuery, AuditRecord, StoreLogger, StoredAuditPage } from '../store.js';
import { parseRecordLine, readStoredSegments, segmentName, segmentNames } from './audit-read.js';
import { AuditWindow } from './audit-window.js';
import {
  appendDurably,
  checksummedLine,
  corrupt,
  deepFreeze,
  DURABLE_APPEND_FLAGS,
  fsyncDir,
  unavailable,
} from './durable-file.js';

/** Folder of the segment files inside the store directory. */
export const AUDIT_DIR = 'audit';
/** Records per segment; smaller when `auditMax` is smaller, so a tiny cap keeps tiny segments. */
export const SEGMENT_RECORDS = 10_000;
const CREATE_FLAGS = DURABLE_APPEND_FLAGS | constants.O_TRUNC;

interface Segment {
  readonly firstId: number;
  readonly path: string;
  /** Id of the last record in it; `firstId - 1` while empty. */
  lastId: number;
  count: number;
  bytes: number;
}

export interface AuditAppendResult {
  /** How many of the records, from the first, are durable and visible now. */
  readonly written: number;
  /** Why the rest were not written. */
  readonly error?: StoreError;
}

export interface AuditSegments {
  /** Id of the newest record ever written (0 when none): the next record gets `lastId() + 1`. */
  lastId(): number;
  last(): AuditRecord | undefined;
  list(query: AuditQuery): AuditRecord[];
  /** How many records are visible (not trimmed). */
  visibleCount(): number;
  /** The visible record `offset` places after the oldest visible one. */
  visibleAt(offset: number): AuditRecord | undefined;
  /**
   * Appends records with ascending ids above `lastId()`: one durable write per segment
   * touched (a new segment is created and the folder fsynced first). Never throws. With
   * `explicitTrim`, `trimCount` oldest visible records are trimmed once all of them are written.
   */
  append(records: readonly AuditRecord[], trimCount?: number): Promise<AuditAppendResult>;
  /** Reads what the segment files on disk hold now (not the memory copy), for `audit verify`. */
  readStored(fromId: number, limit: number): Promise<StoredAuditPage>;
  /** Unlinks segments whose every record is older than the newest `auditMax` (oldest first). */
  dropTrimmedSegments(): Promise<void>;
  close(): Promise<void>;
}

export interface AuditSegmentsOptions {
  /** The store directory; segments live in its `audit` folder. */
  readonly dir: string;
  readonly auditMax: number;
  readonly logger?: StoreLogger | undefined;
  /**
   * Appends never trim on their own: the caller says how many records to trim (and records that
   * with an `audit.trimmed` event). Loading still keeps the newest `auditMax`.
   */
  readonly explicitTrim?: boolean;
}

/**
 * Reads one segment into `window`. A torn or unreadable tail of the last segment (a crash
 * mid-append) is truncated away with a warning; anywhere else it is `ERR_STORE_CORRUPT`.
 */
async function loadSegment(
  path: string,
  firstId: number,
  isLast: boolean,
  window: AuditWindow,
  logger: StoreLogger | undefined,
): Promise<Segment> {
  const text = await readFile(path);
  const segment: Segment = { firstId, path, lastId: firstId - 1, count: 0, bytes: 0 };
  let offset = 0;
  let badAt: number | undefined;
  while (offset < text.length) {
    const end = text.indexOf(0x0a, offset);
    const record = end < 0 ? undefined : parseRecordLine(text.toString('utf8', offset, end));
    if (record === undefined) {
      badAt ??= offset;
      if (end < 0) break;
    } else if (badAt !== undefined) {
      throw corrupt(`audit segment "${path}" has an unreadable record followed by readable ones`);
    } else {
      if (record.id <= segment.lastId) {
        throw corrupt(`audit segment "${path}": id ${record.id} follows ${segment.lastId}`);
      }
      if (record.id !== segment.lastId + 1) {
        logger?.warn?.('store: audit segment has an id gap (run audit verify)', {
          file: path,
          id: record.id,
          follows: segment.lastId,
        });
      }
      segment.lastId = record.id;
      segment.count += 1;
      window.keep(deepFreeze(record));
    }
    if (end < 0) break;
    offset = end + 1;
  }
  segment.bytes = badAt ?? text.length;
  if (badAt !== undefined) {
    if (!isLast) {
      throw corrupt(`audit segment "${path}" has an unreadable record and is not the last one`);
    }
    // A crash mid-append: the lost records were never acknowledged.
    const handle = await open(path, 'r+');
    try {
      await handle.truncate(badAt);
      await handle.sync();
    } finally {
      await handle.close();
    }
    logger?.warn?.('store: dropped a torn audit segment tail', {
      file: path,
      bytes: text.length - badAt,
    });
  }
  return segment;
}

/** Loads every segment of `folder` in id order; ids out of order or a gap between segments is corrupt. */
async function loadSegments(
  folder: string,
  window: AuditWindow,
  logger: StoreLogger | undefined,
): Promise<Segment[]> {
  const segments: Segment[] = [];
  const names = await segmentNames(folder);
  for (const [index, name] of names.entries()) {
    const path = join(folder, name);
    const firstId = Number(name.slice(0, 20));
    const previous = segments.at(-1);
    if (!Number.isSafeInteger(firstId) || firstId < 1) {
      throw corrupt(`audit segment "${path}" has an invalid name`);
    }
    if (previous !== undefined && previous.count === 0) {
      throw corrupt(`audit segment "${previous.path}" is empty but not the last one`);
    }
    if (previous !== undefined && firstId !== previous.lastId + 1) {
      throw corrupt(
        `audit segment "${path}" starts at id ${firstId} but the one before ends at ${previous.lastId}`,
      );
    }
    const isLast = index === names.length - 1;
    segments.push(await loadSegment(path, firstId, isLast, window, logger));
  }
  return segments;
}

/**
 * Loads the segments in id order. A torn or unreadable tail of the last segment (a crash mid-append)
 * is truncated away with a warning; an unreadable record followed by readable ones, ids out of order,
 * or a gap between segments is `ERR_STORE_CORRUPT`. A gap inside one segment can only be an edit
 * (checksums pass): it is loaded with a warning and left for `audit verify` to name, as with Redis.
 */
export async function openAuditSegments(options: AuditSegmentsOptions): Promise<AuditSegments> {
  const folder = join(options.dir, AUDIT_DIR);
  await mkdir(folder, { recursive: true, mode: 0o700 });
  await fsyncDir(options.dir);
  const window = new AuditWindow(options.auditMax);
  const segments = await loadSegments(folder, window, options.logger);
  return new SegmentFiles(folder, segments, window, options);
}

/** The loaded segments, appended to at the end and dropped from the front. */
class SegmentFiles implements AuditSegments {
  private lastWrittenId: number;
  private readonly segmentRecords: number;
  /** The segment appends go to; opened lazily so that a store that never audits opens no file. */
  private current: { segment: Segment; handle: FileHandle } | undefined;
  /** Set when a failed append could not be undone: refuse further appends rather than risk the file. */
  private broken: unknown;

  constructor(
    private readonly folder: string,
    private readonly segments: Segment[],
    private readonly window: AuditWindow,
    private readonly options: AuditSegmentsOptions,
  ) {
    this.lastWrittenId = segments.at(-1)?.lastId ?? 0;
    this.segmentRecords = Math.max(1, Math.min(SEGMENT_RECORDS, options.auditMax));
  }

  lastId(): number {
    return this.lastWrittenId;
  }

  last(): AuditRecord | undefined {
    return this.window.last();
  }

  list(query: AuditQuery): AuditRecord[] {
    return this.window.list(query);
  }

  visibleCount(): number {
    return this.window.visibleCount();
  }

  visibleAt(offset: number): AuditRecord | undefined {
    return this.window.visibleAt(offset);
  }

  readStored(fromId: number, limit: number): Promise<StoredAuditPage> {
    return readStoredSegments(this.folder, fromId, limit);
  }

  async append(batch: readonly AuditRecord[], trimCount = 0): Promise<AuditAppendResult> {
    for (const [i, record] of batch.entries()) {
      const before = i === 0 ? this.lastWrittenId : (batch[i - 1] as AuditRecord).id;
      if (record.id <= before) {
        return { written: 0, error: corrupt(`audit id ${record.id} does not follow ${before}`) };
      }
    }
    let written = 0;
    while (written < batch.length) {
      if (this.broken !== undefined) {
        return { written, error: unavailable('audit log is unusable', this.broken) };
      }
      try {
        const target = await this.segmentFor(batch[written] as AuditRecord);
        const room = this.segmentRecords - target.segment.count;
        const chunk = batch.slice(written, written + room);
        await this.writeChunk(target, chunk);
        written += chunk.length;
      } catch (error) {
        return {
          written,
          error:
            error instanceof StoreError ? error : unavailable('cannot write the audit log', error),
        };
      }
    }
    if (trimCount > 0) this.window.trim(trimCount);
    return { written };
  }

  async dropTrimmedSegments(): Promise<void> {
    const oldestKept = this.window.visibleAt(0)?.id;
    if (oldestKept === undefined) return;
    const segments = this.segments;
    // Oldest first, with the folder fsynced after each, so no crash leaves a gap between segments.
    while (segments.length > 1 && (segments[0] as Segment).lastId < oldestKept) {
      const segment = segments[0] as Segment;
      if (segment === this.current?.segment) return;
      await unlink(segment.path);
      segments.shift();
      await fsyncDir(this.folder);
    }
  }

  async close(): Promise<void> {
    const open = this.current;
    this.current = undefined;
    await open?.handle.close();
  }

  /** The segment `next` goes to: the open one while it has room, else the last one, else a new one. */
  private async segmentFor(next: AuditRecord): Promise<{ segment: Segment; handle: FileHandle }> {
    if (this.current === undefined) {
      const tail = this.segments.at(-1);
      if (tail !== undefined && tail.count < this.segmentRecords) {
        this.current = {
          segment: tail,
          handle: await open(tail.path, DURABLE_APPEND_FLAGS, 0o600),
        };
      }
    }
    if (this.current === undefined || this.current.segment.count >= this.segmentRecords) {
      // Named so that segments stay contiguous; only the very first one starts anywhere.
      return this.startSegment(this.segments.length > 0 ? this.lastWrittenId + 1 : next.id);
    }
    return this.current;
  }

  private async startSegment(firstId: number): Promise<{ segment: Segment; handle: FileHandle }> {
    const path = join(this.folder, segmentName(firstId));
    // Truncating: a file of that name can only be left by a failed start in this process (never
    // acknowledged).
    const handle = await open(path, CREATE_FLAGS, 0o600);
    try {
      await fsyncDir(this.folder);
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
    await this.current?.handle.close().catch(() => undefined);
    const segment: Segment = { firstId, path, lastId: firstId - 1, count: 0, bytes: 0 };
    this.segments.push(segment);
    this.current = { segment, handle };
    return this.current;
  }

  private async writeChunk(
    target: { segment: Segment; handle: FileHandle },
    chunk: readonly AuditRecord[],
  ): Promise<void> {
    const autoTrim = this.options.explicitTrim !== true;
    const data = Buffer.from(chunk.map(checksummedLine).join(''), 'utf8');
    try {
      const file = { goodBytes: target.segment.bytes, what: 'an audit segment' };
      await appendDurably(target.handle, data, file, (error) => (this.broken = error));
    } catch (cause) {
      throw unavailable('cannot write the audit log', cause);
    }
    const segment = target.segment;
    segment.bytes += data.length;
    segment.count += chunk.length;
    segment.lastId = (chunk.at(-1) as AuditRecord).id;
    this.lastWrittenId = segment.lastId;
    for (const record of chunk) this.window.keep(deepFreeze(record), autoTrim);
  }
}
