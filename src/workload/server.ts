// The SPIFFE Workload API server (WAPI-2..19) on a Unix socket: our own net.Server accepts, reads
// SO_PEERCRED and the caller's start time, tags the socket with a connection id and injects it
// into @grpc/grpc-js; every call re-attests the connection's process from /proc.
import type { Server as NetServer, Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { BundleSet, type Bundle } from '../bundle/index.js';
import { isBrokerError } from '../errors.js';
import { validateJwtSvid } from '../svid/index.js';
import type { Attestor, WorkloadFacts } from './attest.js';
import {
  bundlesFor,
  jwtBundleJson,
  tdId,
  versionOf,
  x509BundleDer,
  x509SvidResponse,
} from './messages.js';
import { instanceOf, isTemplateEntry, matchEntries, type NodeEntry } from './node-state.js';
import { socketFd, type PeerCred, type PeerCredReader } from './peercred.js';
import { structOf, workloadServiceDefinition } from './proto.js';
import { closeUnix, listenUnix } from './socket.js';
import type { NodeSource, WorkloadInfo } from './source.js';
import { createSvidCache, expectedId, type CachedX509Svid, type SvidCache } from './svid-cache.js';

export interface WorkloadApiLimits {
  /** Largest request message (gRPC max_receive_message_length). */
  readonly maxMessageBytes: number;
  /** Most audience values in one FetchJWTSVID. */
  readonly maxAudiences: number;
  readonly maxAudienceLength: number;
  /** Open streams across all connections; more get RESOURCE_EXHAUSTED. */
  readonly maxStreams: number;
  /** HTTP/2 concurrent streams of one connection. */
  readonly maxStreamsPerConnection: number;
  readonly maxConnections: number;
}

export const DEFAULT_WORKLOAD_API_LIMITS: WorkloadApiLimits = {
  maxMessageBytes: 128 * 1024,
  maxAudiences: 32,
  maxAudienceLength: 1024,
  maxStreams: 4096,
  maxStreamsPerConnection: 2048,
  maxConnections: 4096,
};

export interface WorkloadApiLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

export interface WorkloadApiServerOptions {
  readonly socketPath: string;
  readonly source: NodeSource;
  readonly peerCred: PeerCredReader;
  readonly attestor: Attestor;
  /** /proc/sys/kernel/random/boot_id: part of every instance id. */
  readonly bootId: string;
  readonly limits?: Partial<WorkloadApiLimits>;
  readonly now?: () => number;
  readonly logger?: WorkloadApiLogger;
}

export interface WorkloadApiServer {
  listen(): Promise<void>;
  close(): Promise<void>;
  /** Streams open now. */
  readonly openStreams: number;
  readonly cache: SvidCache;
}

interface Connection {
  readonly cred: PeerCred;
  readonly startTime: string;
}

/** A failure answered with a gRPC status; the message never names an identity. */
class Refusal extends Error {
  constructor(
    readonly status: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

const NO_IDENTITY = 'no identity issued';

interface Caller {
  readonly facts: WorkloadFacts;
  readonly workload: WorkloadInfo;
  readonly matches: readonly { entry: NodeEntry; instance: string | undefined }[];
  readonly bundles: BundleSet;
  readonly own: Bundle;
  readonly federated: Bundle[];
}

function statusOf(error: unknown): { code: grpc.status; details: string } {
  if (error instanceof Refusal) return { code: error.status, details: error.message };
  if (isBrokerError(error)) {
    if (
      error.code === 'ERR_WORKLOAD_PID_REUSED' ||
      error.code === 'ERR_WORKLOAD_ATTESTATION_FAILED'
    ) {
      return { code: grpc.status.PERMISSION_DENIED, details: NO_IDENTITY };
    }
  }
  return { code: grpc.status.UNAVAILABLE, details: 'identity not available now; retry' };
}

/** Ends a server stream with a status (grpc-js sends the status of an emitted 'error'). */
function failStream(
  call: grpc.ServerWritableStream<unknown, unknown>,
  status: { code: grpc.status; details: string },
): void {
  call.emit('error', Object.assign(new Error(status.details), status));
}

export function createWorkloadApiServer(options: WorkloadApiServerOptions): WorkloadApiServer {
  const limits = { ...DEFAULT_WORKLOAD_API_LIMITS, ...options.limits };
  const now = options.now ?? Date.now;
  const { source, attestor, logger } = options;
  const connections = new Map<string, Connection>();
  let nextConnection = 0;
  let openStreams = 0;
  const streamListeners = new Set<() => void>();
  const cache = createSvidCache(source, () => source.state()?.bundles, { now });
  let netServer: NetServer | undefined;
  let lastOwn: Bundle | undefined;

  const grpcServer = new grpc.Server({
    'grpc.max_receive_message_length': limits.maxMessageBytes,
    'grpc.max_concurrent_streams': limits.maxStreamsPerConnection,
  });
  const injector = grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());

  // A CA rotation (our X.509 or JWT authorities changed) re-signs; every stream gets fresh state.
  const unsubscribe = source.onChange(() => {
    const own = source.state()?.bundles.get(source.trustDomain);
    if (own !== undefined && lastOwn !== undefined) {
      if (x509BundleDer(own).compare(x509BundleDer(lastOwn)) !== 0) cache.expireX509();
      if (!jwtBundleJson(own).equals(jwtBundleJson(lastOwn))) cache.clearJwt();
    }
    lastOwn = own;
    for (const listener of streamListeners) listener();
  });
  lastOwn = source.state()?.bundles.get(source.trustDomain);

  function onConnection(socket: Socket): void {
    let connection: Connection;
    try {
      const cred = options.peerCred(socketFd(socket));
      connection = { cred, startTime: attestor.startTime(cred.pid) };
    } catch (error) {
      logger?.warn('refused a connection without peer credentials', {
        error: (error as Error).message,
      });
      socket.destroy();
      return;
    }
    const id = `wapi-connection-${++nextConnection}`;
    // grpc-js reports the session socket's remoteAddress as call.getPeer(): our connection id.
    Object.defineProperty(socket, 'remoteAddress', { value: id, configurable: true });
    connections.set(id, connection);
    socket.once('close', () => connections.delete(id));
    injector.injectConnection(socket);
  }

  /** WAPI-5: the security header, checked before anything else. */
  function checkHeader(metadata: grpc.Metadata): void {
    const values = metadata.get('workload.spiffe.io');
    if (values.length !== 1 || values[0] !== 'true') {
      throw new Refusal(
        grpc.status.INVALID_ARGUMENT,
        'security header missing from request (workload.spiffe.io: true)',
      );
    }
  }

  /** Attests the call's process and finds its entries (WAPI-7); never from request content. */
  async function callerOf(peer: string): Promise<Caller> {
    const connection = connections.get(peer);
    if (connection === undefined) throw new Refusal(grpc.status.PERMISSION_DENIED, NO_IDENTITY);
    const facts = await attestor.attest(connection.cred, connection.startTime);
    const state = source.state();
    if (state === undefined) {
      throw new Refusal(grpc.status.UNAVAILABLE, 'the node agent has no state from the broker yet');
    }
    const entries = matchEntries(state.entries, facts.selectors);
    if (entries.length === 0) throw new Refusal(grpc.status.PERMISSION_DENIED, NO_IDENTITY);
    const matches = entries.map((entry) => ({
      entry,
      instance: isTemplateEntry(entry)
        ? instanceOf(source.nodeId, options.bootId, facts.pid, facts.startTime)
        : undefined,
    }));
    const { own, federated } = bundlesFor(state.bundles, source.trustDomain, entries);
    if (own === undefined) throw new Refusal(grpc.status.UNAVAILABLE, 'no trust bundle yet');
    const workload: WorkloadInfo = {
      pid: facts.pid,
      uid: facts.uid,
      gid: facts.gid,
      startTime: facts.startTime,
      ...(facts.path === undefined ? {} : { path: facts.path }),
      ...(facts.sha256 === undefined ? {} : { sha256: facts.sha256 }),
    };
    return {
      facts,
      workload,
      matches,
      bundles: new BundleSet([own, ...federated]),
      own,
      federated,
    };
  }

  /** Every SVID the caller may hold; entries the broker cannot sign now are left out. */
  async function x509Svids(caller: Caller): Promise<CachedX509Svid[]> {
    const results = await Promise.allSettled(
      caller.matches.map((m) => cache.x509(m.entry, m.instance, caller.workload)),
    );
    const svids = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    if (svids.length === 0) {
      const failure = results.find((r) => r.status === 'rejected');
      throw failure?.status === 'rejected' ? failure.reason : new Error('no SVID');
    }
    return svids;
  }

  interface Built {
    readonly message: unknown;
    readonly version: string;
    /** When to rebuild even without a change (renewal, expiry); undefined: only on change. */
    readonly nextMs?: number;
  }

  /** A server stream pushing complete state on open and on every change (WAPI-8). */
  function serveStream(
    call: grpc.ServerWritableStream<unknown, unknown>,
    build: (caller: Caller) => Promise<Built>,
  ): void {
    try {
      checkHeader(call.metadata);
    } catch (error) {
      failStream(call, statusOf(error));
      return;
    }
    if (openStreams >= limits.maxStreams) {
      failStream(call, { code: grpc.status.RESOURCE_EXHAUSTED, details: 'too many open streams' });
      return;
    }
    openStreams += 1;
    let ended = false;
    let last: string | undefined;
    let timer: NodeJS.Timeout | undefined;
    let chain: Promise<void> = Promise.resolve();
    const end = (): void => {
      if (ended) return;
      ended = true;
      openStreams -= 1;
      clearTimeout(timer);
      streamListeners.delete(push);
    };
    const run = async (): Promise<void> => {
      if (ended) return;
      try {
        const built = await build(await callerOf(call.getPeer()));
        if (ended) return;
        if (built.version !== last) {
          last = built.version;
          call.write(built.message);
        }
        clearTimeout(timer);
        if (built.nextMs !== undefined) {
          timer = setTimeout(push, Math.max(100, Math.min(built.nextMs - now(), 2 ** 31 - 1)));
          timer.unref();
        }
      } catch (error) {
        if (ended) return;
        end();
        failStream(call, statusOf(error));
      }
    };
    function push(): void {
      chain = chain.then(run);
    }
    call.on('cancelled', end);
    call.on('close', end);
    call.on('error', end);
    streamListeners.add(push);
    push();
  }

  const handlers: grpc.UntypedServiceImplementation = {
    FetchX509SVID(call: grpc.ServerWritableStream<unknown, unknown>) {
      serveStream(call, async (caller) => {
        const svids = await x509Svids(caller);
        const message = x509SvidResponse(svids, caller.own, caller.federated);
        const refresh = Math.min(
          ...svids.map((s) => (s.refreshAtMs > now() ? s.refreshAtMs : s.expiresAtMs)),
        );
        return {
          message,
          version: versionOf([
            ...svids.flatMap((s) => [s.spiffeId, ...s.chainDer]),
            message.svids[0]?.bundle ?? '',
            ...Object.entries(message.federated_bundles).flat(),
          ]),
          nextMs: refresh,
        };
      });
    },

    FetchX509Bundles(call: grpc.ServerWritableStream<unknown, unknown>) {
      serveStream(call, async (caller) => {
        const bundles: Record<string, Buffer> = {};
        for (const bundle of [caller.own, ...caller.federated])
          bundles[tdId(bundle)] = x509BundleDer(bundle);
        return {
          message: { crl: [], bundles },
          version: versionOf(Object.entries(bundles).flat()),
        };
      });
    },

    FetchJWTBundles(call: grpc.ServerWritableStream<unknown, unknown>) {
      serveStream(call, async (caller) => {
        const bundles: Record<string, Buffer> = {};
        for (const bundle of [caller.own, ...caller.federated])
          bundles[tdId(bundle)] = jwtBundleJson(bundle);
        return { message: { bundles }, version: versionOf(Object.entries(bundles).flat()) };
      });
    },

    FetchJWTSVID(
      call: grpc.ServerUnaryCall<unknown, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) {
      unary(call, callback, async (request, caller) => {
        const audience = checkAudience((request as { audience?: unknown }).audience);
        const wanted = String((request as { spiffe_id?: unknown }).spiffe_id ?? '');
        const matches = caller.matches.filter(
          (m) => wanted === '' || expectedId(m.entry, m.instance) === wanted,
        );
        // WAPI-15: an ID the caller may not hold is refused like no identity at all.
        if (matches.length === 0) throw new Refusal(grpc.status.PERMISSION_DENIED, NO_IDENTITY);
        const svids = await Promise.all(
          matches.map((m) => cache.jwt(m.entry, m.instance, audience, caller.workload)),
        );
        return { svids: svids.map((s) => ({ spiffe_id: s.spiffeId, svid: s.token, hint: '' })) };
      });
    },

    ValidateJWTSVID(
      call: grpc.ServerUnaryCall<unknown, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) {
      unary(call, callback, async (request, caller) => {
        const { audience, svid } = request as { audience?: unknown; svid?: unknown };
        if (typeof audience !== 'string' || audience === '') {
          throw new Refusal(grpc.status.INVALID_ARGUMENT, 'audience must be specified');
        }
        if (typeof svid !== 'string' || svid === '') {
          throw new Refusal(grpc.status.INVALID_ARGUMENT, 'svid must be specified');
        }
        try {
          // WAPI-16: the bundles this caller would get: ours and its entries' partners.
          const result = validateJwtSvid(svid, caller.bundles, { audience, now: new Date(now()) });
          return {
            spiffe_id: result.spiffeId.toString(),
            claims: structOf(result.claims as never),
          };
        } catch (error) {
          const code = isBrokerError(error) ? error.code : 'ERR_SVID_JWT_MALFORMED';
          throw new Refusal(grpc.status.INVALID_ARGUMENT, `invalid JWT-SVID: ${code}`);
        }
      });
    },
  };

  function checkAudience(value: unknown): string[] {
    if (!Array.isArray(value) || value.length === 0) {
      throw new Refusal(grpc.status.INVALID_ARGUMENT, 'audience must be specified');
    }
    if (value.length > limits.maxAudiences) {
      throw new Refusal(
        grpc.status.INVALID_ARGUMENT,
        `at most ${limits.maxAudiences} audience values are allowed`,
      );
    }
    for (const item of value) {
      if (typeof item !== 'string' || item === '' || item.length > limits.maxAudienceLength) {
        throw new Refusal(
          grpc.status.INVALID_ARGUMENT,
          'audience values must be non-empty strings',
        );
      }
    }
    return value as string[];
  }

  function unary(
    call: grpc.ServerUnaryCall<unknown, unknown>,
    callback: grpc.sendUnaryData<unknown>,
    handle: (request: unknown, caller: Caller) => Promise<unknown>,
  ): void {
    const work = async (): Promise<unknown> => {
      checkHeader(call.metadata);
      return handle(call.request, await callerOf(call.getPeer()));
    };
    work().then(
      (response) => callback(null, response),
      (error: unknown) => {
        const status = statusOf(error);
        if (status.code === grpc.status.UNAVAILABLE && !(error instanceof Refusal)) {
          logger?.warn('workload API call failed', { error: (error as Error).message });
        }
        callback(Object.assign(new Error(status.details), status), null);
      },
    );
  }

  grpcServer.addService(workloadServiceDefinition(), handlers);

  return {
    get openStreams() {
      return openStreams;
    },
    cache,
    async listen() {
      netServer = await listenUnix(options.socketPath, onConnection, limits.maxConnections);
      logger?.info('serving the SPIFFE Workload API', { socket: options.socketPath });
    },
    async close() {
      unsubscribe();
      streamListeners.clear();
      const server = netServer;
      netServer = undefined;
      injector.drain(1000);
      grpcServer.forceShutdown();
      injector.destroy();
      if (server !== undefined) await closeUnix(server, options.socketPath);
    },
  };
}
