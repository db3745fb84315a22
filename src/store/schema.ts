// The stored flow row: Antrea Theia's `flows` columns where they overlap (same names and, in
// ClickHouse, the same types), plus what an AggregatedFlowRecord carries beyond them. Both
// engines and both insert paths read this one list, so a column is added in one place.
import type { AggregatedFlowRecord } from '../flow/record.js';
import { ipKey, ipNet, ipv4Key, ipv4Net } from './ip-key.js';

/** Storage kind; each engine maps it to its own type. `time` is seconds since the epoch. */
export type ColumnKind = 'time' | 'u8' | 'u16' | 'u32' | 'u64' | 'i64' | 'string';

/**
 * The values each number kind holds in both engines (integers within JS's safe range). A value
 * beyond them (a port above 65535, a counter past 2^53, NaN) is stored clamped into them (NaN as
 * 0) by every insert path: failing the batch instead would make the store sink retry it forever.
 */
export const KIND_RANGES: Readonly<Record<Exclude<ColumnKind, 'string'>, { readonly min: number; readonly max: number }>> = Object.freeze({
  time: { min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER },
  i64: { min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER },
  u64: { min: 0, max: Number.MAX_SAFE_INTEGER },
  u32: { min: 0, max: 0xffffffff },
  u16: { min: 0, max: 0xffff },
  u8: { min: 0, max: 0xff },
});

/** Rows [0, rows) of `values`, each clamped into [min, max] (NaN: 0); `values` itself when all are in range. */
export function clampedValues(values: Float64Array, rows: number, min: number, max: number): Float64Array {
  let i = 0;
  while (i < rows && values[i] >= min && values[i] <= max) i++;
  if (i === rows) return values;
  const out = new Float64Array(rows);
  for (let k = 0; k < rows; k++) {
    const v = values[k];
    out[k] = v >= min ? (v <= max ? v : max) : v < min ? min : 0;
  }
  return out;
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
  /** ipNet() of sourceIP / destinationIP (the /24 of IPv4, the /48 of IPv6): IP filters on whole networks compare these, also in the Pod rollup. */
  sourceIPNet: number;
  destinationIPNet: number;
}

/**
 * A column that is one record field, converted: `number` (anything not a number is 0), `count`
 * (a non-negative integer: the floor, 0 for anything else), `text` (null and undefined are '').
 * columnar.ts writes the read into its generated loop instead of calling `value`.
 */
export interface FieldRead {
  readonly field: keyof AggregatedFlowRecord & string;
  readonly as: 'number' | 'count' | 'text';
}

export interface Column {
  readonly name: keyof StoredFlow;
  readonly kind: ColumnKind;
  /** True when Antrea Theia's flows table has the column (same name, same ClickHouse type). */
  readonly theia: boolean;
  readonly value: (r: AggregatedFlowRecord, insertedAtSeconds: number) => number | string;
  /** Set when `value` is one field read and converted (value is then made from it). */
  readonly read?: FieldRead;
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
  /**
   * An earlier string column whose value usually fixes this one's (a Pod's namespace and Node by
   * the Pod's name, a policy's namespace by its name): columnar.ts remembers this column's value
   * per value of that one, and looks it up in its dictionary only when it differs. A hint for
   * speed only: any values are read right.
   */
  readonly follows?: keyof StoredFlow;
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

/**
 * The field conversions, each as a function (`value`) and as the same expression over a field
 * value `t` (columnar.ts writes it into its generated loop): keep the two alike.
 */
export const FIELD_CONVERSIONS: { readonly [K in FieldRead['as']]: { readonly convert: (v: never) => number | string; readonly code: string } } = {
  number: { convert: n, code: '(Number(t) || 0)' },
  count: { convert: u64, code: '(Number.isFinite(t) && t > 0 ? Math.floor(t) : 0)' },
  text: { convert: s, code: "(typeof t === 'string' ? t : t == null ? '' : String(t))" },
};

function read(field: FieldRead['field'], as: FieldRead['as']): FieldRead {
  return Object.freeze({ field, as });
}

// A column is read by a field read (FieldRead), or by its own small function when it is more
// than that (the insert time, the IP keys): columnar.ts's generated loop inlines the field reads,
// so every property read stays monomorphic (one generic r[name] reader shared by 52 columns
// costs about 100 ns a value).
function col(name: keyof StoredFlow, kind: ColumnKind, reader: Column['value'] | FieldRead, theia = true, derived?: Column['derived'], since?: number): Column {
  const fieldRead = typeof reader === 'function' ? undefined : reader;
  const value: Column['value'] = fieldRead ? (r) => FIELD_CONVERSIONS[fieldRead.as].convert(r[fieldRead.field] as never) : (reader as Column['value']);
  let c: Column = { name, kind, theia, value };
  if (fieldRead) c = { ...c, read: fieldRead };
  if (derived) c = { ...c, derived: Object.freeze(derived) };
  if (since !== undefined) c = { ...c, since };
  return Object.freeze(c);
}

const address = (c: Column): Column => Object.freeze({ ...c, address: true as const });
const follows = (c: Column, other: keyof StoredFlow): Column => Object.freeze({ ...c, follows: other });

export const COLUMNS: readonly Column[] = Object.freeze([
  col('timeInserted', 'time', (_r, at) => at),
  col('flowStartSeconds', 'time', read('flowStartSeconds', 'number')),
  col('flowEndSeconds', 'time', read('flowEndSeconds', 'number')),
  col('flowEndSecondsFromSourceNode', 'time', read('flowEndSecondsFromSourceNode', 'number')),
  col('flowEndSecondsFromDestinationNode', 'time', read('flowEndSecondsFromDestinationNode', 'number')),
  col('flowEndReason', 'u8', read('flowEndReason', 'number')),
  address(col('sourceIP', 'string', read('sourceAddress', 'text'))),
  address(col('destinationIP', 'string', read('destinationAddress', 'text'))),
  col('sourceTransportPort', 'u16', read('sourceTransportPort', 'number')),
  col('destinationTransportPort', 'u16', read('destinationTransportPort', 'number')),
  col('protocolIdentifier', 'u8', read('protocolIdentifier', 'number')),
  col('packetTotalCount', 'u64', read('packetTotalCount', 'count')),
  col('octetTotalCount', 'u64', read('octetTotalCount', 'count')),
  col('packetDeltaCount', 'u64', read('packetDeltaCount', 'count')),
  col('octetDeltaCount', 'u64', read('octetDeltaCount', 'count')),
  col('reversePacketTotalCount', 'u64', read('reversePacketTotalCount', 'count')),
  col('reverseOctetTotalCount', 'u64', read('reverseOctetTotalCount', 'count')),
  col('reversePacketDeltaCount', 'u64', read('reversePacketDeltaCount', 'count')),
  col('reverseOctetDeltaCount', 'u64', read('reverseOctetDeltaCount', 'count')),
  col('sourcePodName', 'string', read('sourcePodName', 'text')),
  follows(col('sourcePodNamespace', 'string', read('sourcePodNamespace', 'text')), 'sourcePodName'),
  follows(col('sourceNodeName', 'string', read('sourceNodeName', 'text')), 'sourcePodName'),
  col('destinationPodName', 'string', read('destinationPodName', 'text')),
  follows(col('destinationPodNamespace', 'string', read('destinationPodNamespace', 'text')), 'destinationPodName'),
  follows(col('destinationNodeName', 'string', read('destinationNodeName', 'text')), 'destinationPodName'),
  col('destinationClusterIP', 'string', read('destinationClusterIP', 'text')),
  col('destinationServicePort', 'u16', read('destinationServicePort', 'number')),
  col('destinationServicePortName', 'string', read('destinationServicePortName', 'text')),
  col('ingressNetworkPolicyName', 'string', read('ingressNetworkPolicyName', 'text')),
  follows(col('ingressNetworkPolicyNamespace', 'string', read('ingressNetworkPolicyNamespace', 'text')), 'ingressNetworkPolicyName'),
  follows(col('ingressNetworkPolicyRuleName', 'string', read('ingressNetworkPolicyRuleName', 'text')), 'ingressNetworkPolicyName'),
  col('ingressNetworkPolicyRuleAction', 'u8', read('ingressNetworkPolicyRuleAction', 'number')),
  col('ingressNetworkPolicyType', 'u8', read('ingressNetworkPolicyType', 'number')),
  col('egressNetworkPolicyName', 'string', read('egressNetworkPolicyName', 'text')),
  follows(col('egressNetworkPolicyNamespace', 'string', read('egressNetworkPolicyNamespace', 'text')), 'egressNetworkPolicyName'),
  follows(col('egressNetworkPolicyRuleName', 'string', read('egressNetworkPolicyRuleName', 'text')), 'egressNetworkPolicyName'),
  col('egressNetworkPolicyRuleAction', 'u8', read('egressNetworkPolicyRuleAction', 'number')),
  col('egressNetworkPolicyType', 'u8', read('egressNetworkPolicyType', 'number')),
  col('tcpState', 'string', read('tcpState', 'text')),
  col('flowType', 'u8', read('flowType', 'number')),
  col('throughput', 'u64', read('throughput', 'count')),
  col('reverseThroughput', 'u64', read('reverseThroughput', 'count')),
  col('throughputFromSourceNode', 'u64', read('throughputFromSourceNode', 'count')),
  col('throughputFromDestinationNode', 'u64', read('throughputFromDestinationNode', 'count')),
  col('reverseThroughputFromSourceNode', 'u64', read('reverseThroughputFromSourceNode', 'count')),
  col('reverseThroughputFromDestinationNode', 'u64', read('reverseThroughputFromDestinationNode', 'count')),
  col('ipVersion', 'u8', (r) => r.ipVersion, false),
  col('sourceIPKey', 'string', (r) => cachedIpKey(s(r.sourceAddress)), false, { from: 'sourceIP', derive: ipKey, fromIpv4: ipv4Key }),
  col('destinationIPKey', 'string', (r) => cachedIpKey(s(r.destinationAddress)), false, { from: 'destinationIP', derive: ipKey, fromIpv4: ipv4Key }),
  col('correlated', 'u8', (r) => (r.correlated ? 1 : 0), false),
  col('originalExporterAddress', 'string', read('originalExporterAddress', 'text'), false),
  col('originalObservationDomainId', 'u32', read('originalObservationDomainId', 'number'), false),
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
