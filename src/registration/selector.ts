// Workload selectors of a workload entry (`type:value`, all must match, WAPI-4 attestation by the
// node agent): syntax, types and bounds checked when an entry is created and when it is read back.
import { RegistrationError } from '../errors.js';

/** The selector types a node agent attests from the kernel. */
export const SELECTOR_TYPES = [
  'unix:uid',
  'unix:user',
  'unix:gid',
  'unix:group',
  'unix:path',
  'unix:sha256',
  'container:id',
] as const;
export type SelectorType = (typeof SELECTOR_TYPES)[number];

export const MAX_SELECTORS = 32;
/** Longest selector text accepted (a `unix:path` of up to 1024 characters fits). */
export const MAX_SELECTOR_LENGTH = 1100;
const MAX_PATH_LENGTH = 1024;

/** A parsed selector: its type and canonical value. */
export interface Selector {
  readonly type: SelectorType;
  readonly value: string;
}

/** Types a process has exactly one value of: two different values of one type never both match. */
const SINGLE_VALUED: ReadonlySet<SelectorType> = new Set([
  'unix:uid',
  'unix:user',
  'unix:path',
  'unix:sha256',
  'container:id',
]);

const ID_RE = /^(?:0|[1-9][0-9]{0,9})$/;
/** POSIX-portable user and group names (plus `$` for machine accounts), as useradd accepts. */
const NAME_RE = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}\$?$/;
const SHA256_RE = /^[0-9a-f]{64}$/;
/** Container ids as cgroup paths carry them (docker, containerd, cri-o, podman): hex. */
const CONTAINER_ID_RE = /^[0-9a-f]{1,128}$/;

function invalid(message: string): RegistrationError {
  return new RegistrationError('ERR_REGISTRATION_SELECTOR_INVALID', message);
}

function quote(text: string): string {
  return JSON.stringify(text.slice(0, 100));
}

/**
 * An absolute, canonical path (what /proc/<pid>/exe reads as): no `.`, `..` or empty segments, no
 * whitespace or control characters (the node agent's entry parser refuses them too).
 */
function isCanonicalPath(path: string): boolean {
  if (!path.startsWith('/') || path.length > MAX_PATH_LENGTH || path === '/') return false;
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  if (/[\s\u0000-\u001f\u007f]/.test(path)) return false;
  return path
    .slice(1)
    .split('/')
    .every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}

function checkValue(type: SelectorType, raw: string): string {
  switch (type) {
    case 'unix:uid':
    case 'unix:gid':
      if (!ID_RE.test(raw) || Number(raw) > 4_294_967_294) {
        throw invalid(`${type} needs a decimal id from 0 to 4294967294, not ${quote(raw)}`);
      }
      return raw;
    case 'unix:user':
    case 'unix:group':
      if (!NAME_RE.test(raw))
        throw invalid(`${type} needs a user or group name, not ${quote(raw)}`);
      return raw;
    case 'unix:path':
      if (!isCanonicalPath(raw)) {
        throw invalid(`unix:path needs an absolute canonical path, not ${quote(raw)}`);
      }
      return raw;
    case 'unix:sha256': {
      const lower = raw.toLowerCase();
      if (!SHA256_RE.test(lower))
        throw invalid(`unix:sha256 needs 64 hex digits, not ${quote(raw)}`);
      return lower;
    }
    case 'container:id': {
      const lower = raw.toLowerCase();
      if (!CONTAINER_ID_RE.test(lower)) {
        throw invalid(`container:id needs 1 to 128 hex digits, not ${quote(raw)}`);
      }
      return lower;
    }
  }
}

/** Parses one untrusted `type:value` selector; hex values (sha256, container id) are lowercased. */
export function parseSelector(text: unknown): Selector {
  if (typeof text !== 'string') throw invalid('a selector must be a string');
  if (text.length > MAX_SELECTOR_LENGTH) {
    throw invalid(`selector longer than ${MAX_SELECTOR_LENGTH} characters`);
  }
  const type = SELECTOR_TYPES.find((candidate) => text.startsWith(`${candidate}:`));
  if (type === undefined) {
    throw invalid(
      `selector ${quote(text)} has an unknown type; known: ${SELECTOR_TYPES.join(', ')}`,
    );
  }
  return { type, value: checkValue(type, text.slice(type.length + 1)) };
}

export function selectorText(selector: Selector): string {
  return `${selector.type}:${selector.value}`;
}

/**
 * Parses an entry's selector list: bounded, each valid, duplicates dropped, sorted; two different
 * values of a single-valued type (one uid, one binary) are refused as they could never match.
 */
export function parseSelectors(list: readonly unknown[]): string[] {
  if (list.length > MAX_SELECTORS) throw invalid(`more than ${MAX_SELECTORS} selectors`);
  const byText = new Map<string, Selector>();
  for (const item of list) {
    const selector = parseSelector(item);
    byText.set(selectorText(selector), selector);
  }
  const seen = new Map<SelectorType, string>();
  for (const selector of byText.values()) {
    if (!SINGLE_VALUED.has(selector.type)) continue;
    const other = seen.get(selector.type);
    if (other !== undefined) {
      throw invalid(
        `selectors ${quote(`${selector.type}:${other}`)} and ${quote(selectorText(selector))} can never both match`,
      );
    }
    seen.set(selector.type, selector.value);
  }
  return [...byText.keys()].sort();
}
