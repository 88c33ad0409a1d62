// The SpiffeId value and its byte-scanning parser (ID-1..ID-14). Never uses the WHATWG URL class (ID-14).
import { SpiffeIdError } from '../errors.js';
import { MAX_SPIFFE_ID_BYTES, PATH_CHARS, SCHEME_PREFIX } from './charset.js';
import { checkTrustDomainChars, TrustDomain } from './trust-domain.js';

/** A validated SPIFFE ID. Its string form is its only spelling, so equality is string equality (ID-10). */
export class SpiffeId {
  readonly trustDomain: TrustDomain;
  /** Empty for the trust domain's own ID, otherwise `/seg[/seg...]`. */
  readonly path: string;
  readonly #text: string;

  /** Use parseSpiffeId or spiffeIdFromSegments; this constructor trusts its input. */
  constructor(trustDomain: TrustDomain, validatedPath: string) {
    this.trustDomain = trustDomain;
    this.path = validatedPath;
    this.#text = SCHEME_PREFIX + trustDomain.name + validatedPath;
  }

  /** True for `spiffe://<td>` (ID-11): valid, but never a workload identity. */
  get isTrustDomainId(): boolean {
    return this.path === '';
  }

  isMemberOf(trustDomain: TrustDomain): boolean {
    return this.trustDomain.name === trustDomain.name;
  }

  equals(other: SpiffeId): boolean {
    return this.#text === other.#text;
  }

  toString(): string {
    return this.#text;
  }

  toJSON(): string {
    return this.#text;
  }
}

function tooLong(length: number): SpiffeIdError {
  return new SpiffeIdError(
    'ERR_SPIFFEID_TOO_LONG',
    `spiffe id is ${length} bytes long; the limit is ${MAX_SPIFFE_ID_BYTES}`,
  );
}

/**
 * Checks `input[start..end)` as a SPIFFE ID path: empty, or `/segment` repeated, where a segment is
 * non-empty, not `.` or `..`, and uses only `A-Z a-z 0-9 . - _` (ID-7, ID-8).
 */
export function checkPath(input: string, start: number, end: number): void {
  let segStart = start;
  for (let i = start; i <= end; i++) {
    const c = i === end ? 0x2f : input.charCodeAt(i);
    if (c === 0x2f) {
      if (i === start) continue;
      const len = i - segStart - 1;
      if (len === 0) {
        throw new SpiffeIdError(
          'ERR_SPIFFEID_PATH_SEGMENT',
          i === end ? 'path ends with "/" (trailing slash)' : 'path contains an empty segment',
        );
      }
      if (
        (len === 1 && input.charCodeAt(segStart + 1) === 0x2e) ||
        (len === 2 &&
          input.charCodeAt(segStart + 1) === 0x2e &&
          input.charCodeAt(segStart + 2) === 0x2e)
      ) {
        throw new SpiffeIdError('ERR_SPIFFEID_PATH_SEGMENT', 'path contains a "." or ".." segment');
      }
      segStart = i;
      continue;
    }
    if (c >= 128 || PATH_CHARS[c] === 0) {
      throw new SpiffeIdError(
        'ERR_SPIFFEID_PATH_CHAR',
        `path contains a forbidden character ${JSON.stringify(input[i])}; only A-Z a-z 0-9 . - _ are allowed`,
        { context: { position: i } },
      );
    }
  }
}

/** Parses an untrusted SPIFFE ID string (section 1 of SPIFFE-RULES). */
export function parseSpiffeId(input: string): SpiffeId {
  if (typeof input !== 'string') {
    throw new TypeError('spiffe id must be a string');
  }
  if (input.length === 0) {
    throw new SpiffeIdError('ERR_SPIFFEID_EMPTY', 'spiffe id is empty');
  }
  if (input.length > MAX_SPIFFE_ID_BYTES) throw tooLong(Buffer.byteLength(input));
  // ID-2: only the literal lowercase prefix; an upper-case scheme is rejected, not normalised.
  if (!input.startsWith(SCHEME_PREFIX)) {
    throw new SpiffeIdError(
      'ERR_SPIFFEID_SCHEME',
      'spiffe id must start with the lowercase scheme "spiffe://"',
    );
  }
  let tdEnd = input.indexOf('/', SCHEME_PREFIX.length);
  if (tdEnd === -1) tdEnd = input.length;
  checkTrustDomainChars(input, SCHEME_PREFIX.length, tdEnd);
  checkPath(input, tdEnd, input.length);
  return new SpiffeId(
    new TrustDomain(input.slice(SCHEME_PREFIX.length, tdEnd)),
    input.slice(tdEnd),
  );
}

/** Builds `spiffe://<td>/<seg>/<seg>...` from raw segments, validating each one (ID-7, ID-9). */
export function spiffeIdFromSegments(trustDomain: TrustDomain, ...segments: string[]): SpiffeId {
  const path = segments.length === 0 ? '' : '/' + segments.join('/');
  for (const segment of segments) {
    if (typeof segment !== 'string') throw new TypeError('path segments must be strings');
    if (segment.includes('/')) {
      throw new SpiffeIdError(
        'ERR_SPIFFEID_PATH_CHAR',
        `path segment ${JSON.stringify(segment.slice(0, 100))} contains "/"`,
      );
    }
  }
  checkPath(path, 0, path.length);
  const length = SCHEME_PREFIX.length + trustDomain.name.length + path.length;
  if (length > MAX_SPIFFE_ID_BYTES) throw tooLong(length);
  return new SpiffeId(trustDomain, path);
}

/** The trust domain's own ID, `spiffe://<td>` (ID-11). */
export function spiffeIdOfTrustDomain(trustDomain: TrustDomain): SpiffeId {
  return new SpiffeId(trustDomain, '');
}
