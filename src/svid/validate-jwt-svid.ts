// Validates a JWT-SVID (JWS compact serialization) against the jwt-svid authorities of `sub`'s trust
// domain, applying JWT-10..24 in order with node:crypto directly (no generic JWKS library, BUNDLE-34).
import {
  isJsonObject,
  JsonNumber,
  parseStrictJson,
  type BundleSource,
  type JsonObject,
  type JsonValue,
  type JwtAuthority,
} from '../bundle/index.js';
import type { SvidErrorCode } from '../errors.js';
import { parseSpiffeId, type SpiffeId } from '../spiffeid/index.js';
import { svidError } from './svid-error.js';
import { ALGS, keyFits, signatureValid, type AlgSpec } from './jws-signature.js';

/** The only accepted `alg` values (JWT-3, JWT-11). */
export const JWT_SVID_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'PS384',
  'PS512',
] as const;
export type JwtSvidAlgorithm = (typeof JWT_SVID_ALGORITHMS)[number];

/** Clock leeway for exp, nbf and iat (JWT-20, JWT-21). */
export const DEFAULT_JWT_LEEWAY_SECONDS = 30;
export const MAX_JWT_LEEWAY_SECONDS = 60;
/** Longer tokens are refused before decoding. */
export const MAX_JWT_SVID_LENGTH = 65_536;

export interface ValidateJwtSvidOptions {
  /** Expected audience(s); at least one non-empty value (JWT-19, GS-7). */
  readonly audience: string | readonly string[];
  readonly now?: Date;
  /** Default 30, at most 60. */
  readonly leewaySeconds?: number;
}

export interface JwtSvidHeader {
  readonly alg: JwtSvidAlgorithm;
  readonly kid?: string;
  readonly typ?: 'JWT' | 'JOSE';
}

export interface ValidatedJwtSvid {
  /** The SPIFFE ID from `sub` (JWT-24). */
  readonly spiffeId: SpiffeId;
  /** Every claim, lossless (numbers stay JsonNumber). Foreign claims are the issuer's assertions only (JWT-23). */
  readonly claims: JsonObject;
  readonly header: JwtSvidHeader;
  /** `aud` as a list. */
  readonly audience: readonly string[];
  readonly expiresAt: Date;
  /** The bundle key that verified the signature. */
  readonly authority: JwtAuthority;
}

const ALLOWED_HEADERS = new Set(['alg', 'kid', 'typ']);

function fail(
  code: SvidErrorCode,
  message: string,
  context?: Record<string, unknown>,
  cause?: unknown,
): never {
  throw svidError(code, message, context, cause);
}

// base64url alphabet: value of each char code, -1 for anything else.
const B64URL = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) {
  B64URL['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.charCodeAt(i)] = i;
}

/** Strict base64url without padding (RFC 7515 §2): alphabet only, no `=`, canonical trailing bits. */
function decodePart(token: string, start: number, end: number, part: string): Buffer {
  const len = end - start;
  if (len % 4 === 1) fail('ERR_SVID_JWT_MALFORMED', `jwt ${part} is not valid base64url`, { part });
  let last = 0;
  for (let i = start; i < end; i++) {
    const c = token.charCodeAt(i);
    last = c < 128 ? (B64URL[c] as number) : -1;
    if (last < 0) {
      fail('ERR_SVID_JWT_MALFORMED', `jwt ${part} is not valid base64url`, { part });
    }
  }
  if ((len % 4 === 2 && (last & 0x0f) !== 0) || (len % 4 === 3 && (last & 0x03) !== 0)) {
    fail('ERR_SVID_JWT_MALFORMED', `jwt ${part} is not canonical base64url`, { part });
  }
  return Buffer.from(token.slice(start, end), 'base64url');
}

function decodeJsonObject(bytes: Buffer, part: string): JsonObject {
  let value: JsonValue;
  try {
    value = parseStrictJson(bytes);
  } catch (cause) {
    // JWT-10: duplicates, bad UTF-8 and bad JSON are all a malformed token.
    fail(
      'ERR_SVID_JWT_MALFORMED',
      `jwt ${part} is not valid json`,
      { part, reason: (cause as { code?: unknown }).code },
      cause,
    );
  }
  if (!isJsonObject(value)) {
    fail('ERR_SVID_JWT_MALFORMED', `jwt ${part} is not a json object`, { part });
  }
  return value;
}

function numericClaim(claims: JsonObject, name: string): number | undefined {
  const value = claims[name];
  if (value === undefined) return undefined;
  const n = value instanceof JsonNumber ? value.toNumber() : NaN;
  if (!Number.isFinite(n)) {
    fail(
      name === 'exp' ? 'ERR_SVID_JWT_EXP' : 'ERR_SVID_JWT_MALFORMED',
      `claim "${name}" must be a finite number`,
      { claim: name },
    );
  }
  return n;
}

function checkOptions(options: ValidateJwtSvidOptions): {
  expected: readonly string[];
  nowSeconds: number;
  leeway: number;
} {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('options with an audience are required');
  }
  const audience = options.audience;
  const expected = typeof audience === 'string' ? [audience] : audience;
  // GS-7: an empty expected list would skip the audience check; that is a caller mistake here.
  if (!Array.isArray(expected) || expected.length === 0) {
    throw new TypeError('audience must be a non-empty string or a non-empty array of strings');
  }
  for (const value of expected) {
    if (typeof value !== 'string' || value === '') {
      throw new TypeError('audience values must be non-empty strings');
    }
  }
  const leeway = options.leewaySeconds ?? DEFAULT_JWT_LEEWAY_SECONDS;
  if (
    typeof leeway !== 'number' ||
    !Number.isFinite(leeway) ||
    leeway < 0 ||
    leeway > MAX_JWT_LEEWAY_SECONDS
  ) {
    throw new TypeError(`leewaySeconds must be between 0 and ${MAX_JWT_LEEWAY_SECONDS}`);
  }
  const now = options.now ?? new Date();
  const nowMs = now instanceof Date ? now.getTime() : NaN;
  if (!Number.isFinite(nowMs)) throw new TypeError('now must be a valid Date');
  return { expected, nowSeconds: nowMs / 1000, leeway };
}

/** JWT-10: the three parts of a compact JWS, each strictly decoded, and the signed bytes' length. */
interface CompactJws {
  readonly header: JsonObject;
  readonly claims: JsonObject;
  readonly signature: Buffer;
  /** ASCII(header "." payload) is `token.slice(0, signedLength)`. */
  readonly signedLength: number;
}

/** JWT-10: compact serialization, strict base64url, JSON objects without duplicate members. */
function splitCompactJws(token: string): CompactJws {
  if (token.length > MAX_JWT_SVID_LENGTH) {
    fail('ERR_SVID_JWT_MALFORMED', `jwt is longer than ${MAX_JWT_SVID_LENGTH} characters`);
  }
  const dot1 = token.indexOf('.');
  const dot2 = dot1 < 0 ? -1 : token.indexOf('.', dot1 + 1);
  if (dot1 < 0 || dot2 < 0 || token.indexOf('.', dot2 + 1) >= 0) {
    fail('ERR_SVID_JWT_MALFORMED', 'jwt must have exactly three dot-separated parts');
  }
  if (dot1 === 0 || dot2 === dot1 + 1) {
    fail('ERR_SVID_JWT_MALFORMED', 'jwt header and payload must not be empty');
  }
  const header = decodeJsonObject(decodePart(token, 0, dot1, 'header'), 'header');
  const claims = decodeJsonObject(decodePart(token, dot1 + 1, dot2, 'payload'), 'payload');
  const signature = decodePart(token, dot2 + 1, token.length, 'signature');
  return { header, claims, signature, signedLength: dot2 };
}

/** The protected header once JWT-11..14 hold. */
interface CheckedHeader {
  readonly alg: JwtSvidAlgorithm;
  readonly spec: AlgSpec;
  readonly kid: string | undefined;
  readonly typ: 'JWT' | 'JOSE' | undefined;
}

/** JWT-11..14: the algorithm allow-list first, then typ, crit, and nothing but alg, kid and typ. */
function checkHeader(header: JsonObject): CheckedHeader {
  // JWT-11: the algorithm allow-list comes before anything else.
  const alg = header['alg'];
  const spec = typeof alg === 'string' ? ALGS.get(alg) : undefined;
  if (spec === undefined) {
    fail(
      'ERR_SVID_JWT_ALG',
      typeof alg === 'string'
        ? `jwt alg ${JSON.stringify(alg.slice(0, 32))} is not allowed`
        : 'jwt alg is missing or not a string',
      typeof alg === 'string' ? { alg: alg.slice(0, 32) } : undefined,
    );
  }
  // JWT-12: typ absent, "JWT" or "JOSE", compared exactly.
  const typ = header['typ'];
  if (typ !== undefined && typ !== 'JWT' && typ !== 'JOSE') {
    fail('ERR_SVID_JWT_TYP', 'jwt typ must be "JWT" or "JOSE" when present');
  }
  // JWT-13: SPIFFE defines no critical header parameters.
  if (header['crit'] !== undefined) fail('ERR_SVID_JWT_CRIT', 'jwt has a crit header');
  // JWT-14: nothing but alg, kid and typ; key material from the token is never used.
  for (const name of Object.keys(header)) {
    if (!ALLOWED_HEADERS.has(name)) {
      fail(
        'ERR_SVID_JWT_HEADER',
        `jwt header ${JSON.stringify(name.slice(0, 32))} is not allowed`,
        {
          header: name.slice(0, 32),
        },
      );
    }
  }
  const kid = header['kid'];
  if (kid !== undefined && typeof kid !== 'string') {
    fail('ERR_SVID_JWT_HEADER', 'jwt kid must be a string');
  }
  return { alg: alg as JwtSvidAlgorithm, spec, kid, typ };
}

/** JWT-15: sub is a SPIFFE ID with a path. */
function subjectOf(claims: JsonObject): SpiffeId {
  const sub = claims['sub'];
  if (typeof sub !== 'string') fail('ERR_SVID_JWT_SUB', 'jwt sub is missing or not a string');
  let spiffeId: SpiffeId;
  try {
    spiffeId = parseSpiffeId(sub);
  } catch (cause) {
    fail(
      'ERR_SVID_JWT_SUB',
      'jwt sub is not a valid spiffe id',
      { reason: (cause as { code?: unknown }).code },
      cause,
    );
  }
  if (spiffeId.isTrustDomainId) {
    fail('ERR_SVID_JWT_SUB', `jwt sub "${sub}" has no path; a workload id needs one`, {
      reason: 'no-path',
    });
  }
  return spiffeId;
}

/** JWT-16: only the jwt-svid authorities of sub's trust domain. */
function jwtAuthoritiesOf(
  source: BundleSource,
  spiffeId: SpiffeId,
): ReadonlyMap<string, JwtAuthority> {
  const trustDomain = spiffeId.trustDomain.name;
  const bundle = source.getBundleForTrustDomain(spiffeId.trustDomain);
  if (bundle === undefined) {
    fail('ERR_SVID_JWT_NO_BUNDLE', `no bundle for trust domain "${trustDomain}"`, { trustDomain });
  }
  if (bundle.jwtAuthorities.size === 0) {
    fail('ERR_SVID_JWT_NO_KEYS', `bundle of trust domain "${trustDomain}" has no jwt-svid keys`, {
      trustDomain,
    });
  }
  return bundle.jwtAuthorities;
}

/**
 * JWT-17 (policy bound): a token without kid is tried against at most this many keys that fit its
 * alg; a trust domain with more answers ERR_SVID_JWT_KID_UNKNOWN without checking any. A trust
 * domain publishes a few JWT keys at a time (the active one, the next, the last), and go-spiffe and
 * SPIRE refuse tokens without kid anyway (JWT-4).
 */
export const MAX_KIDLESS_KEYS = 8;

/** JWT-17 / JWT-18: the key named by kid, or every key that fits alg; the one whose signature holds. */
function signingAuthority(
  header: CheckedHeader,
  authorities: ReadonlyMap<string, JwtAuthority>,
  trustDomain: string,
  data: Buffer,
  signature: Buffer,
): JwtAuthority {
  const { alg, spec, kid } = header;
  if (kid !== undefined) {
    const candidate = authorities.get(kid);
    if (candidate === undefined) {
      fail(
        'ERR_SVID_JWT_KID_UNKNOWN',
        `no jwt-svid key with kid ${JSON.stringify(kid.slice(0, 64))}`,
        {
          trustDomain,
        },
      );
    }
    if (!keyFits(spec, candidate.publicKey)) {
      fail(
        'ERR_SVID_JWT_KEY_MISMATCH',
        `key ${JSON.stringify(kid.slice(0, 64))} does not fit alg ${alg}`,
        {
          alg,
        },
      );
    }
    if (!signatureValid(spec, candidate.publicKey, data, signature)) {
      fail('ERR_SVID_JWT_SIGNATURE', 'jwt signature is invalid');
    }
    return candidate;
  }
  const fitting = [...authorities.values()].filter((candidate) =>
    keyFits(spec, candidate.publicKey),
  );
  // The trial is bounded before any signature is checked: a partner's bundle may hold up to 1,000
  // keys, and a token without kid would otherwise cost one verification per fitting key.
  if (fitting.length > MAX_KIDLESS_KEYS) {
    fail(
      'ERR_SVID_JWT_KID_UNKNOWN',
      `jwt has no kid and ${fitting.length} jwt-svid keys of trust domain "${trustDomain}" fit alg ${alg}; ` +
        `without a kid at most ${MAX_KIDLESS_KEYS} are tried`,
      { alg, trustDomain },
    );
  }
  for (const candidate of fitting) {
    if (signatureValid(spec, candidate.publicKey, data, signature)) return candidate;
  }
  if (fitting.length === 0) {
    fail(
      'ERR_SVID_JWT_KEY_MISMATCH',
      `no jwt-svid key of trust domain "${trustDomain}" fits alg ${alg}`,
      {
        alg,
        trustDomain,
      },
    );
  }
  return fail('ERR_SVID_JWT_SIGNATURE', 'jwt signature is invalid');
}

/** JWT-19: aud is a string or a non-empty array of non-empty strings, intersecting the expected list. */
function audienceOf(claims: JsonObject, expected: readonly string[]): string[] {
  const aud = claims['aud'];
  let audience: string[];
  if (typeof aud === 'string') {
    audience = [aud];
  } else if (Array.isArray(aud) && aud.length > 0 && aud.every((a) => typeof a === 'string')) {
    audience = [...(aud as readonly string[])];
  } else {
    fail('ERR_SVID_JWT_AUD', 'jwt aud must be a string or a non-empty array of strings');
  }
  if (audience.includes('')) fail('ERR_SVID_JWT_AUD', 'jwt aud contains an empty value');
  if (!audience.some((a) => expected.includes(a))) {
    fail('ERR_SVID_JWT_AUD', 'jwt aud does not contain an expected audience');
  }
  return audience;
}

/** JWT-20 / JWT-21: exp required and not passed, nbf reached, iat not in the future; returns exp. */
function checkTimes(claims: JsonObject, nowSeconds: number, leeway: number): number {
  const exp = numericClaim(claims, 'exp');
  if (exp === undefined) fail('ERR_SVID_JWT_EXP', 'jwt exp is missing');
  if (nowSeconds > exp + leeway) fail('ERR_SVID_JWT_EXPIRED', 'jwt has expired');
  const nbf = numericClaim(claims, 'nbf');
  if (nbf !== undefined && nowSeconds + leeway < nbf) {
    fail('ERR_SVID_JWT_NOT_YET_VALID', 'jwt is not yet valid (nbf)');
  }
  const iat = numericClaim(claims, 'iat');
  if (iat !== undefined && iat > nowSeconds + leeway) {
    fail('ERR_SVID_JWT_IAT_FUTURE', 'jwt was issued in the future (iat)');
  }
  return exp;
}

/**
 * Validates a JWT-SVID and returns its SPIFFE ID and claims, applying JWT-10..24 in order. Caller
 * mistakes (no audience, leeway over 60 s, a non-string token) throw TypeError; every rejection of
 * the token is an SvidError.
 */
export function validateJwtSvid(
  token: string,
  source: BundleSource,
  options: ValidateJwtSvidOptions,
): ValidatedJwtSvid {
  if (typeof token !== 'string') throw new TypeError('token must be a string');
  if (typeof source?.getBundleForTrustDomain !== 'function') {
    throw new TypeError('source must be a BundleSource');
  }
  const { expected, nowSeconds, leeway } = checkOptions(options);
  const jws = splitCompactJws(token);
  const header = checkHeader(jws.header);
  const spiffeId = subjectOf(jws.claims);
  const authorities = jwtAuthoritiesOf(source, spiffeId);
  const data = Buffer.from(token.slice(0, jws.signedLength), 'latin1');
  const authority = signingAuthority(
    header,
    authorities,
    spiffeId.trustDomain.name,
    data,
    jws.signature,
  );
  const audience = audienceOf(jws.claims, expected);
  const exp = checkTimes(jws.claims, nowSeconds, leeway);
  // JWT-24: the SPIFFE ID plus the claims.
  return {
    spiffeId,
    claims: jws.claims,
    header: {
      alg: header.alg,
      ...(header.kid === undefined ? {} : { kid: header.kid }),
      ...(header.typ === undefined ? {} : { typ: header.typ }),
    },
    audience,
    expiresAt: new Date(exp * 1000),
    authority,
  };
}
