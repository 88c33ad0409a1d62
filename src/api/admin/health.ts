// Health resource of the admin listener: liveness, readiness (the broker's, and whether partners can
// trust the bundle endpoint and agent API yet) and the Prometheus metrics, outside /v1/admin.
import type { Hono, MiddlewareHandler } from 'hono';
import type { EndpointTrust } from '../../ca/index.js';
import { PROMETHEUS_CONTENT_TYPE, type BrokerMetrics } from '../metrics.js';
import {
  createResourceApp,
  defineRoute,
  respondJson,
  type AdminEnv,
  type Route,
  type RouteTable,
} from '../routes.js';
import type { AdminDeps } from './deps.js';
import { statusSchemas } from './responses.js';

export type HealthDeps = Pick<
  AdminDeps,
  'store' | 'ca' | 'bundleEndpointState' | 'bundleEndpointTrust' | 'agentApiTrust'
>;

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
function partnerReadyRoutes(deps: HealthDeps): Route[] {
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

function readyRoute(deps: HealthDeps): Route {
  return defineRoute({
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
  });
}

/**
 * The health sub-app, served at the listener's root: open probes, and /metrics behind `authenticate`
 * (the admin token, like the rest of the admin API).
 */
export function createHealthApp(
  deps: HealthDeps,
  metrics: BrokerMetrics,
  table: RouteTable,
  authenticate: MiddlewareHandler<AdminEnv>,
): Hono<AdminEnv> {
  const routes = [
    defineRoute({
      method: 'get',
      path: '/healthz',
      summary: 'Liveness: the process answers',
      tags: ['health'],
      auth: 'none',
      responses: { 200: { description: 'alive', schema: statusSchemas.health } },
      handler: (c) => respondJson(c, statusSchemas.health, { status: 'ok' }),
    }),
    readyRoute(deps),
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
  return createResourceApp(table, routes, { prefix: '', guard: authenticate });
}
