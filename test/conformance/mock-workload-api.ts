// The conformance catalogue's mock Workload API (TEST_CATALOGUE §2.3): @grpc/grpc-js serving the
// published workload.proto on a Unix socket (or TCP on 127.0.0.1), recording every RPC with its
// method, full metadata, request and the status it returned, so tests assert on the record.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

const PROTO = new URL('../../src/workload/proto/workload.proto', import.meta.url).pathname;

export type Method =
  'FetchX509SVID' | 'FetchX509Bundles' | 'FetchJWTBundles' | 'FetchJWTSVID' | 'ValidateJWTSVID';
type StreamMethod = 'FetchX509SVID' | 'FetchJWTBundles';

export interface CallRecord {
  readonly method: Method;
  /** Every metadata key with its values (grpc-js's own keys included). */
  readonly metadata: Readonly<Record<string, readonly string[]>>;
  readonly request: Record<string, unknown>;
  /** The status the server ended the call with; 'open' while a stream is served. */
  status: grpc.status | 'open';
  readonly atMs: number;
}

export interface Refusal {
  readonly code: grpc.status;
  readonly details?: string;
}

/** Decides, per call of a method, whether it is refused (`nth` counts that method's calls, from 1). */
export type Refuser = (nth: number) => Refusal | undefined;

export interface ConformanceWorkloadApi {
  /** `unix:///...` or `tcp://127.0.0.1:port`. */
  readonly address: string;
  readonly calls: readonly CallRecord[];
  callsOf(method: Method): CallRecord[];
  /** Sets the X509SVIDResponse every FetchX509SVID stream gets, and sends it on the open ones. */
  setX509(message: Record<string, unknown>): void;
  /** Same for JWTBundlesResponse. */
  setJwtBundles(message: Record<string, unknown>): void;
  /** Answers FetchJWTSVID. */
  onFetchJwtSvid(handler: (request: Record<string, unknown>) => Record<string, unknown>): void;
  refuse(method: Method, refuser: Refuser | undefined): void;
  /** Ends every open stream with `code`. */
  endStreams(code: grpc.status, details?: string): void;
  /** Binds the socket (only needed when started with `bindLater`). */
  bind(): Promise<void>;
  close(): Promise<void>;
}

function serviceDefinition(): grpc.ServiceDefinition {
  const definition = loadSync(PROTO, { keepCase: true, longs: String, defaults: true });
  return (
    grpc.loadPackageDefinition(definition) as unknown as {
      SpiffeWorkloadAPI: { service: grpc.ServiceDefinition };
    }
  ).SpiffeWorkloadAPI.service;
}

function metadataOf(metadata: grpc.Metadata): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [key, value] of Object.entries(metadata.getMap())) {
    out[key] = metadata.get(key).map(String);
    if (out[key].length === 0) out[key] = [String(value)];
  }
  return out;
}

type AnyCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>;

/**
 * Starts the mock. `tcp`: listen on 127.0.0.1:0. `bindLater`: create nothing on disk until bind()
 * (CTS EP-8). Calls without the security header are refused with InvalidArgument (WE §3).
 */
export async function startConformanceWorkloadApi(
  options: { tcp?: boolean; bindLater?: boolean } = {},
): Promise<ConformanceWorkloadApi> {
  const dir = mkdtempSync(join(tmpdir(), 'cts-wapi-'));
  const socketPath = join(dir, 'workload.sock');
  const calls: CallRecord[] = [];
  const refusers = new Map<Method, Refuser>();
  const state = new Map<StreamMethod, Record<string, unknown>>();
  const streams = new Map<grpc.ServerWritableStream<unknown, unknown>, CallRecord>();
  let jwtSvid: (request: Record<string, unknown>) => Record<string, unknown> = () => ({
    svids: [],
  });

  /** Records the call; returns the refusal it gets, if any. */
  const admit = (method: Method, call: AnyCall): { record: CallRecord; refusal?: Refusal } => {
    const record: CallRecord = {
      method,
      metadata: metadataOf(call.metadata),
      request: (call.request ?? {}) as Record<string, unknown>,
      status: 'open',
      atMs: Date.now(),
    };
    calls.push(record);
    if (call.metadata.get('workload.spiffe.io')[0] !== 'true') {
      return { record, refusal: { code: grpc.status.INVALID_ARGUMENT, details: 'no header' } };
    }
    const refusal = refusers.get(method)?.(calls.filter((c) => c.method === method).length);
    return refusal === undefined ? { record } : { record, refusal };
  };

  const stream =
    (method: StreamMethod) =>
    (call: grpc.ServerWritableStream<unknown, unknown>): void => {
      const { record, refusal } = admit(method, call);
      if (refusal !== undefined) {
        record.status = refusal.code;
        call.emit('error', { code: refusal.code, details: refusal.details ?? 'refused' });
        return;
      }
      streams.set(call, record);
      call.on('cancelled', () => {
        // Only a stream the client gave up: one the server ended keeps the status it was sent.
        if (record.status === 'open') record.status = grpc.status.CANCELLED;
        streams.delete(call);
      });
      const current = state.get(method);
      if (current !== undefined) call.write(current);
    };

  const unary =
    (method: Method, answer: (request: Record<string, unknown>) => Record<string, unknown>) =>
    (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>): void => {
      const { record, refusal } = admit(method, call);
      record.status = refusal?.code ?? grpc.status.OK;
      if (refusal !== undefined) callback({ code: refusal.code, details: refusal.details ?? '' });
      else callback(null, answer(record.request));
    };

  const server = new grpc.Server();
  server.addService(serviceDefinition(), {
    FetchX509SVID: stream('FetchX509SVID'),
    FetchJWTBundles: stream('FetchJWTBundles'),
    // The harness contract uses FetchX509SVID; this one only records (catalogue §11).
    FetchX509Bundles: (call: grpc.ServerWritableStream<unknown, unknown>) => {
      admit('FetchX509Bundles', call).record.status = grpc.status.UNIMPLEMENTED;
      call.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'not served' });
    },
    FetchJWTSVID: unary('FetchJWTSVID', (request) => jwtSvid(request)),
    // Any call here marks JWT results as delegated (catalogue §2.4); tests assert there is none.
    ValidateJWTSVID: unary('ValidateJWTSVID', () => ({ spiffe_id: '', claims: null })),
  });

  let address = `unix://${socketPath}`;
  const bind = async (): Promise<void> => {
    const target = options.tcp === true ? '127.0.0.1:0' : address;
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (error, bound) =>
        error === null ? resolve(bound) : reject(error),
      );
    });
    if (options.tcp === true) address = `tcp://127.0.0.1:${port}`;
  };
  if (options.bindLater !== true) await bind();

  const send = (method: StreamMethod, message: Record<string, unknown>): void => {
    state.set(method, message);
    for (const [call, record] of streams) {
      if (record.method === method) call.write(message);
    }
  };
  return {
    get address() {
      return address;
    },
    calls,
    callsOf: (method) => calls.filter((call) => call.method === method),
    setX509: (message) => send('FetchX509SVID', message),
    setJwtBundles: (message) => send('FetchJWTBundles', message),
    onFetchJwtSvid(handler) {
      jwtSvid = handler;
    },
    refuse(method, refuser) {
      if (refuser === undefined) refusers.delete(method);
      else refusers.set(method, refuser);
    },
    endStreams(code, details = 'ended by the test') {
      for (const [call, record] of streams) {
        record.status = code;
        call.emit('error', { code, details });
      }
      streams.clear();
    },
    bind,
    async close() {
      server.forceShutdown();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
