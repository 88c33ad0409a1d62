// The admin API (Hono): health, our bundle and authorities, SVID minting, relationships, audit.
// Every /v1/admin route needs the admin bearer token; /healthz and /readyz are open on the admin listener.
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { checkChain, type AuditEvent } from '../audit/index.js';
import { marshalBundle, marshalPem, parsePemCertificates } from '../bundle/index.js';
import type { AuthorityKind, AuthorityMetadata, Ca } from '../ca/index.js';
import { ApiError } from '../errors.js';
import {
  acceptInvite,
  createInvite,
  type Federation,
  type Profile,
  type RelationshipView,
} from '../federation/index.js';
import { parseTrustDomain } from '../spiffeid/index.js';
import type { Store } from '../store/index.js';
import { adminAuth } from './auth.js';
import { errorHandler, notFoundHandler, validationError } from './http-errors.js';
import { parseJsonBody, parseQuery } from './validate.js';
import { requestIdMiddleware } from './request-id.js';

export interface AdminLogger {
  info(message: string, fields?: Readonly<Record<string, unknown>>): void;
  warn(message: string, fields?: Readonly<Record<string, unknown>>): void;
  error(message: string, fields?: Readonly<Record<string, unknown>>): void;
}

export interface AdminDeps {
  readonly ca: Ca;
  readonly federation: Federation;
  readonly store: Pick<Store, 'ping' | 'listAudit' | 'getBundle' | 'listBundles'>;
  readonly audit: (event: {
    type: string;
    actor: string;
    trustDomain?: string;
    details?: Record<string, unknown>;
  }) => Promise<void>;
  readonly token: () => string;
  readonly logger: AdminLogger;
  readonly now: () => number;
  /** What invitations advertise: our public bundle endpoint URL, profile and endpoint SPIFFE ID. */
  readonly endpoint: () => { url: string; profile: Profile; spiffeId: string | null };
}

type Env = { Variables: { actor: string; requestId: string } };

const kindSchema = z.enum(['x509', 'jwt']);
const reasonSchema = z.object({ reason: z.string().max(500).optional() }).strict();

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

function authorityView(a: AuthorityMetadata): Record<string, unknown> {
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

function relationshipView(view: RelationshipView): Record<string, unknown> {
  const r = view.relationship;
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
    status: view.status,
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

export function createAdminApp(deps: AdminDeps): Hono<Env> {
  const app = new Hono<Env>();
  app.use('*', requestIdMiddleware());
  app.onError(errorHandler(deps.logger));
  app.notFound(notFoundHandler);

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
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
    const ok = Object.values(checks).every((v) => v === 'ok');
    return c.json({ status: ok ? 'ready' : 'not ready', checks }, ok ? 200 : 503);
  });

  const admin = new Hono<Env>();
  admin.use(
    '*',
    adminAuth({
      token: deps.token,
      onFailure: (reason) => {
        void deps
          .audit({ type: 'admin.login_failed', actor: 'anonymous', details: { reason } })
          .catch(() => undefined);
      },
    }),
  );

  // Our bundle and authorities.
  admin.get('/bundle', (c) => {
    const { format } = parseQuery(
      c,
      z.object({ format: z.enum(['spiffe', 'pem']).default('spiffe') }),
    );
    return ownBundleResponse(c, deps, format);
  });
  admin.get('/authorities', (c) => {
    const { kind } = parseQuery(c, z.object({ kind: kindSchema.optional() }));
    return c.json({ authorities: deps.ca.authorities(kind).map(authorityView) });
  });
  admin.post('/authorities/:kind/prepare', async (c) => {
    const kind = kindSchema.parse(c.req.param('kind')) as AuthorityKind;
    const authority = await deps.ca.prepare(kind);
    await deps.audit({
      type: 'authority.prepared',
      actor: c.var.actor,
      details: { kind, id: authority.id },
    });
    return c.json({ authority: authorityView(authority) }, 201);
  });
  for (const action of ['activate', 'taint', 'revoke'] as const) {
    admin.post(`/authorities/:kind/:id/${action}`, async (c) => {
      const kind = kindSchema.safeParse(c.req.param('kind'));
      if (!kind.success) throw validationError('kind must be x509 or jwt');
      const id = c.req.param('id');
      const body = await parseJsonBody(
        c,
        z
          .object({ force: z.boolean().optional(), reason: z.string().max(500).optional() })
          .strict(),
      );
      const authority =
        action === 'activate'
          ? await deps.ca.activate(kind.data, id, { force: body.force === true })
          : action === 'taint'
            ? await deps.ca.taint(kind.data, id)
            : await deps.ca.revoke(kind.data, id);
      const type = {
        activate: 'authority.activated',
        taint: 'authority.tainted',
        revoke: 'authority.revoked',
      }[action];
      await deps.audit({
        type,
        actor: c.var.actor,
        details: { kind: kind.data, id, force: body.force === true, reason: body.reason ?? '' },
      });
      return c.json({ authority: authorityView(authority) });
    });
  }

  // SVIDs minted by an admin (the CLI generates the key and sends a CSR; keys never travel).
  admin.post('/svids/x509', async (c) => {
    const body = await parseJsonBody(
      c,
      z
        .object({
          spiffeId: z.string().max(2048),
          csr: z.string().max(64 * 1024),
          ttlSeconds: z.number().int().positive().optional(),
          dnsNames: z.array(z.string().max(253)).max(32).optional(),
        })
        .strict(),
    );
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
    return c.json({
      spiffeId: issued.spiffeId.toString(),
      chainPem: marshalPem(issued.chainDer),
      notAfter: issued.notAfter.toISOString(),
      serial: issued.serialHex,
      bundlePem: marshalPem(deps.ca.localBundle().x509Authorities.map((a) => a.der)),
    });
  });
  admin.post('/svids/jwt', async (c) => {
    const body = await parseJsonBody(
      c,
      z
        .object({
          spiffeId: z.string().max(2048),
          audience: z.array(z.string().min(1).max(512)).min(1).max(16),
          ttlSeconds: z.number().int().positive().optional(),
        })
        .strict(),
    );
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
    return c.json({
      spiffeId: issued.spiffeId.toString(),
      token: issued.token,
      expiresAt: issued.expiresAt.toISOString(),
    });
  });

  // Partner bundles we hold.
  admin.get('/bundles', async (c) => {
    const own = deps.ca.localBundle();
    const partners = await deps.store.listBundles();
    return c.json({
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
          own: false,
          sequence: b.sequence,
          digest: b.digest,
          fetchedAt: new Date(b.fetchedAt).toISOString(),
          sourceUrl: b.sourceUrl,
          trusted: deps.federation.trustedBundles([b.trustDomain]).size > 0,
        })),
      ],
    });
  });
  admin.get('/bundles/:td', async (c) => {
    const td = c.req.param('td');
    const { format } = parseQuery(
      c,
      z.object({ format: z.enum(['spiffe', 'pem']).default('spiffe') }),
    );
    if (td === deps.ca.trustDomain.name) return ownBundleResponse(c, deps, format);
    const stored = await deps.store.getBundle(td);
    if (stored === undefined) throw new ApiError('ERR_API_NOT_FOUND', `no bundle held for "${td}"`);
    if (format === 'pem') {
      const bundle = deps.federation.trustedBundles([td]).get(parseTrustDomain(td));
      const ders =
        bundle?.x509Authorities.map((a) => a.der) ??
        (stored.raw.includes('-----BEGIN') ? parsePemCertificates(stored.raw) : []);
      return c.body(marshalPem(ders), 200, { 'content-type': 'application/x-pem-file' });
    }
    return c.body(stored.raw, 200, { 'content-type': 'application/json' });
  });
  admin.get('/bundles/:td/history', async (c) => {
    return c.json({ history: await deps.federation.history(c.req.param('td')) });
  });

  // Relationships.
  const relationshipInput = z
    .object({
      trustDomain: z.string().max(255),
      url: z.string().max(2048),
      profile: z.enum(['https_web', 'https_spiffe']),
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
  admin.post('/relationships', async (c) => {
    const { reason, ...input } = await parseJsonBody(c, relationshipInput);
    const relationship = await deps.federation.create(input, {
      actor: c.var.actor,
      ...(reason === undefined ? {} : { reason }),
    });
    return c.json(
      { relationship: relationshipView(await deps.federation.get(relationship.trustDomain)) },
      201,
    );
  });
  admin.get('/relationships', async (c) =>
    c.json({ relationships: (await deps.federation.list()).map(relationshipView) }),
  );
  admin.get('/relationships/:td', async (c) =>
    c.json({ relationship: relationshipView(await deps.federation.get(c.req.param('td'))) }),
  );
  for (const action of ['approve', 'reject', 'suspend', 'resume'] as const) {
    admin.post(`/relationships/:td/${action}`, async (c) => {
      const { reason } = await parseJsonBody(c, reasonSchema);
      const td = c.req.param('td');
      await deps.federation.transition(td, action, {
        actor: c.var.actor,
        ...(reason === undefined ? {} : { reason }),
      });
      return c.json({ relationship: relationshipView(await deps.federation.get(td)) });
    });
  }
  admin.delete('/relationships/:td', async (c) => {
    await deps.federation.delete(c.req.param('td'), { actor: c.var.actor });
    return c.body(null, 204);
  });
  admin.post('/relationships/:td/refresh', async (c) => {
    const outcome = await deps.federation.refresh(c.req.param('td'), { actor: c.var.actor });
    return c.json({
      ok: outcome.ok,
      outcome: outcome.update?.outcome ?? null,
      sequence: outcome.update?.stored.sequence ?? null,
      error: outcome.error ?? null,
      fetch: outcome.log,
    });
  });
  admin.put('/relationships/:td/bundle', async (c) => {
    const body = await parseJsonBody(
      c,
      z
        .object({ bundle: z.string().max(1024 * 1024), reason: z.string().max(500).optional() })
        .strict(),
    );
    const update = await deps.federation.forceBundle(c.req.param('td'), body.bundle, {
      actor: c.var.actor,
      ...(body.reason === undefined ? {} : { reason: body.reason }),
    });
    return c.json({
      outcome: update.outcome,
      sequence: update.stored.sequence,
      digest: update.stored.digest,
    });
  });

  // Invitations: ours to hand out, and partners' to accept (a pending relationship results).
  admin.post('/invites', async (c) => {
    const body = await parseJsonBody(
      c,
      z.object({ ttlSeconds: z.number().int().positive().optional() }).strict(),
    );
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
    return c.json(invite, 201);
  });
  admin.post('/invites/accept', async (c) => {
    const body = await parseJsonBody(
      c,
      z
        .object({
          invite: z.string().max(2 * 1024 * 1024),
          /** https_web partners on a private Web PKI: the CA to trust for their endpoint (FED-22). */
          caPem: z
            .string()
            .max(256 * 1024)
            .optional(),
          reason: z.string().max(500).optional(),
        })
        .strict(),
    );
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
    return c.json(
      {
        relationship: relationshipView(await deps.federation.get(parameters.trustDomain)),
        bundleSha256: parameters.bundleSha256,
      },
      201,
    );
  });

  // Audit.
  admin.get('/audit', async (c) => {
    const q = parseQuery(
      c,
      z.object({
        type: z.string().optional(),
        actor: z.string().optional(),
        trustDomain: z.string().optional(),
        since: z.iso.datetime({ offset: true }).optional(),
        until: z.iso.datetime({ offset: true }).optional(),
        limit: z.coerce.number().int().min(1).max(10_000).default(100),
        fromId: z.coerce.number().int().min(1).optional(),
      }),
    );
    const events = await deps.store.listAudit({
      limit: q.limit,
      ...(q.fromId === undefined ? {} : { fromId: q.fromId }),
      ...(q.type === undefined ? {} : { type: q.type }),
      ...(q.actor === undefined ? {} : { actor: q.actor }),
      ...(q.trustDomain === undefined ? {} : { trustDomain: q.trustDomain }),
      ...(q.since === undefined ? {} : { sinceMs: Date.parse(q.since) }),
      ...(q.until === undefined ? {} : { untilMs: Date.parse(q.until) }),
    });
    return c.json({ events });
  });
  admin.get('/audit/verify', async (c) => {
    const events: AuditEvent[] = [];
    let fromId = 1;
    for (;;) {
      const page = await deps.store.listAudit({ fromId, limit: 10_000 });
      events.push(...page);
      if (page.length < 10_000) break;
      fromId = (page.at(-1)?.id ?? fromId) + 1;
    }
    // A trimmed log starts after id 1: check from its first event's own previousHash.
    const result = checkChain(events, events[0]?.previousHash ?? null);
    return c.json(result);
  });

  app.route('/v1/admin', admin);
  return app;
}
