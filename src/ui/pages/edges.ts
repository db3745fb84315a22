// The three edge pages: Pod-to-Pod, Pod-to-External and Pod-to-Service. Each draws sankeys of
// cumulative Tx and Rx between sources and destinations, a table of the same edges, and
// throughput lines per source and per destination.
import type { Edge, EdgesData, SeriesSet } from '../api/types.js';
import { edgesToSankey, endpointEntity, OTHER_SOURCES, toLineSeries, type Direction, type Entity } from '../domain/charts.js';
import { formatBytes, formatCount } from '../domain/format.js';
import type { PageId } from '../domain/state.js';
import { h } from '../components/dom.js';
import { chartBox, emptyState, entityLink, grid, panel, table, type PageContext } from '../components/widgets.js';

/** Links a sankey draws; the smaller edges are summed into one "other edges" link. */
export const SANKEY_LINKS = 30;

interface EdgePageSpec {
  sourceTitle: string;
  destinationTitle: string;
  source(name: string): Entity | null;
  destination(name: string): Entity | null;
  /** Throughput charts: title and how the series are drawn. */
  bySourceTitle: string;
  byDestinationTitle: string;
  /** Pod-to-Service draws Tx and Rx per Service as separate lines. */
  destinationLines: 'total' | 'tx-rx';
  empty: string;
}

const serviceEntity = (name: string): Entity => ({ kind: 'service', value: name });

export const EDGE_PAGES: Partial<Record<PageId, EdgePageSpec>> = {
  'pod-to-pod': {
    sourceTitle: 'Source Pod',
    destinationTitle: 'Destination Pod',
    source: endpointEntity,
    destination: endpointEntity,
    bySourceTitle: 'Throughput by source Pod (Tx + Rx)',
    byDestinationTitle: 'Throughput by destination Pod (Tx + Rx)',
    destinationLines: 'total',
    empty: 'No Pod-to-Pod traffic in this range with these filters.',
  },
  'pod-to-external': {
    sourceTitle: 'Source Pod',
    destinationTitle: 'External IP',
    source: endpointEntity,
    destination: (ip) => ({ kind: 'ip', value: ip }),
    bySourceTitle: 'Throughput to external IPs by source Pod (Tx + Rx)',
    byDestinationTitle: 'Throughput by external IP (Tx + Rx)',
    destinationLines: 'total',
    empty: 'No Pod-to-External traffic in this range with these filters.',
  },
  'pod-to-service': {
    sourceTitle: 'Source Pod or IP',
    destinationTitle: 'Service',
    source: endpointEntity,
    destination: serviceEntity,
    bySourceTitle: 'Throughput to Services by source (Tx + Rx)',
    byDestinationTitle: 'Tx and Rx per destination Service',
    destinationLines: 'tx-rx',
    empty: 'No Pod-to-Service traffic in this range with these filters.',
  },
};

function describe(e: Edge): string[] {
  return [`Tx ${formatBytes(e.txBytes)} · Rx ${formatBytes(e.rxBytes)} · ${formatCount(e.flows)} flows`];
}

const edgeId = (source: string, destination: string) => `${source}\u0000${destination}`;

function lines(set: SeriesSet, mode: 'total' | 'tx-rx') {
  if (mode === 'total') return toLineSeries(set, 'total');
  const tx = toLineSeries(set, 'tx', (k) => `${k} Tx`);
  const rx = toLineSeries(set, 'rx', (k) => `${k} Rx`);
  return tx.flatMap((s, i) => [s, rx[i]]);
}

export function renderEdges(root: HTMLElement, page: PageId, d: EdgesData, ctx: PageContext): void {
  const spec = EDGE_PAGES[page]!;
  if (d.edges.length === 0) {
    root.append(emptyState(spec.empty));
    return;
  }
  const entities = { source: spec.source, destination: spec.destination };
  const sankeys: [Direction, string][] = [
    ['tx', 'Cumulative Tx (source → destination)'],
    ['rx', 'Cumulative Rx (replies to the source)'],
  ];
  const boxes = sankeys.map(([dir, title]) => {
    const data = edgesToSankey(d.edges, dir, entities, describe, SANKEY_LINKS);
    const box = chartBox(`sankey-${dir}`, data.links.length === 0, `No ${dir === 'tx' ? 'Tx' : 'Rx'} bytes in this range.`);
    return { dir, title, data, box };
  });
  root.append(grid(...boxes.map((b) => panel(b.title, b.box))));
  const bySource = chartBox('by-source', d.bySource.series.length === 0);
  const byDestination = chartBox('by-destination', d.byDestination.series.length === 0);
  root.append(grid(panel(spec.bySourceTitle, bySource), panel(spec.byDestinationTitle, byDestination)));
  // The addresses behind each edge come in a second, smaller request once the page is drawn:
  // until then their cells say so.
  const addressCells = new Map<string, { source: HTMLElement; destination: HTMLElement }>();
  const addressCell = (e: Edge, side: 'source' | 'destination') => {
    const id = edgeId(e.source, e.destination);
    const cell = h('span', { class: 'pending' }, '…');
    const cells = addressCells.get(id) ?? { source: cell, destination: cell };
    cells[side] = cell;
    addressCells.set(id, cells);
    return cell;
  };
  const edgeTable = table(
    'edges',
    [
      { label: spec.sourceTitle, cell: (e) => entityLink(ctx, e.source, spec.source(e.source)) },
      { label: spec.destinationTitle, cell: (e) => entityLink(ctx, e.destination, spec.destination(e.destination)) },
      { label: 'Tx', numeric: true, cell: (e) => formatBytes(e.txBytes) },
      { label: 'Rx', numeric: true, cell: (e) => formatBytes(e.rxBytes) },
      { label: 'Flows', numeric: true, cell: (e) => formatCount(e.flows) },
      { label: 'Source IPs', cell: (e) => addressCell(e, 'source') },
      { label: 'Destination IPs', cell: (e) => addressCell(e, 'destination') },
    ],
    d.edges,
  );
  root.append(panel('Edges', edgeTable));
  const tableEl = edgeTable.querySelector('table')!;
  tableEl.dataset.addresses = 'loading';
  // Tooltip lines by sankey link (its node names are "s:<source>" and "d:<destination>").
  const addresses = new Map<string, string[]>();
  const lateDetails = (link: { source: string; target: string }) => {
    if (link.source === OTHER_SOURCES) return [];
    const lines = addresses.get(edgeId(link.source.slice(2), link.target.slice(2)));
    return lines ?? [tableEl.dataset.addresses === 'error' ? 'addresses: not available' : 'addresses: loading…'];
  };
  for (const b of boxes) if (b.data.links.length > 0) ctx.charts.sankey(b.box, b.data, (e) => ctx.filterBy(e), formatBytes, lateDetails);
  const bySeries = (entity: (n: string) => Entity | null) => (name: string) => {
    const e = entity(name.replace(/ (Tx|Rx)$/, ''));
    if (e) ctx.filterBy(e);
  };
  if (d.bySource.series.length > 0) ctx.charts.line(bySource, lines(d.bySource, 'total'), bySeries(spec.source));
  if (d.byDestination.series.length > 0) ctx.charts.line(byDestination, lines(d.byDestination, spec.destinationLines), bySeries(spec.destination));

  ctx
    .edgeAddresses(d.edges.map((e) => ({ source: e.source, destination: e.destination })))
    .then((a) => {
      for (const e of a.edges) {
        const id = edgeId(e.source, e.destination);
        addresses.set(id, [`source IPs: ${e.sourceIps.join(', ') || '–'}`, `destination IPs: ${e.destinationIps.join(', ') || '–'}`]);
        const cells = addressCells.get(id);
        if (!cells) continue;
        cells.source.textContent = e.sourceIps.join(', ');
        cells.destination.textContent = e.destinationIps.join(', ');
        cells.source.className = cells.destination.className = '';
      }
      if (a.truncated) edgeTable.after(h('p', { class: 'note' }, 'Too many addresses behind these edges: the IP lists are partial; filter to see them all.'));
      tableEl.dataset.addresses = 'ready';
      performance.mark(`flowvis:addresses:${page}`);
    })
    .catch((err: Error) => {
      if (err.name === 'AbortError') return;
      for (const cells of addressCells.values()) {
        cells.source.textContent = cells.destination.textContent = '–';
        cells.source.title = cells.destination.title = `${(err as { code?: string }).code ?? 'error'}: ${err.message}`;
      }
      tableEl.dataset.addresses = 'error';
    });
}
