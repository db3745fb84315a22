// The stored flow row: Antrea Theia's `flows` columns where they overlap (same names and, in
// ClickHouse, the same types), plus what an AggregatedFlowRecord carries beyond them. Both
// engines and both insert paths read this one list, so a column is added in one place.
import type { AggregatedFlowRecord } from '../flow/record.js';
import { ipKey } from './ip-key.js';

/** Storage kind; each engine maps it to its own type. `time` is seconds since the epoch. */
export type ColumnKind = 'time' | 'u8' | 'u16' | 'u32' | 'u64' | 'string';

export interface Column {
  readonly name: keyof StoredFlow;
  readonly kind: ColumnKind;
  /** True when Antrea Theia's flows table has the column (same name, same ClickHouse type). */
  readonly theia: boolean;
  readonly value: (r: AggregatedFlowRecord, insertedAtSeconds: number) => number | string;
}

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
}

// Addresses repeat across records (the same Pods talk again and again): keys are cached.
const keyCache = new Map<string, string>();
function cachedIpKey(address: string): string {
  let k = keyCache.get(address);
  if (k === undefined) {
    if (keyCache.size >= 65_536) keyCache.clear();
    k = ipKey(address);
    keyCache.set(address, k);
  }
  return k;
}

const u64 = (v: number) => (Number.isFinite(v) && v > 0 ? Math.floor(v) : 0);

function col(name: keyof StoredFlow, kind: ColumnKind, value: Column['value'], theia = true): Column {
  return Object.freeze({ name, kind, theia, value });
}

function field(name: keyof StoredFlow & keyof AggregatedFlowRecord, kind: ColumnKind): Column {
  if (kind === 'string') return col(name, kind, (r) => String(r[name] ?? ''));
  if (kind === 'u64') return col(name, kind, (r) => u64(r[name] as number));
  return col(name, kind, (r) => Number(r[name]) || 0);
}

export const COLUMNS: readonly Column[] = Object.freeze([
  col('timeInserted', 'time', (_r, at) => at),
  field('flowStartSeconds', 'time'),
  field('flowEndSeconds', 'time'),
  field('flowEndSecondsFromSourceNode', 'time'),
  field('flowEndSecondsFromDestinationNode', 'time'),
  field('flowEndReason', 'u8'),
  col('sourceIP', 'string', (r) => r.sourceAddress),
  col('destinationIP', 'string', (r) => r.destinationAddress),
  field('sourceTransportPort', 'u16'),
  field('destinationTransportPort', 'u16'),
  field('protocolIdentifier', 'u8'),
  field('packetTotalCount', 'u64'),
  field('octetTotalCount', 'u64'),
  field('packetDeltaCount', 'u64'),
  field('octetDeltaCount', 'u64'),
  field('reversePacketTotalCount', 'u64'),
  field('reverseOctetTotalCount', 'u64'),
  field('reversePacketDeltaCount', 'u64'),
  field('reverseOctetDeltaCount', 'u64'),
  field('sourcePodName', 'string'),
  field('sourcePodNamespace', 'string'),
  field('sourceNodeName', 'string'),
  field('destinationPodName', 'string'),
  field('destinationPodNamespace', 'string'),
  field('destinationNodeName', 'string'),
  field('destinationClusterIP', 'string'),
  field('destinationServicePort', 'u16'),
  field('destinationServicePortName', 'string'),
  field('ingressNetworkPolicyName', 'string'),
  field('ingressNetworkPolicyNamespace', 'string'),
  field('ingressNetworkPolicyRuleName', 'string'),
  field('ingressNetworkPolicyRuleAction', 'u8'),
  field('ingressNetworkPolicyType', 'u8'),
  field('egressNetworkPolicyName', 'string'),
  field('egressNetworkPolicyNamespace', 'string'),
  field('egressNetworkPolicyRuleName', 'string'),
  field('egressNetworkPolicyRuleAction', 'u8'),
  field('egressNetworkPolicyType', 'u8'),
  field('tcpState', 'string'),
  field('flowType', 'u8'),
  field('throughput', 'u64'),
  field('reverseThroughput', 'u64'),
  field('throughputFromSourceNode', 'u64'),
  field('throughputFromDestinationNode', 'u64'),
  field('reverseThroughputFromSourceNode', 'u64'),
  field('reverseThroughputFromDestinationNode', 'u64'),
  col('ipVersion', 'u8', (r) => r.ipVersion, false),
  col('sourceIPKey', 'string', (r) => cachedIpKey(r.sourceAddress), false),
  col('destinationIPKey', 'string', (r) => cachedIpKey(r.destinationAddress), false),
  col('correlated', 'u8', (r) => (r.correlated ? 1 : 0), false),
  col('originalExporterAddress', 'string', (r) => r.originalExporterAddress ?? '', false),
  col('originalObservationDomainId', 'u32', (r) => r.originalObservationDomainId ?? 0, false),
]);

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
