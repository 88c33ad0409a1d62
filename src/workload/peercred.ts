// Loads the SO_PEERCRED addon (native/peercred.c, built at `npm ci`) that identifies the process
// on the other end of an accepted Unix socket. When it cannot load, `agent serve` refuses to start.
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { WorkloadError } from '../errors.js';
import { addonPath, requireAddon } from '../native.js';

/** The kernel's view of the peer at connect time (struct ucred). */
export interface PeerCred {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

export type PeerCredReader = (fd: number) => PeerCred;

/** The addon's reader; ERR_WORKLOAD_PEERCRED_UNAVAILABLE when it is missing or fails a self-check. */
export function loadPeerCred(path: string = addonPath('peercred')): PeerCredReader {
  if (process.platform !== 'linux') {
    throw new WorkloadError(
      'ERR_WORKLOAD_PEERCRED_UNAVAILABLE',
      `peer credentials need Linux (this is ${process.platform})`,
    );
  }
  if (!existsSync(path)) {
    throw new WorkloadError(
      'ERR_WORKLOAD_PEERCRED_UNAVAILABLE',
      `the peercred addon is not built ("${path}" is missing; run npm rebuild or npm ci with g++, make and python3 installed)`,
    );
  }
  try {
    const addon = requireAddon(path) as { getPeerCred?: unknown };
    if (typeof addon.getPeerCred !== 'function') throw new Error('getPeerCred is not exported');
    return addon.getPeerCred as PeerCredReader;
  } catch (cause) {
    throw new WorkloadError(
      'ERR_WORKLOAD_PEERCRED_UNAVAILABLE',
      `the peercred addon at "${path}" cannot load`,
      { cause },
    );
  }
}

/** The file descriptor of an accepted Unix socket (libuv's Pipe handle exposes it on POSIX). */
export function socketFd(socket: Socket): number {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } })._handle;
  const fd = handle?.fd;
  if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0) {
    throw new WorkloadError('ERR_WORKLOAD_ATTESTATION_FAILED', 'the socket has no file descriptor');
  }
  return fd;
}
