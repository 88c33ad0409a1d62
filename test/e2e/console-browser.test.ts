// The web console in real Chromium (issue 19): two real brokers, an invitation accepted into a pending
// partner, two named admins approving it under the two-person rule until its bundle arrives; viewer
// read-only, sign-out, idle expiry, admin removal, escaping of hostile text, CSRF and Origin checks.
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../src/main.js';
import { ADMIN_TOKEN, admin, startTestBroker } from '../helpers/broker.js';
import { eventually } from '../helpers/built-cli.js';
import { SCREENSHOT_DIR, launchChromium } from '../helpers/chromium.js';

let clockMs = Date.now();
const nowMs = (): number => clockMs;
let partner: Broker;
let home: Broker;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;
const tokens: Record<string, string> = {};
const PARTNER = 'partner.test';
const HOSTILE = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">';

async function addAdmin(name: string, role: 'admin' | 'viewer'): Promise<string> {
  const added = await admin<{ token: string }>(home, 'POST', '/v1/admin/admins', { name, role });
  expect(added.status).toBe(201);
  return added.body.token;
}

async function signIn(token: string): Promise<void> {
  await page.context().clearCookies();
  await page.goto(`${home.adminUrl}/console/login`);
  await page.fill('input[name=token]', token);
  await page.click('[data-testid=sign-in]');
  await page.waitForLoadState();
  if (new URL(page.url()).pathname !== '/console/')
    throw new Error(
      `sign-in ended at ${page.url()}: ${(await page.locator('main').textContent()) ?? ''}`,
    );
}

/** Clicks and waits for the page it leads to; fails with the page's text when it is another. */
async function clickTo(
  selector: string,
  path: string,
  scope: Page | ReturnType<Page['locator']> = page,
): Promise<void> {
  await Promise.all([page.waitForNavigation(), scope.locator(selector).click()]);
  if (new URL(page.url()).pathname !== path) {
    throw new Error(`ended at ${page.url()}: ${(await page.locator('main').textContent()) ?? ''}`);
  }
}

const shot = (name: string) =>
  page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
const row = (td: string) =>
  page.locator(`[data-testid=relationship-row][data-trust-domain="${td}"]`).first();

beforeAll(async () => {
  partner = await startTestBroker({ trustDomain: PARTNER });
  home = await startTestBroker({
    trustDomain: 'home.test',
    now: nowMs,
    extra: { federation: { requiredApprovals: 2 } },
  });
  const invite = await admin<Record<string, unknown>>(partner, 'POST', '/v1/admin/invites', {});
  expect(invite.status).toBe(201);
  const accepted = await admin(home, 'POST', '/v1/admin/invites/accept', {
    invite: JSON.stringify(invite.body),
  });
  expect(accepted.status).toBe(201);
  tokens['alice'] = await addAdmin('alice', 'admin');
  tokens['bob'] = await addAdmin('bob', 'admin');
  tokens['val'] = await addAdmin('val', 'viewer');
  browser = await launchChromium();
  page = await browser.context.newPage();
  page.setDefaultTimeout(8000);
});

afterAll(async () => {
  await browser?.close();
  await home?.stop();
  await partner?.stop();
});

describe('console in Chromium (issue 19)', () => {
  it('answers nothing useful without a session: pages redirect to sign-in, changes are 401', async () => {
    await page.context().clearCookies();
    await page.goto(`${home.adminUrl}/console/federation`);
    expect(new URL(page.url()).pathname).toBe('/console/login');
    expect(await page.locator('[data-testid=relationship-row]').count()).toBe(0);
    const post = await fetch(`${home.adminUrl}/console/federation/${PARTNER}/approve`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: home.adminUrl },
      body: 'reason=x',
    });
    expect(post.status).toBe(401);
    expect(await post.text()).toContain('ERR_API_UNAUTHENTICATED');
    expect(post.headers.get('content-security-policy')).toContain("default-src 'none'");
    await shot('sign-in');
  });

  it('two named admins approve a partner from a real invitation; it turns active and its bundle arrives', async () => {
    await signIn(tokens['alice'] ?? '');
    expect(await page.locator('[data-testid=whoami]').textContent()).toContain('alice (admin)');
    await page.goto(`${home.adminUrl}/console/federation`);
    expect(await row(PARTNER).locator('[data-testid=state]').textContent()).toBe('pending');
    expect(await row(PARTNER).locator('[data-testid=bundle-sha256]').textContent()).toMatch(
      /^[0-9a-f]{64}$/,
    );
    await row(PARTNER)
      .locator('form:has([data-testid=approve]) [data-testid=reason]')
      .fill('sha256 read out by phone');
    await clickTo('[data-testid=approve]', '/console/federation', row(PARTNER));
    expect(await row(PARTNER).locator('[data-testid=state]').textContent()).toBe('pending');
    expect(await row(PARTNER).locator('[data-testid=approvals]').textContent()).toBe('1 of 2');
    await shot('federation-one-of-two');

    await signIn(tokens['bob'] ?? '');
    await page.goto(`${home.adminUrl}/console/federation`);
    await row(PARTNER)
      .locator('form:has([data-testid=approve]) [data-testid=reason]')
      .fill('agreed with alice');
    await clickTo('[data-testid=approve]', '/console/federation', row(PARTNER));
    expect(await row(PARTNER).locator('[data-testid=state]').textContent()).toBe('active');
    // Its bundle arrives: the page shows the partner's sequence once the first fetch is stored.
    const sequence = await eventually('partner bundle fetched', 15_000, async () => {
      const stored = (await home.federation.get(PARTNER)).status.sequence;
      return stored === null ? undefined : stored;
    });
    await page.reload();
    expect(await row(PARTNER).textContent()).toContain(sequence);
    expect(home.federation.trustedBundles([PARTNER]).size).toBe(1);
    await shot('federation');

    const audit = await home.store.listAudit({ limit: 100, trustDomain: PARTNER });
    expect(audit.map((e) => [e.type, e.actor])).toEqual(
      expect.arrayContaining([
        ['relationship.approval_recorded', 'admin:alice'],
        ['relationship.approved', 'admin:bob'],
      ]),
    );
    for (const [path, name] of [
      ['/console/', 'overview'],
      ['/console/agents', 'agents'],
      ['/console/authorities', 'authorities'],
      ['/console/audit', 'audit'],
      [`/console/federation/${PARTNER}`, 'relationship'],
    ] as const) {
      await page.goto(`${home.adminUrl}${path}`);
      await shot(name);
    }
    await page.goto(`${home.adminUrl}/console/audit?actor=admin:bob`);
    expect(await page.locator('[data-testid=audit-row]').count()).toBeGreaterThan(0);
    await page.click('[data-testid=verify]');
    expect(await page.locator('[data-testid=verify-result]').textContent()).toContain(
      'chain intact',
    );
  });

  it('renders a hostile URL and reason as text: no script runs, no element is injected', async () => {
    const created = await admin(home, 'POST', '/v1/admin/relationships', {
      trustDomain: 'hostile.test',
      url: `https://127.0.0.1:9/${HOSTILE}`,
      profile: 'https_web',
      reason: HOSTILE,
    });
    expect(created.status).toBe(201);
    await signIn(tokens['alice'] ?? '');
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    for (const path of [
      '/console/federation',
      '/console/federation/hostile.test',
      '/console/audit',
    ]) {
      await page.goto(`${home.adminUrl}${path}`);
      expect(await page.evaluate(() => (globalThis as { __xss?: unknown }).__xss)).toBeUndefined();
      expect(await page.locator('main script, main img').count()).toBe(0);
    }
    await page.goto(`${home.adminUrl}/console/federation/hostile.test`);
    expect(await page.locator('[data-testid=transition-reason]').first().textContent()).toBe(
      HOSTILE,
    );
    expect(dialogs).toEqual([]);
    await shot('hostile-text');
  });

  it('filters the Federation list by trust-domain text and by state; hostile filter text stays text', async () => {
    await signIn(tokens['alice'] ?? '');
    await page.goto(`${home.adminUrl}/console/federation`);
    const shown = async (): Promise<string[]> =>
      page
        .locator('[data-testid=relationship-row]')
        .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-trust-domain') ?? ''));
    expect((await shown()).sort()).toEqual(['hostile.test', PARTNER]);
    await page.fill('[data-testid=federation-q]', 'HOSTILE');
    await clickTo('form[action="/console/federation"] button', '/console/federation');
    expect(new URL(page.url()).searchParams.get('q')).toBe('HOSTILE');
    expect(await shown()).toEqual(['hostile.test']);
    expect(await page.locator('[data-testid=federation-q]').inputValue()).toBe('hostile');
    await page.fill('[data-testid=federation-q]', '');
    await page.selectOption('[data-testid=federation-state]', 'active');
    await clickTo('form[action="/console/federation"] button', '/console/federation');
    expect(await shown()).toEqual([PARTNER]);
    await shot('federation-filtered');
    await page.fill('[data-testid=federation-q]', HOSTILE.slice(0, 200));
    await clickTo('form[action="/console/federation"] button', '/console/federation');
    expect(await shown()).toEqual([]);
    expect(await page.evaluate(() => (globalThis as { __xss?: unknown }).__xss)).toBeUndefined();
    expect(await page.locator('main script, main img').count()).toBe(0);
    expect(await page.locator('[data-testid=federation-q]').inputValue()).toBe(
      HOSTILE.slice(0, 200).toLowerCase(),
    );
  });

  it('refuses a change without the CSRF token, or from another origin (ERR_API_CSRF)', async () => {
    await signIn(tokens['alice'] ?? '');
    await page.goto(`${home.adminUrl}/console/federation`);
    const csrf = await page.locator('input[name=csrf]').first().inputValue();
    // The browser context's own request client: its session cookie, this origin, no CSRF field.
    const noToken = await page
      .context()
      .request.post(`${home.adminUrl}/console/federation/hostile.test/reject`, {
        form: { reason: 'no csrf' },
        headers: { origin: home.adminUrl },
      });
    expect(noToken.status()).toBe(403);
    expect(await noToken.text()).toContain('ERR_API_CSRF');
    const cookie = (await page.context().cookies()).find((c) => c.name === 'fb_console');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/console' });
    const otherOrigin = await fetch(`${home.adminUrl}/console/federation/hostile.test/reject`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        origin: 'http://evil.example',
        cookie: `fb_console=${cookie?.value ?? ''}`,
      },
      body: `csrf=${encodeURIComponent(csrf)}&reason=x`,
    });
    expect(otherOrigin.status).toBe(403);
    expect(await otherOrigin.text()).toContain('ERR_API_CSRF');
    expect((await home.federation.get('hostile.test')).relationship.state).toBe('pending');
  });

  it('a viewer sees everything and cannot change anything', async () => {
    await signIn(tokens['val'] ?? '');
    await page.goto(`${home.adminUrl}/console/federation`);
    expect(await page.locator('[data-testid=relationship-row]').count()).toBeGreaterThanOrEqual(2);
    expect(await page.locator('[data-testid=approve]').count()).toBe(0);
    expect(await page.locator('[data-testid=suspend]').count()).toBe(0);
    await shot('federation-viewer');
    const csrf = await page.locator('input[name=csrf]').first().inputValue();
    const forged = await page
      .context()
      .request.post(`${home.adminUrl}/console/federation/hostile.test/reject`, {
        form: { csrf, reason: 'viewer' },
        headers: { origin: home.adminUrl },
      });
    expect(forged.status()).toBe(403);
    expect(await forged.text()).toContain('ERR_API_FORBIDDEN');
    expect((await home.federation.get('hostile.test')).relationship.state).toBe('pending');
  });

  it('sign-out ends the session; removing an admin ends theirs at once; idle sessions expire', async () => {
    await signIn(tokens['alice'] ?? '');
    await clickTo('[data-testid=sign-out]', '/console/login');
    await page.goto(`${home.adminUrl}/console/federation`);
    expect(new URL(page.url()).pathname).toBe('/console/login');

    const carol = await addAdmin('carol', 'admin');
    await signIn(carol);
    expect((await admin(home, 'DELETE', '/v1/admin/admins/carol')).status).toBe(200);
    await page.goto(`${home.adminUrl}/console/federation`);
    expect(new URL(page.url()).pathname).toBe('/console/login');

    await signIn(tokens['bob'] ?? '');
    clockMs += 16 * 60_000;
    await page.goto(`${home.adminUrl}/console/federation`);
    expect(new URL(page.url()).pathname).toBe('/console/login');
    await shot('expired-session');
  });

  it('authorities: prepare shows the FED-50 countdown; agents: an entry and a join token shown once', async () => {
    await signIn(tokens['alice'] ?? '');
    await page.goto(`${home.adminUrl}/console/authorities`);
    await clickTo('[data-testid=prepare-x509]', '/console/authorities');
    expect(await page.locator('[data-testid=activation-note]').first().textContent()).toMatch(
      /^can be activated in \d+ min \(FED-50\)$/,
    );
    expect(await page.locator('[data-testid=lifetime-chart] rect').count()).toBeGreaterThanOrEqual(
      3,
    );
    await shot('authorities-prepared');
    await page.goto(`${home.adminUrl}/console/agents`);
    await page.fill('[data-testid=entry-spiffe-id]', 'spiffe://home.test/agents/web');
    await clickTo('[data-testid=create-entry]', '/console/agents');
    expect(await page.locator('[data-testid=entry-row]').count()).toBe(1);
    await Promise.all([
      page.waitForNavigation(),
      page.locator('[data-testid=generate-token]').click(),
    ]);
    const joinToken = await page.locator('[data-testid=token-value]').inputValue();
    expect(joinToken).toMatch(/^fbjt_/);
    // The copy button (console.js, script-src 'self'): shown by the script, copies the token once.
    await page
      .context()
      .grantPermissions(['clipboard-read', 'clipboard-write'], { origin: home.adminUrl });
    const copy = page.locator('[data-testid=copy-token]');
    await copy.click();
    await page.waitForSelector('[data-testid=copy-token][data-copied="1"]');
    expect(await page.evaluate('navigator.clipboard.readText()')).toBe(joinToken);
    await shot('agents-join-token');
    const audit = await home.store.listAudit({ limit: 200, actor: 'admin:alice' });
    expect(audit.map((e) => e.type)).toEqual(
      expect.arrayContaining(['authority.prepared', 'entry.created', 'token.created']),
    );
  });

  it('a wrong token is refused on the sign-in form', async () => {
    await page.context().clearCookies();
    await page.goto(`${home.adminUrl}/console/login`);
    await page.fill('input[name=token]', `${ADMIN_TOKEN}-wrong`);
    await page.click('[data-testid=sign-in]');
    expect(await page.locator('[data-testid=error]').textContent()).toContain(
      'ERR_API_UNAUTHENTICATED',
    );
  });
});
