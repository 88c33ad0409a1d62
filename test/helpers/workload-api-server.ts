// A mock SPIFFE Workload API server for SDK client tests: @grpc/grpc-js with the published
// workload.proto (loaded here, not through the SDK's client code), on a real Unix socket (or TCP on
// 127.0.0.1). Records every call with its security header; tests push complete-state messages,
// inject statuses, and end streams.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type { TestCert } from './pki.js';

const PROTO = new URL('../../src/workload/proto/workload.proto', import.meta.url).pathname;

export interface RecordedCall {
  readonly method: string;
  /** The `workload.spiffe.io` metadata value, or undefined when absent (WAPI-5). */
  readonly header: string | undefined;
  readonly request: Record<string, unknown>;
  readonly atMs: number;
}

export interface SvidSpec {
  readonly spiffeId: string;
  readonly leaf: TestCert;
  readonly intermediates?: readonly TestCert[];
  /** The SVID's own trust domain CAs (concatenated DER in `bundle`). */
  readonly bundle: readonly TestCert[];
  readonly hint?: string;
}

/** An X509SVIDResponse as proto-loader objects: bytes as Buffer. */
export function x509Response(
  svids: readonly SvidSpec[],
  federated: Readonly<Record<string, readonly TestCert[]>> = {},
): Record<string, unknown> {
  return {
    svids: svids.map((svid) => ({
      spiffe_id: svid.spiffeId,
      x509_svid: Buffer.concat([svid.leaf.der, ...(svid.intermediates ?? []).map((c) => c.der)]),
      x509_svid_key: svid.leaf.nodePrivateKey().export({ format: 'der', type: 'pkcs8' }),
      bundle: Buffer.concat(svid.bundle.map((c) => c.der)),
      hint: svid.hint ?? '',
    })),
    crl: [],
    federated_bundles: Object.fromEntries(
      Object.entries(federated).map(([td, cas]) => [td, Buffer.concat(cas.map((c) => c.der))]),
    ),
  };
}

/** A JWTBundlesResponse: trust domain ID -> JWK Set JSON bytes. */
export function jwtBundlesResponse(
  bundles: Readonly<Record<string, readonly Record<string, unknown>[]>>,
): Record<string, unknown> {
  return {
    bundles: Object.fromEntries(
      Object.entries(bundles).map(([td, keys]) => [td, Buffer.from(JSON.stringify({ keys }))]),
    ),
  };
}

type Failure = { code: grpc.status; details?: string };
type StreamMethod = 'FetchX509SVID' | 'FetchJWTBundles';

export interface MockWorkloadApi {
  /** `unix:///...` (or `tcp://127.0.0.1:port`). */
  readonly address: string;
  readonly socketPath: string;
  readonly calls: RecordedCall[];
  /** Sets the current message of a stream method and sends it on every open stream of it. */
  push(method: StreamMethod, message: Record<string, unknown>): void;
  /** The next calls of `method` fail at once with these statuses, in order. */
  failNext(method: StreamMethod | 'FetchJWTSVID', ...failures: Failure[]): void;
  /** Every call of `method` fails with this status until cleared (undefined). */
  failAlways(method: StreamMethod | 'FetchJWTSVID', failure: Failure | undefined): void;
  /** Ends every open stream with `failure` (OK ends them cleanly). */
  endStreams(failure: Failure): void;
  openStreams(method: StreamMethod): number;
  /** Answers FetchJWTSVID. */
  onJwtSvid(handler: (request: Record<string, unknown>) => Record<string, unknown>): void;
  /** Resolves when `check()` holds, checked after every event here (no sleeps). */
  until(check: () => boolean, label: string, ms?: number): Promise<void>;
  close(): Promise<void>;
}

function loadService(): grpc.ServiceDefinition {
  const definition = loadSync(PROTO, {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    SpiffeWorkloadAPI: { service: grpc.ServiceDefinition };
  };
  return loaded.SpiffeWorkloadAPI.service;
}

/** Starts a mock server; `tcp: true` listens on 127.0.0.1 instead of a Unix socket. */
export async function startMockWorkloadApi(
  options: { tcp?: boolean; socketPath?: string } = {},
): Promise<MockWorkloadApi> {
  const dir = mkdtempSync(join(tmpdir(), 'wapi-'));
  const socketPath = options.socketPath ?? join(dir, 'agent.sock');
  const calls: RecordedCall[] = [];
  const current = new Map<StreamMethod, Record<string, unknown>>();
  const open = new Map<StreamMethod, Set<grpc.ServerWritableStream<unknown, unknown>>>([
    ['FetchX509SVID', new Set()],
    ['FetchJWTBundles', new Set()],
  ]);
  const queued = new Map<string, Failure[]>();
  const always = new Map<string, Failure>();
  const waiters = new Set<() => void>();
  let jwtHandler: (request: Record<string, unknown>) => Record<string, unknown> = () => ({
    svids: [],
  });
  const poke = (): void => {
    for (const waiter of waiters) waiter();
  };

  const record = (
    method: string,
    call: grpc.ServerUnaryCall<unknown, unknown>,
  ): Failure | undefined => {
    const header = call.metadata.get('workload.spiffe.io')[0];
    calls.push({
      method,
      header: header === undefined ? undefined : String(header),
      request: (call.request ?? {}) as Record<string, unknown>,
      atMs: Date.now(),
    });
    poke();
    if (header !== 'true') {
      return { code: grpc.status.INVALID_ARGUMENT, details: 'security header missing' };
    }
    const next = queued.get(method)?.shift();
    return next ?? always.get(method);
  };

  const streamHandler =
    (method: StreamMethod) =>
    (call: grpc.ServerWritableStream<unknown, unknown>): void => {
      const failure = record(method, call);
      if (failure !== undefined) {
        call.emit('error', { code: failure.code, details: failure.details ?? '' });
        return;
      }
      const set = open.get(method);
      set?.add(call);
      call.on('cancelled', () => {
        set?.delete(call);
        poke();
      });
      const message = current.get(method);
      if (message !== undefined) call.write(message);
      poke();
    };

  const server = new grpc.Server();
  server.addService(loadService(), {
    FetchX509SVID: streamHandler('FetchX509SVID'),
    FetchJWTBundles: streamHandler('FetchJWTBundles'),
    FetchX509Bundles: (call: grpc.ServerWritableStream<unknown, unknown>) => {
      record('FetchX509Bundles', call);
      call.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'mock' });
    },
    FetchJWTSVID: (
      call: grpc.ServerUnaryCall<unknown, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) => {
      const failure = record('FetchJWTSVID', call);
      if (failure !== undefined) {
        callback({ code: failure.code, details: failure.details ?? '' });
        return;
      }
      callback(null, jwtHandler((call.request ?? {}) as Record<string, unknown>));
    },
    ValidateJWTSVID: (
      call: grpc.ServerUnaryCall<unknown, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) => {
      record('ValidateJWTSVID', call);
      callback({ code: grpc.status.UNIMPLEMENTED, details: 'the SDK must validate itself' });
    },
  });
  const bindTarget = options.tcp === true ? '127.0.0.1:0' : `unix://${socketPath}`;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(bindTarget, grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error === null ? resolve(bound) : reject(error),
    );
  });
  const address = options.tcp === true ? `tcp://127.0.0.1:${port}` : `unix://${socketPath}`;

  return {
    address,
    socketPath,
    calls,
    push(method, message) {
      current.set(method, message);
      for (const call of open.get(method) ?? []) call.write(message);
      poke();
    },
    failNext(method, ...failures) {
      queued.set(method, [...(queued.get(method) ?? []), ...failures]);
    },
    failAlways(method, failure) {
      if (failure === undefined) always.delete(method);
      else always.set(method, failure);
    },
    endStreams(failure) {
      for (const set of open.values()) {
        for (const call of set) {
          if (failure.code === grpc.status.OK) call.end();
          else call.emit('error', { code: failure.code, details: failure.details ?? '' });
        }
        set.clear();
      }
      poke();
    },
    openStreams: (method) => open.get(method)?.size ?? 0,
    onJwtSvid(handler) {
      jwtHandler = handler;
    },
    async until(check, label, ms = 10_000) {
      if (check()) return;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`timed out waiting for ${label}`));
        }, ms);
        // Checked on server events and on a short poll (client-side effects happen off our events).
        const poll = setInterval(() => waiter(), 20);
        const waiter = (): void => {
          if (!check()) return;
          clearTimeout(timer);
          clearInterval(poll);
          waiters.delete(waiter);
          resolve();
        };
        waiters.add(waiter);
      });
    },
    async close() {
      server.forceShutdown();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
