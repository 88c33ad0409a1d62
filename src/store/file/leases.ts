// The file store's leases (FED-43 one-replica-at-a-time work): held in memory only, since one process
// owns the directory; taken at once, so a call cannot fail after taking one.
import type { Clock } from '../../clock.js';
import { checkKeyComponent } from '../keys.js';
import { checkTtlMs } from '../records.js';
import type { Locks } from '../store.js';

interface Lease {
  readonly owner: string;
  readonly expiresAtMs: number;
}

export interface FileLeases {
  readonly locks: Locks;
  /** Forgets every lease (on close). */
  clear(): void;
}

export function fileLeases(nowMs: Clock, checkOpen: () => void): FileLeases {
  const leases = new Map<string, Lease>();

  function leaseOf(name: string): Lease | undefined {
    const lease = leases.get(name);
    if (lease !== undefined && lease.expiresAtMs <= nowMs()) {
      leases.delete(name);
      return undefined;
    }
    return lease;
  }

  const locks: Locks = {
    acquireLock: async (name, owner, ttlMs) => {
      checkKeyComponent('lock name', name);
      checkTtlMs(ttlMs);
      checkOpen();
      const lease = leaseOf(name);
      if (lease !== undefined && lease.owner !== owner) return false;
      leases.set(name, { owner, expiresAtMs: nowMs() + ttlMs });
      return true;
    },
    renewLock: async (name, owner, ttlMs) => {
      checkKeyComponent('lock name', name);
      checkTtlMs(ttlMs);
      checkOpen();
      if (leaseOf(name)?.owner !== owner) return false;
      leases.set(name, { owner, expiresAtMs: nowMs() + ttlMs });
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
  };
  return { locks, clear: () => leases.clear() };
}
