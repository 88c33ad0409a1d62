// Checks of issuing requests: the SPIFFE ID is ours and names a workload (X509-2), TTLs within
// bounds, DNS SANs well-formed, audiences present (JWT-5), extra claims never override registered ones.
import { CaError } from '../errors.js';
import { parseSpiffeId, SpiffeId, type TrustDomain } from '../spiffeid/index.js';

const REGISTERED_CLAIMS = new Set(['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti']);
const DNS_NAME_RE =
  /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const MAX_DNS_NAMES = 100;

/** Whether `name` is a DNS name an X509-SVID may carry (the API checks it before the CA does). */
export function isDnsName(name: string): boolean {
  return name.length <= 253 && DNS_NAME_RE.test(name);
}

export function checkWorkloadId(input: SpiffeId | string, trustDomain: TrustDomain): SpiffeId {
  let id: SpiffeId;
  if (input instanceof SpiffeId) {
    id = input;
  } else if (typeof input === 'string') {
    try {
      id = parseSpiffeId(input);
    } catch (cause) {
      throw new CaError('ERR_CA_ID_NOT_ALLOWED', 'spiffe id is not valid', { cause });
    }
  } else {
    throw new TypeError('spiffeId must be a SpiffeId or a string');
  }
  if (!id.isMemberOf(trustDomain)) {
    throw new CaError(
      'ERR_CA_ID_NOT_ALLOWED',
      `"${id.toString()}" is not in our trust domain "${trustDomain.name}"`,
    );
  }
  if (id.isTrustDomainId) {
    throw new CaError(
      'ERR_CA_ID_NOT_ALLOWED',
      `"${id.toString()}" has no path; an SVID identifies a workload (X509-2)`,
    );
  }
  return id;
}

export function checkTtl(value: number | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new TypeError('ttlSeconds must be a number');
  }
  if (!Number.isInteger(value) || value <= 0 || value > max) {
    throw new CaError('ERR_CA_TTL', `ttl ${value} s is outside 1..${max} s`);
  }
  return value;
}

export function checkDnsNames(value: readonly string[] | undefined): readonly string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > MAX_DNS_NAMES) {
    throw new TypeError(`dnsNames must be an array of at most ${MAX_DNS_NAMES} names`);
  }
  for (const name of value) {
    if (typeof name !== 'string' || name.length > 253 || !DNS_NAME_RE.test(name)) {
      throw new TypeError(`invalid dns name ${JSON.stringify(String(name).slice(0, 80))}`);
    }
  }
  return value;
}

export function checkAudience(value: readonly string[]): readonly string[] {
  if (!Array.isArray(value)) throw new TypeError('audience must be an array of strings');
  if (value.length === 0) {
    throw new CaError('ERR_CA_AUDIENCE', 'a JWT-SVID needs at least one audience (JWT-5)');
  }
  for (const aud of value) {
    if (typeof aud !== 'string') throw new TypeError('audience values must be strings');
    if (aud === '') throw new CaError('ERR_CA_AUDIENCE', 'an audience value is empty');
  }
  return value;
}

export function checkExtraClaims(
  value: Readonly<Record<string, unknown>> | undefined,
): Readonly<Record<string, unknown>> | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError('extraClaims must be a plain object');
  }
  for (const name of Object.keys(value)) {
    if (REGISTERED_CLAIMS.has(name)) {
      throw new CaError('ERR_CA_CLAIMS', `extraClaims may not set the registered claim "${name}"`);
    }
  }
  return value;
}
