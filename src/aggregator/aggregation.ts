// Correlation and aggregation: the Flow Aggregator's intermediate process. Pure and
// clock-injected: records go in through ingest() (FlowRecords) or ingestWire() (records the
// collecting process decoded with wireShape: names as string-table ids), due records come out
// through onExport when expire() runs. No sockets, no timers.
//
// Each connection is one slot in a FlowTable keyed by 5-tuple. An inter-node connection is
// reported twice: by the source node (with the source Pod, the Service and the egress policy)
// and by the destination node (with the destination Pod and the ingress policy). The two
// halves merge into one slot in either arrival order. Every other flow - intra-node,
// to/from external, denied - needs one record and is ready at once. A half whose partner has
// not come within correlationWaitMs is exported alone with correlated=false; it stays tracked,
// so a late partner still merges, and nothing is deleted without being exported.
//
// Counters are kept per side (source node, destination node):
//   totals   overwritten by each record of that side;
//   deltas   accumulated until the next export, then reset. Once a side has a baseline the
//            delta is recomputed as max(0, total - previous total), which stays right when an
//            exporter restarts (its first delta would repeat the whole total) or a record is
//            lost. A total that goes down is a new connection on the same 5-tuple (conntrack
//            entry recreated, node rebooted) only when that side's flowStartSeconds changed
//            too: then the old flow is exported and a new one starts. With the same start it
//            is a stale report (a restarted exporter that first sends zero or old counters):
//            nothing is counted and the higher total is kept, so the deltas of a connection
//            always add up to its final total.
// The record's own totals and throughput are those of the primary side: the source node
// when it has reported, otherwise the destination node. Summing both sides would count
// every packet twice. The record's own deltas are that side's deltas until the first export;
// after it, what the primary totals grew by beyond the highest totals the flow's records
// carried. The two agree while one side supplies the counters; they differ when the
// destination node's half went out alone (correlationWait passed, or an aggregator restart
// lost the source half) and the source node reports later: its own delta would count again
// packets the destination's records already counted. So the deltas of a flow's records add
// up to its final totals in every arrival order.
import type { Clock } from '../util/clock.js';
import {
  FlowEndReason,
  FlowType,
  RuleAction,
  type AggregatedFlowRecord,
  type FlowRecord,
  type NodeCounters,
} from '../flow/record.js';
import { parseIpv4 } from '../ipfix/values.js';
import { IpfixError } from '../ipfix/errors.js';
import { RecordBatchEncoder, type EncodeShape, type EncodeSource, type EncodedRecords } from '../ipfix/writer.js';
import { AGGREGATOR_IPV4_TEMPLATE } from '../flow/ie-mapping.js';
import { DeadlineHeap } from './deadline-heap.js';
import type { RecordShape } from '../ipfix/template.js';
import { hasIpv4Numbers, wireFlowRecordShape, type FlowFacts, type WireFlowRecord } from './wire-record.js';
import {
  BASE,
  COUNTERS_PER_SIDE,
  CTR,
  F64,
  FLAG,
  FlowTable,
  SEC,
  SIDE_DESTINATION,
  SIDE_SOURCE,
  STR,
  STRING_FIELDS,
  U8,
  slotBases,
} from './flow-table.js';
import type { StringTable } from './string-table.js';

/** The exporter a record came from (its transport session). */
export interface ExporterSession {
  address: string;
  observationDomainId: number;
}

export interface AggregationOptions {
  clock: Clock;
  /** A tracked flow is exported at least this often while it is active (flowExportInterval). */
  activeTimeoutMs: number;
  /** A flow without a new record for this long is exported (if anything is unsent) and forgotten. */
  inactiveTimeoutMs: number;
  /** How long an inter-node half waits for its partner before it is exported alone. */
  correlationWaitMs: number;
  /** Tracked-flow cap; beyond it the flow with the earliest deadline is exported and evicted. */
  maxFlows: number;
  /** Slots allocated up front; the table doubles up to maxFlows. */
  initialCapacity?: number;
  onExport: (record: AggregatedFlowRecord) => void;
  /**
   * When set, IPv4 flows leave as data records of the aggregator IPv4 template
   * (AGGREGATOR_IPV4_TEMPLATE), written straight from their slots into batches of encoded
   * records (MessageWriter.encodeEncoded frames them), instead of AggregatedFlowRecords through
   * onExport: no object, counter objects or name strings per exported flow. IPv6 flows, and any
   * record the IPv4 template cannot carry as it is (see encodeRow), still go to onExport. A
   * batch is handed over when full and at the end of every expire(), flush() and sweep().
   */
  onExportEncoded?: (batch: EncodedRecords) => void;
}

export interface AggregationStats {
  recordsReceived: number;
  /** Records refused by validation (bad 5-tuple, counters, timestamps). */
  recordsInvalid: number;
  recordsExported: number;
  /** Inter-node flows whose two halves met. */
  flowsCorrelated: number;
  /** Exports of a half whose partner had not come (correlated=false). */
  uncorrelatedExported: number;
  /** Inter-node halves waiting for their partner now. */
  pendingCorrelation: number;
  flowsTracked: number;
  /** Flows exported and dropped from the table because it was full. */
  evictions: number;
  /** Flows whose totals went down with a new flowStartSeconds: exported, then started afresh. */
  counterResets: number;
  /** Records whose totals were below the tracked ones with the same start (stale or restarted exporter): not re-counted. */
  staleRecords: number;
  /** Flows forgotten after the inactive timeout. */
  inactiveExpired: number;
}

const BOTH_SIDES = 2;
type Side = typeof SIDE_SOURCE | typeof SIDE_DESTINATION | typeof BOTH_SIDES;

/** The name fields (bits by STR index) that the source node knows for sure: its Pod, Node, the Service and the egress policy. */
const SOURCE_NAMES =
  (1 << STR.sourcePodNamespace) | (1 << STR.sourcePodName) | (1 << STR.sourceNodeName) | (1 << STR.destinationClusterIP) |
  (1 << STR.destinationServicePortName) | (1 << STR.egressNetworkPolicyName) | (1 << STR.egressNetworkPolicyNamespace) |
  (1 << STR.egressNetworkPolicyRuleName);
/** The name fields the destination node knows for sure: its Pod, Node and the ingress policy. */
const DESTINATION_NAMES =
  (1 << STR.destinationPodNamespace) | (1 << STR.destinationPodName) | (1 << STR.destinationNodeName) |
  (1 << STR.ingressNetworkPolicyName) | (1 << STR.ingressNetworkPolicyNamespace) | (1 << STR.ingressNetworkPolicyRuleName);
if ((SOURCE_NAMES | DESTINATION_NAMES) !== (1 << STR.tcpState) - 1 || (SOURCE_NAMES & DESTINATION_NAMES) !== 0) {
  throw new Error('aggregation: every name field below tcpState belongs to exactly one side');
}
const TOTALS = [CTR.packetTotalCount, CTR.octetTotalCount, CTR.reversePacketTotalCount, CTR.reverseOctetTotalCount] as const;
const DELTA_OF_TOTAL = [CTR.packetDeltaCount, CTR.octetDeltaCount, CTR.reversePacketDeltaCount, CTR.reverseOctetDeltaCount] as const;

function isDenied(r: FlowFacts): boolean {
  return (
    r.ingressNetworkPolicyRuleAction === RuleAction.drop ||
    r.ingressNetworkPolicyRuleAction === RuleAction.reject ||
    r.egressNetworkPolicyRuleAction === RuleAction.drop ||
    r.egressNetworkPolicyRuleAction === RuleAction.reject
  );
}

/**
 * Which node's view a record is: an exporter knows only the Pods local to its node. `names` are
 * the record's name ids by STR field (0 for '').
 */
function sideOf(r: FlowFacts, names: Int32Array): Side {
  if (r.flowType === FlowType.toExternal) return SIDE_SOURCE;
  if (r.flowType === FlowType.fromExternal) return SIDE_DESTINATION;
  if (r.flowType === FlowType.interNode) {
    const hasSource = names[STR.sourcePodName] !== 0;
    const hasDestination = names[STR.destinationPodName] !== 0;
    if (hasSource && !hasDestination) return SIDE_SOURCE;
    if (hasDestination && !hasSource) return SIDE_DESTINATION;
  }
  return BOTH_SIDES;
}

function isCount(n: unknown): n is number {
  return typeof n === 'number' && n >= 0 && n < Infinity;
}

// The hot path (one call per received record) reads counters field by field: no arrays per record.

/** The record's total of counter k (0-3: packets, octets, reverse packets, reverse octets). */
function totalOf(r: FlowFacts, k: number): number {
  if (k === 0) return r.packetTotalCount;
  if (k === 1) return r.octetTotalCount;
  if (k === 2) return r.reversePacketTotalCount;
  return r.reverseOctetTotalCount;
}

function deltaOf(r: FlowFacts, k: number): number {
  if (k === 0) return r.packetDeltaCount;
  if (k === 1) return r.octetDeltaCount;
  if (k === 2) return r.reversePacketDeltaCount;
  return r.reverseOctetDeltaCount;
}

/** Bits per second of `octets` (negative: 0) over `seconds`. */
function rate(octets: number, seconds: number): number {
  return Math.round((Math.max(0, octets) * 8) / seconds);
}

function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 65535;
}

function isSeconds(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}

/** Why a record cannot be aggregated, or '' when it can. */
export function recordProblem(r: FlowFacts): string {
  return addressProblem(r) || valueProblem(r);
}

function addressProblem(r: FlowFacts): string {
  if (hasIpv4Numbers(r)) {
    if (!(r.sourceIPv4 >= 0)) return 'sourceIPv4Address is missing';
    if (!(r.destinationIPv4 >= 0)) return 'destinationIPv4Address is missing';
    return '';
  }
  if (typeof r.sourceAddress !== 'string' || r.sourceAddress === '') return 'sourceAddress is missing';
  if (typeof r.destinationAddress !== 'string' || r.destinationAddress === '') return 'destinationAddress is missing';
  if (r.ipVersion === 4) {
    if (parseIpv4(r.sourceAddress) < 0) return 'sourceAddress is not an IPv4 address (ipVersion 4)';
    if (parseIpv4(r.destinationAddress) < 0) return 'destinationAddress is not an IPv4 address (ipVersion 4)';
  } else if (r.ipVersion !== 6) {
    return 'ipVersion is neither 4 nor 6';
  }
  return '';
}

/** Everything but the addresses. */
function valueProblem(r: FlowFacts): string {
  if (!isPort(r.sourceTransportPort)) return 'sourceTransportPort is not 0-65535';
  if (!isPort(r.destinationTransportPort)) return 'destinationTransportPort is not 0-65535';
  if (!Number.isInteger(r.protocolIdentifier) || r.protocolIdentifier < 0 || r.protocolIdentifier > 255) return 'protocolIdentifier is not 0-255';
  if (!isSeconds(r.flowStartSeconds)) return 'flowStartSeconds is not a dateTimeSeconds value';
  if (!isSeconds(r.flowEndSeconds)) return 'flowEndSeconds is not a dateTimeSeconds value';
  if (
    !isCount(r.packetTotalCount) || !isCount(r.octetTotalCount) || !isCount(r.reversePacketTotalCount) || !isCount(r.reverseOctetTotalCount) ||
    !isCount(r.packetDeltaCount) || !isCount(r.octetDeltaCount) || !isCount(r.reversePacketDeltaCount) || !isCount(r.reverseOctetDeltaCount)
  ) {
    return 'a packet or octet counter is not a non-negative number';
  }
  return '';
}

/**
 * The exported record as numbers (AggregationProcess.fillRow): the aggregator template's IEs by
 * name, names as string-table ids, the IPv4 addresses (ClusterIP, exporter) as their values (-1:
 * not an IPv4 address), plus ipVersion and correlated (0/1). The 16 per-node counters are in
 * the slot's CTR order.
 */
const ROW = {
  flowStartSeconds: 0, flowEndSeconds: 1, flowEndReason: 2, sourceIPv4Address: 3, destinationIPv4Address: 4,
  sourceTransportPort: 5, destinationTransportPort: 6, protocolIdentifier: 7, packetTotalCount: 8, octetTotalCount: 9,
  packetDeltaCount: 10, octetDeltaCount: 11, reversePacketTotalCount: 12, reverseOctetTotalCount: 13,
  reversePacketDeltaCount: 14, reverseOctetDeltaCount: 15, sourcePodNamespace: 16, sourcePodName: 17,
  destinationPodNamespace: 18, destinationPodName: 19, sourceNodeName: 20, destinationNodeName: 21, destinationClusterIPv4: 22,
  destinationServicePort: 23, destinationServicePortName: 24, ingressNetworkPolicyName: 25, ingressNetworkPolicyNamespace: 26,
  ingressNetworkPolicyType: 27, ingressNetworkPolicyRuleName: 28, egressNetworkPolicyName: 29, egressNetworkPolicyNamespace: 30,
  egressNetworkPolicyType: 31, egressNetworkPolicyRuleName: 32, ingressNetworkPolicyRuleAction: 33,
  egressNetworkPolicyRuleAction: 34, tcpState: 35, flowType: 36, packetTotalCountFromSourceNode: 37,
  octetTotalCountFromSourceNode: 38, packetDeltaCountFromSourceNode: 39, octetDeltaCountFromSourceNode: 40,
  reversePacketTotalCountFromSourceNode: 41, reverseOctetTotalCountFromSourceNode: 42, reversePacketDeltaCountFromSourceNode: 43,
  reverseOctetDeltaCountFromSourceNode: 44, packetTotalCountFromDestinationNode: 45, octetTotalCountFromDestinationNode: 46,
  packetDeltaCountFromDestinationNode: 47, octetDeltaCountFromDestinationNode: 48,
  reversePacketTotalCountFromDestinationNode: 49, reverseOctetTotalCountFromDestinationNode: 50,
  reversePacketDeltaCountFromDestinationNode: 51, reverseOctetDeltaCountFromDestinationNode: 52, throughput: 53,
  reverseThroughput: 54, throughputFromSourceNode: 55, throughputFromDestinationNode: 56, reverseThroughputFromSourceNode: 57,
  reverseThroughputFromDestinationNode: 58, flowEndSecondsFromSourceNode: 59, flowEndSecondsFromDestinationNode: 60,
  originalExporterIPv4Address: 61, originalObservationDomainId: 62, ipVersion: 63, correlated: 64,
} as const;
const ROW_FIELDS = 65;
/** ROW entries that hold string-table ids. */
const ROW_NAMES: ReadonlySet<string> = new Set([
  'sourcePodNamespace', 'sourcePodName', 'destinationPodNamespace', 'destinationPodName', 'sourceNodeName', 'destinationNodeName',
  'destinationServicePortName', 'ingressNetworkPolicyName', 'ingressNetworkPolicyNamespace', 'ingressNetworkPolicyRuleName',
  'egressNetworkPolicyName', 'egressNetworkPolicyNamespace', 'egressNetworkPolicyRuleName', 'tcpState',
]);
if (
  Object.keys(ROW).length !== ROW_FIELDS || new Set(Object.values(ROW)).size !== ROW_FIELDS ||
  ROW.reverseOctetDeltaCountFromSourceNode - ROW.packetTotalCountFromSourceNode !== CTR.reverseOctetDeltaCount ||
  ROW.reverseOctetDeltaCountFromDestinationNode - ROW.packetTotalCountFromDestinationNode !== CTR.reverseOctetDeltaCount
) {
  throw new Error('aggregation: ROW must number its fields 0 to ROW_FIELDS - 1, the per-node counters in CTR order');
}

/**
 * The encode shape of export rows for the aggregator IPv4 template: every IE from its ROW
 * entry, names as ids of `strings` (written from the bytes it keeps), the IPv6 exporter
 * address '::' (a row goes this way only when the exporter's address is IPv4 or none).
 */
function exportRowShape(strings: StringTable): EncodeShape<Float64Array> {
  return Object.freeze({
    name: 'aggregation export row',
    names: strings,
    sources(keys: ReadonlySet<string>): Record<string, EncodeSource<Float64Array>> {
      const out: Record<string, EncodeSource<Float64Array>> = {};
      for (const key of keys) {
        if (key === 'originalExporterIPv6Address') out[key] = { value: '::' };
        else if (Object.prototype.hasOwnProperty.call(ROW, key)) {
          const at = ROW[key as keyof typeof ROW];
          out[key] = ROW_NAMES.has(key) ? { nameAt: at } : { at };
        }
      }
      return out;
    },
  });
}

export class AggregationProcess {
  private readonly table: FlowTable;
  private readonly heap: DeadlineHeap;
  private readonly clock: Clock;
  private readonly activeMs: number;
  private readonly inactiveMs: number;
  private readonly waitMs: number;
  private readonly maxFlows: number;
  private readonly onExport: (record: AggregatedFlowRecord) => void;

  private received = 0;
  private invalid = 0;
  private exported = 0;
  private correlated = 0;
  private uncorrelated = 0;
  private waiting = 0;
  private evicted = 0;
  private resets = 0;
  private stale = 0;
  private expiredInactive = 0;
  /** Where an unfinished flush(limit) goes on. */
  private flushFrom = 0;
  /** The name ids of the record being ingested, by STR field (0 for ''); reused for every record. */
  private readonly names = new Int32Array(STRING_FIELDS);
  /** slotBases of the slot being exported; reused. */
  private readonly bases = new Int32Array(6);
  private wire: RecordShape<WireFlowRecord> | null = null;
  /** The exported record being made (fillRow), by ROW index; reused. */
  private readonly row = new Float64Array(ROW_FIELDS);
  /** Writes rows as aggregator IPv4 data records (onExportEncoded); null without it. */
  private readonly encoder: RecordBatchEncoder<Float64Array> | null;
  /** The last address text parsed by ipv4OfName, per use (0: ClusterIP, 1: exporter), and its value. */
  private readonly lastAddressText = ['', ''];
  private readonly lastAddressValue = new Float64Array(2);

  constructor(options: AggregationOptions) {
    if (!(options.maxFlows >= 1)) throw new RangeError('maxFlows must be at least 1');
    this.clock = options.clock;
    this.activeMs = options.activeTimeoutMs;
    this.inactiveMs = options.inactiveTimeoutMs;
    this.waitMs = options.correlationWaitMs;
    this.maxFlows = options.maxFlows;
    this.onExport = options.onExport;
    const initial = options.initialCapacity ?? Math.min(options.maxFlows, 4096);
    this.table = new FlowTable(initial, options.maxFlows);
    this.heap = new DeadlineHeap(initial);
    const onEncoded = options.onExportEncoded;
    this.encoder = onEncoded === undefined ? null : new RecordBatchEncoder(AGGREGATOR_IPV4_TEMPLATE, exportRowShape(this.table.strings), onEncoded);
  }

  /**
   * The decode shape for this aggregation's collecting process (ingestWire): IPv4 addresses as
   * numbers, names as ids of this aggregation's string table.
   */
  get wireShape(): RecordShape<WireFlowRecord> {
    if (this.wire === null) this.wire = wireFlowRecordShape(this.table.strings);
    return this.wire;
  }

  /**
   * Takes one exporter record. Returns false (and counts it) when the record is invalid. `now`
   * (the clock's time) lets a caller read the clock once for all the records of a message.
   */
  ingest(r: FlowRecord, from: ExporterSession, now = this.clock.now()): boolean {
    this.received++;
    this.flushFrom = 0;
    // Text IPv4 addresses: each parsed once, as validation and as the key.
    const v4 = r.ipVersion === 4 && typeof r.sourceAddress === 'string' && typeof r.destinationAddress === 'string';
    const src = v4 ? parseIpv4(r.sourceAddress) : -1;
    const dst = v4 ? parseIpv4(r.destinationAddress) : -1;
    if (!this.valid(r, v4, src, dst)) return false;
    const names = this.names;
    const strings = this.table.strings;
    names[STR.sourcePodNamespace] = strings.intern(r.sourcePodNamespace, STR.sourcePodNamespace);
    names[STR.sourcePodName] = strings.intern(r.sourcePodName, STR.sourcePodName);
    names[STR.destinationPodNamespace] = strings.intern(r.destinationPodNamespace, STR.destinationPodNamespace);
    names[STR.destinationPodName] = strings.intern(r.destinationPodName, STR.destinationPodName);
    names[STR.sourceNodeName] = strings.intern(r.sourceNodeName, STR.sourceNodeName);
    names[STR.destinationNodeName] = strings.intern(r.destinationNodeName, STR.destinationNodeName);
    names[STR.destinationClusterIP] = strings.intern(r.destinationClusterIP, STR.destinationClusterIP);
    names[STR.destinationServicePortName] = strings.intern(r.destinationServicePortName, STR.destinationServicePortName);
    names[STR.ingressNetworkPolicyName] = strings.intern(r.ingressNetworkPolicyName, STR.ingressNetworkPolicyName);
    names[STR.ingressNetworkPolicyNamespace] = strings.intern(r.ingressNetworkPolicyNamespace, STR.ingressNetworkPolicyNamespace);
    names[STR.ingressNetworkPolicyRuleName] = strings.intern(r.ingressNetworkPolicyRuleName, STR.ingressNetworkPolicyRuleName);
    names[STR.egressNetworkPolicyName] = strings.intern(r.egressNetworkPolicyName, STR.egressNetworkPolicyName);
    names[STR.egressNetworkPolicyNamespace] = strings.intern(r.egressNetworkPolicyNamespace, STR.egressNetworkPolicyNamespace);
    names[STR.egressNetworkPolicyRuleName] = strings.intern(r.egressNetworkPolicyRuleName, STR.egressNetworkPolicyRuleName);
    names[STR.tcpState] = strings.intern(r.tcpState, STR.tcpState);
    this.aggregate(r, v4, src, dst, from, now);
    return true;
  }

  /**
   * ingest() for a record decoded with wireShape: its IPv4 addresses are numbers and its names
   * ids already. Call sweep() after the records of each message, never between decoding a
   * message and ingesting its records.
   */
  ingestWire(r: WireFlowRecord, from: ExporterSession, now = this.clock.now()): boolean {
    this.received++;
    this.flushFrom = 0;
    const v4 = r.ipVersion === 4;
    if (!this.valid(r, v4, r.sourceIPv4, r.destinationIPv4)) return false;
    const names = this.names;
    names[STR.sourcePodNamespace] = r.sourcePodNamespaceId;
    names[STR.sourcePodName] = r.sourcePodNameId;
    names[STR.destinationPodNamespace] = r.destinationPodNamespaceId;
    names[STR.destinationPodName] = r.destinationPodNameId;
    names[STR.sourceNodeName] = r.sourceNodeNameId;
    names[STR.destinationNodeName] = r.destinationNodeNameId;
    names[STR.destinationClusterIP] = this.table.strings.intern(r.destinationClusterIP, STR.destinationClusterIP);
    names[STR.destinationServicePortName] = r.destinationServicePortNameId;
    names[STR.ingressNetworkPolicyName] = r.ingressNetworkPolicyNameId;
    names[STR.ingressNetworkPolicyNamespace] = r.ingressNetworkPolicyNamespaceId;
    names[STR.ingressNetworkPolicyRuleName] = r.ingressNetworkPolicyRuleNameId;
    names[STR.egressNetworkPolicyName] = r.egressNetworkPolicyNameId;
    names[STR.egressNetworkPolicyNamespace] = r.egressNetworkPolicyNamespaceId;
    names[STR.egressNetworkPolicyRuleName] = r.egressNetworkPolicyRuleNameId;
    names[STR.tcpState] = r.tcpStateId;
    this.aggregate(r, v4, r.sourceIPv4, r.destinationIPv4, from, now);
    return true;
  }

  /**
   * Frees the names that no tracked flow holds any more. Between messages only: the name ids of
   * records decoded with wireShape stay valid until this runs. expire() and flush() sweep too.
   */
  sweep(): void {
    this.takeEncoded();
    this.table.strings.sweep();
  }

  /**
   * Whether r can be aggregated; counts it as invalid when not. `v4`: src and dst are its IPv4
   * addresses as numbers (negative or NaN: malformed); otherwise its address text is checked.
   */
  private valid(r: FlowFacts, v4: boolean, src: number, dst: number): boolean {
    const ok = v4 ? src >= 0 && dst >= 0 && valueProblem(r) === '' : recordProblem(r) === '';
    if (!ok) this.invalid++;
    return ok;
  }

  /**
   * A valid record and its name ids (this.names) into its flow. `v4`: src and dst are its IPv4
   * addresses as numbers, its keys; otherwise the keys come from its address text.
   */
  private aggregate(r: FlowFacts, v4: boolean, src: number, dst: number, from: ExporterSession, now: number): void {
    const t = this.table;
    if (!v4) {
      src = t.addressKey(r.ipVersion, r.sourceAddress);
      dst = t.addressKey(r.ipVersion, r.destinationAddress);
    }
    const side = sideOf(r, this.names);
    let s = t.find(
      r.ipVersion,
      src,
      dst,
      r.sourceTransportPort,
      r.destinationTransportPort,
      r.protocolIdentifier,
    );
    if (s >= 0 && this.isNewConnection(s, r, side)) {
      this.resets++;
      this.exportSlot(s, now);
      this.removeSlot(s);
      s = -1;
    }
    if (s < 0) s = this.create(r, side, src, dst, now);
    this.merge(s, r, from, side, now);
  }

  /** Exports every flow whose active, inactive or correlation timeout has passed. Returns the count exported. */
  expire(): number {
    const now = this.clock.now();
    const before = this.exported;
    const t = this.table;
    t.strings.sweep();
    const heap = this.heap;
    while (heap.size > 0 && heap.peekDeadline() <= now) {
      const s = heap.peekSlot();
      const generation = heap.peekGeneration();
      heap.pop();
      if (generation !== t.generation[s] || !t.isLive(s)) continue;
      const lastUpdate = t.getF64(s, F64.lastUpdateMs);
      if (now >= lastUpdate + this.inactiveMs) {
        if (this.hasUnsent(s)) this.exportSlot(s, now);
        this.expiredInactive++;
        this.removeSlot(s);
        continue;
      }
      // Active timeout: export what changed since the last export; a flow with nothing new
      // waits quietly for its next record or its inactive timeout.
      if (now >= this.activeDue(s)) {
        if (this.hasUnsent(s)) this.exportSlot(s, now);
        else t.setF64(s, F64.lastExportMs, now);
      }
      this.schedule(s);
    }
    this.takeEncoded();
    return this.exported - before;
  }

  /**
   * Exports every tracked flow that has something unsent and forgets them all (shutdown).
   * With `limit`, exports at most that many and returns; the next call goes on where this one
   * stopped, so a caller can let the sinks drain between chunks. The flows stay tracked until
   * a call has walked every slot with no record ingested in between (a record ingested during
   * a chunked flush restarts the walk), then all are forgotten at once: a call that returns
   * less than `limit` has forgotten them.
   */
  flush(limit = Infinity): number {
    const now = this.clock.now();
    const before = this.exported;
    const t = this.table;
    let s = this.flushFrom;
    for (; s < t.end; s++) {
      if (!t.isLive(s) || !this.hasUnsent(s)) continue;
      if (this.exported - before >= limit) break;
      this.exportSlot(s, now);
    }
    // The batch is handed over before the strings go (its names were written already).
    this.takeEncoded();
    if (s < t.end) {
      this.flushFrom = s;
    } else {
      // Removing the flows one by one would walk the index at random for each.
      t.clear();
      this.heap.clear();
      this.waiting = 0;
      this.flushFrom = 0;
    }
    return this.exported - before;
  }

  /** The current view of tracked flows (deltas since the last export), filtered, at most `limit`. */
  records(filter: (r: AggregatedFlowRecord) => boolean = () => true, limit = Infinity): AggregatedFlowRecord[] {
    const out: AggregatedFlowRecord[] = [];
    const t = this.table;
    for (let s = 0; s < t.end && out.length < limit; s++) {
      if (!t.isLive(s)) continue;
      const r = this.build(s);
      if (filter(r)) out.push(r);
    }
    return out;
  }

  stats(): AggregationStats {
    return {
      recordsReceived: this.received,
      recordsInvalid: this.invalid,
      recordsExported: this.exported,
      flowsCorrelated: this.correlated,
      uncorrelatedExported: this.uncorrelated,
      pendingCorrelation: this.waiting,
      flowsTracked: this.table.size,
      evictions: this.evicted,
      counterResets: this.resets,
      staleRecords: this.stale,
      inactiveExpired: this.expiredInactive,
    };
  }

  /** Bytes held by the flow table, its strings excluded, and the deadline heap. */
  structureBytes(): number {
    return this.table.columnBytes() + this.heap.byteLength();
  }

  /** A new slot for the record's 5-tuple; src and dst are IPv4 keys (for IPv6 the text is interned). */
  private create(r: FlowFacts, side: Side, src: number, dst: number, now: number): number {
    if (this.table.size >= this.maxFlows) this.evictOne(now);
    const t = this.table;
    const s = r.ipVersion === 4
      ? t.insertIpv4(src, dst, r.sourceTransportPort, r.destinationTransportPort, r.protocolIdentifier)
      : t.insert(6, r.sourceAddress, r.destinationAddress, r.sourceTransportPort, r.destinationTransportPort, r.protocolIdentifier);
    t.setU8(s, U8.flowType, r.flowType);
    t.setSec(s, SEC.flowStartSeconds, r.flowStartSeconds);
    t.setSec(s, SEC.flowEndSeconds, r.flowEndSeconds);
    t.setU8(s, U8.flowEndReason, r.flowEndReason);
    t.putId(s, STR.tcpState, this.names[STR.tcpState], true);
    t.setF64(s, F64.firstSeenMs, now);
    t.setF64(s, F64.lastExportMs, now);
    if (r.flowType === FlowType.interNode && side !== BOTH_SIDES && !isDenied(r)) {
      t.setFlags(s, FLAG.needsCorrelation);
      this.waiting++;
    }
    t.setF64(s, F64.lastUpdateMs, now);
    this.schedule(s);
    return s;
  }

  private merge(s: number, r: FlowFacts, from: ExporterSession, side: Side, now: number): void {
    // The slot's fields straight from the table's views (slotBases), as in build().
    const t = this.table;
    const names = this.names;
    const bases = this.bases;
    slotBases(s, bases);
    const u8 = t.u8;
    const u32 = t.u32;
    const b8 = bases[BASE.u8];
    const sec = bases[BASE.sec];
    if (r.flowStartSeconds < u32[sec + SEC.flowStartSeconds]) u32[sec + SEC.flowStartSeconds] = r.flowStartSeconds;
    if (r.flowEndSeconds >= u32[sec + SEC.flowEndSeconds]) {
      u32[sec + SEC.flowEndSeconds] = r.flowEndSeconds;
      u8[b8 + U8.flowEndReason] = r.flowEndReason;
      t.putId(s, STR.tcpState, names[STR.tcpState], true);
    }
    if (u8[b8 + U8.flowType] === FlowType.unknown) u8[b8 + U8.flowType] = r.flowType;

    const fromSource = side !== SIDE_DESTINATION;
    const fromDestination = side !== SIDE_SOURCE;
    // Fields a side knows for sure are taken from it; the other side only fills gaps.
    t.putIds(s, names, (fromSource ? SOURCE_NAMES : 0) | (fromDestination ? DESTINATION_NAMES : 0));
    const servicePort = bases[BASE.ports] + 2;
    if (fromSource || t.u16[servicePort] === 0) t.u16[servicePort] = r.destinationServicePort;
    if (fromSource || u8[b8 + U8.egressNetworkPolicyType] === 0) {
      u8[b8 + U8.egressNetworkPolicyType] = r.egressNetworkPolicyType;
      u8[b8 + U8.egressNetworkPolicyRuleAction] = r.egressNetworkPolicyRuleAction;
    }
    if (fromDestination || u8[b8 + U8.ingressNetworkPolicyType] === 0) {
      u8[b8 + U8.ingressNetworkPolicyType] = r.ingressNetworkPolicyType;
      u8[b8 + U8.ingressNetworkPolicyRuleAction] = r.ingressNetworkPolicyRuleAction;
    }
    // The original exporter is the source node's when it has reported (id 0 is '').
    if (fromSource || u32[bases[BASE.str] + STR.originalExporterAddress] === 0) {
      t.setString(s, STR.originalExporterAddress, from.address);
      u32[sec + SEC.originalObservationDomainId] = from.observationDomainId;
    }

    if (fromSource) this.addCounters(SIDE_SOURCE, r, b8, sec, bases[BASE.counters]);
    if (fromDestination) this.addCounters(SIDE_DESTINATION, r, b8, sec, bases[BASE.counters] + COUNTERS_PER_SIDE);

    const flags = u8[b8 + U8.flags];
    if (
      (flags & FLAG.needsCorrelation) !== 0 &&
      (flags & FLAG.correlationCounted) === 0 &&
      (flags & FLAG.seenSource) !== 0 &&
      (flags & FLAG.seenDestination) !== 0
    ) {
      u8[b8 + U8.flags] |= FLAG.correlationCounted;
      this.correlated++;
      this.waiting--;
    }
    u8[b8 + U8.flags] |= FLAG.unsent;
    t.counters[bases[BASE.f64] + F64.lastUpdateMs] = now;
  }

  /**
   * One side's counters of a record into its flow's slot: b8, sec are the slot's u8 and seconds
   * bases (slotBases), base the index of the side's counters in the f64 view.
   */
  private addCounters(side: number, r: FlowFacts, b8: number, sec: number, base: number): void {
    const t = this.table;
    const c = t.counters;
    const u8 = t.u8;
    const u32 = t.u32;
    const seenBit = side === SIDE_SOURCE ? FLAG.seenSource : FLAG.seenDestination;
    const seen = (u8[b8 + U8.flags] & seenBit) !== 0;
    if (seen) {
      // Same connection (isNewConnection said so): count only what the totals grew by, and keep
      // the higher total when a stale or restarted report is lower.
      let lower = false;
      for (let k = 0; k < 4; k++) {
        const total = totalOf(r, k);
        const previous = c[base + TOTALS[k]];
        if (total > previous) {
          c[base + DELTA_OF_TOTAL[k]] += total - previous;
          c[base + TOTALS[k]] = total;
        } else if (total < previous) {
          lower = true;
        }
      }
      if (lower) this.stale++;
    } else {
      for (let k = 0; k < 4; k++) {
        c[base + TOTALS[k]] = totalOf(r, k);
        c[base + DELTA_OF_TOTAL[k]] += deltaOf(r, k);
      }
      // Throughput baseline: the connection's start, with nothing counted yet.
      u32[sec + (side === SIDE_SOURCE ? SEC.previousEndFromSourceNode : SEC.previousEndFromDestinationNode)] = r.flowStartSeconds;
      u32[sec + (side === SIDE_SOURCE ? SEC.flowStartFromSourceNode : SEC.flowStartFromDestinationNode)] = r.flowStartSeconds;
      u8[b8 + U8.flags] |= seenBit;
    }
    const endField = sec + (side === SIDE_SOURCE ? SEC.flowEndSecondsFromSourceNode : SEC.flowEndSecondsFromDestinationNode);
    if (r.flowEndSeconds >= u32[endField]) u32[endField] = r.flowEndSeconds;
  }

  /**
   * A record is a new connection on a tracked 5-tuple when, for a side that has reported, its
   * flowStartSeconds differs from the one that side reported first and some total went down.
   * A lower total with the same start is a stale report (see addCounters).
   */
  private isNewConnection(s: number, r: FlowFacts, side: Side): boolean {
    const t = this.table;
    for (let sd = SIDE_SOURCE; sd <= SIDE_DESTINATION; sd++) {
      if (side !== BOTH_SIDES && side !== sd) continue;
      const seenBit = sd === SIDE_SOURCE ? FLAG.seenSource : FLAG.seenDestination;
      if ((t.flags(s) & seenBit) === 0) continue;
      if (t.getSec(s, sd === SIDE_SOURCE ? SEC.flowStartFromSourceNode : SEC.flowStartFromDestinationNode) === r.flowStartSeconds) continue;
      const base = t.counterIndex(s, sd, 0);
      for (let k = 0; k < 4; k++) if (totalOf(r, k) < t.counters[base + TOTALS[k]]) return true;
    }
    return false;
  }

  private activeDue(s: number): number {
    const t = this.table;
    const due = t.getF64(s, F64.lastExportMs) + this.activeMs;
    if (this.isWaiting(s)) return Math.max(due, t.getF64(s, F64.firstSeenMs) + this.waitMs);
    return due;
  }

  /** Never exported, or updated since the last export. */
  private hasUnsent(s: number): boolean {
    return (this.table.flags(s) & FLAG.unsent) !== 0;
  }

  private isWaiting(s: number): boolean {
    const flags = this.table.flags(s);
    return (flags & FLAG.needsCorrelation) !== 0 && (flags & FLAG.correlationCounted) === 0;
  }

  private schedule(s: number): void {
    const t = this.table;
    const deadline = Math.min(this.activeDue(s), t.getF64(s, F64.lastUpdateMs) + this.inactiveMs);
    this.heap.push(deadline, s, t.generation[s]);
  }

  private evictOne(now: number): void {
    const t = this.table;
    while (this.heap.size > 0) {
      const s = this.heap.peekSlot();
      const generation = this.heap.peekGeneration();
      this.heap.pop();
      if (generation !== t.generation[s] || !t.isLive(s)) continue;
      t.setU8(s, U8.flowEndReason, FlowEndReason.lackOfResources);
      this.exportSlot(s, now);
      this.removeSlot(s);
      this.evicted++;
      return;
    }
    throw new Error('flow table is full but no live flow is scheduled');
  }

  private removeSlot(s: number): void {
    if (this.isWaiting(s)) this.waiting--;
    this.table.remove(s);
  }

  private exportSlot(s: number, now: number): void {
    const t = this.table;
    const row = this.row;
    this.fillRow(s);
    if (row[ROW.correlated] === 0) this.uncorrelated++;
    this.exported++;
    // The record is made before the slot's baselines move below (fillRow read them).
    const record = this.encodeRow() ? null : this.recordOfRow(s);
    // Reset the delta accumulators and move the throughput baselines to now.
    const c = t.counters;
    for (let side = SIDE_SOURCE; side <= SIDE_DESTINATION; side++) {
      const base = t.counterIndex(s, side, 0);
      for (let k = 0; k < 4; k++) c[base + DELTA_OF_TOTAL[k]] = 0;
    }
    t.setF64(s, F64.previousOctetsFromSourceNode, c[t.counterIndex(s, SIDE_SOURCE, CTR.octetTotalCount)]);
    t.setF64(s, F64.previousReverseOctetsFromSourceNode, c[t.counterIndex(s, SIDE_SOURCE, CTR.reverseOctetTotalCount)]);
    t.setF64(s, F64.previousOctetsFromDestinationNode, c[t.counterIndex(s, SIDE_DESTINATION, CTR.octetTotalCount)]);
    t.setF64(s, F64.previousReverseOctetsFromDestinationNode, c[t.counterIndex(s, SIDE_DESTINATION, CTR.reverseOctetTotalCount)]);
    if ((t.flags(s) & FLAG.seenSource) !== 0) t.setSec(s, SEC.previousEndFromSourceNode, t.getSec(s, SEC.flowEndSecondsFromSourceNode));
    if ((t.flags(s) & FLAG.seenDestination) !== 0) {
      t.setSec(s, SEC.previousEndFromDestinationNode, t.getSec(s, SEC.flowEndSecondsFromDestinationNode));
    }
    // The record's own baseline: the highest totals its records carried.
    if (row[ROW.packetTotalCount] > t.getF64(s, F64.exportedPacketTotal)) t.setF64(s, F64.exportedPacketTotal, row[ROW.packetTotalCount]);
    if (row[ROW.octetTotalCount] > t.getF64(s, F64.exportedOctetTotal)) t.setF64(s, F64.exportedOctetTotal, row[ROW.octetTotalCount]);
    if (row[ROW.reversePacketTotalCount] > t.getF64(s, F64.exportedReversePacketTotal)) {
      t.setF64(s, F64.exportedReversePacketTotal, row[ROW.reversePacketTotalCount]);
    }
    if (row[ROW.reverseOctetTotalCount] > t.getF64(s, F64.exportedReverseOctetTotal)) {
      t.setF64(s, F64.exportedReverseOctetTotal, row[ROW.reverseOctetTotalCount]);
    }
    t.setF64(s, F64.lastExportMs, now);
    t.setFlags(s, FLAG.everExported);
    t.clearFlags(s, FLAG.unsent);
    if (record !== null) this.onExport(record);
  }

  /**
   * With onExportEncoded: writes the row (fillRow) as a data record of the aggregator IPv4
   * template into the open batch and returns true. False when the record must go out as an
   * object instead: no encoder, an IPv6 flow, an address the IPv4 template cannot carry (an
   * IPv6 exporter or ClusterIP), or a value the template refuses (the IPFIX sink then meets
   * the same coded error, and counts and logs the record as dropped).
   */
  private encodeRow(): boolean {
    const encoder = this.encoder;
    const row = this.row;
    if (encoder === null || row[ROW.ipVersion] !== 4 || row[ROW.originalExporterIPv4Address] < 0 || row[ROW.destinationClusterIPv4] < 0) return false;
    try {
      encoder.add(row);
    } catch (err) {
      if (err instanceof IpfixError) return false;
      throw err;
    }
    return true;
  }

  /** Hands the encoded records exported so far to onExportEncoded (after each export pass). */
  private takeEncoded(): void {
    if (this.encoder !== null && this.encoder.count > 0) this.encoder.take();
  }

  /** The IPv4 value of an address held as a name id (0 for '', -1 when not IPv4), for the row. */
  private ipv4OfName(id: number, k: number): number {
    if (id === 0) return 0;
    const text = this.table.strings.texts[id];
    if (this.lastAddressText[k] === text) return this.lastAddressValue[k];
    const value = parseIpv4(text);
    this.lastAddressText[k] = text;
    this.lastAddressValue[k] = value;
    return value;
  }

  /**
   * Everything an exported record of slot s says, into this.row (ROW): straight from the
   * table's views (slotBases), as numbers, names as string-table ids. Both ways out read it:
   * the encoded records and the AggregatedFlowRecords (recordOfRow).
   */
  private fillRow(s: number): void {
    const t = this.table;
    const row = this.row;
    const bases = this.bases;
    slotBases(s, bases);
    const u8 = t.u8;
    const u16 = t.u16;
    const u32 = t.u32;
    const f64 = t.counters;
    const b8 = bases[BASE.u8];
    const sec = bases[BASE.sec];
    const str = bases[BASE.str];
    const f = bases[BASE.f64];
    const src = bases[BASE.counters];
    const dst = src + COUNTERS_PER_SIDE;
    const ports = bases[BASE.ports];
    const flags = u8[b8 + U8.flags];
    const seenSource = (flags & FLAG.seenSource) !== 0;
    const seenDestination = (flags & FLAG.seenDestination) !== 0;
    const v4 = u8[b8 + U8.ipVersion] !== 6;
    row[ROW.ipVersion] = v4 ? 4 : 6;
    row[ROW.flowStartSeconds] = u32[sec + SEC.flowStartSeconds];
    row[ROW.flowEndSeconds] = u32[sec + SEC.flowEndSeconds];
    row[ROW.flowEndReason] = u8[b8 + U8.flowEndReason];
    row[ROW.sourceIPv4Address] = v4 ? t.sourceKey(s) : -1;
    row[ROW.destinationIPv4Address] = v4 ? t.destinationKey(s) : -1;
    row[ROW.sourceTransportPort] = u16[ports];
    row[ROW.destinationTransportPort] = u16[ports + 1];
    row[ROW.protocolIdentifier] = u8[b8 + U8.protocolIdentifier];
    for (let k = 0; k < COUNTERS_PER_SIDE; k++) {
      row[ROW.packetTotalCountFromSourceNode + k] = f64[src + k];
      row[ROW.packetTotalCountFromDestinationNode + k] = f64[dst + k];
    }
    // The record's own totals are the primary side's: the source node's when it has reported.
    const primary = seenSource ? src : dst;
    const packets = f64[primary + CTR.packetTotalCount];
    const octets = f64[primary + CTR.octetTotalCount];
    const reversePackets = f64[primary + CTR.reversePacketTotalCount];
    const reverseOctets = f64[primary + CTR.reverseOctetTotalCount];
    row[ROW.packetTotalCount] = packets;
    row[ROW.octetTotalCount] = octets;
    row[ROW.reversePacketTotalCount] = reversePackets;
    row[ROW.reverseOctetTotalCount] = reverseOctets;
    // After the first export, a record's delta of a counter is what the primary total grew by
    // since the highest total the flow's records carried. While one side supplies the counters
    // this equals that side's own delta; when the source node reports after records made of the
    // destination node's counters went out, it counts only what the source's total adds to them
    // (never negative, never the same packets twice).
    if ((flags & FLAG.everExported) !== 0) {
      row[ROW.packetDeltaCount] = Math.max(0, packets - f64[f + F64.exportedPacketTotal]);
      row[ROW.octetDeltaCount] = Math.max(0, octets - f64[f + F64.exportedOctetTotal]);
      row[ROW.reversePacketDeltaCount] = Math.max(0, reversePackets - f64[f + F64.exportedReversePacketTotal]);
      row[ROW.reverseOctetDeltaCount] = Math.max(0, reverseOctets - f64[f + F64.exportedReverseOctetTotal]);
    } else {
      row[ROW.packetDeltaCount] = f64[primary + CTR.packetDeltaCount];
      row[ROW.octetDeltaCount] = f64[primary + CTR.octetDeltaCount];
      row[ROW.reversePacketDeltaCount] = f64[primary + CTR.reversePacketDeltaCount];
      row[ROW.reverseOctetDeltaCount] = f64[primary + CTR.reverseOctetDeltaCount];
    }
    row[ROW.sourcePodNamespace] = u32[str + STR.sourcePodNamespace];
    row[ROW.sourcePodName] = u32[str + STR.sourcePodName];
    row[ROW.destinationPodNamespace] = u32[str + STR.destinationPodNamespace];
    row[ROW.destinationPodName] = u32[str + STR.destinationPodName];
    row[ROW.sourceNodeName] = u32[str + STR.sourceNodeName];
    row[ROW.destinationNodeName] = u32[str + STR.destinationNodeName];
    row[ROW.destinationClusterIPv4] = this.ipv4OfName(u32[str + STR.destinationClusterIP], 0);
    row[ROW.destinationServicePort] = u16[ports + 2];
    row[ROW.destinationServicePortName] = u32[str + STR.destinationServicePortName];
    row[ROW.ingressNetworkPolicyName] = u32[str + STR.ingressNetworkPolicyName];
    row[ROW.ingressNetworkPolicyNamespace] = u32[str + STR.ingressNetworkPolicyNamespace];
    row[ROW.ingressNetworkPolicyType] = u8[b8 + U8.ingressNetworkPolicyType];
    row[ROW.ingressNetworkPolicyRuleName] = u32[str + STR.ingressNetworkPolicyRuleName];
    row[ROW.egressNetworkPolicyName] = u32[str + STR.egressNetworkPolicyName];
    row[ROW.egressNetworkPolicyNamespace] = u32[str + STR.egressNetworkPolicyNamespace];
    row[ROW.egressNetworkPolicyType] = u8[b8 + U8.egressNetworkPolicyType];
    row[ROW.egressNetworkPolicyRuleName] = u32[str + STR.egressNetworkPolicyRuleName];
    row[ROW.ingressNetworkPolicyRuleAction] = u8[b8 + U8.ingressNetworkPolicyRuleAction];
    row[ROW.egressNetworkPolicyRuleAction] = u8[b8 + U8.egressNetworkPolicyRuleAction];
    row[ROW.tcpState] = u32[str + STR.tcpState];
    row[ROW.flowType] = u8[b8 + U8.flowType];
    // Bits per second since the previous export (or the flow's start), per side and direction.
    const sourceEnd = u32[sec + SEC.flowEndSecondsFromSourceNode];
    const destinationEnd = u32[sec + SEC.flowEndSecondsFromDestinationNode];
    const sourceSeconds = Math.max(1, sourceEnd - u32[sec + SEC.previousEndFromSourceNode]);
    const destinationSeconds = Math.max(1, destinationEnd - u32[sec + SEC.previousEndFromDestinationNode]);
    const sourceThroughput = seenSource ? rate(f64[src + CTR.octetTotalCount] - f64[f + F64.previousOctetsFromSourceNode], sourceSeconds) : 0;
    const sourceReverseThroughput = seenSource
      ? rate(f64[src + CTR.reverseOctetTotalCount] - f64[f + F64.previousReverseOctetsFromSourceNode], sourceSeconds)
      : 0;
    const destinationThroughput = seenDestination
      ? rate(f64[dst + CTR.octetTotalCount] - f64[f + F64.previousOctetsFromDestinationNode], destinationSeconds)
      : 0;
    const destinationReverseThroughput = seenDestination
      ? rate(f64[dst + CTR.reverseOctetTotalCount] - f64[f + F64.previousReverseOctetsFromDestinationNode], destinationSeconds)
      : 0;
    row[ROW.throughput] = seenSource ? sourceThroughput : destinationThroughput;
    row[ROW.reverseThroughput] = seenSource ? sourceReverseThroughput : destinationReverseThroughput;
    row[ROW.throughputFromSourceNode] = sourceThroughput;
    row[ROW.throughputFromDestinationNode] = destinationThroughput;
    row[ROW.reverseThroughputFromSourceNode] = sourceReverseThroughput;
    row[ROW.reverseThroughputFromDestinationNode] = destinationReverseThroughput;
    row[ROW.flowEndSecondsFromSourceNode] = sourceEnd;
    row[ROW.flowEndSecondsFromDestinationNode] = destinationEnd;
    row[ROW.originalExporterIPv4Address] = this.ipv4OfName(u32[str + STR.originalExporterAddress], 1);
    row[ROW.originalObservationDomainId] = u32[sec + SEC.originalObservationDomainId];
    row[ROW.correlated] = (flags & FLAG.needsCorrelation) === 0 || (seenSource && seenDestination) ? 1 : 0;
  }

  private build(s: number): AggregatedFlowRecord {
    this.fillRow(s);
    return this.recordOfRow(s);
  }

  /** The AggregatedFlowRecord of slot s from this.row (fillRow of s), with its texts. */
  private recordOfRow(s: number): AggregatedFlowRecord {
    const t = this.table;
    const row = this.row;
    const texts = t.strings.texts;
    const str = this.bases[BASE.str];
    const u32 = t.u32;
    const fromSourceNode: NodeCounters = {
      packetTotalCount: row[ROW.packetTotalCountFromSourceNode],
      octetTotalCount: row[ROW.octetTotalCountFromSourceNode],
      packetDeltaCount: row[ROW.packetDeltaCountFromSourceNode],
      octetDeltaCount: row[ROW.octetDeltaCountFromSourceNode],
      reversePacketTotalCount: row[ROW.reversePacketTotalCountFromSourceNode],
      reverseOctetTotalCount: row[ROW.reverseOctetTotalCountFromSourceNode],
      reversePacketDeltaCount: row[ROW.reversePacketDeltaCountFromSourceNode],
      reverseOctetDeltaCount: row[ROW.reverseOctetDeltaCountFromSourceNode],
    };
    const fromDestinationNode: NodeCounters = {
      packetTotalCount: row[ROW.packetTotalCountFromDestinationNode],
      octetTotalCount: row[ROW.octetTotalCountFromDestinationNode],
      packetDeltaCount: row[ROW.packetDeltaCountFromDestinationNode],
      octetDeltaCount: row[ROW.octetDeltaCountFromDestinationNode],
      reversePacketTotalCount: row[ROW.reversePacketTotalCountFromDestinationNode],
      reverseOctetTotalCount: row[ROW.reverseOctetTotalCountFromDestinationNode],
      reversePacketDeltaCount: row[ROW.reversePacketDeltaCountFromDestinationNode],
      reverseOctetDeltaCount: row[ROW.reverseOctetDeltaCountFromDestinationNode],
    };
    return {
      sourceAddress: t.addressText(s, t.sourceKey(s)),
      destinationAddress: t.addressText(s, t.destinationKey(s)),
      sourceTransportPort: row[ROW.sourceTransportPort],
      destinationTransportPort: row[ROW.destinationTransportPort],
      protocolIdentifier: row[ROW.protocolIdentifier],
      ipVersion: row[ROW.ipVersion] === 6 ? 6 : 4,
      flowStartSeconds: row[ROW.flowStartSeconds],
      flowEndSeconds: row[ROW.flowEndSeconds],
      flowEndReason: row[ROW.flowEndReason] as FlowEndReason,
      packetTotalCount: row[ROW.packetTotalCount],
      octetTotalCount: row[ROW.octetTotalCount],
      packetDeltaCount: row[ROW.packetDeltaCount],
      octetDeltaCount: row[ROW.octetDeltaCount],
      reversePacketTotalCount: row[ROW.reversePacketTotalCount],
      reverseOctetTotalCount: row[ROW.reverseOctetTotalCount],
      reversePacketDeltaCount: row[ROW.reversePacketDeltaCount],
      reverseOctetDeltaCount: row[ROW.reverseOctetDeltaCount],
      sourcePodNamespace: texts[row[ROW.sourcePodNamespace]],
      sourcePodName: texts[row[ROW.sourcePodName]],
      destinationPodNamespace: texts[row[ROW.destinationPodNamespace]],
      destinationPodName: texts[row[ROW.destinationPodName]],
      sourceNodeName: texts[row[ROW.sourceNodeName]],
      destinationNodeName: texts[row[ROW.destinationNodeName]],
      destinationClusterIP: texts[u32[str + STR.destinationClusterIP]],
      destinationServicePort: row[ROW.destinationServicePort],
      destinationServicePortName: texts[row[ROW.destinationServicePortName]],
      ingressNetworkPolicyName: texts[row[ROW.ingressNetworkPolicyName]],
      ingressNetworkPolicyNamespace: texts[row[ROW.ingressNetworkPolicyNamespace]],
      ingressNetworkPolicyType: row[ROW.ingressNetworkPolicyType] as AggregatedFlowRecord['ingressNetworkPolicyType'],
      ingressNetworkPolicyRuleName: texts[row[ROW.ingressNetworkPolicyRuleName]],
      ingressNetworkPolicyRuleAction: row[ROW.ingressNetworkPolicyRuleAction] as RuleAction,
      egressNetworkPolicyName: texts[row[ROW.egressNetworkPolicyName]],
      egressNetworkPolicyNamespace: texts[row[ROW.egressNetworkPolicyNamespace]],
      egressNetworkPolicyType: row[ROW.egressNetworkPolicyType] as AggregatedFlowRecord['egressNetworkPolicyType'],
      egressNetworkPolicyRuleName: texts[row[ROW.egressNetworkPolicyRuleName]],
      egressNetworkPolicyRuleAction: row[ROW.egressNetworkPolicyRuleAction] as RuleAction,
      tcpState: texts[row[ROW.tcpState]],
      flowType: row[ROW.flowType] as FlowType,
      fromSourceNode,
      fromDestinationNode,
      throughput: row[ROW.throughput],
      reverseThroughput: row[ROW.reverseThroughput],
      throughputFromSourceNode: row[ROW.throughputFromSourceNode],
      throughputFromDestinationNode: row[ROW.throughputFromDestinationNode],
      reverseThroughputFromSourceNode: row[ROW.reverseThroughputFromSourceNode],
      reverseThroughputFromDestinationNode: row[ROW.reverseThroughputFromDestinationNode],
      flowEndSecondsFromSourceNode: row[ROW.flowEndSecondsFromSourceNode],
      flowEndSecondsFromDestinationNode: row[ROW.flowEndSecondsFromDestinationNode],
      originalExporterAddress: texts[u32[str + STR.originalExporterAddress]],
      originalObservationDomainId: row[ROW.originalObservationDomainId],
      correlated: row[ROW.correlated] === 1,
    };
  }
}
