// Overview: totals, the top namespaces / Pods / Services, denied connections, throughput over
// time, and the records dropped or lost in the range.
import type { OverviewData, Ranked } from '../api/types.js';
import { endpointEntity, toLineSeries, type Entity } from '../domain/charts.js';
import { actionName, formatBytes, formatCount, protocolName } from '../domain/format.js';
import { h } from '../components/dom.js';
import { chartBox, emptyState, entityLink, grid, panel, stat, table, type PageContext } from '../components/widgets.js';

function ranking(ctx: PageContext, id: string, title: string, rows: Ranked[], entity: (key: string) => Entity): HTMLElement {
  return panel(
    title,
    rows.length === 0
      ? emptyState('None in this range.')
      : table(id, [
          { label: 'Name', cell: (r) => entityLink(ctx, r.key, entity(r.key)) },
          { label: 'Tx', numeric: true, cell: (r) => formatBytes(r.bytes) },
          { label: 'Rx', numeric: true, cell: (r) => formatBytes(r.reverseBytes) },
          { label: 'Flows', numeric: true, cell: (r) => formatCount(r.flows) },
        ], rows),
  );
}

export function renderOverview(root: HTMLElement, d: OverviewData, ctx: PageContext): void {
  const t = d.totals;
  const c = d.completeness;
  const losses = c.recordsDropped + c.recordsLost + c.storeDropped;
  root.append(
    h(
      'div',
      { class: 'stats' },
      stat('records', 'Flow records', formatCount(t.records)),
      stat('connections', 'Connections', formatCount(t.connections)),
      stat('active', 'Active connections', formatCount(t.activeConnections)),
      stat('denied', 'Denied connections', formatCount(t.deniedConnections), t.deniedConnections > 0 ? 'bad' : 'normal'),
      stat('bytes', 'Bytes Tx / Rx', `${formatBytes(t.bytes)} / ${formatBytes(t.reverseBytes)}`),
      stat('packets', 'Packets Tx / Rx', `${formatCount(t.packets)} / ${formatCount(t.reversePackets)}`),
      stat('dropped', 'Records dropped', formatCount(c.recordsDropped + c.storeDropped), c.recordsDropped + c.storeDropped > 0 ? 'bad' : 'normal', 'dropped by the aggregator or by the store sink'),
      stat('lost', 'Records lost', formatCount(c.recordsLost), c.recordsLost > 0 ? 'bad' : 'normal', 'missing by IPFIX sequence numbers'),
    ),
  );
  if (c.snapshots === 0) root.append(h('p', { class: 'note' }, 'No loss counters cover this range: whether records were dropped or lost is not known.'));
  else if (losses === 0) root.append(h('p', { class: 'note' }, 'Complete: no record was dropped or lost in this range.'));
  const throughput = chartBox('throughput', t.records === 0);
  root.append(panel('Throughput', throughput));
  const denied = panel(
    'Denied connections',
    d.denied.length === 0
      ? emptyState('No connection was denied in this range.')
      : table(
          'denied',
          [
            { label: 'Source', cell: (r) => entityLink(ctx, r.source, endpointEntity(r.source)) },
            { label: 'Destination', cell: (r) => entityLink(ctx, r.destination, endpointEntity(r.destination)) },
            { label: 'Port', numeric: true, cell: (r) => `${r.destinationPort}/${protocolName(r.protocol)}` },
            { label: 'Policy', cell: (r) => r.policy },
            { label: 'Action', cell: (r) => h('span', { class: 'badge denied' }, actionName(r.action)) },
            { label: 'Flows', numeric: true, cell: (r) => formatCount(r.flows) },
          ],
          d.denied,
          () => 'denied',
        ),
  );
  root.append(
    grid(
      ranking(ctx, 'top-namespaces', 'Top namespaces (source)', d.topNamespaces, (k) => ({ kind: 'namespace', value: k })),
      ranking(ctx, 'top-pods', 'Top Pods (source)', d.topPods, (k) => ({ kind: 'pod', value: k })),
      ranking(ctx, 'top-services', 'Top Services', d.topServices, (k) => ({ kind: 'service', value: k })),
      denied,
    ),
  );
  if (t.records > 0) {
    const all = d.throughput.series[0];
    const series = all ? toLineSeries({ bucketSeconds: d.throughput.bucketSeconds, series: [all] }, 'tx', () => 'Tx') : [];
    const rx = all ? toLineSeries({ bucketSeconds: d.throughput.bucketSeconds, series: [all] }, 'rx', () => 'Rx') : [];
    ctx.charts.line(throughput, [...series, ...rx]);
  }
}

export function overviewIsEmpty(d: OverviewData): boolean {
  return d.totals.records === 0;
}
