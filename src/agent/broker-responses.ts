// Reads the agent API's answers (SVID, bundle set, JWT-SVID) as untrusted input: each is checked
// before the agent uses it; anything malformed is ERR_AGENT_BROKER_UNTRUSTED.
import type { KeyObject } from 'node:crypto';
import {
  BundleSet,
  bundleContentEquals,
  isJsonObject,
  parseBundle,
  stringifyJsonValue,
  type Bundle,
} from '../bundle/index.js';
import { parseTrustDomain, type TrustDomain } from '../spiffeid/index.js';
import { untrusted } from './broker-connection.js';
import { authenticatePeer } from './verify-peer.js';
import type { AgentSvid } from './client.js';

/**
 * An issued X509-SVID, checked like any peer's before use: it must chain to our bundle in
 * `bundles` (X509-31) and name a member of `trustDomain`.
 */
export function svidFromResponse(
  value: unknown,
  key: { readonly privateKey: KeyObject; readonly instanceId: string | null },
  bundles: BundleSet,
  trustDomain: TrustDomain,
  nowMs: number,
): AgentSvid {
  if (!isJsonObject(value as never)) throw untrusted('malformed SVID response');
  const record = value as Record<string, unknown>;
  const x509 = record['x509Svid'] as Record<string, unknown> | undefined;
  const chain = x509?.['chain'];
  if (!Array.isArray(chain) || chain.length === 0 || !chain.every((c) => typeof c === 'string')) {
    throw untrusted('malformed SVID response');
  }
  const chainDer = (chain as string[]).map((c) => Buffer.from(c, 'base64'));
  const verified = authenticatePeer(chainDer, bundles, () => true, nowMs);
  if (!verified.spiffeId.isMemberOf(trustDomain)) {
    throw untrusted('the broker issued an SVID outside its trust domain');
  }
  return {
    spiffeId: verified.spiffeId,
    chainDer,
    privateKey: key.privateKey,
    privateKeyPem: key.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    expiresAt: verified.svid.leaf.notAfter,
    instanceId: key.instanceId,
  };
}

/** `{ bundles: { <td>: <SPIFFE bundle JSON> } }`, which must hold our own trust domain's bundle. */
export function bundleSetFromResponse(
  value: unknown,
  trustDomain: TrustDomain,
): { readonly own: Bundle; readonly set: BundleSet } {
  if (!isJsonObject(value as never)) throw untrusted('malformed bundles response');
  const map = (value as Record<string, unknown>)['bundles'];
  if (!isJsonObject(map as never)) throw untrusted('malformed bundles response');
  const bundles: Bundle[] = [];
  for (const [name, json] of Object.entries(map as Record<string, unknown>)) {
    const td = parseTrustDomain(name);
    bundles.push(parseBundle(stringifyJsonValue(json as never), td));
  }
  const own = bundles.find((b) => b.trustDomain.name === trustDomain.name);
  if (own === undefined) throw untrusted('bundles response lacks our own trust domain');
  return { own, set: new BundleSet(bundles) };
}

/** Whether `next` differs from `previous`: another trust domain set, or any bundle's content. */
export function bundleSetChanged(previous: BundleSet, next: BundleSet): boolean {
  if (next.size !== previous.size) return true;
  return [...next].some((bundle) => {
    const old = previous.get(bundle.trustDomain);
    return old === undefined || !bundleContentEquals(old, bundle);
  });
}

/** `{ token, expiresAt }` of an issued JWT-SVID. */
export function jwtSvidFromResponse(value: unknown): { token: string; expiresAt: Date } {
  if (!isJsonObject(value as never)) throw untrusted('malformed JWT-SVID response');
  const response = value as Record<string, unknown>;
  const token = response['token'];
  const expiresAt = new Date(String(response['expiresAt']));
  if (typeof token !== 'string' || Number.isNaN(expiresAt.getTime())) {
    throw untrusted('malformed JWT-SVID response');
  }
  return { token, expiresAt };
}
