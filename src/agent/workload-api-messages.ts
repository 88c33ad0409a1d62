// Turns Workload API responses (as @grpc/proto-loader decodes them: bytes as Buffer) into SDK
// values: X509-SVIDs with keys and per-trust-domain X.509 bundles (WAPI-10, WAPI-11), and JWT
// bundles (WAPI-12). A response with a mandatory field left empty, or holding more certificates or
// keys than workload-api-bounds.ts allows, is discarded whole (WAPI-9).
import { X509Certificate, createPrivateKey, type JsonWebKey } from 'node:crypto';
import {
  Bundle,
  BundleSet,
  isJsonObject,
  jwtAuthorityFromJwk,
  parseStrictJson,
  type JwtAuthority,
} from '../bundle/index.js';
import { AgentError, isBrokerError } from '../errors.js';
import {
  parseSpiffeId,
  parseTrustDomain,
  parseTrustDomainId,
  type SpiffeId,
  type TrustDomain,
} from '../spiffeid/index.js';
import { verifyX509Svid } from '../svid/index.js';
import {
  MAX_BUNDLE_JWT_KEYS,
  MAX_FIELD_CERTIFICATES,
  MAX_MESSAGE_CERTIFICATES,
  MAX_MESSAGE_JWT_KEYS,
  createAuthorityCache,
  discard,
  type AuthorityCache,
  type JwtKeys,
} from './workload-api-bounds.js';
import type { X509SvidWithKey } from './x509-source.js';

/** One X509-SVID from the Workload API, with its key. */
export interface WorkloadX509Svid extends X509SvidWithKey {
  /** Operator hint (WAPI-10); empty when none. */
  readonly hint: string;
  readonly expiresAt: Date;
}

/** The complete state one FetchX509SVID message carries (WAPI-8). */
export interface X509State {
  /** The first one is the default identity (WAPI-10). */
  readonly svids: readonly WorkloadX509Svid[];
  /** X.509 authorities per trust domain: the SVIDs' own plus `federated_bundles` (WAPI-11). */
  readonly bundles: BundleSet;
}

const MAX_SVIDS = 256;
const MAX_BUNDLES = 1024;
const JWT_KTYS = new Set(['EC', 'RSA']);

function bytesOf(value: unknown, field: string): Buffer {
  if (!(value instanceof Uint8Array) || value.length === 0) {
    throw discard(`${field} is empty (WAPI-9)`);
  }
  return Buffer.from(value.buffer, value.byteOffset, value.length);
}

/** Splits DER certificates concatenated without separators (WAPI-10, WAPI-11); nothing parsed. */
export function splitDerCertificates(bytes: Buffer, field: string): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (bytes[at] !== 0x30) throw discard(`${field} is not a concatenation of DER certificates`);
    if (out.length >= MAX_FIELD_CERTIFICATES) {
      throw discard(`${field} holds more than ${MAX_FIELD_CERTIFICATES} certificates`);
    }
    let length = bytes[at + 1];
    let header = 2;
    if (length === undefined) throw discard(`${field} ends inside a certificate`);
    if (length >= 0x80) {
      const count = length & 0x7f;
      if (count === 0 || count > 4) throw discard(`${field} has a bad DER length`);
      length = 0;
      for (let i = 0; i < count; i++) {
        const byte = bytes[at + 2 + i];
        if (byte === undefined) throw discard(`${field} ends inside a certificate`);
        length = length * 256 + byte;
      }
      header += count;
    }
    const end = at + header + length;
    if (end > bytes.length) throw discard(`${field} ends inside a certificate`);
    out.push(bytes.subarray(at, end));
    at = end;
  }
  return out;
}

function authoritiesOf(ders: readonly Buffer[], field: string, cache: AuthorityCache) {
  try {
    return ders.map((der) => cache.x509(der));
  } catch (error) {
    if (isBrokerError(error)) throw discard(`${field}: ${error.message}`, error);
    throw error;
  }
}

/** A map key of federated bundles: a trust domain ID `spiffe://td`, or a bare name (GS-2). */
function trustDomainOfKey(key: string): TrustDomain {
  try {
    return key.startsWith('spiffe://') ? parseTrustDomainId(key) : parseTrustDomain(key);
  } catch (error) {
    throw discard(`bundle key ${JSON.stringify(key.slice(0, 100))} is not a trust domain`, error);
  }
}

/** One `svids` entry with its fields checked and its DER split, nothing parsed yet. */
interface RawSvid {
  readonly index: number;
  readonly spiffeId: SpiffeId;
  readonly chain: Buffer[];
  readonly keyDer: Buffer;
  readonly bundle: Buffer[];
  readonly hint: string;
}

function readSvid(raw: unknown, index: number): RawSvid {
  if (typeof raw !== 'object' || raw === null) throw discard(`svids[${index}] is not a message`);
  const fields = raw as Record<string, unknown>;
  const idText = fields['spiffe_id'];
  if (typeof idText !== 'string' || idText === '')
    throw discard(`svids[${index}].spiffe_id is empty (WAPI-9)`);
  let spiffeId: SpiffeId;
  try {
    spiffeId = parseSpiffeId(idText);
  } catch (error) {
    throw discard(`svids[${index}].spiffe_id is not a SPIFFE ID`, error);
  }
  const field = (name: string): string => `svids[${index}].${name}`;
  return {
    index,
    spiffeId,
    chain: splitDerCertificates(
      bytesOf(fields['x509_svid'], field('x509_svid')),
      field('x509_svid'),
    ),
    keyDer: bytesOf(fields['x509_svid_key'], field('x509_svid_key')),
    bundle: splitDerCertificates(bytesOf(fields['bundle'], field('bundle')), field('bundle')),
    hint: typeof fields['hint'] === 'string' ? fields['hint'] : '',
  };
}

function parseSvid(
  raw: RawSvid,
  now: Date,
  cache: AuthorityCache,
): { svid: WorkloadX509Svid; bundle: Bundle } {
  const { index, spiffeId, chain, keyDer } = raw;
  const bundle = new Bundle({
    trustDomain: spiffeId.trustDomain,
    x509Authorities: authoritiesOf(raw.bundle, `svids[${index}].bundle`, cache),
  });
  // Hardening beyond the spec: an SVID that does not verify against its own bundle, names another
  // ID than spiffe_id, has expired, or does not match its key is never served.
  let expiresAt: Date;
  try {
    const verified = verifyX509Svid(chain, bundle, { now });
    if (verified.spiffeId.toString() !== spiffeId.toString()) {
      throw discard(`svids[${index}]: the certificate names another SPIFFE ID than spiffe_id`);
    }
    expiresAt = verified.expiresAt;
  } catch (error) {
    if (error instanceof AgentError) throw error;
    throw discard(`svids[${index}] does not verify: ${(error as Error).message}`, error);
  }
  let privateKeyPem: string;
  try {
    const key = createPrivateKey({ key: keyDer, format: 'der', type: 'pkcs8' });
    const leaf = chain[0];
    if (leaf === undefined || !new X509Certificate(leaf).checkPrivateKey(key)) {
      throw discard(`svids[${index}].x509_svid_key does not match the certificate`);
    }
    privateKeyPem = key.export({ format: 'pem', type: 'pkcs8' }).toString();
  } catch (error) {
    if (error instanceof AgentError) throw error;
    throw discard(`svids[${index}].x509_svid_key is not a PKCS#8 DER key`, error);
  }
  return {
    svid: Object.freeze({
      spiffeId,
      chainDer: Object.freeze(chain),
      privateKeyPem,
      hint: raw.hint,
      expiresAt,
    }),
    bundle,
  };
}

/** The federated bundles' entries, split but not parsed: trust domain, map key and certificates. */
function readFederated(
  value: unknown,
): { key: string; trustDomain: TrustDomain; ders: Buffer[] }[] {
  const federated = value ?? {};
  if (typeof federated !== 'object' || federated === null)
    throw discard('federated_bundles is not a map');
  const entries = Object.entries(federated as Record<string, unknown>);
  if (entries.length > MAX_BUNDLES) throw discard(`more than ${MAX_BUNDLES} federated bundles`);
  return entries.map(([key, bytes]) => ({
    key,
    trustDomain: trustDomainOfKey(key),
    ders:
      bytes instanceof Uint8Array && bytes.length > 0
        ? splitDerCertificates(Buffer.from(bytes), `federated_bundles[${key}]`)
        : [],
  }));
}

/**
 * Parses one X509SVIDResponse. Throws AgentError ERR_AGENT_WORKLOAD_API_RESPONSE when the message
 * must be discarded (the caller keeps its previous state, WAPI-9 / CTS WA-2), including a message
 * of more than MAX_MESSAGE_CERTIFICATES certificates, counted before any is parsed. `cache` reuses
 * the authorities of earlier messages (the caller commits or rolls it back).
 */
export function parseX509SvidResponse(
  message: unknown,
  now: Date,
  cache: AuthorityCache = createAuthorityCache(),
): X509State {
  if (typeof message !== 'object' || message === null) throw discard('not a message');
  const fields = message as Record<string, unknown>;
  const rawSvids = fields['svids'];
  if (!Array.isArray(rawSvids) || rawSvids.length === 0) throw discard('svids is empty (WAPI-9)');
  if (rawSvids.length > MAX_SVIDS) throw discard(`more than ${MAX_SVIDS} svids`);
  const raws = rawSvids.map((raw: unknown, index) => readSvid(raw, index));
  const federated = readFederated(fields['federated_bundles']);
  let certificates = 0;
  for (const raw of raws) certificates += raw.chain.length + raw.bundle.length;
  for (const entry of federated) certificates += entry.ders.length;
  if (certificates > MAX_MESSAGE_CERTIFICATES) {
    throw discard(`${certificates} certificates, more than ${MAX_MESSAGE_CERTIFICATES}`);
  }
  const svids: WorkloadX509Svid[] = [];
  const hints = new Set<string>();
  const all = new Map<string, Bundle>();
  for (const raw of raws) {
    const { svid, bundle } = parseSvid(raw, now, cache);
    // Duplicate hints: the first one wins (WAPI-10).
    if (raw.hint !== '' && hints.has(raw.hint)) continue;
    if (raw.hint !== '') hints.add(raw.hint);
    svids.push(svid);
    if (!all.has(bundle.trustDomain.name)) all.set(bundle.trustDomain.name, bundle);
  }
  for (const { key, trustDomain, ders } of federated) {
    if (all.has(trustDomain.name)) continue;
    const x509Authorities = authoritiesOf(ders, `federated_bundles[${key}]`, cache);
    all.set(trustDomain.name, new Bundle({ trustDomain, x509Authorities }));
  }
  return { svids, bundles: new BundleSet(all.values()) };
}

/**
 * The JWT-SVID signing keys of one JWK Set: `use` absent or `jwt-svid`, EC or RSA, with a kid. A
 * set of more than MAX_BUNDLE_JWT_KEYS entries discards the message (BUNDLE-7).
 */
function jwtKeysOf(bytes: Buffer, field: string): JwtKeys {
  let document;
  try {
    document = parseStrictJson(bytes);
  } catch (error) {
    throw discard(`${field} is not JSON`, error);
  }
  if (!isJsonObject(document) || !Array.isArray(document['keys'])) {
    throw discard(`${field} is not a JWK Set`);
  }
  const keys = document['keys'];
  if (keys.length > MAX_BUNDLE_JWT_KEYS) {
    throw discard(`${field} holds more than ${MAX_BUNDLE_JWT_KEYS} keys (BUNDLE-7)`);
  }
  const out = new Map<string, JwtAuthority>();
  for (const key of keys) {
    if (!isJsonObject(key)) continue;
    const { kid, use, kty } = key as Record<string, unknown>;
    // A key for another use (x509-svid) or of an unknown type is ignored, the rest kept (CTS JB-5, JB-6).
    if (use !== undefined && use !== 'jwt-svid') continue;
    if (typeof kid !== 'string' || kid === '' || out.has(kid)) continue;
    if (typeof kty !== 'string' || !JWT_KTYS.has(kty)) continue;
    const jwk: JsonWebKey = {};
    for (const name of [
      'kty',
      'crv',
      'x',
      'y',
      'n',
      'e',
      'd',
      'p',
      'q',
      'dp',
      'dq',
      'qi',
      'k',
    ] as const) {
      const value = (key as Record<string, unknown>)[name];
      if (typeof value === 'string') jwk[name] = value;
    }
    try {
      out.set(kid, jwtAuthorityFromJwk(kid, jwk));
    } catch {
      // A private or malformed key trusts nothing; the others stay.
    }
  }
  return { authorities: [...out.values()], entries: keys.length };
}

/**
 * Parses one JWTBundlesResponse into JWT bundles per trust domain (WAPI-11, WAPI-12); discarded
 * when its JWK Sets hold more than MAX_MESSAGE_JWT_KEYS entries in all. `cache` reuses the keys of
 * JWK Sets seen before (the caller commits or rolls it back).
 */
export function parseJwtBundlesResponse(
  message: unknown,
  cache: AuthorityCache = createAuthorityCache(),
): BundleSet {
  if (typeof message !== 'object' || message === null) throw discard('not a message');
  const raw = (message as Record<string, unknown>)['bundles'] ?? {};
  if (typeof raw !== 'object' || raw === null) throw discard('bundles is not a map');
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length > MAX_BUNDLES) throw discard(`more than ${MAX_BUNDLES} bundles`);
  const bundles = new Map<string, Bundle>();
  let keys = 0;
  for (const [key, value] of entries) {
    const trustDomain = trustDomainOfKey(key);
    if (bundles.has(trustDomain.name)) continue;
    const bytes = value instanceof Uint8Array ? Buffer.from(value) : Buffer.alloc(0);
    const parsed = cache.jwt(bytes, () => jwtKeysOf(bytes, `bundles[${key}]`));
    keys += parsed.entries;
    if (keys > MAX_MESSAGE_JWT_KEYS) {
      throw discard(`the JWK Sets hold more than ${MAX_MESSAGE_JWT_KEYS} keys in all`);
    }
    bundles.set(trustDomain.name, new Bundle({ trustDomain, jwtAuthorities: parsed.authorities }));
  }
  return new BundleSet(bundles.values());
}

/** One bundle per trust domain with the X.509 authorities of one set and the JWT keys of the other. */
export function mergeBundleSets(x509: BundleSet, jwt: BundleSet): BundleSet {
  const names = new Map<string, TrustDomain>();
  for (const bundle of [...x509, ...jwt]) names.set(bundle.trustDomain.name, bundle.trustDomain);
  return new BundleSet(
    [...names.values()].map(
      (trustDomain) =>
        new Bundle({
          trustDomain,
          x509Authorities: x509.get(trustDomain)?.x509Authorities ?? [],
          jwtAuthorities: jwt.get(trustDomain)?.jwtAuthorities.values() ?? [],
        }),
    ),
  );
}
