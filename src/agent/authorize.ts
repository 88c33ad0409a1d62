// Authorisers for mTLS peers: after X509-SVID verification the authenticated SPIFFE ID is authorised
// (exact ID, ID set or trust domain membership, X509-28); built on the spiffeid matchers (ID-12).
import { SpiffeId, TrustDomain, matchId, matchMemberOf, matchOneOf } from '../spiffeid/index.js';

/**
 * Decides whether a verified peer SPIFFE ID may talk to us. Called once per connection, after the
 * peer's chain has passed X509-SVID verification; `false` (or a throw) refuses the connection.
 */
export type Authorizer = (id: SpiffeId) => boolean;

/** Any peer whose X509-SVID verifies against the bundle of its own trust domain. */
export function authorizeAny(): Authorizer {
  return () => true;
}

/** Exactly this SPIFFE ID (string comparison, ID-10). */
export function authorizeId(id: SpiffeId): Authorizer {
  return matchId(checkId(id));
}

/** Any of these SPIFFE IDs; with none, nobody. */
export function authorizeOneOf(...ids: SpiffeId[]): Authorizer {
  return matchOneOf(...ids.map(checkId));
}

/** Any SPIFFE ID of this trust domain. */
export function authorizeMemberOf(trustDomain: TrustDomain): Authorizer {
  if (!(trustDomain instanceof TrustDomain)) {
    throw new TypeError('trustDomain must be a TrustDomain');
  }
  return matchMemberOf(trustDomain);
}

function checkId(id: SpiffeId): SpiffeId {
  if (!(id instanceof SpiffeId)) throw new TypeError('id must be a SpiffeId');
  return id;
}
