// Builders for the aggregator's unit tests: typed exporter records for each kind of flow.
import { FlowType, PolicyType, RuleAction, type FlowRecord } from '../../../src/flow/record.js';
import { blankFlowRecord } from '../../fixtures/flow-records.js';

export const T0 = 1_700_000_000;

export function flowRecord(overrides: Partial<FlowRecord> = {}): FlowRecord {
  return {
    ...blankFlowRecord(),
    sourceAddress: '10.10.0.5',
    destinationAddress: '10.10.1.7',
    sourceTransportPort: 41234,
    destinationTransportPort: 8080,
    protocolIdentifier: 6,
    flowStartSeconds: T0,
    flowEndSeconds: T0 + 10,
    packetTotalCount: 100,
    octetTotalCount: 10_000,
    packetDeltaCount: 100,
    octetDeltaCount: 10_000,
    reversePacketTotalCount: 80,
    reverseOctetTotalCount: 50_000,
    reversePacketDeltaCount: 80,
    reverseOctetDeltaCount: 50_000,
    tcpState: 'ESTABLISHED',
    flowType: FlowType.interNode,
    ...overrides,
  };
}

/** The source node's half of an inter-node flow: it knows the client Pod, the Service and egress policy. */
export function fromSourceNode(overrides: Partial<FlowRecord> = {}): FlowRecord {
  return flowRecord({
    sourcePodNamespace: 'shop',
    sourcePodName: 'frontend-7d9c8b6f5-abcde',
    sourceNodeName: 'node-a',
    egressNetworkPolicyName: 'allow-egress',
    egressNetworkPolicyNamespace: 'shop',
    egressNetworkPolicyType: PolicyType.antreaNetworkPolicy,
    egressNetworkPolicyRuleName: 'rule-0',
    egressNetworkPolicyRuleAction: RuleAction.allow,
    ...overrides,
  });
}

/** The destination node's half: it knows the server Pod and the ingress policy. */
export function fromDestinationNode(overrides: Partial<FlowRecord> = {}): FlowRecord {
  return flowRecord({
    destinationPodNamespace: 'shop',
    destinationPodName: 'backend-5f6d7c8b9-xyz12',
    destinationNodeName: 'node-b',
    ingressNetworkPolicyName: 'allow-frontend',
    ingressNetworkPolicyNamespace: 'shop',
    ingressNetworkPolicyType: PolicyType.k8sNetworkPolicy,
    ingressNetworkPolicyRuleName: 'ingress-0',
    ingressNetworkPolicyRuleAction: RuleAction.allow,
    // The destination node counts slightly fewer packets than the source sent.
    packetTotalCount: 98,
    octetTotalCount: 9_800,
    packetDeltaCount: 98,
    octetDeltaCount: 9_800,
    ...overrides,
  });
}

export const NODE_A = { address: '192.168.0.10', observationDomainId: 1 };
export const NODE_B = { address: '192.168.0.11', observationDomainId: 2 };
