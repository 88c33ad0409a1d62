// The registration service: entries (create, update, list, delete), one-time join tokens
// (join-tokens.ts), enrolment and the entry behind an SVID at renewal, and the workload entries
// served to a node agent. Entries are cached per replica (entry-cache.ts) and invalidated over the
// store's pub/sub.
import { RegistrationError, isBrokerError } from '../errors.js';
import type { Clock } from '../clock.js';
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
import { createEntryCache } from './entry-cache.js';
import {
  createJoinToken,
  deleteJoinToken,
  enrolWithToken,
  listJoinTokens,
  type CreatedToken,
  type Enrolment,
  type JoinTokenDeps,
  type TokenView,
} from './join-tokens.js';
import { idPatternsOverlap, matchIdPattern } from './template.js';
import type { Logger } from '../log.js';

export type RegistrationStore = Pick<
  Store,
  | 'getEntry'
  | 'listEntries'
  | 'putEntry'
  | 'deleteEntry'
  | 'putToken'
  | 'readToken'
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
  readonly now: Clock;
  readonly randomBytes: (size: number) => Buffer;
  readonly logger: RegistrationLogger;
  /** Replica name, used as the owner of the entry-creation lock. */
  readonly replicaId: string;
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
  /** Revokes an unused join token; says which entry it was for. */
  deleteToken(tokenId: string): Promise<{ entryId: string | null }>;
  /**
   * Looks a join token up and fills the entry's ID (`ERR_REGISTRATION_TOKEN_INVALID`); the token is
   * spent by the enrolment's `spend()`, its last step.
   */
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

const CREATE_LOCK = 'registration-entry-create';
const CREATE_LOCK_TTL_MS = 10_000;
/** Compare-and-set rounds before a contended update gives up with ERR_STORE_CONFLICT. */
const UPDATE_ATTEMPTS = 8;

function notFound(id: string): RegistrationError {
  return new RegistrationError(
    'ERR_REGISTRATION_ENTRY_NOT_FOUND',
    `no registration entry "${id.slice(0, 64)}"`,
  );
}

/** Runs `work` holding the cluster-wide entry-creation lock (polled, about 2 s at the most). */
async function withCreateLock<T>(deps: RegistrationDeps, work: () => Promise<T>): Promise<T> {
  const { store } = deps;
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
}

/**
 * Entries never overlap, so the entry behind any SVID is unambiguous. Workload entries may share
 * IDs among themselves (one ID on several nodes, entries picked by id); never with an agent or
 * node entry, whose SVIDs authenticate to the agent API.
 */
function refuseOverlap(existing: readonly Entry[], entry: Entry, requestedId: string): void {
  const clash = existing.find(
    (other) =>
      !(isWorkloadEntry(other) && isWorkloadEntry(entry)) &&
      idPatternsOverlap(other.pattern, entry.pattern),
  );
  if (clash !== undefined) {
    throw new RegistrationError(
      'ERR_REGISTRATION_ENTRY_EXISTS',
      `entry "${clash.id}" already grants an ID that "${requestedId.slice(0, 200)}" would grant`,
    );
  }
}

const byCreation = (a: Entry, b: Entry): number =>
  a.createdAtMs - b.createdAtMs || a.id.localeCompare(b.id);

export function createRegistration(deps: RegistrationDeps): Registration {
  const { store, ownTrustDomain, reserved } = deps;
  const cache = createEntryCache(deps);

  const getEntry = async (id: string): Promise<Entry> => {
    if (!isEntryId(id)) throw notFound(id);
    const record = await store.getEntry(id);
    if (record === undefined) throw notFound(id);
    return decodeEntry(record.value, ownTrustDomain, reserved);
  };
  const tokens: JoinTokenDeps = {
    store,
    now: deps.now,
    randomBytes: deps.randomBytes,
    getEntry,
    enrolling: new Set(),
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
      // The lock makes the overlap check and the write atomic across replicas.
      await withCreateLock(deps, async () => {
        refuseOverlap(cache.decodeAll(await store.listEntries()), entry, input.spiffeId);
        await store.putEntry(entry.id, encodeEntry(entry), null);
      });
      await cache.announce();
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
        await cache.announce();
        return { before, entry, changed };
      }
    },

    getEntry,

    async listEntries() {
      return cache.decodeAll(await store.listEntries()).sort(byCreation);
    },

    async deleteEntry(id) {
      if (!isEntryId(id) || !(await store.deleteEntry(id, 'any'))) throw notFound(id);
      await cache.announce();
    },

    createToken: (entryId, options) => createJoinToken(tokens, entryId, options),
    listTokens: () => listJoinTokens(tokens),
    deleteToken: (tokenId) => deleteJoinToken(tokens, tokenId),
    enrol: (token) => enrolWithToken(tokens, token),

    async entryFor(id) {
      for (const entry of await cache.entries()) {
        if (isWorkloadEntry(entry)) continue;
        const match = matchIdPattern(entry.pattern, id);
        if (match !== undefined) return { entry, instanceId: match.instanceId };
      }
      return undefined;
    },

    async childEntries(nodeId, nodeEntry) {
      return (await cache.entries())
        .filter((entry) => isChildOfNode(entry, nodeId, nodeEntry))
        .sort(byCreation);
    },

    onChange: (listener) => cache.onChange(listener),
    start: (signal) => cache.follow(signal),
  };
}
