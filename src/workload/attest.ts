// Workload attestation from the kernel (WAPI-7): given SO_PEERCRED of the accepted socket, reads
// /proc/<pid> (exe path, groups, container id; the binary's sha256 only when asked) and
// /etc/passwd, /etc/group, and derives the unix:* and container:id selectors. Nothing the caller
// sends is used.
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { WorkloadError } from '../errors.js';
import type { PeerCred } from './peercred.js';
import { createGate } from './gate.js';
import type { Clock } from '../clock.js';
import type { WorkloadInfo } from './source.js';

/** What the agent knows about a caller; `selectors` are `type:value` strings. */
export interface WorkloadFacts extends WorkloadInfo {
  readonly selectors: ReadonlySet<string>;
  /** The binary needed hashing but its uid's hash budget was spent: no unix:sha256 this call. */
  readonly hashRefused?: true;
}

export interface AttestorOptions {
  /** Default `/proc`; tests may point elsewhere. */
  readonly procRoot?: string;
  /** Default `/etc`. */
  readonly etcRoot?: string;
  /** Largest binary hashed; a bigger one gets no unix:sha256 selector. Default 256 MiB. */
  readonly maxHashBytes?: number;
  /** Binaries hashed at once (other binaries wait; callers of the same one share). Default 2. */
  readonly maxConcurrentHashes?: number;
  /**
   * Hashes one uid may start at once (a cached hash costs nothing); then one more every
   * hashIntervalMs. Defaults 8 and 15 s: a caller that touches its binary before every call
   * makes the agent read at most 4 binaries a minute.
   */
  readonly hashBurstPerUid?: number;
  readonly hashIntervalMs?: number;
  readonly now?: Clock;
}

export interface AttestOptions {
  /**
   * Whether the binary's sha256 can matter, given the caller's other selectors (SPIRE hashes only
   * when configured to). Absent or false: the binary is not read and no unix:sha256 is derived.
   */
  readonly hashWhen?: (selectors: ReadonlySet<string>) => boolean;
}

/** Binary hashing so far: files whose hash began, hashes running now, most ever at once. */
export interface HashStats {
  readonly started: number;
  readonly active: number;
  readonly peakActive: number;
}

export interface Attestor {
  /** Start time of `pid` now, read synchronously (at accept time, before the peer can exit). */
  startTime(pid: number): string;
  /** Facts for the peer; throws ERR_WORKLOAD_PID_REUSED when `startTime` no longer matches. */
  attest(cred: PeerCred, startTime: string, options?: AttestOptions): Promise<WorkloadFacts>;
  /** For metrics and tests. */
  hashStats(): HashStats;
}

export const DEFAULT_MAX_HASH_BYTES = 256 * 1024 * 1024;
export const DEFAULT_MAX_CONCURRENT_HASHES = 2;
export const DEFAULT_HASH_BURST_PER_UID = 8;
export const DEFAULT_HASH_INTERVAL_MS = 15_000;
const HASH_CACHE_MAX = 1024;
const CONTAINER_ID = /(?:^|[/-])([0-9a-f]{64})(?:\.scope)?$/;

function failed(message: string, cause?: unknown): WorkloadError {
  return new WorkloadError(
    'ERR_WORKLOAD_ATTESTATION_FAILED',
    message,
    cause === undefined ? {} : { cause },
  );
}

/** Field 22 (starttime) of a /proc/<pid>/stat line; comm (field 2) may hold spaces and parens. */
export function parseStatStartTime(text: string): string {
  const close = text.lastIndexOf(')');
  if (close === -1) throw failed('malformed /proc stat');
  const rest = text
    .slice(close + 2)
    .trim()
    .split(' ');
  const value = rest[19]; // rest[0] is field 3 (state)
  if (value === undefined || !/^\d+$/.test(value)) throw failed('malformed /proc stat');
  return value;
}

/** name -> id maps of /etc/passwd or /etc/group (first match wins, as getpwuid). */
function parseIdFile(text: string): Map<number, string> {
  const map = new Map<number, string>();
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    const id = Number(fields[2]);
    const name = fields[0];
    if (name !== undefined && name !== '' && Number.isInteger(id) && !map.has(id)) {
      map.set(id, name);
    }
  }
  return map;
}

/** The container id of a cgroup file's paths (docker, containerd, cri-o, podman), or undefined. */
export function containerIdOf(cgroup: string): string | undefined {
  let found: string | undefined;
  for (const line of cgroup.split('\n')) {
    const path = line.split(':').slice(2).join(':');
    for (const segment of path.split('/')) {
      const match = CONTAINER_ID.exec(segment);
      if (match?.[1] !== undefined) found = match[1];
    }
  }
  return found;
}

async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** What /proc says about a process: its status, exe path (if visible) and cgroup. */
interface ProcessView {
  readonly status: string;
  readonly path: string | undefined;
  readonly cgroup: string;
}

function readProcess(proc: string, pid: number): ProcessView {
  const base = join(proc, String(pid));
  try {
    const status = readFileSync(join(base, 'status'), 'utf8');
    let path: string | undefined;
    try {
      path = readlinkSync(join(base, 'exe')).replace(/ \(deleted\)$/, '');
    } catch {
      // A process of another user may hide its exe from us; it simply gets no path/sha256.
      path = undefined;
    }
    let cgroup: string;
    try {
      cgroup = readFileSync(join(base, 'cgroup'), 'utf8');
    } catch {
      cgroup = '';
    }
    return { status, path, cgroup };
  } catch (error) {
    throw failed(`cannot read process ${pid}`, error);
  }
}

/** Every selector but unix:sha256, from the kernel's facts and the uid/gid name maps. */
function selectorsOf(
  cred: PeerCred,
  view: ProcessView,
  users: ReadonlyMap<number, string>,
  groups: ReadonlyMap<number, string>,
): Set<string> {
  const selectors = new Set<string>([`unix:uid:${cred.uid}`, `unix:gid:${cred.gid}`]);
  const user = users.get(cred.uid);
  if (user !== undefined) selectors.add(`unix:user:${user}`);
  // Supplementary groups count as group membership, like the primary one.
  const groupsLine = /^Groups:\s*(.*)$/m.exec(view.status)?.[1] ?? '';
  const gids = [
    cred.gid,
    ...groupsLine
      .split(/\s+/)
      .filter((g) => /^\d+$/.test(g))
      .map(Number),
  ];
  for (const gid of gids) {
    selectors.add(`unix:gid:${gid}`);
    const name = groups.get(gid);
    if (name !== undefined) selectors.add(`unix:group:${name}`);
  }
  if (view.path !== undefined && view.path.startsWith('/')) {
    selectors.add(`unix:path:${view.path}`);
  }
  const container = containerIdOf(view.cgroup);
  if (container !== undefined) selectors.add(`container:id:${container}`);
  return selectors;
}

/** Per-uid token buckets: `take(uid)` is false when the uid's budget is spent. */
function createBudget(
  burst: number,
  intervalMs: number,
  now: Clock,
): { take(uid: number): boolean } {
  const buckets = new Map<number, { tokens: number; at: number }>();
  return {
    take(uid) {
      const at = now();
      const bucket = buckets.get(uid) ?? { tokens: burst, at };
      const tokens = Math.min(burst, bucket.tokens + (at - bucket.at) / intervalMs);
      if (tokens < 1) return false;
      // Past 10,000 uids the buckets start over (each uid gets its burst again).
      if (buckets.size >= 10_000) buckets.clear();
      buckets.set(uid, { tokens: tokens - 1, at });
      return true;
    },
  };
}

/** Returned by the hasher when the caller's uid may start no hash now. */
const BUDGET_SPENT = Symbol('hash budget spent');

/** sha256 of a process's running binary, cached by device, inode, size and mtime. */
function createBinaryHasher(
  proc: string,
  options: AttestorOptions,
): {
  hash(pid: number, uid: number): Promise<string | undefined | typeof BUDGET_SPENT>;
  stats(): HashStats;
} {
  const maxHashBytes = options.maxHashBytes ?? DEFAULT_MAX_HASH_BYTES;
  const gate = createGate(options.maxConcurrentHashes ?? DEFAULT_MAX_CONCURRENT_HASHES);
  const budget = createBudget(
    options.hashBurstPerUid ?? DEFAULT_HASH_BURST_PER_UID,
    options.hashIntervalMs ?? DEFAULT_HASH_INTERVAL_MS,
    options.now ?? Date.now,
  );
  const hashes = new Map<string, string>();
  const hashing = new Map<string, Promise<string>>();
  let started = 0;

  async function hash(pid: number, uid: number): Promise<string | undefined | typeof BUDGET_SPENT> {
    const exe = join(proc, String(pid), 'exe');
    const info = statSync(exe);
    if (info.size > maxHashBytes) return undefined;
    const key = `${info.dev}:${info.ino}:${info.size}:${info.mtimeMs}`;
    const cached = hashes.get(key);
    if (cached !== undefined) return cached;
    // One hash per binary at a time: concurrent first calls share it (1,000 callers of a
    // 100 MB binary would otherwise read it 1,000 times); and only a few binaries at once, so
    // callers with many distinct binaries cannot start many large reads together. Each uid
    // may start only a few (a touch changes the key: review 10 F5).
    let pending = hashing.get(key);
    if (pending === undefined) {
      if (!budget.take(uid)) return BUDGET_SPENT;
      pending = gate
        .run(() => {
          started++;
          return hashFile(exe);
        })
        .finally(() => hashing.delete(key));
      hashing.set(key, pending);
    }
    const digest = await pending;
    if (hashes.size >= HASH_CACHE_MAX) hashes.delete(hashes.keys().next().value as string);
    hashes.set(key, digest);
    return digest;
  }

  return { hash, stats: () => ({ started, ...gate.stats() }) };
}

export function createAttestor(options: AttestorOptions = {}): Attestor {
  const proc = options.procRoot ?? '/proc';
  const etc = options.etcRoot ?? '/etc';
  const hasher = createBinaryHasher(proc, options);
  let passwd: { mtimeMs: number; map: Map<number, string> } | undefined;
  let group: { mtimeMs: number; map: Map<number, string> } | undefined;

  // /proc and /etc reads are small, memory-backed and synchronous: cheaper than a thread-pool hop.
  function idNames(
    file: string,
    cached: { mtimeMs: number; map: Map<number, string> } | undefined,
  ): { mtimeMs: number; map: Map<number, string> } {
    try {
      const info = statSync(file);
      if (cached !== undefined && cached.mtimeMs === info.mtimeMs) return cached;
      return { mtimeMs: info.mtimeMs, map: parseIdFile(readFileSync(file, 'utf8')) };
    } catch {
      return { mtimeMs: -1, map: new Map() };
    }
  }

  function startTime(pid: number): string {
    try {
      return parseStatStartTime(readFileSync(join(proc, String(pid), 'stat'), 'utf8'));
    } catch (error) {
      if (error instanceof WorkloadError) throw error;
      throw failed(`cannot read process ${pid}`, error);
    }
  }

  async function attest(
    cred: PeerCred,
    expectedStart: string,
    attestOptions: AttestOptions = {},
  ): Promise<WorkloadFacts> {
    const view = readProcess(proc, cred.pid);
    passwd = idNames(join(etc, 'passwd'), passwd);
    group = idNames(join(etc, 'group'), group);
    const selectors = selectorsOf(cred, view, passwd.map, group.map);
    let sha256: string | undefined;
    let hashRefused = false;
    // The binary is read only when an entry could need its hash (a local user can make a
    // huge one); unreadable or over maxHashBytes, it gets no unix:sha256 selector.
    if (view.path !== undefined && attestOptions.hashWhen?.(selectors) === true) {
      const hashed = await hasher.hash(cred.pid, cred.uid).catch(() => undefined);
      if (hashed === BUDGET_SPENT) hashRefused = true;
      else sha256 = hashed;
    }
    // Everything above is about whatever process holds the pid now: it must still be the caller.
    if (startTime(cred.pid) !== expectedStart) {
      throw new WorkloadError(
        'ERR_WORKLOAD_PID_REUSED',
        `process ${cred.pid} is not the process that connected`,
      );
    }
    if (sha256 !== undefined) selectors.add(`unix:sha256:${sha256}`);
    return {
      pid: cred.pid,
      uid: cred.uid,
      gid: cred.gid,
      startTime: expectedStart,
      ...(view.path === undefined ? {} : { path: view.path }),
      ...(sha256 === undefined ? {} : { sha256 }),
      ...(hashRefused ? { hashRefused } : {}),
      selectors,
    };
  }

  return { startTime, attest, hashStats: hasher.stats };
}

/** This boot's id (/proc/sys/kernel/random/boot_id): an instance id never survives a reboot. */
export function readBootId(procRoot = '/proc'): string {
  try {
    return readFileSync(join(procRoot, 'sys', 'kernel', 'random', 'boot_id'), 'utf8').trim();
  } catch (cause) {
    throw failed('cannot read the boot id', cause);
  }
}
