// The metrics registry on prom-client: exposition escaping, histograms, collectors that fail or
// report nothing, overlapping scrapes, caller mistakes (TypeError), and the process-wide defaults.
import { describe, expect, it } from 'vitest';
import { parseExposition, sampleValue } from '../../../test/helpers/prometheus.js';
import { createBrokerMetrics } from './broker-metrics.js';
import { createMetricsRegistry, escapeLabelValue, type Scrape } from './registry.js';

describe('metrics registry', () => {
  it('escapes label values and HELP text per the exposition format, and reads back', async () => {
    const registry = createMetricsRegistry();
    const counter = registry.counter('t_total', 'help with \\ backslash\nand a line feed', ['v']);
    const nasty = 'quote " backslash \\ newline \n end';
    counter.inc({ v: nasty }, 2);
    expect(escapeLabelValue(nasty)).toBe('quote \\" backslash \\\\ newline \\n end');
    const text = await registry.render();
    expect(text).toContain('# HELP t_total help with \\\\ backslash\\nand a line feed\n');
    expect(text).toContain(`t_total{v="quote \\" backslash \\\\ newline \\n end"} 2\n`);
    const parsed = parseExposition(text);
    expect(parsed.get('t_total')?.samples[0]?.labels['v']).toBe(nasty);
    expect(parsed.get('t_total')?.help).toBe('help with \\ backslash\nand a line feed');
  });

  it('renders histograms with cumulative buckets, +Inf equal to _count, and _sum', async () => {
    const registry = createMetricsRegistry();
    const histogram = registry.histogram('t_seconds', 'durations', ['route'], [0.1, 1]);
    for (const value of [0.05, 0.5, 5]) histogram.observe({ route: '/x' }, value);
    const parsed = parseExposition(await registry.render());
    expect(sampleValue(parsed, 't_seconds_bucket', { le: '0.1' })).toBe(1);
    expect(sampleValue(parsed, 't_seconds_bucket', { le: '1' })).toBe(2);
    expect(sampleValue(parsed, 't_seconds_bucket', { le: '+Inf' })).toBe(3);
    expect(sampleValue(parsed, 't_seconds_count')).toBe(3);
    expect(sampleValue(parsed, 't_seconds_sum')).toBeCloseTo(5.55);
  });

  it('a failing collector leaves its family empty and is reported; caller mistakes throw TypeError', async () => {
    const failures: string[] = [];
    const registry = createMetricsRegistry({ onCollectError: (name) => failures.push(name) });
    registry.collect('t_broken', 'fails', 'gauge', [], () => {
      throw new Error('store down');
    });
    registry.collect('t_fine', 'works', 'gauge', ['a'], () => [{ labels: { a: 'x' }, value: 1 }]);
    const parsed = parseExposition(await registry.render());
    expect(parsed.get('t_broken')?.samples).toEqual([]);
    expect(sampleValue(parsed, 't_fine', { a: 'x' })).toBe(1);
    expect(failures).toEqual(['t_broken']);
    expect(() => registry.counter('t_fine', 'again', [])).toThrow(TypeError);
    expect(() => registry.counter('bad-name', 'x', [])).toThrow(TypeError);
    expect(() => registry.gauge('g', 'x', ['__reserved'])).toThrow(TypeError);
    const counter = registry.counter('c_total', 'x', ['a']);
    expect(() => counter.inc({ a: 'x' }, -1)).toThrow(TypeError);
    expect(() => counter.inc({ b: 'x' } as never)).toThrow(TypeError);
  });
});

describe('metrics registry on prom-client (issue 16)', () => {
  it('has no default metrics unless asked; the broker registry carries process, heap, GC and event-loop-lag', async () => {
    const plain = createMetricsRegistry();
    plain.counter('t_only_total', 'the one family', []);
    expect([...parseExposition(await plain.render()).keys()]).toEqual(['t_only_total']);
    const broker = parseExposition(await createBrokerMetrics().registry.render());
    for (const [name, type] of [
      ['process_cpu_seconds_total', 'counter'],
      ['process_resident_memory_bytes', 'gauge'],
      ['process_start_time_seconds', 'gauge'],
      ['nodejs_heap_size_used_bytes', 'gauge'],
      ['nodejs_gc_duration_seconds', 'histogram'],
      ['nodejs_eventloop_lag_seconds', 'gauge'],
      ['fedbroker_api_requests_total', 'counter'],
    ] as const) {
      expect(broker.get(name)?.type, name).toBe(type);
    }
    expect(sampleValue(broker, 'process_cpu_seconds_total')).toBeGreaterThan(0);
  });

  it('two broker registries in one process stay apart (nothing lands in a global registry)', async () => {
    const one = createBrokerMetrics();
    const two = createBrokerMetrics();
    one.svidsIssued.inc({ kind: 'jwt' });
    // The process metrics are shared by both; their names cannot be taken by a family of ours.
    expect(() => one.registry.gauge('process_cpu_seconds_total', 'x', [])).toThrow(TypeError);
    expect(
      sampleValue(parseExposition(await one.registry.render()), 'fedbroker_svids_issued_total', {
        kind: 'jwt',
      }),
    ).toBe(1);
    expect(
      sampleValue(parseExposition(await two.registry.render()), 'fedbroker_svids_issued_total', {
        kind: 'jwt',
      }),
    ).toBeUndefined();
  });

  it('overlapping scrapes each read shared state once, and each gets its own values', async () => {
    const registry = createMetricsRegistry();
    let reads = 0;
    const state = (scrape: Scrape): Promise<number> =>
      scrape.once('state', async () => {
        reads += 1;
        await new Promise((resolve) => setImmediate(resolve));
        return reads;
      });
    registry.collect('t_a', 'a', 'gauge', [], async (scrape) => [
      { labels: {}, value: await state(scrape) },
    ]);
    registry.collect('t_b', 'b', 'gauge', [], async (scrape) => [
      { labels: {}, value: await state(scrape) },
    ]);
    const [first, second] = await Promise.all([registry.render(), registry.render()]);
    expect(reads).toBe(2);
    const one = parseExposition(first);
    const two = parseExposition(second);
    expect([sampleValue(one, 't_a'), sampleValue(one, 't_b')]).toEqual([1, 1]);
    expect([sampleValue(two, 't_a'), sampleValue(two, 't_b')]).toEqual([2, 2]);
  });

  it('an empty or failed collection has no sample (not a 0), a repeated label set is written once', async () => {
    const registry = createMetricsRegistry();
    let value: number | undefined = undefined;
    registry.collect('t_maybe', 'absent until known', 'gauge', [], () =>
      value === undefined ? [] : [{ labels: {}, value }],
    );
    registry.collect('t_twice', 'first wins', 'gauge', ['k'], () => [
      { labels: { k: 'x' }, value: 1 },
      { labels: { k: 'x' }, value: 2 },
    ]);
    registry.collect('t_seen_total', 'a collected counter', 'counter', ['k'], () => [
      { labels: { k: 'y' }, value: 7 },
    ]);
    let parsed = parseExposition(await registry.render());
    expect(parsed.get('t_maybe')?.samples).toEqual([]);
    expect(parsed.get('t_twice')?.samples.map((s) => s.value)).toEqual([1]);
    expect(sampleValue(parsed, 't_seen_total', { k: 'y' })).toBe(7);
    value = 3;
    parsed = parseExposition(await registry.render());
    expect(sampleValue(parsed, 't_maybe')).toBe(3);
    // Collected, not accumulated: the second scrape reports the collector's value again.
    expect(sampleValue(parsed, 't_seen_total', { k: 'y' })).toBe(7);
  });

  it('writes NaN as the exposition format spells it, and refuses non-finite counter steps (TypeError)', async () => {
    const registry = createMetricsRegistry();
    registry.gauge('t_ratio', 'maybe undefined', []).set({}, Number.NaN);
    const text = await registry.render();
    expect(text).toContain('\nt_ratio NaN\n');
    expect(Number.isNaN(sampleValue(parseExposition(text), 't_ratio'))).toBe(true);
    const counter = registry.counter('t_steps_total', 'x', []);
    for (const by of [Number.NaN, Infinity, -1])
      expect(() => counter.inc({}, by)).toThrow(TypeError);
    expect(() => counter.inc({ extra: 'x' } as never)).toThrow(TypeError);
    const histogram = registry.histogram('t_h_seconds', 'x', ['a']);
    expect(() => histogram.observe({} as never, 1)).toThrow(TypeError);
    expect(() => histogram.observe({ a: 1 } as never, 1)).toThrow(TypeError);
  });
});
