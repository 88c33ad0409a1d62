// GET /metrics on the admin listener: token required, valid Prometheus text exposition, request counts
// by route pattern (never the raw path), CA and store figures, and partner fetch figures between two
// real brokers federated over TLS.
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hono } from 'hono';
import {
  createBrokerMetrics,
  PROMETHEUS_CONTENT_TYPE,
  requestMetrics,
} from '../../src/api/metrics.js';
import type { Broker } from '../../src/main.js';
import { createTestAdminApp, type TestAdminApp } from '../helpers/admin-app.js';
import { admin, startTestBroker } from '../helpers/broker.js';
import { parseExposition, sampleValue } from '../helpers/prometheus.js';

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
    // Each create: its admin.requested, then its entry.created.
    expect(appended).toBe(6);
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

describe('requests in flight (fedbroker_api_requests_in_flight, read by the CA per issuance)', () => {
  it('counts each request from its start until it is answered, failed ones too, per listener', async () => {
    const metrics = createBrokerMetrics({ defaultMetrics: false });
    const app = new Hono();
    app.use('*', requestMetrics(metrics, 'agent'));
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    app.get('/slow', async (c) => {
      await gate;
      return c.text('done');
    });
    app.get('/fails', async () => {
      await gate;
      throw new Error('boom');
    });
    app.onError((_error, c) => c.text('failed', 500));
    const inFlightGauge = async (): Promise<number | undefined> =>
      sampleValue(
        parseExposition(await metrics.registry.render()),
        'fedbroker_api_requests_in_flight',
        {
          api: 'agent',
        },
      );

    expect(metrics.requestsInFlight()).toBe(0);
    const answers = [app.request('/slow'), app.request('/slow'), app.request('/fails')];
    await new Promise((resolve) => setImmediate(resolve));
    expect(metrics.requestsInFlight()).toBe(3);
    expect(await inFlightGauge()).toBe(3);
    release();
    const statuses = (await Promise.all(answers)).map((r) => r.status);
    expect(statuses).toEqual([200, 200, 500]);
    expect(metrics.requestsInFlight()).toBe(0);
    expect(await inFlightGauge()).toBe(0);
  });
});
