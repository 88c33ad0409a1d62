// The X509-SVID a TLS client presented to one of our listeners (agent API, admin API over mTLS),
// verified against OUR bundle only (X509-31): callers of these listeners are always our workloads.
// The result is kept per connection while our bundle is unchanged and the SVID valid: a chain
// cannot change within one TLS connection (renegotiation is not allowed).
import type { TLSSocket } from 'node:tls';
import { BundleSet, type Bundle } from '../bundle/index.js';
import type { Clock } from '../clock.js';
import { isBrokerError } from '../errors.js';
import type { SpiffeId } from '../spiffeid/index.js';
import { chainFromPeerCertificate, verifyX509Svid } from '../svid/index.js';

export interface PeerSvid {
  readonly spiffeId: SpiffeId;
  readonly expiresAt: Date;
}

/** Absent: no client certificate. Refused: one was presented and did not verify (code, message). */
export type PeerCheck =
  | { readonly kind: 'absent' }
  | { readonly kind: 'refused'; readonly code: string; readonly message: string }
  | ({ readonly kind: 'verified' } & PeerSvid);

/** The peer's certificates as sent in the handshake, leaf first (node's detailed peer certificate). */
export function peerChainDer(socket: unknown): Buffer[] | undefined {
  const tls = socket as Partial<Pick<TLSSocket, 'getPeerCertificate'>> | undefined;
  if (typeof tls?.getPeerCertificate !== 'function') return undefined;
  const chain = chainFromPeerCertificate(tls.getPeerCertificate(true));
  return chain.length === 0 ? undefined : chain;
}

/** A verifier with a per-connection cache; one per listener. */
export function createPeerVerifier(
  ownBundle: () => Bundle,
  now: Clock,
): (socket: unknown) => PeerCheck {
  const verified = new WeakMap<object, PeerSvid & { readonly bundle: Bundle }>();
  return (socket) => {
    const own = ownBundle();
    const nowMs = now();
    const key = typeof socket === 'object' && socket !== null ? socket : undefined;
    const cached = key === undefined ? undefined : verified.get(key);
    if (cached !== undefined && cached.bundle === own && nowMs < cached.expiresAt.getTime()) {
      return { kind: 'verified', spiffeId: cached.spiffeId, expiresAt: cached.expiresAt };
    }
    const chain = peerChainDer(socket);
    if (chain === undefined) return { kind: 'absent' };
    try {
      const result = verifyX509Svid(chain, new BundleSet([own]), { now: new Date(nowMs) });
      const peer = { spiffeId: result.spiffeId, expiresAt: result.expiresAt };
      if (key !== undefined) verified.set(key, { ...peer, bundle: own });
      return { kind: 'verified', ...peer };
    } catch (error) {
      if (!isBrokerError(error)) throw error;
      return { kind: 'refused', code: error.code, message: error.message };
    }
  };
}
