// What an entry asks of the CA, for the agent routes and the node routes alike: its own TTL capped
// by the CA (X.509 at the CA's maximum; JWT at the CA's default, so JWT-SVIDs stay short) and, for
// X509-SVIDs, its DNS names.
import type {
  CheckedCsr,
  JwtSvidRequest,
  ResolvedCaOptions,
  X509SvidRequest,
} from '../ca/index.js';
import type { Entry } from '../registration/index.js';
import type { SpiffeId } from '../spiffeid/index.js';

function ttlWithin(entry: Entry, capSeconds: number): { ttlSeconds?: number } {
  return entry.ttlSeconds === undefined
    ? {}
    : { ttlSeconds: Math.min(entry.ttlSeconds, capSeconds) };
}

export function x509SvidRequest(
  entry: Entry,
  spiffeId: SpiffeId,
  csr: Uint8Array | CheckedCsr,
  options: ResolvedCaOptions,
): X509SvidRequest {
  return {
    spiffeId,
    csr,
    ...ttlWithin(entry, options.maxX509SvidTtlSeconds),
    ...(entry.dnsNames.length === 0 ? {} : { dnsNames: entry.dnsNames }),
  };
}

export function jwtSvidRequest(
  entry: Entry,
  spiffeId: SpiffeId,
  audience: readonly string[],
  options: ResolvedCaOptions,
): JwtSvidRequest {
  return { spiffeId, audience, ...ttlWithin(entry, options.jwtSvidTtlSeconds) };
}
