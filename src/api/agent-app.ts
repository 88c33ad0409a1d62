// The agent API (Hono, served over TLS): enrolment with a join token, then mTLS with the agent's
// own X509-SVID for renewal, JWT-SVIDs, the bundles its entry allows (SPIFFE JSON, keyed by trust
// domain, never pooled: FED-30) and JWT-SVID validation. An agent never gets an ID its entry does
// not grant, nor a bundle its entry does not list.
import { Hono, type MiddlewareHandler } from 'hono';
import { z } from 'zod';
import { marshalBundle } from '../bundle/index.js';
import type { Ca, CheckedCsr } from '../ca/index.js';
import { ApiError, isBrokerError } from '../errors.js';
import type { Federation } from '../federation/index.js';
import {
  idPatternText,
  type Enrolment,
  type Entry,
  type Registration,
} from '../registration/index.js';
import { parseSpiffeId, type SpiffeId } from '../spiffeid/index.js';
import { validateJwtSvid } from '../svid/index.js';
import { createFailedAuthLimiter, type FailedAuthLimiter } from './auth-limit.js';
import { rateLimited } from './auth.js';
import { bodyLimit, type BodyLimits } from './body-limit.js';
import { connectionTurns } from './connection-turns.js';
import { checkCsrCounted, enrolCounted } from './enrolment-limits.js';
import { createNodeApp } from './node-app.js';
import {
  allowedBundles,
  bundleJson,
  bundlesBody,
  createWatchHub,
  type WatchHub,
} from './agent-bundles.js';
import { csrDer, MAX_CSR_TEXT } from './csr-body.js';
import { jwtSvidRequest, x509SvidRequest } from './entry-svid.js';
import { errorHandler, notFoundHandler } from './http-errors.js';
import { jsonText } from './json-text.js';
import { caPeerVerifier, type PeerVerifier } from './peer-svid.js';
import { requestIdMiddleware } from './request-id.js';
import { serveWatch } from './sse-watch.js';
import { parseJsonBody, requestTargetCheck } from './validate.js';
import { watchAgentKey, type WatchLimiter } from './watch-limits.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';

export type AgentLogger = Pick<Logger, 'info' | 'warn' | 'error'>;

export type AgentAuditSink = (event: {
  type: 'svid.issued' | 'token.used';
  actor: string;
  trustDomain?: string;
  details?: Record<string, unknown>;
}) => Promise<void>;

export interface AgentDeps {
  readonly ca: Pick<
    Ca,
    | 'issueX509Svid'
    | 'checkCsr'
    | 'issueJwtSvid'
    | 'localBundle'
    | 'onBundleChange'
    | 'trustDomain'
    | 'options'
  > &
    // Issue 17: the node watch names this replica's active X.509 authority and follows its changes.
    Partial<Pick<Ca, 'authorities' | 'onAuthorityChange'>>;
  readonly registration: Pick<Registration, 'enrol' | 'entryFor'> &
    Partial<Pick<Registration, 'onChange' | 'childEntries'>>;
  readonly federation: Pick<Federation, 'trustedBundles' | 'onChange' | 'refreshOnUnknownKey'>;
  readonly audit: AgentAuditSink;
  readonly logger: AgentLogger;
  readonly now: Clock;
  /** The SPIFFE ID on the agent API's own certificate, told to agents at enrolment. */
  readonly serverSpiffeId: () => string;
  /** Watch streams end when this aborts (broker shutdown). */
  readonly signal?: AbortSignal;
  /** Extra middleware run first on every request (e.g. request metrics). */
  readonly middleware?: readonly MiddlewareHandler[];
  /** Comment lines keep idle watch streams open through proxies; default 15 s (mean, jittered). */
  readonly watchHeartbeatMs?: number;
  /** Caps, heartbeat jitter and change fan-out of watch streams; default 4 per agent, 256 in all. */
  readonly watch?: WatchLimiter;
  /**
   * Refused join tokens per source address (enrolment is open to anyone): past the limit (10 a
   * minute by default) every enrolment from the address is answered 429 ERR_API_RATE_LIMITED at
   * once, before its CSR is checked, until the window ends.
   */
  readonly enrolLimiter?: FailedAuthLimiter;
  /**
   * The client certificate check, shared with the listener (which runs it after each handshake);
   * by default one of the app's own (caPeerVerifier).
   */
  readonly peerVerifier?: PeerVerifier;
}

/** What the mTLS check found: the caller's SVID and the entry that grants it. */
export interface AgentIdentity {
  readonly spiffeId: SpiffeId;
  readonly entry: Entry;
  readonly instanceId: string | undefined;
  readonly svidExpiresAt: Date;
}

/** `incoming` is set by @hono/node-server: the Node request, whose socket is the TLS socket. */
type Env = {
  Bindings: { incoming?: { socket?: { remoteAddress?: string } } };
  Variables: { requestId: string; agent: AgentIdentity };
};

export { peerChainDer } from './peer-svid.js';

export const AGENT_ROUTES = [
  'GET /v1/agent/bundle',
  'POST /v1/agent/attest',
  'POST /v1/agent/x509svid',
  'POST /v1/agent/jwtsvid',
  'GET /v1/agent/bundles',
  'GET /v1/agent/bundles/watch',
  'POST /v1/agent/jwt/validate',
] as const;

/**
 * Request body limits of the agent API (issue 15), counted while the body arrives: a CSR is at most
 * 16 KiB of text (MAX_CSR_TEXT), a JWT-SVID to validate at most 16 KiB.
 */
export const AGENT_BODY_LIMITS: BodyLimits = {
  defaultMaxBytes: 8 * 1024,
  routes: {
    'POST /v1/agent/attest': 32 * 1024,
    'POST /v1/agent/x509svid': 32 * 1024,
    'POST /v1/agent/jwtsvid': 8 * 1024,
    'POST /v1/agent/jwt/validate': 32 * 1024,
    'POST /v1/agent/node/x509svid': 32 * 1024,
    'POST /v1/agent/node/jwtsvid': 32 * 1024,
  },
};

const csrText = z.string().min(1).max(MAX_CSR_TEXT);
const attestSchema = z.object({ joinToken: z.string().min(1).max(200), csr: csrText }).strict();
const renewSchema = z.object({ csr: csrText }).strict();
const audienceItem = z.string().min(1).max(256);
const jwtSvidSchema = z.object({ audience: z.array(audienceItem).min(1).max(10) }).strict();
const validateSchema = z
  .object({
    token: z
      .string()
      .min(1)
      .max(16 * 1024),
    audience: audienceItem,
  })
  .strict();

function unauthenticated(message: string): ApiError {
  return new ApiError('ERR_API_UNAUTHENTICATED', message);
}

function forbidden(message: string): ApiError {
  return new ApiError('ERR_API_FORBIDDEN', message);
}

function x509Body(
  issued: { chainDer: readonly Buffer[]; spiffeId: SpiffeId; notAfter: Date },
  extra: Record<string, unknown>,
): Record<string, unknown> {
  return {
    spiffeId: issued.spiffeId.toString(),
    ...extra,
    x509Svid: {
      chain: issued.chainDer.map((der) => der.toString('base64')),
      expiresAt: issued.notAfter.toISOString(),
    },
  };
}

type IssueX509 = (
  spiffeId: SpiffeId,
  entry: Entry,
  csr: Uint8Array | CheckedCsr,
  instanceId: string | undefined,
  via: 'attest' | 'renew',
) => ReturnType<Ca['issueX509Svid']>;

/** Issues an X509-SVID within the entry's TTL and DNS names, audited before it is answered. */
function x509Issuer(deps: AgentDeps): IssueX509 {
  return async (spiffeId, entry, csr, instanceId, via) => {
    const issued = await deps.ca.issueX509Svid(
      x509SvidRequest(entry, spiffeId, csr, deps.ca.options),
    );
    await deps.audit({
      type: 'svid.issued',
      actor: via === 'attest' ? 'agent:join-token' : spiffeId.toString(),
      details: {
        kind: 'x509',
        via,
        spiffeId: spiffeId.toString(),
        instanceId: instanceId ?? null,
        entryId: entry.id,
        serial: issued.serialHex,
        expiresAt: issued.notAfter.toISOString(),
      },
    });
    return issued;
  };
}

/**
 * An enrolment's durable steps, the join token's spend last: token.used and svid.issued are
 * appended side by side (they may share a group commit), the SVID is signed meanwhile, and the
 * token is spent only once both records are durable. A failure before the spend (a store or audit
 * log that cannot answer: 503) leaves the token for a retry; nothing is handed out unless the
 * spend succeeds (an enrolment that lost it to another replica is refused like a used token).
 * The token is free for another enrolment here once this one ends, however it ends.
 */
async function enrolAndIssue(
  deps: AgentDeps,
  issueX509: IssueX509,
  enrolment: Enrolment,
  csr: CheckedCsr,
): Promise<Awaited<ReturnType<IssueX509>>> {
  try {
    const used = deps.audit({
      type: 'token.used',
      actor: 'agent:join-token',
      details: {
        tokenId: enrolment.tokenId,
        entryId: enrolment.entry.id,
        spiffeId: enrolment.spiffeId.toString(),
        instanceId: enrolment.instanceId ?? null,
      },
    });
    // Awaited below; this only keeps a failure that comes first from counting as unhandled.
    used.catch(() => undefined);
    const issued = await issueX509(
      enrolment.spiffeId,
      enrolment.entry,
      csr,
      enrolment.instanceId,
      'attest',
    );
    await used;
    await enrolment.spend();
    return issued;
  } finally {
    enrolment.release();
  }
}

/** The routes open to anyone: our bundle, and enrolment with a join token. */
function openRoutes(app: Hono<Env>, deps: AgentDeps, issueX509: IssueX509): void {
  // Our bundle, public as on the bundle endpoint: an agent given only the bundle's SHA-256 digest
  // beside its join token fetches it here, checks the digest, and only then trusts this server.
  app.get('/v1/agent/bundle', (c) =>
    c.body(marshalBundle(deps.ca.localBundle()).toString('utf8'), 200, {
      'content-type': 'application/json',
    }),
  );

  // Enrolment: the join token is the only credential; the CSR's proof of possession is checked
  // before the token is looked up, so a broken client does not use it (issuance uses the checked
  // key: one signature check per enrolment), and the token is spent last (enrolAndIssue).
  const limiter = deps.enrolLimiter ?? createFailedAuthLimiter({ now: deps.now });
  app.post('/v1/agent/attest', async (c) => {
    // The connection's own address: a header such as x-forwarded-for is the caller's to choose.
    const source = c.env?.incoming?.socket?.remoteAddress ?? 'unknown';
    const blockedMs = limiter.retryAfter(source);
    if (blockedMs > 0) throw rateLimited(blockedMs);
    const body = await parseJsonBody(c, attestSchema);
    const csr = await checkCsrCounted(deps, limiter, source, csrDer(body.csr));
    const enrolment = await enrolCounted(deps, limiter, source, body.joinToken);
    const issued = await enrolAndIssue(deps, issueX509, enrolment, csr);
    return c.body(
      jsonText(
        x509Body(issued, {
          instanceId: enrolment.instanceId ?? null,
          entryId: enrolment.entry.id,
          brokerSpiffeId: deps.serverSpiffeId(),
          bundle: bundleJson(deps.ca.localBundle()),
        }),
      ),
      200,
      { 'content-type': 'application/json' },
    );
  });
}

/** mTLS with an X509-SVID of our trust domain that a current entry grants; sets `agent`. */
function agentCheck(deps: AgentDeps, checkPeer: PeerVerifier): MiddlewareHandler<Env> {
  return async function requireAgent(c, next) {
    const peer = checkPeer(c.env?.incoming?.socket);
    if (peer.kind === 'absent') {
      throw unauthenticated('a client certificate (the agent X509-SVID) is required');
    }
    if (peer.kind === 'refused') {
      throw unauthenticated(`client certificate refused: ${peer.code}: ${peer.message}`);
    }
    const { spiffeId, expiresAt } = peer;
    const found = await deps.registration.entryFor(spiffeId);
    if (found === undefined) {
      throw forbidden(`no registration entry grants "${spiffeId.toString()}"`);
    }
    c.set('agent', {
      spiffeId,
      entry: found.entry,
      instanceId: found.instanceId,
      svidExpiresAt: expiresAt,
    });
    await next();
  };
}

/** Renewal (the hot path: bench/agent-renewals.ts) and JWT-SVIDs, for an authenticated agent. */
function svidRoutes(
  agent: Hono<Env>,
  deps: AgentDeps,
  requireAgent: MiddlewareHandler<Env>,
  issueX509: IssueX509,
): void {
  agent.post('/x509svid', requireAgent, async (c) => {
    const body = await parseJsonBody(c, renewSchema);
    const { spiffeId, entry, instanceId } = c.get('agent');
    const issued = await issueX509(spiffeId, entry, csrDer(body.csr), instanceId, 'renew');
    // Strings only (no bundle JSON to splice in): plain JSON.stringify.
    return c.body(JSON.stringify(x509Body(issued, { instanceId: instanceId ?? null })), 200, {
      'content-type': 'application/json',
    });
  });

  agent.post('/jwtsvid', requireAgent, async (c) => {
    const body = await parseJsonBody(c, jwtSvidSchema);
    const { spiffeId, entry, instanceId } = c.get('agent');
    const issued = await deps.ca.issueJwtSvid(
      jwtSvidRequest(entry, spiffeId, body.audience, deps.ca.options),
    );
    await deps.audit({
      type: 'svid.issued',
      actor: spiffeId.toString(),
      details: {
        kind: 'jwt',
        spiffeId: spiffeId.toString(),
        instanceId: instanceId ?? null,
        entryId: entry.id,
        audience: body.audience,
        kid: issued.kid,
        expiresAt: issued.expiresAt.toISOString(),
      },
    });
    return c.json({
      spiffeId: spiffeId.toString(),
      token: issued.token,
      expiresAt: issued.expiresAt.toISOString(),
    });
  });
}

/** The bundles an agent's entry allows: once, or as a stream of server-sent events. */
function bundleRoutes(
  agent: Hono<Env>,
  deps: AgentDeps,
  requireAgent: MiddlewareHandler<Env>,
  hub: WatchHub,
): void {
  agent.get('/bundles', requireAgent, (c) =>
    c.body(bundlesBody(allowedBundles(deps, c.get('agent').entry)), 200, {
      'content-type': 'application/json',
    }),
  );

  // Server-sent events: the full allowed set on connect and again whenever any of it changes. The
  // stream ends when the entry disappears, the caller's SVID expires, or the broker stops.
  agent.get('/bundles/watch', requireAgent, (c) => {
    const identity = c.get('agent');
    const { watch } = hub;
    return serveWatch(
      c,
      () => watch.acquire(watchAgentKey(identity.spiffeId.toString(), identity.instanceId)),
      {
        event: 'bundles',
        endMessage: 'entry removed or SVID expired',
        read: async () => {
          const current = await deps.registration.entryFor(identity.spiffeId);
          return current === undefined ? undefined : hub.sharedBody(current.entry);
        },
        untilExpiryMs: () => identity.svidExpiresAt.getTime() - deps.now(),
        heartbeatDelayMs: () => watch.heartbeatDelayMs(),
        // Bundle changes, and an entry deleted (here or on another replica), wake the stream; so
        // does the broker's abort, through the limiter.
        subscribe: (changed) => watch.subscribe(changed),
        signal: deps.signal,
        listenForAbort: false,
        onError: (error) =>
          // The cause goes to our log, never to the caller (hono's default prints it).
          deps.logger.error('bundle watch stream failed', {
            spiffeId: identity.spiffeId.toString(),
            code: isBrokerError(error) ? error.code : undefined,
            error: (error as Error).message,
          }),
      },
    );
  });
}

/**
 * JWT-SVID validation against our bundle or an allowed partner's, never a pooled key set. One
 * rate-limited refresh of that partner when the key id is unknown (it may have just rotated).
 */
function validateRoute(
  agent: Hono<Env>,
  deps: AgentDeps,
  requireAgent: MiddlewareHandler<Env>,
): void {
  agent.post('/jwt/validate', requireAgent, async (c) => {
    const body = await parseJsonBody(c, validateSchema);
    const { entry } = c.get('agent');
    const validate = () =>
      validateJwtSvid(body.token, allowedBundles(deps, entry), {
        audience: body.audience,
        now: new Date(deps.now()),
      });
    let result;
    try {
      result = validate();
    } catch (error) {
      if (!isBrokerError(error) || error.code !== 'ERR_SVID_JWT_KID_UNKNOWN') throw error;
      const partner = unverifiedTrustDomain(body.token);
      if (partner === undefined || !entry.federatesWith.includes(partner)) throw error;
      if (!(await deps.federation.refreshOnUnknownKey(partner))) throw error;
      result = validate();
    }
    return c.body(
      jsonText({
        spiffeId: result.spiffeId.toString(),
        trustDomain: result.spiffeId.trustDomain.name,
        audience: result.audience,
        expiresAt: result.expiresAt.toISOString(),
        claims: result.claims,
      }),
      200,
      { 'content-type': 'application/json' },
    );
  });
}

export function createAgentApp(deps: AgentDeps): Hono<Env> {
  const hub = createWatchHub(deps);
  const app = new Hono<Env>();
  app.use('*', requestIdMiddleware());
  app.use('*', requestTargetCheck());
  for (const middleware of deps.middleware ?? []) app.use('*', middleware);
  // Turns for every connection but an agent's, whose X509-SVID verifies against our bundle (a
  // stranger's self-made certificate does not exempt it): agents renewing over mTLS pipeline
  // legitimately, and serialising them cut renewals from about 4,100/s to 1,900/s
  // (bench/agent-renewals.ts); the bundle endpoint has its own thread. Every connection, an
  // agent's too, holds at most MAX_REQUESTS_PER_CONNECTION requests at once.
  const checkPeer = deps.peerVerifier ?? caPeerVerifier(deps);
  app.use('*', connectionTurns({ appliesTo: (socket) => checkPeer(socket).kind !== 'verified' }));
  app.use('*', bodyLimit(AGENT_BODY_LIMITS));
  app.onError(errorHandler(deps.logger));
  app.notFound(notFoundHandler);

  const issueX509 = x509Issuer(deps);
  openRoutes(app, deps, issueX509);

  // Everything else needs the agent's mTLS. The check is attached to each route, not to `*`: an
  // unknown path stays a 404 for everyone.
  const requireAgent = agentCheck(deps, checkPeer);
  const agent = new Hono<Env>();
  svidRoutes(agent, deps, requireAgent, issueX509);
  bundleRoutes(agent, deps, requireAgent, hub);
  validateRoute(agent, deps, requireAgent);
  app.route('/v1/agent', agent);
  // Node watch streams share this app's stream caps, jitter and batched fan-out; node routes share
  // its per-connection peer check (each connection's chain is verified once for both).
  app.route('/v1/agent/node', createNodeApp({ ...deps, watch: hub.watch }, checkPeer));
  return app;
}

/**
 * The trust domain a token claims, read WITHOUT verification: only used to pick which allowed
 * partner to refresh, never to trust anything.
 */
function unverifiedTrustDomain(token: string): string | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined || payload.length > 16 * 1024) return undefined;
  try {
    const sub = (
      JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { sub?: unknown }
    ).sub;
    return typeof sub === 'string' ? parseSpiffeId(sub).trustDomain.name : undefined;
  } catch {
    return undefined;
  }
}

/** The entry's ID as text, for logs (re-exported for the composition root). */
export function entryIdText(entry: Entry): string {
  return idPatternText(entry.pattern);
}
