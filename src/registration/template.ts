// The SPIFFE ID an entry grants: a fixed ID, or a template with one `{instance}` placeholder as a
// whole path segment, filled with a fresh instance id at each enrolment (ID-7, ID-9, ID-11, ID-12).
import { RegistrationError, SpiffeIdError } from '../errors.js';
import { parseSpiffeId, type SpiffeId, type TrustDomain } from '../spiffeid/index.js';

/** The only placeholder a template may hold, exactly once, as a whole path segment. */
export const INSTANCE_PLACEHOLDER = '{instance}';
/** Random bytes per instance id: 16 bytes of base64url are 22 characters, one valid path segment (ID-7). */
export const INSTANCE_ID_BYTES = 16;

const SCHEME_PREFIX = 'spiffe://';
/** A generated instance id: base64url of INSTANCE_ID_BYTES bytes, no padding. */
const INSTANCE_ID_RE = /^[A-Za-z0-9_-]{22}$/;
/** Any valid path segment (ID-7); `.` and `..` are refused separately. */
const SEGMENT_RE = /^[A-Za-z0-9._-]+$/;
/** Stands in for the instance id when a template is validated: as long as a generated one (ID-9). */
const SAMPLE_INSTANCE_ID = 'x'.repeat(22);

/** What an entry's `spiffeId` compiles to. */
export type IdPattern =
  | { readonly kind: 'fixed'; readonly id: SpiffeId }
  | {
      readonly kind: 'template';
      readonly text: string;
      /** Everything before the placeholder, ending with `/`. */
      readonly prefix: string;
      /** Everything after the placeholder: empty or starting with `/`. */
      readonly suffix: string;
    };

function invalid(message: string, cause?: unknown): RegistrationError {
  return new RegistrationError(
    'ERR_REGISTRATION_ENTRY_INVALID',
    message,
    cause === undefined ? {} : { cause },
  );
}

function quote(text: string): string {
  return JSON.stringify(text.slice(0, 200));
}

function parseWrapped(text: string, shown: string): SpiffeId {
  try {
    return parseSpiffeId(text);
  } catch (error) {
    if (error instanceof SpiffeIdError) {
      throw invalid(`spiffe id ${quote(shown)} is not valid: ${error.message}`, error);
    }
    throw error;
  }
}

function checkOurs(id: SpiffeId, shown: string, ownTrustDomain: TrustDomain): void {
  if (!id.isMemberOf(ownTrustDomain)) {
    throw invalid(`spiffe id ${quote(shown)} is not in our trust domain "${ownTrustDomain.name}"`);
  }
  if (id.isTrustDomainId) {
    throw invalid(
      `spiffe id ${quote(shown)} has no path; the trust domain's own id never names a workload (ID-11)`,
    );
  }
}

/**
 * Validates an untrusted fixed ID or template: a valid SPIFFE ID once a sample instance id is
 * substituted (ID-7, ID-9), in our trust domain with a non-empty path (ID-11), the placeholder
 * exactly once and as a whole path segment (ID-12), and none of `reserved` reachable through it.
 */
export function parseIdPattern(
  text: string,
  ownTrustDomain: TrustDomain,
  reserved: readonly SpiffeId[] = [],
): IdPattern {
  if (typeof text !== 'string') throw new TypeError('spiffeId must be a string');
  const at = text.indexOf(INSTANCE_PLACEHOLDER);
  let pattern: IdPattern;
  if (at === -1) {
    const id = parseWrapped(text, text);
    checkOurs(id, text, ownTrustDomain);
    pattern = { kind: 'fixed', id };
  } else {
    if (text.indexOf(INSTANCE_PLACEHOLDER, at + 1) !== -1) {
      throw invalid(`template ${quote(text)} must hold exactly one ${INSTANCE_PLACEHOLDER}`);
    }
    const prefix = text.slice(0, at);
    const suffix = text.slice(at + INSTANCE_PLACEHOLDER.length);
    if (!prefix.endsWith('/') || !(suffix === '' || suffix.startsWith('/'))) {
      throw invalid(
        `template ${quote(text)}: ${INSTANCE_PLACEHOLDER} must be a whole path segment (ID-7, ID-12)`,
      );
    }
    const sample = parseWrapped(prefix + SAMPLE_INSTANCE_ID + suffix, text);
    const trustDomainEnd = text.indexOf('/', SCHEME_PREFIX.length);
    if (!text.startsWith(SCHEME_PREFIX) || trustDomainEnd === -1 || trustDomainEnd >= at) {
      throw invalid(
        `template ${quote(text)}: ${INSTANCE_PLACEHOLDER} must be in the path, not the trust domain`,
      );
    }
    checkOurs(sample, text, ownTrustDomain);
    pattern = { kind: 'template', text, prefix, suffix };
  }
  for (const id of reserved) {
    if (matchIdPattern(pattern, id) !== undefined) {
      throw invalid(
        `spiffe id ${quote(text)} would grant the reserved id "${id.toString()}" (bundle endpoint or admin)`,
      );
    }
  }
  return pattern;
}

/** The text form of a pattern, as stored in an entry. */
export function idPatternText(pattern: IdPattern): string {
  return pattern.kind === 'fixed' ? pattern.id.toString() : pattern.text;
}

/**
 * Whether `id` is granted by the pattern: `{ instanceId: undefined }` for a fixed match, the filled
 * segment for a template match (on segment boundaries only, ID-12), undefined when not granted.
 */
export function matchIdPattern(
  pattern: IdPattern,
  id: SpiffeId,
): { readonly instanceId: string | undefined } | undefined {
  const text = id.toString();
  if (pattern.kind === 'fixed') {
    return text === pattern.id.toString() ? { instanceId: undefined } : undefined;
  }
  const { prefix, suffix } = pattern;
  if (text.length <= prefix.length + suffix.length) return undefined;
  if (!text.startsWith(prefix) || !text.endsWith(suffix)) return undefined;
  const middle = text.slice(prefix.length, text.length - suffix.length);
  // `id` is a valid SPIFFE ID, so a middle without `/` is one valid segment (ID-7).
  return middle.includes('/') ? undefined : { instanceId: middle };
}

/** The path-and-trust-domain segments of a pattern; null stands for the placeholder. */
function segmentsOf(pattern: IdPattern): (string | null)[] {
  const text = idPatternText(pattern).slice(SCHEME_PREFIX.length);
  return text.split('/').map((segment) => (segment === INSTANCE_PLACEHOLDER ? null : segment));
}

/**
 * True when some SPIFFE ID is granted by both patterns, which would make the entry behind an
 * SVID ambiguous (a placeholder can take any segment value).
 */
export function idPatternsOverlap(a: IdPattern, b: IdPattern): boolean {
  const left = segmentsOf(a);
  const right = segmentsOf(b);
  if (left.length !== right.length) return false;
  return left.every((segment, i) => {
    const other = right[i];
    return segment === null || other === null || segment === other;
  });
}

/** Fills a template with an instance id (trusted: generated by us or read from one of our SVIDs). */
export function fillIdPattern(pattern: IdPattern, instanceId: string | undefined): SpiffeId {
  if (pattern.kind === 'fixed') {
    if (instanceId !== undefined) throw new TypeError('a fixed spiffe id takes no instance id');
    return pattern.id;
  }
  if (
    typeof instanceId !== 'string' ||
    !SEGMENT_RE.test(instanceId) ||
    instanceId === '.' ||
    instanceId === '..'
  ) {
    throw new TypeError('a template needs an instance id that is one valid path segment (ID-7)');
  }
  return parseSpiffeId(pattern.prefix + instanceId + pattern.suffix);
}

/** A fresh instance id: 16 random bytes as base64url (22 characters, one path segment). */
export function newInstanceId(randomBytes: (size: number) => Buffer): string {
  const bytes = randomBytes(INSTANCE_ID_BYTES);
  if (!Buffer.isBuffer(bytes) || bytes.length !== INSTANCE_ID_BYTES) {
    throw new TypeError(`randomBytes must return ${INSTANCE_ID_BYTES} bytes`);
  }
  const id = bytes.toString('base64url');
  if (!INSTANCE_ID_RE.test(id)) throw new TypeError('unexpected instance id encoding');
  return id;
}
