// The node state the broker sends (contract 17): this node's workload entries and the bundles they
// need. Parsed from untrusted JSON with zod; entries are matched against attested selectors here.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import {
  BundleSet,
  JsonNumber,
  parseBundle,
  stringifyJsonValue,
  type JsonValue,
} from '../bundle/index.js';
import { parseTrustDomain, type TrustDomain } from '../spiffeid/index.js';
import { WorkloadError } from '../errors.js';

/** A workload entry served to this node (GET /v1/agent/node/entries). */
export interface NodeEntry {
  readonly id: string;
  /** A fixed SPIFFE ID, or a template with `{instance}` (one ID per workload process). */
  readonly spiffeId: string;
  readonly parentId: string;
  readonly selectors: readonly string[];
  readonly federatesWith: readonly string[];
  readonly ttlSeconds: number | null;
  readonly dnsNames: readonly string[];
}

export interface NodeState {
  readonly revision: string;
  readonly entries: readonly NodeEntry[];
  /** Entries left out because they did not parse (one bad entry never hides the others). */
  readonly skippedEntries?: number;
  /** Our own bundle plus the partners named by any entry's federatesWith. */
  readonly bundles: BundleSet;
  /** The serving replica's active X.509 authority (hex key id); a change re-signs workload SVIDs. */
  readonly activeX509Authority?: string;
}

/** Bounds on what one node state may hold (the broker is trusted, but never unboundedly). */
export const MAX_NODE_ENTRIES = 10_000;
export const MAX_ENTRY_SELECTORS = 32;
const SELECTOR =
  /^(unix:(uid|gid):\d{1,10}|unix:(user|group):[^\s:]{1,256}|unix:path:\/\S{0,4095}|unix:sha256:[0-9a-fA-F]{64}|container:id:[0-9a-fA-F]{1,128})$/;
/** Shape of an instance id: 22 base64url characters (128 bits). */
export const INSTANCE_RE = /^[A-Za-z0-9_-]{22}$/;
export const INSTANCE_PLACEHOLDER = '{instance}';

const entrySchema = z
  .object({
    id: z.string().min(1).max(200),
    spiffeId: z.string().min(1).max(2048),
    parentId: z.string().min(1).max(2048),
    selectors: z.array(z.string().regex(SELECTOR)).min(1).max(MAX_ENTRY_SELECTORS),
    federatesWith: z.array(z.string().min(1).max(255)).max(1000),
    // parseStrictJson keeps numbers lossless (JsonNumber); a TTL is a small integer.
    ttlSeconds: z.preprocess(
      (v) => (v instanceof JsonNumber ? Number(v.raw) : v),
      z.number().int().positive().max(100_000_000).nullable(),
    ),
    dnsNames: z.array(z.string().max(253)).max(100),
  })
  .loose();

const stateSchema = z
  .object({
    revision: z.string().max(200),
    entries: z.array(z.unknown()).max(MAX_NODE_ENTRIES),
    bundles: z.record(z.string(), z.unknown()).optional(),
    activeX509Authority: z.string().min(1).max(200).optional(),
  })
  .loose();

function invalid(message: string, cause?: unknown): WorkloadError {
  return new WorkloadError(
    'ERR_WORKLOAD_STATE_INVALID',
    message,
    cause === undefined ? {} : { cause },
  );
}

/** Hex values compare in lower case, as the attestor produces them. */
function normalizeSelector(selector: string): string {
  return /^(unix:sha256|container:id):/.test(selector) ? selector.toLowerCase() : selector;
}

/** Parses `{ revision, entries, bundles }`; our own trust domain's bundle must be present. */
export function parseNodeState(value: unknown, ownTrustDomain: TrustDomain): NodeState {
  const parsed = stateSchema.safeParse(value);
  if (!parsed.success) throw invalid(`malformed node state: ${parsed.error.issues[0]?.message}`);
  const bundles = [];
  try {
    for (const [name, json] of Object.entries(parsed.data.bundles ?? {})) {
      bundles.push(parseBundle(stringifyJsonValue(json as JsonValue), parseTrustDomain(name)));
    }
  } catch (error) {
    throw invalid('malformed bundle in node state', error);
  }
  const set = new BundleSet(bundles);
  const entries: NodeEntry[] = [];
  for (const raw of parsed.data.entries) {
    const entry = entrySchema.safeParse(raw);
    if (!entry.success) continue;
    const e = entry.data;
    entries.push({
      id: e.id,
      spiffeId: e.spiffeId,
      parentId: e.parentId,
      selectors: e.selectors.map(normalizeSelector),
      federatesWith: [...e.federatesWith],
      ttlSeconds: e.ttlSeconds,
      dnsNames: [...e.dnsNames],
    });
  }
  if (set.get(ownTrustDomain) === undefined) throw invalid('node state lacks our own bundle');
  return {
    revision: parsed.data.revision,
    entries,
    skippedEntries: parsed.data.entries.length - entries.length,
    bundles: set,
    ...(parsed.data.activeX509Authority === undefined
      ? {}
      : { activeX509Authority: parsed.data.activeX509Authority }),
  };
}

/** Entries whose every selector the workload has (SPIRE's subset match), in the broker's order. */
export function matchEntries(
  entries: readonly NodeEntry[],
  selectors: ReadonlySet<string>,
): NodeEntry[] {
  return entries.filter(
    (e) => e.selectors.length > 0 && e.selectors.every((s) => selectors.has(s)),
  );
}

const SHA256_SELECTOR = 'unix:sha256:';

/**
 * Whether the caller's binary hash can change which entries match: some entry has a unix:sha256
 * selector and the caller already has all its other selectors. Otherwise the binary is not read.
 */
export function needsBinaryHash(
  entries: readonly NodeEntry[],
  selectors: ReadonlySet<string>,
): boolean {
  return entries.some(
    (e) =>
      e.selectors.some((s) => s.startsWith(SHA256_SELECTOR)) &&
      e.selectors.every((s) => s.startsWith(SHA256_SELECTOR) || selectors.has(s)),
  );
}

export function isTemplateEntry(entry: NodeEntry): boolean {
  return entry.spiffeId.includes(INSTANCE_PLACEHOLDER);
}

/**
 * The instance id of one workload process (contract 17): base64url(sha256(node | boot_id | pid |
 * startTime)) cut to 22 characters: stable while the process lives, new for another process.
 */
export function instanceOf(nodeId: string, bootId: string, pid: number, startTime: string): string {
  return createHash('sha256')
    .update(`${nodeId}|${bootId}|${pid}|${startTime}`)
    .digest('base64url')
    .slice(0, 22);
}
