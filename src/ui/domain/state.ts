// The dashboards' state, and how it reads in the URL so that a link shows the same view:
//
//   #/<page>?last=1h&refresh=30&pod=shop/web-1&sort=-octetDeltaCount&offset=50&row=3
//   #/<page>?from=1700000000&to=1700003600&...
//
// Filters are kept as the text the store API takes (parseFlowQuery validates them on the
// server, which answers 400 with what to write instead). Pure: no DOM.

export const PAGES = [
  { id: 'overview', title: 'Overview' },
  { id: 'pod-to-pod', title: 'Pod-to-Pod' },
  { id: 'pod-to-external', title: 'Pod-to-External' },
  { id: 'pod-to-service', title: 'Pod-to-Service' },
  { id: 'flow-records', title: 'Flow Records' },
  { id: 'node-throughput', title: 'Node Throughput' },
  { id: 'network-policy', title: 'Network Policy' },
] as const;

export type PageId = (typeof PAGES)[number]['id'];

/** Every filter of the query layer, in the order the filter bar shows them. */
export const FILTER_KEYS = ['namespace', 'pod', 'node', 'service', 'ip', 'port', 'protocol', 'flowType', 'action', 'policy', 'ingressPolicy', 'egressPolicy'] as const;
export type FilterKey = (typeof FILTER_KEYS)[number];
export type Filters = Partial<Record<FilterKey, string>>;

export const FILTER_HINTS: Record<FilterKey, string> = {
  namespace: 'shop',
  pod: 'shop/web-1 or web-1',
  node: 'node-a',
  service: 'shop/frontend or shop/frontend:http',
  ip: '10.10.0.5 or 10.10.0.0/16',
  port: '443',
  protocol: 'tcp, udp, icmp or a number',
  flowType: 'intraNode, interNode, toExternal, fromExternal',
  action: 'allow, drop or reject',
  policy: 'shop/allow-web (ingress or egress)',
  ingressPolicy: 'shop/allow-web',
  egressPolicy: 'shop/deny-dns',
};

export type TimeRange = { last: string } | { from: number; to: number };

export interface UiState {
  page: PageId;
  range: TimeRange;
  /** Auto-refresh period in seconds; 0: off. */
  refresh: number;
  filters: Filters;
  /** Flow Records: sort column, '-' first for descending; '' for newest first. */
  sort: string;
  /** Flow Records: offset of the page. */
  offset: number;
  /** Flow Records: the row whose detail panel is open (index on the page); -1 for none. */
  row: number;
}

export const RANGE_PRESETS: readonly string[] = ['5m', '15m', '1h', '6h', '24h', '168h'];
export const REFRESH_CHOICES: readonly number[] = [0, 10, 30, 60, 300];
export const DEFAULT_STATE: Readonly<UiState> = Object.freeze({ page: 'overview', range: { last: '1h' }, refresh: 0, filters: {}, sort: '', offset: 0, row: -1 });
export const FLOW_PAGE_SIZE = 50;

const isPage = (v: string): v is PageId => PAGES.some((p) => p.id === v);
const isFilterKey = (v: string): v is FilterKey => (FILTER_KEYS as readonly string[]).includes(v);
/** Go-style, as the server's parseDuration reads it: 15m, 1h, 168h. */
const DURATION = /^\d+(ms|s|m|h)$/;
const EPOCH = /^\d{1,12}$/;
const SORT = /^-?[A-Za-z]{1,64}$/;

/** Reads the state from a location hash; values it cannot read fall back to the defaults. */
export function stateFromHash(hash: string): UiState {
  const text = hash.startsWith('#') ? hash.slice(1) : hash;
  const q = text.indexOf('?');
  const path = (q < 0 ? text : text.slice(0, q)).replace(/^\/+|\/+$/g, '');
  const params = new URLSearchParams(q < 0 ? '' : text.slice(q + 1));
  const state: UiState = { ...DEFAULT_STATE, filters: {}, range: { ...DEFAULT_STATE.range } };
  if (isPage(path)) state.page = path;
  const from = params.get('from');
  const to = params.get('to');
  const last = params.get('last');
  if (from !== null && to !== null && EPOCH.test(from) && EPOCH.test(to) && Number(from) < Number(to)) state.range = { from: Number(from), to: Number(to) };
  else if (last !== null && DURATION.test(last)) state.range = { last };
  const refresh = Number(params.get('refresh'));
  if (REFRESH_CHOICES.includes(refresh)) state.refresh = refresh;
  for (const [key, value] of params) if (isFilterKey(key) && value.trim() !== '') state.filters[key] = value.trim();
  const sort = params.get('sort');
  if (sort !== null && SORT.test(sort)) state.sort = sort;
  const offset = Number(params.get('offset'));
  if (Number.isInteger(offset) && offset > 0) state.offset = offset;
  const row = Number(params.get('row') ?? '-1');
  if (Number.isInteger(row) && row >= 0) state.row = row;
  return state;
}

/** The hash for a state; defaults are left out, so links stay short. */
export function stateToHash(state: UiState): string {
  const params = new URLSearchParams();
  if ('last' in state.range) params.set('last', state.range.last);
  else {
    params.set('from', String(state.range.from));
    params.set('to', String(state.range.to));
  }
  if (state.refresh !== 0) params.set('refresh', String(state.refresh));
  for (const key of FILTER_KEYS) {
    const v = state.filters[key];
    if (v !== undefined && v !== '') params.set(key, v);
  }
  if (state.page === 'flow-records') {
    if (state.sort !== '') params.set('sort', state.sort);
    if (state.offset > 0) params.set('offset', String(state.offset));
    if (state.row >= 0) params.set('row', String(state.row));
  }
  return `#/${state.page}?${params.toString()}`;
}

/** The store API's query parameters for a page in this state. */
export function apiParams(state: UiState): URLSearchParams {
  const params = new URLSearchParams();
  if ('last' in state.range) params.set('last', state.range.last);
  else {
    params.set('from', String(state.range.from));
    params.set('to', String(state.range.to));
  }
  for (const key of FILTER_KEYS) {
    const v = state.filters[key];
    if (v !== undefined && v !== '') params.set(key, v);
  }
  if (state.page === 'flow-records') {
    params.set('limit', String(FLOW_PAGE_SIZE));
    if (state.offset > 0) params.set('offset', String(state.offset));
    if (state.sort !== '') params.set('sort', state.sort);
  } else {
    params.set('limit', '50');
  }
  return params;
}

/** Sets (or, with '' or the same value again, clears) one filter; the table goes back to its first page. */
export function withFilter(state: UiState, key: FilterKey, value: string, toggle = false): UiState {
  const filters = { ...state.filters };
  const v = value.trim();
  if (v === '' || (toggle && filters[key] === v)) delete filters[key];
  else filters[key] = v;
  return { ...state, filters, offset: 0, row: -1 };
}

/** Sorting by a column: first descending, then ascending, then back to the default order. */
export function nextSort(current: string, column: string): string {
  if (current === `-${column}`) return column;
  if (current === column) return '';
  return `-${column}`;
}

/** The range in epoch seconds at `nowSeconds`, for labels and rate maths. */
export function rangeSeconds(range: TimeRange, nowSeconds: number): { from: number; to: number } {
  if ('from' in range) return { from: range.from, to: range.to };
  const m = /^(\d+)(ms|s|m|h)$/.exec(range.last);
  const unit: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };
  const span = m ? Math.max(1, Math.floor(Number(m[1]) * unit[m[2]])) : 3600;
  return { from: nowSeconds - span, to: nowSeconds };
}
