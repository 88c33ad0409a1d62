// The one walk from a TLS peer's certificate (node's detailed PeerCertificate object graph) to the
// DER chain verifyX509Svid takes (X509-20: leaf first, then intermediates), with one length cap.
import type { X509Authority } from '../bundle/index.js';
import { MAX_PRESENTED_CERTIFICATES } from './verify-x509-svid.js';

/**
 * Most certificates one walk visits: one more than verifyX509Svid accepts (X509-20, the
 * MAX_PRESENTED_CERTIFICATES policy behind ERR_SVID_CHAIN_TOO_LONG), so an over-long chain reaches
 * verification and is refused there, never cut to a prefix. One cap for every listener and client.
 */
export const MAX_PEER_CHAIN_WALK = MAX_PRESENTED_CERTIFICATES + 1;

/** What the walk reads of node's PeerCertificate (structural: this room opens no sockets). */
interface CertificateNode {
  readonly raw?: unknown;
  readonly issuerCertificate?: unknown;
}

/**
 * The certificates of `detailed` (`socket.getPeerCertificate(true)`), leaf first, in the issuer
 * order OpenSSL linked them. The walk ends at a missing link, a certificate already seen (node makes
 * a self-issued certificate its own issuer), a repeated DER, or after MAX_PEER_CHAIN_WALK nodes.
 * `appendedAnchors`: when OpenSSL verified the chain against a `ca` list it appends the anchor it
 * found; those certificates are left out (the leaf never is), as a peer did not present them.
 */
export function chainFromPeerCertificate(
  detailed: unknown,
  appendedAnchors: readonly X509Authority[] = [],
): Buffer[] {
  const chain: Buffer[] = [];
  const visited = new Set<object>();
  let node: unknown = detailed;
  while (isCertificateNode(node) && !visited.has(node) && visited.size < MAX_PEER_CHAIN_WALK) {
    visited.add(node);
    const der = node.raw;
    if (chain.some((seen) => seen.equals(der))) break;
    const appended = chain.length > 0 && appendedAnchors.some((a) => a.der.equals(der));
    if (!appended) chain.push(der);
    node = node.issuerCertificate;
  }
  return chain;
}

function isCertificateNode(value: unknown): value is CertificateNode & { readonly raw: Buffer } {
  return (
    typeof value === 'object' && value !== null && Buffer.isBuffer((value as CertificateNode).raw)
  );
}
