// Network Policy: filters by ingress and egress policy (name and namespace), a sankey from the
// egress policy (source side) to the ingress policy (destination side) whose tooltips list the
// Pod-to-Pod traffic, the throughput under the policies, and denied flows in red.
import type { PolicyData } from '../api/types.js';
import { endpointEntity, policyEdgesToSankey, toLineSeries } from '../domain/charts.js';
import { actionName, formatBytes, formatCount, isDeniedAction } from '../domain/format.js';
import type { FilterKey } from '../domain/state.js';
import { h } from '../components/dom.js';
import { chartBox, emptyState, entityLink, grid, panel, table, type PageContext } from '../components/widgets.js';

/** Pod pairs the server lists (src/store/dashboard-queries.ts POLICY_POD_EDGES). */
const POLICY_TABLE_ROWS = 200;

function policyForm(ctx: PageContext): HTMLElement {
  const field = (key: FilterKey, side: string) => {
    const [ns, name] = (ctx.state.filters[key] ?? '').includes('/') ? (ctx.state.filters[key] ?? '').split('/') : ['', ctx.state.filters[key] ?? ''];
    const nsInput = h('input', { name: `${key}Namespace`, placeholder: 'namespace', value: ns, 'aria-label': `${side} policy namespace` });
    const nameInput = h('input', { name: `${key}Name`, placeholder: 'policy name', value: name, 'aria-label': `${side} policy name` });
    return { key, nsInput, nameInput, row: h('label', { class: 'policy-field' }, h('span', {}, `${side} policy`), nsInput, h('span', {}, '/'), nameInput) };
  };
  const fields = [field('egressPolicy', 'Egress'), field('ingressPolicy', 'Ingress')];
  const form = h(
    'form',
    {
      class: 'policy-form',
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        let next = { ...ctx.state, filters: { ...ctx.state.filters } };
        for (const f of fields) {
          const ns = f.nsInput.value.trim();
          const name = f.nameInput.value.trim();
          if (name === '') delete next.filters[f.key];
          else next.filters[f.key] = ns === '' ? name : `${ns}/${name}`;
        }
        next = { ...next, offset: 0, row: -1 };
        ctx.navigate(next);
      },
    },
    fields.map((f) => f.row),
    h('button', { type: 'submit' }, 'Apply'),
  );
  return form;
}


export function renderNetworkPolicy(root: HTMLElement, d: PolicyData, ctx: PageContext): void {
  root.append(panel('Policy filters', policyForm(ctx)));
  if (d.links.length === 0) {
    root.append(emptyState('No flows under a network policy in this range with these filters.'));
    return;
  }
  const sankey = policyEdgesToSankey(d.links, d.edges);
  const box = chartBox('sankey-policy', sankey.links.length === 0);
  const line = chartBox('throughput', d.throughput.series.length === 0);
  root.append(grid(panel('Egress policy (source) → ingress policy (destination)', box), panel('Throughput under these policies', line)));
  const policyCell = (name: string, action: number, kind: 'ingressPolicy' | 'egressPolicy') =>
    name === '' ? '–' : h('span', {}, entityLink(ctx, name, { kind, value: name }), ' ', h('span', { class: `badge${isDeniedAction(action) ? ' denied' : ''}` }, actionName(action)));
  root.append(
    panel(
      'Pod-to-Pod traffic under policies',
      table(
        'policy-edges',
        [
          { label: 'Egress policy', cell: (e) => policyCell(e.egressPolicy, e.egressAction, 'egressPolicy') },
          { label: 'Ingress policy', cell: (e) => policyCell(e.ingressPolicy, e.ingressAction, 'ingressPolicy') },
          { label: 'Source', cell: (e) => entityLink(ctx, e.sourcePod, endpointEntity(e.sourcePod)) },
          { label: 'Destination', cell: (e) => entityLink(ctx, e.destinationPod, endpointEntity(e.destinationPod)) },
          { label: 'Bytes', numeric: true, cell: (e) => formatBytes(e.bytes) },
          { label: 'Flows', numeric: true, cell: (e) => formatCount(e.flows) },
        ],
        d.edges,
        (e) => (isDeniedAction(e.egressAction) || isDeniedAction(e.ingressAction) ? 'denied' : ''),
      ),
    ),
  );
  if (d.edges.length >= POLICY_TABLE_ROWS) root.append(h('p', { class: 'note' }, `The ${d.edges.length} largest Pod pairs; filter to see others.`));
  if (sankey.links.length > 0) ctx.charts.sankey(box, sankey, (e) => ctx.filterBy(e), (v) => formatBytes(v));
  if (d.throughput.series.length > 0) ctx.charts.line(line, [...toLineSeries(d.throughput, 'tx', () => 'Tx'), ...toLineSeries(d.throughput, 'rx', () => 'Rx')]);
}
