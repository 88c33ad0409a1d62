// Authenticates an mTLS peer: X509-SVID verification of its chain against the bundle of the peer's
// own trust domain (X509-25, FED-30, WAPI-14), then the authoriser (X509-28). No TLS here.
import type { TLSSocket } from 'node:tls';
import type { BundleSet } from '../bundle/index.js';
import { AgentError, SvidError } from '../errors.js';
import type { SpiffeId } from '../spiffeid/index.js';
import { chainFromPeerCertificate, verifyX509Svid, type VerifiedX509Svid } from '../svid/index.js';
import type { Authorizer } from './authorize.js';

/** A peer that passed X509-SVID verification and the authoriser. */
export interface VerifiedPeer {
  readonly spiffeId: SpiffeId;
  readonly svid: VerifiedX509Svid;
}

/**
 * Verifies `chain` (DER, leaf first) with verifyX509Svid against `bundles`, which answers with the
 * bundle of exactly the leaf's trust domain (never a pool, X509-25), then asks `authorize`.
 * Throws AgentError ERR_AGENT_PEER_UNVERIFIED (context.svidCode: the SvidError code) or
 * ERR_AGENT_PEER_UNAUTHORIZED.
 */
export function authenticatePeer(
  chain: readonly Buffer[],
  bundles: BundleSet,
  authorize: Authorizer,
  nowMs: number,
): VerifiedPeer {
  let svid: VerifiedX509Svid;
  try {
    svid = verifyX509Svid(chain, bundles, { now: new Date(nowMs) });
  } catch (cause) {
    if (!(cause instanceof SvidError)) throw cause;
    throw new AgentError(
      'ERR_AGENT_PEER_UNVERIFIED',
      `peer x509-svid rejected (${cause.code}): ${cause.message}`,
      { cause, context: { svidCode: cause.code } },
    );
  }
  let allowed: boolean;
  try {
    allowed = authorize(svid.spiffeId) === true;
  } catch (cause) {
    throw new AgentError(
      'ERR_AGENT_PEER_UNAUTHORIZED',
      `authoriser failed for peer "${svid.spiffeId.toString()}"`,
      { cause, context: { spiffeId: svid.spiffeId.toString() } },
    );
  }
  if (!allowed) {
    throw new AgentError(
      'ERR_AGENT_PEER_UNAUTHORIZED',
      `peer "${svid.spiffeId.toString()}" is not authorised`,
      { context: { spiffeId: svid.spiffeId.toString() } },
    );
  }
  return { spiffeId: svid.spiffeId, svid };
}

/**
 * The certificates the peer presented, leaf first, as OpenSSL linked them (issuer order). At most
 * MAX_PEER_CHAIN_WALK (one more than verification accepts), so an over-long chain still fails
 * verification (X509-20).
 */
export function peerChainOf(socket: TLSSocket): Buffer[] {
  return chainFromPeerCertificate(socket.getPeerCertificate(true));
}
