// The file store's in-memory state and its two on-disk shapes: the journal's changes (replayed in
// order to rebuild the state) and the snapshot (the whole state at one journal sequence number).
import type {
  AuditRecord,
  JsonObject,
  LocalBundleRecord,
  StoredBundle,
  TokenRecord,
  Versioned,
} from '../store.js';
import { corrupt } from './durable-file.js';

/** 2: audit records live in segments, not in the snapshot. 1 (read only): `audit` + `lastAuditId`. */
const FORMAT_VERSION = 2;
const LEGACY_FORMAT_VERSION = 1;

export type MapCollection =
  'relationship' | 'entry' | 'admin' | 'session' | 'token' | 'refresh' | 'replica';

/** One journal record's changes; replaying them in order rebuilds the state. */
export type Change =
  | { readonly op: 'bundle'; readonly record: StoredBundle; readonly limit: number }
  | { readonly op: 'bundle-del'; readonly id: string }
  | {
      readonly op: 'put';
      readonly coll: MapCollection;
      readonly id: string;
      readonly value: unknown;
    }
  | { readonly op: 'del'; readonly coll: MapCollection; readonly id: string }
  | { readonly op: 'local'; readonly record: LocalBundleRecord }
  /** Written by format 1 only; still read so that old journals migrate to the audit segments. */
  | { readonly op: 'audit'; readonly record: AuditRecord; readonly max: number };

export interface BundleSlot {
  readonly current: StoredBundle;
  readonly history: readonly StoredBundle[];
}

export interface State {
  bundles: Map<string, BundleSlot>;
  relationship: Map<string, Versioned>;
  entry: Map<string, Versioned>;
  admin: Map<string, Versioned>;
  session: Map<string, Versioned>;
  token: Map<string, TokenRecord>;
  refresh: Map<string, JsonObject>;
  replica: Map<string, JsonObject>;
  local: LocalBundleRecord | undefined;
  /** Audit records found in a format-1 snapshot or journal, to be moved to the segments on open. */
  legacyAudit: AuditRecord[];
}

export interface Snapshot {
  readonly format: number;
  readonly seq: number;
  readonly bundles: [string, BundleSlot][];
  readonly relationship: [string, Versioned][];
  readonly entry: [string, Versioned][];
  /** Absent in snapshots written before named admins existed. */
  readonly admin?: [string, Versioned][];
  readonly session?: [string, Versioned][];
  readonly token: [string, TokenRecord][];
  readonly refresh: [string, JsonObject][];
  /** Absent in snapshots written before replica authorities existed. */
  readonly replica?: [string, JsonObject][];
  readonly local: LocalBundleRecord | null;
  /** Format 1 only. */
  readonly audit?: AuditRecord[];
}

export function emptyState(): State {
  return {
    bundles: new Map(),
    relationship: new Map(),
    entry: new Map(),
    admin: new Map(),
    session: new Map(),
    token: new Map(),
    refresh: new Map(),
    replica: new Map(),
    local: undefined,
    legacyAudit: [],
  };
}

export function applyChange(state: State, change: Change): void {
  switch (change.op) {
    case 'bundle': {
      const previous = state.bundles.get(change.record.trustDomain);
      const history = [change.record, ...(previous?.history ?? [])].slice(0, change.limit);
      state.bundles.set(change.record.trustDomain, { current: change.record, history });
      return;
    }
    case 'bundle-del':
      state.bundles.delete(change.id);
      return;
    case 'put':
      (state[change.coll] as Map<string, unknown>).set(change.id, change.value);
      return;
    case 'del':
      state[change.coll].delete(change.id);
      return;
    case 'local':
      state.local = change.record;
      return;
    case 'audit':
      state.legacyAudit.push(change.record);
      if (state.legacyAudit.length > change.max) {
        state.legacyAudit.splice(0, state.legacyAudit.length - change.max);
      }
      return;
    default:
      throw corrupt(`unknown journal change ${JSON.stringify((change as { op?: unknown }).op)}`);
  }
}

export function snapshotOf(state: State, seq: number): Snapshot {
  return {
    format: FORMAT_VERSION,
    seq,
    bundles: [...state.bundles],
    relationship: [...state.relationship],
    entry: [...state.entry],
    admin: [...state.admin],
    session: [...state.session],
    token: [...state.token],
    refresh: [...state.refresh],
    replica: [...state.replica],
    local: state.local ?? null,
  };
}

export function stateFromSnapshot(snapshot: Snapshot): State {
  if (snapshot.format !== FORMAT_VERSION && snapshot.format !== LEGACY_FORMAT_VERSION) {
    throw corrupt(`snapshot format ${String(snapshot.format)} is not supported`);
  }
  return {
    bundles: new Map(snapshot.bundles),
    relationship: new Map(snapshot.relationship),
    entry: new Map(snapshot.entry),
    admin: new Map(snapshot.admin ?? []),
    session: new Map(snapshot.session ?? []),
    token: new Map(snapshot.token),
    refresh: new Map(snapshot.refresh),
    replica: new Map(snapshot.replica ?? []),
    local: snapshot.local ?? undefined,
    legacyAudit: snapshot.format === LEGACY_FORMAT_VERSION ? [...(snapshot.audit ?? [])] : [],
  };
}
