// The stored flow row: Antrea Theia's `flows` columns where they overlap (same names and, in
// ClickHouse, the same types), plus what an AggregatedFlowRecord carries beyond them. Both
// engines and both insert paths read this one list, so a column is added in one place.
import type { AggregatedFlowRecord } from '../flow/record.js';
import { ipKey, ipNet, ipv4Key, ipv4Net } from './ip-key.js';

/** Storage kind; each engine maps it to its own type. `time` is seconds since the epoch. */
export type ColumnKind = 'time' | 'u8' | 'u16' | 'u32' | 'u64' | 'i64' | 'string';

/** One row of the flows table, as every query returns it. */
export interface StoredFlow {
  timeInserted: number;
  flowStartSeconds: number;
  flowEndSeconds: number;
  flowEndSecondsFromSourceNode: number;
  flowEndSecondsFromDestinationNode: number;
  flowEndReason: number;
  sourceIP: string;
  destinationIP: string;
  sourceTransportPort: number;
  destinationTransportPort: number;
  protocolIdentifier: number;
  packetTotalCount: number;
  octetTotalCount: number;
  packetDeltaCount: number;
  octetDeltaCount: number;
  reversePacketTotalCount: number;
  reverseOctetTotalCount: number;
  reversePacketDeltaCount: number;
  reverseOctetDeltaCount: number;
  sourcePodName: string;
  sourcePodNamespace: string;
  sourceNodeName: string;
  destinationPodName: string;
  destinationPodNamespace: string;
  destinationNodeName: string;
  destinationClusterIP: string;
  destinationServicePort: number;
  destinationServicePortName: string;
  ingressNetworkPolicyName: string;
  ingressNetworkPolicyNamespace: string;
  ingressNetworkPolicyRuleName: string;
  ingressNetworkPolicyRuleAction: number;
  ingressNetworkPolicyType: number;
  egressNetworkPolicyName: string;
  egressNetworkPolicyNamespace: string;
  egressNetworkPolicyRuleName: string;
  egressNetworkPolicyRuleAction: number;
  egressNetworkPolicyType: number;
  tcpState: string;
  flowType: number;
  throughput: number;
  reverseThroughput: number;
  throughputFromSourceNode: number;
  throughputFromDestinationNode: number;
  reverseThroughputFromSourceNode: number;
  reverseThroughputFromDestinationNode: number;
  // Beyond Theia:
  ipVersion: number;
  /** ipKey() of sourceIP / destinationIP: the IP and CIDR filters compare these. */
  sourceIPKey: string;
  destinationIPKey: string;
  correlated: number;
  originalExporterAddress: string;
  originalObservationDomainId: number;
  /** ipNet() of sourceIP / destinationIP (the /24 of IPv4, the /48 of IPv6): IP filters on whole networks compare these, also in the Pod rollup. */
  sourceIPNet: number;
  destinationIPNet: number;
}

export interface Column {
  readonly name: keyof StoredFlow;
  readonly kind: ColumnKind;
  /** True when Antrea Theia's flows table has the column (same name, same ClickHouse type). */
  readonly theia: boolean;
  readonly value: (r: AggregatedFlowRecord, insertedAtSeconds: number) => number | string;
  /**
   * A column computed from a string column of the same row (the IP keys and networks from the
   * addresses): writers that dictionary-encode a batch derive it once per distinct source value.
   */
  readonly derived?: {
    readonly from: keyof StoredFlow;
    readonly derive: (source: string) => string | number;
    /** The same from an IPv4 address's 32-bit value, when `from` is an address column (ip-key.ts ipv4Value). */
    readonly fromIpv4?: (address: number) => string | number;
  };
  /**
   * IP address text: columnar.ts reads canonical IPv4 values as 32-bit numbers (a parse and a
   * probe of a numeric table instead of a string Map, whose growth dominated a batch's read when
   * most addresses are distinct) and gives them back as text when the batch is completed.
   */
  readonly address?: true;
  /** The schema version (migrations.ts) that added the column; absent: the first. Added columns come last. */
  readonly since?: number;
}

// Addresses repeat across records (the same Pods talk again and again): keys are cached.
const keyCache = new Map<string, string>();
export function cachedIpKey(address: string): string {
  let k = keyCache.get(address);
  if (k === undefined) {
    if (keyCache.size >= 65_536) keyCache.clear();
    k = ipKey(address);
    keyCache.set(address, k);
  }
  return k;
}

const netCache = new Map<string, number>();
function cachedIpNet(address: string): number {
  let k = netCache.get(address);
  if (k === undefined) {
    if (netCache.size >= 65_536) netCache.clear();
    k = ipNet(address);
    netCache.set(address, k);
  }
  return k;
}

const u64 = (v: number) => (Number.isFinite(v) && v > 0 ? Math.floor(v) : 0);
const n = (v: unknown) => Number(v) || 0;
const s = (v: string | undefined | null) => (typeof v === 'string' ? v : v == null ? '' : String(v));

// Each column reads its field through its own small function, so every property read stays
// monomorphic: one generic r[name] reader shared by 52 columns costs about 100 ns a value.
function col(name: keyof StoredFlow, kind: ColumnKind, value: Column['value'], theia = true, derived?: Column['derived'], since?: number): Column {
  const c: Column = derived ? { name, kind, theia, value, derived: Object.freeze(derived) } : { name, kind, theia, value };
  return Object.freeze(since === undefined ? c : { ...c, since });
}

const address = (c: Column): Column => Object.freeze({ ...c, address: true as const });

export const COLUMNS: readonly Column[] = Object.freeze([
  col('timeInserted', 'time', (_r, at) => at),
  col('flowStartSeconds', 'time', (r) => n(r.flowStartSeconds)),
  col('flowEndSeconds', 'time', (r) => n(r.flowEndSeconds)),
  col('flowEndSecondsFromSourceNode', 'time', (r) => n(r.flowEndSecondsFromSourceNode)),
  col('flowEndSecondsFromDestinationNode', 'time', (r) => n(r.flowEndSecondsFromDestinationNode)),
  col('flowEndReason', 'u8', (r) => n(r.flowEndReason)),
  address(col('sourceIP', 'string', (r) => s(r.sourceAddress))),
  address(col('destinationIP', 'string', (r) => s(r.destinationAddress))),
  col('sourceTransportPort', 'u16', (r) => n(r.sourceTransportPort)),
  col('destinationTransportPort', 'u16', (r) => n(r.destinationTransportPort)),
  col('protocolIdentifier', 'u8', (r) => n(r.protocolIdentifier)),
  col('packetTotalCount', 'u64', (r) => u64(r.packetTotalCount)),
  col('octetTotalCount', 'u64', (r) => u64(r.octetTotalCount)),
  col('packetDeltaCount', 'u64', (r) => u64(r.packetDeltaCount)),
  col('octetDeltaCount', 'u64', (r) => u64(r.octetDeltaCount)),
  col('reversePacketTotalCount', 'u64', (r) => u64(r.reversePacketTotalCount)),
  col('reverseOctetTotalCount', 'u64', (r) => u64(r.reverseOctetTotalCount)),
  col('reversePacketDeltaCount', 'u64', (r) => u64(r.reversePacketDeltaCount)),
  col('reverseOctetDeltaCount', 'u64', (r) => u64(r.reverseOctetDeltaCount)),
  col('sourcePodName', 'string', (r) => s(r.sourcePodName)),
  col('sourcePodNamespace', 'string', (r) => s(r.sourcePodNamespace)),
  col('sourceNodeName', 'string', (r) => s(r.sourceNodeName)),
  col('destinationPodName', 'string', (r) => s(r.destinationPodName)),
  col('destinationPodNamespace', 'string', (r) => s(r.destinationPodNamespace)),
  col('destinationNodeName', 'string', (r) => s(r.destinationNodeName)),
  col('destinationClusterIP', 'string', (r) => s(r.destinationClusterIP)),
  col('destinationServicePort', 'u16', (r) => n(r.destinationServicePort)),
  col('destinationServicePortName', 'string', (r) => s(r.destinationServicePortName)),
  col('ingressNetworkPolicyName', 'string', (r) => s(r.ingressNetworkPolicyName)),
  col('ingressNetworkPolicyNamespace', 'string', (r) => s(r.ingressNetworkPolicyNamespace)),
  col('ingressNetworkPolicyRuleName', 'string', (r) => s(r.ingressNetworkPolicyRuleName)),
  col('ingressNetworkPolicyRuleAction', 'u8', (r) => n(r.ingressNetworkPolicyRuleAction)),
  col('ingressNetworkPolicyType', 'u8', (r) => n(r.ingressNetworkPolicyType)),
  col('egressNetworkPolicyName', 'string', (r) => s(r.egressNetworkPolicyName)),
  col('egressNetworkPolicyNamespace', 'string', (r) => s(r.egressNetworkPolicyNamespace)),
  col('egressNetworkPolicyRuleName', 'string', (r) => s(r.egressNetworkPolicyRuleName)),
  col('egressNetworkPolicyRuleAction', 'u8', (r) => n(r.egressNetworkPolicyRuleAction)),
  col('egressNetworkPolicyType', 'u8', (r) => n(r.egressNetworkPolicyType)),
  col('tcpState', 'string', (r) => s(r.tcpState)),
  col('flowType', 'u8', (r) => n(r.flowType)),
  col('throughput', 'u64', (r) => u64(r.throughput)),
  col('reverseThroughput', 'u64', (r) => u64(r.reverseThroughput)),
  col('throughputFromSourceNode', 'u64', (r) => u64(r.throughputFromSourceNode)),
  col('throughputFromDestinationNode', 'u64', (r) => u64(r.throughputFromDestinationNode)),
  col('reverseThroughputFromSourceNode', 'u64', (r) => u64(r.reverseThroughputFromSourceNode)),
  col('reverseThroughputFromDestinationNode', 'u64', (r) => u64(r.reverseThroughputFromDestinationNode)),
  col('ipVersion', 'u8', (r) => r.ipVersion, false),
  col('sourceIPKey', 'string', (r) => cachedIpKey(s(r.sourceAddress)), false, { from: 'sourceIP', derive: ipKey, fromIpv4: ipv4Key }),
  col('destinationIPKey', 'string', (r) => cachedIpKey(s(r.destinationAddress)), false, { from: 'destinationIP', derive: ipKey, fromIpv4: ipv4Key }),
  col('correlated', 'u8', (r) => (r.correlated ? 1 : 0), false),
  col('originalExporterAddress', 'string', (r) => s(r.originalExporterAddress), false),
  col('originalObservationDomainId', 'u32', (r) => n(r.originalObservationDomainId), false),
  col('sourceIPNet', 'i64', (r) => cachedIpNet(s(r.sourceAddress)), false, { from: 'sourceIP', derive: ipNet, fromIpv4: ipv4Net }, 4),
  col('destinationIPNet', 'i64', (r) => cachedIpNet(s(r.destinationAddress)), false, { from: 'destinationIP', derive: ipNet, fromIpv4: ipv4Net }, 4),
]);

/** The columns of the flows table at a schema version (migration 1 creates the first ones; later ones add theirs). */
export function columnsAt(version: number): readonly Column[] {
  return COLUMNS.filter((c) => (c.since ?? 1) <= version);
}

export const COLUMN_NAMES: readonly (keyof StoredFlow)[] = COLUMNS.map((c) => c.name);

/** The aggregator's loss counters at one moment, as the store sink persists them. */
export interface CounterSnapshot {
  /** Seconds since the epoch. */
  at: number;
  /** Identifies one run of the aggregator: its counters start from 0. */
  instance: string;
  /** Records the aggregator dropped (invalid, collecting queue full, sink buffers). */
  recordsDropped: number;
  /** Records missing by IPFIX sequence numbers. */
  recordsLost: number;
  /** Records the store sink dropped because its retry buffer was full. */
  storeDropped: number;
}
