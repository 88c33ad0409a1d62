// The hand-written registry the broker used before prom-client (src/api/metrics.ts at 2122c62), cut
// to the counter and histogram that hot paths update: the baseline bench/metrics.ts measures against.
import type { MetricsRegistry } from '../src/api/metrics.js';

export type BaselineRegistry = Pick<MetricsRegistry, 'counter' | 'histogram'>;

const DEFAULT_DURATION_BUCKETS_SECONDS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

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

export function createBaselineRegistry(): BaselineRegistry {
  return {
    counter(name, _help, labelNames) {
      const series = new Map<string, { pairs: [string, string][]; value: number }>();
      const pairsOf = (labels: Readonly<Record<string, string>>): [string, string][] =>
        labelPairs(name, labelNames, labels);
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

    histogram(name, _help, labelNames, buckets = DEFAULT_DURATION_BUCKETS_SECONDS) {
      const bounds = [...buckets].sort((a, b) => a - b);
      const series = new Map<
        string,
        { pairs: [string, string][]; counts: number[]; sum: number; count: number }
      >();
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
  };
}
