// Pure state of the Runs view (no DOM): the ListAgents request of the filters, the page-token
// stack for prev/next, and the filters as a URL query (`#/runs?status=running,failed&q=abc`).

import { RUN_STATUSES, runStatusEnum } from './format.js';

export const PAGE_SIZE = 100;

/** The ListAgents request body for `{statuses: Set|Array, query, pageToken}`. */
export function listAgentsRequest({ statuses = [], query = '', pageToken = '' } = {}) {
  const selected = [...statuses];
  const body = { limit: PAGE_SIZE };
  const enums = selected.filter((s) => s !== 'dead_lettered' && RUN_STATUSES.includes(s)).map(runStatusEnum);
  if (enums.length) body.statuses = enums;
  if (selected.includes('dead_lettered')) body.deadLettered = true;
  const q = query.trim();
  if (q) body.query = q;
  if (pageToken) body.pageToken = pageToken;
  return body;
}

/** Pages of a listing: the token of the page shown and the tokens of the pages before it. */
export class Pager {
  constructor() {
    this.reset();
  }

  reset() {
    this.current = '';
    this.previous = [];
    this.nextToken = '';
  }

  /** Page number from 1. */
  get page() {
    return this.previous.length + 1;
  }

  get hasPrev() {
    return this.previous.length > 0;
  }

  get hasNext() {
    return this.nextToken !== '';
  }

  /** Records the `nextPageToken` of the page just loaded. */
  loaded(nextToken) {
    this.nextToken = nextToken ?? '';
  }

  /** Moves to the next page; returns its token (or null when there is none). */
  next() {
    if (!this.nextToken) return null;
    this.previous.push(this.current);
    this.current = this.nextToken;
    this.nextToken = '';
    return this.current;
  }

  /** Moves to the previous page; returns its token (or null on the first page). */
  prev() {
    if (!this.previous.length) return null;
    this.current = this.previous.pop();
    this.nextToken = '';
    return this.current;
  }
}

/** Filters → query string (`status=running,failed&q=abc`), `` when there are none. */
export function filtersToQuery({ statuses = [], query = '' }) {
  const params = new URLSearchParams();
  const s = RUN_STATUSES.filter((x) => [...statuses].includes(x));
  if (s.length) params.set('status', s.join(','));
  if (query.trim()) params.set('q', query.trim());
  return params.toString();
}

/** Query string → filters. Unknown statuses are dropped. */
export function queryToFilters(text) {
  const params = new URLSearchParams(text ?? '');
  const statuses = new Set((params.get('status') ?? '').split(',').filter((s) => RUN_STATUSES.includes(s)));
  return { statuses, query: params.get('q') ?? '' };
}

/** A function that calls `fn` once `ms` after the last of a burst of calls. */
export function debounce(fn, ms) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      fn(...args);
    }, ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}
