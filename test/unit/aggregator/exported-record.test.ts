// The records the aggregation exports are plain objects: Object.prototype, own enumerable keys
// in the record's order (the order JSON sinks write), JSON and deep equality unchanged. (Making
// them by constructors, so that V8 never pretenures them, was tried and dropped: see the header
// of bench/aggregator.bench.ts.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AggregatedFlowRecord } from '../../../src/flow/record.js';
import { AggregationProcess } from '../../../src/aggregator/aggregation.js';
import { NODE_A, NODE_B, fromDestinationNode, fromSourceNode } from './fixtures.js';

const KEYS = [
  'sourceAddress', 'destinationAddress', 'sourceTransportPort', 'destinationTransportPort', 'protocolIdentifier', 'ipVersion',
  'flowStartSeconds', 'flowEndSeconds', 'flowEndReason', 'packetTotalCount', 'octetTotalCount', 'packetDeltaCount',
  'octetDeltaCount', 'reversePacketTotalCount', 'reverseOctetTotalCount', 'reversePacketDeltaCount', 'reverseOctetDeltaCount',
  'sourcePodNamespace', 'sourcePodName', 'destinationPodNamespace', 'destinationPodName', 'sourceNodeName', 'destinationNodeName',
  'destinationClusterIP', 'destinationServicePort', 'destinationServicePortName', 'ingressNetworkPolicyName',
  'ingressNetworkPolicyNamespace', 'ingressNetworkPolicyType', 'ingressNetworkPolicyRuleName', 'ingressNetworkPolicyRuleAction',
  'egressNetworkPolicyName', 'egressNetworkPolicyNamespace', 'egressNetworkPolicyType', 'egressNetworkPolicyRuleName',
  'egressNetworkPolicyRuleAction', 'tcpState', 'flowType', 'fromSourceNode', 'fromDestinationNode', 'throughput', 'reverseThroughput',
  'throughputFromSourceNode', 'throughputFromDestinationNode', 'reverseThroughputFromSourceNode', 'reverseThroughputFromDestinationNode',
  'flowEndSecondsFromSourceNode', 'flowEndSecondsFromDestinationNode', 'originalExporterAddress', 'originalObservationDomainId', 'correlated',
];
const COUNTER_KEYS = [
  'packetTotalCount', 'octetTotalCount', 'packetDeltaCount', 'octetDeltaCount',
  'reversePacketTotalCount', 'reverseOctetTotalCount', 'reversePacketDeltaCount', 'reverseOctetDeltaCount',
];

describe('exported records', () => {
  it('are plain objects with their keys in the record order, counters included, and survive JSON unchanged', () => {
    const exported: AggregatedFlowRecord[] = [];
    const agg = new AggregationProcess({
      clock: { now: () => 0 }, activeTimeoutMs: 60_000, inactiveTimeoutMs: 90_000, correlationWaitMs: 10_000, maxFlows: 10,
      onExport: (r) => exported.push(r),
    });
    assert.equal(agg.ingest(fromSourceNode(), NODE_A), true);
    assert.equal(agg.ingest(fromDestinationNode(), NODE_B), true);
    agg.flush();
    assert.equal(exported.length, 1);
    const [r] = exported;
    assert.equal(Object.getPrototypeOf(r), Object.prototype);
    assert.deepEqual(Object.keys(r), KEYS);
    for (const side of [r.fromSourceNode, r.fromDestinationNode]) {
      assert.equal(Object.getPrototypeOf(side), Object.prototype);
      assert.deepEqual(Object.keys(side), COUNTER_KEYS);
    }
    assert.deepEqual(JSON.parse(JSON.stringify(r)), r);
    assert.deepEqual({ ...r }, r);
    assert.equal(r.correlated, true);
    assert.equal(r.packetTotalCount, r.fromSourceNode.packetTotalCount);
  });
});
