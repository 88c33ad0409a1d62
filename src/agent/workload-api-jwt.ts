// JWT pieces of the Workload API source: FetchJWTSVID with a cache per identity and audience set
// (until half the token's lifetime, WAPI-15), and the FetchJWTBundles follower validation waits on.
import type { BundleSet } from '../bundle/index.js';
import { AgentError } from '../errors.js';
import { parseSpiffeId, type SpiffeId } from '../spiffeid/index.js';
import type { AgentLogger, AgentUpdate, JwtSvid } from './client.js';
import { grpc, securityMetadata, type WorkloadApiGrpcClient } from './workload-api-client.js';
import { createAuthorityCache } from './workload-api-bounds.js';
import { parseJwtBundlesResponse } from './workload-api-messages.js';
import { runStream, type BackoffOptions, type StreamEnd } from './workload-api-stream.js';

/** An AgentError for a refused call, naming the gRPC status. */
export function workloadApiError(what: string, end: StreamEnd): AgentError {
  const name = grpc.status[end.code] ?? String(end.code);
  return new AgentError(
    'ERR_AGENT_WORKLOAD_API',
    `workload API ${what}: ${name}${end.details === '' ? '' : `: ${end.details.slice(0, 300)}`}`,
    { context: { grpcCode: name } },
  );
}

export function closedError(): AgentError {
  return new AgentError('ERR_AGENT_CLOSED', 'the workload API source was closed');
}

function audienceList(audience: string | readonly string[]): string[] {
  const list = typeof audience === 'string' ? [audience] : [...audience];
  if (list.length === 0 || !list.every((item) => typeof item === 'string' && item !== '')) {
    throw new TypeError('audience must be one or more non-empty strings (WAPI-15)');
  }
  return list;
}

/** exp and iat of a JWT-SVID the Workload API handed us (trusted source; read, not verified). */
function lifetimeOf(
  token: string,
  fetchedAtMs: number,
): { expiresAtMs: number; issuedAtMs: number } {
  try {
    const payload = JSON.parse(
      Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'),
    ) as { exp?: unknown; iat?: unknown };
    const exp = typeof payload.exp === 'number' ? payload.exp * 1000 : fetchedAtMs;
    const iat = typeof payload.iat === 'number' ? payload.iat * 1000 : fetchedAtMs;
    return { expiresAtMs: exp, issuedAtMs: Math.min(iat, fetchedAtMs) };
  } catch {
    return { expiresAtMs: fetchedAtMs, issuedAtMs: fetchedAtMs };
  }
}

/** JWT-SVIDs in one FetchJWTSVID answer (as many as X509-SVIDs in one FetchX509SVID message). */
const MAX_JWT_SVIDS = 256;

function badResponse(message: string, cause?: unknown): AgentError {
  return new AgentError(
    'ERR_AGENT_WORKLOAD_API_RESPONSE',
    message,
    cause === undefined ? {} : { cause },
  );
}

function parseJwtSvidResponse(
  response: unknown,
  requested: string | undefined,
  nowMs: number,
): JwtSvid[] {
  const svids = (response as { svids?: unknown } | undefined)?.svids;
  if (!Array.isArray(svids) || svids.length === 0) {
    throw badResponse('FetchJWTSVID returned no svids (WAPI-15)');
  }
  if (svids.length > MAX_JWT_SVIDS) {
    throw badResponse(`FetchJWTSVID returned more than ${MAX_JWT_SVIDS} svids`);
  }
  return svids.map((raw: unknown, index) => {
    const { spiffe_id: id, svid } = (raw ?? {}) as { spiffe_id?: unknown; svid?: unknown };
    if (typeof id !== 'string' || typeof svid !== 'string' || id === '' || svid === '') {
      throw badResponse(`FetchJWTSVID svids[${index}] has an empty spiffe_id or svid (WAPI-9)`);
    }
    let spiffeId: SpiffeId;
    try {
      spiffeId = parseSpiffeId(id);
    } catch (cause) {
      throw badResponse('FetchJWTSVID returned a bad spiffe_id', cause);
    }
    if (requested !== undefined && spiffeId.toString() !== requested) {
      throw badResponse('FetchJWTSVID returned another identity than requested');
    }
    return { token: svid, spiffeId, expiresAt: new Date(lifetimeOf(svid, nowMs).expiresAtMs) };
  });
}

export interface JwtSvidFetcher {
  /** `fresh`: call the server even when a cached answer is still good (go-spiffe never caches). */
  fetch(
    audience: string | readonly string[],
    request?: { spiffeId?: string },
    fresh?: boolean,
  ): Promise<JwtSvid[]>;
  /** Forgets every cached answer (the caller's identity was withdrawn, or the source closed). */
  clear(): void;
}

/** When an answer is refetched: at half the shortest lifetime among its tokens. */
function refreshAtOf(svids: readonly JwtSvid[], fetchedAtMs: number): number {
  let refreshAtMs = Infinity;
  for (const svid of svids) {
    const { expiresAtMs, issuedAtMs } = lifetimeOf(svid.token, fetchedAtMs);
    refreshAtMs = Math.min(refreshAtMs, issuedAtMs + (expiresAtMs - issuedAtMs) / 2);
  }
  return refreshAtMs;
}

/**
 * FetchJWTSVID, reusing an answer until half the shortest lifetime in it has passed unless `fresh`.
 * A PermissionDenied answer drops every cached answer: no token of a withdrawn identity is handed
 * out from the cache afterwards (CTS JF-4).
 */
export function createJwtSvidFetcher(
  client: WorkloadApiGrpcClient,
  options: { now: () => number; requestTimeoutMs: number; isClosed: () => boolean },
): JwtSvidFetcher {
  const cache = new Map<string, { svids: JwtSvid[]; refreshAtMs: number }>();
  // Bumped by every clear, so an answer that was in flight then is not cached afterwards.
  let generation = 0;
  const clear = (): void => {
    generation += 1;
    cache.clear();
  };
  const call = (audience: string[], spiffeId: string | undefined): Promise<JwtSvid[]> =>
    new Promise((resolve, reject) => {
      client.FetchJWTSVID(
        { audience, spiffe_id: spiffeId ?? '' },
        securityMetadata(),
        { deadline: Date.now() + options.requestTimeoutMs },
        (error, response) => {
          if (error !== null) {
            if (error.code === grpc.status.PERMISSION_DENIED) clear();
            reject(workloadApiError('refused FetchJWTSVID', error));
            return;
          }
          try {
            resolve(parseJwtSvidResponse(response, spiffeId, options.now()));
          } catch (failure) {
            reject(failure as Error);
          }
        },
      );
    });
  return {
    async fetch(audience, request = {}, fresh = false) {
      if (options.isClosed()) throw closedError();
      const list = audienceList(audience);
      const wanted =
        request.spiffeId === undefined || request.spiffeId === ''
          ? undefined
          : parseSpiffeId(request.spiffeId).toString();
      const key = `${wanted ?? ''}\n${[...list].sort().join('\n')}`;
      const cached = cache.get(key);
      if (!fresh && cached !== undefined && options.now() < cached.refreshAtMs) {
        return cached.svids;
      }
      const fetchedAtMs = options.now();
      const startedIn = generation;
      const svids = await call(list, wanted);
      if (!options.isClosed() && startedIn === generation) {
        cache.set(key, { svids, refreshAtMs: refreshAtOf(svids, fetchedAtMs) });
      }
      return svids;
    },
    clear,
  };
}

export interface JwtBundleFollower {
  current(): BundleSet | undefined;
  /** The JWT bundles, waiting for the first message up to `timeoutMs`. */
  wait(timeoutMs: number): Promise<BundleSet>;
  stop(): void;
}

/**
 * Follows FetchJWTBundles (complete state per message, WAPI-8); bad messages are discarded. A stop
 * for good (InvalidArgument, Unimplemented: WAPI-6) is logged and reported through `onStopped`; the
 * last bundles stay current.
 */
export function followJwtBundles(
  client: WorkloadApiGrpcClient,
  options: {
    logger: AgentLogger;
    backoff: BackoffOptions | undefined;
    emit: (what: AgentUpdate) => void;
    onStopped: (error: AgentError) => void;
  },
): JwtBundleFollower {
  const cache = createAuthorityCache();
  let bundles: BundleSet | undefined;
  let fatal: AgentError | undefined;
  let stopped = false;
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const waiter of waiters) waiter();
    waiters.clear();
  };
  const stream = runStream(
    {
      open: () => client.FetchJWTBundles({}, securityMetadata()),
      onMessage(message) {
        try {
          bundles = parseJwtBundlesResponse(message, cache);
        } catch (error) {
          cache.rollback();
          options.logger.warn('discarded a FetchJWTBundles message', {
            error: (error as Error).message,
          });
          return false;
        }
        cache.commit();
        wake();
        options.emit('bundles');
        return true;
      },
      onDenied: () => undefined,
      onFatal(end) {
        fatal = workloadApiError('refused FetchJWTBundles', end);
        options.logger.warn('workload API stream stopped (not retried, WAPI-6)', {
          error: fatal.message,
        });
        wake();
        options.onStopped(fatal);
      },
      onRetry: () => undefined,
    },
    options.backoff,
  );
  return {
    current: () => bundles,
    async wait(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (bundles === undefined) {
        if (stopped) throw closedError();
        if (fatal !== undefined) throw fatal;
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new AgentError(
            'ERR_AGENT_WORKLOAD_API',
            'no JWT bundles from the workload API in time',
          );
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.add(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      return bundles;
    },
    stop() {
      stopped = true;
      stream.stop();
      wake();
    },
  };
}
