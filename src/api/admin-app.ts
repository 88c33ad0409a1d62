// The admin listener (Hono): the shared middleware (request id, metrics, connection turns, body
// limits, request target, one onError), admin authentication, and one sub-app per resource
// (src/api/admin/*.ts) mounted with app.route(). Routes are declared once (routes.ts) so validation
// and the OpenAPI document read the same schemas.
import { Hono, type MiddlewareHandler } from 'hono';
import { createFailedLoginAggregator, type AuditEventInput } from '../audit/index.js';
import { adminAuth } from './auth.js';
import { createFailedAuthLimiter, type FailedAuthLimiter } from './auth-limit.js';
import { bodyLimit } from './body-limit.js';
import { connectionTurns } from './connection-turns.js';
import { errorHandler, notFoundHandler } from './http-errors.js';
import { createBrokerMetrics, registerStateCollectors, requestMetrics } from './metrics.js';
import { recordAdminRequest } from './request-audit.js';
import { requestIdMiddleware } from './request-id.js';
import { ADMIN_PREFIX, createRouteTable, type AdminEnv, type RouteTable } from './routes.js';
import { MAX_JSON_BODY_BYTES, requestTargetCheck } from './validate.js';
import { createAdminsApp } from './admin/admins.js';
import { createAuditApp } from './admin/audit.js';
import { createAuthoritiesApp } from './admin/authorities.js';
import { createBundlesApp } from './admin/bundles.js';
import { createAdminConsoleApp } from './admin/console.js';
import type { AdminDeps } from './admin/deps.js';
import { createEntriesApp } from './admin/entries.js';
import { createHealthApp } from './admin/health.js';
import { createInvitesApp } from './admin/invites.js';
import { createMetaApp } from './admin/meta.js';
import { createRelationshipsApp } from './admin/relationships.js';
import { createSvidsApp } from './admin/svids.js';
import { createTokensApp } from './admin/tokens.js';
import type { FailedLoginAggregator } from '../audit/index.js';

export type { AdminDeps, AdminLogger } from './admin/deps.js';
export { ADMIN_PREFIX } from './routes.js';

type FailedLogins = { limiter: FailedAuthLimiter; aggregator: FailedLoginAggregator };

/**
 * Never one durable event per failed attempt: counted per address (429 past the limit) and written
 * as one aggregated event per window.
 */
function defaultFailedLogins(deps: AdminDeps): FailedLogins {
  return {
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
}

/**
 * Everything under /v1/admin: the admin token on every path, unknown ones included (refused before
 * the 404), each change recorded (`admin.requested`) before its handler runs, then the resources in
 * the order the OpenAPI document lists them.
 */
function createV1AdminApp(
  deps: AdminDeps,
  table: RouteTable,
  authenticate: MiddlewareHandler<AdminEnv>,
): Hono<AdminEnv> {
  const admin = new Hono<AdminEnv>();
  admin.use('*', authenticate);
  admin.use('*', recordAdminRequest({ audit: deps.audit, actorOf: (c) => c.var.actor }));
  admin.route('/', createAuthoritiesApp(deps, table));
  admin.route('/', createSvidsApp(deps, table));
  admin.route('/', createBundlesApp(deps, table));
  admin.route('/', createRelationshipsApp(deps, table));
  admin.route('/', createInvitesApp(deps, table));
  admin.route('/', createAuditApp(deps, table));
  if (deps.registration !== undefined) {
    const registration = { ...deps.registration, ca: deps.ca, audit: deps.audit };
    admin.route('/', createEntriesApp(registration, table));
    admin.route('/', createTokensApp(registration, table));
  }
  if (deps.access !== undefined) {
    admin.route('/', createAdminsApp({ admins: deps.access.admins, audit: deps.audit }, table));
  }
  // Last: the document lists every route mounted before it is first served.
  admin.route('/', createMetaApp(table));
  return admin;
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

  const failedLogins = deps.failedLogins ?? defaultFailedLogins(deps);
  const authenticate = adminAuth({
    token: deps.token,
    ...(deps.adminPeer === undefined ? {} : { peer: deps.adminPeer }),
    ...(deps.access === undefined ? {} : { admins: deps.access.admins }),
    limiter: failedLogins.limiter,
    onFailure: (reason, source, limited) => failedLogins.aggregator.note(source, reason, limited),
  });
  const table = createRouteTable();
  app.route('/', createHealthApp(deps, metrics, table, authenticate));
  app.route(ADMIN_PREFIX, createV1AdminApp(deps, table, authenticate));
  if (deps.access !== undefined) {
    app.get('/console', (c) => c.redirect('/console/', 301));
    app.route('/console/', createAdminConsoleApp(deps, deps.access, failedLogins));
  }
  return app;
}
