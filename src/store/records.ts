// Pure record rules shared by both stores: sequence order, digests, input checks, JSON codec, audit filters.
// Both backends call these so the file store and the Redis store cannot drift apart.
import { createHash } from 'node:crypto';
import { StoreError } from '../errors.js';
import { checkKeyComponent } from './keys.js';
import {
  MAX_AUDIT_QUERY_LIMIT,
  type AuditDraft,
  type AuditQuery,
  type AuditRecord,
  type BundleInput,
  type JsonObject,
  type LocalBundleInput,
  type LocalBundleRecord,
  type PutBundleResult,
  type StoredBundle,
  type TokenInput,
  type TokenRecord,
} from './store.js';

const MAX_UINT64 = 2n ** 64n - 1n;
const CANONICAL_DECIMAL = /^(0|[1-9][0-9]{0,19})$/;

/** True for a canonical decimal in [0, 2^64 - 1] (no sign, no leading zeros): BUNDLE-4's range. */
export function isCanonicalSequence(value: string): boolean {
  return CANONICAL_DECIMAL.test(value) && BigInt(value) <= MAX_UINT64;
}

/**
 * Orders two canonical decimal sequences without converting to numbers (lossless above 2^53):
 * the longer string is larger, equal lengths compare character by character. The Redis script
 * uses the same rule.
 */
export function compareSequences(a: string, b: string): -1 | 0 | 1 {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

/** Lowercase hex SHA-256 of the UTF-8 bytes of `raw`. */
export function digestOf(raw: string): string {
  return createHash('sha256').update(raw, 'utf8').digest('hex');
}

function isFiniteTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Checks a caller's bundle input (caller mistakes are TypeErrors) and adds the digest. */
export function bundleRecordFromInput(input: BundleInput): StoredBundle {
  checkKeyComponent('trust domain', input.trustDomain);
  if (typeof input.raw !== 'string') throw new TypeError('bundle raw must be a string');
  if (input.sequence !== null && !isCanonicalSequence(input.sequence)) {
    throw new TypeError(
      `bundle sequence must be null or a canonical decimal in [0, 2^64-1], got ${JSON.stringify(input.sequence)}`,
    );
  }
  if (!isFiniteTime(input.fetchedAt)) {
    throw new TypeError('bundle fetchedAt must be a non-negative integer of ms');
  }
  if (input.sourceUrl !== null && typeof input.sourceUrl !== 'string') {
    throw new TypeError('bundle sourceUrl must be a string or null');
  }
  const hint = input.refreshHintSeconds;
  if (hint !== null && (typeof hint !== 'number' || !Number.isFinite(hint) || hint <= 0)) {
    throw new TypeError('bundle refreshHintSeconds must be a positive number or null');
  }
  return {
    trustDomain: input.trustDomain,
    raw: input.raw,
    sequence: input.sequence,
    digest: digestOf(input.raw),
    fetchedAt: input.fetchedAt,
    sourceUrl: input.sourceUrl,
    refreshHintSeconds: hint,
  };
}

export function localBundleRecordFromInput(input: LocalBundleInput): LocalBundleRecord {
  if (typeof input.raw !== 'string') throw new TypeError('local bundle raw must be a string');
  if (typeof input.sequence !== 'string' || !isCanonicalSequence(input.sequence)) {
    throw new TypeError('local bundle sequence must be a canonical decimal in [0, 2^64-1]');
  }
  if (!isFiniteTime(input.publishedAt)) {
    throw new TypeError('local bundle publishedAt must be a non-negative integer of ms');
  }
  return {
    raw: input.raw,
    sequence: input.sequence,
    digest: digestOf(input.raw),
    publishedAt: input.publishedAt,
  };
}

/** Serialises a caller's plain object; refuses anything that is not a JSON object at the top. */
export function encodeObject(what: string, value: object): string {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`${what} must be a plain JSON object`);
  }
  const text = JSON.stringify(value);
  if (typeof text !== 'string') throw new TypeError(`${what} is not JSON-serialisable`);
  return text;
}

function corrupt(what: string, cause?: unknown): StoreError {
  return new StoreError('ERR_STORE_CORRUPT', `stored ${what} is not valid`, {
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Parses stored JSON that must be an object; anything else is `ERR_STORE_CORRUPT`. */
export function decodeObject(what: string, text: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw corrupt(what, cause);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw corrupt(what);
  return value as JsonObject;
}

function isNullableString(value: unknown): value is string | null {
  return value === null || typeof value === 'string';
}

export function decodeBundle(text: string): StoredBundle {
  const o = decodeObject('bundle', text);
  if (
    typeof o['trustDomain'] !== 'string' ||
    typeof o['raw'] !== 'string' ||
    !isNullableString(o['sequence']) ||
    typeof o['digest'] !== 'string' ||
    typeof o['fetchedAt'] !== 'number' ||
    !isNullableString(o['sourceUrl']) ||
    !(o['refreshHintSeconds'] === null || typeof o['refreshHintSeconds'] === 'number') ||
    !(o['highestSequence'] === undefined || isNullableString(o['highestSequence']))
  ) {
    throw corrupt('bundle');
  }
  return o as unknown as StoredBundle;
}

export function decodeLocalBundle(text: string): LocalBundleRecord {
  const o = decodeObject('local bundle', text);
  if (
    typeof o['raw'] !== 'string' ||
    typeof o['sequence'] !== 'string' ||
    typeof o['digest'] !== 'string' ||
    typeof o['publishedAt'] !== 'number'
  ) {
    throw corrupt('local bundle');
  }
  return o as unknown as LocalBundleRecord;
}

export function tokenRecordFromInput(input: TokenInput): TokenRecord {
  checkKeyComponent('token hash', input.hash);
  if (!isFiniteTime(input.expiresAt)) {
    throw new TypeError('token expiresAt must be a non-negative integer of ms');
  }
  const data = JSON.parse(encodeObject('token data', input.data)) as JsonObject;
  return { hash: input.hash, expiresAt: input.expiresAt, data };
}

export function decodeToken(text: string): TokenRecord {
  const o = decodeObject('token', text);
  if (
    typeof o['hash'] !== 'string' ||
    typeof o['expiresAt'] !== 'number' ||
    o['data'] === null ||
    typeof o['data'] !== 'object'
  ) {
    throw corrupt('token');
  }
  return o as unknown as TokenRecord;
}

/** `readStoredAudit` arguments: a positive id and a limit of 1..MAX_AUDIT_QUERY_LIMIT (TypeError). */
export function checkStoredAuditRange(fromId: number, limit: number): void {
  if (!Number.isSafeInteger(fromId) || fromId < 1) {
    throw new TypeError('fromId must be a positive integer');
  }
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_AUDIT_QUERY_LIMIT) {
    throw new TypeError(`limit must be an integer in 1..${MAX_AUDIT_QUERY_LIMIT}`);
  }
}

/**
 * How many of the oldest records to trim before appending `adding` more plus one `audit.trimmed`
 * record, so that at most `auditMax` stay: 0 while they fit. Trims a tenth of the cap more than
 * needed, so a full log writes one trim record per `auditMax / 10` appends, not one per append.
 */
export function auditTrimCount(visible: number, adding: number, auditMax: number): number {
  if (visible + adding <= auditMax) return 0;
  const needed = visible + adding + 1 - auditMax;
  return Math.max(0, Math.min(visible + adding, needed + Math.floor(auditMax / 10)));
}

/** Builds the stored record from what the audit room's builder returned (caller mistakes: TypeError). */
export function auditRecordFromDraft(id: number, draft: AuditDraft): AuditRecord {
  if (draft === null || typeof draft !== 'object') {
    throw new TypeError('audit builder must return a record');
  }
  if (!isFiniteTime(draft.time)) throw new TypeError('audit time must be an integer of ms');
  if (typeof draft.type !== 'string' || draft.type === '') {
    throw new TypeError('audit type must be a string');
  }
  if (typeof draft.actor !== 'string') throw new TypeError('audit actor must be a string');
  if (!isNullableString(draft.trustDomain)) {
    throw new TypeError('audit trustDomain must be a string or null');
  }
  if (!isNullableString(draft.previousHash) || typeof draft.hash !== 'string') {
    throw new TypeError('audit hashes must be strings');
  }
  const data = JSON.parse(encodeObject('audit data', draft.data)) as JsonObject;
  return {
    id,
    time: draft.time,
    type: draft.type,
    actor: draft.actor,
    trustDomain: draft.trustDomain,
    data,
    previousHash: draft.previousHash,
    hash: draft.hash,
  };
}

export function decodeAudit(text: string): AuditRecord {
  const o = decodeObject('audit record', text);
  if (
    typeof o['id'] !== 'number' ||
    typeof o['time'] !== 'number' ||
    typeof o['type'] !== 'string' ||
    typeof o['actor'] !== 'string' ||
    !isNullableString(o['trustDomain']) ||
    o['data'] === null ||
    typeof o['data'] !== 'object' ||
    !isNullableString(o['previousHash']) ||
    typeof o['hash'] !== 'string'
  ) {
    throw corrupt('audit record');
  }
  return o as unknown as AuditRecord;
}

/** Checks an audit query (caller mistakes: TypeError). */
export function checkAuditQuery(query: AuditQuery): void {
  if (
    !Number.isSafeInteger(query.limit) ||
    query.limit < 1 ||
    query.limit > MAX_AUDIT_QUERY_LIMIT
  ) {
    throw new TypeError(`audit query limit must be an integer in 1..${MAX_AUDIT_QUERY_LIMIT}`);
  }
  if (query.fromId !== undefined && (!Number.isSafeInteger(query.fromId) || query.fromId < 0)) {
    throw new TypeError('audit query fromId must be a non-negative integer');
  }
}

/** The filter part of an audit query (ids and limit are handled by the store's scan). */
export function matchesAuditQuery(record: AuditRecord, query: AuditQuery): boolean {
  if (query.type !== undefined && record.type !== query.type) return false;
  if (query.actor !== undefined && record.actor !== query.actor) return false;
  if (query.trustDomain !== undefined && record.trustDomain !== query.trustDomain) return false;
  if (query.sinceMs !== undefined && record.time < query.sinceMs) return false;
  if (query.untilMs !== undefined && record.time >= query.untilMs) return false;
  return true;
}

export function checkExpectedVersion(expected: unknown, allowNull: boolean): void {
  if (expected === 'any' || (allowNull && expected === null)) return;
  if (typeof expected === 'number' && Number.isSafeInteger(expected) && expected >= 1) return;
  throw new TypeError(
    `expected version must be a positive integer${allowNull ? ', null' : ''} or 'any'`,
  );
}

export function checkTtlMs(ttlMs: number): void {
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1) {
    throw new TypeError('lease ttlMs must be a positive integer');
  }
}

export function checkTime(what: string, value: number): void {
  if (!isFiniteTime(value)) throw new TypeError(`${what} must be a non-negative integer of ms`);
}

function maxSequence(a: string | null, b: string | null): string | null {
  if (a === null) return b;
  if (b === null) return a;
  return compareSequences(a, b) < 0 ? b : a;
}

/**
 * The highest sequence ever accepted for a stored record: its `highestSequence`, or its own
 * `sequence` for a record written before the field existed (issue 15, finding 13).
 */
export function highestSequenceOf(stored: {
  readonly sequence: string | null;
  readonly highestSequence?: string | null;
}): string | null {
  return maxSequence(stored.highestSequence ?? null, stored.sequence);
}

/**
 * The highest sequence after accepting `next`: a stricter reading of FED-32 keeps the highest value
 * ever accepted, so stored 30, then a sequence-less bundle, then 1 is still a rollback. `force`
 * (operator override, e.g. after a partner reset) restarts it from the forced bundle.
 */
export function nextHighestSequence(
  stored:
    { readonly sequence: string | null; readonly highestSequence?: string | null } | undefined,
  next: { readonly sequence: string | null },
  force: boolean,
): string | null {
  if (stored === undefined || force) return next.sequence;
  return maxSequence(highestSequenceOf(stored), next.sequence);
}

/** What a bundle write does given the stored record (FED-32); the Redis script implements the same table. */
export function decideBundlePut(
  stored:
    | {
        readonly sequence: string | null;
        readonly digest: string;
        readonly highestSequence?: string | null;
      }
    | undefined,
  next: { readonly sequence: string | null; readonly digest: string },
  force: boolean,
): 'created' | 'replaced' | 'unchanged' | 'stale' {
  if (stored === undefined) return 'created';
  if (stored.sequence === next.sequence && stored.digest === next.digest) return 'unchanged';
  const highest = highestSequenceOf(stored);
  if (
    !force &&
    highest !== null &&
    next.sequence !== null &&
    compareSequences(next.sequence, highest) < 0
  ) {
    return 'stale';
  }
  return 'replaced';
}

/** Our own bundle never goes backwards: only a higher sequence is written (FED-50). */
export function decideLocalBundlePut(
  stored: { readonly sequence: string; readonly digest: string } | undefined,
  next: { readonly sequence: string; readonly digest: string },
): 'written' | 'unchanged' | 'stale' {
  if (stored === undefined) return 'written';
  const order = compareSequences(next.sequence, stored.sequence);
  if (order > 0) return 'written';
  if (order === 0 && next.digest === stored.digest) return 'unchanged';
  return 'stale';
}

export function staleBundleError(
  trustDomain: string,
  sequence: string | null,
  storedSequence: string | null,
): StoreError {
  return new StoreError(
    'ERR_STORE_STALE_SEQUENCE',
    `bundle of "${trustDomain}" has sequence ${String(sequence)}, lower than the highest accepted ${String(storedSequence)}`,
    { context: { trustDomain, sequence, storedSequence } },
  );
}

export function staleLocalBundleError(sequence: string, storedSequence: string): StoreError {
  return new StoreError(
    'ERR_STORE_STALE_SEQUENCE',
    `local bundle sequence ${sequence} does not advance the stored ${storedSequence}`,
    { context: { sequence, storedSequence } },
  );
}

export function conflictError(what: string, id: string, expected: unknown): StoreError {
  return new StoreError(
    'ERR_STORE_CONFLICT',
    `${what} "${id}" changed concurrently (expected version ${String(expected)})`,
    { context: { id, expected } },
  );
}

/** Builds the result of a bundle write from the decision and the two records. */
export function putBundleResult(
  outcome: 'created' | 'replaced' | 'unchanged',
  record: StoredBundle,
  previous: StoredBundle | undefined,
): PutBundleResult {
  if (outcome === 'unchanged' && previous !== undefined) {
    return { outcome, current: previous, previous, sameSequenceChanged: false };
  }
  return {
    outcome,
    current: record,
    previous,
    sameSequenceChanged:
      previous !== undefined &&
      previous.sequence !== null &&
      previous.sequence === record.sequence &&
      previous.digest !== record.digest,
  };
}
