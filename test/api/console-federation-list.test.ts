// The console's Federation list in pages (README Known limits: 1,000 partners made one 1.2 MB page):
// FEDERATION_PAGE_ROWS a page, pending first, filtered by trust-domain text and state, the filter
// kept in the page links, a bad query answered 400 ERR_API_VALIDATION, and the Overview's lists cut
// to OVERVIEW_ROWS with a link to the rest.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FEDERATION_PAGE_ROWS,
  OVERVIEW_ROWS,
  federationHref,
  federationListPage,
  isTroubled,
  parseFederationQuery,
  selectRelationships,
} from '../../src/api/console/federation-list.js';
import { sessionView } from '../../src/api/console/pages.js';
import type { RelationshipView } from '../../src/federation/index.js';
import { createTestAdminApp, type TestAdminApp } from '../helpers/admin-app.js';
import { linkOf, signedInConsole, type ConsoleClient } from '../helpers/console-client.js';

/** More than two pages: the last one partly filled. */
const PARTNERS = 2 * FEDERATION_PAGE_ROWS + 50;
/** Rejected ones (sorted after every pending one). */
const REJECTED = 7;
const HOSTILE = `"><script>x</script>`;

let t: TestAdminApp;
let client: ConsoleClient;

const name = (i: number): string => `p${String(i).padStart(4, '0')}.list.test`;

const get = (path: string): ReturnType<ConsoleClient['get']> => client.get(path);

const rowsOf = (body: string): string[] =>
  [...body.matchAll(/data-testid="relationship-row" data-trust-domain="([^"]+)"/g)].map(
    (m) => m[1] as string,
  );

beforeAll(async () => {
  t = await createTestAdminApp({ trustDomain: 'render.test' });
  for (let i = 0; i < PARTNERS; i++) {
    await t.federation.create(
      { trustDomain: name(i), url: `https://127.0.0.1:9/p${i}`, profile: 'https_web' },
      { actor: 'admin:test', reason: `partner ${i}` },
    );
  }
  for (let i = 0; i < REJECTED; i++) {
    await t.federation.transition(name(i), 'reject', { actor: 'admin:test', reason: 'no' });
  }
  client = await signedInConsole(t);
}, 60_000);
afterAll(async () => t?.close());

describe('console Federation list in pages', () => {
  it(`shows ${FEDERATION_PAGE_ROWS} rows a page, pending first, and links page to page`, async () => {
    const first = await get('/console/federation');
    expect(first.status).toBe(200);
    const rows1 = rowsOf(first.body);
    expect(rows1).toHaveLength(FEDERATION_PAGE_ROWS);
    // The rejected ones are the first names, but pending comes first.
    expect(rows1[0]).toBe(name(REJECTED));
    expect(first.body).toContain(
      `${PARTNERS} relationships; 1–${FEDERATION_PAGE_ROWS} shown (page 1 of 3), pending first.`,
    );
    expect(linkOf(first.body, 'previous-page')).toBeUndefined();
    const next = linkOf(first.body, 'next-page');
    expect(next).toBe('/console/federation?page=2');

    const seen = new Set(rows1);
    let page = first;
    for (let p = 2; p <= 3; p++) {
      page = await get(linkOf(page.body, 'next-page') as string);
      for (const row of rowsOf(page.body)) {
        expect(seen.has(row)).toBe(false);
        seen.add(row);
      }
    }
    expect(seen.size).toBe(PARTNERS);
    expect(rowsOf(page.body).slice(-REJECTED)).toEqual(
      Array.from({ length: REJECTED }, (_, i) => name(i)),
    );
    expect(linkOf(page.body, 'next-page')).toBeUndefined();
    expect(linkOf(page.body, 'previous-page')).toBe('/console/federation?page=2');
  });

  it('a page past the last shows the last one', async () => {
    const beyond = await get('/console/federation?page=99');
    expect(beyond.status).toBe(200);
    expect(rowsOf(beyond.body)).toHaveLength(PARTNERS - 2 * FEDERATION_PAGE_ROWS);
    expect(beyond.body).toContain('(page 3 of 3)');
  });

  it('filters by trust-domain text and by state, and keeps the filter in the page links', async () => {
    // p01xx: 100 names, 7 of them rejected (p0100..p0106 are not: the rejected are p0000..p0006).
    const text = await get('/console/federation?q=P01');
    expect(rowsOf(text.body)).toHaveLength(100);
    expect(rowsOf(text.body).every((td) => td.startsWith('p01'))).toBe(true);
    expect(text.body).toContain('value="p01"');

    const rejected = await get('/console/federation?state=rejected');
    expect(rowsOf(rejected.body)).toEqual(Array.from({ length: REJECTED }, (_, i) => name(i)));
    expect(rejected.body).toContain(
      `${REJECTED} of ${PARTNERS} relationships match, pending first.`,
    );
    expect(rejected.body).toContain('<option value="rejected" selected>');

    const pending = await get('/console/federation?state=pending&q=.list.');
    expect(pending.body).toContain(`${PARTNERS - REJECTED} of ${PARTNERS} relationships match`);
    expect(linkOf(pending.body, 'next-page')).toBe(
      '/console/federation?q=.list.&state=pending&page=2',
    );

    const none = await get('/console/federation?q=nothing-like-this');
    expect(rowsOf(none.body)).toHaveLength(0);
    expect(none.body).toContain(`none of ${PARTNERS} relationships match`);
  });

  it('counts the filter text as typed: 200 characters that lowercase longer are not too long', async () => {
    const dotted = await get(`/console/federation?q=${encodeURIComponent('İ'.repeat(200))}`);
    expect(dotted.status).toBe(200);
    expect(dotted.body).toContain(`none of ${PARTNERS} relationships match`);
  });

  it('escapes the filter text wherever the page repeats it', async () => {
    const hostile = await get(`/console/federation?q=${encodeURIComponent(HOSTILE)}`);
    expect(hostile.status).toBe(200);
    expect(hostile.body).not.toContain('<script>x');
    expect(hostile.body).toContain('value="&quot;&gt;&lt;script&gt;x&lt;/script&gt;"');
  });

  it.each([
    ['page=0', 'page must be a whole number from 1'],
    ['page=-1', 'page must be a whole number from 1'],
    ['page=1e3', 'page must be a whole number from 1'],
    ['page=1234567', 'page must be a whole number from 1'],
    ['state=expired', 'state must be one of'],
    [`q=${'a'.repeat(256)}`, 'q is at most 255 characters'],
  ])('%s is 400 ERR_API_VALIDATION', async (query, message) => {
    const bad = await get(`/console/federation?${query}`);
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('ERR_API_VALIDATION');
    expect(bad.body).toContain(message);
  });

  it(`the Overview shows ${OVERVIEW_ROWS} pending rows and links to all of them`, async () => {
    const overview = await get('/console/');
    expect(overview.status).toBe(200);
    expect(rowsOf(overview.body)).toHaveLength(OVERVIEW_ROWS);
    const more = linkOf(overview.body, 'overview-more-pending');
    expect(more).toBe('/console/federation?state=pending');
    expect(overview.body).toContain(`All ${PARTNERS - REJECTED} (${OVERVIEW_ROWS} shown)`);
    expect(linkOf(overview.body, 'overview-more-troubled')).toBeUndefined();
    // By state in the list's order, whatever order the store keeps (the rejected were made first).
    expect(overview.body).toContain(
      `<span class="state-pending">${PARTNERS - REJECTED} pending</span> <span class="state-rejected">${REJECTED} rejected</span>`,
    );
  });
});

describe('selecting relationships', () => {
  /** A listed view with another state and status (the service makes only pending and rejected here). */
  async function viewAs(
    state: RelationshipView['relationship']['state'],
    status: Partial<RelationshipView['status']>,
  ): Promise<RelationshipView> {
    const [any] = await t.federation.list();
    const base = any as RelationshipView;
    return {
      ...base,
      relationship: { ...base.relationship, state },
      status: { ...base.status, ...status },
    };
  }

  it('troubled is active and stale or failing, never another state', async () => {
    const stale = await viewAs('active', { stale: true, lastError: null });
    const failing = await viewAs('active', {
      stale: false,
      lastError: { code: 'ERR_FED_FETCH', message: 'down', atMs: 0 },
    });
    const healthy = await viewAs('active', { stale: false, lastError: null });
    const suspendedStale = await viewAs('suspended', { stale: true, lastError: null });
    expect([stale, failing, healthy, suspendedStale].map(isTroubled)).toEqual([
      true,
      true,
      false,
      false,
    ]);
    const selected = selectRelationships([healthy, stale, suspendedStale], {
      text: '',
      show: 'troubled',
      page: 1,
    });
    expect(selected.rows).toEqual([stale]);
    expect(selected).toMatchObject({ total: 1, page: 1, pages: 1 });
  });

  it('no relationships at all is said so, without "match"', () => {
    const page = String(
      federationListPage([], sessionView('csrf', true), 0, { text: '', show: undefined, page: 1 }),
    );
    expect(page).toContain('<p data-testid="federation-summary">0 relationships.</p>');
    const filtered = String(
      federationListPage([], sessionView('csrf', true), 0, { text: 'x', show: undefined, page: 1 }),
    );
    expect(filtered).toContain('none of 0 relationships match');
  });

  it('an empty selection is page 1 of 1', () => {
    expect(selectRelationships([], { text: '', show: undefined, page: 5 })).toEqual({
      rows: [],
      total: 0,
      page: 1,
      pages: 1,
    });
  });

  it('the query string parses to lowercase text, a state and a page; links leave defaults out', () => {
    expect(parseFederationQuery({ q: '  Acme.EXAMPLE ', state: 'active', page: '3' })).toEqual({
      text: 'acme.example',
      show: 'active',
      page: 3,
    });
    expect(parseFederationQuery({})).toEqual({ text: '', show: undefined, page: 1 });
    expect(federationHref({ text: '', show: undefined })).toBe('/console/federation');
    expect(federationHref({ text: 'a&b', show: 'troubled' }, 2)).toBe(
      '/console/federation?q=a%26b&state=troubled&page=2',
    );
  });
});
