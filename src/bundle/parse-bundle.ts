// parseBundle: untrusted SPIFFE bundle bytes -> Bundle, applying BUNDLE-1..28 exactly as the
// BUNDLE-28 summary says: whole-document problems throw BundleError, bad entries are skipped.
import { createHash, X509Certificate, type KeyObject } from 'node:crypto';
import { BundleError } from '../errors.js';
import { TrustDomain } from '../spiffeid/index.js';
import {
  Bundle,
  jwtAuthorityFromJwk,
  x509AuthorityFromParsed,
  type BundleNote,
  type JwtAuthority,
  type SkippedEntry,
  type X509Authority,
} from './bundle.js';
import { decodeStrictBase64, decodeStrictBase64Url, isSingleDerSequence } from './base64.js';
import {
  JsonNumber,
  isJsonArray,
  isJsonObject,
  parseStrictJson,
  type JsonObject,
  type JsonValue,
} from './json.js';
import { SUPPORTED_KTYS, checkKeyParams, keyParamsEqual, keyParamsOfKey } from './jwk-key.js';

/** BUNDLE-7: documents larger than this many bytes are refused before parsing. */
export const MAX_BUNDLE_BYTES = 1024 * 1024;
/** BUNDLE-7: documents with more JWK entries than this are refused. */
export const MAX_BUNDLE_KEYS = 1000;

/** BUNDLE-14: JWK members that only a private or symmetric key carries. */
export const PRIVATE_JWK_MEMBERS: readonly string[] = Object.freeze([
  'd',
  'p',
  'q',
  'dp',
  'dq',
  'qi',
  'oth',
  'k',
]);

/**
 * BUNDLE-14: which members are private depends on the key type. An entry whose `kty` is not a
 * key here (missing, not a string, unknown) is ignored whole before any member is judged: a
 * `k` or `d` there proves nothing (JB-6).
 */
export const PRIVATE_JWK_MEMBERS_BY_KTY: Readonly<Record<string, readonly string[]>> =
  Object.freeze({
    EC: Object.freeze(['d']),
    OKP: Object.freeze(['d']),
    RSA: Object.freeze(['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth']),
    oct: Object.freeze(['k']),
  });

/** Stable reasons recorded in `Bundle.skipped` (BUNDLE-28, "entry ignored"). */
export const SKIP_REASONS = [
  'missing-kty', // BUNDLE-10
  'unknown-kty', // BUNDLE-10
  'kty-oct', // BUNDLE-10: symmetric keys never belong in a bundle
  'missing-use', // BUNDLE-11
  'unknown-use', // BUNDLE-11 (case-sensitive)
  'use-wit-svid', // BUNDLE-11: WIT-SVID is not implemented by this broker
  'invalid-key', // BUNDLE-13
  'weak-key', // BUNDLE-13: RSA under 2048 bits
  'x5c-missing', // BUNDLE-21
  'x5c-invalid', // BUNDLE-21: not strict base64 or not one DER certificate
  'x5c-not-ca', // BUNDLE-21
  'x5c-key-mismatch', // BUNDLE-21
  'thumbprint-mismatch', // BUNDLE-15
  'missing-kid', // BUNDLE-26
] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

/** Stable reasons recorded in `Bundle.notes` (accepted entries worth logging). */
export const NOTE_REASONS = [
  'x509-kid-ignored', // BUNDLE-22
  'x5c-extra-ignored', // BUNDLE-21: only x5c[0] is used (go-spiffe would reject the document)
  'x509-duplicate', // BUNDLE-23: same certificate as an earlier entry
] as const;
export type NoteReason = (typeof NOTE_REASONS)[number];

const MAX_SEQUENCE = (1n << 64n) - 1n;
const MIN_INT64 = -(1n << 63n);
const MAX_INT64 = (1n << 63n) - 1n;

function quote(value: string): string {
  return JSON.stringify(value.length > 64 ? value.slice(0, 64) + '…' : value);
}

/** Byte length of the document as UTF-8, without encoding it when it is obviously too large. */
function documentBytes(input: Uint8Array | string): number {
  if (typeof input !== 'string') return input.length;
  // Every UTF-16 code unit needs at least one UTF-8 byte.
  if (input.length > MAX_BUNDLE_BYTES) return input.length;
  return Buffer.byteLength(input, 'utf8');
}

/**
 * Parses a SPIFFE bundle received for `trustDomain` (FED-26: nothing in the body decides the trust
 * domain). Throws BundleError when the whole document is invalid (BUNDLE-28), checked in this
 * order: size, UTF-8 and JSON grammar (including duplicate members), top level not an object,
 * `keys` missing or not an array, private members in any entry, too many entries, an entry that
 * is not an object, `spiffe_sequence`, `spiffe_refresh_hint`, duplicate `jwt-svid` kid.
 * Otherwise returns a Bundle; ignored entries are listed in `skipped` with a SkipReason.
 */
export function parseBundle(bytes: Uint8Array | string, trustDomain: TrustDomain): Bundle {
  if (typeof bytes !== 'string' && !(bytes instanceof Uint8Array)) {
    throw new TypeError('bundle must be a Uint8Array or a string');
  }
  if (!(trustDomain instanceof TrustDomain)) {
    throw new TypeError('trustDomain must be a TrustDomain');
  }
  const size = documentBytes(bytes);
  if (size > MAX_BUNDLE_BYTES) {
    throw new BundleError(
      'ERR_BUNDLE_TOO_LARGE',
      `bundle is ${size} bytes; the limit is ${MAX_BUNDLE_BYTES}`,
    );
  }
  const doc = parseStrictJson(bytes);
  if (!isJsonObject(doc)) {
    throw new BundleError('ERR_BUNDLE_NOT_OBJECT', 'bundle top level is not a json object');
  }
  const keys = doc.keys;
  if (!isJsonArray(keys)) {
    throw new BundleError(
      'ERR_BUNDLE_KEYS_MISSING',
      keys === undefined ? 'bundle has no "keys" member' : 'bundle "keys" is not an array',
    );
  }
  checkPrivateMembers(keys);
  if (keys.length > MAX_BUNDLE_KEYS) {
    throw new BundleError(
      'ERR_BUNDLE_TOO_MANY_KEYS',
      `bundle has ${keys.length} keys; the limit is ${MAX_BUNDLE_KEYS}`,
    );
  }
  const entries: JsonObject[] = [];
  for (let index = 0; index < keys.length; index++) {
    const entry = keys[index];
    if (!isJsonObject(entry)) {
      throw new BundleError('ERR_BUNDLE_KEY_NOT_OBJECT', `keys[${index}] is not a json object`, {
        context: { index },
      });
    }
    entries.push(entry);
  }
  const sequence = parseSequence(doc);
  const refreshHintSeconds = parseRefreshHint(doc);
  checkDuplicateKids(entries);

  const skipped: SkippedEntry[] = [];
  const notes: BundleNote[] = [];
  const x509Authorities: X509Authority[] = [];
  const jwtAuthorities: JwtAuthority[] = [];
  const fingerprints = new Set<string>();
  entries.forEach((entry, index) => {
    const skip = (reason: SkipReason, detail: string): void => {
      skipped.push(Object.freeze({ index, reason, detail }));
    };
    const note = (reason: NoteReason, detail: string): void => {
      notes.push(Object.freeze({ index, reason, detail }));
    };
    const kty = entry.kty;
    if (kty === undefined) return skip('missing-kty', 'entry has no "kty"');
    if (kty === 'oct') return skip('kty-oct', 'symmetric key in a bundle');
    if (typeof kty !== 'string' || !SUPPORTED_KTYS.has(kty)) {
      return skip(
        'unknown-kty',
        typeof kty === 'string' ? `kty ${quote(kty)} is not understood` : 'kty is not a string',
      );
    }
    const use = entry.use;
    if (use === undefined) return skip('missing-use', 'entry has no "use"');
    if (use === 'wit-svid') return skip('use-wit-svid', 'wit-svid keys are not supported');
    if (use === 'x509-svid') {
      const authority = parseX509Entry(entry, kty, skip, note);
      if (authority === undefined) return;
      if (fingerprints.has(authority.fingerprintSha256)) {
        note('x509-duplicate', 'certificate already published by an earlier entry');
        return;
      }
      fingerprints.add(authority.fingerprintSha256);
      x509Authorities.push(authority);
      return;
    }
    if (use === 'jwt-svid') {
      const authority = parseJwtEntry(entry, kty, skip);
      if (authority !== undefined) jwtAuthorities.push(authority);
      return;
    }
    return skip(
      'unknown-use',
      typeof use === 'string' ? `use ${quote(use)} is not understood` : 'use is not a string',
    );
  });

  return new Bundle({
    trustDomain,
    x509Authorities,
    jwtAuthorities,
    sequence,
    refreshHintSeconds,
    skipped,
    notes,
  });
}

/**
 * BUNDLE-14: a private member of its key type in any entry of a known `kty` rejects the document
 * (even an entry later ignored for its `use` or key); entries of unknown `kty` are not judged.
 */
function checkPrivateMembers(keys: readonly JsonValue[]): void {
  for (let index = 0; index < keys.length; index++) {
    const entry = keys[index];
    if (!isJsonObject(entry)) continue;
    const kty = entry.kty;
    if (typeof kty !== 'string' || !Object.hasOwn(PRIVATE_JWK_MEMBERS_BY_KTY, kty)) continue;
    for (const member of PRIVATE_JWK_MEMBERS_BY_KTY[kty] ?? []) {
      if (member in entry) {
        throw new BundleError(
          'ERR_BUNDLE_PRIVATE_KEY',
          `keys[${index}] carries private member "${member}": the publisher leaked a private key`,
          { context: { index, member } },
        );
      }
    }
  }
}

/** BUNDLE-4: an unsigned 64-bit integer literal, kept lossless as bigint. */
function parseSequence(doc: JsonObject): bigint | undefined {
  const value = doc.spiffe_sequence;
  if (value === undefined) return undefined;
  // A leading minus is refused even for "-0", as Go's unsigned parse does.
  const sequence =
    value instanceof JsonNumber && !value.raw.startsWith('-')
      ? value.toBigIntInRange(0n, MAX_SEQUENCE)
      : undefined;
  if (sequence === undefined) {
    throw new BundleError(
      'ERR_BUNDLE_SEQUENCE',
      'spiffe_sequence must be an integer from 0 to 18446744073709551615',
    );
  }
  return sequence;
}

/** BUNDLE-5: a signed 64-bit integer literal of seconds; zero or negative counts as absent. */
function parseRefreshHint(doc: JsonObject): number | undefined {
  const value = doc.spiffe_refresh_hint;
  if (value === undefined) return undefined;
  const hint =
    value instanceof JsonNumber ? value.toBigIntInRange(MIN_INT64, MAX_INT64) : undefined;
  if (hint === undefined) {
    throw new BundleError(
      'ERR_BUNDLE_REFRESH_HINT',
      'spiffe_refresh_hint must be an integer number of seconds (signed 64-bit)',
    );
  }
  if (hint <= 0n) return undefined;
  // Hints beyond 2^53-1 seconds are clamped: they only ever mean "rarely" (FED-40 clamps further).
  return hint > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(hint);
}

/**
 * BUNDLE-16: two `jwt-svid` entries with the same non-empty kid reject the document. An entry of a
 * key type we do not know is ignored whole (BUNDLE-10/12), so its kid clashes with nothing.
 */
function checkDuplicateKids(entries: readonly JsonObject[]): void {
  const seen = new Set<string>();
  entries.forEach((entry, index) => {
    const kid = entry.kid;
    if (entry.use !== 'jwt-svid' || typeof kid !== 'string' || kid === '') return;
    if (typeof entry.kty !== 'string' || !SUPPORTED_KTYS.has(entry.kty)) return;
    if (seen.has(kid)) {
      throw new BundleError('ERR_BUNDLE_DUPLICATE_KID', `duplicate jwt-svid kid ${quote(kid)}`, {
        context: { index },
      });
    }
    seen.add(kid);
  });
}

type Skip = (reason: SkipReason, detail: string) => void;
type Note = (reason: NoteReason, detail: string) => void;

/** BUNDLE-20..22, BUNDLE-15: one `x509-svid` entry -> its x5c[0] authority, or skipped. */
function parseX509Entry(
  entry: JsonObject,
  kty: string,
  skip: Skip,
  note: Note,
): X509Authority | undefined {
  const x5c = entry.x5c;
  if (!isJsonArray(x5c) || x5c.length === 0) {
    skip('x5c-missing', 'x509-svid entry without a certificate in "x5c"');
    return undefined;
  }
  const first = x5c[0];
  const der = typeof first === 'string' ? decodeStrictBase64(first) : undefined;
  if (der === undefined) {
    skip('x5c-invalid', 'x5c[0] is not standard base64 with padding');
    return undefined;
  }
  let certificate: X509Certificate;
  let certificateKey: KeyObject;
  try {
    if (!isSingleDerSequence(der)) throw new Error('not a single der element');
    certificate = new X509Certificate(der);
    // The certificate may parse while its subject public key does not decode.
    certificateKey = certificate.publicKey;
  } catch {
    skip('x5c-invalid', 'x5c[0] is not a der x.509 certificate');
    return undefined;
  }
  for (const [member, algorithm] of [
    ['x5t', 'sha1'],
    ['x5t#S256', 'sha256'],
  ] as const) {
    const thumbprint = entry[member];
    if (thumbprint === undefined) continue;
    const expected = createHash(algorithm).update(der).digest();
    const actual = typeof thumbprint === 'string' ? decodeStrictBase64Url(thumbprint) : undefined;
    if (actual === undefined || !actual.equals(expected)) {
      skip('thumbprint-mismatch', `"${member}" does not match x5c[0]`);
      return undefined;
    }
  }
  const check = checkKeyParams(entry, kty);
  if (!check.ok) {
    skip(check.reason, check.detail);
    return undefined;
  }
  if (!certificate.ca) {
    skip('x5c-not-ca', 'x5c[0] is not a ca certificate');
    return undefined;
  }
  const certificateParams = keyParamsOfKey(certificateKey);
  if (certificateParams === undefined || !keyParamsEqual(certificateParams, check.params)) {
    skip('x5c-key-mismatch', 'jwk key parameters differ from the x5c[0] public key');
    return undefined;
  }
  if (entry.kid !== undefined) note('x509-kid-ignored', 'kid on an x509-svid entry is ignored');
  if (x5c.length > 1) {
    note('x5c-extra-ignored', `${x5c.length - 1} certificate(s) after x5c[0] ignored`);
  }
  return x509AuthorityFromParsed(der, certificate, certificateKey);
}

/** BUNDLE-25/26, BUNDLE-13: one `jwt-svid` entry -> a JwtAuthority, or skipped. */
function parseJwtEntry(entry: JsonObject, kty: string, skip: Skip): JwtAuthority | undefined {
  const kid = entry.kid;
  if (typeof kid !== 'string' || kid === '') {
    skip('missing-kid', 'jwt-svid entry without a non-empty string "kid"');
    return undefined;
  }
  const check = checkKeyParams(entry, kty);
  if (!check.ok) {
    skip(check.reason, `${check.detail} (kid ${quote(kid)})`);
    return undefined;
  }
  try {
    // createPublicKey refuses EC points that are not on the curve.
    return jwtAuthorityFromJwk(kid, { ...check.params });
  } catch {
    skip('invalid-key', `key parameters do not form a valid public key (kid ${quote(kid)})`);
    return undefined;
  }
}
