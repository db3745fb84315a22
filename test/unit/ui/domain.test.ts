// The dashboards' pure domain layer: formats, URL state <-> filters, chart data from edges.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Edge, PolicyLink, PolicyPodEdge } from '../../../src/ui/api/types.js';
import { edgesToSankey, endpointEntity, nodeHeatmap, OTHER_DESTINATIONS, OTHER_SOURCES, policyEdgesToSankey, toLineSeries } from '../../../src/ui/domain/charts.js';
import { formatBitRate, formatBytes, formatColumn, formatCount, formatEndpoint, formatTime } from '../../../src/ui/domain/format.js';
import { apiParams, DEFAULT_STATE, nextSort, rangeSeconds, stateFromHash, stateToHash, withFilter, type UiState } from '../../../src/ui/domain/state.js';

describe('formats', () => {
  const cases: [number, string][] = [
    [0, '0 B'],
    [1023, '1023 B'],
    [1536, '1.5 KiB'],
    [2_000_000, '1.9 MiB'],
    [300_000, '293 KiB'],
    [5 * 1024 ** 4, '5.0 TiB'],
  ];
  for (const [bytes, text] of cases) it(`formats ${bytes} bytes as ${text}`, () => assert.equal(formatBytes(bytes), text));

  it('formats bit rates with SI prefixes, counts with separators and times in UTC', () => {
    assert.equal(formatBitRate(8_000), '8.0 kbps');
    assert.equal(formatBitRate(1_250_000_000), '1.3 Gbps');
    assert.equal(formatCount(1_234_567), '1,234,567');
    assert.equal(formatTime(1_700_000_040), '2023-11-14 22:14:00');
    assert.equal(formatTime(0), '–');
  });

  it('names endpoints by Pod, else by address with IPv6 in brackets', () => {
    assert.equal(formatEndpoint('shop', 'web-1', '10.0.0.1', 80), 'shop/web-1:80');
    assert.equal(formatEndpoint('', '', '8.8.8.8', 53), '8.8.8.8:53');
    assert.equal(formatEndpoint('', '', 'fd00::1', 53), '[fd00::1]:53');
  });

  it('reads stored columns by their meaning in the detail panel', () => {
    assert.equal(formatColumn('protocolIdentifier', 17), 'UDP (17)');
    assert.equal(formatColumn('egressNetworkPolicyRuleAction', 2), 'drop (2)');
    assert.equal(formatColumn('flowType', 3), 'toExternal (3)');
    assert.equal(formatColumn('flowEndReason', 3), 'end of flow (3)');
    assert.equal(formatColumn('octetDeltaCount', 1536), '1.5 KiB (1,536)');
    assert.equal(formatColumn('flowEndSeconds', 1_700_000_040), '2023-11-14 22:14:00 (1700000040)');
    assert.equal(formatColumn('sourcePodName', ''), '–');
    assert.equal(formatColumn('flowType', 99), '99 (99)');
  });
});

describe('URL state', () => {
  const state = (over: Partial<UiState>): UiState => ({ ...DEFAULT_STATE, filters: {}, ...over });

  it('round-trips a state through the hash, filters included', () => {
    const s = state({ page: 'flow-records', range: { from: 1_700_000_000, to: 1_700_003_600 }, refresh: 30, filters: { pod: 'shop/web-1', protocol: 'udp', ingressPolicy: 'shop/allow-db' }, sort: '-octetDeltaCount', offset: 50, row: 3 });
    const hash = stateToHash(s);
    assert.equal(hash, '#/flow-records?from=1700000000&to=1700003600&refresh=30&pod=shop%2Fweb-1&protocol=udp&ingressPolicy=shop%2Fallow-db&sort=-octetDeltaCount&offset=50&row=3');
    assert.deepEqual(stateFromHash(hash), s);
  });

  it('falls back to the defaults for what it cannot read', () => {
    const s = stateFromHash('#/nowhere?last=forever&refresh=7&colour=red&offset=-4&sort=a;b&from=10&to=5');
    assert.deepEqual(s, { ...DEFAULT_STATE, filters: {} });
    assert.deepEqual(stateFromHash(''), { ...DEFAULT_STATE, filters: {} });
  });

  it('leaves table state out of the links of other pages', () => {
    assert.equal(stateToHash(state({ page: 'overview', sort: 'sourceIP', offset: 100, row: 2 })), '#/overview?last=1h');
  });

  it('asks the API for the range, the filters and, on Flow Records, the page and sort', () => {
    assert.equal(apiParams(state({ filters: { namespace: 'shop', port: '443' } })).toString(), 'last=1h&namespace=shop&port=443&limit=50');
    assert.equal(apiParams(state({ page: 'flow-records', sort: 'sourceIP', offset: 50 })).toString(), 'last=1h&limit=50&offset=50&sort=sourceIP');
  });

  it('a filter resets paging; setting the same value again with toggle clears it', () => {
    const s = withFilter(state({ page: 'flow-records', offset: 100, row: 1 }), 'pod', ' shop/web-1 ');
    assert.deepEqual([s.filters, s.offset, s.row], [{ pod: 'shop/web-1' }, 0, -1]);
    assert.deepEqual(withFilter(s, 'pod', 'shop/web-1', true).filters, {});
    assert.deepEqual(withFilter(s, 'pod', 'shop/web-2', true).filters, { pod: 'shop/web-2' });
    assert.deepEqual(withFilter(s, 'pod', '').filters, {});
  });

  it('cycles a column sort: descending, ascending, default', () => {
    assert.equal(nextSort('', 'octetDeltaCount'), '-octetDeltaCount');
    assert.equal(nextSort('-octetDeltaCount', 'octetDeltaCount'), 'octetDeltaCount');
    assert.equal(nextSort('octetDeltaCount', 'octetDeltaCount'), '');
    assert.equal(nextSort('sourceIP', 'octetDeltaCount'), '-octetDeltaCount');
  });

  it('turns a relative range into seconds', () => {
    assert.deepEqual(rangeSeconds({ last: '15m' }, 10_000), { from: 9100, to: 10_000 });
    assert.deepEqual(rangeSeconds({ from: 5, to: 9 }, 10_000), { from: 5, to: 9 });
  });
});

describe('chart data', () => {
  const edge = (source: string, destination: string, txBytes: number, rxBytes: number): Edge => ({ source, destination, txBytes, rxBytes, flows: 1 });

  it('sums the edges beyond the sankey\'s links into one "other" link, labelled with how many it stands for', () => {
    const edges = [edge('a/1', 'b/1', 50, 0), edge('a/2', 'b/1', 40, 0), edge('a/3', 'b/2', 30, 0), edge('a/3', 'b/3', 20, 0), edge('a/4', 'b/3', 0, 9)];
    const tx = edgesToSankey(edges, 'tx', { source: endpointEntity, destination: endpointEntity }, () => [], 2);
    assert.deepEqual(tx.links.map((l) => [l.source, l.target, l.value]), [['s:a/1', 'd:b/1', 50], ['s:a/2', 'd:b/1', 40], [OTHER_SOURCES, OTHER_DESTINATIONS, 50]]);
    assert.deepEqual(tx.nodes.filter((n) => n.entity === null).map((n) => n.label), ['other sources (1)', 'other destinations (2)']);
    assert.match(tx.links[2].details[0], /^2 smaller edges, summed \(2 flows\)/);
    // Edges without bytes in this direction are not counted as hidden ones.
    assert.equal(edgesToSankey(edges, 'rx', { source: endpointEntity, destination: endpointEntity }, () => [], 2).links.length, 1);
    // Within the limit, no "other" link.
    assert.equal(edgesToSankey(edges, 'tx', { source: endpointEntity, destination: endpointEntity }, () => [], 4).links.length, 4);
  });

  it('builds a sankey per direction with one node per side, so a Pod that sends and receives makes no cycle', () => {
    const edges = [edge('shop/web-1', 'shop/db-1', 300, 30), edge('shop/db-1', 'shop/web-1', 200, 0), edge('shop/web-1', '8.8.8.8', 0, 5)];
    const tx = edgesToSankey(edges, 'tx', { source: endpointEntity, destination: endpointEntity }, (e) => [`${e.flows} flow`]);
    assert.deepEqual(tx.nodes.map((n) => n.name), ['s:shop/web-1', 'd:shop/db-1', 's:shop/db-1', 'd:shop/web-1']);
    assert.deepEqual(tx.links.map((l) => [l.source, l.target, l.value]), [['s:shop/web-1', 'd:shop/db-1', 300], ['s:shop/db-1', 'd:shop/web-1', 200]]);
    assert.deepEqual(tx.links[0].details, ['1 flow']);
    const rx = edgesToSankey(edges, 'rx', { source: endpointEntity, destination: endpointEntity });
    assert.deepEqual(rx.links.map((l) => [l.target, l.value]), [['d:shop/db-1', 30], ['d:8.8.8.8', 5]]);
    assert.deepEqual(rx.nodes.find((n) => n.label === '8.8.8.8')?.entity, { kind: 'ip', value: '8.8.8.8' });
  });

  it('tells Pods from addresses when a name is clicked', () => {
    assert.deepEqual(endpointEntity('shop/web-1'), { kind: 'pod', value: 'shop/web-1' });
    assert.deepEqual(endpointEntity('10.0.0.5'), { kind: 'ip', value: '10.0.0.5' });
    assert.deepEqual(endpointEntity('fd00::5'), { kind: 'ip', value: 'fd00::5' });
  });

  it('draws one link per policy pair from its totals, marks denied links and lists their largest Pod pairs', () => {
    const p = (egressPolicy: string, egressAction: number, ingressPolicy: string, ingressAction: number, sourcePod: string, bytes: number): PolicyPodEdge => ({
      egressPolicy, egressAction, ingressPolicy, ingressAction, sourcePod, destinationPod: 'shop/db-1', bytes, flows: 1,
    });
    const link = (egressPolicy: string, ingressPolicy: string, bytes: number, flows: number, denied = false): PolicyLink => ({ egressPolicy, ingressPolicy, bytes, flows, denied });
    // shop/out -> shop/allow-db carries 3 flows; the table lists two of its Pod pairs.
    const s = policyEdgesToSankey(
      [link('shop/out', 'shop/allow-db', 170, 3), link('', 'shop/deny', 0, 1, true)],
      [p('shop/out', 1, 'shop/allow-db', 1, 'shop/web-1', 100), p('shop/out', 1, 'shop/allow-db', 1, 'shop/web-2', 50), p('', 0, 'shop/deny', 2, 'shop/x', 0)],
    );
    assert.deepEqual(s.links.map((l) => [l.source, l.target, l.value, l.denied]), [
      ['egress: shop/out', 'ingress: shop/allow-db', 170, false],
      ['egress: (no policy)', 'ingress: shop/deny', 1, true],
    ]);
    assert.deepEqual(s.links[0].details, ['3 flows', 'shop/web-1 → shop/db-1: 1 flow', 'shop/web-2 → shop/db-1: 1 flow', '… other Pod pairs: 1 flow']);
    assert.deepEqual(s.links[1].details, ['1 flow, some denied', 'shop/x → shop/db-1: 1 flow (denied)']);
    assert.deepEqual(s.nodes.find((n) => n.name === 'ingress: shop/deny')?.entity, { kind: 'ingressPolicy', value: 'shop/deny' });
    assert.equal(s.nodes.find((n) => n.name === 'egress: (no policy)')?.entity, null);
    // Beyond maxLinks: the largest, then one "other" link summing the rest.
    const capped = policyEdgesToSankey([link('a', 'b', 10, 1), link('c', 'd', 20, 1), link('e', 'f', 5, 2, true)], [], 8, 1);
    assert.deepEqual(capped.links.map((l) => [l.source, l.target, l.value, l.denied]), [['egress: c', 'ingress: d', 20, false], [OTHER_SOURCES, OTHER_DESTINATIONS, 15, true]]);
    assert.deepEqual(capped.nodes.map((n) => n.label), ['egress c', 'ingress d', 'other egress policies (2)', 'other ingress policies (2)']);
    assert.match(capped.links[1].details[0], /^2 smaller policy pairs, summed \(3 flows\)/);
  });

  it('turns buckets into bits per second per direction', () => {
    const set = { bucketSeconds: 10, series: [{ key: 'a', points: [{ t: 100, bytes: 10, reverseBytes: 5 }] }] };
    assert.deepEqual(toLineSeries(set, 'tx'), [{ name: 'a', data: [[100_000, 8]] }]);
    assert.deepEqual(toLineSeries(set, 'rx', (k) => `${k} Rx`), [{ name: 'a Rx', data: [[100_000, 4]] }]);
    assert.deepEqual(toLineSeries(set, 'total')[0].data, [[100_000, 12]]);
  });

  it('averages Node-pair traffic over the range into Mbps cells', () => {
    const h = nodeHeatmap(
      [
        { sourceNode: 'node-a', destinationNode: 'node-b', txBytes: 1_250_000, rxBytes: 0, flows: 1 },
        { sourceNode: 'node-a', destinationNode: '', txBytes: 125_000, rxBytes: 0, flows: 1 },
      ],
      10,
      'tx',
    );
    assert.deepEqual(h.sources, ['node-a']);
    assert.deepEqual(h.destinations, ['(external)', 'node-b']);
    assert.deepEqual(h.cells, [[1, 0, 1], [0, 0, 0.1]]);
    assert.equal(h.max, 1);
  });
});
