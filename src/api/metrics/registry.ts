// The broker's Prometheus registry on prom-client: typed counters, gauges and histograms, families
// computed at scrape time (one store read shared by a scrape), and the text exposition (0.0.4).
// Caller mistakes throw TypeError before prom-client sees them; a failing collector empties its family.
import {
  Counter as PromCounter,
  Gauge as PromGauge,
  Histogram as PromHistogram,
  Registry,
  collectDefaultMetrics,
} from 'prom-client';

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
  /**
   * Adds prom-client's default process, heap, GC and event-loop-lag metrics, under their usual
   * unprefixed names (`process_cpu_seconds_total`, `nodejs_eventloop_lag_seconds`, ...) so stock
   * Node.js dashboards read them. Off for a bare registry; on for the broker's.
   */
  readonly defaultMetrics?: boolean;
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

/**
 * A label set must name exactly the family's labels, each a string (prom-client itself accepts a
 * subset and numbers). Counting keys with for-in allocates nothing on the request path.
 */
function checkLabels(
  family: string,
  labelNames: readonly string[],
  labels: Readonly<Record<string, unknown>>,
): void {
  let count = 0;
  for (const key in labels) {
    count += 1;
    if (!labelNames.includes(key) || typeof labels[key] !== 'string') {
      throw new TypeError(`${family} takes string labels [${labelNames.join(', ')}], got ${key}`);
    }
  }
  if (count !== labelNames.length) {
    throw new TypeError(`${family} takes labels [${labelNames.join(', ')}], got ${count}`);
  }
}

/** One label set per sample, first one wins (a repeated series would make the exposition invalid). */
function distinctSamples<L extends string>(
  family: string,
  labelNames: readonly L[],
  samples: readonly Sample<L>[],
): Sample<L>[] {
  const seen = new Set<string>();
  return samples.filter((sample) => {
    checkLabels(family, labelNames, sample.labels);
    const key = JSON.stringify(labelNames.map((name) => sample.labels[name]));
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function createScrape(): Scrape {
  const memo = new Map<string, Promise<unknown>>();
  return {
    once<T>(key: string, compute: () => Promise<T>): Promise<T> {
      let pending = memo.get(key) as Promise<T> | undefined;
      if (pending === undefined) {
        pending = compute();
        memo.set(key, pending);
      }
      return pending;
    },
  };
}

/**
 * Our exposition as before prom-client: families one after another without the blank line it puts
 * between them (HELP text and label values escape line feeds, so only separators are blank), and
 * NaN spelled as the format spells it (prom-client writes `Nan`).
 */
function tidyExposition(text: string): string {
  return text.replace(/\n\n/g, '\n').replace(/^([^#\n][^\n]*) Nan$/gm, '$1 NaN');
}

let processRegistry: Registry | undefined;

/**
 * The default metrics describe the process, so one registry holds them for every broker registry in
 * it: its GC observer and event-loop-delay monitor are made once, not once per broker (tests start many).
 */
function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export function createMetricsRegistry(options: RegistryOptions = {}): MetricsRegistry {
  const registry = new Registry();
  const processWide = options.defaultMetrics === true ? processMetrics() : undefined;
  const names = new Set<string>();
  /** The scrape under way; renders take turns, so collectors always see their own. */
  let current: Scrape = createScrape();
  let turn: Promise<unknown> = Promise.resolve();

  const register = (
    name: string,
    help: string,
    labelNames: readonly string[],
  ): { name: string; help: string; labelNames: string[]; registers: Registry[] } => {
    if (!METRIC_NAME.test(name)) throw new TypeError(`bad metric name "${name}"`);
    for (const label of labelNames) {
      if (!LABEL_NAME.test(label) || label.startsWith('__') || label === 'le') {
        throw new TypeError(`bad label name "${label}" on ${name}`);
      }
    }
    if (new Set(labelNames).size !== labelNames.length) {
      throw new TypeError(`duplicate label name on ${name}`);
    }
    if (names.has(name) || processWide?.getSingleMetric(name) !== undefined) {
      throw new TypeError(`metric ${name} is already registered`);
    }
    names.add(name);
    // Each family registers with our registry only (prom-client's default is its global one).
    return { name, help, labelNames: [...labelNames], registers: [registry] };
  };

  return {
    counter(name, help, labelNames) {
      const counter = new PromCounter(register(name, help, labelNames));
      return {
        inc(labels, by = 1) {
          if (!(by >= 0) || by === Infinity) {
            throw new TypeError(`${name}: a counter only goes up by a finite amount`);
          }
          checkLabels(name, labelNames, labels);
          counter.inc(labels, by);
        },
      };
    },

    gauge(name, help, labelNames) {
      const gauge = new PromGauge(register(name, help, labelNames));
      return {
        set(labels, value) {
          checkLabels(name, labelNames, labels);
          gauge.set(labels, value);
        },
      };
    },

    histogram(name, help, labelNames, buckets = DEFAULT_DURATION_BUCKETS_SECONDS) {
      const bounds = [...buckets].sort((a, b) => a - b);
      if (bounds.length === 0 || bounds.some((b) => !Number.isFinite(b))) {
        throw new TypeError(`${name}: buckets must be finite numbers`);
      }
      const histogram = new PromHistogram({ ...register(name, help, labelNames), buckets: bounds });
      return {
        observe(labels, value) {
          checkLabels(name, labelNames, labels);
          histogram.observe(labels, value);
        },
      };
    },

    collect(name, help, type, labelNames, collector) {
      const config = register(name, help, labelNames);
      const fill = async (metric: PromGauge | PromCounter): Promise<void> => {
        let samples: Sample[] = [];
        try {
          samples = distinctSamples(name, labelNames, await collector(current));
        } catch (error) {
          options.onCollectError?.(name, error);
        }
        metric.reset();
        // A family without labels starts at 0 in prom-client; an empty collection has no sample.
        if (labelNames.length === 0) metric.remove({});
        for (const sample of samples) {
          if (metric instanceof PromGauge) metric.set(sample.labels, sample.value);
          else if (sample.value >= 0 && sample.value !== Infinity) {
            metric.inc(sample.labels, sample.value);
          }
        }
      };
      const metric: PromGauge | PromCounter =
        type === 'gauge'
          ? new PromGauge({ ...config, collect: () => fill(metric) })
          : new PromCounter({ ...config, collect: () => fill(metric) });
    },

    render() {
      const rendered = turn.then(async () => {
        current = createScrape();
        const [ours, theProcess] = await Promise.all([registry.metrics(), processWide?.metrics()]);
        return tidyExposition(theProcess === undefined ? ours : `${theProcess}${ours}`);
      });
      turn = rendered.catch(() => undefined);
      return rendered;
    },
  };
}
