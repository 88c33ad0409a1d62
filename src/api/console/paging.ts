// Long console tables in pages (the Federation list, the Agents page's entries and join tokens): a
// page number and a filter text read from the query string, one page of rows, the sentence that
// counts them, and the links to the pages beside it.
import { ApiError } from '../../errors.js';
import { esc } from './layout.js';

/** Rows on one page of a console table. */
export const PAGE_ROWS = 200;
/** A page number: 1 to 999,999, no leading zero. */
const PAGE = /^[1-9][0-9]{0,5}$/;

/** The page number in `value` (absent or '' is 1); anything else is ERR_API_VALIDATION. */
export function parsePage(value: string | undefined, name: string): number {
  if (value === undefined || value === '') return 1;
  if (!PAGE.test(value)) {
    throw new ApiError('ERR_API_VALIDATION', `${name} must be a whole number from 1`);
  }
  return Number(value);
}

/**
 * The filter text in `value` (absent is ''), trimmed and lowercased; longer than `max` is
 * ERR_API_VALIDATION. Counted as typed: lowercasing may lengthen a string ('İ' becomes two code
 * units).
 */
export function parseFilterText(value: string | undefined, max: number): string {
  const given = (value ?? '').trim();
  if (given.length > max) {
    throw new ApiError('ERR_API_VALIDATION', `q is at most ${max} characters`);
  }
  return given.toLowerCase();
}

export interface Page<T> {
  readonly rows: readonly T[];
  /** Rows on every page together. */
  readonly total: number;
  /** 1-based; a page asked for past the last is the last. */
  readonly page: number;
  readonly pages: number;
}

export function pageOf<T>(items: readonly T[], page: number, perPage = PAGE_ROWS): Page<T> {
  const pages = Math.max(1, Math.ceil(items.length / perPage));
  const shown = Math.min(page, pages);
  return {
    rows: items.slice((shown - 1) * perPage, shown * perPage),
    total: items.length,
    page: shown,
    pages,
  };
}

/** "; a–b shown (page p of P)" when there is more than one page, else ''. */
function rangeText(selected: Page<unknown>, perPage = PAGE_ROWS): string {
  if (selected.pages === 1) return '';
  const first = (selected.page - 1) * perPage + 1;
  const last = first + selected.rows.length - 1;
  return `; ${first}–${last} shown (page ${selected.page} of ${selected.pages})`;
}

/**
 * How many rows there are and which are shown, without a final stop: `N nouns` (unfiltered) or
 * `M of N nouns match` (filtered), then the range when there is more than one page; `none of N
 * nouns match` when a filter leaves nothing.
 */
export function countText(
  selected: Page<unknown>,
  all: number,
  [one, many]: readonly [string, string],
  filtered: boolean,
): string {
  const total = `${all} ${all === 1 ? one : many}`;
  if (!filtered) return `${total}${rangeText(selected)}`;
  if (selected.total === 0) return `none of ${total} match`;
  const verb = selected.total === 1 ? 'matches' : 'match';
  return `${selected.total} of ${total} ${verb}${rangeText(selected)}`;
}

/**
 * Links to the previous and next page (`href(page)` gives each address), escaped; '' for one page.
 * `testId` prefixes the links' data-testid (`previous-page`, `next-page`).
 */
export function pagerLinks(
  selected: Page<unknown>,
  href: (page: number) => string,
  testId = '',
): string {
  const link = (page: number, id: string, label: string): string =>
    `<a href="${esc(href(page))}" data-testid="${testId}${id}">${label}</a>`;
  const links: string[] = [];
  if (selected.page > 1) links.push(link(selected.page - 1, 'previous-page', 'Previous page'));
  if (selected.page < selected.pages) links.push(link(selected.page + 1, 'next-page', 'Next page'));
  return links.length === 0 ? '' : `<p>${links.join(' · ')}</p>`;
}
