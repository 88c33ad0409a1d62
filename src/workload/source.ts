// What the Workload API server needs from the node agent's link to the broker (contract 17): the
// current node state, change notifications, and signing of workload CSRs and JWT-SVIDs.
import type { TrustDomain } from '../spiffeid/index.js';
import type { NodeState } from './node-state.js';

/** The attested caller, as sent to the broker for its audit (svid.issued). */
export interface WorkloadInfo {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks since boot): with pid, names one process. */
  readonly startTime: string;
  readonly path?: string;
  readonly sha256?: string;
}

export interface SignX509Request {
  readonly entryId: string;
  readonly csrDer: Buffer;
  readonly instance?: string;
  readonly workload: WorkloadInfo;
}

export interface SignJwtRequest {
  readonly entryId: string;
  readonly audience: readonly string[];
  readonly instance?: string;
  readonly workload: WorkloadInfo;
}

export interface IssuedX509 {
  readonly chainDer: readonly Buffer[];
}

export interface IssuedJwt {
  readonly spiffeId: string;
  readonly token: string;
  readonly expiresAt: Date;
}

export interface NodeSource {
  /** This node's SPIFFE ID (input of instance ids). */
  readonly nodeId: string;
  readonly trustDomain: TrustDomain;
  /** The latest node state; undefined before the first one arrived. */
  state(): NodeState | undefined;
  /** Called after the state changed (entries or bundles); returns the unsubscribe. */
  onChange(listener: () => void): () => void;
  signX509(request: SignX509Request): Promise<IssuedX509>;
  signJwt(request: SignJwtRequest): Promise<IssuedJwt>;
}
