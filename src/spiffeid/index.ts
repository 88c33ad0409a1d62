// Public surface of the spiffeid room: trust domains, SPIFFE IDs, matchers and the broker's
// well-known service IDs.
export { TrustDomain, parseTrustDomain, parseTrustDomainId } from './trust-domain.js';
export {
  SpiffeId,
  parseSpiffeId,
  spiffeIdFromSegments,
  spiffeIdOfTrustDomain,
} from './spiffe-id.js';
export { matchId, matchOneOf, matchMemberOf, matchPathPrefix } from './match.js';
export type { Matcher } from './match.js';
export { adminApiIdOf, agentApiIdOf, bundleEndpointIdOf } from './well-known.js';
