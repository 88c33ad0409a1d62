// The console's Agents page: registration entries and unused join tokens, each table in pages of
// PAGE_ROWS and filtered by one text. Neither list has a cap: an orchestrator that hands each
// short-lived agent its own join token can hold thousands of them at once.
import { html, raw } from 'hono/html';
import { idPatternText, type Entry, type TokenView } from '../../registration/index.js';
import { actionForm, iso, type Html } from './layout.js';
import { countText, pageOf, pagerLinks, parseFilterText, parsePage } from './paging.js';
import type { SessionView } from './pages.js';

export interface AgentsQuery {
  /** Lowercase text an entry's id or SPIFFE ID, or a token's id or entry id, must contain. */
  readonly text: string;
  readonly entriesPage: number;
  readonly tokensPage: number;
}

/** Longest filter text (an entry's SPIFFE ID template can be long; ID-9 caps IDs at 2,048 bytes). */
const MAX_TEXT = 2048;

/** The page's query string (`q`, `entries`, `tokens`), checked: bad values are ERR_API_VALIDATION. */
export function parseAgentsQuery(query: Readonly<Record<string, string>>): AgentsQuery {
  return {
    text: parseFilterText(query['q'], MAX_TEXT),
    entriesPage: parsePage(query['entries'], 'entries'),
    tokensPage: parsePage(query['tokens'], 'tokens'),
  };
}

/** The page's address for `query` (defaults left out). */
export function agentsHref(query: AgentsQuery): string {
  const params = new URLSearchParams();
  if (query.text !== '') params.set('q', query.text);
  if (query.entriesPage > 1) params.set('entries', String(query.entriesPage));
  if (query.tokensPage > 1) params.set('tokens', String(query.tokensPage));
  const search = params.toString();
  return search === '' ? '/console/agents' : `/console/agents?${search}`;
}

function has(text: string, ...values: readonly string[]): boolean {
  return text === '' || values.some((value) => value.toLowerCase().includes(text));
}

function entryRows(rows: readonly Entry[], s: SessionView): Html {
  return html`${rows.map(
    (e) =>
      html`<tr data-testid="entry-row">
        <td><code>${e.id}</code></td>
        <td>${idPatternText(e.pattern)}</td>
        <td>${e.federatesWith.join(', ') || '-'}</td>
        <td>${iso(e.createdAtMs)} by ${e.createdBy}</td>
        <td>
          ${s.canChange ? html`${actionForm(`/console/agents/entries/${encodeURIComponent(e.id)}/token`, s.csrf, 'Join token', { testId: 'generate-token' })} ${actionForm(`/console/agents/entries/${encodeURIComponent(e.id)}/delete`, s.csrf, 'Delete', { testId: 'delete-entry' })}` : ''}
        </td>
      </tr>`,
  )}`;
}

function tokenRows(rows: readonly TokenView[], s: SessionView): Html {
  return html`${rows.map(
    (t) =>
      html`<tr data-testid="token-row">
        <td><code>${t.tokenId}</code></td>
        <td><code>${t.entryId}</code></td>
        <td>${iso(t.expiresAtMs)}</td>
        <td>${t.createdBy}</td>
        <td>
          ${s.canChange ? actionForm(`/console/agents/tokens/${encodeURIComponent(t.tokenId)}/revoke`, s.csrf, 'Revoke', { testId: 'revoke-token' }) : ''}
        </td>
      </tr>`,
  )}`;
}

const createEntryForm = (s: SessionView): Html =>
  s.canChange
    ? html`<form method="post" action="/console/agents/entries" class="box">
        <input type="hidden" name="csrf" value="${s.csrf}" /><label
          >SPIFFE ID <input type="text" name="spiffeId" data-testid="entry-spiffe-id"
        /></label>
        <button data-testid="create-entry">Create entry</button>
      </form>`
    : html``;

/** The Agents page: the filter form, a page of entries and a page of unused join tokens. */
export function agentsPage(
  entries: readonly Entry[],
  tokens: readonly TokenView[],
  s: SessionView,
  query: AgentsQuery,
): Html {
  const text = query.text;
  const entryPage = pageOf(
    entries.filter((e) => has(text, e.id, idPatternText(e.pattern))),
    query.entriesPage,
  );
  const tokenPage = pageOf(
    tokens.filter((t) => has(text, t.tokenId, t.entryId)),
    query.tokensPage,
  );
  const entriesPager = pagerLinks(
    entryPage,
    (page) => agentsHref({ ...query, entriesPage: page }),
    'entries-',
  );
  const tokensPager = pagerLinks(
    tokenPage,
    (page) => agentsHref({ ...query, tokensPage: page }),
    'tokens-',
  );
  return html`<form method="get" action="/console/agents" class="box">
      <label
        >entry or token contains
        <input type="text" name="q" data-testid="agents-q" maxlength="2048" value="${query.text}"
      /></label>
      <button>Filter</button>
    </form>
    <h2>Entries</h2>
    <p data-testid="entries-summary">
      ${countText(entryPage, entries.length, ['entry', 'entries'], text !== '')}.
    </p>
    <table>
      <thead>
        <tr>
          <th>id</th>
          <th>SPIFFE ID</th>
          <th>federates with</th>
          <th>created</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        ${entryRows(entryPage.rows, s)}
      </tbody>
    </table>
    ${raw(entriesPager)} ${createEntryForm(s)}
    <h2>Unused join tokens</h2>
    <p data-testid="tokens-summary">
      ${countText(tokenPage, tokens.length, ['token', 'tokens'], text !== '')}.
    </p>
    <table>
      <thead>
        <tr>
          <th>token id</th>
          <th>entry</th>
          <th>expires</th>
          <th>by</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        ${tokenRows(tokenPage.rows, s)}
      </tbody>
    </table>
    ${raw(tokensPager)}`;
}
