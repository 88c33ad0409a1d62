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
import type { PeerCredReader } from './peercred.js';
import { withBoundedAudiences, workloadServiceDefinition } from './proto.js';
import { workloadApiHandlers } from './rpcs.js';
import { closeUnix, listenUnix } from './socket.js';
import { createAdmission } from './admission.js';
import { callGate } from './call-gate.js';
import { createConnectionTable, type Connection } from './connections.js';
import type { NodeSource, WorkloadInfo } from './source.js';
import { createStreamHub } from './streams.js';
import { createSvidCache, type SvidCache } from './svid-cache.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';

export interface WorkloadApiLimits {
  /** Largest request message (gRPC max_receive_message_length): the largest valid request. */
  readonly maxMessageBytes: number;
  /** Most audience values in one FetchJWTSVID. */
  readonly maxAudiences: number;
  /** Longest ValidateJWTSVID audience value, in UTF-8 bytes (as maxMessageBytes counts). */
  readonly maxAudienceLength: number;
  /**
   * Longest FetchJWTSVID audience value, in UTF-8 bytes: what the broker signs (its node API takes
   * values of at most 256 characters, src/api/node-app.ts), so a longer one is InvalidArgument
   * here instead of a broker refusal that would reach the caller as Unavailable and be retried.
   */
  readonly maxFetchAudienceLength: number;
  /** Open streams across all connections; more get RESOURCE_EXHAUSTED. */
  readonly maxStreams: number;
  /** HTTP/2 concurrent streams of one connection (a client queues the rest). */
  readonly maxStreamsPerConnection: number;
  /** Connections of all uids; shared fairly (a full pool closes a connection of the heaviest uid). */
  readonly maxConnections: number;
  /** Connections of one uid, counted at accept; more are closed at once. */
  readonly maxConnectionsPerUid: number;
  /** Calls (streams and unary) in flight from one uid; more get RESOURCE_EXHAUSTED. */
  readonly maxCallsPerUid: number;
  /** Calls of one uid whose request (message and half-close) has not fully arrived. */
  readonly maxReceivingPerUid: number;
  /** The same across all uids; shared fairly (a full pool refuses the heaviest uid's oldest). */
  readonly maxReceiving: number;
  /**
   * A request (message and half-close) not complete this long after its headers is
   * DEADLINE_EXCEEDED.
   */
  readonly receiveMs: number;
  /** A connection whose first call has not arrived this long after accept is closed. */
  readonly firstCallMs: number;
  /** A connection without calls this long is closed (grpc.max_connection_idle_ms). */
  readonly idleMs: number;
}

/**
 * The largest valid request is a ValidateJWTSVID: a token of up to MAX_JWT_SVID_LENGTH (65,536)
 * characters (a JWS is ASCII: as many bytes) and an audience of up to maxAudienceLength (1,024
 * UTF-8 bytes), with protobuf tags and lengths 66,567 bytes; a FetchJWTSVID (32 audiences of
 * 256 bytes and a SPIFFE ID of up to 2,048) is about 10 KiB.
 *
 * Memory a local user can make the agent hold for requests that never complete (grpc-js buffers
 * each message in full, and holds it until the half-close, before any handler runs; a stream
 * refused at its headers holds nothing):
 * maxReceivingPerUid x maxMessageBytes = 128 x 66 KiB = 8.3 MiB of messages per uid, and
 * maxReceiving x maxMessageBytes = 512 x 66 KiB = 33 MiB for all uids together, each for at most
 * receiveMs (then the call is refused and its buffer released). node:http2 and grpc-js hold about
 * twice that: review 10's attacker (4,000 streams of one uid, test/workload/
 * workload-api-limits.test.ts) leaves 17-18 MiB of buffers after collection, so about 70 MiB for
 * all uids. maxReceivingPerUid equals one connection's streams: a client that opens them all at
 * once sends every request's headers before the first message, and is not refused for it.
 * The pools (maxReceiving, maxConnections) are shared fairly (fair-pool.ts): when one is full, a
 * uid holding nothing, or two fewer than the uid holding the most, takes a slot back from that
 * uid, so no set of uids can hold a pool against another uid (review 14 F2). The bounds above
 * hold as they did: a slot is taken back before another is given.
 */
export const DEFAULT_WORKLOAD_API_LIMITS: WorkloadApiLimits = {
  maxMessageBytes: 66 * 1024,
  maxAudiences: 32,
  maxAudienceLength: 1024,
  maxFetchAudienceLength: 256,
  maxStreams: 4096,
  maxStreamsPerConnection: 128,
  maxConnections: 4096,
  maxConnectionsPerUid: 128,
  maxCallsPerUid: 1024,
  maxReceivingPerUid: 128,
  maxReceiving: 512,
  receiveMs: 10_000,
  firstCallMs: 10_000,
  idleMs: 120_000,
};

/**
 * Sockets the listener accepts beyond maxConnections: a socket is accepted before its uid is
 * known, and refused or evicted ones take a turn of the event loop to close. Without this margin
 * net.Server.maxConnections would drop a newcomer before the fair pool could make room for it.
 */
const ACCEPT_MARGIN = 64;

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

/** Attests the call's process and finds its entries (WAPI-7); never from request content. */
async function attestCaller(
  options: Pick<WorkloadApiServerOptions, 'attestor' | 'source' | 'bootId'>,
  connection: Connection | undefined,
  onHashRefused: (uid: number) => void,
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
  if (entries.length === 0 && facts.hashRefused === true) {
    // An entry could match on the binary's sha256, but this uid started too many hashes lately.
    onHashRefused(facts.uid);
    throw new Refusal(grpc.status.RESOURCE_EXHAUSTED, 'too many binaries hashed; retry later');
  }
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
  const cache = createSvidCache(source, () => source.state()?.bundles, { now });
  let netServer: NetServer | undefined;
  const warn = logger?.warn.bind(logger);
  const admission = createAdmission(limits, { now, ...(warn === undefined ? {} : { warn }) });
  const connections = createConnectionTable({
    peerCred: options.peerCred,
    attestor,
    admission,
    firstCallMs: limits.firstCallMs,
    ...(warn === undefined ? {} : { warn }),
  });

  const grpcServer = new grpc.Server({
    'grpc.max_receive_message_length': limits.maxMessageBytes,
    'grpc.max_concurrent_streams': limits.maxStreamsPerConnection,
    'grpc.max_connection_idle_ms': limits.idleMs,
    interceptors: [
      callGate({ admission, connectionOf: connections.get, receiveMs: limits.receiveMs }),
    ],
  });
  const injector = grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());

  function onConnection(socket: Socket): void {
    if (connections.accept(socket)) injector.injectConnection(socket);
  }

  const onHashRefused = (uid: number): void =>
    admission.note('call refused (binary hashes per uid)', uid);
  const callerOf = (peer: string): Promise<Caller> =>
    attestCaller(options, connections.get(peer), onHashRefused);

  const hub = createStreamHub({
    maxStreams: limits.maxStreams,
    maxStreamsPerUid: limits.maxCallsPerUid,
    now,
    callerOf,
    uidOf: (peer) => connections.get(peer)?.uid,
  });
  const handlers = workloadApiHandlers({
    cache,
    hub,
    callerOf,
    now,
    maxAudiences: limits.maxAudiences,
    maxAudienceLength: limits.maxAudienceLength,
    maxFetchAudienceLength: limits.maxFetchAudienceLength,
    ...(logger === undefined ? {} : { logWarn: logger.warn.bind(logger) }),
  });
  grpcServer.addService(
    withBoundedAudiences(workloadServiceDefinition(), limits.maxAudiences),
    handlers,
  );

  const unsubscribe = followAuthorityChanges(source, cache, () => hub.broadcast());

  return {
    get openStreams() {
      return hub.open;
    },
    cache,
    async listen() {
      netServer = await listenUnix(
        options.socketPath,
        onConnection,
        limits.maxConnections + ACCEPT_MARGIN,
      );
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
