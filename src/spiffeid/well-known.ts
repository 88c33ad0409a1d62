// The broker's own service IDs, spelled once: what its listeners present and what agents, the node
// agent and the admin CLI expect, and the IDs registration reserves (no entry may take them).
import { spiffeIdFromSegments, type SpiffeId } from './spiffe-id.js';
import type { TrustDomain } from './trust-domain.js';

/** `spiffe://<td>/fedbroker/agent-api`: the agent API's X509-SVID (agents verify it, X509-28). */
export function agentApiIdOf(trustDomain: TrustDomain): SpiffeId {
  return spiffeIdFromSegments(trustDomain, 'fedbroker', 'agent-api');
}

/** `spiffe://<td>/fedbroker/admin-api`: the admin listener's X509-SVID when it serves mTLS. */
export function adminApiIdOf(trustDomain: TrustDomain): SpiffeId {
  return spiffeIdFromSegments(trustDomain, 'fedbroker', 'admin-api');
}

/** `spiffe://<td>/spiffe/bundle-endpoint`: the https_spiffe bundle endpoint's default ID (FED-23). */
export function bundleEndpointIdOf(trustDomain: TrustDomain): SpiffeId {
  return spiffeIdFromSegments(trustDomain, 'spiffe', 'bundle-endpoint');
}
