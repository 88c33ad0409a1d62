// One-time join tokens: created for an agent or node entry, stored only as their SHA-256 hash (the
// secret is shown once), listed and revoked by a short public handle, and consumed once at
// enrolment, which fills the entry's ID (with a fresh instance id for a template entry).
import { createHash } from 'node:crypto';
import { RegistrationError, isBrokerError } from '../errors.js';
import type { Clock } from '../clock.js';
import type { SpiffeId } from '../spiffeid/index.js';
import type { Store, TokenRecord } from '../store/index.js';
import { isWorkloadEntry, type Entry } from './entry.js';
import { fillIdPattern, newInstanceId } from './template.js';

export const TOKEN_PREFIX = 'fbjt_';
export const DEFAULT_TOKEN_TTL_SECONDS = 600;
export const MIN_TOKEN_TTL_SECONDS = 30;
export const MAX_TOKEN_TTL_SECONDS = 7 * 86_400;
const TOKEN_RE = /^fbjt_[A-Za-z0-9_-]{43}$/;
const TOKEN_ID_RE = /^[0-9a-f]{16}$/;

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
  /**
   * Spends the join token (one use, even across replicas): the last step of an enrolment, once
   * everything else has succeeded, so a failure before it leaves the token for a retry.
   * ERR_REGISTRATION_TOKEN_INVALID when another enrolment spent it first (or it expired meanwhile).
   */
  spend(): Promise<void>;
  /** Ends the enrolment, spent or not: another may use the token here again (idempotent). */
  release(): void;
}

export interface JoinTokenDeps {
  readonly store: Pick<
    Store,
    'putToken' | 'readToken' | 'consumeToken' | 'deleteToken' | 'listTokens'
  >;
  readonly now: Clock;
  readonly randomBytes: (size: number) => Buffer;
  /** The stored entry `id`, or ERR_REGISTRATION_ENTRY_NOT_FOUND. */
  readonly getEntry: (id: string) => Promise<Entry>;
  /**
   * Hashes of the tokens an enrolment on this broker is using now: one at a time per token, so a
   * holder of one token cannot have many SVIDs signed here for one use (other replicas may each run
   * one; the spend lets only one of them answer).
   */
  readonly enrolling: Set<string>;
}

function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function tokenInvalid(): RegistrationError {
  // One message for every failure: a caller learns nothing about which tokens exist.
  return new RegistrationError(
    'ERR_REGISTRATION_TOKEN_INVALID',
    'join token is unknown, expired, already used, or its entry was deleted',
  );
}

export async function createJoinToken(
  deps: JoinTokenDeps,
  entryId: string,
  options: { ttlSeconds?: number; actor: string },
): Promise<CreatedToken> {
  const ttl = options.ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS;
  if (!Number.isSafeInteger(ttl) || ttl < MIN_TOKEN_TTL_SECONDS || ttl > MAX_TOKEN_TTL_SECONDS) {
    throw new RegistrationError(
      'ERR_REGISTRATION_TOKEN_TTL',
      `token ttl must be a whole number of seconds from ${MIN_TOKEN_TTL_SECONDS} to ${MAX_TOKEN_TTL_SECONDS}`,
    );
  }
  if (isWorkloadEntry(await deps.getEntry(entryId))) {
    throw new RegistrationError(
      'ERR_REGISTRATION_WORKLOAD_TOKEN',
      'a workload entry (with parentId) is served by its node agent; it takes no join token',
    );
  }
  const token = `${TOKEN_PREFIX}${deps.randomBytes(32).toString('base64url')}`;
  const hash = tokenHash(token);
  const expiresAtMs = deps.now() + ttl * 1000;
  await deps.store.putToken({
    hash,
    expiresAt: expiresAtMs,
    data: { entryId, createdBy: options.actor, createdAtMs: deps.now() },
  });
  return { token, tokenId: hash.slice(0, 16), entryId, expiresAtMs };
}

export async function listJoinTokens(deps: JoinTokenDeps): Promise<TokenView[]> {
  const records = await deps.store.listTokens(deps.now());
  return (
    records
      .map((record) => ({
        tokenId: record.hash.slice(0, 16),
        entryId: typeof record.data['entryId'] === 'string' ? record.data['entryId'] : '',
        expiresAtMs: record.expiresAt,
        createdBy: typeof record.data['createdBy'] === 'string' ? record.data['createdBy'] : '',
      }))
      // Soonest to expire first; the id breaks ties, so that pages of the list (the console's) hold
      // the same tokens whatever order the store keeps.
      .sort(
        (a, b) =>
          a.expiresAtMs - b.expiresAtMs ||
          (a.tokenId < b.tokenId ? -1 : a.tokenId > b.tokenId ? 1 : 0),
      )
  );
}

/** Revokes an unused token by its id; says which entry it was for (null if the record lacks it). */
export async function deleteJoinToken(
  deps: JoinTokenDeps,
  tokenId: string,
): Promise<{ entryId: string | null }> {
  if (!TOKEN_ID_RE.test(tokenId)) throw tokenInvalid();
  const match = (await deps.store.listTokens(deps.now())).find((record) =>
    record.hash.startsWith(tokenId),
  );
  if (match === undefined || !(await deps.store.deleteToken(match.hash))) throw tokenInvalid();
  const entryId = match.data['entryId'];
  return { entryId: typeof entryId === 'string' ? entryId : null };
}

/**
 * Looks a join token up (without spending it: `spend()` does, last) and fills the entry's ID;
 * `ERR_REGISTRATION_TOKEN_INVALID`.
 */
export async function enrolWithToken(deps: JoinTokenDeps, token: string): Promise<Enrolment> {
  if (typeof token !== 'string' || !TOKEN_RE.test(token)) throw tokenInvalid();
  const hash = tokenHash(token);
  const record = await deps.store.readToken(hash, deps.now());
  if (record === undefined) throw tokenInvalid();
  if (deps.enrolling.has(hash)) {
    throw new RegistrationError(
      'ERR_REGISTRATION_TOKEN_INVALID',
      'join token is in use by another enrolment; retry once that one has ended',
    );
  }
  // Held from here (no await between the check and this) until release().
  deps.enrolling.add(hash);
  const release = (): void => {
    deps.enrolling.delete(hash);
  };
  try {
    const { entry, instanceId } = await enrolmentEntry(deps, record);
    return {
      entry,
      spiffeId: fillIdPattern(entry.pattern, instanceId),
      instanceId,
      tokenId: hash.slice(0, 16),
      spend: async () => {
        if ((await deps.store.consumeToken(hash, deps.now())) === undefined) throw tokenInvalid();
      },
      release,
    };
  } catch (error) {
    release();
    throw error;
  }
}

/** The agent or node entry a token grants, and a new instance id for a template. */
async function enrolmentEntry(
  deps: JoinTokenDeps,
  record: TokenRecord,
): Promise<{ entry: Entry; instanceId: string | undefined }> {
  const entryId = record.data['entryId'];
  if (typeof entryId !== 'string') throw tokenInvalid();
  let entry: Entry;
  try {
    entry = await deps.getEntry(entryId);
  } catch (error) {
    if (isBrokerError(error) && error.code === 'ERR_REGISTRATION_ENTRY_NOT_FOUND') {
      throw tokenInvalid();
    }
    throw error;
  }
  if (isWorkloadEntry(entry)) throw tokenInvalid();
  const instanceId =
    entry.pattern.kind === 'template' ? newInstanceId(deps.randomBytes) : undefined;
  return { entry, instanceId };
}
