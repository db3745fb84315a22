// The one place where Information Element names meet FlowRecord fields.
//
// The exporter sends a FlowRecord with the IPv4 or IPv6 exporter template; the aggregator
// sends an AggregatedFlowRecord with the IPv4 or IPv6 aggregator template. Conventions:
// - FlowRecord keeps one text field per address; `ipVersion` picks the v4 or v6 IE.
// - An empty address ('' : no Service ClusterIP, no exporter address) is sent as 0.0.0.0 or ::,
//   as Antrea does, and read back as ''.
// - Reading is tolerant: a missing IE reads as 0 or ''; a 64-bit counter above 2^53 (a bigint
//   from the decoder) reads as the nearest number.
import { ENTERPRISE_ANTREA, ENTERPRISE_IANA, ENTERPRISE_REVERSE, ieByName } from '../ipfix/index.js';
import type { DataRecord, EncodeShape, EncodeSource, FieldSpecifier, IpfixValue, RecordShape, ShapeProperty, TemplateDefinition } from '../ipfix/index.js';
import type { AggregatedFlowRecord, FlowEndReason, FlowRecord, FlowType, NodeCounters, PolicyType, RuleAction } from './record.js';

export const EXPORTER_IPV4_TEMPLATE_ID = 256;
export const EXPORTER_IPV6_TEMPLATE_ID = 257;
export const AGGREGATOR_IPV4_TEMPLATE_ID = 258;
export const AGGREGATOR_IPV6_TEMPLATE_ID = 259;

/** The reference's "IEs in a Flow Record" tables, in their order; `v4`/`v6` mark the per-family IEs. */
const EXPORTER_IES: readonly (string | { v4: string; v6: string })[] = [
  // IANA
  'flowStartSeconds', 'flowEndSeconds', 'flowEndReason',
  { v4: 'sourceIPv4Address', v6: 'sourceIPv6Address' },
  { v4: 'destinationIPv4Address', v6: 'destinationIPv6Address' },
  'sourceTransportPort', 'destinationTransportPort', 'protocolIdentifier',
  'packetTotalCount', 'octetTotalCount', 'packetDeltaCount', 'octetDeltaCount',
  // Reverse (RFC 5103, enterprise 29305)
  'reversePacketTotalCount', 'reverseOctetTotalCount', 'reversePacketDeltaCount', 'reverseOctetDeltaCount',
  // Antrea (56506)
  'sourcePodNamespace', 'sourcePodName', 'destinationPodNamespace', 'destinationPodName',
  'sourceNodeName', 'destinationNodeName',
  { v4: 'destinationClusterIPv4', v6: 'destinationClusterIPv6' },
  'destinationServicePort', 'destinationServicePortName',
  'ingressNetworkPolicyName', 'ingressNetworkPolicyNamespace', 'ingressNetworkPolicyType', 'ingressNetworkPolicyRuleName',
  'egressNetworkPolicyName', 'egressNetworkPolicyNamespace', 'egressNetworkPolicyType', 'egressNetworkPolicyRuleName',
  'ingressNetworkPolicyRuleAction', 'egressNetworkPolicyRuleAction',
  'tcpState', 'flowType',
];

const NODE_COUNTER_FIELDS: readonly (keyof NodeCounters)[] = [
  'packetTotalCount', 'octetTotalCount', 'packetDeltaCount', 'octetDeltaCount',
  'reversePacketTotalCount', 'reverseOctetTotalCount', 'reversePacketDeltaCount', 'reverseOctetDeltaCount',
];

/** `packetTotalCount` -> `packetTotalCountFromSourceNode` (Antrea 56506/120-135). */
function fromNodeIe(field: keyof NodeCounters, side: 'SourceNode' | 'DestinationNode'): string {
  return `${field}From${side}`;
}

/** The reference's aggregated IEs, then the ones it leaves out of its table (see issue 2). */
const AGGREGATOR_EXTRA_IES: readonly string[] = [
  ...NODE_COUNTER_FIELDS.map((f) => fromNodeIe(f, 'SourceNode')),
  ...NODE_COUNTER_FIELDS.map((f) => fromNodeIe(f, 'DestinationNode')),
  'throughput', 'reverseThroughput',
  'throughputFromSourceNode', 'throughputFromDestinationNode',
  'reverseThroughputFromSourceNode', 'reverseThroughputFromDestinationNode',
  'flowEndSecondsFromSourceNode', 'flowEndSecondsFromDestinationNode',
  // Both families in both templates: the exporter's address family need not be the flow's.
  'originalExporterIPv4Address', 'originalExporterIPv6Address',
  // IANA 405; the reference's table says 151, which is flowEndSeconds.
  'originalObservationDomainId',
];

function specifier(name: string): FieldSpecifier {
  const ie = ieByName(name);
  if (ie === undefined) throw new Error(`ie-mapping: ${name} is not in the IE registry (run npm run gen:ie)`);
  return Object.freeze({ enterpriseId: ie.enterpriseId, elementId: ie.elementId, length: ie.length });
}

function template(templateId: number, names: readonly string[]): TemplateDefinition {
  return Object.freeze({ templateId, scopeFieldCount: 0, fields: Object.freeze(names.map(specifier)) });
}

function exporterNames(version: 4 | 6): string[] {
  return EXPORTER_IES.map((e) => (typeof e === 'string' ? e : version === 4 ? e.v4 : e.v6));
}

export const EXPORTER_IPV4_TEMPLATE = template(EXPORTER_IPV4_TEMPLATE_ID, exporterNames(4));
export const EXPORTER_IPV6_TEMPLATE = template(EXPORTER_IPV6_TEMPLATE_ID, exporterNames(6));
export const AGGREGATOR_IPV4_TEMPLATE = template(AGGREGATOR_IPV4_TEMPLATE_ID, [...exporterNames(4), ...AGGREGATOR_EXTRA_IES]);
export const AGGREGATOR_IPV6_TEMPLATE = template(AGGREGATOR_IPV6_TEMPLATE_ID, [...exporterNames(6), ...AGGREGATOR_EXTRA_IES]);

/** The exporter templates, for MessageWriter.addTemplate. */
export const EXPORTER_TEMPLATES: readonly TemplateDefinition[] = [EXPORTER_IPV4_TEMPLATE, EXPORTER_IPV6_TEMPLATE];
export const AGGREGATOR_TEMPLATES: readonly TemplateDefinition[] = [AGGREGATOR_IPV4_TEMPLATE, AGGREGATOR_IPV6_TEMPLATE];

export function exporterTemplateId(ipVersion: 4 | 6): number {
  return ipVersion === 4 ? EXPORTER_IPV4_TEMPLATE_ID : EXPORTER_IPV6_TEMPLATE_ID;
}

export function aggregatorTemplateId(ipVersion: 4 | 6): number {
  return ipVersion === 4 ? AGGREGATOR_IPV4_TEMPLATE_ID : AGGREGATOR_IPV6_TEMPLATE_ID;
}

// Exporter IEs are checked against the registry once, at load: the enterprise of each group.
for (const [name, enterprise] of [
  ['flowStartSeconds', ENTERPRISE_IANA], ['reverseOctetDeltaCount', ENTERPRISE_REVERSE], ['flowType', ENTERPRISE_ANTREA],
] as const) {
  if (specifier(name).enterpriseId !== enterprise) throw new Error(`ie-mapping: ${name} is not in enterprise ${enterprise}`);
}

// ---- FlowRecord -> DataRecord ---------------------------------------------------------------------

function addressOrZero(text: string, version: 4 | 6): string {
  return text !== '' ? text : version === 4 ? '0.0.0.0' : '::';
}

// Both mappings build each record as one object literal per address family, in template order,
// so every record of a template has the same hidden class: the writer's generated code then
// reads its fields with monomorphic property loads. (Adding keys one by one, or by computed
// names, pushed records into dictionary mode and cost more than the encoding itself.)

/** The record to encode with exporterTemplateId(r.ipVersion). */
export function flowRecordToDataRecord(r: FlowRecord): DataRecord {
  if (r.ipVersion === 4) {
    return {
      flowStartSeconds: r.flowStartSeconds,
      flowEndSeconds: r.flowEndSeconds,
      flowEndReason: r.flowEndReason,
      sourceIPv4Address: r.sourceAddress,
      destinationIPv4Address: r.destinationAddress,
      sourceTransportPort: r.sourceTransportPort,
      destinationTransportPort: r.destinationTransportPort,
      protocolIdentifier: r.protocolIdentifier,
      packetTotalCount: r.packetTotalCount,
      octetTotalCount: r.octetTotalCount,
      packetDeltaCount: r.packetDeltaCount,
      octetDeltaCount: r.octetDeltaCount,
      reversePacketTotalCount: r.reversePacketTotalCount,
      reverseOctetTotalCount: r.reverseOctetTotalCount,
      reversePacketDeltaCount: r.reversePacketDeltaCount,
      reverseOctetDeltaCount: r.reverseOctetDeltaCount,
      sourcePodNamespace: r.sourcePodNamespace,
      sourcePodName: r.sourcePodName,
      destinationPodNamespace: r.destinationPodNamespace,
      destinationPodName: r.destinationPodName,
      sourceNodeName: r.sourceNodeName,
      destinationNodeName: r.destinationNodeName,
      destinationClusterIPv4: addressOrZero(r.destinationClusterIP, 4),
      destinationServicePort: r.destinationServicePort,
      destinationServicePortName: r.destinationServicePortName,
      ingressNetworkPolicyName: r.ingressNetworkPolicyName,
      ingressNetworkPolicyNamespace: r.ingressNetworkPolicyNamespace,
      ingressNetworkPolicyType: r.ingressNetworkPolicyType,
      ingressNetworkPolicyRuleName: r.ingressNetworkPolicyRuleName,
      egressNetworkPolicyName: r.egressNetworkPolicyName,
      egressNetworkPolicyNamespace: r.egressNetworkPolicyNamespace,
      egressNetworkPolicyType: r.egressNetworkPolicyType,
      egressNetworkPolicyRuleName: r.egressNetworkPolicyRuleName,
      ingressNetworkPolicyRuleAction: r.ingressNetworkPolicyRuleAction,
      egressNetworkPolicyRuleAction: r.egressNetworkPolicyRuleAction,
      tcpState: r.tcpState,
      flowType: r.flowType,
    };
  }
  return {
    flowStartSeconds: r.flowStartSeconds,
    flowEndSeconds: r.flowEndSeconds,
    flowEndReason: r.flowEndReason,
    sourceIPv6Address: r.sourceAddress,
    destinationIPv6Address: r.destinationAddress,
    sourceTransportPort: r.sourceTransportPort,
    destinationTransportPort: r.destinationTransportPort,
    protocolIdentifier: r.protocolIdentifier,
    packetTotalCount: r.packetTotalCount,
    octetTotalCount: r.octetTotalCount,
    packetDeltaCount: r.packetDeltaCount,
    octetDeltaCount: r.octetDeltaCount,
    reversePacketTotalCount: r.reversePacketTotalCount,
    reverseOctetTotalCount: r.reverseOctetTotalCount,
    reversePacketDeltaCount: r.reversePacketDeltaCount,
    reverseOctetDeltaCount: r.reverseOctetDeltaCount,
    sourcePodNamespace: r.sourcePodNamespace,
    sourcePodName: r.sourcePodName,
    destinationPodNamespace: r.destinationPodNamespace,
    destinationPodName: r.destinationPodName,
    sourceNodeName: r.sourceNodeName,
    destinationNodeName: r.destinationNodeName,
    destinationClusterIPv6: addressOrZero(r.destinationClusterIP, 6),
    destinationServicePort: r.destinationServicePort,
    destinationServicePortName: r.destinationServicePortName,
    ingressNetworkPolicyName: r.ingressNetworkPolicyName,
    ingressNetworkPolicyNamespace: r.ingressNetworkPolicyNamespace,
    ingressNetworkPolicyType: r.ingressNetworkPolicyType,
    ingressNetworkPolicyRuleName: r.ingressNetworkPolicyRuleName,
    egressNetworkPolicyName: r.egressNetworkPolicyName,
    egressNetworkPolicyNamespace: r.egressNetworkPolicyNamespace,
    egressNetworkPolicyType: r.egressNetworkPolicyType,
    egressNetworkPolicyRuleName: r.egressNetworkPolicyRuleName,
    ingressNetworkPolicyRuleAction: r.ingressNetworkPolicyRuleAction,
    egressNetworkPolicyRuleAction: r.egressNetworkPolicyRuleAction,
    tcpState: r.tcpState,
    flowType: r.flowType,
  };
}

/** The record to encode with aggregatorTemplateId(r.ipVersion). */
export function aggregatedFlowRecordToDataRecord(r: AggregatedFlowRecord): DataRecord {
  const s = r.fromSourceNode;
  const d = r.fromDestinationNode;
  const exporterIsV6 = r.originalExporterAddress.includes(':');
  const exporterV4 = exporterIsV6 ? '0.0.0.0' : addressOrZero(r.originalExporterAddress, 4);
  const exporterV6 = exporterIsV6 ? r.originalExporterAddress : '::';
  if (r.ipVersion === 4) {
    return {
      flowStartSeconds: r.flowStartSeconds,
      flowEndSeconds: r.flowEndSeconds,
      flowEndReason: r.flowEndReason,
      sourceIPv4Address: r.sourceAddress,
      destinationIPv4Address: r.destinationAddress,
      sourceTransportPort: r.sourceTransportPort,
      destinationTransportPort: r.destinationTransportPort,
      protocolIdentifier: r.protocolIdentifier,
      packetTotalCount: r.packetTotalCount,
      octetTotalCount: r.octetTotalCount,
      packetDeltaCount: r.packetDeltaCount,
      octetDeltaCount: r.octetDeltaCount,
      reversePacketTotalCount: r.reversePacketTotalCount,
      reverseOctetTotalCount: r.reverseOctetTotalCount,
      reversePacketDeltaCount: r.reversePacketDeltaCount,
      reverseOctetDeltaCount: r.reverseOctetDeltaCount,
      sourcePodNamespace: r.sourcePodNamespace,
      sourcePodName: r.sourcePodName,
      destinationPodNamespace: r.destinationPodNamespace,
      destinationPodName: r.destinationPodName,
      sourceNodeName: r.sourceNodeName,
      destinationNodeName: r.destinationNodeName,
      destinationClusterIPv4: addressOrZero(r.destinationClusterIP, 4),
      destinationServicePort: r.destinationServicePort,
      destinationServicePortName: r.destinationServicePortName,
      ingressNetworkPolicyName: r.ingressNetworkPolicyName,
      ingressNetworkPolicyNamespace: r.ingressNetworkPolicyNamespace,
      ingressNetworkPolicyType: r.ingressNetworkPolicyType,
      ingressNetworkPolicyRuleName: r.ingressNetworkPolicyRuleName,
      egressNetworkPolicyName: r.egressNetworkPolicyName,
      egressNetworkPolicyNamespace: r.egressNetworkPolicyNamespace,
      egressNetworkPolicyType: r.egressNetworkPolicyType,
      egressNetworkPolicyRuleName: r.egressNetworkPolicyRuleName,
      ingressNetworkPolicyRuleAction: r.ingressNetworkPolicyRuleAction,
      egressNetworkPolicyRuleAction: r.egressNetworkPolicyRuleAction,
      tcpState: r.tcpState,
      flowType: r.flowType,
      packetTotalCountFromSourceNode: s.packetTotalCount,
      octetTotalCountFromSourceNode: s.octetTotalCount,
      packetDeltaCountFromSourceNode: s.packetDeltaCount,
      octetDeltaCountFromSourceNode: s.octetDeltaCount,
      reversePacketTotalCountFromSourceNode: s.reversePacketTotalCount,
      reverseOctetTotalCountFromSourceNode: s.reverseOctetTotalCount,
      reversePacketDeltaCountFromSourceNode: s.reversePacketDeltaCount,
      reverseOctetDeltaCountFromSourceNode: s.reverseOctetDeltaCount,
      packetTotalCountFromDestinationNode: d.packetTotalCount,
      octetTotalCountFromDestinationNode: d.octetTotalCount,
      packetDeltaCountFromDestinationNode: d.packetDeltaCount,
      octetDeltaCountFromDestinationNode: d.octetDeltaCount,
      reversePacketTotalCountFromDestinationNode: d.reversePacketTotalCount,
      reverseOctetTotalCountFromDestinationNode: d.reverseOctetTotalCount,
      reversePacketDeltaCountFromDestinationNode: d.reversePacketDeltaCount,
      reverseOctetDeltaCountFromDestinationNode: d.reverseOctetDeltaCount,
      throughput: r.throughput,
      reverseThroughput: r.reverseThroughput,
      throughputFromSourceNode: r.throughputFromSourceNode,
      throughputFromDestinationNode: r.throughputFromDestinationNode,
      reverseThroughputFromSourceNode: r.reverseThroughputFromSourceNode,
      reverseThroughputFromDestinationNode: r.reverseThroughputFromDestinationNode,
      flowEndSecondsFromSourceNode: r.flowEndSecondsFromSourceNode,
      flowEndSecondsFromDestinationNode: r.flowEndSecondsFromDestinationNode,
      originalExporterIPv4Address: exporterV4,
      originalExporterIPv6Address: exporterV6,
      originalObservationDomainId: r.originalObservationDomainId,
    };
  }
  return {
    flowStartSeconds: r.flowStartSeconds,
    flowEndSeconds: r.flowEndSeconds,
    flowEndReason: r.flowEndReason,
    sourceIPv6Address: r.sourceAddress,
    destinationIPv6Address: r.destinationAddress,
    sourceTransportPort: r.sourceTransportPort,
    destinationTransportPort: r.destinationTransportPort,
    protocolIdentifier: r.protocolIdentifier,
    packetTotalCount: r.packetTotalCount,
    octetTotalCount: r.octetTotalCount,
    packetDeltaCount: r.packetDeltaCount,
    octetDeltaCount: r.octetDeltaCount,
    reversePacketTotalCount: r.reversePacketTotalCount,
    reverseOctetTotalCount: r.reverseOctetTotalCount,
    reversePacketDeltaCount: r.reversePacketDeltaCount,
    reverseOctetDeltaCount: r.reverseOctetDeltaCount,
    sourcePodNamespace: r.sourcePodNamespace,
    sourcePodName: r.sourcePodName,
    destinationPodNamespace: r.destinationPodNamespace,
    destinationPodName: r.destinationPodName,
    sourceNodeName: r.sourceNodeName,
    destinationNodeName: r.destinationNodeName,
    destinationClusterIPv6: addressOrZero(r.destinationClusterIP, 6),
    destinationServicePort: r.destinationServicePort,
    destinationServicePortName: r.destinationServicePortName,
    ingressNetworkPolicyName: r.ingressNetworkPolicyName,
    ingressNetworkPolicyNamespace: r.ingressNetworkPolicyNamespace,
    ingressNetworkPolicyType: r.ingressNetworkPolicyType,
    ingressNetworkPolicyRuleName: r.ingressNetworkPolicyRuleName,
    egressNetworkPolicyName: r.egressNetworkPolicyName,
    egressNetworkPolicyNamespace: r.egressNetworkPolicyNamespace,
    egressNetworkPolicyType: r.egressNetworkPolicyType,
    egressNetworkPolicyRuleName: r.egressNetworkPolicyRuleName,
    ingressNetworkPolicyRuleAction: r.ingressNetworkPolicyRuleAction,
    egressNetworkPolicyRuleAction: r.egressNetworkPolicyRuleAction,
    tcpState: r.tcpState,
    flowType: r.flowType,
    packetTotalCountFromSourceNode: s.packetTotalCount,
    octetTotalCountFromSourceNode: s.octetTotalCount,
    packetDeltaCountFromSourceNode: s.packetDeltaCount,
    octetDeltaCountFromSourceNode: s.octetDeltaCount,
    reversePacketTotalCountFromSourceNode: s.reversePacketTotalCount,
    reverseOctetTotalCountFromSourceNode: s.reverseOctetTotalCount,
    reversePacketDeltaCountFromSourceNode: s.reversePacketDeltaCount,
    reverseOctetDeltaCountFromSourceNode: s.reverseOctetDeltaCount,
    packetTotalCountFromDestinationNode: d.packetTotalCount,
    octetTotalCountFromDestinationNode: d.octetTotalCount,
    packetDeltaCountFromDestinationNode: d.packetDeltaCount,
    octetDeltaCountFromDestinationNode: d.octetDeltaCount,
    reversePacketTotalCountFromDestinationNode: d.reversePacketTotalCount,
    reverseOctetTotalCountFromDestinationNode: d.reverseOctetTotalCount,
    reversePacketDeltaCountFromDestinationNode: d.reversePacketDeltaCount,
    reverseOctetDeltaCountFromDestinationNode: d.reverseOctetDeltaCount,
    throughput: r.throughput,
    reverseThroughput: r.reverseThroughput,
    throughputFromSourceNode: r.throughputFromSourceNode,
    throughputFromDestinationNode: r.throughputFromDestinationNode,
    reverseThroughputFromSourceNode: r.reverseThroughputFromSourceNode,
    reverseThroughputFromDestinationNode: r.reverseThroughputFromDestinationNode,
    flowEndSecondsFromSourceNode: r.flowEndSecondsFromSourceNode,
    flowEndSecondsFromDestinationNode: r.flowEndSecondsFromDestinationNode,
    originalExporterIPv4Address: exporterV4,
    originalExporterIPv6Address: exporterV6,
    originalObservationDomainId: r.originalObservationDomainId,
  };
}

// ---- DataRecord -> FlowRecord ---------------------------------------------------------------------

function num(v: IpfixValue | undefined): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  return 0;
}

function text(v: IpfixValue | undefined): string {
  return typeof v === 'string' ? v : '';
}

/** An address IE as text; the all-zero address (Antrea's "none") and a missing IE read as ''. */
function address(v: IpfixValue | undefined): string {
  return typeof v === 'string' && v !== '0.0.0.0' && v !== '::' ? v : '';
}

/** Reads a record of either exporter template (or any record with these IEs). Tolerant: missing IEs are 0/''. */
export function dataRecordToFlowRecord(d: DataRecord): FlowRecord {
  const v6 = d.sourceIPv6Address !== undefined || d.destinationIPv6Address !== undefined;
  return {
    sourceAddress: text(v6 ? d.sourceIPv6Address : d.sourceIPv4Address),
    destinationAddress: text(v6 ? d.destinationIPv6Address : d.destinationIPv4Address),
    sourceTransportPort: num(d.sourceTransportPort),
    destinationTransportPort: num(d.destinationTransportPort),
    protocolIdentifier: num(d.protocolIdentifier),
    ipVersion: v6 ? 6 : 4,
    flowStartSeconds: num(d.flowStartSeconds),
    flowEndSeconds: num(d.flowEndSeconds),
    flowEndReason: num(d.flowEndReason) as FlowEndReason,
    packetTotalCount: num(d.packetTotalCount),
    octetTotalCount: num(d.octetTotalCount),
    packetDeltaCount: num(d.packetDeltaCount),
    octetDeltaCount: num(d.octetDeltaCount),
    reversePacketTotalCount: num(d.reversePacketTotalCount),
    reverseOctetTotalCount: num(d.reverseOctetTotalCount),
    reversePacketDeltaCount: num(d.reversePacketDeltaCount),
    reverseOctetDeltaCount: num(d.reverseOctetDeltaCount),
    sourcePodNamespace: text(d.sourcePodNamespace),
    sourcePodName: text(d.sourcePodName),
    destinationPodNamespace: text(d.destinationPodNamespace),
    destinationPodName: text(d.destinationPodName),
    sourceNodeName: text(d.sourceNodeName),
    destinationNodeName: text(d.destinationNodeName),
    destinationClusterIP: address(v6 ? d.destinationClusterIPv6 : d.destinationClusterIPv4),
    destinationServicePort: num(d.destinationServicePort),
    destinationServicePortName: text(d.destinationServicePortName),
    ingressNetworkPolicyName: text(d.ingressNetworkPolicyName),
    ingressNetworkPolicyNamespace: text(d.ingressNetworkPolicyNamespace),
    ingressNetworkPolicyType: num(d.ingressNetworkPolicyType) as PolicyType,
    ingressNetworkPolicyRuleName: text(d.ingressNetworkPolicyRuleName),
    ingressNetworkPolicyRuleAction: num(d.ingressNetworkPolicyRuleAction) as RuleAction,
    egressNetworkPolicyName: text(d.egressNetworkPolicyName),
    egressNetworkPolicyNamespace: text(d.egressNetworkPolicyNamespace),
    egressNetworkPolicyType: num(d.egressNetworkPolicyType) as PolicyType,
    egressNetworkPolicyRuleName: text(d.egressNetworkPolicyRuleName),
    egressNetworkPolicyRuleAction: num(d.egressNetworkPolicyRuleAction) as RuleAction,
    tcpState: text(d.tcpState),
    flowType: num(d.flowType) as FlowType,
  };
}

/**
 * The same mapping as dataRecordToFlowRecord, as a record shape: MessageDecoder.decodeAs(buf,
 * FLOW_RECORD_SHAPE) decodes exporter records straight into FlowRecords, with one generated
 * decoder per template and no DataRecord in between (the collector's and aggregator's hot path).
 */
export const FLOW_RECORD_SHAPE: RecordShape<FlowRecord> = Object.freeze({
  name: 'FlowRecord',
  properties(keys: ReadonlySet<string>): ShapeProperty[] {
    const v6 = keys.has('sourceIPv6Address') || keys.has('destinationIPv6Address');
    const n = (name: string, key = name): ShapeProperty => ({ name, key, as: 'number' });
    const t = (name: string, key = name): ShapeProperty => ({ name, key, as: 'text' });
    return [
      t('sourceAddress', v6 ? 'sourceIPv6Address' : 'sourceIPv4Address'),
      t('destinationAddress', v6 ? 'destinationIPv6Address' : 'destinationIPv4Address'),
      n('sourceTransportPort'), n('destinationTransportPort'), n('protocolIdentifier'),
      { name: 'ipVersion', value: v6 ? 6 : 4 },
      n('flowStartSeconds'), n('flowEndSeconds'), n('flowEndReason'),
      n('packetTotalCount'), n('octetTotalCount'), n('packetDeltaCount'), n('octetDeltaCount'),
      n('reversePacketTotalCount'), n('reverseOctetTotalCount'), n('reversePacketDeltaCount'), n('reverseOctetDeltaCount'),
      t('sourcePodNamespace'), t('sourcePodName'), t('destinationPodNamespace'), t('destinationPodName'),
      t('sourceNodeName'), t('destinationNodeName'),
      { name: 'destinationClusterIP', key: v6 ? 'destinationClusterIPv6' : 'destinationClusterIPv4', as: 'address' },
      n('destinationServicePort'), t('destinationServicePortName'),
      t('ingressNetworkPolicyName'), t('ingressNetworkPolicyNamespace'), n('ingressNetworkPolicyType'),
      t('ingressNetworkPolicyRuleName'), n('ingressNetworkPolicyRuleAction'),
      t('egressNetworkPolicyName'), t('egressNetworkPolicyNamespace'), n('egressNetworkPolicyType'),
      t('egressNetworkPolicyRuleName'), n('egressNetworkPolicyRuleAction'),
      t('tcpState'), n('flowType'),
    ];
  },
});

function nodeCounters(d: DataRecord, side: 'SourceNode' | 'DestinationNode'): NodeCounters {
  return {
    packetTotalCount: num(d[fromNodeIe('packetTotalCount', side)]),
    octetTotalCount: num(d[fromNodeIe('octetTotalCount', side)]),
    packetDeltaCount: num(d[fromNodeIe('packetDeltaCount', side)]),
    octetDeltaCount: num(d[fromNodeIe('octetDeltaCount', side)]),
    reversePacketTotalCount: num(d[fromNodeIe('reversePacketTotalCount', side)]),
    reverseOctetTotalCount: num(d[fromNodeIe('reverseOctetTotalCount', side)]),
    reversePacketDeltaCount: num(d[fromNodeIe('reversePacketDeltaCount', side)]),
    reverseOctetDeltaCount: num(d[fromNodeIe('reverseOctetDeltaCount', side)]),
  };
}

/**
 * Reads a record of either aggregator template. `correlated` has no IE of its own: an inter-node
 * flow counts as correlated when both Nodes' flowEndSeconds are set (each half sets its own);
 * every other flow needs only one half.
 */
export function dataRecordToAggregatedFlowRecord(d: DataRecord): AggregatedFlowRecord {
  const base = dataRecordToFlowRecord(d);
  const flowEndSecondsFromSourceNode = num(d.flowEndSecondsFromSourceNode);
  const flowEndSecondsFromDestinationNode = num(d.flowEndSecondsFromDestinationNode);
  const interNode = base.flowType === 2;
  return {
    ...base,
    fromSourceNode: nodeCounters(d, 'SourceNode'),
    fromDestinationNode: nodeCounters(d, 'DestinationNode'),
    throughput: num(d.throughput),
    reverseThroughput: num(d.reverseThroughput),
    throughputFromSourceNode: num(d.throughputFromSourceNode),
    throughputFromDestinationNode: num(d.throughputFromDestinationNode),
    reverseThroughputFromSourceNode: num(d.reverseThroughputFromSourceNode),
    reverseThroughputFromDestinationNode: num(d.reverseThroughputFromDestinationNode),
    flowEndSecondsFromSourceNode,
    flowEndSecondsFromDestinationNode,
    originalExporterAddress: address(d.originalExporterIPv4Address) || address(d.originalExporterIPv6Address),
    originalObservationDomainId: num(d.originalObservationDomainId),
    correlated: !interNode || (flowEndSecondsFromSourceNode > 0 && flowEndSecondsFromDestinationNode > 0),
  };
}

// ---- AggregatedFlowRecord -> IPFIX without a DataRecord ----------------------------------------

function exporterIPv4(r: AggregatedFlowRecord): string {
  return r.originalExporterAddress.includes(':') ? '0.0.0.0' : addressOrZero(r.originalExporterAddress, 4);
}

function exporterIPv6(r: AggregatedFlowRecord): string {
  return r.originalExporterAddress.includes(':') ? r.originalExporterAddress : '::';
}

/** Where each aggregator template IE is in an AggregatedFlowRecord, when its name differs. */
const AGGREGATED_SOURCES: Readonly<Record<string, EncodeSource<AggregatedFlowRecord>>> = Object.freeze({
  sourceIPv4Address: { path: ['sourceAddress'] },
  sourceIPv6Address: { path: ['sourceAddress'] },
  destinationIPv4Address: { path: ['destinationAddress'] },
  destinationIPv6Address: { path: ['destinationAddress'] },
  destinationClusterIPv4: { path: ['destinationClusterIP'], orIfEmpty: '0.0.0.0' },
  destinationClusterIPv6: { path: ['destinationClusterIP'], orIfEmpty: '::' },
  ...Object.fromEntries(NODE_COUNTER_FIELDS.flatMap((f) => [
    [fromNodeIe(f, 'SourceNode'), { path: ['fromSourceNode', f] }],
    [fromNodeIe(f, 'DestinationNode'), { path: ['fromDestinationNode', f] }],
  ])),
  originalExporterIPv4Address: { read: exporterIPv4 },
  originalExporterIPv6Address: { read: exporterIPv6 },
});

/**
 * The same mapping as aggregatedFlowRecordToDataRecord, as an encode shape:
 * MessageWriter.encodeAs(aggregatorTemplateId(v), records, AGGREGATED_FLOW_RECORD_ENCODE_SHAPE)
 * writes the bytes that encodeRecords of the mapped DataRecords writes, with one generated
 * writer per template and no DataRecord per exported record (the IPFIX sink's hot path).
 * Every other IE has the name of its AggregatedFlowRecord property.
 */
export const AGGREGATED_FLOW_RECORD_ENCODE_SHAPE: EncodeShape<AggregatedFlowRecord> = Object.freeze({
  name: 'AggregatedFlowRecord',
  sources(keys: ReadonlySet<string>): Record<string, EncodeSource<AggregatedFlowRecord>> {
    const out: Record<string, EncodeSource<AggregatedFlowRecord>> = {};
    for (const key of keys) out[key] = AGGREGATED_SOURCES[key] ?? { path: [key] };
    return out;
  },
});
