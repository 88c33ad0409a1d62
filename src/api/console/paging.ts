// Long console tables in pages (the Federation list, the Agents page's entries and join tokens): a
// page number read from the query string, one page of rows, and the links to the pages beside it.
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
export function rangeText(selected: Page<unknown>, perPage = PAGE_ROWS): string {
  if (selected.pages === 1) return '';
  const first = (selected.page - 1) * perPage + 1;
  const last = first + selected.rows.length - 1;
  return `; ${first}–${last} shown (page ${selected.page} of ${selected.pages})`;
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
