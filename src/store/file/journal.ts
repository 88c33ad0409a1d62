// The file store's journal and snapshot: every change is one checksummed, durable journal line applied
// to memory only once written; past `compactBytes` the state is snapshotted atomically (temp file,
// fsync, rename, fsync of the directory) and the journal emptied. One writer at a time (`serial`).
import { open, readFile, rename, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { StoreLogger } from '../store.js';
import {
  appendDurably,
  checksum,
  checksummedLine,
  corrupt,
  deepFreeze,
  DURABLE_APPEND_FLAGS,
  errnoOf,
  fsyncDir,
  readChecksummedLine,
  unavailable,
} from './durable-file.js';
import {
  applyChange,
  emptyState,
  snapshotOf,
  stateFromSnapshot,
  type Change,
  type Snapshot,
  type State,
} from './state.js';

const SNAPSHOT_FILE = 'snapshot.json';
const JOURNAL_FILE = 'journal.log';
/** Expired tokens are dropped from snapshots this long after expiry (garbage collection only). */
const TOKEN_GC_GRACE_MS = 3600_000;

async function readSnapshot(dir: string): Promise<{ state: State; seq: number }> {
  let text: string;
  try {
    text = await readFile(join(dir, SNAPSHOT_FILE), 'utf8');
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return { state: emptyState(), seq: 0 };
    throw error;
  }
  const newline = text.indexOf('\n');
  const body = text.slice(newline + 1);
  if (newline < 0 || text.slice(0, newline) !== checksum(body)) {
    throw corrupt(`snapshot in "${dir}" fails its checksum`);
  }
  try {
    const snapshot = deepFreeze(JSON.parse(body) as Snapshot);
    return { state: stateFromSnapshot(snapshot), seq: snapshot.seq };
  } catch (cause) {
    throw corrupt(`snapshot in "${dir}" cannot be read`, cause);
  }
}

interface JournalRecord {
  readonly n: number;
  readonly c: readonly Change[];
}

function parseJournalLine(line: string): JournalRecord | undefined {
  const record = readChecksummedLine(line) as JournalRecord | null | undefined;
  if (record === null || typeof record !== 'object') return undefined;
  return Number.isSafeInteger(record.n) && Array.isArray(record.c) ? record : undefined;
}

/**
 * Replays the journal onto the snapshot state. A torn or unreadable tail (a crash mid-append) is
 * dropped; an unreadable record followed by good ones means real damage: `ERR_STORE_CORRUPT`.
 * Returns the byte length of the good prefix.
 */
function replayJournal(
  text: Buffer,
  state: State,
  snapshotSeq: number,
): { seq: number; goodBytes: number; droppedBytes: number } {
  let seq = snapshotSeq;
  let offset = 0;
  let badAt: number | undefined;
  while (offset < text.length) {
    const end = text.indexOf(0x0a, offset);
    if (end < 0) {
      badAt ??= offset;
      break;
    }
    const record = parseJournalLine(text.toString('utf8', offset, end));
    if (record === undefined) {
      badAt ??= offset;
    } else if (badAt !== undefined) {
      throw corrupt('journal has an unreadable record followed by readable ones');
    } else if (record.n > snapshotSeq) {
      if (record.n !== seq + 1) {
        throw corrupt(`journal record ${record.n} does not follow ${seq}`);
      }
      for (const change of record.c) applyChange(state, deepFreeze(change));
      seq = record.n;
    }
    offset = end + 1;
  }
  const goodBytes = badAt ?? text.length;
  return { seq, goodBytes, droppedBytes: text.length - goodBytes };
}

export interface JournalOptions {
  /** Journal size in bytes that triggers a snapshot. */
  readonly compactBytes: number;
  /** Clock for dropping long-expired tokens from snapshots, ms since the epoch. */
  readonly nowMs: () => number;
  readonly logger: StoreLogger | undefined;
  /** Throws `ERR_STORE_UNAVAILABLE` once the store is closed. */
  readonly checkOpen: () => void;
}

/** The state and the open journal of one store directory; see `openJournal`. */
export class Journal {
  private seq: number;
  private bytes: number;
  /** Set when a failed append could not be undone: refuse further writes rather than risk the file. */
  private broken: unknown;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly dir: string,
    readonly state: State,
    private readonly handle: FileHandle,
    loaded: { readonly seq: number; readonly bytes: number },
    private readonly options: JournalOptions,
  ) {
    this.seq = loaded.seq;
    this.bytes = loaded.bytes;
  }

  /** Journal records written since the directory was created. */
  records(): number {
    return this.seq;
  }

  /** Runs `task` after every earlier write: one writer at a time keeps memory and journal in step. */
  serial<T>(task: () => Promise<T>): Promise<T> {
    try {
      this.options.checkOpen();
    } catch (error) {
      return Promise.reject(error as Error);
    }
    const run = this.queue.then(task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Resolves once every queued write has finished. */
  async idle(): Promise<void> {
    await this.queue;
  }

  /**
   * Appends one journal record (one O_DSYNC write, or write + datasync), then applies it: durable
   * before anyone sees it.
   */
  async commit(changes: Change[]): Promise<void> {
    if (this.broken !== undefined) throw unavailable('store journal is unusable', this.broken);
    const line = Buffer.from(checksummedLine({ n: this.seq + 1, c: changes }), 'utf8');
    try {
      const file = { goodBytes: this.bytes, what: 'the journal' };
      await appendDurably(this.handle, line, file, (error) => (this.broken = error));
    } catch (cause) {
      throw unavailable('cannot write the store journal', cause);
    }
    this.seq += 1;
    this.bytes += line.length;
    for (const change of changes) applyChange(this.state, deepFreeze(change));
    if (this.bytes >= this.options.compactBytes) {
      try {
        await this.compact();
      } catch (error) {
        this.options.logger?.warn?.('store: snapshot failed; the journal keeps growing', {
          dir: this.dir,
          error: String(error),
        });
      }
    }
  }

  /** Writes the whole state as the new snapshot, then empties the journal it now covers. */
  async compact(): Promise<void> {
    const current = this.options.nowMs();
    // Same grace as the Redis store's key expiry: consumption itself checks `expiresAt` exactly.
    for (const [hash, token] of this.state.token) {
      if (token.expiresAt + TOKEN_GC_GRACE_MS <= current) this.state.token.delete(hash);
    }
    const body = JSON.stringify(snapshotOf(this.state, this.seq));
    const temp = join(this.dir, `${SNAPSHOT_FILE}.tmp`);
    const handle = await open(temp, 'w', 0o600);
    try {
      await handle.writeFile(`${checksum(body)}\n${body}`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, join(this.dir, SNAPSHOT_FILE));
    await fsyncDir(this.dir);
    // The snapshot now covers every journal record, so emptying the journal loses nothing.
    await this.handle.truncate(0);
    await this.handle.sync();
    this.bytes = 0;
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

/** What each record concern of the file store works with: the journal and the closed check. */
export interface FileRecordContext {
  readonly journal: Journal;
  /** Throws `ERR_STORE_UNAVAILABLE` once the store is closed. */
  readonly checkOpen: () => void;
}

/**
 * Loads the snapshot, replays the journal onto it (cutting a torn tail away, with a warning) and
 * opens the journal for appends. The caller holds the directory's LOCK.
 */
export async function openJournal(dir: string, options: JournalOptions): Promise<Journal> {
  const loaded = await readSnapshot(dir);
  const journalPath = join(dir, JOURNAL_FILE);
  let text: Buffer;
  try {
    text = await readFile(journalPath);
  } catch (error) {
    if (errnoOf(error) !== 'ENOENT') throw error;
    text = Buffer.alloc(0);
  }
  const replay = replayJournal(text, loaded.state, loaded.seq);
  // O_APPEND (a write after a failed one lands at the end, as with the audit segments) and
  // O_DSYNC where available: each commit is one durable write.
  const handle = await open(journalPath, DURABLE_APPEND_FLAGS, 0o600);
  try {
    if (replay.droppedBytes > 0) {
      await handle.truncate(replay.goodBytes);
      await handle.sync();
      options.logger?.warn?.('store: dropped a torn journal tail', {
        dir,
        bytes: replay.droppedBytes,
      });
    }
    await fsyncDir(dir);
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
  const position = { seq: replay.seq, bytes: replay.goodBytes };
  return new Journal(dir, loaded.state, handle, position, options);
}
