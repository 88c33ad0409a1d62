// The agent's X509 source: what the mTLS helpers read on every new connection (the current
// X509-SVID with its key, and the current BundleSet), so rotations apply without restarts.
import { BundleSet } from '../bundle/index.js';
import { SpiffeId } from '../spiffeid/index.js';

/** The agent's own X509-SVID and private key, as the Workload API hands them out (WAPI-10). */
export interface X509SvidWithKey {
  readonly spiffeId: SpiffeId;
  /** DER certificates, leaf first, then any intermediates; the root is not needed (X509-7). */
  readonly chainDer: readonly Buffer[];
  /** Unencrypted PKCS#8 (or SEC1 / PKCS#1) PEM of the leaf's private key. */
  readonly privateKeyPem: string;
}

/**
 * Read on every new connection, never cached by the helpers beyond "same value as last time":
 * return the same objects while nothing changed (cheap), new ones after a rotation.
 */
export interface X509Source {
  /** The current X509-SVID; throw when none is available yet. */
  x509Svid(): X509SvidWithKey;
  /** One bundle per trust domain, own and federated, never pooled (FED-30, WAPI-11). */
  bundles(): BundleSet;
}

/** An X509Source that always answers with the same SVID and bundles (tests, fixed deployments). */
export function staticSource(svid: X509SvidWithKey, bundles: BundleSet): X509Source {
  checkSvid(svid);
  if (!(bundles instanceof BundleSet)) throw new TypeError('bundles must be a BundleSet');
  const frozen: X509SvidWithKey = Object.freeze({
    spiffeId: svid.spiffeId,
    chainDer: Object.freeze([...svid.chainDer]),
    privateKeyPem: svid.privateKeyPem,
  });
  return Object.freeze({ x509Svid: () => frozen, bundles: () => bundles });
}

/** Throws TypeError when `svid` is not shaped like an X509SvidWithKey. */
export function checkSvid(svid: X509SvidWithKey): X509SvidWithKey {
  if (typeof svid !== 'object' || svid === null) throw new TypeError('svid must be an object');
  if (!(svid.spiffeId instanceof SpiffeId)) throw new TypeError('svid.spiffeId must be a SpiffeId');
  if (
    !Array.isArray(svid.chainDer) ||
    svid.chainDer.length === 0 ||
    !svid.chainDer.every((der) => der instanceof Uint8Array)
  ) {
    throw new TypeError('svid.chainDer must be a non-empty array of DER certificates');
  }
  if (typeof svid.privateKeyPem !== 'string' || svid.privateKeyPem.length === 0) {
    throw new TypeError('svid.privateKeyPem must be a PEM string');
  }
  return svid;
}
