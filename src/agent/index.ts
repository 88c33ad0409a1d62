// Public surface of the agent room (the SDK agents import): authorisers, the X509 source contract,
// mTLS helpers for node:tls / node:https and SVID files for file-based workloads.
export { authorizeAny, authorizeId, authorizeMemberOf, authorizeOneOf } from './authorize.js';
export type { Authorizer } from './authorize.js';
export { staticSource } from './x509-source.js';
export type { X509Source, X509SvidWithKey } from './x509-source.js';
export { peerChainOf } from './verify-peer.js';
export type { VerifiedPeer } from './verify-peer.js';
export {
  DEFAULT_MTLS_HANDSHAKE_TIMEOUT_MS,
  connectMtls,
  createMtlsHttpsServer,
  createMtlsServer,
  guardServer,
  peerIdOf,
  peerOf,
  tlsClientOptions,
  tlsServerOptions,
} from './tls.js';
export type { MtlsClientOptions, MtlsConnectOptions, MtlsOptions } from './tls.js';
export {
  BUNDLE_FILE,
  FEDERATED_DIR,
  SVID_CURRENT_LINK,
  SVID_FILE,
  SVID_KEY_FILE,
  writeSvidFiles,
} from './files.js';
export type { SvidFiles, WrittenSvidFiles } from './files.js';
export { createAgent } from './client.js';
export type {
  Agent,
  AgentLogger,
  AgentSvid,
  AgentUpdate,
  CreateAgentOptions,
  JwtSvid,
} from './client.js';
export { createCsrDer, csrPem, newKeyAndCsr } from './csr.js';
// The reconnect backoff and the SSE block reader, shared with the node agent (workload/node-watch.ts).
export { backoffMs } from './svid-rotation.js';
export { parseSseBlock } from './bundle-watch.js';
export { createWorkloadApiSource } from './workload-api-source.js';
export type { WorkloadApiSource, WorkloadApiSourceOptions } from './workload-api-source.js';
export type { WorkloadX509Svid } from './workload-api-messages.js';
export type { BackoffOptions } from './workload-api-stream.js';
export {
  ENDPOINT_SOCKET_ENV,
  parseWorkloadEndpoint,
  resolveWorkloadEndpoint,
} from './workload-endpoint.js';
export type { WorkloadEndpoint } from './workload-endpoint.js';
// The SPIFFE ID values the authorisers take, so an SDK user can name a partner trust domain.
export { SpiffeId, TrustDomain, parseSpiffeId, parseTrustDomain } from '../spiffeid/index.js';
