// The dashboards' queries (issue 6): one call per page, each answering everything the page
// draws, so a page is one request. Built on the query layer (query.ts): the same parameters,
// the same WHERE clause (whereClause), the same engine dialects; only the groupings are new.
//
// Entities are named as the pages show them: a Pod "namespace/name", an endpoint without a Pod
// by its IP, a Service "namespace/name:port", a policy "namespace/name" (cluster-wide policies
// have no namespace: "name").
import { FlowType, RuleAction } from '../flow/record.js';
import type {
  DeniedFlow,
  Edge,
  EdgesData,
  EntitySeries,
  FlowRecordsData,
  NodeSeriesData,
  OverviewData,
  PolicyData,
  PolicyPodEdge,
  Ranked,
  SeriesSet,
  Totals,
} from '../ui/api/types.js';
import { FlowQueries, scanFor, whereClause, type FlowQuery, type SqlRunner } from './query.js';
import type { RollupName } from './rollups.js';

/** Series charts draw the top entities only, so that a line chart stays readable. */
export const SERIES_TOP = 8;
/** Rankings on the Overview page. */
export const OVERVIEW_TOP = 10;
/** Pod pairs listed under the policy edges. */
export const POLICY_POD_EDGES = 1000;

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0));
const str = (v: unknown): string => (v === null || v === undefined ? '' : String(v));
const DENIED = `(ingressNetworkPolicyRuleAction IN (${RuleAction.drop}, ${RuleAction.reject}) OR egressNetworkPolicyRuleAction IN (${RuleAction.drop}, ${RuleAction.reject}))`;
const CONNECTION = 'sourceIP, destinationIP, sourceTransportPort, destinationTransportPort, protocolIdentifier, flowStartSeconds';

/** "ns/name", or the fallback (an IP) when there is no name. */
function endpoint(namespace: string, name: string, fallback = ''): string {
  if (name === '') return fallback;
  return namespace === '' ? name : `${namespace}/${name}`;
}

export class DashboardQueries {
  private readonly layer: FlowQueries;

  constructor(private readonly db: SqlRunner) {
    this.layer = new FlowQueries(db);
  }

  private where(q: FlowQuery, extra = ''): string {
    const w = whereClause(this.db.dialect, q);
    return extra === '' ? w : `${w} AND ${extra}`;
  }

  /** Sums of Tx and Rx per (bucket, key) for the top keys; every bucket present, empty ones 0. */
  /**
   * What a ranking over `rollup`'s keys reads: whole buckets from the rollup when the store has
   * it and the query's filters allow (query.ts scanFor), else raw rows. `extra` must name only
   * the rollup's key columns.
   */
  private scan(q: FlowQuery, extra: string, rollup?: RollupName): { from: string; where: string; count: string } {
    const d = this.db.dialect;
    const scan = rollup ? scanFor(d, q, rollup, 0, this.db.rollups === true) : { from: 'flows', where: whereClause(d, q), count: d.count() };
    return { ...scan, where: extra === '' ? scan.where : `${scan.where} AND ${extra}` };
  }

  private async series(q: FlowQuery, keyExpr: string, extra = '', top = SERIES_TOP, keys?: string[], rollup?: RollupName): Promise<SeriesSet> {
    const d = this.db.dialect;
    const b = q.bucketSeconds;
    let wanted = keys;
    if (!wanted) {
      const scan = this.scan(q, extra, rollup);
      const ranked = await this.db.select(
        `SELECT ${keyExpr} AS k, ${d.num('sum(octetDeltaCount) + sum(reverseOctetDeltaCount)')} AS total FROM ${scan.from} ` +
          `WHERE ${scan.where} GROUP BY k ORDER BY total DESC, k LIMIT ${top}`,
      );
      wanted = ranked.map((r) => str(r.k));
    }
    if (wanted.length === 0) return { bucketSeconds: b, series: [] };
    const inList = wanted.map((k) => d.str(k)).join(', ');
    const rows = await this.db.select(
      `SELECT ${d.bucket('flowEndSeconds', b)} AS t, ${keyExpr} AS k, ${d.num('sum(octetDeltaCount)')} AS bytes, ` +
        `${d.num('sum(reverseOctetDeltaCount)')} AS reverseBytes FROM flows ` +
        `WHERE ${this.where(q, extra)} AND ${keyExpr} IN (${inList}) GROUP BY t, k ORDER BY t`,
    );
    const byKey = new Map<string, Map<number, { bytes: number; reverseBytes: number }>>(wanted.map((k) => [k, new Map()]));
    for (const r of rows) byKey.get(str(r.k))?.set(num(r.t), { bytes: num(r.bytes), reverseBytes: num(r.reverseBytes) });
    const start = Math.floor(q.range.from / b) * b;
    const series: EntitySeries[] = wanted.map((key) => {
      const at = byKey.get(key)!;
      const points = [];
      for (let t = start; t < q.range.to; t += b) {
        const p = at.get(t);
        points.push({ t, bytes: p?.bytes ?? 0, reverseBytes: p?.reverseBytes ?? 0 });
      }
      return { key, points };
    });
    return { bucketSeconds: b, series };
  }

  private podKey(side: 'source' | 'destination', withIp = false): string {
    const ns = `${side}PodNamespace`;
    const name = `${side}PodName`;
    const pod = `concat(${ns}, '/', ${name})`;
    return withIp ? `CASE WHEN ${name} = '' THEN ${side}IP ELSE ${pod} END` : pod;
  }

  private async ranked(q: FlowQuery, keyExpr: string, extra: string, top: number, rollup?: RollupName): Promise<Ranked[]> {
    const d = this.db.dialect;
    const scan = this.scan(q, extra, rollup);
    const rows = await this.db.select(
      `SELECT ${keyExpr} AS k, ${d.num('sum(octetDeltaCount)')} AS bytes, ${d.num('sum(reverseOctetDeltaCount)')} AS reverseBytes, ${scan.count} AS flows ` +
        `FROM ${scan.from} WHERE ${scan.where} GROUP BY k ORDER BY bytes + reverseBytes DESC, k LIMIT ${top}`,
    );
    return rows.map((r) => ({ key: str(r.k), bytes: num(r.bytes), reverseBytes: num(r.reverseBytes), flows: num(r.flows) }));
  }

  async totals(q: FlowQuery): Promise<Totals> {
    const d = this.db.dialect;
    // One scan: sums per connection, then over connections. A connection is still open when
    // every record of it in the range is an active-timeout export.
    const [r] = await this.db.select(
      `SELECT ${d.num('sum(records)')} AS records, ${d.count()} AS connections, ${d.num('sum(1 - ended)')} AS active, ${d.num('sum(denied)')} AS denied, ` +
        `${d.num('sum(bytes)')} AS bytes, ${d.num('sum(reverseBytes)')} AS reverseBytes, ${d.num('sum(packets)')} AS packets, ${d.num('sum(reversePackets)')} AS reversePackets FROM (` +
        `SELECT ${CONNECTION}, count(*) AS records, sum(octetDeltaCount) AS bytes, sum(reverseOctetDeltaCount) AS reverseBytes, ` +
        `sum(packetDeltaCount) AS packets, sum(reversePacketDeltaCount) AS reversePackets, ` +
        `max(CASE WHEN flowEndReason = 2 THEN 0 ELSE 1 END) AS ended, max(CASE WHEN ${DENIED} THEN 1 ELSE 0 END) AS denied ` +
        `FROM flows WHERE ${this.where(q)} GROUP BY ${CONNECTION}) AS c`,
    );
    return {
      records: num(r?.records),
      connections: num(r?.connections),
      activeConnections: num(r?.active),
      deniedConnections: num(r?.denied),
      bytes: num(r?.bytes),
      reverseBytes: num(r?.reverseBytes),
      packets: num(r?.packets),
      reversePackets: num(r?.reversePackets),
    };
  }

  /** Overview: totals, top namespaces / Pods / Services, denied connections, throughput, losses. */
  async overview(q: FlowQuery): Promise<OverviewData> {
    const d = this.db.dialect;
    // The page's queries run side by side (the embedded store reads on several connections).
    const [totals, topNamespaces, topPods, topServices, deniedRows, throughput, completeness] = await Promise.all([
      this.totals(q),
      this.ranked(q, 'sourcePodNamespace', "sourcePodNamespace != ''", OVERVIEW_TOP, 'pods'),
      this.ranked(q, this.podKey('source'), "sourcePodName != ''", OVERVIEW_TOP, 'pods'),
      this.ranked(q, 'destinationServicePortName', "destinationServicePortName != ''", OVERVIEW_TOP),
      this.db.select(
        `SELECT ${this.podKey('source', true)} AS src, ${this.podKey('destination', true)} AS dst, destinationTransportPort AS port, protocolIdentifier AS proto, ` +
          `CASE WHEN egressNetworkPolicyRuleAction IN (${RuleAction.drop}, ${RuleAction.reject}) THEN concat('egress ', egressNetworkPolicyNamespace, '/', egressNetworkPolicyName) ` +
          `ELSE concat('ingress ', ingressNetworkPolicyNamespace, '/', ingressNetworkPolicyName) END AS policy, ` +
          `CASE WHEN egressNetworkPolicyRuleAction IN (${RuleAction.drop}, ${RuleAction.reject}) THEN egressNetworkPolicyRuleAction ELSE ingressNetworkPolicyRuleAction END AS action, ` +
          `${d.count()} AS flows, ${d.num('sum(packetDeltaCount)')} AS packets FROM flows WHERE ${this.where(q, DENIED)} ` +
          `GROUP BY src, dst, port, proto, policy, action ORDER BY flows DESC, src, dst, port, proto, policy, action LIMIT ${OVERVIEW_TOP}`,
      ),
      this.series(q, "'all'", '', 1, ['all']),
      this.layer.completeness(q.range),
    ]);
    const denied: DeniedFlow[] = deniedRows.map((r) => ({
      source: str(r.src),
      destination: str(r.dst),
      destinationPort: num(r.port),
      protocol: num(r.proto),
      policy: str(r.policy).replace(/ \//, ' '),
      action: num(r.action),
      flows: num(r.flows),
      packets: num(r.packets),
    }));
    return { range: q.range, completeness, totals, topNamespaces, topPods, topServices, denied, throughput };
  }

  private async edges(q: FlowQuery, sourceExpr: string, destinationExpr: string, extra: string): Promise<Edge[]> {
    const d = this.db.dialect;
    const where = this.where(q, extra);
    // Totals per entity pair are summed in full by the database; the address-pair rows, which
    // can be many, only supply the addresses shown in each edge's tooltip.
    const [pairs, addressRows] = await Promise.all([
      this.db.select(
        `SELECT ${sourceExpr} AS src, ${destinationExpr} AS dst, ` +
          `${d.num('sum(octetDeltaCount)')} AS tx, ${d.num('sum(reverseOctetDeltaCount)')} AS rx, ${d.count()} AS flows ` +
          `FROM flows WHERE ${where} GROUP BY src, dst ORDER BY tx + rx DESC, src, dst LIMIT ${q.limit}`,
      ),
      this.db.select(
        `SELECT ${sourceExpr} AS src, ${destinationExpr} AS dst, sourceIP, destinationIP, destinationClusterIP, ` +
          `${d.num('sum(octetDeltaCount) + sum(reverseOctetDeltaCount)')} AS pairBytes ` +
          `FROM flows WHERE ${where} GROUP BY src, dst, sourceIP, destinationIP, destinationClusterIP ` +
          `ORDER BY pairBytes DESC, src, dst LIMIT ${MAX_EDGE_ROWS}`,
      ),
    ]);
    const byPair = new Map<string, Edge & { src: Set<string>; dst: Set<string> }>();
    for (const r of pairs) {
      const e = { source: str(r.src), destination: str(r.dst), txBytes: num(r.tx), rxBytes: num(r.rx), flows: num(r.flows), sourceIps: [], destinationIps: [], src: new Set<string>(), dst: new Set<string>() };
      byPair.set(`${e.source}\u0000${e.destination}`, e);
    }
    for (const r of addressRows) {
      const e = byPair.get(`${str(r.src)}\u0000${str(r.dst)}`);
      if (!e) continue;
      e.src.add(str(r.sourceIP));
      if (str(r.destinationClusterIP) !== '') e.dst.add(str(r.destinationClusterIP));
      e.dst.add(str(r.destinationIP));
    }
    return [...byPair.values()]
      .map(({ src, dst, ...e }) => ({ ...e, sourceIps: [...src].sort(), destinationIps: [...dst].sort() }))
      .sort((a, b) => b.txBytes + b.rxBytes - (a.txBytes + a.rxBytes) || a.source.localeCompare(b.source) || a.destination.localeCompare(b.destination));
  }

  /** Pod-to-Pod: edges between source and destination Pods, throughput per source and per destination Pod. */
  async podToPod(q: FlowQuery): Promise<EdgesData> {
    const extra = "sourcePodName != '' AND destinationPodName != ''";
    const [completeness, edges, bySource, byDestination] = await Promise.all([
      this.layer.completeness(q.range),
      this.edges(q, this.podKey('source'), this.podKey('destination'), extra),
      this.series(q, this.podKey('source'), extra, SERIES_TOP, undefined, 'pods'),
      this.series(q, this.podKey('destination'), extra, SERIES_TOP, undefined, 'pods'),
    ]);
    return { range: q.range, completeness, edges, bySource, byDestination };
  }

  /** Pod-to-External: edges from Pods to external IPs, throughput per source Pod and per external IP. */
  async podToExternal(q: FlowQuery): Promise<EdgesData> {
    const extra = `flowType = ${FlowType.toExternal} AND sourcePodName != ''`;
    const [completeness, edges, bySource, byDestination] = await Promise.all([
      this.layer.completeness(q.range),
      this.edges(q, this.podKey('source'), 'destinationIP', extra),
      this.series(q, this.podKey('source'), extra),
      this.series(q, 'destinationIP', extra),
    ]);
    return { range: q.range, completeness, edges, bySource, byDestination };
  }

  /** Pod-to-Service: edges from Pods (or client IPs) to Services, Tx and Rx per destination Service. */
  async podToService(q: FlowQuery): Promise<EdgesData> {
    const extra = "destinationServicePortName != ''";
    const [completeness, edges, bySource, byDestination] = await Promise.all([
      this.layer.completeness(q.range),
      this.edges(q, this.podKey('source', true), 'destinationServicePortName', extra),
      this.series(q, this.podKey('source', true), extra),
      this.series(q, 'destinationServicePortName', extra),
    ]);
    return { range: q.range, completeness, edges, bySource, byDestination };
  }

  /** Flow Records: one page of raw records (sort= and offset= apply) and the traffic over time. */
  async flowRecords(q: FlowQuery): Promise<FlowRecordsData> {
    const [page, throughput] = await Promise.all([this.layer.flows(q), this.series(q, "'all'", '', 1, ['all'])]);
    return {
      range: q.range,
      completeness: page.completeness,
      items: page.items as unknown as FlowRecordsData['items'],
      page: page.page,
      throughput,
    };
  }

  /**
   * Node Throughput: each Node's inter-node and intra-node traffic over time (a Node's Tx is what
   * its Pods sent, its Rx what they received), and the node-to-node matrix.
   */
  async nodeThroughput(q: FlowQuery): Promise<NodeSeriesData> {
    const d = this.db.dialect;
    const b = q.bucketSeconds;
    const kind = `CASE WHEN flowType = ${FlowType.intraNode} THEN ' intra-node' ELSE ' inter-node' END`;
    const types = `flowType IN (${FlowType.intraNode}, ${FlowType.interNode})`;
    const [fromSource, fromDestination, matrix] = await Promise.all([
      // Source side: the Node sent octetDelta and received the reverse.
      this.db.select(
        `SELECT ${d.bucket('flowEndSeconds', b)} AS t, concat(sourceNodeName, ${kind}) AS k, ${d.num('sum(octetDeltaCount)')} AS tx, ` +
          `${d.num('sum(reverseOctetDeltaCount)')} AS rx FROM flows WHERE ${this.where(q, `${types} AND sourceNodeName != ''`)} GROUP BY t, k`,
      ),
      // Destination side of inter-node flows: the other Node received octetDelta and sent the reverse.
      this.db.select(
        `SELECT ${d.bucket('flowEndSeconds', b)} AS t, concat(destinationNodeName, ' inter-node') AS k, ${d.num('sum(reverseOctetDeltaCount)')} AS tx, ` +
          `${d.num('sum(octetDeltaCount)')} AS rx FROM flows WHERE ${this.where(q, `flowType = ${FlowType.interNode} AND destinationNodeName != ''`)} GROUP BY t, k`,
      ),
      this.layer.nodeMatrix({ ...q, limit: Math.max(q.limit, 1000), offset: 0 }),
    ]);
    const byKey = new Map<string, Map<number, { bytes: number; reverseBytes: number }>>();
    for (const r of [...fromSource, ...fromDestination]) {
      const key = str(r.k);
      let at = byKey.get(key);
      if (!at) byKey.set(key, (at = new Map()));
      const p = at.get(num(r.t)) ?? { bytes: 0, reverseBytes: 0 };
      p.bytes += num(r.tx);
      p.reverseBytes += num(r.rx);
      at.set(num(r.t), p);
    }
    // The busiest Nodes of each kind, so that a line chart stays readable on a large cluster.
    const total = (key: string) => [...byKey.get(key)!.values()].reduce((n, p) => n + p.bytes + p.reverseBytes, 0);
    const keep = (['inter-node', 'intra-node'] as const).flatMap((kind) =>
      [...byKey.keys()]
        .filter((k) => k.endsWith(` ${kind}`))
        .sort((x, y) => total(y) - total(x) || x.localeCompare(y))
        .slice(0, SERIES_TOP),
    );
    const start = Math.floor(q.range.from / b) * b;
    const series: EntitySeries[] = keep.sort().map((key) => {
      const at = byKey.get(key)!;
      const points = [];
      for (let t = start; t < q.range.to; t += b) points.push({ t, bytes: at.get(t)?.bytes ?? 0, reverseBytes: at.get(t)?.reverseBytes ?? 0 });
      return { key, points };
    });
    return {
      range: q.range,
      completeness: matrix.completeness,
      series: { bucketSeconds: b, series },
      matrix: matrix.items.map((c) => ({ sourceNode: c.sourceNodeName, destinationNode: c.destinationNodeName, txBytes: c.txBytes, rxBytes: c.rxBytes, flows: c.flows })),
    };
  }

  /** Network Policy: egress policy -> ingress policy edges with their Pod pairs, and the throughput under them. */
  async networkPolicy(q: FlowQuery): Promise<PolicyData> {
    const d = this.db.dialect;
    const policy = (side: 'ingress' | 'egress') =>
      `CASE WHEN ${side}NetworkPolicyName = '' THEN '' WHEN ${side}NetworkPolicyNamespace = '' THEN ${side}NetworkPolicyName ` +
      `ELSE concat(${side}NetworkPolicyNamespace, '/', ${side}NetworkPolicyName) END`;
    const extra = "(egressNetworkPolicyName != '' OR ingressNetworkPolicyName != '')";
    const [rows, completeness, throughput] = await Promise.all([
      this.db.select(
        `SELECT ${policy('egress')} AS egress, egressNetworkPolicyRuleAction AS egressAction, ${policy('ingress')} AS ingress, ` +
          `ingressNetworkPolicyRuleAction AS ingressAction, ${this.podKey('source', true)} AS src, ${this.podKey('destination', true)} AS dst, ` +
          `${d.num('sum(octetDeltaCount) + sum(reverseOctetDeltaCount)')} AS bytes, ${d.count()} AS flows FROM flows WHERE ${this.where(q, extra)} ` +
          `GROUP BY egress, egressAction, ingress, ingressAction, src, dst ORDER BY bytes DESC, flows DESC, egress, ingress, src, dst, egressAction, ingressAction LIMIT ${POLICY_POD_EDGES}`,
      ),
      this.layer.completeness(q.range),
      this.series(q, "'all'", extra, 1, ['all']),
    ]);
    const edges: PolicyPodEdge[] = rows.map((r) => ({
      egressPolicy: str(r.egress),
      egressAction: num(r.egressAction),
      ingressPolicy: str(r.ingress),
      ingressAction: num(r.ingressAction),
      sourcePod: str(r.src),
      destinationPod: str(r.dst),
      bytes: num(r.bytes),
      flows: num(r.flows),
    }));
    return { range: q.range, completeness, edges, throughput };
  }
}

/** Address-pair rows read per edges query for the addresses in the edges' tooltips. */
const MAX_EDGE_ROWS = 5000;

export type DashboardPage = 'overview' | 'pod-to-pod' | 'pod-to-external' | 'pod-to-service' | 'flow-records' | 'node-throughput' | 'network-policy';

export const DASHBOARD_PAGES: Readonly<Record<DashboardPage, (q: DashboardQueries, query: FlowQuery) => Promise<unknown>>> = Object.freeze({
  overview: (q, query) => q.overview(query),
  'pod-to-pod': (q, query) => q.podToPod(query),
  'pod-to-external': (q, query) => q.podToExternal(query),
  'pod-to-service': (q, query) => q.podToService(query),
  'flow-records': (q, query) => q.flowRecords(query),
  'node-throughput': (q, query) => q.nodeThroughput(query),
  'network-policy': (q, query) => q.networkPolicy(query),
});
