// The registration service: entries (create, list, delete), one-time join tokens (stored hashed,
// shown once), enrolment (token -> SPIFFE ID with a fresh instance id) and the entry behind an
// SVID at renewal, and the workload entries served to a node agent. Entries are cached per replica
// and invalidated over the store's pub/sub.
import { createHash } from 'node:crypto';
import { RegistrationError, isBrokerError } from '../errors.js';
import type { SpiffeId, TrustDomain } from '../spiffeid/index.js';
import type { Store } from '../store/index.js';
import {
  applyEntryPatch,
  buildEntry,
  decodeEntry,
  encodeEntry,
  isChildOfNode,
  isEntryId,
  isWorkloadEntry,
  newEntryId,
  type Entry,
  type EntryInput,
  type EntryPatch,
  type UpdatableEntryField,
} from './entry.js';
import { fillIdPattern, idPatternsOverlap, matchIdPattern, newInstanceId } from './template.js';
import type { Logger } from '../log.js';

export type RegistrationStore = Pick<
  Store,
  | 'getEntry'
  | 'listEntries'
  | 'putEntry'
  | 'deleteEntry'
  | 'putToken'
  | 'consumeToken'
  | 'deleteToken'
  | 'listTokens'
  | 'publish'
  | 'subscribe'
  | 'acquireLock'
  | 'releaseLock'
>;

export type RegistrationLogger = Pick<Logger, 'warn'>;

export interface RegistrationDeps {
  readonly store: RegistrationStore;
  readonly ownTrustDomain: TrustDomain;
  /** IDs no entry may grant: the bundle endpoint's, the agent API's, the admin IDs. */
  readonly reserved: readonly SpiffeId[];
  readonly now: () => number;
  readonly randomBytes: (size: number) => Buffer;
  readonly logger: RegistrationLogger;
  /** Replica name, used as the owner of the entry-creation lock. */
  readonly replicaId: string;
}

export interface CreatedToken {
  /** The secret: shown once, never stored. */
  readonly token: string;
  /** A short public handle (the first 16 hex characters of the hash) for listing and revoking. */
  readonly tokenId: string;
  readonly entryId: string;
  readonly expiresAtMs: number;
}

export interface TokenView {
  readonly tokenId: string;
  readonly entryId: string;
  readonly expiresAtMs: number;
  readonly createdBy: string;
}

export interface Enrolment {
  readonly entry: Entry;
  readonly spiffeId: SpiffeId;
  /** The per-instance segment for template entries; undefined for fixed IDs. */
  readonly instanceId: string | undefined;
  readonly tokenId: string;
}

export interface EntryUpdate {
  readonly before: Entry;
  readonly entry: Entry;
  /** The fields whose value changed; empty when the patch set what was already there. */
  readonly changed: readonly UpdatableEntryField[];
}

export interface Registration {
  createEntry(input: EntryInput, actor: string): Promise<Entry>;
  /**
   * Changes federatesWith, ttlSeconds, dnsNames, description or selectors in place (validated as at
   * create); `ERR_REGISTRATION_ENTRY_IMMUTABLE` for spiffeId, node or parentId. Compare-and-set on
   * the stored version, so concurrent updates never lose one another; announced like a create.
   */
  updateEntry(id: string, patch: EntryPatch): Promise<EntryUpdate>;
  getEntry(id: string): Promise<Entry>;
  listEntries(): Promise<Entry[]>;
  deleteEntry(id: string): Promise<void>;
  createToken(
    entryId: string,
    options: { ttlSeconds?: number; actor: string },
  ): Promise<CreatedToken>;
  listTokens(): Promise<TokenView[]>;
  deleteToken(tokenId: string): Promise<void>;
  /** Consumes a join token (one time) and fills the entry's ID; `ERR_REGISTRATION_TOKEN_INVALID`. */
  enrol(token: string): Promise<Enrolment>;
  /**
   * The agent or node entry granting `id` (at most one: they never overlap), or undefined. Workload
   * entries are never answered: a workload SVID is not a credential for the agent API.
   */
  entryFor(id: SpiffeId): Promise<{ entry: Entry; instanceId: string | undefined } | undefined>;
  /** The workload entries whose parent is the node `nodeId` (enrolled under `nodeEntry`). */
  childEntries(nodeId: SpiffeId, nodeEntry: Entry): Promise<Entry[]>;
  /** Called after any entry change, here or (over pub/sub) on another replica; returns the unsubscribe. */
  onChange(listener: () => void): () => void;
  /** Follows entry changes made by other replicas. */
  start(signal: AbortSignal): Promise<void>;
}

export const TOKEN_PREFIX = 'fbjt_';
export const DEFAULT_TOKEN_TTL_SECONDS = 600;
export const MIN_TOKEN_TTL_SECONDS = 30;
export const MAX_TOKEN_TTL_SECONDS = 7 * 86_400;
const TOKEN_RE = /^fbjt_[A-Za-z0-9_-]{43}$/;
const TOKEN_ID_RE = /^[0-9a-f]{16}$/;
/** Entries are re-read at least this often even without a notification (a missed message heals). */
const ENTRY_CACHE_MAX_AGE_MS = 5_000;
const ENTRY_CHANNEL = 'entry-changed';
const CREATE_LOCK = 'registration-entry-create';
const CREATE_LOCK_TTL_MS = 10_000;
/** Compare-and-set rounds before a contended update gives up with ERR_STORE_CONFLICT. */
const UPDATE_ATTEMPTS = 8;

function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function notFound(id: string): RegistrationError {
  return new RegistrationError(
    'ERR_REGISTRATION_ENTRY_NOT_FOUND',
    `no registration entry "${id.slice(0, 64)}"`,
  );
}

function tokenInvalid(): RegistrationError {
  // One message for every failure: a caller learns nothing about which tokens exist.
  return new RegistrationError(
    'ERR_REGISTRATION_TOKEN_INVALID',
    'join token is unknown, expired, already used, or its entry was deleted',
  );
}

export function createRegistration(deps: RegistrationDeps): Registration {
  const { store, ownTrustDomain, reserved } = deps;
  let cache: { entries: readonly Entry[]; loadedAtMs: number } | undefined;
  let generation = 0;
  let loading: Promise<readonly Entry[]> | undefined;

  const decodeAll = (records: readonly { value: Record<string, unknown> }[]): Entry[] => {
    const out: Entry[] = [];
    for (const record of records) {
      try {
        out.push(decodeEntry(record.value, ownTrustDomain, reserved));
      } catch (error) {
        if (!isBrokerError(error)) throw error;
        // A tampered or outdated record grants nothing; it stays visible in the store for an admin.
        deps.logger.warn('ignoring invalid stored registration entry', { error: error.message });
      }
    }
    return out;
  };

  const listeners = new Set<() => void>();
  const invalidate = (): void => {
    generation += 1;
    cache = undefined;
    for (const listener of listeners) {
      try {
        listener();
      } catch (error) {
        deps.logger.warn('registration change listener failed', {
          error: (error as Error).message,
        });
      }
    }
  };

  const cachedEntries = async (): Promise<readonly Entry[]> => {
    if (cache !== undefined && deps.now() - cache.loadedAtMs < ENTRY_CACHE_MAX_AGE_MS) {
      return cache.entries;
    }
    if (loading === undefined) {
      const started = generation;
      loading = store
        .listEntries()
        .then((records) => {
          const entries = decodeAll(records);
          if (started === generation) cache = { entries, loadedAtMs: deps.now() };
          return entries;
        })
        .finally(() => {
          loading = undefined;
        });
    }
    return loading;
  };

  const announce = async (): Promise<void> => {
    invalidate();
    await store.publish(ENTRY_CHANNEL, 'changed').catch((error: unknown) => {
      deps.logger.warn('could not announce a registration entry change', {
        error: (error as Error).message,
      });
    });
  };

  const getEntry = async (id: string): Promise<Entry> => {
    if (!isEntryId(id)) throw notFound(id);
    const record = await store.getEntry(id);
    if (record === undefined) throw notFound(id);
    return decodeEntry(record.value, ownTrustDomain, reserved);
  };

  const withCreateLock = async <T>(work: () => Promise<T>): Promise<T> => {
    const owner = `${deps.replicaId}:${deps.randomBytes(6).toString('hex')}`;
    for (let attempt = 0; ; attempt++) {
      if (await store.acquireLock(CREATE_LOCK, owner, CREATE_LOCK_TTL_MS)) break;
      if (attempt >= 50) {
        throw new RegistrationError(
          'ERR_REGISTRATION_ENTRY_EXISTS',
          'another entry is being created; try again',
        );
      }
      await new Promise((done) => setTimeout(done, 20 + attempt * 5));
    }
    try {
      return await work();
    } finally {
      await store.releaseLock(CREATE_LOCK, owner).catch(() => undefined);
    }
  };

  return {
    async createEntry(input, actor) {
      const entry = buildEntry(input, {
        ownTrustDomain,
        reserved,
        id: newEntryId(deps.randomBytes),
        nowMs: deps.now(),
        actor,
      });
      // Entries never overlap, so the entry behind any SVID is unambiguous. The lock makes the
      // check-then-write atomic across replicas.
      await withCreateLock(async () => {
        const existing = decodeAll(await store.listEntries());
        // Workload entries may share IDs among themselves (one ID on several nodes, entries picked
        // by id); never with an agent or node entry, whose SVIDs authenticate to the agent API.
        const clash = existing.find(
          (other) =>
            !(isWorkloadEntry(other) && isWorkloadEntry(entry)) &&
            idPatternsOverlap(other.pattern, entry.pattern),
        );
        if (clash !== undefined) {
          throw new RegistrationError(
            'ERR_REGISTRATION_ENTRY_EXISTS',
            `entry "${clash.id}" already grants an ID that "${input.spiffeId.slice(0, 200)}" would grant`,
          );
        }
        await store.putEntry(entry.id, encodeEntry(entry), null);
      });
      await announce();
      return entry;
    },

    async updateEntry(id, patch) {
      for (let attempt = 1; ; attempt++) {
        if (!isEntryId(id)) throw notFound(id);
        const record = await store.getEntry(id);
        if (record === undefined) throw notFound(id);
        const before = decodeEntry(record.value, ownTrustDomain, reserved);
        const { entry, changed } = applyEntryPatch(before, patch, { ownTrustDomain, reserved });
        if (changed.length === 0) return { before, entry: before, changed };
        try {
          // A delete or another update since the read fails the write (never resurrects or
          // overwrites); the patch holds absolute values, so it is re-applied to the fresh record.
          await store.putEntry(id, encodeEntry(entry), record.version);
        } catch (error) {
          if (isBrokerError(error) && error.code === 'ERR_STORE_CONFLICT') {
            if (attempt < UPDATE_ATTEMPTS) continue;
          }
          throw error;
        }
        await announce();
        return { before, entry, changed };
      }
    },

    getEntry,

    async listEntries() {
      const entries = decodeAll(await store.listEntries());
      return entries.sort((a, b) => a.createdAtMs - b.createdAtMs || a.id.localeCompare(b.id));
    },

    async deleteEntry(id) {
      if (!isEntryId(id) || !(await store.deleteEntry(id, 'any'))) throw notFound(id);
      await announce();
    },

    async createToken(entryId, options) {
      const ttl = options.ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS;
      if (
        !Number.isSafeInteger(ttl) ||
        ttl < MIN_TOKEN_TTL_SECONDS ||
        ttl > MAX_TOKEN_TTL_SECONDS
      ) {
        throw new RegistrationError(
          'ERR_REGISTRATION_TOKEN_TTL',
          `token ttl must be a whole number of seconds from ${MIN_TOKEN_TTL_SECONDS} to ${MAX_TOKEN_TTL_SECONDS}`,
        );
      }
      if (isWorkloadEntry(await getEntry(entryId))) {
        throw new RegistrationError(
          'ERR_REGISTRATION_WORKLOAD_TOKEN',
          'a workload entry (with parentId) is served by its node agent; it takes no join token',
        );
      }
      const token = `${TOKEN_PREFIX}${deps.randomBytes(32).toString('base64url')}`;
      const hash = tokenHash(token);
      const expiresAtMs = deps.now() + ttl * 1000;
      await store.putToken({
        hash,
        expiresAt: expiresAtMs,
        data: { entryId, createdBy: options.actor, createdAtMs: deps.now() },
      });
      return { token, tokenId: hash.slice(0, 16), entryId, expiresAtMs };
    },

    async listTokens() {
      const records = await store.listTokens(deps.now());
      return records
        .map((record) => ({
          tokenId: record.hash.slice(0, 16),
          entryId: typeof record.data['entryId'] === 'string' ? record.data['entryId'] : '',
          expiresAtMs: record.expiresAt,
          createdBy: typeof record.data['createdBy'] === 'string' ? record.data['createdBy'] : '',
        }))
        .sort((a, b) => a.expiresAtMs - b.expiresAtMs);
    },

    async deleteToken(tokenId) {
      if (!TOKEN_ID_RE.test(tokenId)) throw tokenInvalid();
      const match = (await store.listTokens(deps.now())).find((record) =>
        record.hash.startsWith(tokenId),
      );
      if (match === undefined || !(await store.deleteToken(match.hash))) throw tokenInvalid();
    },

    async enrol(token) {
      if (typeof token !== 'string' || !TOKEN_RE.test(token)) throw tokenInvalid();
      const hash = tokenHash(token);
      const record = await store.consumeToken(hash, deps.now());
      if (record === undefined) throw tokenInvalid();
      const entryId = record.data['entryId'];
      if (typeof entryId !== 'string') throw tokenInvalid();
      let entry: Entry;
      try {
        entry = await getEntry(entryId);
      } catch (error) {
        if (isBrokerError(error) && error.code === 'ERR_REGISTRATION_ENTRY_NOT_FOUND') {
          throw tokenInvalid();
        }
        throw error;
      }
      if (isWorkloadEntry(entry)) throw tokenInvalid();
      const instanceId =
        entry.pattern.kind === 'template' ? newInstanceId(deps.randomBytes) : undefined;
      return {
        entry,
        spiffeId: fillIdPattern(entry.pattern, instanceId),
        instanceId,
        tokenId: hash.slice(0, 16),
      };
    },

    async entryFor(id) {
      for (const entry of await cachedEntries()) {
        if (isWorkloadEntry(entry)) continue;
        const match = matchIdPattern(entry.pattern, id);
        if (match !== undefined) return { entry, instanceId: match.instanceId };
      }
      return undefined;
    },

    async childEntries(nodeId, nodeEntry) {
      return (await cachedEntries())
        .filter((entry) => isChildOfNode(entry, nodeId, nodeEntry))
        .sort((a, b) => a.createdAtMs - b.createdAtMs || a.id.localeCompare(b.id));
    },

    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    async start(signal) {
      const unsubscribe = await store.subscribe(ENTRY_CHANNEL, () => invalidate());
      signal.addEventListener('abort', () => void unsubscribe().catch(() => undefined), {
        once: true,
      });
    },
  };
}
