// The file store's journal and snapshot: every change is one checksummed, durable journal line applied
// to memory only once written, writes that arrive together sharing one durable write (group commit);
// past `compactBytes` the state is snapshotted atomically (temp file, fsync, rename, fsync of the
// directory) and the journal emptied.
import { open, readFile, rename, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
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
import type { LocalBundleRecord, StoredBundle, StoreLogger } from '../store.js';
import {
  applyChange,
  emptyState,
  snapshotOf,
  stateFromSnapshot,
  type Change,
  type MapCollection,
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

/** Reads as a write's decision sees them: the durable state with the changes staged before it. */
export interface StateView {
  get<C extends MapCollection>(coll: C, id: string): MapValue<C> | undefined;
  has(coll: MapCollection, id: string): boolean;
  /** A trust domain's current bundle. */
  bundle(trustDomain: string): StoredBundle | undefined;
  local(): LocalBundleRecord | undefined;
}

type MapValue<C extends MapCollection> = State[C] extends Map<string, infer V> ? V : never;

/** What a write's decision returns: the changes to make durable (none is fine) and its answer. */
export interface Decision<T> {
  readonly changes: readonly Change[];
  readonly result: T;
}

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/** Journal records staged together: one durable write. */
interface Group {
  readonly lines: string[];
  readonly changes: Change[];
  readonly waiters: Waiter[];
}

/**
 * The state and the open journal of one store directory; see `openJournal`.
 *
 * Writes are group-committed. Each write decides synchronously against the durable state plus the
 * changes staged before it (`StateView`), so decisions stay serial (one token consumer wins, one
 * compare-and-set wins), and its journal record joins the next group. While one group is being
 * written, the records staged meanwhile wait and share the following write: one O_DSYNC write per
 * group instead of one per record. A group is applied to memory only once durable, so readers never
 * see a change that could still be lost. If a group's write fails, it and every group staged after
 * it (their decisions may rest on it) are refused with `ERR_STORE_UNAVAILABLE`, and nothing of them
 * is applied.
 */
export class Journal {
  /** Sequence number of the last durable record. */
  private seq: number;
  /** Sequence number of the last staged record (durable or not). */
  private stagedSeq: number;
  private bytes: number;
  /** Set when a failed append could not be undone: refuse further writes rather than risk the file. */
  private broken: unknown;
  /** The group being written, and the one staged meanwhile: changes not yet durable. */
  private writing: Group | undefined;
  private open: Group | undefined;
  private draining: Promise<void> | undefined;
  private groups = 0;

  constructor(
    private readonly dir: string,
    readonly state: State,
    private readonly handle: FileHandle,
    loaded: { readonly seq: number; readonly bytes: number },
    private readonly options: JournalOptions,
  ) {
    this.seq = loaded.seq;
    this.stagedSeq = loaded.seq;
    this.bytes = loaded.bytes;
  }

  /** Journal records written since the directory was created. */
  records(): number {
    return this.seq;
  }

  /** Durable writes made since the journal was opened (each carries one group of records). */
  writes(): number {
    return this.groups;
  }

  /**
   * Runs `decide` now against the latest state (durable plus staged), stages the changes it returns
   * and resolves with its result once they are durable and applied. A decision that changes nothing
   * still waits for the staged changes it saw, so it is never answered on a change that is then lost.
   * `decide` throwing rejects the write and stages nothing.
   */
  write<T>(decide: (view: StateView) => Decision<T>): Promise<T> {
    try {
      this.options.checkOpen();
      if (this.broken !== undefined) throw unavailable('store journal is unusable', this.broken);
      const { changes, result } = decide(this.view);
      return this.stage(changes).then(() => result);
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  /** Resolves once every staged write has been written (or refused). */
  async idle(): Promise<void> {
    while (this.draining !== undefined) await this.draining;
  }

  /** `pick`'s answer for the newest staged change it knows, or undefined when it knows none. */
  private latestStaged<T>(
    pick: (change: Change) => { value: T } | undefined,
  ): { value: T } | undefined {
    for (const group of [this.open, this.writing]) {
      const changes = group?.changes ?? [];
      for (let i = changes.length - 1; i >= 0; i--) {
        const found = pick(changes[i] as Change);
        if (found !== undefined) return found;
      }
    }
    return undefined;
  }

  private readonly view: StateView = {
    get: <C extends MapCollection>(coll: C, id: string): MapValue<C> | undefined => {
      const staged = this.latestStaged((change) =>
        (change.op === 'put' || change.op === 'del') && change.coll === coll && change.id === id
          ? { value: change.op === 'put' ? (change.value as MapValue<C>) : undefined }
          : undefined,
      );
      return staged === undefined
        ? (this.state[coll] as Map<string, MapValue<C>>).get(id)
        : staged.value;
    },
    has: (coll, id) => this.view.get(coll, id) !== undefined,
    bundle: (trustDomain) => {
      const staged = this.latestStaged((change) =>
        (change.op === 'bundle' && change.record.trustDomain === trustDomain) ||
        (change.op === 'bundle-del' && change.id === trustDomain)
          ? { value: change.op === 'bundle' ? change.record : undefined }
          : undefined,
      );
      return staged === undefined ? this.state.bundles.get(trustDomain)?.current : staged.value;
    },
    local: () => {
      const staged = this.latestStaged((change) =>
        change.op === 'local' ? { value: change.record } : undefined,
      );
      return staged === undefined ? this.state.local : staged.value;
    },
  };

  private stage(changes: readonly Change[]): Promise<void> {
    // Nothing to write: wait for the newest group, whose changes the decision may have seen.
    const group = changes.length > 0 ? this.openGroup() : (this.open ?? this.writing);
    if (group === undefined) return Promise.resolve();
    if (changes.length > 0) {
      this.stagedSeq += 1;
      group.lines.push(checksummedLine({ n: this.stagedSeq, c: changes }));
      group.changes.push(...changes);
    }
    const written = new Promise<void>((resolve, reject) => group.waiters.push({ resolve, reject }));
    this.draining ??= this.drain();
    return written;
  }

  private openGroup(): Group {
    this.open ??= { lines: [], changes: [], waiters: [] };
    return this.open;
  }

  /** Writes the open group, then the one staged meanwhile, until none is left. */
  private async drain(): Promise<void> {
    try {
      while (this.open !== undefined) {
        const group = this.open;
        this.open = undefined;
        this.writing = group;
        const failure = await this.append(group);
        this.writing = undefined;
        if (failure !== undefined) {
          // Every group staged after this one decided on top of it: refuse them too.
          const later = this.open as Group | undefined;
          const refused = [...group.waiters, ...(later?.waiters ?? [])];
          this.open = undefined;
          this.stagedSeq = this.seq;
          for (const waiter of refused) waiter.reject(failure);
          continue;
        }
        for (const change of group.changes) applyChange(this.state, deepFreeze(change));
        for (const waiter of group.waiters) waiter.resolve();
        if (this.bytes >= this.options.compactBytes) await this.compactOrWarn();
      }
    } finally {
      // Synchronously with the last check: a write staged from here on starts the next drain.
      this.draining = undefined;
    }
  }

  /** One durable write of `group`'s records; the error to refuse its writes with, if it failed. */
  private async append(group: Group): Promise<Error | undefined> {
    if (group.lines.length === 0) return undefined;
    if (this.broken !== undefined) return unavailable('store journal is unusable', this.broken);
    const data = Buffer.from(group.lines.join(''), 'utf8');
    try {
      const file = { goodBytes: this.bytes, what: 'the journal' };
      await appendDurably(this.handle, data, file, (error) => (this.broken = error));
    } catch (cause) {
      return unavailable('cannot write the store journal', cause);
    }
    this.groups += 1;
    // Groups are written in the order their records were numbered.
    this.seq += group.lines.length;
    this.bytes += data.length;
    return undefined;
  }

  private async compactOrWarn(): Promise<void> {
    try {
      await this.compact();
    } catch (error) {
      this.options.logger?.warn?.('store: snapshot failed; the journal keeps growing', {
        dir: this.dir,
        error: String(error),
      });
    }
  }

  /**
   * Writes the whole durable state as the new snapshot, then empties the journal it now covers.
   * Runs between group writes (or before the first), never beside one.
   */
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
