// Workload attestation from the kernel (WAPI-7): given SO_PEERCRED of the accepted socket, reads
// /proc/<pid> (exe path and binary sha256, groups, container id) and /etc/passwd, /etc/group, and
// derives the unix:* and container:id selectors. Nothing the caller sends is used.
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { WorkloadError } from '../errors.js';
import type { PeerCred } from './peercred.js';
import type { WorkloadInfo } from './source.js';

/** What the agent knows about a caller; `selectors` are `type:value` strings. */
export interface WorkloadFacts extends WorkloadInfo {
  readonly selectors: ReadonlySet<string>;
}

export interface AttestorOptions {
  /** Default `/proc`; tests may point elsewhere. */
  readonly procRoot?: string;
  /** Default `/etc`. */
  readonly etcRoot?: string;
  /** Largest binary hashed; a bigger one gets no unix:sha256 selector. Default 1 GiB. */
  readonly maxHashBytes?: number;
}

export interface Attestor {
  /** Start time of `pid` now, read synchronously (at accept time, before the peer can exit). */
  startTime(pid: number): string;
  /** Facts for the peer; throws ERR_WORKLOAD_PID_REUSED when `startTime` no longer matches. */
  attest(cred: PeerCred, startTime: string): Promise<WorkloadFacts>;
}

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

export function createAttestor(options: AttestorOptions = {}): Attestor {
  const proc = options.procRoot ?? '/proc';
  const etc = options.etcRoot ?? '/etc';
  const maxHashBytes = options.maxHashBytes ?? 1024 * 1024 * 1024;
  const hashes = new Map<string, string>();
  const hashing = new Map<string, Promise<string>>();
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

  /** sha256 of the running binary, cached by device, inode, size and mtime. */
  async function binaryHash(pid: number): Promise<string | undefined> {
    const exe = join(proc, String(pid), 'exe');
    const info = statSync(exe);
    if (info.size > maxHashBytes) return undefined;
    const key = `${info.dev}:${info.ino}:${info.size}:${info.mtimeMs}`;
    const cached = hashes.get(key);
    if (cached !== undefined) return cached;
    // One hash per binary at a time: concurrent first calls share it (1,000 callers of a
    // 100 MB binary would otherwise read it 1,000 times).
    let pending = hashing.get(key);
    if (pending === undefined) {
      pending = hashFile(exe).finally(() => hashing.delete(key));
      hashing.set(key, pending);
    }
    const digest = await pending;
    if (hashes.size >= HASH_CACHE_MAX) hashes.delete(hashes.keys().next().value as string);
    hashes.set(key, digest);
    return digest;
  }

  function startTime(pid: number): string {
    try {
      return parseStatStartTime(readFileSync(join(proc, String(pid), 'stat'), 'utf8'));
    } catch (error) {
      if (error instanceof WorkloadError) throw error;
      throw failed(`cannot read process ${pid}`, error);
    }
  }

  async function attest(cred: PeerCred, expectedStart: string): Promise<WorkloadFacts> {
    const base = join(proc, String(cred.pid));
    let path: string | undefined;
    let sha256: string | undefined;
    let status: string;
    let cgroup: string;
    try {
      status = readFileSync(join(base, 'status'), 'utf8');
      try {
        path = readlinkSync(join(base, 'exe')).replace(/ \(deleted\)$/, '');
        sha256 = await binaryHash(cred.pid);
      } catch {
        // A process of another user may hide its exe from us; it simply gets no path/sha256.
        path = undefined;
        sha256 = undefined;
      }
      try {
        cgroup = readFileSync(join(base, 'cgroup'), 'utf8');
      } catch {
        cgroup = '';
      }
    } catch (error) {
      throw failed(`cannot read process ${cred.pid}`, error);
    }
    // Everything above is about whatever process holds the pid now: it must still be the caller.
    if (startTime(cred.pid) !== expectedStart) {
      throw new WorkloadError(
        'ERR_WORKLOAD_PID_REUSED',
        `process ${cred.pid} is not the process that connected`,
      );
    }
    passwd = idNames(join(etc, 'passwd'), passwd);
    group = idNames(join(etc, 'group'), group);
    const selectors = new Set<string>([`unix:uid:${cred.uid}`, `unix:gid:${cred.gid}`]);
    const user = passwd.map.get(cred.uid);
    if (user !== undefined) selectors.add(`unix:user:${user}`);
    // Supplementary groups count as group membership, like the primary one.
    const groupsLine = /^Groups:\s*(.*)$/m.exec(status)?.[1] ?? '';
    const gids = [
      cred.gid,
      ...groupsLine
        .split(/\s+/)
        .filter((g) => /^\d+$/.test(g))
        .map(Number),
    ];
    for (const gid of gids) {
      selectors.add(`unix:gid:${gid}`);
      const name = group.map.get(gid);
      if (name !== undefined) selectors.add(`unix:group:${name}`);
    }
    if (path !== undefined && path.startsWith('/')) selectors.add(`unix:path:${path}`);
    if (sha256 !== undefined) selectors.add(`unix:sha256:${sha256}`);
    const container = containerIdOf(cgroup);
    if (container !== undefined) selectors.add(`container:id:${container}`);
    return {
      pid: cred.pid,
      uid: cred.uid,
      gid: cred.gid,
      startTime: expectedStart,
      ...(path === undefined ? {} : { path }),
      ...(sha256 === undefined ? {} : { sha256 }),
      selectors,
    };
  }

  return { startTime, attest };
}

/** This boot's id (/proc/sys/kernel/random/boot_id): an instance id never survives a reboot. */
export function readBootId(procRoot = '/proc'): string {
  try {
    return readFileSync(join(procRoot, 'sys', 'kernel', 'random', 'boot_id'), 'utf8').trim();
  } catch (cause) {
    throw failed('cannot read the boot id', cause);
  }
}
