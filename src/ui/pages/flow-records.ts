// Flow Records: the raw records over time, a table sorted by any column and paged, and a detail
// panel with every stored field (every IE of the record) for the selected row.
import type { FlowRecordsData, FlowRow } from '../api/types.js';
import { toLineSeries } from '../domain/charts.js';
import { actionName, formatBytes, formatColumn, formatCount, formatEndpoint, formatTime, flowTypeName, isDeniedAction, protocolName } from '../domain/format.js';
import { FLOW_PAGE_SIZE, nextSort } from '../domain/state.js';
import { h } from '../components/dom.js';
import { chartBox, emptyState, entityLink, panel, type PageContext } from '../components/widgets.js';
import { endpointEntity } from '../domain/charts.js';

interface FlowColumn {
  label: string;
  /** The stored column the header sorts by. */
  sort: string;
  numeric?: boolean;
  cell(r: FlowRow, ctx: PageContext): Node | string;
}

const s = (r: FlowRow, k: string) => String(r[k] ?? '');
const n = (r: FlowRow, k: string) => Number(r[k] ?? 0);

function endpointCell(ctx: PageContext, r: FlowRow, side: 'source' | 'destination'): Node {
  const ns = s(r, `${side}PodNamespace`);
  const pod = s(r, `${side}PodName`);
  const ip = s(r, `${side}IP`);
  const text = formatEndpoint(ns, pod, ip, n(r, `${side}TransportPort`));
  return entityLink(ctx, text, pod !== '' ? { kind: 'pod', value: `${ns}/${pod}` } : endpointEntity(ip));
}

const COLUMNS: FlowColumn[] = [
  { label: 'Flow end', sort: 'flowEndSeconds', cell: (r) => formatTime(n(r, 'flowEndSeconds')) },
  { label: 'Source', sort: 'sourcePodName', cell: (r, ctx) => endpointCell(ctx, r, 'source') },
  { label: 'Destination', sort: 'destinationPodName', cell: (r, ctx) => endpointCell(ctx, r, 'destination') },
  {
    label: 'Service',
    sort: 'destinationServicePortName',
    cell: (r, ctx) => (s(r, 'destinationServicePortName') === '' ? '' : entityLink(ctx, s(r, 'destinationServicePortName'), { kind: 'service', value: s(r, 'destinationServicePortName') })),
  },
  { label: 'Proto', sort: 'protocolIdentifier', cell: (r) => protocolName(n(r, 'protocolIdentifier')) },
  { label: 'Type', sort: 'flowType', cell: (r) => flowTypeName(n(r, 'flowType')) },
  { label: 'Bytes', sort: 'octetDeltaCount', numeric: true, cell: (r) => formatBytes(n(r, 'octetDeltaCount')) },
  { label: 'Rev. bytes', sort: 'reverseOctetDeltaCount', numeric: true, cell: (r) => formatBytes(n(r, 'reverseOctetDeltaCount')) },
  { label: 'Packets', sort: 'packetDeltaCount', numeric: true, cell: (r) => formatCount(n(r, 'packetDeltaCount')) },
  {
    label: 'Policy',
    sort: 'ingressNetworkPolicyRuleAction',
    cell: (r) => {
      const ing = n(r, 'ingressNetworkPolicyRuleAction');
      const eg = n(r, 'egressNetworkPolicyRuleAction');
      const denied = isDeniedAction(ing) || isDeniedAction(eg);
      const text = [eg ? `egress ${actionName(eg)}` : '', ing ? `ingress ${actionName(ing)}` : ''].filter(Boolean).join(', ');
      return text === '' ? '' : h('span', { class: `badge${denied ? ' denied' : ''}` }, text);
    },
  },
];

function isDenied(r: FlowRow): boolean {
  return isDeniedAction(n(r, 'ingressNetworkPolicyRuleAction')) || isDeniedAction(n(r, 'egressNetworkPolicyRuleAction'));
}

export function renderFlowRecords(root: HTMLElement, d: FlowRecordsData, ctx: PageContext): void {
  const st = ctx.state;
  const chart = chartBox('throughput', d.items.length === 0 && st.offset === 0);
  root.append(panel('Traffic of the matching records over time', chart));
  if (d.items.length === 0) {
    root.append(emptyState(st.offset > 0 ? 'No records on this page: go back to the first page.' : 'No flow records in this range with these filters.'));
    if (st.offset > 0) root.append(h('button', { type: 'button', onclick: () => ctx.navigate({ ...st, offset: 0, row: -1 }) }, 'First page'));
    return;
  }
  const header = h(
    'tr',
    {},
    COLUMNS.map((c) => {
      const dir = st.sort === c.sort ? 'ascending' : st.sort === `-${c.sort}` ? 'descending' : 'none';
      return h(
        'th',
        { class: c.numeric ? 'num' : '', 'aria-sort': dir },
        h('button', { type: 'button', class: 'sort', 'data-sort': c.sort, onclick: () => ctx.navigate({ ...st, sort: nextSort(st.sort, c.sort), offset: 0, row: -1 }) }, c.label, dir === 'ascending' ? ' ▲' : dir === 'descending' ? ' ▼' : ''),
      );
    }),
  );
  const rows = d.items.map((r, i) =>
    h(
      'tr',
      {
        class: `${isDenied(r) ? 'denied ' : ''}${i === st.row ? 'selected' : ''}`,
        'data-row': i,
        tabindex: 0,
        onclick: (ev: Event) => {
          if ((ev.target as Element).closest('button')) return;
          ctx.navigate({ ...st, row: i === st.row ? -1 : i });
        },
        onkeydown: (ev: Event) => {
          if ((ev as KeyboardEvent).key === 'Enter') ctx.navigate({ ...st, row: i === st.row ? -1 : i });
        },
      },
      COLUMNS.map((c) => h('td', { class: c.numeric ? 'num' : '' }, c.cell(r, ctx))),
    ),
  );
  const first = st.offset + 1;
  const last = st.offset + d.items.length;
  const pager = h(
    'div',
    { class: 'pager' },
    h('button', { type: 'button', 'data-page': 'prev', disabled: st.offset === 0, onclick: () => ctx.navigate({ ...st, offset: Math.max(0, st.offset - FLOW_PAGE_SIZE), row: -1 }) }, '← Newer'),
    h('span', { 'data-range': `${first}-${last}` }, `records ${formatCount(first)}–${formatCount(last)}`),
    h('button', { type: 'button', 'data-page': 'next', disabled: d.page.nextOffset === null, onclick: () => ctx.navigate({ ...st, offset: d.page.nextOffset ?? st.offset, row: -1 }) }, 'Older →'),
  );
  const body = h('div', { class: 'records' }, h('div', { class: 'table-wrap' }, h('table', { 'data-table': 'flows' }, h('thead', {}, header), h('tbody', {}, rows))));
  const selected = st.row >= 0 ? d.items[st.row] : undefined;
  if (selected) {
    body.append(
      h(
        'aside',
        { class: 'detail', 'data-detail': '' },
        h('div', { class: 'detail-head' }, h('h3', {}, 'Record detail'), h('button', { type: 'button', onclick: () => ctx.navigate({ ...st, row: -1 }), 'aria-label': 'Close the detail panel' }, '×')),
        h('dl', {}, Object.entries(selected).flatMap(([k, v]) => [h('dt', {}, k), h('dd', { 'data-field': k }, formatColumn(k, v))])),
      ),
    );
  }
  root.append(panel('Flow records', pager, body));
  if (d.throughput.series.length > 0) {
    const set = d.throughput;
    ctx.charts.line(chart, [...toLineSeries(set, 'tx', () => 'Tx'), ...toLineSeries(set, 'rx', () => 'Rx')]);
  }
}
