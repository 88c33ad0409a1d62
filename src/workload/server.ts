// The SPIFFE Workload API server (WAPI-2..19) on a Unix socket: our own net.Server accepts, reads
// SO_PEERCRED and the caller's start time, tags the socket with a connection id and injects it
// into @grpc/grpc-js; every call re-attests the connection's process from /proc (its binary's
// sha256 only when an entry could match on it).
import type { Server as NetServer, Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { BundleSet, type Bundle } from '../bundle/index.js';
import type { Attestor } from './attest.js';
import { NO_IDENTITY, Refusal, type Caller } from './call-status.js';
import { bundlesFor, jwtBundleJson, x509BundleDer } from './messages.js';
import { instanceOf, isTemplateEntry, matchEntries, needsBinaryHash } from './node-state.js';
import { socketFd, type PeerCred, type PeerCredReader } from './peercred.js';
import { workloadServiceDefinition } from './proto.js';
import { workloadApiHandlers } from './rpcs.js';
import { closeUnix, listenUnix } from './socket.js';
import type { NodeSource, WorkloadInfo } from './source.js';
import { createStreamHub } from './streams.js';
import { createSvidCache, type SvidCache } from './svid-cache.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';

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

export type WorkloadApiLogger = Pick<Logger, 'info' | 'warn'>;

export interface WorkloadApiServerOptions {
  readonly socketPath: string;
  readonly source: NodeSource;
  readonly peerCred: PeerCredReader;
  readonly attestor: Attestor;
  /** /proc/sys/kernel/random/boot_id: part of every instance id. */
  readonly bootId: string;
  readonly limits?: Partial<WorkloadApiLimits>;
  readonly now?: Clock;
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

/** Attests the call's process and finds its entries (WAPI-7); never from request content. */
async function attestCaller(
  options: Pick<WorkloadApiServerOptions, 'attestor' | 'source' | 'bootId'>,
  connection: Connection | undefined,
): Promise<Caller> {
  const { attestor, source } = options;
  if (connection === undefined) throw new Refusal(grpc.status.PERMISSION_DENIED, NO_IDENTITY);
  // The binary is hashed only when an entry held now could match on its sha256.
  const facts = await attestor.attest(connection.cred, connection.startTime, {
    hashWhen: (selectors) => needsBinaryHash(source.state()?.entries ?? [], selectors),
  });
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

/**
 * A CA rotation (our X.509 or JWT authorities changed) re-signs; every stream gets fresh state.
 * An activation changes the signer without changing the bundle: the state names the active
 * X.509 authority, and a new one re-signs too (issue 17, the activation gap). Returns the
 * unsubscribe.
 */
function followAuthorityChanges(
  source: NodeSource,
  cache: SvidCache,
  broadcast: () => void,
): () => void {
  let lastOwn: Bundle | undefined;
  let lastActive: string | undefined;
  const unsubscribe = source.onChange(() => {
    const state = source.state();
    const own = state?.bundles.get(source.trustDomain);
    if (own !== undefined && lastOwn !== undefined) {
      if (x509BundleDer(own).compare(x509BundleDer(lastOwn)) !== 0) cache.expireX509();
      if (!jwtBundleJson(own).equals(jwtBundleJson(lastOwn))) cache.clearJwt();
    }
    const active = state?.activeX509Authority;
    if (active !== undefined && lastActive !== undefined && active !== lastActive) {
      cache.expireX509();
    }
    lastOwn = own;
    if (active !== undefined) lastActive = active;
    broadcast();
  });
  lastOwn = source.state()?.bundles.get(source.trustDomain);
  lastActive = source.state()?.activeX509Authority;
  return unsubscribe;
}

export function createWorkloadApiServer(options: WorkloadApiServerOptions): WorkloadApiServer {
  const limits = { ...DEFAULT_WORKLOAD_API_LIMITS, ...options.limits };
  const now = options.now ?? Date.now;
  const { source, attestor, logger } = options;
  const connections = new Map<string, Connection>();
  let nextConnection = 0;
  const cache = createSvidCache(source, () => source.state()?.bundles, { now });
  let netServer: NetServer | undefined;

  const grpcServer = new grpc.Server({
    'grpc.max_receive_message_length': limits.maxMessageBytes,
    'grpc.max_concurrent_streams': limits.maxStreamsPerConnection,
  });
  const injector = grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());

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

  const callerOf = (peer: string): Promise<Caller> => attestCaller(options, connections.get(peer));

  const hub = createStreamHub({ maxStreams: limits.maxStreams, now, callerOf });
  const handlers = workloadApiHandlers({
    cache,
    hub,
    callerOf,
    now,
    maxAudiences: limits.maxAudiences,
    maxAudienceLength: limits.maxAudienceLength,
    ...(logger === undefined ? {} : { logWarn: logger.warn.bind(logger) }),
  });
  grpcServer.addService(workloadServiceDefinition(), handlers);

  const unsubscribe = followAuthorityChanges(source, cache, () => hub.broadcast());

  return {
    get openStreams() {
      return hub.open;
    },
    cache,
    async listen() {
      netServer = await listenUnix(options.socketPath, onConnection, limits.maxConnections);
      logger?.info('serving the SPIFFE Workload API', { socket: options.socketPath });
    },
    async close() {
      unsubscribe();
      hub.clear();
      const server = netServer;
      netServer = undefined;
      injector.drain(1000);
      grpcServer.forceShutdown();
      injector.destroy();
      if (server !== undefined) await closeUnix(server, options.socketPath);
    },
  };
}
