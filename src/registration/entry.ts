// Registration entries: which SPIFFE ID (fixed or per-instance template) an agent may hold, for how
// long, with which DNS names, and which partner trust domains' bundles it receives. A node entry
// enrols node agents; a workload entry (parentId + selectors) is served only to its parent node(s).
import { RegistrationError, SpiffeIdError } from '../errors.js';
import { parseTrustDomain, type SpiffeId, type TrustDomain } from '../spiffeid/index.js';
import { parseSelectors } from './selector.js';
import { idPatternText, matchIdPattern, parseIdPattern, type IdPattern } from './template.js';

/** What an admin sends to create an entry (already shape-checked by the API's schema). */
export interface EntryInput {
  readonly spiffeId: string;
  readonly federatesWith?: readonly string[] | undefined;
  readonly ttlSeconds?: number | undefined;
  readonly dnsNames?: readonly string[] | undefined;
  readonly description?: string | undefined;
  /** A node entry: its SVIDs may fetch and sign for the workload entries parented to it. */
  readonly node?: boolean | undefined;
  /** A node's SPIFFE ID, or a node entry's template text (every node enrolled through it). */
  readonly parentId?: string | undefined;
  /** `type:value` workload selectors, all of which must match; required with parentId. */
  readonly selectors?: readonly string[] | undefined;
}

export interface Entry {
  /** Opaque id, `e_` + 16 random bytes base64url. */
  readonly id: string;
  readonly pattern: IdPattern;
  /** Partner trust domain names whose bundles agents of this entry receive; nothing by default. */
  readonly federatesWith: readonly string[];
  /** Upper bound for the SVIDs of this entry; undefined: the CA's default X509-SVID TTL. */
  readonly ttlSeconds: number | undefined;
  readonly dnsNames: readonly string[];
  readonly description: string;
  readonly createdAtMs: number;
  readonly createdBy: string;
  readonly node: boolean;
  /** Set on workload entries only: the node(s) this entry is served to. */
  readonly parentId: IdPattern | undefined;
  /** Canonical, sorted, non-empty on workload entries; empty otherwise. */
  readonly selectors: readonly string[];
}

export const MAX_FEDERATES_WITH = 64;
export const MAX_DNS_NAMES = 16;
/** A registration may not out-live what a sensible short-lived SVID is (one day). */
export const MAX_ENTRY_TTL_SECONDS = 86_400;
export const MIN_ENTRY_TTL_SECONDS = 60;

const ENTRY_ID_RE = /^e_[A-Za-z0-9_-]{22}$/;
/** A DNS SAN the CA will put in a certificate: LDH labels, optionally one leading `*.` label. */
const DNS_NAME_RE =
  /^(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

function invalid(message: string, cause?: unknown): RegistrationError {
  return new RegistrationError(
    'ERR_REGISTRATION_ENTRY_INVALID',
    message,
    cause === undefined ? {} : { cause },
  );
}

export function isEntryId(text: unknown): text is string {
  return typeof text === 'string' && ENTRY_ID_RE.test(text);
}

export function newEntryId(randomBytes: (size: number) => Buffer): string {
  return `e_${randomBytes(16).toString('base64url')}`;
}

function federatesWithOf(names: readonly string[], own: TrustDomain): string[] {
  if (names.length > MAX_FEDERATES_WITH) {
    throw invalid(`federatesWith lists more than ${MAX_FEDERATES_WITH} trust domains`);
  }
  const out = new Set<string>();
  for (const name of names) {
    let td: TrustDomain;
    try {
      td = parseTrustDomain(name);
    } catch (error) {
      if (error instanceof SpiffeIdError) {
        throw invalid(`federatesWith: ${error.message}`, error);
      }
      throw error;
    }
    if (td.name === own.name) {
      throw invalid(
        `federatesWith names our own trust domain "${own.name}"; it is always included`,
      );
    }
    out.add(td.name);
  }
  return [...out].sort();
}

function dnsNamesOf(names: readonly string[]): string[] {
  if (names.length > MAX_DNS_NAMES) throw invalid(`more than ${MAX_DNS_NAMES} DNS names`);
  const out = new Set<string>();
  for (const name of names) {
    const lower = typeof name === 'string' ? name.toLowerCase() : '';
    if (lower.length === 0 || lower.length > 253 || !DNS_NAME_RE.test(lower)) {
      throw invalid(`DNS name ${JSON.stringify(String(name).slice(0, 100))} is not valid`);
    }
    out.add(lower);
  }
  return [...out];
}

function parentError(message: string, cause?: unknown): RegistrationError {
  return new RegistrationError(
    'ERR_REGISTRATION_PARENT_INVALID',
    message,
    cause === undefined ? {} : { cause },
  );
}

/** parentId: a SPIFFE ID or node template of our trust domain (ID-7..12); never on a node entry. */
function parentOf(input: EntryInput, own: TrustDomain): IdPattern | undefined {
  if (input.parentId === undefined) return undefined;
  if (input.node === true) throw parentError('a node entry cannot have a parentId');
  if (typeof input.parentId !== 'string') throw parentError('parentId must be a string');
  try {
    return parseIdPattern(input.parentId, own);
  } catch (error) {
    if (error instanceof RegistrationError) {
      throw parentError(`parentId: ${error.message}`, error);
    }
    throw error;
  }
}

/** Workload entries need at least one selector; other entries take none. */
function selectorsOf(input: EntryInput, parent: IdPattern | undefined): string[] {
  const selectors = parseSelectors(input.selectors ?? []);
  if (parent !== undefined && selectors.length === 0) {
    throw new RegistrationError(
      'ERR_REGISTRATION_SELECTOR_INVALID',
      'a workload entry (with parentId) needs at least one selector',
    );
  }
  if (parent === undefined && selectors.length > 0) {
    throw new RegistrationError(
      'ERR_REGISTRATION_SELECTOR_INVALID',
      'selectors need a parentId: only a node agent attests workloads',
    );
  }
  return selectors;
}

/** A workload entry: served to its parent node(s) only, never enrolled with a join token. */
export function isWorkloadEntry(entry: Entry): boolean {
  return entry.parentId !== undefined;
}

/**
 * Whether `entry` is a child of the node holding `nodeId` under `nodeEntry`: an exact parentId
 * equals the node's ID; a template parentId is the node entry's own template (so it matches every
 * node enrolled through that entry, and no node enrolled otherwise).
 */
export function isChildOfNode(entry: Entry, nodeId: SpiffeId, nodeEntry: Entry): boolean {
  const parent = entry.parentId;
  if (parent === undefined || !nodeEntry.node) return false;
  if (parent.kind === 'fixed') return parent.id.toString() === nodeId.toString();
  return (
    nodeEntry.pattern.kind === 'template' &&
    nodeEntry.pattern.text === parent.text &&
    matchIdPattern(parent, nodeId) !== undefined
  );
}

/**
 * Validates an untrusted entry request: the ID or template (ID-7..12, ours, not reserved), the
 * partner list, the TTL bounds, DNS names, and the node / parentId / selectors combination.
 * Returns the entry to store.
 */
export function buildEntry(
  input: EntryInput,
  context: {
    readonly ownTrustDomain: TrustDomain;
    readonly reserved: readonly SpiffeId[];
    readonly id: string;
    readonly nowMs: number;
    readonly actor: string;
  },
): Entry {
  const pattern = parseIdPattern(input.spiffeId, context.ownTrustDomain, context.reserved);
  const ttl = input.ttlSeconds;
  if (
    ttl !== undefined &&
    (!Number.isSafeInteger(ttl) || ttl < MIN_ENTRY_TTL_SECONDS || ttl > MAX_ENTRY_TTL_SECONDS)
  ) {
    throw invalid(
      `ttlSeconds must be a whole number from ${MIN_ENTRY_TTL_SECONDS} to ${MAX_ENTRY_TTL_SECONDS}`,
    );
  }
  if (input.node !== undefined && typeof input.node !== 'boolean') {
    throw invalid('node must be true or false');
  }
  const parentId = parentOf(input, context.ownTrustDomain);
  const selectors = selectorsOf(input, parentId);
  return {
    id: context.id,
    pattern,
    node: input.node === true,
    parentId,
    selectors,
    federatesWith: federatesWithOf(input.federatesWith ?? [], context.ownTrustDomain),
    ttlSeconds: ttl,
    dnsNames: dnsNamesOf(input.dnsNames ?? []),
    description: (input.description ?? '').slice(0, 500),
    createdAtMs: context.nowMs,
    createdBy: context.actor,
  };
}

/**
 * What an admin may change on an existing entry in place. spiffeId, node and parentId define the
 * identity an SVID carries and who may hold it; they are refused (delete and re-create instead).
 */
export interface EntryPatch {
  readonly federatesWith?: readonly string[] | undefined;
  /** null: back to the CA's default X509-SVID TTL. */
  readonly ttlSeconds?: number | null | undefined;
  readonly dnsNames?: readonly string[] | undefined;
  readonly description?: string | undefined;
  /** Workload entries only (non-empty, as at create). */
  readonly selectors?: readonly string[] | undefined;
  readonly spiffeId?: unknown;
  readonly node?: unknown;
  readonly parentId?: unknown;
}

/** Fields an update may change, in the order they are reported. */
export const UPDATABLE_ENTRY_FIELDS = [
  'federatesWith',
  'ttlSeconds',
  'dnsNames',
  'description',
  'selectors',
] as const;
export type UpdatableEntryField = (typeof UPDATABLE_ENTRY_FIELDS)[number];
const IDENTITY_FIELDS = ['spiffeId', 'node', 'parentId'] as const;

/**
 * Applies an untrusted patch to `entry` through buildEntry, so an update passes exactly the
 * validation a create does (ID-7..12 on the kept ID, partner names, TTL bounds, DNS names,
 * selectors). Returns the new entry (same id, creation facts) and the fields whose value changed.
 */
export function applyEntryPatch(
  entry: Entry,
  patch: EntryPatch,
  context: { readonly ownTrustDomain: TrustDomain; readonly reserved: readonly SpiffeId[] },
): { entry: Entry; changed: UpdatableEntryField[] } {
  const identity = IDENTITY_FIELDS.filter((field) => patch[field] !== undefined);
  if (identity.length > 0) {
    throw new RegistrationError(
      'ERR_REGISTRATION_ENTRY_IMMUTABLE',
      `${identity.join(', ')} define${identity.length === 1 ? 's' : ''} the entry's identity and cannot be changed in place: delete and re-create the entry`,
    );
  }
  if (UPDATABLE_ENTRY_FIELDS.every((field) => patch[field] === undefined)) {
    throw invalid(`nothing to change: give one of ${UPDATABLE_ENTRY_FIELDS.join(', ')}`);
  }
  const current = encodeEntry(entry);
  const ttl = patch.ttlSeconds === undefined ? entry.ttlSeconds : patch.ttlSeconds;
  const next = buildEntry(
    {
      spiffeId: idPatternText(entry.pattern),
      node: entry.node,
      ...(entry.parentId === undefined ? {} : { parentId: idPatternText(entry.parentId) }),
      federatesWith: patch.federatesWith ?? entry.federatesWith,
      ...(ttl === null || ttl === undefined ? {} : { ttlSeconds: ttl }),
      dnsNames: patch.dnsNames ?? entry.dnsNames,
      description: patch.description ?? entry.description,
      selectors: patch.selectors ?? entry.selectors,
    },
    { ...context, id: entry.id, nowMs: entry.createdAtMs, actor: entry.createdBy },
  );
  const updated = encodeEntry(next);
  const changed = UPDATABLE_ENTRY_FIELDS.filter(
    (field) => JSON.stringify(current[field]) !== JSON.stringify(updated[field]),
  );
  return { entry: next, changed };
}

/** The JSON stored for an entry (the store sees plain data only). */
export function encodeEntry(entry: Entry): Record<string, unknown> {
  return {
    id: entry.id,
    spiffeId: idPatternText(entry.pattern),
    federatesWith: [...entry.federatesWith],
    ttlSeconds: entry.ttlSeconds ?? null,
    dnsNames: [...entry.dnsNames],
    description: entry.description,
    createdAtMs: entry.createdAtMs,
    createdBy: entry.createdBy,
    node: entry.node,
    parentId: entry.parentId === undefined ? null : idPatternText(entry.parentId),
    selectors: [...entry.selectors],
  };
}

/**
 * Reads a stored entry back, re-validating it: a record edited behind our back is refused rather
 * than trusted (it could widen what an agent is granted).
 */
export function decodeEntry(
  value: Readonly<Record<string, unknown>>,
  ownTrustDomain: TrustDomain,
  reserved: readonly SpiffeId[],
): Entry {
  const { id, spiffeId, federatesWith, ttlSeconds, dnsNames, description, createdAtMs, createdBy } =
    value;
  // Records written before node entries existed lack node, parentId and selectors: plain entries.
  const node = value['node'] ?? false;
  const parentId = value['parentId'] ?? null;
  const selectors = value['selectors'] ?? [];
  if (
    typeof node !== 'boolean' ||
    !(parentId === null || typeof parentId === 'string') ||
    !Array.isArray(selectors)
  ) {
    throw invalid('stored registration entry is malformed');
  }
  if (
    !isEntryId(id) ||
    typeof spiffeId !== 'string' ||
    !Array.isArray(federatesWith) ||
    !(ttlSeconds === null || typeof ttlSeconds === 'number') ||
    !Array.isArray(dnsNames) ||
    typeof description !== 'string' ||
    typeof createdAtMs !== 'number' ||
    typeof createdBy !== 'string'
  ) {
    throw invalid('stored registration entry is malformed');
  }
  return buildEntry(
    {
      spiffeId,
      federatesWith: federatesWith as string[],
      ...(ttlSeconds === null ? {} : { ttlSeconds }),
      dnsNames: dnsNames as string[],
      description,
      node,
      ...(parentId === null ? {} : { parentId }),
      selectors: selectors as unknown[] as string[],
    },
    { ownTrustDomain, reserved, id, nowMs: createdAtMs, actor: createdBy },
  );
}

/** The JSON an API shows for an entry. */
export function entryView(entry: Entry): Record<string, unknown> {
  return {
    id: entry.id,
    spiffeId: idPatternText(entry.pattern),
    kind: entry.pattern.kind,
    node: entry.node,
    parentId: entry.parentId === undefined ? null : idPatternText(entry.parentId),
    selectors: [...entry.selectors],
    federatesWith: [...entry.federatesWith],
    ttlSeconds: entry.ttlSeconds ?? null,
    dnsNames: [...entry.dnsNames],
    description: entry.description,
    createdAt: new Date(entry.createdAtMs).toISOString(),
    createdBy: entry.createdBy,
  };
}

/** The JSON a node agent gets for one of its workload entries (contract of issue 17). */
export function nodeEntryView(entry: Entry): Record<string, unknown> {
  return {
    id: entry.id,
    spiffeId: idPatternText(entry.pattern),
    parentId: entry.parentId === undefined ? null : idPatternText(entry.parentId),
    selectors: [...entry.selectors],
    federatesWith: [...entry.federatesWith],
    ttlSeconds: entry.ttlSeconds ?? null,
    dnsNames: [...entry.dnsNames],
  };
}
