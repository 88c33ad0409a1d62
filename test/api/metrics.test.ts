// GET /metrics on the admin listener: token required, valid Prometheus text exposition, request counts
// by route pattern (never the raw path), CA and store figures, and partner fetch figures between two
// real brokers federated over TLS.
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PROMETHEUS_CONTENT_TYPE,
  createBrokerMetrics,
  createMetricsRegistry,
  escapeLabelValue,
  type Scrape,
} from '../../src/api/metrics.js';
import type { Broker } from '../../src/main.js';
import { createTestAdminApp, type TestAdminApp } from '../helpers/admin-app.js';
import { admin, startTestBroker } from '../helpers/broker.js';
import { parseExposition, sampleValue } from '../helpers/prometheus.js';

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

describe('GET /metrics (admin app in process)', () => {
  let t: TestAdminApp;
  const scrape = async (): Promise<ReturnType<typeof parseExposition>> => {
    const response = await t.call('GET', '/metrics');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe(PROMETHEUS_CONTENT_TYPE);
    return parseExposition(response.text);
  };

  beforeAll(async () => {
    t = await createTestAdminApp({ trustDomain: 'metrics.test' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('refuses a scrape without the admin token, or with a wrong one (ERR_API_UNAUTHENTICATED)', async () => {
    for (const token of [null, 'wrong-token-0123456789']) {
      const response = await t.call('GET', '/metrics', undefined, token);
      expect(response.status).toBe(401);
      expect(response.body).toMatchObject({ error: { code: 'ERR_API_UNAUTHENTICATED' } });
    }
  });

  it('is valid exposition text: every family has HELP and TYPE once, every sample line parses', async () => {
    const families = await scrape();
    for (const name of [
      'fedbroker_api_requests_total',
      'fedbroker_api_request_duration_seconds',
      'fedbroker_bundle_fetch_total',
      'fedbroker_bundle_fetch_failures_total',
      'fedbroker_svids_issued_total',
      'fedbroker_store_errors_total',
      'fedbroker_partner_bundle_age_seconds',
      'fedbroker_partner_bundle_sequence',
      'fedbroker_ca_earliest_authority_expiry_timestamp_seconds',
      'fedbroker_ca_authorities',
    ]) {
      expect(families.get(name), name).toBeDefined();
      expect(families.get(name)?.help, name).not.toBe('');
    }
    expect(families.get('fedbroker_api_requests_total')?.type).toBe('counter');
    expect(families.get('fedbroker_api_request_duration_seconds')?.type).toBe('histogram');
    expect(families.get('fedbroker_partner_bundle_age_seconds')?.type).toBe('gauge');
  });

  it('counts requests by route pattern and status, never by raw path', async () => {
    for (let i = 0; i < 3; i += 1) {
      expect((await t.call('GET', `/v1/admin/relationships/nobody-${i}.test`)).status).toBe(404);
    }
    await t.call('GET', '/v1/admin/authorities', undefined, null);
    await t.call('GET', '/no/such/path/at-all');
    const before = await scrape();
    const route = { api: 'admin', method: 'GET', route: '/v1/admin/relationships/:td' };
    expect(sampleValue(before, 'fedbroker_api_requests_total', { ...route, status: '404' })).toBe(
      3,
    );
    expect(
      sampleValue(before, 'fedbroker_api_requests_total', {
        route: '/v1/admin/authorities',
        status: '401',
      }),
    ).toBe(1);
    expect(
      sampleValue(before, 'fedbroker_api_requests_total', { route: 'unmatched', status: '404' }),
    ).toBe(1);
    expect(sampleValue(before, 'fedbroker_api_request_duration_seconds_count', route)).toBe(3);

    await t.call('GET', '/v1/admin/relationships/another.test');
    const after = await scrape();
    expect(sampleValue(after, 'fedbroker_api_requests_total', { ...route, status: '404' })).toBe(4);
    const labelValues = [...after.values()].flatMap((f) =>
      f.samples.flatMap((s) => Object.values(s.labels)),
    );
    expect(labelValues.filter((v) => /nobody|another\.test|such\/path/.test(v))).toEqual([]);
    // The scrapes themselves count under /metrics.
    expect(
      sampleValue(after, 'fedbroker_api_requests_total', { route: '/metrics', status: '200' }),
    ).toBeGreaterThanOrEqual(1);
  });

  it('reports our CA: authorities by state, active and earliest expiry, local bundle sequence', async () => {
    const families = await scrape();
    const active = t.ca.authorities('x509').find((a) => a.state === 'active');
    expect(active).toBeDefined();
    expect(
      sampleValue(families, 'fedbroker_ca_active_authority_expiry_timestamp_seconds', {
        kind: 'x509',
      }),
    ).toBe((active?.notAfter.getTime() ?? 0) / 1000);
    expect(
      sampleValue(families, 'fedbroker_ca_earliest_authority_expiry_timestamp_seconds', {
        kind: 'jwt',
      }),
    ).toBeGreaterThan(Date.now() / 1000);
    expect(
      sampleValue(families, 'fedbroker_ca_authorities', { kind: 'x509', state: 'active' }),
    ).toBe(1);
    expect(
      sampleValue(families, 'fedbroker_ca_authorities', { kind: 'x509', state: 'revoked' }),
    ).toBe(0);
    expect(sampleValue(families, 'fedbroker_local_bundle_sequence')).toBe(
      Number(t.ca.localBundle().sequence),
    );
  });

  it('counts SVIDs issued by kind, through the API and the CA alike', async () => {
    const before = await scrape();
    const jwtBefore = sampleValue(before, 'fedbroker_svids_issued_total', { kind: 'jwt' }) ?? 0;
    const x509Before = sampleValue(before, 'fedbroker_svids_issued_total', { kind: 'x509' }) ?? 0;
    const minted = await t.call('POST', '/v1/admin/svids/jwt', {
      spiffeId: 'spiffe://metrics.test/workload',
      audience: ['a'],
    });
    expect(minted.status).toBe(200);
    await t.ca.issueX509Svid({
      spiffeId: 'spiffe://metrics.test/workload',
      publicKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey,
    });
    const after = await scrape();
    expect(sampleValue(after, 'fedbroker_svids_issued_total', { kind: 'jwt' })).toBe(jwtBefore + 1);
    expect(sampleValue(after, 'fedbroker_svids_issued_total', { kind: 'x509' })).toBe(
      x509Before + 1,
    );
  });

  it('times every audit append to its durable acknowledgement (fedbroker_audit_append_duration_seconds)', async () => {
    const name = 'fedbroker_audit_append_duration_seconds';
    const countOf = (families: Awaited<ReturnType<typeof scrape>>): number =>
      sampleValue(families, `${name}_count`) ?? 0;
    const before = countOf(await scrape());
    const auditedBefore = (await t.store.listAudit({ limit: 10_000 })).length;
    for (const path of ['one', 'two', 'three']) {
      const created = await t.call('POST', '/v1/admin/entries', {
        spiffeId: `spiffe://metrics.test/agents/${path}`,
      });
      expect(created.status).toBe(201);
    }
    const families = await scrape();
    const appended = (await t.store.listAudit({ limit: 10_000 })).length - auditedBefore;
    expect(appended).toBe(3);
    expect(countOf(families)).toBe(before + appended);
    expect(families.get(name)?.type).toBe('histogram');
    expect(sampleValue(families, `${name}_bucket`, { le: '+Inf' })).toBe(countOf(families));
    // A durable write takes real time; the sum of all appends cannot be zero.
    expect(sampleValue(families, `${name}_sum`)).toBeGreaterThan(0);
    // The finer buckets for millisecond appends (not the request buckets, which start at 5 ms).
    expect(sampleValue(families, `${name}_bucket`, { le: '0.0005' })).toBeDefined();
  });

  it('counts failing store calls by operation and code', async () => {
    const relationship = {
      trustDomain: 'twice.test',
      url: 'https://127.0.0.1:9/bundle',
      profile: 'https_web',
    };
    expect((await t.call('POST', '/v1/admin/relationships', relationship)).status).toBe(201);
    const again = await t.call('POST', '/v1/admin/relationships', relationship);
    expect(again.body).toMatchObject({ error: { code: 'ERR_FEDERATION_RELATIONSHIP_EXISTS' } });
    const families = await scrape();
    expect(
      sampleValue(families, 'fedbroker_store_errors_total', {
        operation: 'putRelationship',
        code: 'ERR_STORE_CONFLICT',
      }),
    ).toBe(1);
    expect(
      sampleValue(families, 'fedbroker_partner_relationship_state', {
        trust_domain: 'twice.test',
        state: 'pending',
      }),
    ).toBe(1);
  });

  it('counts a failed partner fetch by trust domain and error code', async () => {
    await t.call('POST', '/v1/admin/relationships', {
      trustDomain: 'down.test',
      url: 'https://127.0.0.1:9/bundle',
      profile: 'https_web',
    });
    expect((await t.call('POST', '/v1/admin/relationships/down.test/approve', {})).status).toBe(
      200,
    );
    const outcome = await t.call<{ ok: boolean; error: { code: string } }>(
      'POST',
      '/v1/admin/relationships/down.test/refresh',
    );
    expect(outcome.body.ok).toBe(false);
    // Unknown or inactive relationships are no fetch attempt, and add no label value.
    await t.call('POST', '/v1/admin/relationships/twice.test/refresh');
    await t.call('POST', '/v1/admin/relationships/unknown.test/refresh');
    const families = await scrape();
    expect(
      sampleValue(families, 'fedbroker_bundle_fetch_total', {
        trust_domain: 'down.test',
        result: 'failure',
      }),
    ).toBe(1);
    expect(
      sampleValue(families, 'fedbroker_bundle_fetch_failures_total', {
        trust_domain: 'down.test',
        code: outcome.body.error.code,
      }),
    ).toBe(1);
    expect(
      sampleValue(families, 'fedbroker_partner_refresh_consecutive_failures', {
        trust_domain: 'down.test',
      }),
    ).toBe(1);
    const fetchDomains = families
      .get('fedbroker_bundle_fetch_total')
      ?.samples.map((s) => s.labels['trust_domain']);
    expect(fetchDomains).toEqual(['down.test']);
    expect(sampleValue(families, 'fedbroker_partner_bundle_age_seconds')).toBeUndefined();
  });
});

describe('partner fetch metrics between two federated brokers', () => {
  let a: Broker;
  let b: Broker;

  beforeAll(async () => {
    a = await startTestBroker({ trustDomain: 'a.test' });
    b = await startTestBroker({ trustDomain: 'b.test' });
    const invite = await admin(a, 'POST', '/v1/admin/invites', {});
    expect(invite.status).toBe(201);
    const accepted = await admin(b, 'POST', '/v1/admin/invites/accept', {
      invite: JSON.stringify(invite.body),
    });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(201);
    expect((await admin(b, 'POST', '/v1/admin/relationships/a.test/approve', {})).status).toBe(200);
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
  });

  const scrapeOf = async (broker: Broker): Promise<ReturnType<typeof parseExposition>> => {
    const refused = await admin(broker, 'GET', '/metrics', undefined, null);
    expect(refused.status).toBe(401);
    const response = await admin<string>(broker, 'GET', '/metrics');
    expect(response.status).toBe(200);
    return parseExposition(response.body);
  };

  it('counts fetch attempts and reports bundle age and sequence per partner', async () => {
    const outcome = await b.federation.refresh('a.test');
    expect(outcome.error).toBeUndefined();
    const families = await scrapeOf(b);
    const td = { trust_domain: 'a.test' };
    expect(
      sampleValue(families, 'fedbroker_bundle_fetch_total', { ...td, result: 'success' }),
    ).toBeGreaterThanOrEqual(1);
    const status = (await b.federation.get('a.test')).status;
    expect(sampleValue(families, 'fedbroker_partner_bundle_sequence', td)).toBe(
      Number(status.sequence),
    );
    const age = sampleValue(families, 'fedbroker_partner_bundle_age_seconds', td);
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(60);
    expect(sampleValue(families, 'fedbroker_partner_bundle_stale', td)).toBe(0);
    expect(
      sampleValue(families, 'fedbroker_partner_relationship_state', { ...td, state: 'active' }),
    ).toBe(1);
    expect(
      sampleValue(families, 'fedbroker_partner_authority_earliest_expiry_timestamp_seconds', td),
    ).toBe((status.earliestAuthorityExpiryMs ?? 0) / 1000);
    // The broker's own X509-SVIDs (bundle endpoint, listeners) are signed through the counting CA too.
    expect(
      sampleValue(await scrapeOf(a), 'fedbroker_svids_issued_total', { kind: 'x509' }),
    ).toBeGreaterThanOrEqual(1);
  });

  it('counts the fetch a verifier asks for on an unknown kid (refreshOnUnknownKey), not only scheduled ones', async () => {
    const td = { trust_domain: 'a.test', result: 'success' };
    const before = sampleValue(await scrapeOf(b), 'fedbroker_bundle_fetch_total', td) ?? 0;
    expect(await b.federation.refreshOnUnknownKey('a.test')).toBe(false); // fetched, unchanged
    expect(sampleValue(await scrapeOf(b), 'fedbroker_bundle_fetch_total', td)).toBe(before + 1);
    // Rate-limited: a second ask within the interval fetches nothing and counts nothing.
    expect(await b.federation.refreshOnUnknownKey('a.test')).toBe(false);
    expect(sampleValue(await scrapeOf(b), 'fedbroker_bundle_fetch_total', td)).toBe(before + 1);
  });

  it('counts a failure by error code once the partner is gone', async () => {
    const before = await scrapeOf(b);
    const failuresBefore =
      sampleValue(before, 'fedbroker_bundle_fetch_total', {
        trust_domain: 'a.test',
        result: 'failure',
      }) ?? 0;
    await a.stop();
    const outcome = await b.federation.refresh('a.test');
    expect(outcome.ok).toBe(false);
    const after = await scrapeOf(b);
    expect(
      sampleValue(after, 'fedbroker_bundle_fetch_total', {
        trust_domain: 'a.test',
        result: 'failure',
      }),
    ).toBeGreaterThanOrEqual(failuresBefore + 1);
    expect(
      sampleValue(after, 'fedbroker_bundle_fetch_failures_total', {
        trust_domain: 'a.test',
        code: outcome.error?.code ?? '',
      }),
    ).toBeGreaterThanOrEqual(1);
  });
});
