// The X509-SVID a TLS client presented to one of our listeners (agent API, admin API over mTLS),
// verified against OUR bundle only (X509-31): callers of these listeners are always our workloads.
// The result is kept per connection while our bundle is unchanged (and, verified, while the SVID is
// valid): a chain cannot change within one TLS connection (renegotiation is not allowed). A refusal
// is kept too, so a connection presenting a chain that fails costs its verification once, not once
// per request.
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

/** How long a refusal is kept for a connection (a certificate not yet valid may become valid). */
const REFUSAL_KEPT_MS = 60_000;

/** Checks the client certificate of a connection (a TLS socket). */
export type PeerVerifier = (socket: unknown) => PeerCheck;

/** A verifier with a per-connection cache; one per listener, shared by the listener's apps. */
export function createPeerVerifier(ownBundle: () => Bundle, now: Clock): PeerVerifier {
  const checked = new WeakMap<
    object,
    { readonly check: PeerCheck; readonly bundle: Bundle; readonly atMs: number }
  >();
  return (socket) => {
    const own = ownBundle();
    const nowMs = now();
    const key = typeof socket === 'object' && socket !== null ? socket : undefined;
    const cached = key === undefined ? undefined : checked.get(key);
    if (cached !== undefined && cached.bundle === own) {
      const { check } = cached;
      const fresh =
        check.kind === 'verified'
          ? nowMs < check.expiresAt.getTime()
          : nowMs - cached.atMs < REFUSAL_KEPT_MS;
      if (fresh) return check;
    }
    const chain = peerChainDer(socket);
    if (chain === undefined) return { kind: 'absent' };
    let check: PeerCheck;
    try {
      const result = verifyX509Svid(chain, new BundleSet([own]), { now: new Date(nowMs) });
      check = { kind: 'verified', spiffeId: result.spiffeId, expiresAt: result.expiresAt };
    } catch (error) {
      if (!isBrokerError(error)) throw error;
      check = { kind: 'refused', code: error.code, message: error.message };
    }
    if (key !== undefined) checked.set(key, { check, bundle: own, atMs: nowMs });
    return check;
  };
}
