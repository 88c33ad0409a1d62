// The CA's authorities in memory and on disk: records and private keys, the active one per kind,
// the bundle sequence, and the coalescing state writes that make FED-51 expiries durable before an
// SVID is handed out. Everything else in the CA reads and changes authorities through this.
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { CaError } from '../errors.js';
import type { TrustDomain } from '../spiffeid/index.js';
import {
  AUTHORITY_KINDS,
  isAuthorityKind,
  type AuthorityKind,
  type AuthorityMetadata,
} from './authority.js';
import {
  recordFromPersisted,
  recordToPersisted,
  toMetadata,
  type AuthorityRecord,
  type AuthoritySecret,
} from './authority-record.js';
import { keyTypeOf } from './key-type.js';
import type { Logger } from '../log.js';
import {
  decodeCaState,
  encodeCaState,
  keyName,
  type CaPersistence,
  type PersistedAuthority,
  type PersistedCaState,
} from './persistence.js';

export function notFound(kind: AuthorityKind, id: string | undefined): CaError {
  return new CaError(
    'ERR_CA_AUTHORITY_NOT_FOUND',
    id === undefined ? `no prepared ${kind} authority` : `no ${kind} authority "${id}"`,
  );
}

const recordKey = (kind: AuthorityKind, id: string): string => `${kind}:${id}`;

export class AuthorityJournal {
  readonly records = new Map<string, AuthorityRecord>();
  readonly active: Record<AuthorityKind, AuthorityRecord | undefined> = {
    x509: undefined,
    jwt: undefined,
  };
  /** BUNDLE-31: the published bundle's sequence and the digest of its content, both persisted. */
  sequence = 0n;
  bundleDigest: string | null = null;
  /** The authorities changed since the bundle was last built. */
  dirty = true;
  private readonly secrets = new Map<string, AuthoritySecret>();
  /** Keys of authorities that left the signing role, deleted after the next state write. */
  private readonly keysToDelete = new Set<string>();
  /** Settles when every write scheduled so far has finished (never rejects). */
  private writeTail: Promise<void> = Promise.resolve();
  /** A scheduled write that has not taken its snapshot yet: later changes ride along with it. */
  private pendingWrite: Promise<void> | undefined;

  constructor(
    private readonly trustDomain: TrustDomain,
    private readonly persistence: CaPersistence,
    /** How far ahead of an expiry the durable FED-51 bound runs (one default TTL of the kind). */
    private readonly durabilityBucketMs: (kind: AuthorityKind) => number,
  ) {}

  private snapshot(): PersistedCaState {
    return {
      version: 1,
      trustDomain: this.trustDomain.name,
      sequence: this.sequence.toString(),
      bundleDigest: this.bundleDigest,
      authorities: [...this.records.values()].map(recordToPersisted),
    };
  }

  /** Coalescing, ordered writes; the snapshot is taken when the write starts. */
  persist(): Promise<void> {
    if (this.pendingWrite !== undefined) return this.pendingWrite;
    const write = this.writeTail.then(async () => {
      this.pendingWrite = undefined;
      const bounds = [...this.records.values()].map((r) => [r, r.durableSignedUntil] as const);
      await this.persistence.writeState(encodeCaState(this.snapshot()));
      for (const [r, bound] of bounds) r.persistedSignedUntil = bound;
    });
    this.pendingWrite = write;
    this.writeTail = write.catch(() => undefined);
    return write;
  }

  /**
   * FED-51 bookkeeping: remember the latest expiry signed and make a bound covering it durable
   * before the SVID is handed out. The bound runs one default TTL ahead, so a write is needed
   * about once per TTL per authority, not per SVID.
   */
  async noteSigned(record: AuthorityRecord, expiryMs: number): Promise<void> {
    if (record.signedUntil === undefined || expiryMs > record.signedUntil) {
      record.signedUntil = expiryMs;
    }
    if (isPersisted(record, expiryMs)) return;
    if (record.durableSignedUntil === undefined || expiryMs > record.durableSignedUntil) {
      record.durableSignedUntil = Math.min(
        record.notAfter,
        expiryMs + this.durabilityBucketMs(record.kind),
      );
    } else {
      // Another issuance already raised the bound: wait for its write.
      await this.writeTail;
      if (isPersisted(record, expiryMs)) return;
    }
    await this.persist();
  }

  /** Every expiry signed so far becomes the exact durable one (on close). */
  exactExpiries(): void {
    for (const r of this.records.values()) {
      r.durableSignedUntil = r.signedUntil ?? r.durableSignedUntil;
    }
  }

  add(record: AuthorityRecord, secret: AuthoritySecret | undefined): void {
    this.records.set(recordKey(record.kind, record.id), record);
    if (secret !== undefined) this.secrets.set(recordKey(record.kind, record.id), secret);
    if (record.state === 'active') this.active[record.kind] = record;
    this.dirty = true;
  }

  has(kind: AuthorityKind, id: string): boolean {
    return this.records.has(recordKey(kind, id));
  }

  get(kind: AuthorityKind, id: string): AuthorityRecord | undefined {
    return this.records.get(recordKey(kind, id));
  }

  find(kind: AuthorityKind, id: string): AuthorityRecord {
    if (!isAuthorityKind(kind)) throw new TypeError('kind must be "x509" or "jwt"');
    if (typeof id !== 'string') throw new TypeError('authority id must be a string');
    const record = this.get(kind, id);
    if (record === undefined) throw notFound(kind, id);
    return record;
  }

  newestPrepared(kind: AuthorityKind): AuthorityRecord | undefined {
    let best: AuthorityRecord | undefined;
    for (const r of this.records.values()) {
      if (r.kind === kind && r.state === 'prepared' && (!best || r.createdAt > best.createdAt)) {
        best = r;
      }
    }
    return best;
  }

  /**
   * The authority leaves the signing role for good (retired, tainted, revoked, removed): its FED-51
   * expiry becomes exact on disk and its private key is dropped, from memory and from disk.
   */
  leaveActive(record: AuthorityRecord): void {
    if (this.active[record.kind] === record) this.active[record.kind] = undefined;
    record.durableSignedUntil = record.signedUntil;
    this.secrets.delete(recordKey(record.kind, record.id));
    this.keysToDelete.add(keyName(record.kind, record.id));
  }

  remove(record: AuthorityRecord): void {
    this.leaveActive(record);
    this.records.delete(recordKey(record.kind, record.id));
    this.dirty = true;
  }

  /** Deletes the private keys of authorities that left the signing role (after a state write). */
  async deleteDroppedKeys(): Promise<void> {
    for (const name of [...this.keysToDelete]) {
      await this.persistence.deleteKey(name);
      this.keysToDelete.delete(name);
    }
  }

  /** The active authority of a kind and its secret, if it may sign at `t`. */
  usableActive(kind: AuthorityKind, t: number): [AuthorityRecord, AuthoritySecret] {
    const record = this.active[kind];
    const secret = record === undefined ? undefined : this.secrets.get(recordKey(kind, record.id));
    if (
      record === undefined ||
      secret === undefined ||
      record.state !== 'active' ||
      t >= record.notAfter
    ) {
      throw new CaError('ERR_CA_NO_ACTIVE_AUTHORITY', `no active ${kind} authority can sign now`);
    }
    return [record, secret];
  }

  /** Metadata of every authority (no private keys), by kind then creation time. */
  authorities(kind?: AuthorityKind): readonly AuthorityMetadata[] {
    return [...this.records.values()]
      .filter((r) => kind === undefined || r.kind === kind)
      .sort(
        (a, b) =>
          AUTHORITY_KINDS.indexOf(a.kind) - AUTHORITY_KINDS.indexOf(b.kind) ||
          a.createdAt - b.createdAt,
      )
      .map(toMetadata);
  }

  /** Reads the state and keys written before; deletes key files no authority refers to. */
  async load(logger: Pick<Logger, 'warn'>): Promise<void> {
    const stateDocument = await this.persistence.readState();
    if (stateDocument !== undefined) {
      const state = decodeCaState(stateDocument);
      if (state.trustDomain !== this.trustDomain.name) {
        throw new CaError(
          'ERR_CA_STATE',
          `the ca state belongs to trust domain "${state.trustDomain}", not "${this.trustDomain.name}"`,
        );
      }
      this.sequence = BigInt(state.sequence);
      this.bundleDigest = state.bundleDigest;
      for (const kind of AUTHORITY_KINDS) {
        if (state.authorities.filter((a) => a.kind === kind && a.state === 'active').length > 1) {
          throw new CaError('ERR_CA_STATE', `the ca state has several active ${kind} authorities`);
        }
      }
      for (const p of state.authorities) await this.loadRecord(p);
    }
    // Keys no authority refers to (a crash between key and state writes) are deleted.
    const referenced = new Set([...this.records.values()].map((r) => keyName(r.kind, r.id)));
    for (const name of await this.persistence.listKeys()) {
      if (!referenced.has(name)) {
        await this.persistence.deleteKey(name);
        logger.warn('ca: deleted an orphan key file', { name });
      }
    }
  }

  private async loadRecord(p: PersistedAuthority): Promise<void> {
    let privateKey: KeyObject | undefined;
    // Only prepared and active authorities keep a private key (see leaveActive).
    if (p.state === 'prepared' || p.state === 'active') {
      const pem = await this.persistence.readKey(keyName(p.kind, p.id));
      if (pem === undefined) {
        throw new CaError(
          'ERR_CA_KEY_LOAD',
          `the private key of ${p.kind} authority "${p.id}" is missing`,
        );
      }
      try {
        privateKey = createPrivateKey(pem);
      } catch (cause) {
        throw new CaError(
          'ERR_CA_KEY_LOAD',
          `the key of ${p.kind} authority "${p.id}" is unreadable`,
          { cause },
        );
      }
      if (keyTypeOf(privateKey) !== p.keyType) {
        throw new CaError(
          'ERR_CA_KEY_LOAD',
          `the key of ${p.kind} authority "${p.id}" is not ${p.keyType}`,
        );
      }
    }
    const { record, secret } = recordFromPersisted(p, privateKey);
    this.add(record, secret);
  }
}

function isPersisted(record: AuthorityRecord, expiryMs: number): boolean {
  return record.persistedSignedUntil !== undefined && expiryMs <= record.persistedSignedUntil;
}
