// The JSON the dashboard routes (/api/v1/dashboard/<page>) answer. Shared by the server
// (src/store/dashboard-queries.ts builds it) and the browser (src/ui reads it), so this file
// imports nothing: it must type-check both under Node and under the DOM library.

export interface WireRange {
  /** Epoch seconds, inclusive. */
  from: number;
  /** Epoch seconds, exclusive. */
  to: number;
}

export interface WireCompleteness {
  recordsDropped: number;
  recordsLost: number;
  storeDropped: number;
  snapshots: number;
  complete: boolean;
}

export interface WirePage {
  limit: number;
  offset: number;
  nextOffset: number | null;
}

/** One bucket of traffic; bytes are the forward direction (Tx), reverseBytes the reply (Rx). */
export interface SeriesPoint {
  t: number;
  bytes: number;
  reverseBytes: number;
}

/** A named series: one entity's traffic over time; every bucket of the range is present. */
export interface EntitySeries {
  /** What the series stands for: "ns/pod", an IP, "ns/service:port", a node name. */
  key: string;
  points: SeriesPoint[];
}

export interface SeriesSet {
  bucketSeconds: number;
  series: EntitySeries[];
}

export interface Totals {
  /** Flow records in the range. */
  records: number;
  /** Distinct connections (5-tuple and start time). */
  connections: number;
  /** Connections whose last record in the range was an active-timeout export (still open). */
  activeConnections: number;
  /** Connections that a policy rule dropped or rejected. */
  deniedConnections: number;
  bytes: number;
  reverseBytes: number;
  packets: number;
  reversePackets: number;
}

export interface Ranked {
  key: string;
  bytes: number;
  reverseBytes: number;
  flows: number;
}

export interface DeniedFlow {
  source: string;
  destination: string;
  destinationPort: number;
  protocol: number;
  /** "egress ns/name" or "ingress ns/name", the policy that denied it. */
  policy: string;
  /** The rule action number (2 drop, 3 reject). */
  action: number;
  flows: number;
  packets: number;
}

export interface OverviewData {
  range: WireRange;
  completeness: WireCompleteness;
  totals: Totals;
  topNamespaces: Ranked[];
  topPods: Ranked[];
  topServices: Ranked[];
  denied: DeniedFlow[];
  throughput: SeriesSet;
}

/** A sankey edge between two named endpoints, with Tx (source to destination) and Rx bytes. */
export interface Edge {
  source: string;
  destination: string;
  txBytes: number;
  rxBytes: number;
  flows: number;
}

/** The two endpoints of an edge, as an edge page names them. */
export interface EdgeRef {
  source: string;
  destination: string;
}

/**
 * The addresses of some edges of an edge page (POST /api/v1/dashboard/<page>/addresses), asked
 * for after the page is drawn: the table's IP columns and the sankeys' tooltips.
 */
export interface EdgeAddresses extends EdgeRef {
  /** Addresses seen on each side (Pod IPs, ClusterIPs, external IPs), sorted. */
  sourceIps: string[];
  destinationIps: string[];
}

export interface EdgeAddressesData {
  edges: EdgeAddresses[];
  /** True when more address pairs matched than one answer lists (the lists are then partial). */
  truncated: boolean;
}

/** The body of POST /api/v1/dashboard/<page>/addresses. */
export interface EdgeAddressesRequest {
  edges: EdgeRef[];
}

export interface EdgesData {
  range: WireRange;
  completeness: WireCompleteness;
  edges: Edge[];
  bySource: SeriesSet;
  byDestination: SeriesSet;
}

export interface NodeSeriesData {
  range: WireRange;
  completeness: WireCompleteness;
  /** Keys "<node> inter-node" and "<node> intra-node"; bytes = Tx of the node, reverseBytes = Rx. */
  series: SeriesSet;
  matrix: { sourceNode: string; destinationNode: string; txBytes: number; rxBytes: number; flows: number }[];
}

export interface PolicyPodEdge {
  egressPolicy: string;
  egressAction: number;
  ingressPolicy: string;
  ingressAction: number;
  sourcePod: string;
  destinationPod: string;
  bytes: number;
  flows: number;
}

/** All the traffic from one egress policy to one ingress policy ('' for none on that side). */
export interface PolicyLink {
  egressPolicy: string;
  ingressPolicy: string;
  bytes: number;
  flows: number;
  /** A rule of either policy dropped or rejected some of it. */
  denied: boolean;
}

export interface PolicyData {
  range: WireRange;
  completeness: WireCompleteness;
  /** Every policy pair's totals, largest first. */
  links: PolicyLink[];
  /** The largest Pod pairs under policies (with their rules' actions), largest first. */
  edges: PolicyPodEdge[];
  throughput: SeriesSet;
}

/** A stored flow row: every column, by name. */
export type FlowRow = Record<string, string | number>;

export interface FlowRecordsData {
  range: WireRange;
  completeness: WireCompleteness;
  items: FlowRow[];
  page: WirePage;
  throughput: SeriesSet;
}

export interface ApiErrorBody {
  error: string;
  message: string;
}
