// createWorkloadApiSource: the SDK as a SPIFFE Workload API client (issue 17, item 6). Follows
// FetchX509SVID and FetchJWTBundles streams (complete state per message, WAPI-8), fetches JWT-SVIDs,
// and validates JWT-SVIDs locally, giving the X509Source / bundle set / JWT interface the SDK's
// mTLS helpers take, so an agent on a node uses the socket instead of a join token.
import { BundleSet } from '../bundle/index.js';
import { AgentError, isBrokerError } from '../errors.js';
import { parseSpiffeId, type SpiffeId } from '../spiffeid/index.js';
import { validateJwtSvid as validateLocally, type ValidatedJwtSvid } from '../svid/index.js';
import type { AgentLogger, AgentUpdate, JwtSvid } from './client.js';
import {
  createWorkloadApiGrpcClient,
  grpc,
  securityMetadata,
  type WorkloadApiGrpcClient,
} from './workload-api-client.js';
import {
  mergeBundleSets,
  parseJwtBundlesResponse,
  parseX509SvidResponse,
  type WorkloadX509Svid,
  type X509State,
} from './workload-api-messages.js';
import { runStream, type BackoffOptions, type StreamEnd } from './workload-api-stream.js';
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
  close(): Promise<void>;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
const noLogger: AgentLogger = { info() {}, warn() {} };

function apiError(what: string, end: StreamEnd): AgentError {
  const name = grpc.status[end.code] ?? String(end.code);
  return new AgentError(
    'ERR_AGENT_WORKLOAD_API',
    `workload API ${what}: ${name}${end.details === '' ? '' : `: ${end.details.slice(0, 300)}`}`,
    { context: { grpcCode: name } },
  );
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

function parseJwtSvidResponse(response: unknown, requested: string | undefined): JwtSvid[] {
  const svids = (response as { svids?: unknown } | undefined)?.svids;
  if (!Array.isArray(svids) || svids.length === 0) {
    throw new AgentError(
      'ERR_AGENT_WORKLOAD_API_RESPONSE',
      'FetchJWTSVID returned no svids (WAPI-15)',
    );
  }
  const now = Date.now();
  return svids.map((raw: unknown, index) => {
    const { spiffe_id: id, svid } = (raw ?? {}) as { spiffe_id?: unknown; svid?: unknown };
    if (typeof id !== 'string' || typeof svid !== 'string' || id === '' || svid === '') {
      throw new AgentError(
        'ERR_AGENT_WORKLOAD_API_RESPONSE',
        `FetchJWTSVID svids[${index}] has an empty spiffe_id or svid (WAPI-9)`,
      );
    }
    let spiffeId: SpiffeId;
    try {
      spiffeId = parseSpiffeId(id);
    } catch (cause) {
      throw new AgentError(
        'ERR_AGENT_WORKLOAD_API_RESPONSE',
        'FetchJWTSVID returned a bad spiffe_id',
        { cause },
      );
    }
    if (requested !== undefined && spiffeId.toString() !== requested) {
      throw new AgentError(
        'ERR_AGENT_WORKLOAD_API_RESPONSE',
        'FetchJWTSVID returned another identity than requested',
      );
    }
    return { token: svid, spiffeId, expiresAt: new Date(lifetimeOf(svid, now).expiresAtMs) };
  });
}

/**
 * Connects to the Workload API and resolves once the first valid X509-SVID arrived (as go-spiffe's
 * NewX509Source). Rejects with ERR_AGENT_WORKLOAD_ENDPOINT for a bad address, ERR_AGENT_WORKLOAD_API
 * when the server answers InvalidArgument or Unimplemented (never retried, WAPI-6), or when the
 * signal aborts. Unavailable and PermissionDenied are retried with backoff meanwhile.
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
  const client: WorkloadApiGrpcClient = createWorkloadApiGrpcClient(endpoint.target);

  let x509: X509State = { svids: [], bundles: new BundleSet() };
  let jwt: { bundles: BundleSet } | undefined;
  let merged: BundleSet | undefined;
  let closed = false;
  const listeners = new Set<(what: AgentUpdate) => void>();
  const jwtWaiters = new Set<() => void>();
  const jwtCache = new Map<string, { svids: JwtSvid[]; refreshAtMs: number }>();
  let jwtFatal: AgentError | undefined;

  const emit = (what: AgentUpdate): void => {
    for (const listener of listeners) {
      try {
        listener(what);
      } catch (error) {
        logger.warn('workload API source update listener failed', {
          error: (error as Error).message,
        });
      }
    }
  };

  let settle: { resolve: () => void; reject: (error: Error) => void } | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject };
  });

  const x509Stream = runStream(
    {
      open: () => client.FetchX509SVID({}, securityMetadata()),
      onMessage(message) {
        let state: X509State;
        try {
          state = parseX509SvidResponse(message, new Date(now()));
        } catch (error) {
          // WAPI-9 / CTS WA-2: a bad message is dropped; the previous state keeps being served.
          logger.warn('discarded a FetchX509SVID message', {
            code: isBrokerError(error) ? error.code : undefined,
            error: (error as Error).message,
          });
          return;
        }
        x509 = state;
        merged = undefined;
        settle?.resolve();
        emit('svid');
        emit('bundles');
      },
      onDenied(end) {
        // No identity for this caller (any more): stop presenting the old one (CTS WA-4).
        if (x509.svids.length > 0) {
          x509 = { svids: [], bundles: x509.bundles };
          emit('svid');
        }
        logger.warn('workload API denied FetchX509SVID; retrying', { details: end.details });
      },
      onFatal(end) {
        const error = apiError('refused FetchX509SVID', end);
        logger.warn('workload API stream stopped (not retried, WAPI-6)', { error: error.message });
        settle?.reject(error);
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

  const wakeJwt = (): void => {
    for (const waiter of jwtWaiters) waiter();
    jwtWaiters.clear();
  };
  const jwtStream =
    options.jwtBundles === false
      ? undefined
      : runStream(
          {
            open: () => client.FetchJWTBundles({}, securityMetadata()),
            onMessage(message) {
              try {
                jwt = { bundles: parseJwtBundlesResponse(message) };
              } catch (error) {
                logger.warn('discarded a FetchJWTBundles message', {
                  error: (error as Error).message,
                });
                return;
              }
              merged = undefined;
              wakeJwt();
              emit('bundles');
            },
            onDenied: () => undefined,
            onFatal(end) {
              jwtFatal = apiError('refused FetchJWTBundles', end);
              wakeJwt();
            },
            onRetry: () => undefined,
          },
          options.backoff,
        );

  const stopAll = (): void => {
    if (closed) return;
    closed = true;
    x509Stream.stop();
    jwtStream?.stop();
    jwtCache.clear();
    wakeJwt();
    client.close();
    settle?.reject(new AgentError('ERR_AGENT_CLOSED', 'the workload API source was closed'));
  };
  const onAbort = (): void => stopAll();
  if (options.signal?.aborted === true) stopAll();
  options.signal?.addEventListener('abort', onAbort, { once: true });

  try {
    await ready;
  } catch (error) {
    stopAll();
    options.signal?.removeEventListener('abort', onAbort);
    throw error;
  }
  settle = undefined;

  const jwtBundlesNow = async (): Promise<BundleSet> => {
    const deadline = now() + (options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
    while (jwt === undefined) {
      if (closed) throw new AgentError('ERR_AGENT_CLOSED', 'the workload API source was closed');
      if (jwtFatal !== undefined) throw jwtFatal;
      if (jwtStream === undefined) {
        throw new AgentError(
          'ERR_AGENT_WORKLOAD_API',
          'JWT bundles are not followed (jwtBundles: false)',
        );
      }
      const left = deadline - now();
      if (left <= 0) {
        throw new AgentError(
          'ERR_AGENT_WORKLOAD_API',
          'no JWT bundles from the workload API in time',
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        jwtWaiters.add(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return jwt.bundles;
  };

  const fetchJwt = (audience: string[], spiffeId: string | undefined): Promise<JwtSvid[]> =>
    new Promise((resolve, reject) => {
      const timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
      client.FetchJWTSVID(
        { audience, spiffe_id: spiffeId ?? '' },
        securityMetadata(),
        { deadline: Date.now() + timeoutMs },
        (error, response) => {
          if (error !== null) {
            reject(apiError('refused FetchJWTSVID', { code: error.code, details: error.details }));
            return;
          }
          try {
            resolve(parseJwtSvidResponse(response, spiffeId));
          } catch (failure) {
            reject(failure as Error);
          }
        },
      );
    });

  const jwtSvids = async (
    audience: string | readonly string[],
    request: { spiffeId?: string } = {},
  ): Promise<JwtSvid[]> => {
    if (closed) throw new AgentError('ERR_AGENT_CLOSED', 'the workload API source was closed');
    const list = audienceList(audience);
    const wanted =
      request.spiffeId === undefined || request.spiffeId === ''
        ? undefined
        : parseSpiffeId(request.spiffeId).toString();
    const key = `${wanted ?? ''}\n${[...list].sort().join('\n')}`;
    const cached = jwtCache.get(key);
    if (cached !== undefined && now() < cached.refreshAtMs) return cached.svids;
    const fetchedAtMs = now();
    const svids = await fetchJwt(list, wanted);
    // Reused until half the shortest lifetime has passed (as the Agent does).
    const refreshAtMs = Math.min(
      ...svids.map((svid) => {
        const { expiresAtMs, issuedAtMs } = lifetimeOf(svid.token, fetchedAtMs);
        return issuedAtMs + (expiresAtMs - issuedAtMs) / 2;
      }),
    );
    if (!closed) jwtCache.set(key, { svids, refreshAtMs });
    return svids;
  };

  const source: WorkloadApiSource = {
    endpoint,
    x509Svid() {
      const svid = x509.svids[0];
      if (closed || svid === undefined || now() >= svid.expiresAt.getTime()) {
        throw new AgentError(
          'ERR_AGENT_SVID_UNAVAILABLE',
          closed
            ? 'the workload API source was closed'
            : 'the workload API gives no valid X509-SVID now',
        );
      }
      return svid;
    },
    x509Svids: () => x509.svids.filter((svid) => now() < svid.expiresAt.getTime()),
    bundles() {
      merged ??= mergeBundleSets(x509.bundles, jwt?.bundles ?? new BundleSet());
      return merged;
    },
    x509Bundles: () => x509.bundles,
    jwtBundles: () => jwt?.bundles ?? new BundleSet(),
    jwtSvids,
    async jwtSvid(audience, request) {
      const svids = await jwtSvids(audience, request);
      const first = svids[0];
      if (first === undefined)
        throw new AgentError('ERR_AGENT_WORKLOAD_API_RESPONSE', 'no JWT-SVID');
      return first;
    },
    async validateJwtSvid(token, audience) {
      const bundles = await jwtBundlesNow();
      return validateLocally(token, bundles, { audience, now: new Date(now()) });
    },
    onUpdate(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      if (closed) return;
      options.signal?.removeEventListener('abort', onAbort);
      stopAll();
    },
  };
  return source;
}
