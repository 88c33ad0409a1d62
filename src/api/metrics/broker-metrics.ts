// The broker's own metric families (requests, partner fetches, SVIDs, store errors, audit appends)
// and the request-counting middleware every listener's app registers first.
import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import {
  createMetricsRegistry,
  type Counter,
  type Histogram,
  type MetricsRegistry,
  type RegistryOptions,
} from './registry.js';

export interface BrokerMetrics {
  readonly registry: MetricsRegistry;
  /** `api` names the listener (`admin`, `agent`); `route` is the Hono route pattern, never the raw path. */
  readonly apiRequests: Counter<'api' | 'method' | 'route' | 'status'>;
  readonly apiRequestDuration: Histogram<'api' | 'method' | 'route'>;
  /** One per partner refresh attempt this replica made (scheduler, admin or test). */
  readonly bundleFetches: Counter<'trust_domain' | 'result'>;
  readonly bundleFetchFailures: Counter<'trust_domain' | 'code'>;
  readonly svidsIssued: Counter<'kind'>;
  /** Every store call that threw, by store method and error code. */
  readonly storeErrors: Counter<'operation' | 'code'>;
  /** Audit appends from the call to the durable acknowledgement (group-commit wait included). */
  readonly auditAppendDuration: Histogram<never>;
  /**
   * Requests the listeners' apps have started and not yet answered, all listeners together (a
   * streamed answer counts until its headers are sent). Read per issuance by the CA, which moves
   * its CSR checks off the main thread while other requests are waiting for it.
   */
  requestsInFlight(): number;
  /** requestMetrics: a request of listener `api` started (+1) or was answered (-1). */
  countInFlight(api: string, by: 1 | -1): void;
}

/** Audit appends take about a millisecond on a local disk: finer buckets than requests. */
export const AUDIT_APPEND_BUCKETS_SECONDS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];

export function createBrokerMetrics(options: RegistryOptions = {}): BrokerMetrics {
  // The process, heap, GC and event-loop-lag metrics come with the broker's registry unless turned off.
  const registry = createMetricsRegistry({ defaultMetrics: true, ...options });
  /** Requests in flight per listener: plain numbers beside the prom-client families. */
  const inFlight = new Map<string, number>();
  registry.collect(
    'fedbroker_api_requests_in_flight',
    'HTTP requests started and not yet answered, by listener.',
    'gauge',
    ['api'],
    () => [...inFlight].map(([api, value]) => ({ labels: { api }, value })),
  );
  return {
    registry,
    requestsInFlight: () => {
      let total = 0;
      for (const count of inFlight.values()) total += count;
      return total;
    },
    countInFlight: (api, by) => {
      inFlight.set(api, (inFlight.get(api) ?? 0) + by);
    },
    apiRequests: registry.counter(
      'fedbroker_api_requests_total',
      'HTTP requests answered, by listener, method, route pattern and status code.',
      ['api', 'method', 'route', 'status'],
    ),
    apiRequestDuration: registry.histogram(
      'fedbroker_api_request_duration_seconds',
      'Time to answer an HTTP request, by listener, method and route pattern.',
      ['api', 'method', 'route'],
    ),
    bundleFetches: registry.counter(
      'fedbroker_bundle_fetch_total',
      'Partner bundle refresh attempts made by this replica, by partner trust domain and result (success or failure).',
      ['trust_domain', 'result'],
    ),
    bundleFetchFailures: registry.counter(
      'fedbroker_bundle_fetch_failures_total',
      'Failed partner bundle refresh attempts made by this replica, by partner trust domain and error code.',
      ['trust_domain', 'code'],
    ),
    svidsIssued: registry.counter(
      'fedbroker_svids_issued_total',
      'SVIDs signed by this replica, by kind (x509 or jwt).',
      ['kind'],
    ),
    storeErrors: registry.counter(
      'fedbroker_store_errors_total',
      'Store calls that failed, by store operation and error code.',
      ['operation', 'code'],
    ),
    auditAppendDuration: registry.histogram(
      'fedbroker_audit_append_duration_seconds',
      'Time from an audit append to its durable acknowledgement, waiting for the group commit included; requests that audit (SVID issuance, admin changes) wait this long for it.',
      [],
      AUDIT_APPEND_BUCKETS_SECONDS,
    ),
  };
}

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * The route pattern that answered (`/v1/admin/relationships/:td`), or `unmatched`. Middleware
 * (method ALL) is skipped, so a request refused by authentication still counts under its route.
 */
export function routePatternOf(c: Context): string {
  const routes = matchedRoutes(c);
  for (let i = routes.length - 1; i >= 0; i -= 1) {
    const route = routes[i];
    if (route !== undefined && route.method !== 'ALL') return route.path;
  }
  return 'unmatched';
}

/** Counts every request of an app (register it first, so refused and failed requests count too). */
export function requestMetrics(
  metrics: BrokerMetrics,
  api: string,
  clockMs: () => number = () => performance.now(),
): MiddlewareHandler {
  return async (c, next) => {
    const startedMs = clockMs();
    metrics.countInFlight(api, 1);
    try {
      await next();
    } finally {
      metrics.countInFlight(api, -1);
      const method = KNOWN_METHODS.has(c.req.method) ? c.req.method : 'OTHER';
      const route = routePatternOf(c);
      metrics.apiRequests.inc({ api, method, route, status: String(c.res.status) });
      metrics.apiRequestDuration.observe(
        { api, method, route },
        Math.max(0, clockMs() - startedMs) / 1000,
      );
    }
  };
}
