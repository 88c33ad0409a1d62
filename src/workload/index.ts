// Public surface of the workload room: the node agent's SPIFFE Workload API server, kernel
// attestation, node state and the link to the broker.
export { containerIdOf, createAttestor, parseStatStartTime } from './attest.js';
export { DEFAULT_MAX_CONCURRENT_HASHES, DEFAULT_MAX_HASH_BYTES } from './attest.js';
export type {
  AttestOptions,
  Attestor,
  AttestorOptions,
  HashStats,
  WorkloadFacts,
} from './attest.js';
export { loadPeerCred, socketFd } from './peercred.js';
export type { PeerCred, PeerCredReader } from './peercred.js';
export {
  INSTANCE_RE,
  MAX_NODE_ENTRIES,
  instanceOf,
  isTemplateEntry,
  matchEntries,
  needsBinaryHash,
  parseNodeState,
} from './node-state.js';
export type { NodeEntry, NodeState } from './node-state.js';
export type {
  IssuedJwt,
  IssuedX509,
  NodeSource,
  SignJwtRequest,
  SignX509Request,
  WorkloadInfo,
} from './source.js';
export { DEFAULT_WORKLOAD_API_LIMITS, createWorkloadApiServer } from './server.js';
export type {
  WorkloadApiLimits,
  WorkloadApiLogger,
  WorkloadApiServer,
  WorkloadApiServerOptions,
} from './server.js';
export { workloadProtoPath } from './proto.js';
export { backoffMs, createNodeAgent } from './node-agent.js';
export type { NodeAgent, NodeAgentLogger, NodeAgentOptions } from './node-agent.js';
export { NODE_SVID_FILE } from './node-store.js';
export { readBootId } from './attest.js';
