// A Workload API client for tests, built only from the published workload.proto with
// @grpc/grpc-js + proto-loader (never the server's code): typed wrappers around each RPC.
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

export const WORKLOAD_PROTO = fileURLToPath(
  new URL('../../src/workload/proto/workload.proto', import.meta.url),
);
/** The child-process client (node script) for callers with another uid or binary. */
export const WORKLOAD_CLIENT_SCRIPT = fileURLToPath(
  new URL('./workload-client-cli.mjs', import.meta.url),
);

type Client = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

export interface X509SvidMsg {
  spiffe_id: string;
  x509_svid: Buffer;
  x509_svid_key: Buffer;
  bundle: Buffer;
  hint: string;
}
export interface X509SvidResponseMsg {
  svids: X509SvidMsg[];
  federated_bundles: Record<string, Buffer>;
}

/** `options`: more grpc-js channel options (e.g. a connection of its own). */
export function workloadClient(socketPath: string, options: object = {}): Client {
  const definition = loadSync(WORKLOAD_PROTO, {
    keepCase: true,
    longs: String,
    defaults: true,
    oneofs: true,
  });
  const Service = (
    grpc.loadPackageDefinition(definition) as unknown as {
      SpiffeWorkloadAPI: new (
        address: string,
        credentials: grpc.ChannelCredentials,
        options?: object,
      ) => Client;
    }
  ).SpiffeWorkloadAPI;
  return new Service(`unix://${socketPath}`, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    ...options,
  });
}

export function header(): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set('workload.spiffe.io', 'true');
  return metadata;
}

export function unaryCall<T>(
  client: Client,
  method: string,
  request: object,
  metadata = header(),
): Promise<T> {
  return new Promise((resolve, reject) => {
    (
      client[method] as (
        r: object,
        m: grpc.Metadata,
        cb: (e: grpc.ServiceError | null, v: T) => void,
      ) => void
    ).call(client, request, metadata, (error, value) =>
      error === null ? resolve(value) : reject(error),
    );
  });
}

/** An open server stream collecting messages; `next()` waits for the next one. */
export interface OpenStream<T> {
  readonly messages: T[];
  next(timeoutMs?: number): Promise<T>;
  /** Resolves with the status error (or null on OK) when the stream ends. */
  readonly ended: Promise<grpc.ServiceError | null>;
  cancel(): void;
}

export function openStream<T>(client: Client, method: string, metadata = header()): OpenStream<T> {
  const call = (
    client[method] as (r: object, m: grpc.Metadata) => grpc.ClientReadableStream<T>
  ).call(client, {}, metadata);
  const messages: T[] = [];
  const waiters: ((value: T) => void)[] = [];
  let consumed = 0;
  call.on('data', (message: T) => {
    messages.push(message);
    const waiter = waiters.shift();
    if (waiter !== undefined) {
      consumed += 1;
      waiter(message);
    }
  });
  const ended = new Promise<grpc.ServiceError | null>((resolve) => {
    call.on('error', (error: grpc.ServiceError) => resolve(error));
    call.on('end', () => resolve(null));
  });
  ended.catch(() => undefined);
  return {
    messages,
    ended,
    next(timeoutMs = 10_000) {
      if (consumed < messages.length) return Promise.resolve(messages[consumed++] as T);
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no ${method} message within ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiters.push((value) => {
          clearTimeout(timer);
          resolve(value);
        });
        void ended.then((error) => {
          clearTimeout(timer);
          reject(error ?? new Error('stream ended'));
        });
      });
    },
    cancel: () => call.cancel(),
  };
}
