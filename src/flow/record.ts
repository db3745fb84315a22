// The one internal flow record. The exporter builds it from conntrack and Kubernetes
// metadata, the aggregator correlates and aggregates it, and sinks store it. Only
// src/flow/ie-mapping.ts turns it into IPFIX fields and back; nothing else sees IPFIX.
//
// Field names are the reference's Information Element names, so that the mapping reads
// as a table. IPv4 and IPv6 addresses share one text field; `ipVersion` says which IE
// (sourceIPv4Address or sourceIPv6Address, ...) carries it on the wire.

/** IANA flowEndReason (IE 136). */
export const FlowEndReason = {
  idleTimeout: 1,
  activeTimeout: 2,
  endOfFlow: 3,
  forcedEnd: 4,
  lackOfResources: 5,
} as const;
export type FlowEndReason = (typeof FlowEndReason)[keyof typeof FlowEndReason];

/** Antrea flowType (56506/137). */
export const FlowType = {
  unknown: 0,
  intraNode: 1,
  interNode: 2,
  toExternal: 3,
  fromExternal: 4,
} as const;
export type FlowType = (typeof FlowType)[keyof typeof FlowType];

/** Antrea ingress/egressNetworkPolicyRuleAction (56506/139, 140). */
export const RuleAction = {
  none: 0,
  allow: 1,
  drop: 2,
  reject: 3,
} as const;
export type RuleAction = (typeof RuleAction)[keyof typeof RuleAction];

/** Antrea ingress/egressNetworkPolicyType (56506/115, 118). */
export const PolicyType = {
  none: 0,
  k8sNetworkPolicy: 1,
  antreaNetworkPolicy: 2,
  antreaClusterNetworkPolicy: 3,
  k8sClusterNetworkPolicy: 4,
} as const;
export type PolicyType = (typeof PolicyType)[keyof typeof PolicyType];

/** The 5-tuple that identifies a connection, from its original direction. */
export interface FlowKey {
  sourceAddress: string;
  destinationAddress: string;
  sourceTransportPort: number;
  destinationTransportPort: number;
  protocolIdentifier: number;
}

/** The 34 Information Elements of a Flow Exporter record (reference, "IEs in a Flow Record"). */
export interface FlowRecord extends FlowKey {
  ipVersion: 4 | 6;
  /** Seconds since the Unix epoch. */
  flowStartSeconds: number;
  flowEndSeconds: number;
  flowEndReason: FlowEndReason;

  packetTotalCount: number;
  octetTotalCount: number;
  packetDeltaCount: number;
  octetDeltaCount: number;
  reversePacketTotalCount: number;
  reverseOctetTotalCount: number;
  reversePacketDeltaCount: number;
  reverseOctetDeltaCount: number;

  sourcePodNamespace: string;
  sourcePodName: string;
  destinationPodNamespace: string;
  destinationPodName: string;
  sourceNodeName: string;
  destinationNodeName: string;
  /** The Service ClusterIP that was DNAT-ed to the destination Pod; '' when none. */
  destinationClusterIP: string;
  destinationServicePort: number;
  /** "namespace/name:port"; '' when none. */
  destinationServicePortName: string;

  ingressNetworkPolicyName: string;
  ingressNetworkPolicyNamespace: string;
  ingressNetworkPolicyType: PolicyType;
  ingressNetworkPolicyRuleName: string;
  ingressNetworkPolicyRuleAction: RuleAction;
  egressNetworkPolicyName: string;
  egressNetworkPolicyNamespace: string;
  egressNetworkPolicyType: PolicyType;
  egressNetworkPolicyRuleName: string;
  egressNetworkPolicyRuleAction: RuleAction;

  /** Conntrack TCP state name (ESTABLISHED, TIME_WAIT, ...); '' for other protocols. */
  tcpState: string;
  flowType: FlowType;
}

/** The counters that the aggregator keeps per side of an inter-node flow. */
export interface NodeCounters {
  packetTotalCount: number;
  octetTotalCount: number;
  packetDeltaCount: number;
  octetDeltaCount: number;
  reversePacketTotalCount: number;
  reverseOctetTotalCount: number;
  reversePacketDeltaCount: number;
  reverseOctetDeltaCount: number;
}

/** A Flow Aggregator record: the exporter's IEs plus the reference's aggregated IEs. */
export interface AggregatedFlowRecord extends FlowRecord {
  fromSourceNode: NodeCounters;
  fromDestinationNode: NodeCounters;
  /** Bits per second over the last export interval; Antrea throughput IEs 56506/145-150. */
  throughput: number;
  reverseThroughput: number;
  throughputFromSourceNode: number;
  throughputFromDestinationNode: number;
  reverseThroughputFromSourceNode: number;
  reverseThroughputFromDestinationNode: number;
  flowEndSecondsFromSourceNode: number;
  flowEndSecondsFromDestinationNode: number;
  /** The exporter that sent the record (originalExporterIPv4/IPv6Address, IANA 403/404). */
  originalExporterAddress: string;
  /** IANA 405 (the reference's table says 151, which is flowEndSeconds; the registry is right). */
  originalObservationDomainId: number;
  /** True when both halves of an inter-node flow were seen, or the flow needs only one. */
  correlated: boolean;
}
