// The file store's durable-write mechanics, shared by the journal, the snapshot and the audit segments:
// O_APPEND|O_DSYNC flags, checksummed lines, directory fsync, frozen records, and the two error kinds.
import { hash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { StoreError } from '../../errors.js';

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

/** The file store's per-line checksum (journal and audit segments): SHA-256 hex, first 16 chars. */
export function checksum(text: string): string {
  return hash('sha256', text, 'hex').slice(0, 16);
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

/**
 * Appends `data` to `handle` with one write: durable when it returns (O_DSYNC), else followed by a
 * datasync. On failure, whatever part reached the file is cut off (back to `goodBytes`) so that later
 * appends follow good data, and the write's error is thrown; if even the cut fails, `onUnusable` gets
 * why (the file must not be appended to again).
 */
export async function appendDurably(
  handle: FileHandle,
  data: Buffer,
  file: { readonly goodBytes: number; readonly what: string },
  onUnusable: (error: unknown) => void,
): Promise<void> {
  try {
    const { bytesWritten } = await handle.write(data, 0, data.length, null);
    if (bytesWritten !== data.length) throw new Error(`short write to ${file.what}`);
    if (!DURABLE_WRITES) await handle.datasync();
  } catch (cause) {
    try {
      await handle.truncate(file.goodBytes);
      await handle.datasync();
    } catch (undoError) {
      onUnusable(undoError);
    }
    throw cause;
  }
}
