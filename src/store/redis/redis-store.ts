// The shared store for several replicas, on ioredis (only the files of src/store/redis/ import it):
// standalone, Sentinel or Cluster. Atomic updates are Lua scripts (scripts.ts); every ioredis failure
// becomes ERR_STORE_UNAVAILABLE, fast (connection.ts). Lists use SCAN per master, never KEYS; audit is
// a capped stream; notifications are pub/sub. This file checks the options, connects and composes.
import type { Clock } from '../../clock.js';
import { StoreError } from '../../errors.js';
import { createStoreKeys } from '../keys.js';
import {
  DEFAULT_AUDIT_MAX_LENGTH,
  DEFAULT_HISTORY_LIMIT,
  type AuditTrimBuilder,
  type Store,
  type StoreLogger,
} from '../store.js';
import { redisAuditLog } from './audit.js';
import { redisBundleStore } from './bundles.js';
import { buildClient, type Client, type RedisStoreOptions } from './client.js';
import { connectRedis } from './connection.js';
import { redisObjectStore, redisTokenStore } from './keyed.js';
import { redisLocks } from './locks.js';
import { RedisPubSub } from './pubsub.js';
import type { RedisContext } from './scan.js';
import { redisVersionedStore } from './versioned.js';

export type { RedisStoreOptions } from './client.js';

export interface RedisStoreDeps {
  readonly logger?: StoreLogger;
  /** Clock used only to set Redis-side expiry of tokens (garbage collection). */
  readonly now?: Clock;
  /**
   * Records every trim past auditMaxLength as an `audit.trimmed` event, trimming exactly (XTRIM
   * MINID) in the same script as the append; without it the stream is capped silently (MAXLEN ~).
   */
  readonly auditTrimmed?: AuditTrimBuilder;
}

const DEFAULT_COMMAND_TIMEOUT_MS = 2000;
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const DEFAULT_MAX_COMMANDS_IN_FLIGHT = 10_000;

/**
 * Connects to Redis and returns the store. Waits up to `connectTimeoutMs` for the first connection
 * (`ERR_STORE_UNAVAILABLE` after that); later outages are survived by reconnecting in the background.
 */
export async function createRedisStore(
  options: RedisStoreOptions,
  deps: RedisStoreDeps = {},
): Promise<Store> {
  const keys = createStoreKeys(options.keyPrefix);
  const commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const maxCommandsInFlight = options.maxCommandsInFlight ?? DEFAULT_MAX_COMMANDS_IN_FLIGHT;
  const historyLimit = options.historyLimit ?? DEFAULT_HISTORY_LIMIT;
  const auditMax = options.auditMaxLength ?? DEFAULT_AUDIT_MAX_LENGTH;
  for (const [name, value] of Object.entries({
    commandTimeoutMs,
    connectTimeoutMs,
    maxCommandsInFlight,
    historyLimit,
    auditMaxLength: auditMax,
  })) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new StoreError('ERR_STORE_CONFIG', `${name} must be a positive integer`);
    }
  }
  const logger = deps.logger;
  const built = buildClient(options, commandTimeoutMs, connectTimeoutMs);
  const conn = await connectRedis(built, {
    commandTimeoutMs,
    maxCommandsInFlight,
    connectTimeoutMs,
    logger,
  });
  logger?.info('store: redis', { mode: conn.mode, target: conn.target, keyPrefix: keys.prefix });

  const context: RedisContext = { conn, keys };
  const pubsub = new RedisPubSub(context);
  return {
    kind: 'redis',
    ...redisBundleStore(context, historyLimit),
    ...redisVersionedStore(context),
    ...redisTokenStore(context, deps.now ?? Date.now),
    ...redisAuditLog(context, { auditMax, auditTrimmed: deps.auditTrimmed }),
    ...redisObjectStore(context),
    ...redisLocks(context),
    publish: (channel, message) => pubsub.publish(channel, message),
    subscribe: (channel, handler) => pubsub.subscribe(channel, handler),

    ping: async () => {
      await conn.call('ping', () => conn.client.ping());
    },

    close: async () => {
      if (conn.closed) return;
      conn.closed = true;
      const connections: Client[] = [conn.client];
      const sub = await pubsub.openedConnection();
      if (sub !== undefined) connections.push(sub);
      await conn.quit(connections);
    },
  };
}
