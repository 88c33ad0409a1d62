// The console's Federation list as an admin pages through it: filtered by trust-domain text and by
// state (or "troubled": active but stale or failing), pending first, FEDERATION_PAGE_ROWS a page.
// With 1,000 partners the whole list had been one 1.2 MB page; a page of it is now 0.25 MB
// (bench/console.ts).
import { html, raw } from 'hono/html';
import { ApiError } from '../../errors.js';
import type { RelationshipView } from '../../federation/index.js';
import { esc, type Html } from './layout.js';
import { relationshipsTable, sortRelationships, type SessionView } from './pages.js';

/** Rows on one page of the Federation list. */
export const FEDERATION_PAGE_ROWS = 200;
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
/** A page number: 1 to 999,999, no leading zero. */
const PAGE = /^[1-9][0-9]{0,5}$/;

function invalid(message: string): ApiError {
  return new ApiError('ERR_API_VALIDATION', message);
}

/** The list's query string (`q`, `state`, `page`), checked: a bad value is ERR_API_VALIDATION. */
export function parseFederationQuery(query: Readonly<Record<string, string>>): FederationQuery {
  const given = (query['q'] ?? '').trim();
  // Counted as typed: lowercasing may lengthen a string ('İ' becomes two code units).
  if (given.length > MAX_TEXT) throw invalid(`q is at most ${MAX_TEXT} characters`);
  const text = given.toLowerCase();
  const state = query['state'] ?? '';
  if (state !== '' && !(FEDERATION_SHOW as readonly string[]).includes(state)) {
    throw invalid(`state must be one of ${FEDERATION_SHOW.join(', ')}`);
  }
  const page = query['page'] ?? '1';
  if (!PAGE.test(page)) {
    throw invalid('page must be a whole number from 1');
  }
  return {
    text,
    show: state === '' ? undefined : (state as FederationShow),
    page: Number(page),
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

export interface FederationSelection {
  /** This page's rows, pending first. */
  readonly rows: readonly RelationshipView[];
  /** Relationships that match the filter, on every page. */
  readonly matching: number;
  readonly page: number;
  readonly pages: number;
}

export function selectRelationships(
  list: readonly RelationshipView[],
  query: FederationQuery,
  perPage: number = FEDERATION_PAGE_ROWS,
): FederationSelection {
  const matching = sortRelationships(list.filter((view) => shows(view, query)));
  const pages = Math.max(1, Math.ceil(matching.length / perPage));
  const page = Math.min(query.page, pages);
  return {
    rows: matching.slice((page - 1) * perPage, page * perPage),
    matching: matching.length,
    page,
    pages,
  };
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

function pager(query: FederationQuery, selected: FederationSelection): string {
  const links: string[] = [];
  if (selected.page > 1) {
    links.push(
      `<a href="${esc(federationHref(query, selected.page - 1))}" data-testid="previous-page">Previous page</a>`,
    );
  }
  if (selected.page < selected.pages) {
    links.push(
      `<a href="${esc(federationHref(query, selected.page + 1))}" data-testid="next-page">Next page</a>`,
    );
  }
  return links.length === 0 ? '' : `<p>${links.join(' · ')}</p>`;
}

/** The Federation page: filter form, one page of rows, and links to the pages beside it. */
export function federationListPage(
  list: readonly RelationshipView[],
  s: SessionView,
  nowMs: number,
  query: FederationQuery,
): Html {
  const selected = selectRelationships(list, query);
  const first = (selected.page - 1) * FEDERATION_PAGE_ROWS + 1;
  const last = first + selected.rows.length - 1;
  const filtered = query.text !== '' || query.show !== undefined;
  const total = `${list.length} relationship${list.length === 1 ? '' : 's'}`;
  const count = filtered
    ? `${selected.matching} of ${total} ${selected.matching === 1 ? 'matches' : 'match'}`
    : total;
  const range =
    selected.pages === 1
      ? ''
      : `; ${first}–${last} shown (page ${selected.page} of ${selected.pages})`;
  const summary =
    selected.matching > 0
      ? `${count}${range}, pending first.`
      : filtered
        ? `none of ${total} match`
        : `${total}.`;
  return html`${filterForm(query)}
    <p data-testid="federation-summary">${summary}</p>
    ${relationshipsTable(selected.rows, s, nowMs)}${raw(pager(query, selected))}`;
}

/** An Overview list: its first OVERVIEW_ROWS rows and a link to all of them on the Federation page. */
export function overviewList(
  list: readonly RelationshipView[],
  s: SessionView,
  nowMs: number,
  show: 'pending' | 'troubled',
): Html {
  const selected = selectRelationships(list, { text: '', show, page: 1 }, OVERVIEW_ROWS);
  if (selected.matching === 0) return html`<p>none</p>`;
  const more =
    selected.matching > selected.rows.length
      ? `<p><a href="${esc(federationHref({ text: '', show }))}" data-testid="overview-more-${show}">` +
        `All ${selected.matching} (${selected.rows.length} shown)</a></p>`
      : '';
  return html`${relationshipsTable(selected.rows, s, nowMs)}${raw(more)}`;
}
