// The admin API (Hono): health, metrics, our bundle and authorities, SVID minting, relationships, audit.
// Routes are declared once (routes.ts) so validation and the OpenAPI document read the same schemas.
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import {
  AUDIT_ANCHOR_PATTERN,
  createFailedLoginAggregator,
  parseAuditAnchor,
  verifyStoredAudit,
  type AuditEventInput,
  type FailedLoginAggregator,
} from '../audit/index.js';
import { marshalBundle, marshalPem, parsePemCertificates } from '../bundle/index.js';
import {
  AUTHORITY_KINDS,
  AUTHORITY_STATES,
  KEY_TYPES,
  isDnsName,
  type AuthorityMetadata,
  type Ca,
  type EndpointTrust,
} from '../ca/index.js';
import { ApiError } from '../errors.js';
import {
  INVITE_FORMAT,
  acceptInvite,
  approvalsOf,
  createInvite,
  type Federation,
  type Profile,
  type RelationshipView,
} from '../federation/index.js';
import { parseTrustDomain } from '../spiffeid/index.js';
import type { Store } from '../store/index.js';
import { adminAuth, principalOfPeer, principalOfToken } from './auth.js';
import { changeAuthority, prepareAuthority } from './admin-actions.js';
import { createConsoleApp } from './console/console-app.js';
import { createFailedAuthLimiter, type FailedAuthLimiter } from './auth-limit.js';
import { bodyLimit } from './body-limit.js';
import { connectionTurns } from './connection-turns.js';
import { MAX_JSON_BODY_BYTES } from './validate.js';
import type { PeerCheck } from './peer-svid.js';
import { errorHandler, notFoundHandler, validationError } from './http-errors.js';
import {
  PROMETHEUS_CONTENT_TYPE,
  createBrokerMetrics,
  registerStateCollectors,
  requestMetrics,
  type BrokerMetrics,
} from './metrics.js';
import { buildOpenApiDocument } from './openapi.js';
import { requestIdMiddleware } from './request-id.js';
import { idParam, requestTargetCheck, trustDomainParam } from './validate.js';
import {
  createRouteTable,
  defineRoute,
  respondJson,
  type AdminEnv,
  type Route,
  type RouteTable,
} from './routes.js';
import { registrationRoutes } from './admin-registration.js';
import { adminRoutes } from './admin-admins.js';
import type { AdminDirectory, AdminRole, Principal, Sessions } from '../access/index.js';
import type { Registration } from '../registration/index.js';
import type { Logger } from '../log.js';

export type AdminLogger = Pick<Logger, 'info' | 'warn' | 'error'>;

export interface AdminDeps {
  readonly ca: Ca;
  readonly federation: Federation;
  readonly store: Pick<
    Store,
    'ping' | 'listAudit' | 'readStoredAudit' | 'getBundle' | 'listBundles'
  >;
  readonly audit: (event: {
    type: string;
    actor: string;
    trustDomain?: string;
    details?: Record<string, unknown>;
  }) => Promise<void>;
  readonly token: () => string;
  readonly logger: AdminLogger;
  readonly now: () => number;
  /**
   * Whether the bundle endpoint listens now (false while its worker thread is restarted, issue 15);
   * a `bundleEndpoint` check of `/readyz` when given.
   */
  readonly bundleEndpointState?: () => { readonly up: boolean; readonly detail: string };
  /**
   * Whether partners can trust our bundle endpoint yet (`/readyz/bundle-endpoint`): always for
   * https_web; for https_spiffe once the authority behind its SVID has been served for a refresh
   * hint. Absent: no such route.
   */
  readonly bundleEndpointTrust?: () => EndpointTrust;
  /**
   * Whether partners can verify the SVIDs agents get here now (`/readyz/agent-api`): once this
   * replica's active x509 and JWT authorities have been served for a refresh hint. Absent: no route.
   */
  readonly agentApiTrust?: () => EndpointTrust;
  /** What invitations advertise: our public bundle endpoint URL, profile and endpoint SPIFFE ID. */
  readonly endpoint: () => { url: string; profile: Profile; spiffeId: string | null };
  /** Shared with the other listeners and the counting wrappers of main.ts; a private one if absent. */
  readonly metrics?: BrokerMetrics;
  /** mTLS admins (listener on TLS): client SVIDs checked against our bundle, IDs from adminIds. */
  readonly adminPeer?: {
    readonly check: (socket: unknown) => PeerCheck;
    readonly adminIds: ReadonlySet<string>;
    /** Names and roles of mTLS admins (an ID without one is an `admin` named by its SPIFFE ID). */
    readonly names?: ReadonlyMap<string, { readonly name: string; readonly role: AdminRole }>;
  };
  /** Named admins and console sessions (issue 19); without it only the bootstrap token works. */
  readonly access?: { readonly admins: AdminDirectory; readonly sessions: Sessions };
  /**
   * Failed authentication: the per-address limit (429) and the aggregated `admin.login_failed`
   * events. Defaults (10 a minute per address, one event a minute) when absent.
   */
  readonly failedLogins?: {
    readonly limiter: FailedAuthLimiter;
    readonly aggregator: FailedLoginAggregator;
  };
  /** Entries and join tokens (src/api/admin-registration.ts); those routes are absent without it. */
  readonly registration?: {
    readonly registration: Registration;
    readonly agentApiUrl: () => string;
  };
}

/** Where the admin routes are served; `GET ${ADMIN_PREFIX}/openapi.json` documents them all. */
export const ADMIN_PREFIX = '/v1/admin';

// ---- schemas: requests (validated) and responses (documented; handlers type-check against them) --

const kindSchema = z.enum(AUTHORITY_KINDS);
const isoTime = z.iso.datetime();
const bundleFormatQuery = z.object({
  format: z
    .enum(['spiffe', 'pem'])
    .default('spiffe')
    .describe('spiffe: SPIFFE bundle JSON; pem: the X.509 authorities as PEM'),
});
// Path parameters are checked before any handler or store call (issue 15, finding 12).
const tdParams = z.object({ td: trustDomainParam.describe('partner trust domain name') });
const reasonBody = z.object({ reason: z.string().max(500).optional() }).strict();

const authoritySchema = z.object({
  id: z.string(),
  kind: kindSchema,
  keyType: z.enum(KEY_TYPES),
  state: z.enum(AUTHORITY_STATES),
  createdAt: isoTime,
  publishedAt: isoTime,
  activatedAt: isoTime.nullable(),
  retiredAt: isoTime.nullable(),
  taintedAt: isoTime.nullable(),
  revokedAt: isoTime.nullable(),
  notBefore: isoTime,
  notAfter: isoTime,
  signedUntil: isoTime.nullable(),
  upstream: z.boolean(),
  fingerprintSha256: z.string().nullable(),
  certificatePem: z.string().nullable(),
});
const oneAuthority = z.object({ authority: authoritySchema });

const relationshipStateSchema = z.enum(['pending', 'active', 'suspended', 'rejected']);
const profileSchema = z.enum(['https_web', 'https_spiffe']);

/** POST /v1/admin/relationships: every field a relationship is created with, with its bounds. */
const createRelationshipBody = z
  .object({
    trustDomain: z.string().max(255),
    url: z.string().max(2048),
    profile: profileSchema,
    endpointSpiffeId: z.string().max(2048).optional(),
    bootstrapBundle: z
      .string()
      .max(1024 * 1024)
      .optional(),
    caPem: z
      .string()
      .max(256 * 1024)
      .optional(),
    followRedirects: z.boolean().optional(),
    reason: z.string().max(500).optional(),
  })
  .strict();

/** PATCH /v1/admin/relationships/:td: how a partner is reached, each field optional, same bounds. */
const updateRelationshipBody = createRelationshipBody
  .pick({
    url: true,
    profile: true,
    endpointSpiffeId: true,
    bootstrapBundle: true,
    caPem: true,
    reason: true,
  })
  .partial()
  .strict();
const fetchLogSchema = z
  .object({
    url: z.string(),
    profile: profileSchema,
    redirects: z.array(z.string()),
    peer: z.object({ identity: z.string(), fingerprintSha256: z.string() }).nullable(),
    status: z.number().int().nullable(),
    bytes: z.number(),
    durationMs: z.number(),
  })
  .describe('the last fetch, for forensics (FED-27)');
const relationshipSchema = z.object({
  trustDomain: z.string(),
  url: z.string(),
  profile: profileSchema,
  endpointSpiffeId: z.string().nullable(),
  hasBootstrapBundle: z.boolean(),
  hasCaPem: z.boolean(),
  followRedirects: z.boolean(),
  state: relationshipStateSchema,
  source: z.enum(['api', 'config', 'invite']),
  createdAt: isoTime,
  updatedAt: isoTime,
  transitions: z.array(
    z.object({
      action: z.enum(['create', 'approve', 'reject', 'suspend', 'resume']),
      from: relationshipStateSchema.nullable(),
      to: relationshipStateSchema,
      actor: z.string(),
      atMs: z.number(),
      reason: z.string(),
      at: isoTime,
    }),
  ),
  version: z.number().int(),
  approvals: z
    .object({
      required: z.number().int(),
      count: z.number().int(),
      by: z.array(z.object({ actor: z.string(), at: isoTime, reason: z.string() })),
    })
    .describe('two-person rule: approvals made while pending, and how many are required'),
  status: z.object({
    lastAttemptAtMs: z.number().nullable(),
    lastSuccessAtMs: z.number().nullable(),
    lastError: z.object({ code: z.string(), message: z.string(), atMs: z.number() }).nullable(),
    consecutiveFailures: z.number().int(),
    nextRefreshAtMs: z.number(),
    activeSinceMs: z.number(),
    sequence: z.string().nullable(),
    digest: z.string().nullable(),
    refreshHintSeconds: z.number().nullable(),
    earliestAuthorityExpiryMs: z.number().nullable(),
    lastFetch: fetchLogSchema.nullable(),
    stale: z.boolean(),
  }),
});
const oneRelationship = z.object({ relationship: relationshipSchema });

const readySchema = z.object({
  status: z.enum(['ready', 'not ready']),
  checks: z.record(z.string(), z.string()),
});

const statusSchemas = {
  health: z.object({ status: z.literal('ok') }),
  ready: readySchema,
  endpointReady: readySchema.extend({
    readyInSeconds: z
      .number()
      .int()
      .optional()
      .describe('when only time is missing: seconds until ready (also sent as Retry-After)'),
  }),
};

const auditEventSchema = z.object({
  id: z.number().int(),
  time: z.number(),
  type: z.string(),
  actor: z.string(),
  trustDomain: z.string().nullable(),
  data: z.record(z.string(), z.unknown()),
  previousHash: z.string().nullable(),
  hash: z.string(),
});

/** Accepts a CSR as PEM (`-----BEGIN CERTIFICATE REQUEST-----`) or base64 DER. */
function csrDer(text: string): Buffer {
  const pem =
    /-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----([\s\S]*?)-----END (?:NEW )?CERTIFICATE REQUEST-----/.exec(
      text,
    );
  const body = (pem?.[1] ?? text).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) throw validationError('csr must be PEM or base64 DER');
  return Buffer.from(body, 'base64');
}

function authorityView(a: AuthorityMetadata): z.output<typeof authoritySchema> {
  return {
    id: a.id,
    kind: a.kind,
    keyType: a.keyType,
    state: a.state,
    createdAt: a.createdAt.toISOString(),
    publishedAt: a.publishedAt.toISOString(),
    activatedAt: a.activatedAt?.toISOString() ?? null,
    retiredAt: a.retiredAt?.toISOString() ?? null,
    taintedAt: a.taintedAt?.toISOString() ?? null,
    revokedAt: a.revokedAt?.toISOString() ?? null,
    notBefore: a.notBefore.toISOString(),
    notAfter: a.notAfter.toISOString(),
    signedUntil: a.signedUntil?.toISOString() ?? null,
    upstream: a.upstream,
    fingerprintSha256: a.fingerprintSha256 ?? null,
    certificatePem: a.certificateDer === undefined ? null : marshalPem([a.certificateDer]),
  };
}

function relationshipView(view: RelationshipView): z.output<typeof relationshipSchema> {
  const r = view.relationship;
  const lastFetch = view.status.lastFetch;
  return {
    trustDomain: r.trustDomain,
    url: r.url,
    profile: r.profile,
    endpointSpiffeId: r.endpointSpiffeId,
    hasBootstrapBundle: r.bootstrapBundle !== null,
    hasCaPem: r.caPem !== null,
    followRedirects: r.followRedirects,
    state: r.state,
    source: r.source,
    createdAt: new Date(r.createdAtMs).toISOString(),
    updatedAt: new Date(r.updatedAtMs).toISOString(),
    transitions: r.transitions.map((t) => ({ ...t, at: new Date(t.atMs).toISOString() })),
    version: view.version,
    approvals: {
      required: view.requiredApprovals,
      count: approvalsOf(r).length,
      by: approvalsOf(r).map((a) => ({
        actor: a.actor,
        at: new Date(a.atMs).toISOString(),
        reason: a.reason,
      })),
    },
    status: {
      ...view.status,
      lastFetch: lastFetch === null ? null : { ...lastFetch, redirects: [...lastFetch.redirects] },
    },
  };
}

function ownBundleResponse(c: Context, deps: AdminDeps, format: 'spiffe' | 'pem'): Response {
  const bundle = deps.ca.localBundle();
  if (format === 'pem') {
    return c.body(marshalPem(bundle.x509Authorities.map((a) => a.der)), 200, {
      'content-type': 'application/x-pem-file',
    });
  }
  return c.body(marshalBundle(bundle).toString('utf8'), 200, {
    'content-type': 'application/json',
  });
}

const BUNDLE_BODY = {
  description: 'the bundle, SPIFFE JSON or PEM by `format`',
  contentType: ['application/json', 'application/x-pem-file'],
} as const;

// ---- routes --------------------------------------------------------------------------------

/** A readiness route for one listener: 200 or 503 with `checks[check]` and `Retry-After`. */
function trustReadyRoute(options: {
  readonly path: string;
  readonly summary: string;
  readonly description: string;
  readonly check: string;
  readonly trust: () => EndpointTrust;
}): Route {
  return defineRoute({
    method: 'get',
    path: options.path,
    summary: options.summary,
    description: options.description,
    tags: ['health'],
    auth: 'none',
    responses: {
      200: { description: 'ready', schema: statusSchemas.endpointReady },
      503: { description: 'not ready; `checks` says why', schema: statusSchemas.endpointReady },
    },
    handler: (c) => {
      const { ready, detail, readyInSeconds } = options.trust();
      if (readyInSeconds !== undefined) c.header('retry-after', String(readyInSeconds));
      return respondJson(
        c,
        statusSchemas.endpointReady,
        {
          status: ready ? 'ready' : 'not ready',
          checks: { [options.check]: detail },
          ...(readyInSeconds === undefined ? {} : { readyInSeconds }),
        },
        ready ? 200 : 503,
      );
    },
  });
}

/**
 * Health checks for routing partner and agent traffic to this replica (a load balancer's): ready
 * when partners can verify what it presents with the bundle they hold, not before.
 */
function partnerReadyRoutes(deps: AdminDeps): Route[] {
  const routes: Route[] = [];
  if (deps.bundleEndpointTrust !== undefined) {
    routes.push(
      trustReadyRoute({
        path: '/readyz/bundle-endpoint',
        summary:
          'Readiness of the bundle endpoint: partners already hold the authority behind its SVID',
        description:
          'https_spiffe: ready once the x509 authority that signed the endpoint X509-SVID has been ' +
          'in the served bundle for one refresh hint (a new replica starts with authorities partners ' +
          'have not fetched yet; FED-23). https_web: always ready.',
        check: 'bundleEndpoint',
        trust: deps.bundleEndpointTrust,
      }),
    );
  }
  if (deps.agentApiTrust !== undefined) {
    routes.push(
      trustReadyRoute({
        path: '/readyz/agent-api',
        summary: 'Readiness of the agent API: partners already hold the authorities it signs with',
        description:
          "Ready once this replica's active x509 and JWT authorities have been in the served bundle " +
          'for one refresh hint, so that partners verify the SVIDs agents get here.',
        check: 'agentApi',
        trust: deps.agentApiTrust,
      }),
    );
  }
  return routes;
}

function healthRoutes(deps: AdminDeps, metrics: BrokerMetrics): Route[] {
  return [
    defineRoute({
      method: 'get',
      path: '/healthz',
      summary: 'Liveness: the process answers',
      tags: ['health'],
      auth: 'none',
      responses: { 200: { description: 'alive', schema: statusSchemas.health } },
      handler: (c) => respondJson(c, statusSchemas.health, { status: 'ok' }),
    }),
    defineRoute({
      method: 'get',
      path: '/readyz',
      summary: 'Readiness: the store answers and a CA authority is active',
      tags: ['health'],
      auth: 'none',
      responses: {
        200: { description: 'ready', schema: statusSchemas.ready },
        503: { description: 'not ready; `checks` says why', schema: statusSchemas.ready },
      },
      handler: async (c) => {
        const checks: Record<string, string> = {};
        try {
          await deps.store.ping();
          checks['store'] = 'ok';
        } catch (error) {
          checks['store'] = (error as { code?: string }).code ?? 'failed';
        }
        checks['ca'] = deps.ca.authorities().some((a) => a.state === 'active')
          ? 'ok'
          : 'no active authority';
        const listener = deps.bundleEndpointState?.();
        if (listener !== undefined) checks['bundleEndpoint'] = listener.up ? 'ok' : listener.detail;
        const ok = Object.values(checks).every((v) => v === 'ok');
        return respondJson(
          c,
          statusSchemas.ready,
          { status: ok ? 'ready' : 'not ready', checks },
          ok ? 200 : 503,
        );
      },
    }),
    ...partnerReadyRoutes(deps),
    defineRoute({
      method: 'get',
      path: '/metrics',
      summary: 'Prometheus metrics (text exposition format 0.0.4)',
      description:
        'Needs the admin bearer token like the rest of the admin API (Prometheus: `authorization.credentials_file`).',
      tags: ['health'],
      responses: { 200: { description: 'metrics', contentType: 'text/plain' } },
      handler: async (c) =>
        c.body(await metrics.registry.render(), 200, { 'content-type': PROMETHEUS_CONTENT_TYPE }),
    }),
  ];
}

function authorityRoutes(deps: AdminDeps): Route[] {
  const actionParams = z.object({ kind: kindSchema, id: idParam });
  const actionBody = z
    .object({
      force: z
        .boolean()
        .optional()
        .describe('activate only: skip the FED-50 lead time check (partners may not have it yet)'),
      reason: z.string().max(500).optional(),
    })
    .strict();
  const actions = {
    activate: { summary: 'Make a prepared authority the active one' },
    taint: { summary: 'Stop signing with an authority at once' },
    revoke: { summary: 'Remove an authority from the bundle at once' },
  } as const;
  return [
    defineRoute({
      method: 'get',
      path: '/bundle',
      summary: 'Our bundle as published',
      tags: ['bundles'],
      query: bundleFormatQuery,
      responses: { 200: BUNDLE_BODY },
      handler: (c, { query }) => ownBundleResponse(c, deps, query.format),
    }),
    defineRoute({
      method: 'get',
      path: '/authorities',
      summary: 'Authorities of our CA',
      tags: ['authorities'],
      query: z.object({ kind: kindSchema.optional() }),
      responses: {
        200: {
          description: 'authorities by kind, then creation time',
          schema: z.object({ authorities: z.array(authoritySchema) }),
        },
      },
      handler: (c, { query }) =>
        respondJson(c, z.object({ authorities: z.array(authoritySchema) }), {
          authorities: deps.ca.authorities(query.kind).map(authorityView),
        }),
    }),
    defineRoute({
      method: 'post',
      path: '/authorities/:kind/prepare',
      summary: 'Create and publish the next authority of a kind (not signing yet)',
      tags: ['authorities'],
      params: z.object({ kind: kindSchema }),
      responses: { 201: { description: 'prepared', schema: oneAuthority } },
      handler: async (c, { params }) => {
        const authority = await prepareAuthority(deps, params.kind, c.var.actor);
        return respondJson(c, oneAuthority, { authority: authorityView(authority) }, 201);
      },
    }),
    ...(['activate', 'taint', 'revoke'] as const).map((action) =>
      defineRoute({
        method: 'post',
        path: `/authorities/:kind/:id/${action}`,
        summary: actions[action].summary,
        tags: ['authorities'],
        params: actionParams,
        body: actionBody,
        responses: { 200: { description: 'the authority after the change', schema: oneAuthority } },
        handler: async (c, { params, body }) => {
          const authority = await changeAuthority(
            deps,
            { ...params, action, force: body.force === true },
            { actor: c.var.actor, ...(body.reason === undefined ? {} : { reason: body.reason }) },
          );
          return respondJson(c, oneAuthority, { authority: authorityView(authority) });
        },
      }),
    ),
  ];
}

function svidRoutes(deps: AdminDeps): Route[] {
  const x509Response = z.object({
    spiffeId: z.string(),
    chainPem: z.string(),
    notAfter: isoTime,
    serial: z.string(),
    bundlePem: z.string(),
  });
  const jwtResponse = z.object({ spiffeId: z.string(), token: z.string(), expiresAt: isoTime });
  return [
    // SVIDs minted by an admin (the CLI generates the key and sends a CSR; keys never travel).
    defineRoute({
      method: 'post',
      path: '/svids/x509',
      summary: 'Sign an X509-SVID for a CSR',
      tags: ['svids'],
      body: z
        .object({
          spiffeId: z.string().max(2048),
          csr: z
            .string()
            .max(64 * 1024)
            .describe('PKCS#10 as PEM or base64 DER'),
          ttlSeconds: z.number().int().positive().optional(),
          dnsNames: z
            .array(z.string().max(253).refine(isDnsName, 'not a DNS name'))
            .max(32)
            .optional(),
        })
        .strict(),
      responses: { 200: { description: 'the signed chain', schema: x509Response } },
      handler: async (c, { body }) => {
        const issued = await deps.ca.issueX509Svid({
          spiffeId: body.spiffeId,
          csr: csrDer(body.csr),
          ...(body.ttlSeconds === undefined ? {} : { ttlSeconds: body.ttlSeconds }),
          ...(body.dnsNames === undefined ? {} : { dnsNames: body.dnsNames }),
        });
        await deps.audit({
          type: 'svid.issued',
          actor: c.var.actor,
          details: {
            kind: 'x509',
            spiffeId: issued.spiffeId.toString(),
            serial: issued.serialHex,
            notAfter: issued.notAfter.toISOString(),
          },
        });
        return respondJson(c, x509Response, {
          spiffeId: issued.spiffeId.toString(),
          chainPem: marshalPem(issued.chainDer),
          notAfter: issued.notAfter.toISOString(),
          serial: issued.serialHex,
          bundlePem: marshalPem(deps.ca.localBundle().x509Authorities.map((a) => a.der)),
        });
      },
    }),
    defineRoute({
      method: 'post',
      path: '/svids/jwt',
      summary: 'Sign a JWT-SVID',
      tags: ['svids'],
      body: z
        .object({
          spiffeId: z.string().max(2048),
          audience: z.array(z.string().min(1).max(512)).min(1).max(16),
          ttlSeconds: z.number().int().positive().optional(),
        })
        .strict(),
      responses: { 200: { description: 'the signed token', schema: jwtResponse } },
      handler: async (c, { body }) => {
        const issued = await deps.ca.issueJwtSvid({
          spiffeId: body.spiffeId,
          audience: body.audience,
          ...(body.ttlSeconds === undefined ? {} : { ttlSeconds: body.ttlSeconds }),
        });
        await deps.audit({
          type: 'svid.issued',
          actor: c.var.actor,
          details: {
            kind: 'jwt',
            spiffeId: issued.spiffeId.toString(),
            kid: issued.kid,
            audience: body.audience,
            expiresAt: issued.expiresAt.toISOString(),
          },
        });
        return respondJson(c, jwtResponse, {
          spiffeId: issued.spiffeId.toString(),
          token: issued.token,
          expiresAt: issued.expiresAt.toISOString(),
        });
      },
    }),
  ];
}

function bundleRoutes(deps: AdminDeps): Route[] {
  const bundleList = z.object({
    bundles: z.array(
      z.discriminatedUnion('own', [
        z.object({
          trustDomain: z.string(),
          own: z.literal(true),
          sequence: z.string().nullable(),
          x509Authorities: z.number().int(),
          jwtAuthorities: z.number().int(),
        }),
        z.object({
          trustDomain: z.string(),
          own: z.literal(false),
          sequence: z.string().nullable(),
          digest: z.string(),
          fetchedAt: isoTime,
          sourceUrl: z.string().nullable(),
          trusted: z.boolean(),
        }),
      ]),
    ),
  });
  const history = z.object({
    history: z.array(
      z.object({
        raw: z.string(),
        sequence: z.string().nullable(),
        digest: z.string(),
        fetchedAtMs: z.number(),
        sourceUrl: z.string().nullable(),
      }),
    ),
  });
  return [
    defineRoute({
      method: 'get',
      path: '/bundles',
      summary: 'Our bundle and every partner bundle held',
      tags: ['bundles'],
      responses: { 200: { description: 'bundle summaries', schema: bundleList } },
      handler: async (c) => {
        const own = deps.ca.localBundle();
        const partners = await deps.store.listBundles();
        return respondJson(c, bundleList, {
          bundles: [
            {
              trustDomain: own.trustDomain.name,
              own: true,
              sequence: own.sequence?.toString() ?? null,
              x509Authorities: own.x509Authorities.length,
              jwtAuthorities: own.jwtAuthorities.size,
            },
            ...partners.map((b) => ({
              trustDomain: b.trustDomain,
              own: false as const,
              sequence: b.sequence,
              digest: b.digest,
              fetchedAt: new Date(b.fetchedAt).toISOString(),
              sourceUrl: b.sourceUrl,
              trusted: deps.federation.trustedBundles([b.trustDomain]).size > 0,
            })),
          ],
        });
      },
    }),
    defineRoute({
      method: 'get',
      path: '/bundles/:td',
      summary: 'One bundle held (ours or a partner one), as stored or as PEM',
      tags: ['bundles'],
      params: tdParams,
      query: bundleFormatQuery,
      responses: { 200: BUNDLE_BODY },
      handler: async (c, { params, query }) => {
        const { td } = params;
        if (td === deps.ca.trustDomain.name) return ownBundleResponse(c, deps, query.format);
        const stored = await deps.store.getBundle(td);
        if (stored === undefined) {
          throw new ApiError('ERR_API_NOT_FOUND', `no bundle held for "${td}"`);
        }
        if (query.format === 'pem') {
          const bundle = deps.federation.trustedBundles([td]).get(parseTrustDomain(td));
          const ders =
            bundle?.x509Authorities.map((a) => a.der) ??
            (stored.raw.includes('-----BEGIN') ? parsePemCertificates(stored.raw) : []);
          return c.body(marshalPem(ders), 200, { 'content-type': 'application/x-pem-file' });
        }
        return c.body(stored.raw, 200, { 'content-type': 'application/json' });
      },
    }),
    defineRoute({
      method: 'get',
      path: '/bundles/:td/history',
      summary: 'Stored versions of a partner bundle, newest first',
      tags: ['bundles'],
      params: tdParams,
      responses: { 200: { description: 'versions', schema: history } },
      handler: async (c, { params }) =>
        respondJson(c, history, { history: await deps.federation.history(params.td) }),
    }),
  ];
}

function relationshipRoutes(deps: AdminDeps): Route[] {
  const refreshResponse = z.object({
    ok: z.boolean(),
    outcome: z.enum(['created', 'replaced', 'unchanged']).nullable(),
    sequence: z.string().nullable(),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
    fetch: fetchLogSchema.nullable(),
  });
  const forceResponse = z.object({
    outcome: z.enum(['created', 'replaced', 'unchanged']),
    sequence: z.string().nullable(),
    digest: z.string(),
  });
  const list = z.object({ relationships: z.array(relationshipSchema) });
  const transitions = {
    approve: 'Approve a pending relationship (its partner bundle becomes trusted)',
    reject: 'Reject a pending relationship',
    suspend: 'Suspend an active relationship (its bundle stops being trusted)',
    resume: 'Resume a suspended relationship',
  } as const;
  return [
    defineRoute({
      method: 'post',
      path: '/relationships',
      summary: 'Create a federation relationship (pending until approved)',
      tags: ['relationships'],
      body: createRelationshipBody,
      responses: { 201: { description: 'created', schema: oneRelationship } },
      handler: async (c, { body }) => {
        const { reason, ...input } = body;
        const relationship = await deps.federation.create(input, {
          actor: c.var.actor,
          ...(reason === undefined ? {} : { reason }),
        });
        return respondJson(
          c,
          oneRelationship,
          { relationship: relationshipView(await deps.federation.get(relationship.trustDomain)) },
          201,
        );
      },
    }),
    defineRoute({
      method: 'get',
      path: '/relationships',
      summary: 'Every relationship with its refresh status',
      tags: ['relationships'],
      responses: { 200: { description: 'relationships by trust domain', schema: list } },
      handler: async (c) =>
        respondJson(c, list, {
          relationships: (await deps.federation.list()).map(relationshipView),
        }),
    }),
    defineRoute({
      method: 'get',
      path: '/relationships/:td',
      summary: 'One relationship with its refresh status',
      tags: ['relationships'],
      params: tdParams,
      responses: { 200: { description: 'the relationship', schema: oneRelationship } },
      handler: async (c, { params }) =>
        respondJson(c, oneRelationship, {
          relationship: relationshipView(await deps.federation.get(params.td)),
        }),
    }),
    ...(['approve', 'reject', 'suspend', 'resume'] as const).map((action) =>
      defineRoute({
        method: 'post',
        path: `/relationships/:td/${action}`,
        summary: transitions[action],
        tags: ['relationships'],
        params: tdParams,
        body: reasonBody,
        responses: { 200: { description: 'the relationship after', schema: oneRelationship } },
        handler: async (c, { params, body }) => {
          await deps.federation.transition(params.td, action, {
            actor: c.var.actor,
            ...(body.reason === undefined ? {} : { reason: body.reason }),
          });
          return respondJson(c, oneRelationship, {
            relationship: relationshipView(await deps.federation.get(params.td)),
          });
        },
      }),
    ),
    defineRoute({
      method: 'delete',
      path: '/relationships/:td',
      summary: 'Delete a relationship and its bundle (FED-60)',
      tags: ['relationships'],
      params: tdParams,
      query: z.object({ reason: z.string().max(500).optional() }),
      responses: { 204: { description: 'deleted' } },
      handler: async (c, { params, query }) => {
        await deps.federation.delete(params.td, {
          actor: c.var.actor,
          ...(query.reason === undefined ? {} : { reason: query.reason }),
        });
        return c.body(null, 204);
      },
    }),
    defineRoute({
      method: 'patch',
      path: '/relationships/:td',
      summary: 'Change how a partner is reached; state, history and stored bundle are kept',
      tags: ['relationships'],
      params: tdParams,
      body: updateRelationshipBody,
      responses: { 200: { description: 'the relationship after', schema: oneRelationship } },
      handler: async (c, { params, body }) => {
        const { reason, ...changes } = body;
        await deps.federation.update(params.td, changes, {
          actor: c.var.actor,
          ...(reason === undefined ? {} : { reason }),
        });
        return respondJson(c, oneRelationship, {
          relationship: relationshipView(await deps.federation.get(params.td)),
        });
      },
    }),
    defineRoute({
      method: 'post',
      path: '/relationships/:td/refresh',
      summary: 'Fetch the partner bundle now',
      description: 'A partner failure is a 200 with `ok: false`; the last good bundle is kept.',
      tags: ['relationships'],
      params: tdParams,
      responses: { 200: { description: 'the outcome of the fetch', schema: refreshResponse } },
      handler: async (c, { params }) => {
        const outcome = await deps.federation.refresh(params.td, { actor: c.var.actor });
        const log = outcome.log;
        return respondJson(c, refreshResponse, {
          ok: outcome.ok,
          outcome: outcome.update?.outcome ?? null,
          sequence: outcome.update?.stored.sequence ?? null,
          error: outcome.error ?? null,
          fetch: log === null ? null : { ...log, redirects: [...log.redirects] },
        });
      },
    }),
    defineRoute({
      method: 'put',
      path: '/relationships/:td/bundle',
      summary: 'Replace the partner bundle by hand (FED-33; rollback check bypassed)',
      tags: ['relationships'],
      params: tdParams,
      body: z
        .object({
          bundle: z
            .string()
            .max(1024 * 1024)
            .describe('SPIFFE bundle JSON or PEM'),
          reason: z.string().max(500).optional(),
        })
        .strict(),
      responses: { 200: { description: 'stored', schema: forceResponse } },
      handler: async (c, { params, body }) => {
        const update = await deps.federation.forceBundle(params.td, body.bundle, {
          actor: c.var.actor,
          ...(body.reason === undefined ? {} : { reason: body.reason }),
        });
        return respondJson(c, forceResponse, {
          outcome: update.outcome,
          sequence: update.stored.sequence,
          digest: update.stored.digest,
        });
      },
    }),
  ];
}

function inviteRoutes(deps: AdminDeps): Route[] {
  const inviteSchema = z.object({
    format: z.literal(INVITE_FORMAT),
    trustDomain: z.string(),
    bundleSha256: z.string(),
    expiresAt: z.string(),
    token: z.string(),
  });
  const accepted = z.object({ relationship: relationshipSchema, bundleSha256: z.string() });
  // Invitations: ours to hand out, and partners' to accept (a pending relationship results).
  return [
    defineRoute({
      method: 'post',
      path: '/invites',
      summary:
        'Create an invitation for a partner (a signed document naming our endpoint and bundle)',
      tags: ['invites'],
      body: z.object({ ttlSeconds: z.number().int().positive().optional() }).strict(),
      responses: { 201: { description: 'the invitation document', schema: inviteSchema } },
      handler: async (c, { body }) => {
        const endpoint = deps.endpoint();
        const ttlSeconds = Math.min(
          body.ttlSeconds ?? deps.ca.options.maxJwtSvidTtlSeconds,
          deps.ca.options.maxJwtSvidTtlSeconds,
        );
        const invite = await createInvite(
          async (request) => {
            const issued = await deps.ca.issueJwtSvid(request);
            return { token: issued.token, expiresAt: issued.expiresAt };
          },
          {
            trustDomain: deps.ca.trustDomain,
            bundleEndpointUrl: endpoint.url,
            profile: endpoint.profile,
            endpointSpiffeId: endpoint.spiffeId,
            bundle: marshalBundle(deps.ca.localBundle()).toString('utf8'),
            ttlSeconds,
          },
        );
        await deps.audit({
          type: 'invite.created',
          actor: c.var.actor,
          details: { bundleSha256: invite.bundleSha256, expiresAt: invite.expiresAt },
        });
        return respondJson(c, inviteSchema, invite, 201);
      },
    }),
    defineRoute({
      method: 'post',
      path: '/invites/accept',
      summary: 'Accept a partner invitation (creates a pending relationship)',
      tags: ['invites'],
      body: z
        .object({
          invite: z
            .string()
            .max(2 * 1024 * 1024)
            .describe('the invitation document, as JSON text'),
          caPem: z
            .string()
            .max(256 * 1024)
            .optional()
            .describe(
              'https_web partners on a private Web PKI: the CA for their endpoint (FED-22)',
            ),
          reason: z.string().max(500).optional(),
        })
        .strict(),
      responses: { 201: { description: 'the pending relationship', schema: accepted } },
      handler: async (c, { body }) => {
        const { input, parameters } = acceptInvite(body.invite, {
          ownTrustDomain: deps.ca.trustDomain,
          now: new Date(deps.now()),
        });
        if (body.caPem !== undefined && input.profile !== 'https_web') {
          throw validationError('caPem applies to https_web invites only');
        }
        await deps.federation.create(
          body.caPem === undefined ? input : { ...input, caPem: body.caPem },
          {
            actor: c.var.actor,
            source: 'invite',
            reason: body.reason ?? `invite with bundle sha256 ${parameters.bundleSha256}`,
          },
        );
        await deps.audit({
          type: 'invite.accepted',
          actor: c.var.actor,
          trustDomain: parameters.trustDomain,
          details: {
            url: parameters.bundleEndpointUrl,
            profile: parameters.profile,
            bundleSha256: parameters.bundleSha256,
          },
        });
        return respondJson(
          c,
          accepted,
          {
            relationship: relationshipView(await deps.federation.get(parameters.trustDomain)),
            bundleSha256: parameters.bundleSha256,
          },
          201,
        );
      },
    }),
  ];
}

function auditRoutes(deps: AdminDeps): Route[] {
  const events = z.object({ events: z.array(auditEventSchema) });
  const verified = z.object({
    ok: z.boolean(),
    checked: z.number().int(),
    brokenAt: z.object({ id: z.number().int(), reason: z.string() }).optional(),
    head: z.object({ id: z.number().int(), hash: z.string() }).optional(),
    /** The anchor asked for, present when it was checked and held. */
    anchor: z.object({ id: z.number().int(), hash: z.string() }).optional(),
    /** What the stored `audit.trimmed` events say was dropped past the audit cap. */
    trimmed: z
      .object({ trims: z.number().int(), events: z.number().int(), throughId: z.number().int() })
      .optional(),
  });
  return [
    defineRoute({
      method: 'get',
      path: '/audit',
      summary: 'Audit events, oldest first',
      tags: ['audit'],
      query: z.object({
        type: z.string().optional(),
        actor: z.string().optional(),
        trustDomain: z.string().optional(),
        since: z.iso.datetime({ offset: true }).optional(),
        until: z.iso.datetime({ offset: true }).optional(),
        limit: z.coerce.number().int().min(1).max(10_000).default(100),
        fromId: z.coerce.number().int().min(1).optional(),
        /** `newest`: newest first (fedbroker status shows the latest events). */
        order: z.enum(['oldest', 'newest']).default('oldest'),
      }),
      responses: { 200: { description: 'matching events', schema: events } },
      handler: async (c, { query: q }) =>
        respondJson(c, events, {
          events: await deps.store.listAudit({
            limit: q.limit,
            direction: q.order === 'newest' ? 'backward' : 'forward',
            ...(q.fromId === undefined ? {} : { fromId: q.fromId }),
            ...(q.type === undefined ? {} : { type: q.type }),
            ...(q.actor === undefined ? {} : { actor: q.actor }),
            ...(q.trustDomain === undefined ? {} : { trustDomain: q.trustDomain }),
            ...(q.since === undefined ? {} : { sinceMs: Date.parse(q.since) }),
            ...(q.until === undefined ? {} : { untilMs: Date.parse(q.until) }),
          }),
        }),
    }),
    defineRoute({
      method: 'get',
      path: '/audit/verify',
      summary: 'Check the hash chain of the audit log',
      tags: ['audit'],
      query: z.object({
        anchor: z
          .string()
          .regex(
            AUDIT_ANCHOR_PATTERN,
            'anchor must be ID:HASH, an event id and its sha-256 hex hash as audit verify prints the head',
          )
          .optional(),
      }),
      responses: { 200: { description: 'the check', schema: verified } },
      // Reads what is stored now (segment files, the Redis stream), not the store's memory copy.
      handler: async (c, { query: q }) =>
        respondJson(
          c,
          verified,
          await verifyStoredAudit(
            (fromId, limit) => deps.store.readStoredAudit(fromId, limit),
            q.anchor === undefined ? undefined : parseAuditAnchor(q.anchor),
          ),
        ),
    }),
  ];
}

function openApiRoute(table: RouteTable): Route {
  let document: Record<string, unknown> | undefined;
  return defineRoute({
    method: 'get',
    path: '/openapi.json',
    summary: 'This document (OpenAPI 3.1)',
    tags: ['meta'],
    responses: { 200: { description: 'the OpenAPI document', contentType: 'application/json' } },
    handler: (c) => {
      // Built on first use: every route is mounted by then.
      document ??= buildOpenApiDocument(table.routes(), {
        title: 'spiffe-federation-broker admin API',
        version: 'v1',
        description:
          'Admin listener of the federation broker. Errors are `{ "error": { "code", "message", "requestId" } }`; codes are a stable contract.',
      });
      return c.json(document);
    },
  });
}

/** The principal of a connection's verified admin X509-SVID (console sign-in), or undefined. */
function certificatePrincipal(
  peer: NonNullable<AdminDeps['adminPeer']> | undefined,
  socket: unknown,
): Principal | undefined {
  if (peer === undefined) return undefined;
  const checked = peer.check(socket);
  if (checked.kind !== 'verified') return undefined;
  const id = checked.spiffeId.toString();
  return peer.adminIds.has(id) ? principalOfPeer(peer, id) : undefined;
}

/** The web console (issue 19): sign-in failures share the API's per-address limit and aggregate. */
function consoleApp(
  deps: AdminDeps,
  access: NonNullable<AdminDeps['access']>,
  failedLogins: { limiter: FailedAuthLimiter; aggregator: FailedLoginAggregator },
): Hono {
  return createConsoleApp({
    federation: deps.federation,
    ca: deps.ca,
    store: deps.store,
    ...(deps.registration === undefined ? {} : { registration: deps.registration.registration }),
    sessions: access.sessions,
    signIn: (token) => principalOfToken({ token: deps.token, admins: access.admins }, token),
    ...(deps.adminPeer === undefined
      ? {}
      : {
          signInWithCertificate: (socket: unknown) => certificatePrincipal(deps.adminPeer, socket),
        }),
    onSignInFailure: (source) => {
      const retryMs = failedLogins.limiter.fail(source);
      failedLogins.aggregator.note(source, 'console sign-in refused', retryMs > 0);
      if (retryMs === 0) return undefined;
      const retryAfterSeconds = Math.ceil(retryMs / 1000);
      return new ApiError(
        'ERR_API_RATE_LIMITED',
        `too many failed authentications from this address: retry in ${retryAfterSeconds} s`,
        { context: { retryAfterSeconds } },
      );
    },
    audit: deps.audit,
    now: deps.now,
    tls: deps.adminPeer !== undefined,
  }) as unknown as Hono;
}

export function createAdminApp(deps: AdminDeps): Hono<AdminEnv> {
  const metrics =
    deps.metrics ??
    createBrokerMetrics({
      onCollectError: (metric, error) =>
        deps.logger.warn('metrics collector failed', { metric, error: (error as Error).message }),
    });
  registerStateCollectors(metrics, { ca: deps.ca, federation: deps.federation, now: deps.now });

  const app = new Hono<AdminEnv>();
  app.use('*', requestIdMiddleware());
  app.use('*', requestMetrics(metrics, 'admin'));
  // Pipelined requests one at a time per connection; bodies counted while they arrive, before
  // authentication or parsing (issue 15).
  app.use('*', connectionTurns());
  app.use('*', bodyLimit({ defaultMaxBytes: MAX_JSON_BODY_BYTES }));
  app.use('*', requestTargetCheck());
  app.onError(errorHandler(deps.logger));
  app.notFound(notFoundHandler);

  // Never one durable event per failed attempt: counted per address (429 past the limit) and
  // written as one aggregated event per window.
  const failedLogins = deps.failedLogins ?? {
    limiter: createFailedAuthLimiter({ now: deps.now }),
    aggregator: createFailedLoginAggregator(
      {
        record: (event: AuditEventInput) =>
          deps.audit({ type: event.type, actor: event.actor, details: { ...event.details } }),
        now: deps.now,
        onError: (error) =>
          deps.logger.error('failed-login audit event not written; kept for the next window', {
            error: (error as Error).message,
          }),
      },
      { listener: 'admin' },
    ),
  };
  const authenticate = adminAuth({
    token: deps.token,
    ...(deps.adminPeer === undefined ? {} : { peer: deps.adminPeer }),
    ...(deps.access === undefined ? {} : { admins: deps.access.admins }),
    limiter: failedLogins.limiter,
    onFailure: (reason, source, limited) => failedLogins.aggregator.note(source, reason, limited),
  });
  const table = createRouteTable();
  table.mount(app, healthRoutes(deps, metrics), { prefix: '', guard: authenticate });

  // Every /v1/admin path needs the token, including unknown ones (refused before the 404).
  const admin = new Hono<AdminEnv>();
  admin.use('*', authenticate);
  table.mount(
    admin,
    [
      ...authorityRoutes(deps),
      ...svidRoutes(deps),
      ...bundleRoutes(deps),
      ...relationshipRoutes(deps),
      ...inviteRoutes(deps),
      ...auditRoutes(deps),
      ...(deps.registration === undefined
        ? []
        : registrationRoutes({
            registration: deps.registration.registration,
            agentApiUrl: deps.registration.agentApiUrl,
            ca: deps.ca,
            audit: deps.audit,
          })),
      ...(deps.access === undefined
        ? []
        : adminRoutes({ admins: deps.access.admins, audit: deps.audit })),
      openApiRoute(table),
    ],
    { prefix: ADMIN_PREFIX, guard: 'app-wide' },
  );
  // Mount further route groups here, before app.route() copies the sub-app's routes.
  app.route(ADMIN_PREFIX, admin);
  if (deps.access !== undefined) {
    app.get('/console', (c) => c.redirect('/console/', 301));
    app.route('/console/', consoleApp(deps, deps.access, failedLogins));
  }
  return app;
}
