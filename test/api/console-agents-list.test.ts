// The console's Agents page in pages: entries and unused join tokens, PAGE_ROWS a page each, one
// filter for both, each table's page links keeping the filter and the other table's page, a bad
// query answered 400 ERR_API_VALIDATION. Neither list has a cap (one join token per short-lived agent).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentsHref, parseAgentsQuery } from '../../src/api/console/agents-page.js';
import { PAGE_ROWS, pageOf, parsePage } from '../../src/api/console/paging.js';
import { createTestAdminApp, type TestAdminApp } from '../helpers/admin-app.js';
import { linkOf, signedInConsole, type ConsoleClient } from '../helpers/console-client.js';

/** More than one page of entries; tokens: two pages and a bit, all for one entry. */
const ENTRIES = PAGE_ROWS + 30;
const TOKENS = 2 * PAGE_ROWS + 5;
const HOSTILE = `"><script>x</script>`;

let t: TestAdminApp;
let client: ConsoleClient;
let tokenEntry = '';

const get = (path: string): ReturnType<ConsoleClient['get']> => client.get(path);

const count = (body: string, testid: string): number =>
  body.split(`data-testid="${testid}"`).length - 1;

const summaryOf = (body: string, testid: string): string =>
  (new RegExp(`data-testid="${testid}">([^<]*)<`).exec(body)?.[1] ?? '').trim();

beforeAll(async () => {
  t = await createTestAdminApp({ trustDomain: 'agents.test' });
  for (let i = 0; i < ENTRIES; i++) {
    const entry = await t.registration.createEntry(
      { spiffeId: `spiffe://agents.test/team-${i % 2 === 0 ? 'even' : 'odd'}/w${i}` },
      'admin:test',
    );
    if (i === 0) tokenEntry = entry.id;
  }
  for (let i = 0; i < TOKENS; i++) {
    await t.registration.createToken(tokenEntry, { actor: 'admin:test' });
  }
  client = await signedInConsole(t);
}, 60_000);
afterAll(async () => t?.close());

describe('console Agents page in pages', () => {
  it(`shows ${PAGE_ROWS} entries and ${PAGE_ROWS} tokens, and links each table's pages`, async () => {
    const first = await get('/console/agents');
    expect(first.status).toBe(200);
    expect(count(first.body, 'entry-row')).toBe(PAGE_ROWS);
    expect(count(first.body, 'token-row')).toBe(PAGE_ROWS);
    expect(summaryOf(first.body, 'entries-summary')).toBe(
      `${ENTRIES} entries; 1–${PAGE_ROWS} shown (page 1 of 2).`,
    );
    expect(summaryOf(first.body, 'tokens-summary')).toBe(
      `${TOKENS} tokens; 1–${PAGE_ROWS} shown (page 1 of 3).`,
    );
    expect(linkOf(first.body, 'entries-next-page')).toBe('/console/agents?entries=2');
    expect(linkOf(first.body, 'tokens-next-page')).toBe('/console/agents?tokens=2');
    expect(linkOf(first.body, 'entries-previous-page')).toBeUndefined();

    // Each table's links keep the other table's page.
    const both = await get('/console/agents?entries=2&tokens=3');
    expect(count(both.body, 'entry-row')).toBe(ENTRIES - PAGE_ROWS);
    expect(count(both.body, 'token-row')).toBe(TOKENS - 2 * PAGE_ROWS);
    expect(linkOf(both.body, 'entries-previous-page')).toBe('/console/agents?tokens=3');
    expect(linkOf(both.body, 'tokens-previous-page')).toBe('/console/agents?entries=2&tokens=2');
    expect(linkOf(both.body, 'tokens-next-page')).toBeUndefined();
  });

  it('filters both tables by one text and keeps it in the links', async () => {
    const odd = await get('/console/agents?q=TEAM-ODD');
    expect(count(odd.body, 'entry-row')).toBe(ENTRIES / 2);
    expect(summaryOf(odd.body, 'entries-summary')).toBe(
      `${ENTRIES / 2} of ${ENTRIES} entries match.`,
    );
    // The tokens belong to an even entry: none has "team-odd" in its id or entry id.
    expect(summaryOf(odd.body, 'tokens-summary')).toBe(`none of ${TOKENS} tokens match.`);

    const byEntry = await get(`/console/agents?q=${encodeURIComponent(tokenEntry)}`);
    expect(count(byEntry.body, 'entry-row')).toBe(1);
    expect(count(byEntry.body, 'token-row')).toBe(PAGE_ROWS);
    expect(linkOf(byEntry.body, 'tokens-next-page')).toBe(
      `/console/agents?q=${encodeURIComponent(tokenEntry.toLowerCase())}&tokens=2`,
    );
  });

  it('lists join tokens of one expiry in token-id order, so that each page holds the same ones', async () => {
    const tokens = await t.registration.listTokens();
    const byExpiry = new Map<number, string[]>();
    for (const x of tokens)
      byExpiry.set(x.expiresAtMs, [...(byExpiry.get(x.expiresAtMs) ?? []), x.tokenId]);
    const shared = [...byExpiry.values()].filter((ids) => ids.length > 1);
    // 405 tokens made in a tight loop: many share a millisecond of expiry.
    expect(shared.length).toBeGreaterThan(10);
    for (const ids of shared) expect(ids).toEqual([...ids].sort());
  });

  it('an empty page value is page 1, on both lists', async () => {
    const agents = await get('/console/agents?entries=&tokens=');
    expect(agents.status).toBe(200);
    expect(summaryOf(agents.body, 'entries-summary')).toContain('(page 1 of 2)');
    const federation = await get('/console/federation?page=');
    expect(federation.status).toBe(200);
  });

  it('escapes the filter text', async () => {
    const hostile = await get(`/console/agents?q=${encodeURIComponent(HOSTILE)}`);
    expect(hostile.status).toBe(200);
    expect(hostile.body).not.toContain('<script>x');
    expect(hostile.body).toContain('value="&quot;&gt;&lt;script&gt;x&lt;/script&gt;"');
  });

  it.each([
    ['entries=0', 'entries must be a whole number from 1'],
    ['tokens=1.5', 'tokens must be a whole number from 1'],
    ['entries=01', 'entries must be a whole number from 1'],
    [`q=${'a'.repeat(2049)}`, 'q is at most 2048 characters'],
  ])('%s is 400 ERR_API_VALIDATION', async (query, message) => {
    const bad = await get(`/console/agents?${query}`);
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('ERR_API_VALIDATION');
    expect(bad.body).toContain(message);
  });
});

describe('paging', () => {
  it('a page past the last is the last; an empty list is page 1 of 1', () => {
    const items = Array.from({ length: 5 }, (_, i) => i);
    expect(pageOf(items, 9, 2)).toEqual({ rows: [4], total: 5, page: 3, pages: 3 });
    expect(pageOf([], 4)).toEqual({ rows: [], total: 0, page: 1, pages: 1 });
    expect(parsePage(undefined, 'page')).toBe(1);
    expect(parsePage('', 'page')).toBe(1);
    expect(parsePage('999999', 'page')).toBe(999_999);
    expect(() => parsePage('1000000', 'page')).toThrow('page must be a whole number from 1');
  });

  it('the Agents query parses to lowercase text and two pages; links leave defaults out', () => {
    expect(parseAgentsQuery({ q: ' E_Abc ', entries: '2' })).toEqual({
      text: 'e_abc',
      entriesPage: 2,
      tokensPage: 1,
    });
    expect(agentsHref({ text: '', entriesPage: 1, tokensPage: 1 })).toBe('/console/agents');
    expect(agentsHref({ text: 'a&b', entriesPage: 1, tokensPage: 4 })).toBe(
      '/console/agents?q=a%26b&tokens=4',
    );
  });
});
