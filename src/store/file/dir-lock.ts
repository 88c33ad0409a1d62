// The file store's LOCK: one process per store directory. The LOCK names its holder by pid, process
// start time (/proc/<pid>/stat field 22) and boot id, so a LOCK whose pid is dead, a zombie, or reused
// by another process (other start time or boot) is stale and taken over at once; see takeDirLock.
import { link, open, readFile, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StoreError } from '../../errors.js';
import { errnoOf, fsyncDir } from './durable-file.js';

/*
 * Why not a kernel-held lock: Node has no flock/fcntl, a helper process holding `flock` outlives a
 * kill -9 of the broker unless it watches a pipe (and then races a fast restart), and an abstract
 * Unix socket is per network namespace and Linux-only. The pid + start time pair identifies one
 * process for the life of the boot, reading /proc is cheap, and a stale LOCK needs no timeout.
 */
export const LOCK_FILE = 'LOCK';

/** Who holds a LOCK. `startTime` and `bootId` are absent in LOCKs written before they existed. */
export interface LockHolder {
  readonly pid: number;
  readonly startTime?: string;
  readonly bootId?: string;
}

/** What the kernel says about a live pid (Linux /proc), or undefined where /proc cannot tell. */
interface ProcessInfo {
  readonly state: string;
  /** Clock ticks after boot (field 22 of /proc/<pid>/stat). */
  readonly startTime: string;
}

/** /proc reports times in USER_HZ, which Linux fixes at 100 on every architecture it exports. */
const USER_HZ = 100;

function readProcessInfo(pid: number): ProcessInfo | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const startTime = fields[19];
  if (state === undefined || startTime === undefined || !/^\d+$/.test(startTime)) return undefined;
  return { state, startTime };
}

function readBootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Boot time in ms since the epoch (`btime` of /proc/stat), for LOCKs written without a start time. */
function readBootTimeMs(): number | undefined {
  try {
    const match = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'));
    return match?.[1] === undefined ? undefined : Number(match[1]) * 1000;
  } catch {
    return undefined;
  }
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoOf(error) === 'EPERM';
  }
}

/** This process as a LOCK holder. */
export function currentHolder(): LockHolder {
  const info = readProcessInfo(process.pid);
  const bootId = readBootId();
  return {
    pid: process.pid,
    ...(info === undefined ? {} : { startTime: info.startTime }),
    ...(bootId === undefined ? {} : { bootId }),
  };
}

/** A LOCK's text: JSON (this format) or a bare pid (older brokers). Undefined if unreadable. */
export function parseLockText(text: string): LockHolder | undefined {
  const trimmed = text.trim();
  if (/^\d{1,10}$/.test(trimmed)) return { pid: Number(trimmed) };
  try {
    const value = JSON.parse(trimmed) as Record<string, unknown>;
    const { pid, startTime, bootId } = value;
    if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0) return undefined;
    return {
      pid,
      ...(typeof startTime === 'string' ? { startTime } : {}),
      ...(typeof bootId === 'string' ? { bootId } : {}),
    };
  } catch {
    return undefined;
  }
}

/**
 * Whether `holder` is a live process other than this one. A pid alone is not enough: after a
 * kill -9 the pid may linger as a zombie until its parent reaps it, and a pid may be reused by an
 * unrelated process (a container restart gives the broker the same pid again).
 */
export function isHeldByOther(holder: LockHolder, lockMtimeMs: number): boolean {
  const self = currentHolder();
  if (holder.bootId !== undefined && self.bootId !== undefined && holder.bootId !== self.bootId) {
    return false; // written before the last reboot
  }
  const info = readProcessInfo(holder.pid);
  if (info === undefined) {
    // No /proc entry: on Linux the pid is gone; elsewhere only the pid can be checked.
    if (self.startTime !== undefined) return false;
    return holder.pid !== process.pid && pidExists(holder.pid);
  }
  if (info.state === 'Z' || info.state === 'X') return false; // dead, not yet reaped
  if (holder.startTime !== undefined) {
    if (holder.startTime !== info.startTime) return false; // the pid was reused
    return !(holder.pid === process.pid && holder.startTime === self.startTime);
  }
  // An older LOCK (pid only): a process that started after the LOCK was written did not write it.
  if (holder.pid === process.pid) return false;
  const bootMs = readBootTimeMs();
  if (bootMs === undefined) return true;
  const startedMs = bootMs + (Number(info.startTime) * 1000) / USER_HZ;
  return startedMs <= lockMtimeMs + 1000;
}

function lockedError(dir: string, holder: LockHolder): StoreError {
  return new StoreError(
    'ERR_STORE_LOCKED',
    `store directory "${dir}" is in use by process ${holder.pid}; stop that broker first`,
    { context: { dir, pid: holder.pid } },
  );
}

/**
 * Takes the directory for this process; refuses (ERR_STORE_LOCKED) if another live process holds it.
 * A stale LOCK is moved aside with rename (atomic) and the new one created with O_EXCL; a process that
 * finds it moved a live holder's LOCK (two took over at once) puts it back and refuses.
 */
export async function takeDirLock(dir: string): Promise<void> {
  const path = join(dir, LOCK_FILE);
  const holder = currentHolder();
  for (let attempt = 0; attempt < 5; attempt++) {
    let handle: FileHandle;
    try {
      handle = await open(path, 'wx', 0o600);
    } catch (error) {
      if (errnoOf(error) !== 'EEXIST') throw error;
      let text: string;
      let mtimeMs: number;
      try {
        text = await readFile(path, 'utf8');
        mtimeMs = (await stat(path)).mtimeMs;
      } catch (readError) {
        if (errnoOf(readError) === 'ENOENT') continue; // released meanwhile
        throw readError;
      }
      const found = parseLockText(text);
      // An unparsable LOCK is a torn write of a process that died while creating it.
      if (found !== undefined && isHeldByOther(found, mtimeMs)) throw lockedError(dir, found);
      const aside = `${path}.stale-${process.pid}-${attempt}`;
      try {
        await rename(path, aside);
      } catch (renameError) {
        if (errnoOf(renameError) === 'ENOENT') continue; // another process moved it first
        throw renameError;
      }
      // Between our read and the rename another process may have replaced the stale LOCK with
      // its own: check what was moved, and put a live holder's LOCK back (link never overwrites).
      const moved = parseLockText(await readFile(aside, 'utf8').catch(() => ''));
      const movedMtimeMs = (await stat(aside).catch(() => undefined))?.mtimeMs ?? Date.now();
      if (moved !== undefined && isHeldByOther(moved, movedMtimeMs)) {
        await link(aside, path).catch(() => undefined);
        await unlink(aside).catch(() => undefined);
        throw lockedError(dir, moved);
      }
      await unlink(aside).catch(() => undefined);
      continue;
    }
    try {
      await handle.writeFile(`${JSON.stringify(holder)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fsyncDir(dir);
    return;
  }
  throw new StoreError('ERR_STORE_UNAVAILABLE', `cannot take the lock of store directory "${dir}"`);
}

/** Removes the LOCK if it is still ours (never another process's). */
export async function releaseDirLock(dir: string): Promise<void> {
  const path = join(dir, LOCK_FILE);
  const found = parseLockText(await readFile(path, 'utf8').catch(() => ''));
  const self = currentHolder();
  if (found !== undefined && (found.pid !== self.pid || found.startTime !== self.startTime)) return;
  await unlink(path).catch(() => undefined);
}
