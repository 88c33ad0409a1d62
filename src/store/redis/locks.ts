// The Redis store's leases (FED-43): owner-checked scripts on one key each, with PX expiry. An acquire
// carries a deadline on the server's own clock so it never takes effect after its caller gave up.
import { checkTtlMs } from '../records.js';
import type { Locks } from '../store.js';
import type { RedisContext } from './scan.js';
import { ACQUIRE_LOCK, RELEASE_LOCK, RENEW_LOCK } from './scripts.js';

/** Best effort, in the background: queued behind the failed acquire on the same connection. */
function releaseAfterFailedAcquire({ conn }: RedisContext, key: string, owner: string): void {
  if (conn.closed) return;
  conn
    .call('release lock', () => conn.run(RELEASE_LOCK, [key], [owner]))
    .catch((error: unknown) => {
      conn.settings.logger?.warn?.('store: could not release a lock after a failed acquire', {
        error: String(error),
      });
    });
}

export function redisLocks(context: RedisContext): Locks {
  const { conn, keys } = context;
  return {
    acquireLock: async (name, owner, ttlMs) => {
      const key = keys.lock(name);
      checkTtlMs(ttlMs);
      // A lock can never outlive its request: the acquire carries a deadline on the server's own
      // clock (RedisConnection.runBeforeDeadline) and the script refuses to run after it; a failed
      // call also releases, in case the answer was only lost on the way back.
      try {
        const answer = await conn.call('acquire lock', () =>
          conn.runBeforeDeadline(ACQUIRE_LOCK, [key], [owner, ttlMs]),
        );
        return answer === 1;
      } catch (error) {
        releaseAfterFailedAcquire(context, key, owner);
        throw error;
      }
    },
    renewLock: async (name, owner, ttlMs) => {
      const key = keys.lock(name);
      checkTtlMs(ttlMs);
      return (
        (await conn.call('renew lock', () =>
          conn.runBeforeDeadline(RENEW_LOCK, [key], [owner, ttlMs]),
        )) === 1
      );
    },
    releaseLock: async (name, owner) => {
      const key = keys.lock(name);
      return (await conn.call('release lock', () => conn.run(RELEASE_LOCK, [key], [owner]))) === 1;
    },
    lockHolder: async (name) => {
      const key = keys.lock(name);
      return (await conn.call('read lock', () => conn.client.get(key))) ?? undefined;
    },
  };
}
