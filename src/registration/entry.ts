// Registration entries: which SPIFFE ID (fixed or per-instance template) an agent may hold, for how
// long, with which DNS names, and which partner trust domains' bundles it receives.
import { RegistrationError, SpiffeIdError } from '../errors.js';
import { parseTrustDomain, type SpiffeId, type TrustDomain } from '../spiffeid/index.js';
import { idPatternText, parseIdPattern, type IdPattern } from './template.js';

/** What an admin sends to create an entry (already shape-checked by the API's schema). */
export interface EntryInput {
  readonly spiffeId: string;
  readonly federatesWith?: readonly string[] | undefined;
  readonly ttlSeconds?: number | undefined;
  readonly dnsNames?: readonly string[] | undefined;
  readonly description?: string | undefined;
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

/**
 * Validates an untrusted entry request: the ID or template (ID-7..12, ours, not reserved), the
 * partner list, the TTL bounds and DNS names. Returns the entry to store.
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
  return {
    id: context.id,
    pattern,
    federatesWith: federatesWithOf(input.federatesWith ?? [], context.ownTrustDomain),
    ttlSeconds: ttl,
    dnsNames: dnsNamesOf(input.dnsNames ?? []),
    description: (input.description ?? '').slice(0, 500),
    createdAtMs: context.nowMs,
    createdBy: context.actor,
  };
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
    federatesWith: [...entry.federatesWith],
    ttlSeconds: entry.ttlSeconds ?? null,
    dnsNames: [...entry.dnsNames],
    description: entry.description,
    createdAt: new Date(entry.createdAtMs).toISOString(),
    createdBy: entry.createdBy,
  };
}
