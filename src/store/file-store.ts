// The embedded store (default without Redis): state in memory, made durable by an fsynced journal with a
// checksum per record plus atomic snapshots (temp file, fsync, rename, fsync of the directory); audit
// records go to their own append-only segments (file-audit.ts). One process per directory (LOCK, dir-lock.ts).
import { mkdir, open, readFile, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { StoreError } from '../errors.js';
import {
  checksum,
  checksummedLine,
  corrupt,
  deepFreeze,
  DURABLE_APPEND_FLAGS,
  DURABLE_WRITES,
  errnoOf,
  fsyncDir,
  openAuditSegments,
  readChecksummedLine,
  unavailable,
  type AuditSegments,
} from './file-audit.js';
import { releaseDirLock, takeDirLock } from './dir-lock.js';
import { checkKeyComponent } from './keys.js';
import {
  auditRecordFromDraft,
  auditTrimCount,
  bundleRecordFromInput,
  checkAuditQuery,
  checkStoredAuditRange,
  checkExpectedVersion,
  checkTime,
  checkTtlMs,
  conflictError,
  decideBundlePut,
  highestSequenceOf,
  nextHighestSequence,
  decideLocalBundlePut,
  encodeObject,
  localBundleRecordFromInput,
  putBundleResult,
  staleBundleError,
  staleLocalBundleError,
  tokenRecordFromInput,
} from './records.js';
import {
  DEFAULT_AUDIT_MAX_LENGTH,
  DEFAULT_HISTORY_LIMIT,
  type AuditDraft,
  type AuditQuery,
  type AuditRecord,
  type AuditTrimBuilder,
  type StoredAuditPage,
  type BundleInput,
  type ExpectedVersion,
  type JsonObject,
  type LocalBundleInput,
  type LocalBundleRecord,
  type NotificationHandler,
  type PutBundleOptions,
  type PutBundleResult,
  type Store,
  type StoredBundle,
  type StoreLogger,
  type TokenInput,
  type TokenRecord,
  type Versioned,
} from './store.js';

export interface FileStoreOptions {
  /** Directory holding the snapshot, the journal and the LOCK file; created if missing. */
  readonly dir: string;
  readonly historyLimit?: number;
  readonly auditMaxLength?: number;
  /** Journal size in bytes that triggers a snapshot; default 8 MiB. */
  readonly compactBytes?: number;
}

export interface FileStoreDeps {
  readonly logger?: StoreLogger;
  /** Clock for lease expiry; defaults to Date.now. */
  readonly now?: () => number;
  /** Records every trim past auditMaxLength as an `audit.trimmed` event; without it trims are silent. */
  readonly auditTrimmed?: AuditTrimBuilder;
}

const SNAPSHOT_FILE = 'snapshot.json';
const JOURNAL_FILE = 'journal.log';
/** 2: audit records live in segments, not in the snapshot. 1 (read only): `audit` + `lastAuditId`. */
const FORMAT_VERSION = 2;
const LEGACY_FORMAT_VERSION = 1;
const DEFAULT_COMPACT_BYTES = 8 * 1024 * 1024;
/** Expired tokens are dropped from snapshots this long after expiry (garbage collection only). */
const TOKEN_GC_GRACE_MS = 3600_000;

type MapCollection = 'relationship' | 'entry' | 'token' | 'refresh' | 'replica';

/** One journal record's changes; replaying them in order rebuilds the state. */
type Change =
  | { readonly op: 'bundle'; readonly record: StoredBundle; readonly limit: number }
  | { readonly op: 'bundle-del'; readonly id: string }
  | {
      readonly op: 'put';
      readonly coll: MapCollection;
      readonly id: string;
      readonly value: unknown;
    }
  | { readonly op: 'del'; readonly coll: MapCollection; readonly id: string }
  | { readonly op: 'local'; readonly record: LocalBundleRecord }
  /** Written by format 1 only; still read so that old journals migrate to the audit segments. */
  | { readonly op: 'audit'; readonly record: AuditRecord; readonly max: number };

interface BundleSlot {
  readonly current: StoredBundle;
  readonly history: readonly StoredBundle[];
}

interface State {
  bundles: Map<string, BundleSlot>;
  relationship: Map<string, Versioned>;
  entry: Map<string, Versioned>;
  token: Map<string, TokenRecord>;
  refresh: Map<string, JsonObject>;
  replica: Map<string, JsonObject>;
  local: LocalBundleRecord | undefined;
  /** Audit records found in a format-1 snapshot or journal, to be moved to the segments on open. */
  legacyAudit: AuditRecord[];
}

interface Snapshot {
  readonly format: number;
  readonly seq: number;
  readonly bundles: [string, BundleSlot][];
  readonly relationship: [string, Versioned][];
  readonly entry: [string, Versioned][];
  readonly token: [string, TokenRecord][];
  readonly refresh: [string, JsonObject][];
  /** Absent in snapshots written before replica authorities existed. */
  readonly replica?: [string, JsonObject][];
  readonly local: LocalBundleRecord | null;
  /** Format 1 only. */
  readonly audit?: AuditRecord[];
}

/** Directories open in this process (the LOCK file covers other processes). */
const openDirs = new Set<string>();

function emptyState(): State {
  return {
    bundles: new Map(),
    relationship: new Map(),
    entry: new Map(),
    token: new Map(),
    refresh: new Map(),
    replica: new Map(),
    local: undefined,
    legacyAudit: [],
  };
}

function applyChange(state: State, change: Change): void {
  switch (change.op) {
    case 'bundle': {
      const previous = state.bundles.get(change.record.trustDomain);
      const history = [change.record, ...(previous?.history ?? [])].slice(0, change.limit);
      state.bundles.set(change.record.trustDomain, { current: change.record, history });
      return;
    }
    case 'bundle-del':
      state.bundles.delete(change.id);
      return;
    case 'put':
      (state[change.coll] as Map<string, unknown>).set(change.id, change.value);
      return;
    case 'del':
      state[change.coll].delete(change.id);
      return;
    case 'local':
      state.local = change.record;
      return;
    case 'audit':
      state.legacyAudit.push(change.record);
      if (state.legacyAudit.length > change.max) {
        state.legacyAudit.splice(0, state.legacyAudit.length - change.max);
      }
      return;
    default:
      throw corrupt(`unknown journal change ${JSON.stringify((change as { op?: unknown }).op)}`);
  }
}

function snapshotOf(state: State, seq: number): Snapshot {
  return {
    format: FORMAT_VERSION,
    seq,
    bundles: [...state.bundles],
    relationship: [...state.relationship],
    entry: [...state.entry],
    token: [...state.token],
    refresh: [...state.refresh],
    replica: [...state.replica],
    local: state.local ?? null,
  };
}

function stateFromSnapshot(snapshot: Snapshot): State {
  if (snapshot.format !== FORMAT_VERSION && snapshot.format !== LEGACY_FORMAT_VERSION) {
    throw corrupt(`snapshot format ${String(snapshot.format)} is not supported`);
  }
  return {
    bundles: new Map(snapshot.bundles),
    relationship: new Map(snapshot.relationship),
    entry: new Map(snapshot.entry),
    token: new Map(snapshot.token),
    refresh: new Map(snapshot.refresh),
    replica: new Map(snapshot.replica ?? []),
    local: snapshot.local ?? undefined,
    legacyAudit: snapshot.format === LEGACY_FORMAT_VERSION ? [...(snapshot.audit ?? [])] : [],
  };
}

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

/** Opens (creating if needed) the embedded store in `options.dir`. */
export async function createFileStore(
  options: FileStoreOptions,
  deps: FileStoreDeps = {},
): Promise<Store> {
  const dir = resolve(options.dir);
  const historyLimit = options.historyLimit ?? DEFAULT_HISTORY_LIMIT;
  const auditMax = options.auditMaxLength ?? DEFAULT_AUDIT_MAX_LENGTH;
  const compactBytes = options.compactBytes ?? DEFAULT_COMPACT_BYTES;
  if (!Number.isSafeInteger(historyLimit) || historyLimit < 1) {
    throw new StoreError('ERR_STORE_CONFIG', 'historyLimit must be a positive integer');
  }
  if (!Number.isSafeInteger(auditMax) || auditMax < 1) {
    throw new StoreError('ERR_STORE_CONFIG', 'auditMaxLength must be a positive integer');
  }
  const now = deps.now ?? Date.now;
  const logger = deps.logger;
  if (openDirs.has(dir)) throw unavailable(`store directory "${dir}" is already open`);
  openDirs.add(dir);

  let state: State;
  let seq: number;
  let journal: FileHandle;
  let journalBytes: number;
  let auditLog: AuditSegments;
  /** Closed again if opening fails later on. */
  let openedJournal: FileHandle | undefined;
  let lockTaken = false;
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await fsyncDir(dirname(dir));
    await takeDirLock(dir);
    lockTaken = true;
    for (const name of await readdir(dir)) {
      if (name.endsWith('.tmp')) await unlink(join(dir, name));
    }
    const loaded = await readSnapshot(dir);
    state = loaded.state;
    const journalPath = join(dir, JOURNAL_FILE);
    let text: Buffer;
    try {
      text = await readFile(journalPath);
    } catch (error) {
      if (errnoOf(error) !== 'ENOENT') throw error;
      text = Buffer.alloc(0);
    }
    const replay = replayJournal(text, state, loaded.seq);
    seq = replay.seq;
    // O_APPEND (a write after a failed one lands at the end, as with the audit segments) and
    // O_DSYNC where available: each commit is one durable write.
    journal = await open(journalPath, DURABLE_APPEND_FLAGS, 0o600);
    openedJournal = journal;
    if (replay.droppedBytes > 0) {
      await journal.truncate(replay.goodBytes);
      await journal.sync();
      logger?.warn?.('store: dropped a torn journal tail', { dir, bytes: replay.droppedBytes });
    }
    await fsyncDir(dir);
    journalBytes = replay.goodBytes;
    auditLog = await openAuditSegments({
      dir,
      auditMax,
      logger,
      explicitTrim: deps.auditTrimmed !== undefined,
    });
  } catch (error) {
    await openedJournal?.close().catch(() => undefined);
    openDirs.delete(dir);
    if (lockTaken) await releaseDirLock(dir);
    if (error instanceof StoreError) throw error;
    throw unavailable(`cannot open store directory "${dir}"`, error);
  }

  /** Set by close(): new calls are refused while the queued ones finish. */
  let closed = false;
  /** Set when a failed append could not be undone: refuse further writes rather than risk the file. */
  let broken: unknown;
  let queue: Promise<unknown> = Promise.resolve();
  let auditQueue: Promise<unknown> = Promise.resolve();
  const leases = new Map<string, { owner: string; expiresAt: number }>();
  const subscribers = new Map<string, Set<NotificationHandler>>();

  function checkOpen(): void {
    if (closed) throw unavailable('store is closed');
  }

  /**
   * Group commit for audit events: appends that arrive while another batch is being made durable
   * are chained in order and written with one durable write (per segment touched).
   */
  const pendingAudit: {
    build: (previous: AuditRecord | undefined, id: number) => AuditDraft;
    resolve: (record: AuditRecord) => void;
    reject: (error: Error) => void;
  }[] = [];
  async function flushAudit(): Promise<void> {
    const batch = pendingAudit.splice(0, pendingAudit.length);
    const built: { record: AuditRecord; item: (typeof batch)[number] }[] = [];
    let previous = auditLog.last();
    let id = auditLog.lastId();
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
    const trimCount = trimmedRecord(records, previous as AuditRecord, id);
    const { written, error } = await auditLog.append(records, trimCount);
    built.forEach(({ record, item }, i) => {
      if (i < written) item.resolve(record);
      else item.reject(error ?? unavailable('cannot write the audit log'));
    });
    try {
      await auditLog.dropTrimmedSegments();
    } catch (dropError) {
      logger?.warn?.('store: cannot remove a trimmed audit segment', {
        dir,
        error: String(dropError),
      });
    }
  }

  /**
   * With a trim builder: when the batch would take the log past auditMax, appends the
   * `audit.trimmed` record to `records` (same durable write) and returns how many to trim.
   */
  function trimmedRecord(records: AuditRecord[], previous: AuditRecord, id: number): number {
    const build = deps.auditTrimmed;
    const count =
      build === undefined ? 0 : auditTrimCount(auditLog.visibleCount(), records.length, auditMax);
    // The trim may reach into the batch itself (a batch larger than the cap).
    const visible = auditLog.visibleCount();
    const at = (offset: number): AuditRecord | undefined =>
      offset < visible ? auditLog.visibleAt(offset) : records[offset - visible];
    const first = at(0);
    const last = at(count - 1);
    if (build === undefined || count === 0 || first === undefined || last === undefined) return 0;
    const trim = { count, fromId: first.id, toId: last.id, lastTrimmedHash: last.hash };
    records.push(auditRecordFromDraft(id + 1, build(previous, id + 1, trim)));
    return count;
  }

  /**
   * Group commit: once the previous batch is durable, the next one waits for the rest of the current
   * event-loop turn (setImmediate, not a timer) so that appends made by the callbacks of that turn
   * share its write and sync. Under load this makes batches about half as many again as large; an
   * idle store adds one loop turn.
   */
  async function lingerThenFlushAudit(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    await flushAudit();
  }

  /** Runs `task` after every earlier write: one writer at a time keeps memory and journal in step. */
  function serial<T>(task: () => Promise<T>): Promise<T> {
    try {
      checkOpen();
    } catch (error) {
      return Promise.reject(error as Error);
    }
    const run = queue.then(task);
    queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Audit appends have their own queue: they touch only the segments, so they need not wait for a
   * journal write (or a snapshot) and no crash can leave the two out of step.
   */
  function serialAudit(task: () => Promise<void>): void {
    auditQueue = auditQueue.then(task).catch(() => undefined);
  }

  async function compact(): Promise<void> {
    const current = now();
    // Same grace as the Redis store's key expiry: consumption itself checks `expiresAt` exactly.
    for (const [hash, token] of state.token) {
      if (token.expiresAt + TOKEN_GC_GRACE_MS <= current) state.token.delete(hash);
    }
    const body = JSON.stringify(snapshotOf(state, seq));
    const temp = join(dir, `${SNAPSHOT_FILE}.tmp`);
    const handle = await open(temp, 'w', 0o600);
    try {
      await handle.writeFile(`${checksum(body)}\n${body}`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, join(dir, SNAPSHOT_FILE));
    await fsyncDir(dir);
    // The snapshot now covers every journal record, so emptying the journal loses nothing.
    await journal.truncate(0);
    await journal.sync();
    journalBytes = 0;
  }

  /**
   * Appends one journal record (one O_DSYNC write, or write + datasync), then applies it: durable
   * before anyone sees it.
   */
  async function commit(changes: Change[]): Promise<void> {
    if (broken !== undefined) throw unavailable('store journal is unusable', broken);
    const line = Buffer.from(checksummedLine({ n: seq + 1, c: changes }), 'utf8');
    try {
      const { bytesWritten } = await journal.write(line, 0, line.length, null);
      if (bytesWritten !== line.length) throw new Error('short write to the journal');
      if (!DURABLE_WRITES) await journal.datasync();
    } catch (cause) {
      // Cut off whatever part of the record reached the file, so later appends follow good data.
      try {
        await journal.truncate(journalBytes);
        await journal.datasync();
      } catch (undoError) {
        broken = undoError;
      }
      throw unavailable('cannot write the store journal', cause);
    }
    seq += 1;
    journalBytes += line.length;
    for (const change of changes) applyChange(state, deepFreeze(change));
    if (journalBytes >= compactBytes) {
      try {
        await compact();
      } catch (error) {
        logger?.warn?.('store: snapshot failed; the journal keeps growing', {
          dir,
          error: String(error),
        });
      }
    }
  }

  function versionedPut(
    coll: 'relationship' | 'entry',
    what: string,
    id: string,
    value: object,
    expected: ExpectedVersion,
  ): Promise<number> {
    checkKeyComponent(what, id);
    checkExpectedVersion(expected, true);
    const parsed = JSON.parse(encodeObject(what, value)) as JsonObject;
    return serial(async () => {
      const current = state[coll].get(id);
      if (
        (expected === null && current !== undefined) ||
        (typeof expected === 'number' && current?.version !== expected)
      ) {
        throw conflictError(what, id, expected);
      }
      const version = (current?.version ?? 0) + 1;
      await commit([{ op: 'put', coll, id, value: { value: parsed, version } }]);
      return version;
    });
  }

  function versionedDelete(
    coll: 'relationship' | 'entry',
    what: string,
    id: string,
    expected: number | 'any',
  ): Promise<boolean> {
    checkKeyComponent(what, id);
    checkExpectedVersion(expected, false);
    return serial(async () => {
      const current = state[coll].get(id);
      if (current === undefined) return false;
      if (expected !== 'any' && current.version !== expected) {
        throw conflictError(what, id, expected);
      }
      await commit([{ op: 'del', coll, id }]);
      return true;
    });
  }

  function leaseOf(name: string): { owner: string; expiresAt: number } | undefined {
    const lease = leases.get(name);
    if (lease !== undefined && lease.expiresAt <= now()) {
      leases.delete(name);
      return undefined;
    }
    return lease;
  }

  /**
   * Moves audit records of a format-1 directory (snapshot `audit`, journal `op: 'audit'`) to the
   * segments, then snapshots once so that neither file holds them any more. Only records newer than
   * the segments' last id are written: after a crash half-way the next open finishes the move
   * without duplicating or losing any event.
   */
  async function migrateLegacyAudit(): Promise<void> {
    const legacy = state.legacyAudit;
    if (legacy.length === 0) return;
    const newer = legacy.filter((record) => record.id > auditLog.lastId());
    const first = newer[0];
    if (
      first !== undefined &&
      auditLog.last() !== undefined &&
      first.id !== auditLog.lastId() + 1
    ) {
      throw corrupt(
        `audit record ${first.id} in the snapshot or journal of "${dir}" does not follow the audit segments (last id ${auditLog.lastId()})`,
      );
    }
    const { written, error } = await auditLog.append(newer.map((record) => deepFreeze(record)));
    if (error !== undefined) throw error;
    await compact();
    state.legacyAudit = [];
    logger?.info('store: moved audit records to segments', { dir, records: written });
  }

  try {
    await migrateLegacyAudit();
    await auditLog.dropTrimmedSegments();
  } catch (error) {
    await auditLog.close().catch(() => undefined);
    await journal.close().catch(() => undefined);
    openDirs.delete(dir);
    await releaseDirLock(dir);
    if (error instanceof StoreError) throw error;
    throw unavailable(`cannot open store directory "${dir}"`, error);
  }

  logger?.info('store: file', { dir, records: seq });

  const store: Store = {
    kind: 'file',

    getBundle: async (td) => {
      checkOpen();
      return state.bundles.get(checkKeyComponent('trust domain', td))?.current;
    },

    putBundle: async (input: BundleInput, putOptions: PutBundleOptions = {}) => {
      const checked = bundleRecordFromInput(input);
      return serial(async (): Promise<PutBundleResult> => {
        const previous = state.bundles.get(checked.trustDomain)?.current;
        const force = putOptions.force === true;
        const decision = decideBundlePut(previous, checked, force);
        if (decision === 'stale') {
          const highest = previous === undefined ? null : highestSequenceOf(previous);
          throw staleBundleError(checked.trustDomain, checked.sequence, highest);
        }
        const record = {
          ...checked,
          highestSequence: nextHighestSequence(previous, checked, force),
        };
        if (decision !== 'unchanged') {
          await commit([{ op: 'bundle', record, limit: historyLimit }]);
        }
        return putBundleResult(decision, record, previous);
      });
    },

    deleteBundle: async (td) => {
      checkKeyComponent('trust domain', td);
      return serial(async () => {
        if (!state.bundles.has(td)) return false;
        await commit([{ op: 'bundle-del', id: td }]);
        return true;
      });
    },

    listBundles: async () => {
      checkOpen();
      return [...state.bundles.values()].map((slot) => slot.current);
    },

    bundleHistory: async (td) => {
      checkOpen();
      return [...(state.bundles.get(checkKeyComponent('trust domain', td))?.history ?? [])];
    },

    getRelationship: async (td) => {
      checkOpen();
      return state.relationship.get(checkKeyComponent('trust domain', td));
    },
    listRelationships: async () => {
      checkOpen();
      return [...state.relationship.values()];
    },
    putRelationship: async (td, value, expected) =>
      versionedPut('relationship', 'trust domain', td, value, expected),
    deleteRelationship: async (td, expected) =>
      versionedDelete('relationship', 'trust domain', td, expected),

    getLocalBundle: async () => {
      checkOpen();
      return state.local;
    },
    putLocalBundle: async (input: LocalBundleInput) => {
      const record = localBundleRecordFromInput(input);
      return serial(async () => {
        const decision = decideLocalBundlePut(state.local, record);
        if (decision === 'stale') {
          throw staleLocalBundleError(record.sequence, state.local?.sequence ?? '');
        }
        if (decision === 'written') await commit([{ op: 'local', record }]);
        return decision;
      });
    },

    getEntry: async (id) => {
      checkOpen();
      return state.entry.get(checkKeyComponent('entry id', id));
    },
    listEntries: async () => {
      checkOpen();
      return [...state.entry].map(([id, versioned]) => ({ id, ...versioned }));
    },
    putEntry: async (id, value, expected) => versionedPut('entry', 'entry id', id, value, expected),
    deleteEntry: async (id, expected) => versionedDelete('entry', 'entry id', id, expected),

    putToken: async (input: TokenInput) => {
      const record = tokenRecordFromInput(input);
      return serial(async () => {
        if (state.token.has(record.hash)) {
          throw new StoreError('ERR_STORE_CONFLICT', 'a token with this hash already exists');
        }
        await commit([{ op: 'put', coll: 'token', id: record.hash, value: record }]);
      });
    },
    consumeToken: async (hash, at) => {
      checkKeyComponent('token hash', hash);
      checkTime('now', at);
      return serial(async () => {
        const token = state.token.get(hash);
        if (token === undefined) return undefined;
        // Deleted whether expired or not: an expired token can never be consumed anyway.
        await commit([{ op: 'del', coll: 'token', id: hash }]);
        return token.expiresAt > at ? token : undefined;
      });
    },
    deleteToken: async (hash) => {
      checkKeyComponent('token hash', hash);
      return serial(async () => {
        if (!state.token.has(hash)) return false;
        await commit([{ op: 'del', coll: 'token', id: hash }]);
        return true;
      });
    },
    listTokens: async (at) => {
      checkTime('now', at);
      checkOpen();
      return [...state.token.values()].filter((token) => token.expiresAt > at);
    },

    appendAudit: (build: (previous: AuditRecord | undefined, id: number) => AuditDraft) =>
      new Promise<AuditRecord>((resolve, reject) => {
        try {
          checkOpen();
        } catch (error) {
          reject(error as Error);
          return;
        }
        pendingAudit.push({ build, resolve, reject });
        if (pendingAudit.length === 1) serialAudit(lingerThenFlushAudit);
      }),
    lastAudit: async () => {
      checkOpen();
      return auditLog.last();
    },
    listAudit: async (query: AuditQuery) => {
      checkAuditQuery(query);
      checkOpen();
      return auditLog.list(query);
    },
    readStoredAudit: async (fromId: number, limit: number) => {
      checkStoredAuditRange(fromId, limit);
      // Queued with the appends: never reads a segment while this process writes to it.
      return new Promise<StoredAuditPage>((resolve, reject) => {
        try {
          checkOpen();
        } catch (error) {
          reject(error as Error);
          return;
        }
        serialAudit(() => auditLog.readStored(fromId, limit).then(resolve, reject));
      });
    },

    getRefreshStatus: async (td) => {
      checkOpen();
      return state.refresh.get(checkKeyComponent('trust domain', td));
    },
    putRefreshStatus: async (td, status) => {
      checkKeyComponent('trust domain', td);
      const value = JSON.parse(encodeObject('refresh status', status)) as JsonObject;
      return serial(() => commit([{ op: 'put', coll: 'refresh', id: td, value }]));
    },
    deleteRefreshStatus: async (td) => {
      checkKeyComponent('trust domain', td);
      return serial(async () => {
        if (!state.refresh.has(td)) return false;
        await commit([{ op: 'del', coll: 'refresh', id: td }]);
        return true;
      });
    },
    listRefreshStatuses: async () => {
      checkOpen();
      return [...state.refresh].map(([trustDomain, status]) => ({ trustDomain, status }));
    },

    putReplicaAuthorities: async (replicaId, authorities) => {
      checkKeyComponent('replica id', replicaId);
      const value = JSON.parse(encodeObject('replica authorities', authorities)) as JsonObject;
      return serial(() => commit([{ op: 'put', coll: 'replica', id: replicaId, value }]));
    },
    deleteReplicaAuthorities: async (replicaId) => {
      checkKeyComponent('replica id', replicaId);
      return serial(async () => {
        if (!state.replica.has(replicaId)) return false;
        await commit([{ op: 'del', coll: 'replica', id: replicaId }]);
        return true;
      });
    },
    listReplicaAuthorities: async () => {
      checkOpen();
      return [...state.replica].map(([replicaId, value]) => ({ replicaId, value }));
    },

    acquireLock: async (name, owner, ttlMs) => {
      checkKeyComponent('lock name', name);
      checkTtlMs(ttlMs);
      checkOpen();
      const lease = leaseOf(name);
      if (lease !== undefined && lease.owner !== owner) return false;
      leases.set(name, { owner, expiresAt: now() + ttlMs });
      return true;
    },
    renewLock: async (name, owner, ttlMs) => {
      checkKeyComponent('lock name', name);
      checkTtlMs(ttlMs);
      checkOpen();
      if (leaseOf(name)?.owner !== owner) return false;
      leases.set(name, { owner, expiresAt: now() + ttlMs });
      return true;
    },
    releaseLock: async (name, owner) => {
      checkKeyComponent('lock name', name);
      checkOpen();
      if (leaseOf(name)?.owner !== owner) return false;
      leases.delete(name);
      return true;
    },
    lockHolder: async (name) => {
      checkKeyComponent('lock name', name);
      checkOpen();
      return leaseOf(name)?.owner;
    },

    publish: async (channel, message) => {
      checkKeyComponent('channel', channel);
      checkOpen();
      for (const handler of subscribers.get(channel) ?? []) {
        // Delivered asynchronously, as Redis does, so a handler never runs inside publish().
        setImmediate(() => {
          try {
            handler(message);
          } catch (error) {
            logger?.warn?.('store: notification handler failed', {
              channel,
              error: String(error),
            });
          }
        });
      }
    },
    subscribe: async (channel, handler) => {
      checkKeyComponent('channel', channel);
      checkOpen();
      const set = subscribers.get(channel) ?? new Set<NotificationHandler>();
      subscribers.set(channel, set);
      // A wrapper per call, so subscribing the same function twice gives two independent subscriptions.
      const entry: NotificationHandler = (message) => handler(message);
      set.add(entry);
      return async () => {
        set.delete(entry);
        if (set.size === 0 && subscribers.get(channel) === set) subscribers.delete(channel);
      };
    },

    ping: async () => {
      checkOpen();
    },

    close: async () => {
      if (closed) return;
      closed = true;
      await queue;
      await auditQueue;
      subscribers.clear();
      leases.clear();
      try {
        await auditLog.close();
        await journal.close();
        await releaseDirLock(dir);
      } catch (error) {
        logger?.warn?.('store: close failed', { dir, error: String(error) });
      } finally {
        openDirs.delete(dir);
      }
    },
  };
  return store;
}
