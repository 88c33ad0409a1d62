// createWorkloadApiSource: the SDK as a SPIFFE Workload API client (issue 17, item 6). Follows
// FetchX509SVID and FetchJWTBundles streams (complete state per message, WAPI-8), fetches JWT-SVIDs,
// and validates JWT-SVIDs locally, giving the X509Source / bundle set / JWT interface the SDK's
// mTLS helpers take, so an agent on a node uses the socket instead of a join token.
import { BundleSet } from '../bundle/index.js';
import { AgentError, isBrokerError } from '../errors.js';
import { validateJwtSvid as validateLocally, type ValidatedJwtSvid } from '../svid/index.js';
import type { AgentLogger, AgentUpdate, JwtSvid } from './client.js';
import {
  createWorkloadApiGrpcClient,
  grpc,
  securityMetadata,
  type WorkloadApiGrpcClient,
} from './workload-api-client.js';
import {
  closedError,
  createJwtSvidFetcher,
  followJwtBundles,
  workloadApiError,
} from './workload-api-jwt.js';
import { createAuthorityCache } from './workload-api-bounds.js';
import {
  mergeBundleSets,
  parseX509SvidResponse,
  type WorkloadX509Svid,
  type X509State,
} from './workload-api-messages.js';
import { runStream, type BackoffOptions } from './workload-api-stream.js';
import { resolveWorkloadEndpoint, type WorkloadEndpoint } from './workload-endpoint.js';
import type { X509Source } from './x509-source.js';

export interface WorkloadApiSourceOptions {
  /**
   * The Workload API address: `unix:///path`, `unix:/path`, `tcp://IP:PORT`, or an absolute socket
   * path. Default: the SPIFFE_ENDPOINT_SOCKET environment variable (WAPI-17).
   */
  readonly socket?: string;
  /** Where SPIFFE_ENDPOINT_SOCKET is read; default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Follow FetchJWTBundles too (for validateJwtSvid and bundles()); default true. */
  readonly jwtBundles?: boolean;
  /** Retry delays while the Workload API is down or denies us (WAPI-6, WAPI-19). */
  readonly backoff?: BackoffOptions;
  /** Bound on each FetchJWTSVID call; default 10 s. */
  readonly requestTimeoutMs?: number;
  readonly logger?: AgentLogger;
  /** Clock for expiry checks (tests); default Date.now. */
  readonly now?: () => number;
  /** Aborting it before the first SVID rejects createWorkloadApiSource; later, it closes the source. */
  readonly signal?: AbortSignal;
}

export interface WorkloadApiSource extends X509Source {
  readonly endpoint: WorkloadEndpoint;
  /** The default X509-SVID: the first of the latest response (WAPI-10); never an expired one. */
  x509Svid(): WorkloadX509Svid;
  /** Every X509-SVID of the latest response, in order. */
  x509Svids(): readonly WorkloadX509Svid[];
  /** One bundle per trust domain, own and federated, X.509 and JWT keys, never pooled (WAPI-14). */
  bundles(): BundleSet;
  /** The X.509 bundles of the latest FetchX509SVID message. */
  x509Bundles(): BundleSet;
  /** The JWT bundles of the latest FetchJWTBundles message. */
  jwtBundles(): BundleSet;
  /** A JWT-SVID for `audience` (reused until half its lifetime); `spiffeId` picks one identity. */
  jwtSvid(audience: string | readonly string[], options?: { spiffeId?: string }): Promise<JwtSvid>;
  /** Every JWT-SVID the Workload API returns for `audience` (WAPI-15). */
  jwtSvids(
    audience: string | readonly string[],
    options?: { spiffeId?: string },
  ): Promise<JwtSvid[]>;
  /** Validates a JWT-SVID here (not by ValidateJWTSVID) against the bundle of its own trust domain. */
  validateJwtSvid(token: string, audience: string): Promise<ValidatedJwtSvid>;
  /** Called after the SVIDs or bundles changed; returns the unsubscribe. */
  onUpdate(listener: (what: AgentUpdate) => void): () => void;
  /**
   * Why the source no longer follows the Workload API: the first stream the server ended with
   * InvalidArgument or Unimplemented (never retried, WAPI-6), as ERR_AGENT_WORKLOAD_API; undefined
   * while every stream is followed. The last SVIDs and bundles are still served (as go-spiffe).
   */
  stopped(): AgentError | undefined;
  /** Called with the error each time a stream stops for good; returns the unsubscribe. */
  onStopped(listener: (error: AgentError) => void): () => void;
  close(): Promise<void>;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
const noLogger: AgentLogger = { info() {}, warn() {} };

/** Calls every listener; one that throws is logged and the others still run. */
function notifyAll<T>(
  listeners: ReadonlySet<(value: T) => void>,
  value: T,
  logger: AgentLogger,
): void {
  for (const listener of listeners) {
    try {
      listener(value);
    } catch (error) {
      logger.warn('workload API source listener failed', { error: (error as Error).message });
    }
  }
}

interface X509Follower {
  state(): X509State;
  /** Resolves at the first valid message; rejects on a fatal status (never retried, WAPI-6). */
  readonly ready: Promise<void>;
  stop(): void;
}

/** Follows FetchX509SVID: each valid message replaces the whole state (WAPI-8). */
function followX509(
  client: WorkloadApiGrpcClient,
  options: {
    logger: AgentLogger;
    now: () => number;
    backoff: BackoffOptions | undefined;
    emit: (what: AgentUpdate) => void;
    onDenied: () => void;
    onStopped: (error: AgentError) => void;
  },
): X509Follower {
  const { logger, emit } = options;
  const cache = createAuthorityCache();
  let state: X509State = { svids: [], bundles: new BundleSet() };
  let settle: { resolve: () => void; reject: (error: Error) => void } | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject };
  });
  const stream = runStream(
    {
      open: () => client.FetchX509SVID({}, securityMetadata()),
      onMessage(message) {
        try {
          state = parseX509SvidResponse(message, new Date(options.now()), cache);
        } catch (error) {
          // WAPI-9 / CTS WA-2: a bad message is dropped; the previous state keeps being served.
          cache.rollback();
          logger.warn('discarded a FetchX509SVID message', {
            code: isBrokerError(error) ? error.code : undefined,
            error: (error as Error).message,
          });
          return false;
        }
        cache.commit();
        settle?.resolve();
        emit('svid');
        emit('bundles');
        return true;
      },
      onDenied(end) {
        // No identity for this caller (any more): stop presenting the old one (CTS WA-4).
        if (state.svids.length > 0) {
          state = { svids: [], bundles: state.bundles };
          emit('svid');
        }
        options.onDenied();
        logger.warn('workload API denied FetchX509SVID; retrying', { details: end.details });
      },
      onFatal(end) {
        const error = workloadApiError('refused FetchX509SVID', end);
        logger.warn('workload API stream stopped (not retried, WAPI-6)', { error: error.message });
        settle?.reject(error);
        options.onStopped(error);
      },
      onRetry(end, delayMs) {
        logger.info('workload API FetchX509SVID stream ended; reconnecting', {
          code: grpc.status[end.code],
          delayMs,
        });
      },
    },
    options.backoff,
  );
  return {
    state: () => state,
    ready,
    stop() {
      stream.stop();
      settle?.reject(closedError());
    },
  };
}

/**
 * Connects to the Workload API and resolves once the first valid X509-SVID arrived (as go-spiffe's
 * NewX509Source). Rejects with ERR_AGENT_WORKLOAD_ENDPOINT for a bad address, ERR_AGENT_WORKLOAD_API
 * when the server answers InvalidArgument or Unimplemented (never retried, WAPI-6), or
 * ERR_AGENT_CLOSED when the signal aborts first. Unavailable and PermissionDenied are retried with
 * backoff meanwhile.
 */
export async function createWorkloadApiSource(
  options: WorkloadApiSourceOptions = {},
): Promise<WorkloadApiSource> {
  const env =
    options.env ??
    // eslint-disable-next-line no-restricted-properties -- WAPI-17: an SDK MUST fall back to SPIFFE_ENDPOINT_SOCKET, and the SDK has no config room
    process.env;
  const endpoint = resolveWorkloadEndpoint(options.socket, env);
  const logger = options.logger ?? noLogger;
  const now = options.now ?? Date.now;
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const client = createWorkloadApiGrpcClient(endpoint.target);
  const listeners = new Set<(what: AgentUpdate) => void>();
  const stopListeners = new Set<(error: AgentError) => void>();
  let merged: BundleSet | undefined;
  let stoppedBy: AgentError | undefined;
  let closed = false;

  const emit = (what: AgentUpdate): void => {
    merged = undefined;
    notifyAll(listeners, what, logger);
  };
  const onStopped = (error: AgentError): void => {
    if (closed) return;
    stoppedBy ??= error;
    notifyAll(stopListeners, error, logger);
  };
  const jwt = createJwtSvidFetcher(client, { now, requestTimeoutMs, isClosed: () => closed });
  const backoff = options.backoff;
  // A caller denied its X509-SVIDs (CTS WA-4) gets no cached JWT-SVID either.
  const onDenied = (): void => jwt.clear();
  const x509 = followX509(client, { logger, now, backoff, emit, onDenied, onStopped });
  const jwtBundles =
    options.jwtBundles === false
      ? undefined
      : followJwtBundles(client, { logger, backoff, emit, onStopped });

  const stopAll = (): void => {
    if (closed) return;
    closed = true;
    x509.stop();
    jwtBundles?.stop();
    jwt.clear();
    client.close();
  };
  const onAbort = (): void => stopAll();
  if (options.signal?.aborted === true) stopAll();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await x509.ready;
  } catch (error) {
    stopAll();
    options.signal?.removeEventListener('abort', onAbort);
    throw error;
  }
  return sourceOver(
    { endpoint, x509, jwtBundles, jwt, listeners, stopListeners, now, requestTimeoutMs },
    {
      isClosed: () => closed,
      stopped: () => stoppedBy,
      merged: () =>
        (merged ??= mergeBundleSets(
          x509.state().bundles,
          jwtBundles?.current() ?? new BundleSet(),
        )),
      close: () => {
        options.signal?.removeEventListener('abort', onAbort);
        stopAll();
      },
    },
  );
}

/** The public face over the followers (kept apart so each piece stays small). */
function sourceOver(
  parts: {
    endpoint: WorkloadEndpoint;
    x509: X509Follower;
    jwtBundles: ReturnType<typeof followJwtBundles> | undefined;
    jwt: ReturnType<typeof createJwtSvidFetcher>;
    listeners: Set<(what: AgentUpdate) => void>;
    stopListeners: Set<(error: AgentError) => void>;
    now: () => number;
    requestTimeoutMs: number;
  },
  control: {
    isClosed: () => boolean;
    stopped: () => AgentError | undefined;
    merged: () => BundleSet;
    close: () => void;
  },
): WorkloadApiSource {
  const { x509, jwtBundles, jwt, now } = parts;
  const valid = (svid: WorkloadX509Svid): boolean => now() < svid.expiresAt.getTime();
  return {
    endpoint: parts.endpoint,
    x509Svid() {
      const svid = x509.state().svids[0];
      if (control.isClosed() || svid === undefined || !valid(svid)) {
        throw new AgentError(
          'ERR_AGENT_SVID_UNAVAILABLE',
          control.isClosed()
            ? 'the workload API source was closed'
            : 'the workload API gives no valid X509-SVID now',
        );
      }
      return svid;
    },
    x509Svids: () => (control.isClosed() ? [] : x509.state().svids.filter(valid)),
    bundles: () => control.merged(),
    x509Bundles: () => x509.state().bundles,
    jwtBundles: () => jwtBundles?.current() ?? new BundleSet(),
    // Always asks the server, as go-spiffe does: a denial is never hidden by a cached answer (JF-4).
    jwtSvids: (audience, request) => jwt.fetch(audience, request, true),
    async jwtSvid(audience, request) {
      const first = (await jwt.fetch(audience, request))[0];
      if (first === undefined) {
        throw new AgentError('ERR_AGENT_WORKLOAD_API_RESPONSE', 'no JWT-SVID');
      }
      return first;
    },
    async validateJwtSvid(token, audience) {
      if (control.isClosed()) throw closedError();
      if (jwtBundles === undefined) {
        throw new AgentError(
          'ERR_AGENT_WORKLOAD_API',
          'JWT bundles are not followed (jwtBundles: false)',
        );
      }
      const bundles = await jwtBundles.wait(parts.requestTimeoutMs);
      return validateLocally(token, bundles, { audience, now: new Date(now()) });
    },
    onUpdate(listener) {
      parts.listeners.add(listener);
      return () => parts.listeners.delete(listener);
    },
    stopped: () => control.stopped(),
    onStopped(listener) {
      parts.stopListeners.add(listener);
      return () => parts.stopListeners.delete(listener);
    },
    async close() {
      control.close();
    },
  };
}
