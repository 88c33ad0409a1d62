// The first step of every Workload API call, at its request headers (a grpc-js server
// interceptor), before grpc-js reads a byte of the request message: the security header (WAPI-5),
// then the caller uid's quotas; a request (its message and the client's half-close) that has not
// arrived within receiveMs is refused.
import { constants as http2Constants } from 'node:http2';
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

/** What grpc-js's base call keeps of the request's HTTP/2 stream (the field is not public). */
interface RequestStream {
  readonly closed: boolean;
  close(code: number): void;
}

/**
 * After a refusal sent before the client finished its request: RST_STREAM with NO_ERROR, as HTTP/2
 * lets a server that has answered ask the client to stop sending (RFC 9113 8.1). Without it the
 * stream stays open, half-closed, holding what grpc-js buffered of the message, and nothing closes
 * it (review 17 F1: one uid held 117 MiB in refused streams). grpc-js keeps the stream in the base
 * call, which is the call this first interceptor is given.
 */
function closeRequestStream(call: grpc.ServerInterceptingCallInterface): void {
  const stream = (call as unknown as { stream?: Partial<RequestStream> }).stream;
  if (stream === undefined || typeof stream.close !== 'function') {
    throw new Error('grpc-js base call without its HTTP/2 stream: cannot close refused requests');
  }
  if (stream.closed !== true) stream.close(http2Constants.NGHTTP2_NO_ERROR);
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
    /**
     * Ends the call here (refused, with `status`) or after grpc-js ended it (cancelled): one ended
     * before its request fully arrived (at the headers, or while its message arrives; grpc-js also
     * ends some itself: the client's grpc-timeout, a message it cannot decode) has its stream reset.
     */
    const finish = (status?: CallStatus): void => {
      const arriving = state === 'none' || state === 'receiving';
      release();
      if (status !== undefined) call.sendStatus({ ...status, metadata: new grpc.Metadata() });
      if (arriving) closeRequestStream(call);
    };
    // The arriving pool was full and another uid held less: this uid held the most (review 14 F2).
    const holder: Holder = {
      evict: () => {
        if (state !== 'receiving') return;
        finish({
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
        finish(statusOf(error));
        return;
      }
      const connection = deps.connectionOf(call.getPeer());
      if (connection === undefined) {
        finish({ code: grpc.status.PERMISSION_DENIED, details: NO_IDENTITY });
        return;
      }
      const refusal = admission.admitCall(connection.uid, holder);
      if (refusal !== undefined) {
        finish(refusal);
        return;
      }
      uid = connection.uid;
      state = 'receiving';
      timer = setTimeout(() => {
        if (state !== 'receiving') return;
        finish({
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
    // Review 18 F1: a call grpc-js ends itself, past this gate's sendStatus, is cancelled then.
    const onCancel = (): void => finish();
    return new grpc.ServerInterceptingCall(call, {
      start: (next) => next({ onReceiveMetadata, onReceiveHalfClose, onCancel }),
      sendStatus: (status, next) => {
        release();
        next(status);
      },
    });
  };
}
