// Prometheus metrics without a dependency: a small text-exposition (0.0.4) registry, the broker's
// metric families, scrape-time collectors over CA and federation state, and counting wrappers.
import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import {
  AUTHORITY_KINDS,
  AUTHORITY_STATES,
  PUBLISHED_STATES,
  type AuthorityMetadata,
  type Ca,
} from '../ca/index.js';
import { isBrokerError } from '../errors.js';
import type { Federation, FederationDeps, RelationshipView } from '../federation/index.js';

/** What `GET /metrics` answers with (Prometheus text exposition format 0.0.4). */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type MetricType = 'counter' | 'gauge' | 'histogram';

/** One sample of a collected family: a value for one label set. */
export interface Sample<L extends string = string> {
  readonly labels: Readonly<Record<L, string>>;
  readonly value: number;
}

/** Shared by the collectors of one scrape, so one store read serves several families. */
export interface Scrape {
  once<T>(key: string, compute: () => Promise<T>): Promise<T>;
}

export interface Counter<L extends string> {
  inc(labels: Readonly<Record<L, string>>, by?: number): void;
}

export interface Gauge<L extends string> {
  set(labels: Readonly<Record<L, string>>, value: number): void;
}

export interface Histogram<L extends string> {
  observe(labels: Readonly<Record<L, string>>, value: number): void;
}

export interface MetricsRegistry {
  counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L>;
  gauge<L extends string>(name: string, help: string, labelNames: readonly L[]): Gauge<L>;
  histogram<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    buckets?: readonly number[],
  ): Histogram<L>;
  /** A family whose samples are computed when scraped (state read from its source, never cached). */
  collect<L extends string>(
    name: string,
    help: string,
    type: 'counter' | 'gauge',
    labelNames: readonly L[],
    collector: (scrape: Scrape) => readonly Sample<L>[] | Promise<readonly Sample<L>[]>,
  ): void;
  /** The whole exposition; a failing collector leaves its family without samples. */
  render(): Promise<string>;
}

export interface RegistryOptions {
  readonly onCollectError?: (name: string, error: unknown) => void;
}

export const DEFAULT_DURATION_BUCKETS_SECONDS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Label values: backslash, double quote and line feed are escaped (exposition format). */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text: backslash and line feed are escaped (exposition format). */
export function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

export function formatSampleValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

interface RenderedSample {
  readonly suffix: string;
  readonly labels: readonly (readonly [string, string])[];
  readonly value: number;
}

interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  samples(scrape: Scrape): readonly RenderedSample[] | Promise<readonly RenderedSample[]>;
}

function labelPairs(
  family: string,
  labelNames: readonly string[],
  labels: Readonly<Record<string, string>>,
): [string, string][] {
  const keys = Object.keys(labels);
  if (keys.length !== labelNames.length || keys.some((k) => !labelNames.includes(k))) {
    throw new TypeError(
      `${family} takes labels [${labelNames.join(', ')}], got [${keys.join(', ')}]`,
    );
  }
  return labelNames.map((name) => {
    const value = labels[name];
    if (typeof value !== 'string') throw new TypeError(`${family}: label ${name} must be a string`);
    return [name, value];
  });
}

function seriesKey(pairs: readonly (readonly [string, string])[]): string {
  return JSON.stringify(pairs.map(([, value]) => value));
}

function renderLabels(pairs: readonly (readonly [string, string])[]): string {
  if (pairs.length === 0) return '';
  return `{${pairs.map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(',')}}`;
}

export function createMetricsRegistry(options: RegistryOptions = {}): MetricsRegistry {
  const families: Family[] = [];

  const register = (family: Family, labelNames: readonly string[]): void => {
    if (!METRIC_NAME.test(family.name)) throw new TypeError(`bad metric name "${family.name}"`);
    for (const label of labelNames) {
      if (!LABEL_NAME.test(label) || label.startsWith('__') || label === 'le') {
        throw new TypeError(`bad label name "${label}" on ${family.name}`);
      }
    }
    if (new Set(labelNames).size !== labelNames.length) {
      throw new TypeError(`duplicate label name on ${family.name}`);
    }
    if (families.some((f) => f.name === family.name)) {
      throw new TypeError(`metric ${family.name} is already registered`);
    }
    families.push(family);
  };

  const valueFamily = <L extends string>(
    name: string,
    help: string,
    type: 'counter' | 'gauge',
    labelNames: readonly L[],
  ): {
    series: Map<string, { pairs: [string, string][]; value: number }>;
    pairsOf: (labels: Readonly<Record<L, string>>) => [string, string][];
  } => {
    const series = new Map<string, { pairs: [string, string][]; value: number }>();
    register(
      {
        name,
        help,
        type,
        samples: () =>
          [...series.values()].map((s) => ({ suffix: '', labels: s.pairs, value: s.value })),
      },
      labelNames,
    );
    return { series, pairsOf: (labels) => labelPairs(name, labelNames, labels) };
  };

  return {
    counter(name, help, labelNames) {
      const { series, pairsOf } = valueFamily(name, help, 'counter', labelNames);
      return {
        inc(labels, by = 1) {
          if (!Number.isFinite(by) || by < 0) {
            throw new TypeError(`${name}: a counter only goes up by a finite amount`);
          }
          const pairs = pairsOf(labels);
          const key = seriesKey(pairs);
          const current = series.get(key);
          if (current === undefined) series.set(key, { pairs, value: by });
          else current.value += by;
        },
      };
    },

    gauge(name, help, labelNames) {
      const { series, pairsOf } = valueFamily(name, help, 'gauge', labelNames);
      return {
        set(labels, value) {
          const pairs = pairsOf(labels);
          series.set(seriesKey(pairs), { pairs, value });
        },
      };
    },

    histogram(name, help, labelNames, buckets = DEFAULT_DURATION_BUCKETS_SECONDS) {
      const bounds = [...buckets].sort((a, b) => a - b);
      if (bounds.length === 0 || bounds.some((b) => !Number.isFinite(b))) {
        throw new TypeError(`${name}: buckets must be finite numbers`);
      }
      const series = new Map<
        string,
        { pairs: [string, string][]; counts: number[]; sum: number; count: number }
      >();
      register(
        {
          name,
          help,
          type: 'histogram',
          samples: () =>
            [...series.values()].flatMap((s) => [
              ...bounds.map((bound, i) => ({
                suffix: '_bucket',
                labels: [...s.pairs, ['le', formatSampleValue(bound)] as const],
                value: s.counts[i] ?? 0,
              })),
              { suffix: '_bucket', labels: [...s.pairs, ['le', '+Inf'] as const], value: s.count },
              { suffix: '_sum', labels: s.pairs, value: s.sum },
              { suffix: '_count', labels: s.pairs, value: s.count },
            ]),
        },
        labelNames,
      );
      return {
        observe(labels, value) {
          const pairs = labelPairs(name, labelNames, labels);
          const key = seriesKey(pairs);
          let s = series.get(key);
          if (s === undefined) {
            s = { pairs, counts: bounds.map(() => 0), sum: 0, count: 0 };
            series.set(key, s);
          }
          // Buckets are cumulative: every bucket whose bound is at least the value counts it.
          bounds.forEach((bound, i) => {
            if (value <= bound && s.counts[i] !== undefined) s.counts[i] += 1;
          });
          s.sum += value;
          s.count += 1;
        },
      };
    },

    collect(name, help, type, labelNames, collector) {
      register(
        {
          name,
          help,
          type,
          samples: async (scrape) => {
            const seen = new Set<string>();
            const out: RenderedSample[] = [];
            for (const sample of await collector(scrape)) {
              const pairs = labelPairs(name, labelNames, sample.labels);
              const key = seriesKey(pairs);
              if (seen.has(key)) continue; // one sample per label set, or the exposition is invalid
              seen.add(key);
              out.push({ suffix: '', labels: pairs, value: sample.value });
            }
            return out;
          },
        },
        labelNames,
      );
    },

    async render() {
      const memo = new Map<string, Promise<unknown>>();
      const scrape: Scrape = {
        once<T>(key: string, compute: () => Promise<T>): Promise<T> {
          let pending = memo.get(key) as Promise<T> | undefined;
          if (pending === undefined) {
            pending = compute();
            memo.set(key, pending);
          }
          return pending;
        },
      };
      const rendered = await Promise.all(
        families.map(async (family) => {
          let samples: readonly RenderedSample[] = [];
          try {
            samples = await family.samples(scrape);
          } catch (error) {
            options.onCollectError?.(family.name, error);
          }
          return [
            `# HELP ${family.name} ${escapeHelp(family.help)}`,
            `# TYPE ${family.name} ${family.type}`,
            ...samples.map(
              (s) =>
                `${family.name}${s.suffix}${renderLabels(s.labels)} ${formatSampleValue(s.value)}`,
            ),
          ].join('\n');
        }),
      );
      return `${rendered.join('\n')}\n`;
    },
  };
}

// ---- the broker's metrics ------------------------------------------------------------------

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
}

/** Audit appends take about a millisecond on a local disk: finer buckets than requests. */
export const AUDIT_APPEND_BUCKETS_SECONDS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];

export function createBrokerMetrics(options: RegistryOptions = {}): BrokerMetrics {
  const registry = createMetricsRegistry(options);
  return {
    registry,
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
    try {
      await next();
    } finally {
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

// ---- scrape-time state ---------------------------------------------------------------------

export interface StateSources {
  readonly ca: Pick<Ca, 'authorities' | 'localBundle'>;
  readonly federation: Pick<Federation, 'list'>;
  readonly now: () => number;
}

function earliest(authorities: readonly AuthorityMetadata[]): number | undefined {
  const times = authorities.map((a) => a.notAfter.getTime());
  return times.length === 0 ? undefined : Math.min(...times);
}

/** Gauges read from the CA and the federation status when scraped. Register once per registry. */
export function registerStateCollectors(metrics: BrokerMetrics, sources: StateSources): void {
  const { registry } = metrics;
  const relationships = (scrape: Scrape): Promise<RelationshipView[]> =>
    scrape.once('relationships', () => sources.federation.list());
  const perPartner = (
    name: string,
    help: string,
    value: (view: RelationshipView) => number | null,
  ): void =>
    registry.collect(name, help, 'gauge', ['trust_domain'], async (scrape) =>
      (await relationships(scrape)).flatMap((view) => {
        const v = value(view);
        return v === null
          ? []
          : [{ labels: { trust_domain: view.relationship.trustDomain }, value: v }];
      }),
    );

  registry.collect(
    'fedbroker_partner_relationship_state',
    'Federation relationships: 1 for the current state of each partner trust domain.',
    'gauge',
    ['trust_domain', 'state'],
    async (scrape) =>
      (await relationships(scrape)).map((view) => ({
        labels: { trust_domain: view.relationship.trustDomain, state: view.relationship.state },
        value: 1,
      })),
  );
  perPartner(
    'fedbroker_partner_bundle_age_seconds',
    'Seconds since the partner bundle was last fetched and confirmed (any replica); absent before the first success.',
    (view) =>
      view.status.lastSuccessAtMs === null
        ? null
        : Math.max(0, (sources.now() - view.status.lastSuccessAtMs) / 1000),
  );
  perPartner(
    'fedbroker_partner_bundle_sequence',
    'spiffe_sequence of the partner bundle held (precision is lost above 2^53).',
    (view) => (view.status.sequence === null ? null : Number(view.status.sequence)),
  );
  perPartner(
    'fedbroker_partner_bundle_stale',
    '1 when the partner bundle is stale by the refresh policy (FED-42), else 0.',
    (view) => (view.status.stale ? 1 : 0),
  );
  perPartner(
    'fedbroker_partner_refresh_consecutive_failures',
    'Refresh failures since the last success, across replicas.',
    (view) => view.status.consecutiveFailures,
  );
  perPartner(
    'fedbroker_partner_authority_earliest_expiry_timestamp_seconds',
    'Earliest notAfter (unix seconds) among the X.509 authorities of the partner bundle held.',
    (view) =>
      view.status.earliestAuthorityExpiryMs === null
        ? null
        : view.status.earliestAuthorityExpiryMs / 1000,
  );

  registry.collect(
    'fedbroker_ca_authorities',
    'Authorities of our CA, by kind and state.',
    'gauge',
    ['kind', 'state'],
    () => {
      const all = sources.ca.authorities();
      return AUTHORITY_KINDS.flatMap((kind) =>
        AUTHORITY_STATES.map((state) => ({
          labels: { kind, state },
          value: all.filter((a) => a.kind === kind && a.state === state).length,
        })),
      );
    },
  );
  registry.collect(
    'fedbroker_ca_earliest_authority_expiry_timestamp_seconds',
    'Earliest notAfter (unix seconds) among our unexpired published authorities, by kind.',
    'gauge',
    ['kind'],
    () => {
      const nowMs = sources.now();
      return AUTHORITY_KINDS.flatMap((kind) => {
        const at = earliest(
          sources.ca
            .authorities(kind)
            .filter((a) => PUBLISHED_STATES.has(a.state) && a.notAfter.getTime() > nowMs),
        );
        return at === undefined ? [] : [{ labels: { kind }, value: at / 1000 }];
      });
    },
  );
  registry.collect(
    'fedbroker_ca_active_authority_expiry_timestamp_seconds',
    'notAfter (unix seconds) of the active authority of our CA, by kind.',
    'gauge',
    ['kind'],
    () =>
      AUTHORITY_KINDS.flatMap((kind) => {
        const at = earliest(sources.ca.authorities(kind).filter((a) => a.state === 'active'));
        return at === undefined ? [] : [{ labels: { kind }, value: at / 1000 }];
      }),
  );
  registry.collect(
    'fedbroker_local_bundle_sequence',
    'spiffe_sequence of the bundle we publish.',
    'gauge',
    [],
    () => {
      const sequence = sources.ca.localBundle().sequence;
      return sequence === undefined ? [] : [{ labels: {}, value: Number(sequence) }];
    },
  );
}

// ---- counting wrappers (wired in main.ts; the wrapped rooms stay free of metrics) ------------

/** Counts refresh attempts by result. Refreshes the service starts itself (unknown key) are not seen. */
export function countBundleFetches(
  metrics: BrokerMetrics,
): NonNullable<FederationDeps['onRefreshed']> {
  return (trustDomain, outcome) => {
    metrics.bundleFetches.inc({
      trust_domain: trustDomain,
      result: outcome.ok ? 'success' : 'failure',
    });
    if (!outcome.ok) {
      metrics.bundleFetchFailures.inc({
        trust_domain: trustDomain,
        code: outcome.error?.code ?? 'unknown',
      });
    }
  };
}

/** Counts SVIDs signed, whoever asks (admin API, agent API, the bundle endpoint's own SVID). */
export function instrumentCa(ca: Ca, metrics: BrokerMetrics): Ca {
  return {
    ...ca,
    async issueX509Svid(request) {
      const issued = await ca.issueX509Svid(request);
      metrics.svidsIssued.inc({ kind: 'x509' });
      return issued;
    },
    async issueJwtSvid(request) {
      const issued = await ca.issueJwtSvid(request);
      metrics.svidsIssued.inc({ kind: 'jwt' });
      return issued;
    },
    async issueOwnSvid(spiffeId, ttlSeconds) {
      const issued = await ca.issueOwnSvid(spiffeId, ttlSeconds);
      metrics.svidsIssued.inc({ kind: 'x509' });
      return issued;
    },
  };
}

/**
 * Counts every failing call of a store (a plain object of methods), by method name and error code,
 * and times audit appends (the durable write every audited request waits for).
 */
export function instrumentStore<S extends object>(store: S, metrics: BrokerMetrics): S {
  const count = (operation: string, error: unknown): void => {
    metrics.storeErrors.inc({ operation, code: isBrokerError(error) ? error.code : 'unknown' });
  };
  const wrapped: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(store)) {
    if (typeof value !== 'function') {
      wrapped[key] = value;
      continue;
    }
    const method = value as (...args: unknown[]) => unknown;
    const timed = key === 'appendAudit';
    wrapped[key] = (...args: unknown[]): unknown => {
      const startedMs = timed ? performance.now() : 0;
      let result: unknown;
      try {
        result = method.apply(store, args);
      } catch (error) {
        count(key, error);
        throw error;
      }
      if (result instanceof Promise) {
        return result.then(
          (value: unknown) => {
            if (timed) {
              metrics.auditAppendDuration.observe({}, (performance.now() - startedMs) / 1000);
            }
            return value;
          },
          (error: unknown) => {
            count(key, error);
            throw error;
          },
        );
      }
      return result;
    };
  }
  return wrapped as S;
}
