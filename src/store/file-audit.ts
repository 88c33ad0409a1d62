// The file store's audit log: append-only segment files under <dir>/audit, one checksummed record per
// line, never rewritten and never part of a snapshot. A segment is unlinked whole once every record in
// it has been trimmed, so compaction cost does not grow with audit history.
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readFile, readdir, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreError } from '../errors.js';
import { matchesAuditQuery } from './records.js';
import type { AuditQuery, AuditRecord, StoreLogger, StoredAuditPage } from './store.js';

/** Folder of the segment files inside the store directory. */
export const AUDIT_DIR = 'audit';
/** Records per segment; smaller when `auditMax` is smaller, so a tiny cap keeps tiny segments. */
export const SEGMENT_RECORDS = 10_000;
const SEGMENT_NAME = /^(\d{20})\.log$/;
/**
 * Segments (and the store's journal) are written with O_DSYNC where the platform has it: each append
 * is one write that returns once the data is durable, what write + fdatasync gives, in one
 * thread-pool hop instead of two (one wake-up of the event loop less per commit). Elsewhere appends
 * are followed by datasync.
 */
const DSYNC: number | undefined = constants.O_DSYNC;
/**
 * Always O_APPEND: after a failed write is cut off (truncate to the last good byte), the next write
 * must land at the new end, not at the file offset the failed write left behind (which would leave a
 * hole of zeros in the segment).
 */
export const DURABLE_APPEND_FLAGS =
  constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | (DSYNC ?? 0);
/** True where DURABLE_APPEND_FLAGS include O_DSYNC; elsewhere each write needs a datasync. */
export const DURABLE_WRITES = DSYNC !== undefined;
const CREATE_FLAGS = DURABLE_APPEND_FLAGS | constants.O_TRUNC;
/** Trimmed records are dropped from the in-memory array in batches (amortised O(1) per append). */
const MEMORY_SLACK = 4096;

/** The file store's per-line checksum (journal and audit segments): SHA-256 hex, first 16 chars. */
export function checksum(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex').slice(0, 16);
}

/** One journal or segment line: `<checksum> <json>\n`. */
export function checksummedLine(value: unknown): string {
  const body = JSON.stringify(value);
  return `${checksum(body)} ${body}\n`;
}

/** The JSON value of a line written by `checksummedLine`, or undefined when torn or damaged. */
export function readChecksummedLine(line: string): unknown {
  if (line.charCodeAt(16) !== 0x20) return undefined;
  const body = line.slice(17);
  if (line.slice(0, 16) !== checksum(body)) return undefined;
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}

export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

export function unavailable(message: string, cause?: unknown): StoreError {
  return new StoreError('ERR_STORE_UNAVAILABLE', message, {
    ...(cause === undefined ? {} : { cause }),
  });
}

export function corrupt(message: string, cause?: unknown): StoreError {
  return new StoreError('ERR_STORE_CORRUPT', message, {
    ...(cause === undefined ? {} : { cause }),
  });
}

export function errnoOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | null)?.code;
}

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** `00000000000000000001.log`: named by the first id the segment holds, so names sort by id. */
export function segmentName(firstId: number): string {
  return `${String(firstId).padStart(20, '0')}.log`;
}

function parseRecordLine(line: string): AuditRecord | undefined {
  const record = readChecksummedLine(line) as AuditRecord | null | undefined;
  if (record === null || typeof record !== 'object') return undefined;
  return Number.isSafeInteger(record.id) && record.id >= 1 ? record : undefined;
}

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
 * Loads the segments in id order. A torn or unreadable tail of the last segment (a crash mid-append)
 * is truncated away with a warning; an unreadable record followed by readable ones, ids out of order,
 * or a gap between segments is `ERR_STORE_CORRUPT`. A gap inside one segment can only be an edit
 * (checksums pass): it is loaded with a warning and left for `audit verify` to name, as with Redis.
 */
export async function openAuditSegments(options: AuditSegmentsOptions): Promise<AuditSegments> {
  const { auditMax, logger } = options;
  const folder = join(options.dir, AUDIT_DIR);
  const segmentRecords = Math.max(1, Math.min(SEGMENT_RECORDS, auditMax));
  await mkdir(folder, { recursive: true, mode: 0o700 });
  await fsyncDir(options.dir);

  const segments: Segment[] = [];
  const names = (await readdir(folder)).filter((name) => SEGMENT_NAME.test(name)).sort();
  /** Newest records, oldest first: the visible ones are `records[head..]`. */
  let records: AuditRecord[] = [];
  let head = 0;
  let lastId = 0;

  const compactMemory = (): void => {
    if (head >= MEMORY_SLACK && head * 2 >= records.length) {
      records = records.slice(head);
      head = 0;
    }
  };
  const keep = (record: AuditRecord, autoTrim = true): void => {
    records.push(record);
    if (autoTrim && records.length - head > auditMax) head = records.length - auditMax;
    compactMemory();
  };

  for (const [index, name] of names.entries()) {
    const path = join(folder, name);
    const firstId = Number(name.slice(0, 20));
    const isLast = index === names.length - 1;
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
        keep(deepFreeze(record));
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
    segments.push(segment);
    lastId = segment.lastId;
  }

  /** The segment appends go to; opened lazily so that a store that never audits opens no file. */
  let current: { segment: Segment; handle: FileHandle } | undefined;
  /** Set when a failed append could not be undone: refuse further appends rather than risk the file. */
  let broken: unknown;

  async function startSegment(firstId: number): Promise<void> {
    const path = join(folder, segmentName(firstId));
    // Truncating: a file of that name can only be left by a failed start in this process (never
    // acknowledged).
    const handle = await open(path, CREATE_FLAGS, 0o600);
    try {
      await fsyncDir(folder);
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
    await current?.handle.close().catch(() => undefined);
    const segment: Segment = { firstId, path, lastId: firstId - 1, count: 0, bytes: 0 };
    segments.push(segment);
    current = { segment, handle };
  }

  async function writeChunk(chunk: readonly AuditRecord[]): Promise<void> {
    const autoTrim = options.explicitTrim !== true;
    const target = current;
    if (target === undefined) throw new Error('no current audit segment');
    const data = Buffer.from(chunk.map(checksummedLine).join(''), 'utf8');
    try {
      const { bytesWritten } = await target.handle.write(data, 0, data.length, null);
      if (bytesWritten !== data.length) throw new Error('short write to an audit segment');
      if (!DURABLE_WRITES) await target.handle.datasync();
    } catch (cause) {
      // Cut off whatever part reached the file, so later appends follow good data.
      try {
        await target.handle.truncate(target.segment.bytes);
        await target.handle.datasync();
      } catch (undoError) {
        broken = undoError;
      }
      throw unavailable('cannot write the audit log', cause);
    }
    const segment = target.segment;
    segment.bytes += data.length;
    segment.count += chunk.length;
    segment.lastId = (chunk.at(-1) as AuditRecord).id;
    lastId = segment.lastId;
    for (const record of chunk) keep(deepFreeze(record), autoTrim);
  }

  /** Index of the first visible record with id >= `id` (binary search: ids ascend, gaps allowed). */
  function indexFrom(id: number): number {
    let low = head;
    let high = records.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((records[mid] as AuditRecord).id < id) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  return {
    lastId: () => lastId,
    last: () => (records.length > head ? records.at(-1) : undefined),
    visibleCount: () => records.length - head,
    visibleAt: (offset) => (offset < 0 ? undefined : records[head + offset]),
    readStored: (fromId, limit) => readStoredSegments(folder, fromId, limit),

    list(query) {
      const out: AuditRecord[] = [];
      if (query.direction === 'backward') {
        const start =
          query.fromId === undefined ? records.length - 1 : indexFrom(query.fromId + 1) - 1;
        for (let i = start; i >= head && out.length < query.limit; i--) {
          const record = records[i] as AuditRecord;
          if (matchesAuditQuery(record, query)) out.push(record);
        }
      } else {
        const start = query.fromId === undefined ? head : indexFrom(query.fromId);
        for (let i = start; i < records.length && out.length < query.limit; i++) {
          const record = records[i] as AuditRecord;
          if (matchesAuditQuery(record, query)) out.push(record);
        }
      }
      return out;
    },

    async append(batch, trimCount = 0) {
      for (const [i, record] of batch.entries()) {
        const before = i === 0 ? lastId : (batch[i - 1] as AuditRecord).id;
        if (record.id <= before) {
          return { written: 0, error: corrupt(`audit id ${record.id} does not follow ${before}`) };
        }
      }
      let written = 0;
      while (written < batch.length) {
        if (broken !== undefined) {
          return { written, error: unavailable('audit log is unusable', broken) };
        }
        try {
          const next = batch[written] as AuditRecord;
          if (current === undefined) {
            const tail = segments.at(-1);
            if (tail !== undefined && tail.count < segmentRecords) {
              current = {
                segment: tail,
                handle: await open(tail.path, DURABLE_APPEND_FLAGS, 0o600),
              };
            }
          }
          if (current === undefined || current.segment.count >= segmentRecords) {
            // Named so that segments stay contiguous; only the very first one starts anywhere.
            await startSegment(segments.length > 0 ? lastId + 1 : next.id);
          }
          const room = segmentRecords - (current as { segment: Segment }).segment.count;
          const chunk = batch.slice(written, written + room);
          await writeChunk(chunk);
          written += chunk.length;
        } catch (error) {
          return {
            written,
            error:
              error instanceof StoreError
                ? error
                : unavailable('cannot write the audit log', error),
          };
        }
      }
      if (trimCount > 0) {
        head = Math.min(records.length, head + trimCount);
        compactMemory();
      }
      return { written };
    },

    async dropTrimmedSegments() {
      const oldestKept = records[head]?.id;
      if (oldestKept === undefined) return;
      // Oldest first, with the folder fsynced after each, so no crash leaves a gap between segments.
      while (segments.length > 1 && (segments[0] as Segment).lastId < oldestKept) {
        const segment = segments[0] as Segment;
        if (segment === current?.segment) return;
        await unlink(segment.path);
        segments.shift();
        await fsyncDir(folder);
      }
    },

    async close() {
      const open = current;
      current = undefined;
      await open?.handle.close();
    },
  };
}

/**
 * Reads up to `limit` records with id >= `fromId` from the segment files as they are on disk now.
 * A line without its newline at the very end is an append in flight and is left out; any other
 * line that does not parse (checksum, JSON, id) stops the read and is reported, never thrown.
 */
async function readStoredSegments(
  folder: string,
  fromId: number,
  limit: number,
): Promise<StoredAuditPage> {
  const names = (await readdir(folder)).filter((name) => SEGMENT_NAME.test(name)).sort();
  // The last segment whose first id is <= fromId holds it (names sort by first id).
  let start = 0;
  for (const [index, name] of names.entries()) {
    if (Number(name.slice(0, 20)) <= fromId) start = index;
  }
  const out: AuditRecord[] = [];
  let afterId = 0;
  for (const name of names.slice(start)) {
    const path = join(folder, name);
    let text: Buffer;
    try {
      text = await readFile(path);
    } catch (error) {
      if (errnoOf(error) === 'ENOENT') continue; // unlinked by a trim meanwhile
      throw unavailable(`cannot read audit segment "${path}"`, error);
    }
    let offset = 0;
    while (offset < text.length) {
      const end = text.indexOf(0x0a, offset);
      if (end < 0) break;
      const record = parseRecordLine(text.toString('utf8', offset, end));
      if (record === undefined) {
        return { records: out, unreadable: { afterId, where: `${path} at byte ${offset}` } };
      }
      afterId = record.id;
      if (record.id >= fromId) {
        out.push(record);
        if (out.length >= limit) return { records: out };
      }
      offset = end + 1;
    }
  }
  return { records: out };
}
