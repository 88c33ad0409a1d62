// The console's Federation list as an admin pages through it: filtered by trust-domain text and by
// state (or "troubled": active but stale or failing), pending first, FEDERATION_PAGE_ROWS a page.
// With 1,000 partners the whole list had been one 1.2 MB page; a page of it is now 0.25 MB
// (bench/console.ts).
import { html, raw } from 'hono/html';
import { ApiError } from '../../errors.js';
import type { RelationshipView } from '../../federation/index.js';
import { esc, type Html } from './layout.js';
import {
  PAGE_ROWS,
  countText,
  pageOf,
  pagerLinks,
  parseFilterText,
  parsePage,
  type Page,
} from './paging.js';
import { relationshipsTable, sortRelationships, type SessionView } from './pages.js';

/** Rows on one page of the Federation list. */
export const FEDERATION_PAGE_ROWS = PAGE_ROWS;
/** Rows of each list on the Overview (pending, troubled), with a link to the rest. */
export const OVERVIEW_ROWS = 20;

export const FEDERATION_SHOW = ['pending', 'active', 'suspended', 'rejected', 'troubled'] as const;
export type FederationShow = (typeof FEDERATION_SHOW)[number];

export interface FederationQuery {
  /** Lowercase text the trust domain must contain; '' for any. */
  readonly text: string;
  readonly show: FederationShow | undefined;
  /** 1-based; past the last page shows the last page. */
  readonly page: number;
}

/** Longest filter text (a trust domain name is at most 255 characters). */
const MAX_TEXT = 255;

/** The list's query string (`q`, `state`, `page`), checked: a bad value is ERR_API_VALIDATION. */
export function parseFederationQuery(query: Readonly<Record<string, string>>): FederationQuery {
  const state = query['state'] ?? '';
  if (state !== '' && !(FEDERATION_SHOW as readonly string[]).includes(state)) {
    throw new ApiError('ERR_API_VALIDATION', `state must be one of ${FEDERATION_SHOW.join(', ')}`);
  }
  return {
    text: parseFilterText(query['q'], MAX_TEXT),
    show: state === '' ? undefined : (state as FederationShow),
    page: parsePage(query['page'], 'page'),
  };
}

/** Active, but its bundle is stale or its last refresh failed. */
export function isTroubled(view: RelationshipView): boolean {
  return (
    view.relationship.state === 'active' && (view.status.stale || view.status.lastError !== null)
  );
}

function shows(view: RelationshipView, query: FederationQuery): boolean {
  if (query.text !== '' && !view.relationship.trustDomain.includes(query.text)) return false;
  if (query.show === undefined) return true;
  return query.show === 'troubled' ? isTroubled(view) : view.relationship.state === query.show;
}

/** One page of the relationships that match `query`, pending first. */
export function selectRelationships(
  list: readonly RelationshipView[],
  query: FederationQuery,
  perPage: number = FEDERATION_PAGE_ROWS,
): Page<RelationshipView> {
  return pageOf(sortRelationships(list.filter((view) => shows(view, query))), query.page, perPage);
}

/** The list's address for `query` at `page` (defaults left out). */
export function federationHref(query: Omit<FederationQuery, 'page'>, page = 1): string {
  const params = new URLSearchParams();
  if (query.text !== '') params.set('q', query.text);
  if (query.show !== undefined) params.set('state', query.show);
  if (page > 1) params.set('page', String(page));
  const search = params.toString();
  return search === '' ? '/console/federation' : `/console/federation?${search}`;
}

function filterForm(query: FederationQuery): Html {
  const option = (value: string, label: string): string =>
    `<option value="${value}"${(query.show ?? '') === value ? ' selected' : ''}>${label}</option>`;
  return html`<form method="get" action="/console/federation" class="box">
    <label
      >trust domain contains
      <input type="text" name="q" data-testid="federation-q" maxlength="255" value="${query.text}"
    /></label>
    <label
      >state
      <select name="state" data-testid="federation-state">
        ${raw(
          option('', 'any') +
            FEDERATION_SHOW.map((s) => option(s, s === 'troubled' ? 'stale or failing' : s)).join(
              '',
            ),
        )}
      </select></label
    >
    <button>Filter</button>
  </form>`;
}

/** The Federation page: filter form, one page of rows, and links to the pages beside it. */
export function federationListPage(
  list: readonly RelationshipView[],
  s: SessionView,
  nowMs: number,
  query: FederationQuery,
): Html {
  const selected = selectRelationships(list, query);
  const filtered = query.text !== '' || query.show !== undefined;
  const count = countText(selected, list.length, ['relationship', 'relationships'], filtered);
  const summary = selected.total > 0 ? `${count}, pending first.` : filtered ? count : `${count}.`;
  const pager = pagerLinks(selected, (page) => federationHref(query, page));
  return html`${filterForm(query)}
    <p data-testid="federation-summary">${summary}</p>
    ${relationshipsTable(selected.rows, s, nowMs)}${raw(pager)}`;
}

/** An Overview list: its first OVERVIEW_ROWS rows and a link to all of them on the Federation page. */
export function overviewList(
  list: readonly RelationshipView[],
  s: SessionView,
  nowMs: number,
  show: 'pending' | 'troubled',
): Html {
  const selected = selectRelationships(list, { text: '', show, page: 1 }, OVERVIEW_ROWS);
  if (selected.total === 0) return html`<p>none</p>`;
  const more =
    selected.total > selected.rows.length
      ? `<p><a href="${esc(federationHref({ text: '', show }))}" data-testid="overview-more-${show}">` +
        `All ${selected.total} (${selected.rows.length} shown)</a></p>`
      : '';
  return html`${relationshipsTable(selected.rows, s, nowMs)}${raw(more)}`;
}
