// Typed fixture flows for the store tests: a handful of hand-made records whose sums are known,
// so every dashboard query has an exact expected answer.
import type { AggregatedFlowRecord } from '../../../src/flow/record.js';
import { blankFlowRecord, zeroNodeCounters } from '../../fixtures/flow-records.js';
import type { CounterSnapshot } from '../../../src/store/schema.js';

/** A minute boundary (1700000040 = 2023-11-14T22:14:00Z), so 60 s buckets start at T0. */
export const T0 = 1_700_000_040;

/** An aggregated record with everything empty but what `over` sets. */
export function flow(over: Partial<AggregatedFlowRecord>): AggregatedFlowRecord {
  return {
    ...blankFlowRecord(),
    sourceAddress: '10.0.0.1',
    destinationAddress: '10.0.1.1',
    sourceTransportPort: 40000,
    destinationTransportPort: 80,
    protocolIdentifier: 6,
    flowStartSeconds: T0 - 30,
    flowEndSeconds: T0,
    fromSourceNode: zeroNodeCounters(),
    fromDestinationNode: zeroNodeCounters(),
    throughput: 0,
    reverseThroughput: 0,
    throughputFromSourceNode: 0,
    throughputFromDestinationNode: 0,
    reverseThroughputFromSourceNode: 0,
    reverseThroughputFromDestinationNode: 0,
    flowEndSecondsFromSourceNode: 0,
    flowEndSecondsFromDestinationNode: 0,
    originalExporterAddress: '',
    originalObservationDomainId: 0,
    correlated: true,
    ...over,
  };
}

const counts = (bytes: number, packets: number, rbytes: number, rpackets: number) => ({
  octetDeltaCount: bytes,
  packetDeltaCount: packets,
  reverseOctetDeltaCount: rbytes,
  reversePacketDeltaCount: rpackets,
  octetTotalCount: bytes * 3,
  packetTotalCount: packets * 3,
  reverseOctetTotalCount: rbytes * 3,
  reversePacketTotalCount: rpackets * 3,
});

/** web-1 -> db-1, inter-node, ingress policy shop/allow-db (allow). */
export const A = flow({
  sourcePodNamespace: 'shop', sourcePodName: 'web-1', sourceNodeName: 'node-a',
  destinationPodNamespace: 'shop', destinationPodName: 'db-1', destinationNodeName: 'node-b',
  sourceAddress: '10.0.0.1', destinationAddress: '10.0.1.1', sourceTransportPort: 40000, destinationTransportPort: 5432,
  flowType: 2, flowEndSeconds: T0 + 10, tcpState: 'ESTABLISHED',
  ingressNetworkPolicyNamespace: 'shop', ingressNetworkPolicyName: 'allow-db', ingressNetworkPolicyRuleAction: 1, ingressNetworkPolicyType: 1,
  originalExporterAddress: '192.168.0.10', originalObservationDomainId: 7,
  ...counts(1000, 10, 500, 5),
});

/** The same edge, a second connection, no policy. */
export const B = flow({
  sourcePodNamespace: 'shop', sourcePodName: 'web-1', sourceNodeName: 'node-a',
  destinationPodNamespace: 'shop', destinationPodName: 'db-1', destinationNodeName: 'node-b',
  sourceAddress: '10.0.0.1', destinationAddress: '10.0.1.1', sourceTransportPort: 40001, destinationTransportPort: 5432,
  flowType: 2, flowEndSeconds: T0 + 70, tcpState: 'TIME_WAIT',
  ...counts(2000, 20, 100, 1),
});

/** web-2 -> 8.8.8.8:53/udp, to external, egress policy shop/deny-dns (drop). */
export const C = flow({
  sourcePodNamespace: 'shop', sourcePodName: 'web-2', sourceNodeName: 'node-a',
  sourceAddress: '10.0.0.2', destinationAddress: '8.8.8.8', sourceTransportPort: 50000, destinationTransportPort: 53, protocolIdentifier: 17,
  flowType: 3, flowEndSeconds: T0 + 130,
  egressNetworkPolicyNamespace: 'shop', egressNetworkPolicyName: 'deny-dns', egressNetworkPolicyRuleAction: 2, egressNetworkPolicyType: 2,
  ...counts(300, 3, 300, 3),
});

/** IPv6 prom-0 -> Service shop/frontend:http -> web-1; a rule name that needs escaping. */
export const D = flow({
  ipVersion: 6,
  sourcePodNamespace: 'monitoring', sourcePodName: 'prom-0', sourceNodeName: 'node-b',
  destinationPodNamespace: 'shop', destinationPodName: 'web-1', destinationNodeName: 'node-a',
  sourceAddress: 'fd00::5', destinationAddress: 'fd00::1:7', sourceTransportPort: 41000, destinationTransportPort: 8080,
  destinationClusterIP: 'fd00:96::10', destinationServicePort: 80, destinationServicePortName: 'shop/frontend:http',
  flowType: 2, flowEndSeconds: T0 + 200, tcpState: 'ESTABLISHED',
  ingressNetworkPolicyNamespace: 'shop', ingressNetworkPolicyName: 'allow-web', ingressNetworkPolicyRuleAction: 1,
  ingressNetworkPolicyRuleName: "rule'x\\y\tz", ingressNetworkPolicyType: 2,
  throughput: 123456789, correlated: false,
  ...counts(5000, 50, 4000, 40),
});

/** Three days old: outside the query window, and the one retention removes. */
export const E = flow({
  sourcePodNamespace: 'default', sourcePodName: 'old-pod', sourceNodeName: 'node-a',
  flowEndSeconds: T0 - 3 * 86400, flowStartSeconds: T0 - 3 * 86400 - 10,
  ...counts(7, 1, 0, 0),
});

export const SNAPSHOTS: CounterSnapshot[] = [
  { at: T0 - 100, instance: 'i1', recordsDropped: 5, recordsLost: 0, storeDropped: 0 },
  { at: T0 + 100, instance: 'i1', recordsDropped: 7, recordsLost: 2, storeDropped: 1 },
  { at: T0 + 5000, instance: 'i1', recordsDropped: 100, recordsLost: 2, storeDropped: 1 },
  { at: T0 + 50, instance: 'i2', recordsDropped: 3, recordsLost: 0, storeDropped: 0 },
];
