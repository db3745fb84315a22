// The dashboards' entry point: the shell (pages, time range, auto-refresh, filters) around the
// current page, drawn again whenever the store changes.
//
//   api (fetch) -> domain (pure: state, formats, chart data) -> store (AppStore) -> components/pages
import type { EdgesData, FlowRecordsData, NodeSeriesData, OverviewData, PolicyData } from './api/types.js';
import type { Entity } from './domain/charts.js';
import { formatTime } from './domain/format.js';
import { FILTER_HINTS, FILTER_KEYS, PAGES, RANGE_PRESETS, REFRESH_CHOICES, stateToHash, type FilterKey, type UiState } from './domain/state.js';
import type { ChartHost } from './components/chart.js';
import { clear, h } from './components/dom.js';
import { errorState, type PageContext } from './components/widgets.js';
import { EDGE_PAGES, renderEdges } from './pages/edges.js';
import { renderFlowRecords } from './pages/flow-records.js';
import { renderNetworkPolicy } from './pages/network-policy.js';
import { renderNodeThroughput } from './pages/node-throughput.js';
import { renderOverview } from './pages/overview.js';
import { AppStore, type View } from './store/app-store.js';

const store = new AppStore(window);
// ECharts is most of the code: it loads as its own chunk while the page's data is fetched, and
// a page is drawn once both are here.
let charts: ChartHost | null = null;
let chartsFailed: Error | null = null;
const chartsLoaded = import('./components/chart.js').then(
  (m) => {
    charts = new m.ChartHost();
  },
  (err: Error) => {
    chartsFailed = err;
  },
);
const painted = new Set<string>();

const nav = h('nav', { class: 'pages', 'aria-label': 'Dashboards' });
const controls = h('div', { class: 'controls' });
const filterBar = h('div', { class: 'filters', 'aria-label': 'Filters' });
const status = h('div', { class: 'status', role: 'status', 'aria-live': 'polite' });
const content = h('main', { id: 'page' });
document.body.append(
  h('header', {}, h('div', { class: 'brand' }, h('a', { href: '#/overview' }, 'flowvis')), nav, controls),
  filterBar,
  status,
  content,
);

function drawNav(state: UiState): void {
  clear(nav);
  for (const p of PAGES) {
    const href = stateToHash({ ...state, page: p.id, offset: 0, row: -1, sort: p.id === 'flow-records' ? state.sort : '' });
    nav.append(h('a', { href, class: p.id === state.page ? 'active' : '', 'aria-current': p.id === state.page ? 'page' : undefined, 'data-nav': p.id }, p.title));
  }
}

function toEpoch(local: string): number | null {
  // datetime-local values are read as UTC, like every time the pages show.
  const ms = Date.parse(local.length === 16 ? `${local}:00Z` : `${local}Z`);
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : null;
}

function toLocalInput(epoch: number): string {
  return new Date(epoch * 1000).toISOString().slice(0, 16);
}

function drawControls(state: UiState): void {
  clear(controls);
  const custom = 'from' in state.range;
  const range = h(
    'select',
    {
      'aria-label': 'Time range',
      'data-control': 'range',
      onchange: (ev: Event) => {
        const v = (ev.target as HTMLSelectElement).value;
        if (v === 'custom') {
          const now = Math.floor(Date.now() / 1000);
          store.navigate({ ...state, range: { from: now - 3600, to: now }, offset: 0, row: -1 });
        } else store.navigate({ ...state, range: { last: v }, offset: 0, row: -1 });
      },
    },
    RANGE_PRESETS.map((p) => h('option', { value: p, selected: 'last' in state.range && state.range.last === p }, `Last ${p}`)),
    'last' in state.range && !RANGE_PRESETS.includes(state.range.last) ? h('option', { value: state.range.last, selected: true }, `Last ${state.range.last}`) : null,
    h('option', { value: 'custom', selected: custom }, 'Custom…'),
  );
  controls.append(range);
  if ('from' in state.range) {
    const r = state.range;
    const from = h('input', { type: 'datetime-local', value: toLocalInput(r.from), 'aria-label': 'From (UTC)', 'data-control': 'from' });
    const to = h('input', { type: 'datetime-local', value: toLocalInput(r.to), 'aria-label': 'To (UTC)', 'data-control': 'to' });
    const apply = () => {
      const f = toEpoch(from.value);
      const t = toEpoch(to.value);
      if (f !== null && t !== null && f < t) store.navigate({ ...state, range: { from: f, to: t }, offset: 0, row: -1 });
      else from.setCustomValidity('From must be before To');
      from.reportValidity();
    };
    from.addEventListener('change', apply);
    to.addEventListener('change', apply);
    controls.append(from, to);
  }
  controls.append(
    h(
      'select',
      { 'aria-label': 'Auto-refresh', 'data-control': 'refresh', onchange: (ev: Event) => store.navigate({ ...state, refresh: Number((ev.target as HTMLSelectElement).value) }) },
      REFRESH_CHOICES.map((s) => h('option', { value: s, selected: state.refresh === s }, s === 0 ? 'Auto-refresh off' : `Every ${s < 60 ? `${s}s` : `${s / 60}m`}`)),
    ),
    h('button', { type: 'button', 'data-control': 'reload', onclick: () => void store.load(), title: 'Load again now' }, '↻'),
  );
}

function drawFilters(state: UiState): void {
  clear(filterBar);
  for (const key of FILTER_KEYS) {
    const v = state.filters[key];
    if (v === undefined) continue;
    filterBar.append(
      h('span', { class: 'chip', 'data-filter': key }, `${key}: ${v}`, h('button', { type: 'button', 'aria-label': `Remove the ${key} filter`, onclick: () => store.setFilter(key, '') }, '×')),
    );
  }
  const select = h('select', { 'aria-label': 'Filter field', 'data-control': 'filter-key' }, FILTER_KEYS.map((k) => h('option', { value: k }, k)));
  const input = h('input', { 'aria-label': 'Filter value', 'data-control': 'filter-value', placeholder: FILTER_HINTS.namespace });
  select.addEventListener('change', () => (input.placeholder = FILTER_HINTS[select.value as FilterKey]));
  filterBar.append(
    h(
      'form',
      {
        class: 'add-filter',
        onsubmit: (ev: Event) => {
          ev.preventDefault();
          if (input.value.trim() !== '') store.setFilter(select.value as FilterKey, input.value);
        },
      },
      select,
      input,
      h('button', { type: 'submit' }, 'Add filter'),
    ),
  );
  if (Object.keys(state.filters).length > 0) filterBar.append(h('button', { type: 'button', class: 'clear', onclick: () => store.navigate({ ...state, filters: {}, offset: 0, row: -1 }) }, 'Clear all'));
}

function drawStatus(view: View): void {
  clear(status);
  const data = view.data as { range?: { from: number; to: number } } | null;
  if (view.status === 'loading') status.append(h('span', { class: 'spinner' }, 'Loading…'));
  if (data?.range) status.append(h('span', {}, `${formatTime(data.range.from)} – ${formatTime(data.range.to)} UTC`));
  if (view.loadedAt > 0) status.append(h('span', {}, `updated ${new Date(view.loadedAt).toISOString().slice(11, 19)} UTC`));
}

function context(state: UiState, charts: ChartHost): PageContext {
  return {
    state,
    charts,
    filterBy: (e: Entity) => store.setFilter(e.kind, e.value, true),
    setFilter: (k, v) => store.setFilter(k, v),
    navigate: (next) => store.navigate(next),
    edgeAddresses: (edges) => store.edgeAddresses(edges),
  };
}

let drawnKey = '';
let drawnAt = 0;

function drawPage(state: UiState, view: View): void {
  const key = store.queryKey();
  if (view.status === 'error' && view.error) {
    charts?.disposeAll();
    clear(content);
    content.append(errorState(view.error.code, view.error.message, () => void store.load()));
    drawnKey = '';
    document.documentElement.dataset.state = 'error';
    return;
  }
  if (view.status !== 'ready' || view.dataKey !== key) {
    // Keep the previous page while the next loads, unless it answered another page.
    if (drawnKey.split('?')[0] !== state.page) {
      charts?.disposeAll();
      clear(content);
      content.append(h('div', { class: 'loading' }, 'Loading…'));
      drawnKey = '';
    }
    document.documentElement.dataset.state = 'loading';
    return;
  }
  if (drawnKey === key && drawnAt === view.loadedAt) return;
  if (chartsFailed) {
    clear(content);
    content.append(errorState('UI_ERR_NETWORK', `the charts' code did not load: ${chartsFailed.message}`, () => window.location.reload()));
    document.documentElement.dataset.state = 'error';
    return;
  }
  if (!charts) {
    // The data came before the charts' code: draw when it is here (with the state of then).
    void chartsLoaded.then(() => drawPage(store.state, store.view));
    return;
  }
  charts.disposeAll();
  clear(content);
  content.append(h('h1', {}, PAGES.find((p) => p.id === state.page)?.title ?? ''));
  const ctx = context(state, charts);
  const d = view.data;
  switch (state.page) {
    case 'overview':
      renderOverview(content, d as OverviewData, ctx);
      break;
    case 'flow-records':
      renderFlowRecords(content, d as FlowRecordsData, ctx);
      break;
    case 'node-throughput':
      renderNodeThroughput(content, d as NodeSeriesData, ctx);
      break;
    case 'network-policy':
      renderNetworkPolicy(content, d as PolicyData, ctx);
      break;
    default:
      if (EDGE_PAGES[state.page]) renderEdges(content, state.page, d as EdgesData, ctx);
  }
  // The page asked for its charts while it was built; they are drawn now, all boxes measured at once.
  charts.flush();
  drawnKey = key;
  drawnAt = view.loadedAt;
  // First meaningful paint of this page: its data is drawn (charts draw synchronously).
  if (!painted.has(state.page)) {
    painted.add(state.page);
    performance.mark(`flowvis:paint:${state.page}`);
  }
  document.documentElement.dataset.state = 'ready';
  document.documentElement.dataset.drawn = key;
}

store.subscribe((state, view) => {
  document.title = `${PAGES.find((p) => p.id === state.page)?.title ?? ''} · flowvis`;
  drawNav(state);
  drawControls(state);
  drawFilters(state);
  drawStatus(view);
  drawPage(state, view);
});
store.start();
