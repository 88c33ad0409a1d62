// The store ports: narrow interfaces the domain rooms depend on, and the records they exchange.
// Stores keep bytes and metadata only; they never parse bundles (FED-30, FED-31).

import type { Logger } from '../log.js';

/** A plain JSON object as read back from the store; domain rooms validate its shape. */
export type JsonObject = { readonly [key: string]: unknown };

/** One stored bundle of one trust domain: the raw document plus what the broker knows about it (FED-31). */
export interface StoredBundle {
  /** Bare trust domain name; the bundle document never names it (BUNDLE-1, FED-30). */
  readonly trustDomain: string;
  /** The SPIFFE bundle JSON text exactly as fetched or published. */
  readonly raw: string;
  /** `spiffe_sequence` as a canonical decimal string (lossless 64-bit, BUNDLE-4), or null when absent. */
  readonly sequence: string | null;
  /** Lowercase hex SHA-256 of the UTF-8 bytes of `raw`; computed by the store. */
  readonly digest: string;
  /** When the document was fetched (or set by hand), ms since the epoch. */
  readonly fetchedAt: number;
  /** Where it came from; null for a bundle set by an operator (FED-33). */
  readonly sourceUrl: string | null;
  /** `spiffe_refresh_hint` in seconds, or null (BUNDLE-5, FED-40). */
  readonly refreshHintSeconds: number | null;
  /**
   * The highest `spiffe_sequence` ever accepted for this trust domain (null: none yet), kept across
   * sequence-less bundles so they cannot open a rollback (stricter FED-32). Set by the store;
   * absent on records written before it existed (their `sequence` stands in).
   */
  readonly highestSequence?: string | null;
}

/** What a caller hands to `putBundle`; the store adds the digest and the highest sequence. */
export type BundleInput = Omit<StoredBundle, 'digest' | 'highestSequence'>;

export interface PutBundleOptions {
  /**
   * Apply even when the sequence is lower than the highest accepted one (operator override,
   * FED-32); the highest sequence is then reset to the forced bundle's (e.g. after a partner reset).
   */
  readonly force?: boolean;
}

/**
 * Result of `putBundle`. `unchanged`: same sequence and same bytes, nothing written (FED-32).
 * `sameSequenceChanged` flags an equal sequence with different content: applied, but a partner anomaly.
 */
export interface PutBundleResult {
  readonly outcome: 'created' | 'replaced' | 'unchanged';
  /** The record now current for the trust domain. */
  readonly current: StoredBundle;
  /** The record that was current before the call, if any. */
  readonly previous: StoredBundle | undefined;
  readonly sameSequenceChanged: boolean;
}

/** Current bundle per trust domain plus its last N versions (FED-30..35). */
export interface BundleStore {
  getBundle(trustDomain: string): Promise<StoredBundle | undefined>;
  /**
   * Atomically compares the sequence and writes current bundle, history and metadata together.
   * A lower sequence than the highest ever accepted (`highestSequence`, kept across sequence-less
   * bundles) throws `ERR_STORE_STALE_SEQUENCE` unless `force` (FED-32, stricter reading).
   */
  putBundle(input: BundleInput, options?: PutBundleOptions): Promise<PutBundleResult>;
  /** Removes the current bundle and its history; false when there was none. */
  deleteBundle(trustDomain: string): Promise<boolean>;
  listBundles(): Promise<StoredBundle[]>;
  /** Written versions, newest first (the first is the current one), at most the configured limit. */
  bundleHistory(trustDomain: string): Promise<StoredBundle[]>;
}

/** A JSON record with the version the store gave it; versions start at 1 and grow by one per write. */
export interface Versioned {
  readonly value: JsonObject;
  readonly version: number;
}

/** `null`: the record must not exist yet. `'any'`: unconditional write. A number: compare-and-set. */
export type ExpectedVersion = number | null | 'any';

/**
 * Federation relationships keyed by trust domain, with compare-and-set so concurrent admin edits
 * never silently overwrite each other (a mismatch throws `ERR_STORE_CONFLICT`).
 */
export interface RelationshipStore {
  getRelationship(trustDomain: string): Promise<Versioned | undefined>;
  listRelationships(): Promise<Versioned[]>;
  /** Writes `value` (a JSON-serialisable plain object) and returns the new version. */
  putRelationship(trustDomain: string, value: object, expected: ExpectedVersion): Promise<number>;
  /** False when absent; `ERR_STORE_CONFLICT` when present with another version. */
  deleteRelationship(trustDomain: string, expected: number | 'any'): Promise<boolean>;
}

/** Our own published bundle: bytes plus a sequence that never goes backwards (FED-50). */
export interface LocalBundleRecord {
  readonly raw: string;
  /** Canonical decimal `spiffe_sequence` of `raw`. */
  readonly sequence: string;
  readonly digest: string;
  readonly publishedAt: number;
}

export type LocalBundleInput = Omit<LocalBundleRecord, 'digest'>;

export interface LocalBundleStore {
  getLocalBundle(): Promise<LocalBundleRecord | undefined>;
  /**
   * Stores only a higher sequence than the stored one. The same sequence with the same bytes is an
   * idempotent no-op (`unchanged`); anything else throws `ERR_STORE_STALE_SEQUENCE`.
   */
  putLocalBundle(input: LocalBundleInput): Promise<'written' | 'unchanged'>;
}

/** Registration entries by id, with the same compare-and-set as relationships. */
export interface EntryStore {
  getEntry(id: string): Promise<Versioned | undefined>;
  listEntries(): Promise<(Versioned & { readonly id: string })[]>;
  putEntry(id: string, value: object, expected: ExpectedVersion): Promise<number>;
  deleteEntry(id: string, expected: number | 'any'): Promise<boolean>;
}

/** Collections of the access room: named admins (by name) and console sessions (by hash of the cookie). */
export type AccessCollection = 'admin' | 'session';

/** Admin and session records, with the same compare-and-set as relationships; values opaque here. */
export interface AccessStore {
  getAccess(collection: AccessCollection, id: string): Promise<Versioned | undefined>;
  listAccess(collection: AccessCollection): Promise<(Versioned & { readonly id: string })[]>;
  putAccess(
    collection: AccessCollection,
    id: string,
    value: object,
    expected: ExpectedVersion,
  ): Promise<number>;
  deleteAccess(
    collection: AccessCollection,
    id: string,
    expected: number | 'any',
  ): Promise<boolean>;
}

/** A one-time token, stored by the hash of its secret (never the secret itself). */
export interface TokenRecord {
  readonly hash: string;
  /** ms since the epoch; at or after this instant the token is not consumable. */
  readonly expiresAt: number;
  /** What the token grants; opaque to the store. */
  readonly data: JsonObject;
}

export interface TokenInput {
  readonly hash: string;
  readonly expiresAt: number;
  readonly data: object;
}

export interface TokenStore {
  /** Stores a new token; `ERR_STORE_CONFLICT` if the hash is already present. */
  putToken(input: TokenInput): Promise<void>;
  /** The token if it is there and not expired at `now`, left in place (not consumed). */
  readToken(hash: string, now: number): Promise<TokenRecord | undefined>;
  /** One-time use: exactly one concurrent caller gets the record; expired tokens give undefined. */
  consumeToken(hash: string, now: number): Promise<TokenRecord | undefined>;
  deleteToken(hash: string): Promise<boolean>;
  /** Tokens not yet expired at `now`. */
  listTokens(now: number): Promise<TokenRecord[]>;
}

/** One audit event. The store assigns `id` (1, 2, 3, ...); the audit room computes the hashes. */
export interface AuditRecord {
  readonly id: number;
  /** ms since the epoch. */
  readonly time: number;
  readonly type: string;
  readonly actor: string;
  readonly trustDomain: string | null;
  readonly data: JsonObject;
  readonly previousHash: string | null;
  readonly hash: string;
}

export interface AuditDraft {
  readonly time: number;
  readonly type: string;
  readonly actor: string;
  readonly trustDomain: string | null;
  readonly data: object;
  readonly previousHash: string | null;
  readonly hash: string;
}

export interface AuditQuery {
  /** Inclusive starting id; defaults to the oldest (forward) or newest (backward) record. */
  readonly fromId?: number;
  /** Maximum number of records returned (1..10000). */
  readonly limit: number;
  /** `forward` (default): ascending ids. `backward`: newest first. */
  readonly direction?: 'forward' | 'backward';
  readonly type?: string;
  readonly actor?: string;
  readonly trustDomain?: string;
  /** Inclusive lower bound on `time`. */
  readonly sinceMs?: number;
  /** Exclusive upper bound on `time`. */
  readonly untilMs?: number;
}

/** What an `audit.trimmed` record says: the oldest records dropped to stay within the audit cap. */
export interface AuditTrim {
  /** How many records were dropped: ids `fromId..toId`. */
  readonly count: number;
  readonly fromId: number;
  readonly toId: number;
  /** Hash of record `toId`: the next kept record's previousHash, so the cut is checkable. */
  readonly lastTrimmedHash: string;
}

/**
 * Builds the `audit.trimmed` record that follows `previous` (the audit room hashes it). With one, a
 * store never trims silently: every trim appends this record in the same atomic write.
 */
export type AuditTrimBuilder = (previous: AuditRecord, id: number, trim: AuditTrim) => AuditDraft;

/** One page of the audit records as stored (disk segments, the Redis stream), never a cache. */
export interface StoredAuditPage {
  readonly records: AuditRecord[];
  /**
   * A stored record that cannot be read (bad checksum, not JSON, no id): reading stops there.
   * `afterId` is the id of the last readable record before it (0 when none).
   */
  readonly unreadable?: { readonly afterId: number; readonly where: string };
}

export interface AuditLog {
  /**
   * Appends the record `build` makes from the current last record and the id it will get. Atomic
   * against concurrent appenders: `build` may run again if another appender won the race.
   */
  appendAudit(
    build: (previous: AuditRecord | undefined, id: number) => AuditDraft,
  ): Promise<AuditRecord>;
  lastAudit(): Promise<AuditRecord | undefined>;
  listAudit(query: AuditQuery): Promise<AuditRecord[]>;
  /**
   * Reads up to `limit` records with id >= `fromId`, oldest first, from what is stored now (the
   * file store's segment files, Redis' stream), for `audit verify`: an edit made on disk shows.
   */
  readStoredAudit(fromId: number, limit: number): Promise<StoredAuditPage>;
}

/** Per-partner refresh status (next due time, last result), shared between replicas (FED-43). */
export interface RefreshStatusStore {
  getRefreshStatus(trustDomain: string): Promise<JsonObject | undefined>;
  putRefreshStatus(trustDomain: string, status: object): Promise<void>;
  deleteRefreshStatus(trustDomain: string): Promise<boolean>;
  listRefreshStatuses(): Promise<{ readonly trustDomain: string; readonly status: JsonObject }[]>;
}

/**
 * Each replica's published CA authorities (public parts only, never keys), so that every replica
 * serves one bundle holding the union of them all (as SPIRE does for HA). Values are opaque here.
 */
export interface ReplicaAuthorityStore {
  putReplicaAuthorities(replicaId: string, value: object): Promise<void>;
  deleteReplicaAuthorities(replicaId: string): Promise<boolean>;
  listReplicaAuthorities(): Promise<{ readonly replicaId: string; readonly value: JsonObject }[]>;
}

/** Leases with a TTL for one-replica-at-a-time work (FED-43). Every change is owner-checked. */
export interface Locks {
  /**
   * True if `owner` now holds the lease (also when it already held it: the TTL restarts). A call
   * that rejects leaves `owner` not holding it: a lease never outlives the request that asked for it
   * (Redis: the request carries a deadline checked on the server, and a failed call releases; file
   * store: the lease is taken in memory at once, so the call cannot fail after taking it).
   */
  acquireLock(name: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Extends the lease only if `owner` still holds it. */
  renewLock(name: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Releases only if `owner` holds it. */
  releaseLock(name: string, owner: string): Promise<boolean>;
  lockHolder(name: string): Promise<string | undefined>;
}

export type NotificationHandler = (message: string) => void;

/**
 * Change notifications between replicas (fire and forget: a replica that was disconnected misses
 * them and must re-read). Channels are logical names, see `CHANNELS`.
 */
export interface Notifications {
  publish(channel: string, message: string): Promise<void>;
  /** Resolves once the subscription is active; the returned function unsubscribes. */
  subscribe(channel: string, handler: NotificationHandler): Promise<() => Promise<void>>;
}

/** Logical notification channel names (the store adds its key prefix). */
export const CHANNELS = {
  bundleChanged: (trustDomain: string): string => `bundle-changed:${trustDomain}`,
  relationshipChanged: 'relationship-changed',
  localBundleChanged: 'local-bundle-changed',
  entryChanged: 'entry-changed',
} as const;

/** Every port in one object: pass it wherever a narrow port is expected. */
export interface Store
  extends
    BundleStore,
    RelationshipStore,
    LocalBundleStore,
    EntryStore,
    AccessStore,
    TokenStore,
    AuditLog,
    RefreshStatusStore,
    ReplicaAuthorityStore,
    Locks,
    Notifications {
  readonly kind: 'file' | 'redis';
  /** Resolves when the backing storage answers; `ERR_STORE_UNAVAILABLE` otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Where the store says which backend it uses and reports connection changes. */
export type StoreLogger = Pick<Logger, 'info'> & Partial<Pick<Logger, 'warn'>>;

export const DEFAULT_HISTORY_LIMIT = 10;
export const DEFAULT_AUDIT_MAX_LENGTH = 100_000;
export const MAX_AUDIT_QUERY_LIMIT = 10_000;
