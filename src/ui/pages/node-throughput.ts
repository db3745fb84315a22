// Node Throughput: each Node's inter-node and intra-node traffic over time (all its Pods'
// traffic added), and heatmaps of the average Tx and Rx Mbps by Node pair.
import type { NodeSeriesData } from '../api/types.js';
import { EXTERNAL, nodeHeatmap, toLineSeries } from '../domain/charts.js';
import { formatBytes, formatCount } from '../domain/format.js';
import { h } from '../components/dom.js';
import { chartBox, emptyState, entityLink, grid, panel, table, type PageContext } from '../components/widgets.js';

/** Node pairs the table lists. */
const MATRIX_ROWS = 100;

export function renderNodeThroughput(root: HTMLElement, d: NodeSeriesData, ctx: PageContext): void {
  if (d.series.series.length === 0 && d.matrix.length === 0) {
    root.append(emptyState('No Node traffic in this range with these filters.'));
    return;
  }
  const kinds = ['inter-node', 'intra-node'] as const;
  const sets = kinds.map((kind) => ({
    kind,
    set: { bucketSeconds: d.series.bucketSeconds, series: d.series.series.filter((s) => s.key.endsWith(` ${kind}`)) },
  }));
  const lineBoxes = sets.map((s) => ({ ...s, box: chartBox(s.kind, s.set.series.length === 0, `No ${s.kind} traffic in this range.`) }));
  root.append(grid(...lineBoxes.map((b) => panel(`${b.kind === 'inter-node' ? 'Inter-Node' : 'Intra-Node'} traffic per Node (Tx + Rx)`, b.box))));
  const span = Math.max(1, d.range.to - d.range.from);
  const maps = (['tx', 'rx'] as const).map((dir) => ({ dir, data: nodeHeatmap(d.matrix, span, dir) }));
  const mapBoxes = maps.map((m) => ({ ...m, box: chartBox(`heatmap-${m.dir}`, m.data.cells.length === 0) }));
  root.append(grid(...mapBoxes.map((m) => panel(`${m.dir === 'tx' ? 'Tx' : 'Rx'} Mbps by Node pair (average over the range)`, m.box))));
  const node = (name: string) => entityLink(ctx, name === '' ? EXTERNAL : name, name === '' ? null : { kind: 'node', value: name });
  // The busiest pairs: the heatmaps show every pair, and a table of thousands is slow to lay out.
  const busiest = [...d.matrix].sort((a, b) => b.txBytes + b.rxBytes - (a.txBytes + a.rxBytes) || a.sourceNode.localeCompare(b.sourceNode) || a.destinationNode.localeCompare(b.destinationNode));
  root.append(
    panel(
      'Node pairs, busiest first',
      table(
        'node-matrix',
        [
          { label: 'Source Node', cell: (c) => node(c.sourceNode) },
          { label: 'Destination Node', cell: (c) => node(c.destinationNode) },
          { label: 'Tx', numeric: true, cell: (c) => formatBytes(c.txBytes) },
          { label: 'Rx', numeric: true, cell: (c) => formatBytes(c.rxBytes) },
          { label: 'Flows', numeric: true, cell: (c) => formatCount(c.flows) },
        ],
        busiest.slice(0, MATRIX_ROWS),
      ),
      busiest.length > MATRIX_ROWS ? h('p', { class: 'note' }, `The ${MATRIX_ROWS} busiest of ${busiest.length} Node pairs; the heatmaps show them all.`) : null,
    ),
  );
  for (const b of lineBoxes) {
    if (b.set.series.length === 0) continue;
    ctx.charts.line(b.box, toLineSeries(b.set, 'total', (k) => k.replace(/ (inter|intra)-node$/, '')), (name) => ctx.filterBy({ kind: 'node', value: name }));
  }
  for (const m of mapBoxes) {
    if (m.data.cells.length === 0) continue;
    ctx.charts.heatmap(m.box, m.data, (source) => ctx.filterBy({ kind: 'node', value: source }));
  }
}
