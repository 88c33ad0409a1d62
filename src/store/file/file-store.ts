// The embedded store (default without Redis): state in memory, made durable by an fsynced journal with a
// checksum per record plus atomic snapshots (journal.ts); audit records go to their own append-only
// segments (audit-segments.ts). One process per directory (LOCK, dir-lock.ts). This file opens and composes.
import { mkdir, readdir, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Clock } from '../../clock.js';
import { StoreError } from '../../errors.js';
import {
  DEFAULT_AUDIT_MAX_LENGTH,
  DEFAULT_HISTORY_LIMIT,
  type AuditTrimBuilder,
  type Store,
  type StoreLogger,
} from '../store.js';
import { FileAuditLog } from './audit-log.js';
import { openAuditSegments, type AuditSegments } from './audit-segments.js';
import { fileBundleStore } from './bundles.js';
import { releaseDirLock, takeDirLock } from './dir-lock.js';
import { corrupt, deepFreeze, fsyncDir, unavailable } from './durable-file.js';
import { openJournal, type FileRecordContext, type Journal } from './journal.js';
import { fileObjectStore, fileTokenStore } from './keyed.js';
import { fileLeases } from './leases.js';
import { fileNotifications } from './notifications.js';
import { fileVersionedStore } from './versioned.js';

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
  readonly now?: Clock;
  /** Records every trim past auditMaxLength as an `audit.trimmed` event; without it trims are silent. */
  readonly auditTrimmed?: AuditTrimBuilder;
}

const DEFAULT_COMPACT_BYTES = 8 * 1024 * 1024;

/** Directories open in this process (the LOCK file covers other processes). */
const openDirs = new Set<string>();

interface Opened {
  readonly journal: Journal;
  readonly segments: AuditSegments;
}

/**
 * Moves audit records of a format-1 directory (snapshot `audit`, journal `op: 'audit'`) to the
 * segments, then snapshots once so that neither file holds them any more. Only records newer than
 * the segments' last id are written: after a crash half-way the next open finishes the move
 * without duplicating or losing any event.
 */
async function migrateLegacyAudit(
  { journal, segments }: Opened,
  dir: string,
  logger: StoreLogger | undefined,
): Promise<void> {
  const legacy = journal.state.legacyAudit;
  if (legacy.length === 0) return;
  const newer = legacy.filter((record) => record.id > segments.lastId());
  const first = newer[0];
  if (first !== undefined && segments.last() !== undefined && first.id !== segments.lastId() + 1) {
    throw corrupt(
      `audit record ${first.id} in the snapshot or journal of "${dir}" does not follow the audit segments (last id ${segments.lastId()})`,
    );
  }
  const { written, error } = await segments.append(newer.map((record) => deepFreeze(record)));
  if (error !== undefined) throw error;
  await journal.compact();
  journal.state.legacyAudit = [];
  logger?.info('store: moved audit records to segments', { dir, records: written });
}

/**
 * Takes the directory's LOCK, loads snapshot, journal and audit segments, and finishes a format-1
 * migration. On failure everything opened is closed again and the LOCK released.
 */
async function openDir(
  dir: string,
  settings: { readonly auditMax: number; readonly compactBytes: number },
  deps: FileStoreDeps,
  checkOpen: () => void,
): Promise<Opened> {
  const logger = deps.logger;
  let journal: Journal | undefined;
  let segments: AuditSegments | undefined;
  let lockTaken = false;
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await fsyncDir(dirname(dir));
    await takeDirLock(dir);
    lockTaken = true;
    for (const name of await readdir(dir)) {
      if (name.endsWith('.tmp')) await unlink(join(dir, name));
    }
    const nowMs = deps.now ?? Date.now;
    journal = await openJournal(dir, { ...settings, nowMs, logger, checkOpen });
    segments = await openAuditSegments({
      dir,
      auditMax: settings.auditMax,
      logger,
      explicitTrim: deps.auditTrimmed !== undefined,
    });
    const opened = { journal, segments };
    await migrateLegacyAudit(opened, dir, logger);
    await segments.dropTrimmedSegments();
    return opened;
  } catch (error) {
    await segments?.close().catch(() => undefined);
    await journal?.close().catch(() => undefined);
    if (lockTaken) await releaseDirLock(dir);
    if (error instanceof StoreError) throw error;
    throw unavailable(`cannot open store directory "${dir}"`, error);
  }
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new StoreError('ERR_STORE_CONFIG', `${name} must be a positive integer`);
  }
  return value;
}

/** Opens (creating if needed) the embedded store in `options.dir`. */
export async function createFileStore(
  options: FileStoreOptions,
  deps: FileStoreDeps = {},
): Promise<Store> {
  const dir = resolve(options.dir);
  const historyLimit = positiveInteger(
    'historyLimit',
    options.historyLimit ?? DEFAULT_HISTORY_LIMIT,
  );
  const auditMax = positiveInteger(
    'auditMaxLength',
    options.auditMaxLength ?? DEFAULT_AUDIT_MAX_LENGTH,
  );
  const compactBytes = options.compactBytes ?? DEFAULT_COMPACT_BYTES;
  const logger = deps.logger;
  if (openDirs.has(dir)) throw unavailable(`store directory "${dir}" is already open`);
  openDirs.add(dir);

  /** Set by close(): new calls are refused while the queued ones finish. */
  let closed = false;
  const checkOpen = (): void => {
    if (closed) throw unavailable('store is closed');
  };
  let opened: Opened;
  try {
    opened = await openDir(dir, { auditMax, compactBytes }, deps, checkOpen);
  } catch (error) {
    openDirs.delete(dir);
    throw error;
  }
  const { journal, segments } = opened;
  logger?.info('store: file', { dir, records: journal.records() });

  const context: FileRecordContext = { journal, checkOpen };
  const audit = new FileAuditLog(segments, {
    dir,
    auditMax,
    auditTrimmed: deps.auditTrimmed,
    logger,
    checkOpen,
  });
  const leases = fileLeases(deps.now ?? Date.now, checkOpen);
  const notifications = fileNotifications(logger, checkOpen);

  return {
    kind: 'file',
    ...fileBundleStore(context, historyLimit),
    ...fileVersionedStore(context),
    ...fileTokenStore(context),
    ...fileObjectStore(context),
    appendAudit: (build) => audit.appendAudit(build),
    lastAudit: () => audit.lastAudit(),
    listAudit: (query) => audit.listAudit(query),
    readStoredAudit: (fromId, limit) => audit.readStoredAudit(fromId, limit),
    ...leases.locks,
    ...notifications.notifications,

    ping: async () => {
      checkOpen();
    },

    close: async () => {
      if (closed) return;
      closed = true;
      await journal.idle();
      await audit.idle();
      notifications.clear();
      leases.clear();
      try {
        await segments.close();
        await journal.close();
        await releaseDirLock(dir);
      } catch (error) {
        logger?.warn?.('store: close failed', { dir, error: String(error) });
      } finally {
        openDirs.delete(dir);
      }
    },
  };
}
