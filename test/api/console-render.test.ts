// The console's Federation rows built as one escaping string (issue 19, bench/console.ts): every
// partner-supplied value stays escaped; and an in-process form post (no content-length) signs in.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { esc } from '../../src/api/console/layout.js';
import { relationshipsTable, sessionView, sortRelationships } from '../../src/api/console/pages.js';
import { createTestAdminApp, type TestAdminApp } from '../helpers/admin-app.js';
import { ADMIN_TOKEN } from '../helpers/broker.js';

const HOSTILE = `<script>x</script><img src=x onerror="y">'&`;
let t: TestAdminApp;

beforeAll(async () => {
  t = await createTestAdminApp({ trustDomain: 'render.test' });
  await t.federation.create(
    { trustDomain: 'hostile.test', url: `https://127.0.0.1:9/${HOSTILE}`, profile: 'https_web' },
    { actor: `admin:${HOSTILE}`, reason: HOSTILE },
  );
});
afterAll(async () => t?.close());

describe('console rows', () => {
  it.each([
    ['<', '&lt;'],
    ['>', '&gt;'],
    ['"', '&quot;'],
    ["'", '&#39;'],
    ['&', '&amp;'],
    ['plain', 'plain'],
  ])('esc(%s) is %s', (input, output) => {
    expect(esc(input)).toBe(output);
  });

  it('escapes the URL, actor and CSRF value in a pending row; no raw markup gets through', async () => {
    const body = String(
      await relationshipsTable(
        sortRelationships(await t.federation.list()),
        sessionView('"><b>csrf', true),
        Date.now(),
      ),
    );
    expect(body).toContain('data-trust-domain="hostile.test"');
    expect(body).not.toContain('<script>');
    expect(body).not.toContain('<img');
    expect(body).not.toContain('"><b>');
    expect(body).toContain('&lt;script&gt;x&lt;/script&gt;&lt;img src=x onerror=&quot;y&quot;&gt;');
    expect(body).toContain('data-testid="approve"');
    expect(body).toContain('formaction="/console/federation/hostile.test/reject"');
  });

  it('signs in from an in-process form post without a content-length (the body limit read it)', async () => {
    const response = await t.app.request('http://render/console/login', {
      method: 'POST',
      headers: { origin: 'http://render', 'content-type': 'application/x-www-form-urlencoded' },
      body: `token=${ADMIN_TOKEN}`,
    });
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe('/console/');
  });

  it('the Audit page filters by until beside since; a bad time is ERR_API_VALIDATION', async () => {
    const login = await t.app.request('http://render/console/login', {
      method: 'POST',
      headers: { origin: 'http://render', 'content-type': 'application/x-www-form-urlencoded' },
      body: `token=${ADMIN_TOKEN}`,
    });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const rows = async (query: string): Promise<[number, string]> => {
      const response = await t.app.request(`http://render/console/audit?${query}`, {
        headers: { cookie },
      });
      const body = await response.text();
      return [response.status, body];
    };
    const count = (body: string): number => body.split('data-testid="audit-row"').length - 1;
    const [okStatus, all] = await rows('until=2099-01-01T00:00:00Z');
    expect(okStatus).toBe(200);
    expect(count(all)).toBeGreaterThan(0);
    expect(all).toContain('name="until"');
    const [, none] = await rows('since=1999-01-01T00:00:00Z&until=2000-01-01T00:00:00Z');
    expect(count(none)).toBe(0);
    const [badStatus, bad] = await rows('until=tomorrow');
    expect(badStatus).toBe(400);
    expect(bad).toContain('ERR_API_VALIDATION');
  });

  it('serves its one script itself under script-src self: no inline script, no third party', async () => {
    const script = await t.app.request('http://render/console/assets/console.js');
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(await script.text()).toContain('data-copy-from');
    const csp = script.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
    const login = await t.app.request('http://render/console/login');
    const body = await login.text();
    expect(body.match(/<script[^>]*>/g)).toEqual([
      '<script src="/console/assets/console.js" defer>',
    ]);
  });
});
