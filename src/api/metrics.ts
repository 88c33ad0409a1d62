// Prometheus metrics of the api room, entered here: the registry on prom-client (metrics/registry.ts),
// the broker's families and request middleware, scrape-time state gauges, and counting wrappers.
export {
  DEFAULT_DURATION_BUCKETS_SECONDS,
  PROMETHEUS_CONTENT_TYPE,
  createMetricsRegistry,
  escapeHelp,
  escapeLabelValue,
} from './metrics/registry.js';
export type {
  Counter,
  Gauge,
  Histogram,
  MetricType,
  MetricsRegistry,
  RegistryOptions,
  Sample,
  Scrape,
} from './metrics/registry.js';
export {
  AUDIT_APPEND_BUCKETS_SECONDS,
  createBrokerMetrics,
  requestMetrics,
  routePatternOf,
} from './metrics/broker-metrics.js';
export type { BrokerMetrics } from './metrics/broker-metrics.js';
export { registerStateCollectors } from './metrics/state-collectors.js';
export type { StateSources } from './metrics/state-collectors.js';
export { countBundleFetches, instrumentCa, instrumentStore } from './metrics/instrument.js';
