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
  EdgeAddressesData,
  EdgeRef,
  EdgesData,
  EntitySeries,
  FlowRecordsData,
  NodeSeriesData,
  OverviewData,
  PolicyData,
  PolicyLink,
  PolicyPodEdge,
  Ranked,
  SeriesSet,
  Totals,
} from '../ui/api/types.js';
import { FlowQueries, scanFor, whereClause, type FlowQuery, type SqlRunner } from './query.js';
import { StoreError } from './errors.js';
import type { RollupName } from './rollups.js';

/** Series charts draw the top entities only, so that a line chart stays readable. */
export const SERIES_TOP = 8;
/** Rankings on the Overview page. */
export const OVERVIEW_TOP = 10;
/** Pod pairs listed under the policy edges (the Network Policy table). */
export const POLICY_POD_EDGES = 200;
/** Policy pairs listed (the sankey draws the largest and sums the others). */
export const POLICY_LINKS = 500;

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0));
const str = (v: unknown): string => (v === null || v === undefined ? '' : String(v));
const DENIED = `(ingressNetworkPolicyRuleAction IN (${RuleAction.drop}, ${RuleAction.reject}) OR egressNetworkPolicyRuleAction IN (${RuleAction.drop}, ${RuleAction.reject}))`;
const CONNECTION = 'sourceIP, destinationIP, sourceTransportPort, destinationTransportPort, protocolIdentifier, flowStartSeconds';

/** A 64-bit hash of a tuple, as the engine writes it, and the same as text (JS numbers hold 53 bits). */
interface TupleHash {
  of(exprs: readonly string[]): string;
  text(expr: string): string;
}

function tupleHash(db: SqlRunner): TupleHash | null {
  switch ((db as { engine?: string }).engine) {
    case 'duckdb':
      return { of: (e) => `hash(${e.join(', ')})`, text: (e) => `CAST(${e} AS VARCHAR)` };
    case 'clickhouse':
      return { of: (e) => `cityHash64(${e.join(', ')})`, text: (e) => `toString(${e})` };
    default:
      return null;
  }
}

/** The top-N groups of a grouping with many groups (topGroups). */
interface TopGroupsQuery {
  /** The raw-row expressions whose values make a group. */
  keys: readonly string[];
  /** The exact query's SELECT list (names and measures) and GROUP BY. */
  select: string;
  groupBy: string;
  /** The output columns GROUP BY names. */
  groupColumns: readonly string[];
  /** The rows read: flows, or a rollup's scan (scanFor), whose WHERE is `where`. */
  from: string;
  where: string;
  /** The measure ranked by, largest first (one aggregate: each more costs per group); the exact ORDER BY starts with it. */
  rank: string;
  /** The exact query's ORDER BY: rank DESC, then whatever breaks its ties. */
  order: string;
  limit: number;
}

/** Groups read beyond the limit in the hashed pass, so that ties at the limit are seen. */
const TOP_SLACK = 32;

export class DashboardQueries {
  private readonly layer: FlowQueries;
  private readonly hash: TupleHash | null;

  constructor(private readonly db: SqlRunner) {
    this.layer = new FlowQueries(db);
    this.hash = tupleHash(db);
  }

  /**
   * The top `limit` groups of a grouping with many groups (Pod pairs, policy and Pod pairs),
   * exactly as the plain GROUP BY ... ORDER BY ... LIMIT answers them, in two cheaper passes:
   *   1. rank the groups by a 64-bit hash of their key columns (integers group several times
   *      faster than the names, which would be built for every row), keeping `limit` + slack;
   *   2. group by the names only the rows of the hashes whose rank reaches the limit-th one.
   * Pass 2 also proves pass 1 right: a hash that stands for two groups (a collision) or ties
   * that run past the rows kept send the query to the plain GROUP BY.
   */
  private async topGroups(t: TopGroupsQuery): Promise<Record<string, unknown>[]> {
    const d = this.db.dialect;
    const plain = () => this.db.select(`SELECT ${t.select} FROM ${t.from} WHERE ${t.where} GROUP BY ${t.groupBy} ORDER BY ${t.order} LIMIT ${t.limit}`);
    if (!this.hash) return plain();
    const h = this.hash.of(t.keys);
    const ranked = await this.db.select(
      `SELECT ${this.hash.text('h')} AS h, r FROM (SELECT ${h} AS h, ${d.num(t.rank)} AS r FROM ${t.from} WHERE ${t.where} GROUP BY h ORDER BY r DESC LIMIT ${t.limit + TOP_SLACK}) AS g`,
    );
    if (ranked.length === 0) return [];
    const byRank = ranked.map((r) => ({ h: str(r.h), r: num(r.r) })).sort((a, b) => b.r - a.r);
    const cut = byRank[Math.min(t.limit, byRank.length) - 1].r;
    if (byRank.length === t.limit + TOP_SLACK && byRank[byRank.length - 1].r === cut) return plain();
    const wanted = byRank.filter((x) => x.r >= cut).map((x) => x.h);
    if (!wanted.every((x) => /^\d+$/.test(x))) return plain();
    const rows = await this.db.select(
      `SELECT ${t.select}, ${this.hash.text(h)} AS groupHash FROM ${t.from} WHERE ${t.where} AND ${h} IN (${wanted.join(', ')}) ` +
        `GROUP BY ${t.groupBy}, groupHash ORDER BY ${t.order}`,
    );
    // One row per hash, and one hash per group (names made of the keys could meet otherwise).
    const hashes = new Set(rows.map((r) => str(r.groupHash)));
    const groups = new Set(rows.map((r) => JSON.stringify(t.groupColumns.map((c) => r[c]))));
    if (hashes.size !== rows.length || groups.size !== rows.length) return plain();
    return rows.slice(0, t.limit).map(({ groupHash: _, ...r }) => r);
  }

  private where(q: FlowQuery, extra = ''): string {
    const w = whereClause(this.db.dialect, q);
    return extra === '' ? w : `${w} AND ${extra}`;
  }

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

  /**
   * Sums of Tx and Rx per (bucket, key) for the top keys by Tx + Rx (`side` null: one series,
   * "all"); every bucket present, empty ones 0. Grouped by the side's raw columns, its names
   * built per group rather than per row; the series read only the top keys' rows.
   */
  private async series(q: FlowQuery, side: EdgeSide | null, extra = '', top = SERIES_TOP, rollup?: RollupName): Promise<SeriesSet> {
    const d = this.db.dialect;
    const b = q.bucketSeconds;
    const sums = `${d.num('sum(octetDeltaCount)')} AS bytes, ${d.num('sum(reverseOctetDeltaCount)')} AS reverseBytes`;
    let rows: Record<string, unknown>[];
    let wanted: string[];
    if (side === null) {
      wanted = ['all'];
      rows = await this.db.select(`SELECT ${d.bucket('flowEndSeconds', b)} AS t, 'all' AS k, ${sums} FROM flows WHERE ${this.where(q, extra)} GROUP BY t ORDER BY t`);
    } else {
      const cols = side.keys.map((_, i) => `k${i}`);
      const keyList = side.keys.map((k, i) => `${k} AS k${i}`).join(', ');
      const scan = this.scan(q, extra, rollup);
      const ranked = await this.db.select(
        `SELECT ${side.name(cols)} AS k, total FROM (SELECT ${keyList}, ${d.num('sum(octetDeltaCount) + sum(reverseOctetDeltaCount)')} AS total ` +
          `FROM ${scan.from} WHERE ${scan.where} GROUP BY ${cols.join(', ')}) AS g ORDER BY total DESC, k LIMIT ${top}`,
      );
      wanted = ranked.map((r) => str(r.k));
      if (wanted.length === 0) return { bucketSeconds: b, series: [] };
      const list = wanted.map((k) => `SELECT ${side.split(k).map((v) => d.str(v)).join(', ')}`).join(' UNION ALL ');
      rows = await this.db.select(
        `SELECT t, ${side.name(cols)} AS k, bytes, reverseBytes FROM (SELECT ${d.bucket('flowEndSeconds', b)} AS t, ${keyList}, ${sums} FROM flows ` +
          `WHERE ${this.where(q, extra)} AND (${side.keys.join(', ')}) IN (${list}) GROUP BY t, ${cols.join(', ')}) AS g`,
      );
    }
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

  private async ranked(q: FlowQuery, side: EdgeSide, extra: string, top: number, rollup?: RollupName): Promise<Ranked[]> {
    const d = this.db.dialect;
    const scan = this.scan(q, extra, rollup);
    const cols = side.keys.map((_, i) => `k${i}`);
    const rows = await this.db.select(
      `SELECT ${side.name(cols)} AS k, bytes, reverseBytes, flows FROM (SELECT ${side.keys.map((k, i) => `${k} AS k${i}`).join(', ')}, ` +
        `${d.num('sum(octetDeltaCount)')} AS bytes, ${d.num('sum(reverseOctetDeltaCount)')} AS reverseBytes, ${scan.count} AS flows ` +
        `FROM ${scan.from} WHERE ${scan.where} GROUP BY ${cols.join(', ')}) AS g ORDER BY bytes + reverseBytes DESC, k LIMIT ${top}`,
    );
    return rows.map((r) => ({ key: str(r.k), bytes: num(r.bytes), reverseBytes: num(r.reverseBytes), flows: num(r.flows) }));
  }

  private podKey(side: 'source' | 'destination', withIp = false): string {
    const ns = `${side}PodNamespace`;
    const name = `${side}PodName`;
    const pod = `concat(${ns}, '/', ${name})`;
    return withIp ? `CASE WHEN ${name} = '' THEN ${side}IP ELSE ${pod} END` : pod;
  }

  async totals(q: FlowQuery): Promise<Totals> {
    const d = this.db.dialect;
    // The sums over rows (from the totals rollup where the filters allow), and, apart, the
    // connections: grouped by connection with only the two flags a connection needs, which costs
    // a third of grouping the sums along. A connection is still open when every record of it in
    // the range is an active-timeout export.
    const scan = this.scan(q, '', 'totals');
    const [[sums], [connections]] = await Promise.all([
      this.db.select(
        `SELECT ${scan.count} AS records, ${d.num('sum(octetDeltaCount)')} AS bytes, ${d.num('sum(reverseOctetDeltaCount)')} AS reverseBytes, ` +
          `${d.num('sum(packetDeltaCount)')} AS packets, ${d.num('sum(reversePacketDeltaCount)')} AS reversePackets FROM ${scan.from} WHERE ${scan.where}`,
      ),
      this.db.select(
        `SELECT ${d.count()} AS connections, ${d.num('sum(1 - ended)')} AS active, ${d.num('sum(denied)')} AS denied FROM (` +
          `SELECT max(CASE WHEN flowEndReason = 2 THEN 0 ELSE 1 END) AS ended, max(CASE WHEN ${DENIED} THEN 1 ELSE 0 END) AS denied ` +
          `FROM flows WHERE ${this.where(q)} GROUP BY ${CONNECTION}) AS c`,
      ),
    ]);
    return {
      records: num(sums?.records),
      connections: num(connections?.connections),
      activeConnections: num(connections?.active),
      deniedConnections: num(connections?.denied),
      bytes: num(sums?.bytes),
      reverseBytes: num(sums?.reverseBytes),
      packets: num(sums?.packets),
      reversePackets: num(sums?.reversePackets),
    };
  }

  /** Overview: totals, top namespaces / Pods / Services, denied connections, throughput, losses. */
  async overview(q: FlowQuery): Promise<OverviewData> {
    const d = this.db.dialect;
    // The page's queries run side by side (the embedded store reads on several connections).
    const [totals, topNamespaces, topPods, topServices, deniedRows, throughput, completeness] = await Promise.all([
      this.totals(q),
      this.ranked(q, columnSide('sourcePodNamespace'), "sourcePodNamespace != ''", OVERVIEW_TOP, 'pods'),
      this.ranked(q, podSide('source', false), "sourcePodName != ''", OVERVIEW_TOP, 'pods'),
      this.ranked(q, columnSide('destinationServicePortName'), "destinationServicePortName != ''", OVERVIEW_TOP),
      this.db.select(
        `SELECT ${this.podKey('source', true)} AS src, ${this.podKey('destination', true)} AS dst, destinationTransportPort AS port, protocolIdentifier AS proto, ` +
          `CASE WHEN egressNetworkPolicyRuleAction IN (${RuleAction.drop}, ${RuleAction.reject}) THEN concat('egress ', egressNetworkPolicyNamespace, '/', egressNetworkPolicyName) ` +
          `ELSE concat('ingress ', ingressNetworkPolicyNamespace, '/', ingressNetworkPolicyName) END AS policy, ` +
          `CASE WHEN egressNetworkPolicyRuleAction IN (${RuleAction.drop}, ${RuleAction.reject}) THEN egressNetworkPolicyRuleAction ELSE ingressNetworkPolicyRuleAction END AS action, ` +
          `${d.count()} AS flows, ${d.num('sum(packetDeltaCount)')} AS packets FROM flows WHERE ${this.where(q, DENIED)} ` +
          `GROUP BY src, dst, port, proto, policy, action ORDER BY flows DESC, src, dst, port, proto, policy, action LIMIT ${OVERVIEW_TOP}`,
      ),
      this.series(q, null),
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

  private async edges(q: FlowQuery, spec: EdgePageSpec): Promise<Edge[]> {
    const d = this.db.dialect;
    // Totals per entity pair, summed in full by the database; the addresses behind each edge
    // are asked for separately (edgeAddresses), for the edges a page shows.
    // Pod pairs are a rollup's keys: whole buckets from it where the filters allow.
    const scan = this.scan(q, spec.extra, spec.rollup);
    const rows = await this.topGroups({
      keys: [...spec.source.keys, ...spec.destination.keys],
      select: `${spec.source.expr} AS src, ${spec.destination.expr} AS dst, ${d.num('sum(octetDeltaCount)')} AS tx, ${d.num('sum(reverseOctetDeltaCount)')} AS rx, ${scan.count} AS flows`,
      groupBy: 'src, dst',
      groupColumns: ['src', 'dst'],
      from: scan.from,
      where: scan.where,
      rank: 'sum(octetDeltaCount + reverseOctetDeltaCount)',
      order: 'tx + rx DESC, src, dst',
      limit: q.limit,
    });
    return rows.map((r) => ({ source: str(r.src), destination: str(r.dst), txBytes: num(r.tx), rxBytes: num(r.rx), flows: num(r.flows) }));
  }

  /**
   * The addresses behind some edges of an edge page (the Pod IPs, ClusterIPs and external IPs
   * of their flows), with the page's filters. One scan that keeps only the flows of the edges
   * asked for: each side's name is split back into the raw columns it was made of, so the
   * database compares columns rather than building every row's name.
   */
  async edgeAddresses(page: EdgePage, q: FlowQuery, refs: readonly EdgeRef[]): Promise<EdgeAddressesData> {
    const d = this.db.dialect;
    const spec = EDGE_PAGE_SPECS[page];
    if (refs.length === 0) return { edges: [], truncated: false };
    const keys = [...spec.source.keys, ...spec.destination.keys];
    const wanted = refs.map((r) => [...spec.source.split(r.source), ...spec.destination.split(r.destination)]);
    const list = wanted.map((v) => `SELECT ${v.map((x) => d.str(x)).join(', ')}`).join(' UNION ALL ');
    const rows = await this.db.select(
      `SELECT ${spec.source.expr} AS src, ${spec.destination.expr} AS dst, sourceIP, destinationIP, destinationClusterIP FROM flows ` +
        `WHERE ${this.where(q, spec.extra)} AND (${keys.join(', ')}) IN (${list}) ` +
        `GROUP BY src, dst, sourceIP, destinationIP, destinationClusterIP ORDER BY src, dst, sourceIP, destinationIP, destinationClusterIP LIMIT ${MAX_ADDRESS_ROWS + 1}`,
    );
    const byPair = new Map<string, { src: Set<string>; dst: Set<string> }>(refs.map((r) => [`${r.source}\u0000${r.destination}`, { src: new Set(), dst: new Set() }]));
    for (const r of rows.slice(0, MAX_ADDRESS_ROWS)) {
      const e = byPair.get(`${str(r.src)}\u0000${str(r.dst)}`);
      if (!e) continue;
      e.src.add(str(r.sourceIP));
      if (str(r.destinationClusterIP) !== '') e.dst.add(str(r.destinationClusterIP));
      e.dst.add(str(r.destinationIP));
    }
    return {
      edges: refs.map((r) => {
        const e = byPair.get(`${r.source}\u0000${r.destination}`)!;
        return { source: r.source, destination: r.destination, sourceIps: [...e.src].sort(), destinationIps: [...e.dst].sort() };
      }),
      truncated: rows.length > MAX_ADDRESS_ROWS,
    };
  }

  private async edgePage(q: FlowQuery, page: EdgePage, rankings: { source?: RollupName; destination?: RollupName } = {}): Promise<EdgesData> {
    const spec = EDGE_PAGE_SPECS[page];
    const [completeness, edges, bySource, byDestination] = await Promise.all([
      this.layer.completeness(q.range),
      this.edges(q, spec),
      this.series(q, spec.source, spec.extra, SERIES_TOP, rankings.source),
      this.series(q, spec.destination, spec.extra, SERIES_TOP, rankings.destination),
    ]);
    return { range: q.range, completeness, edges, bySource, byDestination };
  }

  /** Pod-to-Pod: edges between source and destination Pods, throughput per source and per destination Pod. */
  podToPod(q: FlowQuery): Promise<EdgesData> {
    return this.edgePage(q, 'pod-to-pod', { source: 'pods', destination: 'pods' });
  }

  /** Pod-to-External: edges from Pods to external IPs, throughput per source Pod and per external IP. */
  podToExternal(q: FlowQuery): Promise<EdgesData> {
    return this.edgePage(q, 'pod-to-external');
  }

  /** Pod-to-Service: edges from Pods (or client IPs) to Services, Tx and Rx per destination Service. */
  podToService(q: FlowQuery): Promise<EdgesData> {
    return this.edgePage(q, 'pod-to-service');
  }

  /** Flow Records: one page of raw records (sort= and offset= apply) and the traffic over time. */
  async flowRecords(q: FlowQuery): Promise<FlowRecordsData> {
    const [page, throughput] = await Promise.all([this.layer.flows(q), this.series(q, null)]);
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
    const source = podSide('source', true);
    const destination = podSide('destination', true);
    const policyKeys = (side: 'ingress' | 'egress') => [`${side}NetworkPolicyNamespace`, `${side}NetworkPolicyName`, `${side}NetworkPolicyRuleAction`];
    // Policy pairs from the policies rollup where the filters allow: few rows, exact totals.
    const scan = this.scan(q, extra, 'policies');
    const [linkRows, rows, completeness, throughput] = await Promise.all([
      this.db.select(
        `SELECT ${policy('egress')} AS egress, ${policy('ingress')} AS ingress, ${d.num('sum(octetDeltaCount) + sum(reverseOctetDeltaCount)')} AS bytes, ` +
          `${scan.count} AS flows, max(CASE WHEN ${DENIED} THEN 1 ELSE 0 END) AS denied FROM ${scan.from} WHERE ${scan.where} ` +
          `GROUP BY egress, ingress ORDER BY bytes DESC, flows DESC, egress, ingress LIMIT ${POLICY_LINKS}`,
      ),
      this.topGroups({
        keys: [...policyKeys('egress'), ...policyKeys('ingress'), ...source.keys, ...destination.keys],
        select:
          `${policy('egress')} AS egress, egressNetworkPolicyRuleAction AS egressAction, ${policy('ingress')} AS ingress, ` +
          `ingressNetworkPolicyRuleAction AS ingressAction, ${source.expr} AS src, ${destination.expr} AS dst, ` +
          `${d.num('sum(octetDeltaCount) + sum(reverseOctetDeltaCount)')} AS bytes, ${d.count()} AS flows`,
        groupBy: 'egress, egressAction, ingress, ingressAction, src, dst',
        groupColumns: ['egress', 'egressAction', 'ingress', 'ingressAction', 'src', 'dst'],
        from: 'flows',
        where: this.where(q, extra),
        rank: 'sum(octetDeltaCount + reverseOctetDeltaCount)',
        order: 'bytes DESC, flows DESC, egress, ingress, src, dst, egressAction, ingressAction',
        limit: POLICY_POD_EDGES,
      }),
      this.layer.completeness(q.range),
      this.series(q, null, extra),
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
    const links: PolicyLink[] = linkRows.map((r) => ({ egressPolicy: str(r.egress), ingressPolicy: str(r.ingress), bytes: num(r.bytes), flows: num(r.flows), denied: num(r.denied) > 0 }));
    return { range: q.range, completeness, links, edges, throughput };
  }
}

/** Edges one addresses request may ask for (an edge page shows 50). */
export const MAX_ADDRESS_EDGES = 200;
/** Address-pair rows one addresses answer lists; beyond them it says it is truncated. */
export const MAX_ADDRESS_ROWS = 20_000;

export type EdgePage = 'pod-to-pod' | 'pod-to-external' | 'pod-to-service';

/**
 * One side of an edge page's edges: the name the page shows (expr), and the raw-row expressions
 * (keys) whose values split(name) gives back, so that flows can be picked by name cheaply.
 */
interface EdgeSide {
  readonly expr: string;
  readonly keys: readonly string[];
  split(name: string): string[];
  /** expr, written over columns that hold the keys' values (a grouped subquery's). */
  name(columns: readonly string[]): string;
}

interface EdgePageSpec {
  /** Which flows the page draws. */
  readonly extra: string;
  /** A rollup whose keys name both sides (and hold `extra`'s columns), if any. */
  readonly rollup?: RollupName;
  readonly source: EdgeSide;
  readonly destination: EdgeSide;
}

/** A Pod side, "ns/name"; withIp: an endpoint without a Pod is named by its IP. */
function podSide(side: 'source' | 'destination', withIp: boolean): EdgeSide {
  const ns = `${side}PodNamespace`;
  const name = `${side}PodName`;
  const pod = `concat(${ns}, '/', ${name})`;
  return {
    expr: withIp ? `CASE WHEN ${name} = '' THEN ${side}IP ELSE ${pod} END` : pod,
    name: (c) => (withIp ? `CASE WHEN ${c[1]} = '' THEN ${c[2]} ELSE concat(${c[0]}, '/', ${c[1]}) END` : `concat(${c[0]}, '/', ${c[1]})`),
    // Without IPs the page's flows all have a Pod on this side: namespace and name suffice.
    keys: withIp ? [ns, name, `CASE WHEN ${name} = '' THEN ${side}IP ELSE '' END`] : [ns, name],
    // Kubernetes names hold no '/': the first one separates the namespace from the name.
    split: (n) => {
      const at = n.indexOf('/');
      const parts = at < 0 ? ['', '', n] : [n.slice(0, at), n.slice(at + 1), ''];
      return withIp ? parts : parts.slice(0, 2);
    },
  };
}

const columnSide = (column: string): EdgeSide => ({ expr: column, keys: [column], split: (n) => [n], name: (c) => c[0] });

export const EDGE_PAGE_SPECS: Readonly<Record<EdgePage, EdgePageSpec>> = Object.freeze({
  'pod-to-pod': { extra: "sourcePodName != '' AND destinationPodName != ''", rollup: 'pods', source: podSide('source', false), destination: podSide('destination', false) },
  'pod-to-external': { extra: `flowType = ${FlowType.toExternal} AND sourcePodName != ''`, source: podSide('source', false), destination: columnSide('destinationIP') },
  'pod-to-service': { extra: "destinationServicePortName != ''", source: podSide('source', true), destination: columnSide('destinationServicePortName') },
});

/** Checks the body of an addresses request: a list of up to MAX_ADDRESS_EDGES {source, destination} names. */
export function parseEdgeRefs(body: unknown): EdgeRef[] {
  const edges = (body as { edges?: unknown } | null)?.edges;
  const bad = (why: string): never => {
    throw new StoreError('STORE_ERR_INVALID_QUERY', `${why}; send {"edges": [{"source": "ns/pod", "destination": "ns/pod"}, ...]} with up to ${MAX_ADDRESS_EDGES} edges`);
  };
  if (!Array.isArray(edges)) bad('the body has no "edges" list');
  const list = edges as unknown[];
  if (list.length > MAX_ADDRESS_EDGES) bad(`${list.length} edges is too many`);
  return list.map((e, i) => {
    const { source, destination } = (e ?? {}) as { source?: unknown; destination?: unknown };
    if (typeof source !== 'string' || typeof destination !== 'string' || source.length > 1024 || destination.length > 1024) {
      bad(`edges[${i}] needs "source" and "destination" names (strings of at most 1024 characters)`);
    }
    return { source: source as string, destination: destination as string };
  });
}

export function isEdgePage(page: string): page is EdgePage {
  return Object.hasOwn(EDGE_PAGE_SPECS, page);
}

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
