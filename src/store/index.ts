// Public surface of the store room: the ports, the records, and createStore choosing the backend
// (file/: the embedded store; redis/: the shared one, the only files that import ioredis).
import type { Clock } from '../clock.js';
import { StoreError } from '../errors.js';
import { createFileStore, type FileStoreOptions } from './file/file-store.js';
import { createRedisStore, type RedisStoreOptions } from './redis/redis-store.js';
import type { AuditTrimBuilder, Store, StoreLogger } from './store.js';

export type {
  AccessCollection,
  AccessStore,
  AuditDraft,
  AuditLog,
  AuditQuery,
  AuditRecord,
  AuditTrim,
  AuditTrimBuilder,
  BundleInput,
  BundleStore,
  EntryStore,
  ExpectedVersion,
  JsonObject,
  LocalBundleInput,
  LocalBundleRecord,
  LocalBundleStore,
  Locks,
  NotificationHandler,
  Notifications,
  PutBundleOptions,
  PutBundleResult,
  RefreshStatusStore,
  RelationshipStore,
  ReplicaAuthorityStore,
  Store,
  StoredAuditPage,
  StoredBundle,
  StoreLogger,
  TokenInput,
  TokenRecord,
  TokenStore,
  Versioned,
} from './store.js';
export { CHANNELS, DEFAULT_AUDIT_MAX_LENGTH, DEFAULT_HISTORY_LIMIT } from './store.js';
export { DEFAULT_KEY_PREFIX, createStoreKeys } from './keys.js';
export type { StoreKeys } from './keys.js';
export { compareSequences, digestOf, isCanonicalSequence } from './records.js';
export { createFileStore } from './file/file-store.js';
export type { FileStoreDeps, FileStoreOptions } from './file/file-store.js';
export { createRedisStore } from './redis/redis-store.js';
export type { RedisStoreDeps, RedisStoreOptions } from './redis/redis-store.js';

/** Which store to open: the embedded file store (default) or Redis. */
export type StoreOptions =
  ({ readonly kind: 'file' } & FileStoreOptions) | ({ readonly kind: 'redis' } & RedisStoreOptions);

export interface StoreDeps {
  readonly logger: StoreLogger;
  readonly now?: Clock;
  /** Makes every trim past the audit cap an `audit.trimmed` event (the audit room's builder). */
  readonly auditTrimmed?: AuditTrimBuilder;
}

/** Opens the configured store; the store logs which backend (and target) is in use. */
export async function createStore(options: StoreOptions, deps: StoreDeps): Promise<Store> {
  switch (options.kind) {
    case 'file': {
      const { kind: _kind, ...fileOptions } = options;
      return createFileStore(fileOptions, deps);
    }
    case 'redis': {
      const { kind: _kind, ...redisOptions } = options;
      return createRedisStore(redisOptions, deps);
    }
    default:
      throw new StoreError(
        'ERR_STORE_CONFIG',
        `unknown store kind ${JSON.stringify((options as { kind?: unknown }).kind)}`,
      );
  }
}
