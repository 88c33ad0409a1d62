// How Workload API calls fail: the security header check (WAPI-5), refusals with a gRPC status
// (WAPI-6) whose message never names an identity, and the attested caller every handler serves.
import * as grpc from '@grpc/grpc-js';
import type { Bundle, BundleSet } from '../bundle/index.js';
import { isBrokerError } from '../errors.js';
import type { WorkloadFacts } from './attest.js';
import type { NodeEntry } from './node-state.js';
import type { WorkloadInfo } from './source.js';

/** The attested caller of one call: its matching entries and the bundles it may see. */
export interface Caller {
  readonly facts: WorkloadFacts;
  readonly workload: WorkloadInfo;
  readonly matches: readonly { entry: NodeEntry; instance: string | undefined }[];
  readonly bundles: BundleSet;
  readonly own: Bundle;
  readonly federated: Bundle[];
}

export type CallerOf = (peer: string) => Promise<Caller>;

/** A failure answered with a gRPC status; the message never names an identity. */
export class Refusal extends Error {
  constructor(
    readonly status: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

export const NO_IDENTITY = 'no identity issued';

export interface CallStatus {
  readonly code: grpc.status;
  readonly details: string;
}

/** Attestation failures are "no identity"; anything else unexpected is "retry later". */
export function statusOf(error: unknown): CallStatus {
  if (error instanceof Refusal) return { code: error.status, details: error.message };
  if (
    isBrokerError(error) &&
    (error.code === 'ERR_WORKLOAD_PID_REUSED' || error.code === 'ERR_WORKLOAD_ATTESTATION_FAILED')
  ) {
    return { code: grpc.status.PERMISSION_DENIED, details: NO_IDENTITY };
  }
  return { code: grpc.status.UNAVAILABLE, details: 'identity not available now; retry' };
}

/** Ends a server stream with a status (grpc-js sends the status of an emitted 'error'). */
export function failStream(
  call: grpc.ServerWritableStream<unknown, unknown>,
  status: CallStatus,
): void {
  call.emit('error', Object.assign(new Error(status.details), status));
}

/** WAPI-5: the security header, checked before anything else. */
export function checkHeader(metadata: grpc.Metadata): void {
  const values = metadata.get('workload.spiffe.io');
  if (values.length !== 1 || values[0] !== 'true') {
    throw new Refusal(
      grpc.status.INVALID_ARGUMENT,
      'security header missing from request (workload.spiffe.io: true)',
    );
  }
}
