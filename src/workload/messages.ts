// Builds the Workload API's response messages from the node state and cached SVIDs: complete
// state every time (WAPI-8), DER concatenations for X.509 bundles (WAPI-10/11), JWK Sets without
// `use` for JWT bundles (WAPI-11/12), TD IDs (`spiffe://td`) as map keys.
import { createHash } from 'node:crypto';
import type { BundleSet, Bundle } from '../bundle/index.js';
import type { TrustDomain } from '../spiffeid/index.js';
import type { NodeEntry } from './node-state.js';
import type { CachedX509Svid } from './svid-cache.js';

export interface X509SvidMessage {
  spiffe_id: string;
  x509_svid: Buffer;
  x509_svid_key: Buffer;
  bundle: Buffer;
  hint: string;
}

export interface X509SvidResponse {
  svids: X509SvidMessage[];
  crl: Buffer[];
  federated_bundles: Record<string, Buffer>;
}

function trustDomainName(value: string): string {
  return value.replace(/^spiffe:\/\//, '').replace(/\/$/, '');
}

/** Our bundle and the federated ones the matched entries name (WAPI-13: nothing by default). */
export function bundlesFor(
  all: BundleSet,
  own: TrustDomain,
  entries: readonly NodeEntry[],
): { own: Bundle | undefined; federated: Bundle[] } {
  const names = new Set<string>();
  for (const entry of entries) for (const td of entry.federatesWith) names.add(trustDomainName(td));
  names.delete(own.name);
  const federated: Bundle[] = [];
  for (const bundle of all) if (names.has(bundle.trustDomain.name)) federated.push(bundle);
  return { own: all.get(own), federated };
}

export function x509BundleDer(bundle: Bundle): Buffer {
  return Buffer.concat(bundle.x509Authorities.map((a) => a.der));
}

/** A JWK Set of the bundle's jwt-svid keys: key parameters plus `kid`, no `use` (WAPI-12). */
export function jwtBundleJson(bundle: Bundle): Buffer {
  const keys = [...bundle.jwtAuthorities.values()].map((a) => ({ ...a.jwk, kid: a.kid }));
  return Buffer.from(JSON.stringify({ keys }), 'utf8');
}

export function tdId(bundle: Bundle): string {
  return `spiffe://${bundle.trustDomain.name}`;
}

export function x509SvidResponse(
  svids: readonly CachedX509Svid[],
  own: Bundle,
  federated: readonly Bundle[],
): X509SvidResponse {
  const ownDer = x509BundleDer(own);
  const federatedBundles: Record<string, Buffer> = {};
  for (const bundle of federated) federatedBundles[tdId(bundle)] = x509BundleDer(bundle);
  return {
    svids: svids.map((svid) => ({
      spiffe_id: svid.spiffeId,
      x509_svid: Buffer.concat(svid.chainDer),
      x509_svid_key: svid.keyDer,
      bundle: ownDer,
      hint: '',
    })),
    crl: [],
    federated_bundles: federatedBundles,
  };
}

/** A digest of a message's public content: unchanged state is not sent twice. */
export function versionOf(parts: Iterable<Buffer | string>): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(typeof part === 'string' ? part : part).update('\0');
  return hash.digest('base64url');
}
