// The first step of every Workload API call, at its request headers (a grpc-js server
// interceptor), before grpc-js reads a byte of the request message: the security header (WAPI-5),
// then the caller uid's quotas; a request (its message and the client's half-close) that has not
// arrived within receiveMs is refused.
import * as grpc from '@grpc/grpc-js';
import type { Admission, Holder } from './admission.js';
import { NO_IDENTITY, checkHeader, statusOf, type CallStatus } from './call-status.js';

/** What the gate needs of an accepted connection. */
export interface GateConnection {
  readonly uid: number;
  /** A call's request arrived: the connection is in use (ends its first-call deadline). */
  called(): void;
}

export interface CallGateDeps {
  readonly admission: Admission;
  readonly connectionOf: (peer: string) => GateConnection | undefined;
  readonly receiveMs: number;
}

export function callGate(deps: CallGateDeps): grpc.ServerInterceptor {
  const { admission } = deps;
  return (_method, call) => {
    // none: not admitted; receiving: admitted, request message not complete; open; done.
    let state: 'none' | 'receiving' | 'open' | 'done' = 'none';
    let uid = -1;
    let timer: NodeJS.Timeout | undefined;
    const release = (): void => {
      if (state === 'receiving' || state === 'open')
        admission.releaseCall(uid, holder, state === 'receiving');
      state = 'done';
      clearTimeout(timer);
    };
    const refuse = (status: CallStatus): void => {
      release();
      call.sendStatus({ ...status, metadata: new grpc.Metadata() });
    };
    // The arriving pool was full and another uid held less: this uid held the most (review 14 F2).
    const holder: Holder = {
      evict: () => {
        if (state !== 'receiving') return;
        refuse({
          code: grpc.status.RESOURCE_EXHAUSTED,
          details: 'too many requests still arriving',
        });
      },
    };
    const onReceiveMetadata = (
      metadata: grpc.Metadata,
      next: (metadata: grpc.Metadata) => void,
    ): void => {
      try {
        checkHeader(metadata);
      } catch (error) {
        refuse(statusOf(error));
        return;
      }
      const connection = deps.connectionOf(call.getPeer());
      if (connection === undefined) {
        refuse({ code: grpc.status.PERMISSION_DENIED, details: NO_IDENTITY });
        return;
      }
      const refusal = admission.admitCall(connection.uid, holder);
      if (refusal !== undefined) {
        refuse(refusal);
        return;
      }
      uid = connection.uid;
      state = 'receiving';
      timer = setTimeout(() => {
        if (state !== 'receiving') return;
        refuse({
          code: grpc.status.DEADLINE_EXCEEDED,
          details: 'the request message did not arrive in time',
        });
      }, deps.receiveMs);
      timer.unref();
      next(metadata);
    };
    // Every Workload API request is one message followed by the client's half-close, and grpc-js
    // holds the parsed message until that half-close before any handler runs: a request counts as
    // arriving, under its deadline, until then (a message sent without the half-close is held too).
    const onReceiveHalfClose = (next: () => void): void => {
      if (state === 'receiving') {
        admission.received(uid, holder);
        state = 'open';
        clearTimeout(timer);
        deps.connectionOf(call.getPeer())?.called();
      }
      next();
    };
    return new grpc.ServerInterceptingCall(call, {
      start: (next) => next({ onReceiveMetadata, onReceiveHalfClose, onCancel: release }),
      sendStatus: (status, next) => {
        release();
        next(status);
      },
    });
  };
}
