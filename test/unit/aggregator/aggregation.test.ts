import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AggregationProcess, recordProblem, type AggregationOptions } from '../../../src/aggregator/aggregation.js';
import { FlowEndReason, FlowType, RuleAction, type AggregatedFlowRecord } from '../../../src/flow/record.js';
import { ManualClock } from '../../../src/util/clock.js';
import { NODE_A, NODE_B, T0, flowRecord, fromDestinationNode, fromSourceNode } from './fixtures.js';

function setup(options: Partial<AggregationOptions> = {}) {
  const clock = new ManualClock();
  const exported: AggregatedFlowRecord[] = [];
  const agg = new AggregationProcess({
    clock,
    activeTimeoutMs: 60_000,
    inactiveTimeoutMs: 90_000,
    correlationWaitMs: 10_000,
    maxFlows: 1000,
    onExport: (r) => exported.push(r),
    ...options,
  });
  const step = (ms: number) => {
    clock.advance(ms);
    return agg.expire();
  };
  return { clock, agg, exported, step };
}

describe('correlation of inter-node flows', () => {
  for (const order of ['source first', 'destination first'] as const) {
    it(`merges the two halves into one complete record (${order})`, () => {
      const { agg, exported, step } = setup();
      const src = fromSourceNode();
      const dst = fromDestinationNode();
      if (order === 'source first') {
        agg.ingest(src, NODE_A);
        agg.ingest(dst, NODE_B);
      } else {
        agg.ingest(dst, NODE_B);
        agg.ingest(src, NODE_A);
      }
      assert.equal(agg.stats().flowsTracked, 1);
      assert.equal(agg.stats().flowsCorrelated, 1);
      assert.equal(agg.stats().pendingCorrelation, 0);
      step(60_000);
      assert.equal(exported.length, 1);
      const r = exported[0];
      assert.equal(r.correlated, true);
      assert.equal(r.sourcePodName, 'frontend-7d9c8b6f5-abcde');
      assert.equal(r.sourceNodeName, 'node-a');
      assert.equal(r.destinationPodName, 'backend-5f6d7c8b9-xyz12');
      assert.equal(r.destinationNodeName, 'node-b');
      assert.equal(r.ingressNetworkPolicyName, 'allow-frontend');
      assert.equal(r.ingressNetworkPolicyRuleAction, RuleAction.allow);
      assert.equal(r.egressNetworkPolicyName, 'allow-egress');
      assert.equal(r.egressNetworkPolicyRuleName, 'rule-0');
      assert.deepEqual(r.fromSourceNode, {
        packetTotalCount: 100, octetTotalCount: 10_000, packetDeltaCount: 100, octetDeltaCount: 10_000,
        reversePacketTotalCount: 80, reverseOctetTotalCount: 50_000, reversePacketDeltaCount: 80, reverseOctetDeltaCount: 50_000,
      });
      assert.equal(r.fromDestinationNode.packetTotalCount, 98);
      assert.equal(r.fromDestinationNode.octetDeltaCount, 9_800);
      // The record's own counters are the source node's view, not the sum of both.
      assert.equal(r.packetTotalCount, 100);
      assert.equal(r.octetDeltaCount, 10_000);
      assert.equal(r.originalExporterAddress, NODE_A.address);
      assert.equal(r.originalObservationDomainId, NODE_A.observationDomainId);
      assert.equal(r.flowType, FlowType.interNode);
    });
  }

  it('correlates IPv6 flows', () => {
    const { agg, exported, step } = setup();
    const tuple = { sourceAddress: 'fd00:10:10::5', destinationAddress: 'fd00:10:11::7', ipVersion: 6 as const };
    agg.ingest(fromDestinationNode(tuple), { address: 'fd00::b', observationDomainId: 2 });
    agg.ingest(fromSourceNode(tuple), { address: 'fd00::a', observationDomainId: 1 });
    step(60_000);
    assert.equal(exported.length, 1);
    assert.equal(exported[0].ipVersion, 6);
    assert.equal(exported[0].sourceAddress, 'fd00:10:10::5');
    assert.equal(exported[0].correlated, true);
    assert.equal(exported[0].originalExporterAddress, 'fd00::a');
    assert.equal(exported[0].destinationPodName, 'backend-5f6d7c8b9-xyz12');
  });

  it('keeps the service fields from the source node for pod-to-service flows, in either order', () => {
    for (const sourceFirst of [true, false]) {
      const { agg, exported, step } = setup();
      const src = fromSourceNode({ destinationClusterIP: '10.96.0.20', destinationServicePort: 80, destinationServicePortName: 'shop/backend:http' });
      // The destination node sees the Pod IP only; suppose it reports a different Service port name.
      const dst = fromDestinationNode({ destinationServicePortName: 'shop/other:metrics', destinationServicePort: 9090 });
      if (sourceFirst) {
        agg.ingest(src, NODE_A);
        agg.ingest(dst, NODE_B);
      } else {
        agg.ingest(dst, NODE_B);
        agg.ingest(src, NODE_A);
      }
      step(60_000);
      assert.equal(exported[0].destinationClusterIP, '10.96.0.20');
      assert.equal(exported[0].destinationServicePort, 80);
      assert.equal(exported[0].destinationServicePortName, 'shop/backend:http');
    }
  });

  it('exports a half whose partner never comes alone, marked uncorrelated, and merges a late partner', () => {
    const { agg, exported, step } = setup({ activeTimeoutMs: 5_000, correlationWaitMs: 20_000 });
    agg.ingest(fromSourceNode(), NODE_A);
    assert.equal(agg.stats().pendingCorrelation, 1);
    step(5_000);
    step(5_000);
    step(5_000);
    assert.equal(exported.length, 0, 'waits for the partner until correlationWait');
    step(5_000);
    assert.equal(exported.length, 1);
    assert.equal(exported[0].correlated, false);
    assert.equal(exported[0].destinationPodName, '');
    assert.equal(agg.stats().uncorrelatedExported, 1);
    assert.equal(agg.stats().flowsTracked, 1, 'the half stays tracked after its lone export');

    agg.ingest(fromDestinationNode({ flowEndSeconds: T0 + 20 }), NODE_B);
    assert.equal(agg.stats().pendingCorrelation, 0);
    step(5_000);
    assert.equal(exported.length, 2);
    assert.equal(exported[1].correlated, true);
    assert.equal(exported[1].destinationPodName, 'backend-5f6d7c8b9-xyz12');
  });

  it('exports an uncorrelated half on the inactive timeout rather than deleting it', () => {
    const { agg, exported, step } = setup({ activeTimeoutMs: 60_000, inactiveTimeoutMs: 15_000, correlationWaitMs: 30_000 });
    agg.ingest(fromDestinationNode(), NODE_B);
    step(15_000);
    assert.equal(exported.length, 1);
    assert.equal(exported[0].correlated, false);
    assert.equal(agg.stats().flowsTracked, 0);
    assert.equal(agg.stats().pendingCorrelation, 0);
    assert.equal(agg.stats().inactiveExpired, 1);
  });
});

describe('flows that need one record', () => {
  it('exports intra-node flows at the active timeout without waiting for correlation', () => {
    const { agg, exported, step } = setup({ activeTimeoutMs: 10_000, correlationWaitMs: 30_000 });
    agg.ingest(flowRecord({ flowType: FlowType.intraNode, sourcePodName: 'a', destinationPodName: 'b', sourceNodeName: 'n', destinationNodeName: 'n' }), NODE_A);
    agg.ingest(fromSourceNode({ sourceTransportPort: 5 }), NODE_A);
    step(10_000);
    assert.equal(exported.length, 1);
    assert.equal(exported[0].flowType, FlowType.intraNode);
    assert.equal(exported[0].correlated, true);
    assert.equal(exported[0].destinationPodName, 'b');
    // One node saw both ends: both sides carry its counters.
    assert.equal(exported[0].fromSourceNode.packetTotalCount, 100);
    assert.equal(exported[0].fromDestinationNode.packetTotalCount, 100);
    assert.equal(agg.stats().pendingCorrelation, 1);
  });

  it('exports pod-to-external flows at once with source-node counters only', () => {
    const { agg, exported, step } = setup();
    agg.ingest(fromSourceNode({ destinationAddress: '8.8.8.8', destinationTransportPort: 443, flowType: FlowType.toExternal }), NODE_A);
    assert.equal(agg.stats().pendingCorrelation, 0);
    step(60_000);
    assert.equal(exported.length, 1);
    assert.equal(exported[0].correlated, true);
    assert.equal(exported[0].destinationAddress, '8.8.8.8');
    assert.equal(exported[0].fromSourceNode.octetTotalCount, 10_000);
    assert.equal(exported[0].fromDestinationNode.octetTotalCount, 0);
    assert.equal(exported[0].throughputFromDestinationNode, 0);
  });

  it('exports denied inter-node flows without waiting for a partner', () => {
    const { agg, exported, step } = setup({ activeTimeoutMs: 1_000, correlationWaitMs: 60_000 });
    agg.ingest(fromDestinationNode({ ingressNetworkPolicyRuleAction: RuleAction.drop, reversePacketTotalCount: 0 }), NODE_B);
    agg.ingest(fromSourceNode({ sourceTransportPort: 1, egressNetworkPolicyRuleAction: RuleAction.reject }), NODE_A);
    assert.equal(agg.stats().pendingCorrelation, 0);
    step(1_000);
    assert.equal(exported.length, 2);
    assert.ok(exported.every((r) => r.correlated));
    const ingress = exported.find((r) => r.ingressNetworkPolicyRuleAction === RuleAction.drop);
    assert.ok(ingress);
    assert.equal(ingress.destinationPodName, 'backend-5f6d7c8b9-xyz12');
  });
});

describe('aggregation of counters and timestamps', () => {
  it('overwrites totals, accumulates deltas until the export, then resets them', () => {
    const { agg, exported, step } = setup();
    agg.ingest(fromSourceNode({ flowType: FlowType.toExternal, packetTotalCount: 10, packetDeltaCount: 10, octetTotalCount: 1000, octetDeltaCount: 1000 }), NODE_A);
    agg.ingest(fromSourceNode({ flowType: FlowType.toExternal, packetTotalCount: 25, packetDeltaCount: 15, octetTotalCount: 2500, octetDeltaCount: 1500 }), NODE_A);
    step(60_000);
    assert.equal(exported[0].fromSourceNode.packetTotalCount, 25);
    assert.equal(exported[0].fromSourceNode.packetDeltaCount, 25);
    assert.equal(exported[0].packetDeltaCount, 25);
    agg.ingest(fromSourceNode({ flowType: FlowType.toExternal, packetTotalCount: 30, packetDeltaCount: 5, octetTotalCount: 3000, octetDeltaCount: 500 }), NODE_A);
    step(60_000);
    assert.equal(exported[1].fromSourceNode.packetTotalCount, 30);
    assert.equal(exported[1].fromSourceNode.packetDeltaCount, 5);
    assert.equal(exported[1].octetDeltaCount, 500);
    step(20_000);
    assert.equal(agg.stats().flowsTracked, 1);
    agg.ingest(fromSourceNode({ flowType: FlowType.toExternal, packetTotalCount: 30, packetDeltaCount: 0, octetTotalCount: 3000, octetDeltaCount: 0 }), NODE_A);
    step(40_000);
    assert.equal(exported.length, 3, 'updated without new packets: exported again with zero deltas');
    assert.equal(exported[2].packetDeltaCount, 0);
    assert.equal(exported[2].fromSourceNode.octetDeltaCount, 0);
  });

  it('keeps the earliest start, the latest end and the latest flowEndReason and tcpState', () => {
    const { agg, exported, step } = setup();
    agg.ingest(fromSourceNode({ flowStartSeconds: T0 + 2, flowEndSeconds: T0 + 30, flowEndReason: FlowEndReason.endOfFlow, tcpState: 'TIME_WAIT' }), NODE_A);
    agg.ingest(fromDestinationNode({ flowStartSeconds: T0, flowEndSeconds: T0 + 20, flowEndReason: FlowEndReason.activeTimeout, tcpState: 'ESTABLISHED' }), NODE_B);
    step(60_000);
    assert.equal(exported[0].flowStartSeconds, T0);
    assert.equal(exported[0].flowEndSeconds, T0 + 30);
    assert.equal(exported[0].flowEndReason, FlowEndReason.endOfFlow);
    assert.equal(exported[0].tcpState, 'TIME_WAIT');
    assert.equal(exported[0].flowEndSecondsFromSourceNode, T0 + 30);
    assert.equal(exported[0].flowEndSecondsFromDestinationNode, T0 + 20);
  });

  it('computes throughput in bits/s per side and overall since the previous export', () => {
    const { agg, exported, step } = setup();
    agg.ingest(fromSourceNode({ flowStartSeconds: T0, flowEndSeconds: T0 + 10, octetTotalCount: 10_000, reverseOctetTotalCount: 50_000 }), NODE_A);
    agg.ingest(fromDestinationNode({ flowStartSeconds: T0, flowEndSeconds: T0 + 8, octetTotalCount: 8_000, reverseOctetTotalCount: 40_000 }), NODE_B);
    step(60_000);
    let r = exported[0];
    assert.equal(r.throughputFromSourceNode, 8_000); // 10,000 B * 8 / 10 s
    assert.equal(r.reverseThroughputFromSourceNode, 40_000);
    assert.equal(r.throughputFromDestinationNode, 8_000); // 8,000 B * 8 / 8 s
    assert.equal(r.reverseThroughputFromDestinationNode, 40_000);
    assert.equal(r.throughput, r.throughputFromSourceNode);
    agg.ingest(fromSourceNode({ flowStartSeconds: T0, flowEndSeconds: T0 + 20, octetTotalCount: 30_000, reverseOctetTotalCount: 50_000 }), NODE_A);
    step(60_000);
    r = exported[1];
    assert.equal(r.throughputFromSourceNode, 16_000); // 20,000 B * 8 / 10 s
    assert.equal(r.reverseThroughputFromSourceNode, 0);
    assert.equal(r.throughputFromDestinationNode, 0, 'no new bytes from the destination node');
  });

  it('recomputes deltas from totals after an exporter restart that repeats the whole total as a delta', () => {
    const { agg, exported, step } = setup();
    agg.ingest(fromSourceNode({ flowType: FlowType.toExternal, packetTotalCount: 100, packetDeltaCount: 100 }), NODE_A);
    step(60_000);
    // The restarted exporter has no memory of what it sent: its delta is the whole total.
    agg.ingest(fromSourceNode({ flowType: FlowType.toExternal, packetTotalCount: 120, packetDeltaCount: 120 }), NODE_A);
    step(60_000);
    assert.equal(exported[1].packetTotalCount, 120);
    assert.equal(exported[1].packetDeltaCount, 20);
    assert.equal(agg.stats().counterResets, 0);
  });

  it('treats totals that go down as a new connection: the old flow is exported, a new one starts', () => {
    const { agg, exported, step } = setup();
    agg.ingest(fromSourceNode({ flowType: FlowType.toExternal, packetTotalCount: 100, packetDeltaCount: 100 }), NODE_A);
    agg.ingest(fromSourceNode({ flowType: FlowType.toExternal, packetTotalCount: 3, packetDeltaCount: 3, flowStartSeconds: T0 + 50, flowEndSeconds: T0 + 51 }), NODE_A);
    assert.equal(agg.stats().counterResets, 1);
    assert.equal(exported.length, 1);
    assert.equal(exported[0].packetTotalCount, 100);
    assert.equal(exported[0].packetDeltaCount, 100);
    step(60_000);
    assert.equal(exported.length, 2);
    assert.equal(exported[1].packetTotalCount, 3);
    assert.equal(exported[1].packetDeltaCount, 3);
    assert.equal(exported[1].flowStartSeconds, T0 + 50);
  });
});

describe('exporter restarts: deltas add up to the final total', () => {
  /** Sum of the source side's exported packet and octet deltas. */
  function sums(exported: AggregatedFlowRecord[], side: 'fromSourceNode' | 'fromDestinationNode') {
    let packets = 0;
    let octets = 0;
    for (const r of exported) {
      packets += r[side].packetDeltaCount;
      octets += r[side].octetDeltaCount;
    }
    return { packets, octets };
  }
  const counters = (packets: number, octets: number, deltaPackets: number, deltaOctets: number) => ({
    packetTotalCount: packets, octetTotalCount: octets, packetDeltaCount: deltaPackets, octetDeltaCount: deltaOctets,
    reversePacketTotalCount: 0, reverseOctetTotalCount: 0, reversePacketDeltaCount: 0, reverseOctetDeltaCount: 0,
  });

  it('does not re-count when the restarted source exporter first reports zero counters with the same start', () => {
    const { agg, exported, step } = setup();
    agg.ingest(fromSourceNode(counters(500, 65_840, 500, 65_840)), NODE_A);
    agg.ingest(fromDestinationNode(counters(490, 65_000, 490, 65_000)), NODE_B);
    step(60_000);
    agg.ingest(fromSourceNode({ ...counters(540, 70_892, 40, 5_052), flowEndSeconds: T0 + 70 }), NODE_A);
    step(60_000);
    // The exporter restarts: it knows the connection again but has no counters for it yet.
    agg.ingest(fromSourceNode({ ...counters(0, 0, 0, 0), flowEndSeconds: T0 + 130 }), NODE_A);
    assert.equal(agg.stats().counterResets, 0, 'same flowStartSeconds: not a new connection');
    assert.equal(agg.stats().staleRecords, 1);
    assert.equal(agg.stats().flowsTracked, 1);
    step(60_000);
    agg.ingest(fromSourceNode({ ...counters(900, 121_516, 900, 121_516), flowEndSeconds: T0 + 190 }), NODE_A);
    step(60_000);
    const last = exported[exported.length - 1];
    assert.equal(last.fromSourceNode.octetTotalCount, 121_516);
    assert.equal(last.fromSourceNode.octetDeltaCount, 121_516 - 70_892);
    assert.deepEqual(sums(exported, 'fromSourceNode'), { packets: 900, octets: 121_516 });
    assert.deepEqual(sums(exported, 'fromDestinationNode'), { packets: 490, octets: 65_000 });
    assert.equal(exported.reduce((n, r) => n + r.octetDeltaCount, 0), 121_516, 'the record\'s own deltas are the source side\'s');
  });

  it('keeps the higher total while a restarted exporter reports less than before', () => {
    const { agg, exported, step } = setup();
    agg.ingest(fromSourceNode({ ...counters(100, 10_000, 100, 10_000), flowType: FlowType.toExternal }), NODE_A);
    agg.ingest(fromSourceNode({ ...counters(40, 4_000, 40, 4_000), flowType: FlowType.toExternal }), NODE_A);
    step(60_000);
    assert.equal(exported.length, 1);
    assert.equal(exported[0].packetTotalCount, 100);
    assert.equal(exported[0].packetDeltaCount, 100);
    agg.ingest(fromSourceNode({ ...counters(130, 13_000, 90, 9_000), flowType: FlowType.toExternal }), NODE_A);
    step(60_000);
    assert.equal(exported[1].packetTotalCount, 130);
    assert.equal(exported[1].packetDeltaCount, 30);
    assert.deepEqual(sums(exported, 'fromSourceNode'), { packets: 130, octets: 13_000 });
  });

  it('does not re-count when the restarted exporter first reports the full total as its delta', () => {
    const { agg, exported, step } = setup();
    agg.ingest(fromDestinationNode(counters(300, 30_000, 300, 30_000)), NODE_B);
    agg.ingest(fromSourceNode(counters(310, 31_000, 310, 31_000)), NODE_A);
    step(60_000);
    // Both exporters restart; each sends its whole total as the delta.
    agg.ingest(fromSourceNode(counters(400, 40_000, 400, 40_000)), NODE_A);
    agg.ingest(fromDestinationNode(counters(390, 39_000, 390, 39_000)), NODE_B);
    step(60_000);
    agg.ingest(fromSourceNode(counters(450, 45_000, 50, 5_000)), NODE_A);
    step(60_000);
    assert.equal(agg.stats().counterResets, 0);
    assert.equal(agg.stats().staleRecords, 0);
    assert.deepEqual(sums(exported, 'fromSourceNode'), { packets: 450, octets: 45_000 });
    assert.deepEqual(sums(exported, 'fromDestinationNode'), { packets: 390, octets: 39_000 });
  });

  it('counts an intra-node restart with zero counters once, on both sides', () => {
    const { agg, exported, step } = setup();
    const intra = { flowType: FlowType.intraNode, sourcePodName: 'a', destinationPodName: 'b' };
    agg.ingest(flowRecord({ ...intra, ...counters(10, 1_000, 10, 1_000) }), NODE_A);
    step(60_000);
    agg.ingest(flowRecord({ ...intra, ...counters(0, 0, 0, 0) }), NODE_A);
    agg.ingest(flowRecord({ ...intra, ...counters(25, 2_500, 25, 2_500) }), NODE_A);
    step(60_000);
    assert.equal(agg.stats().counterResets, 0);
    assert.deepEqual(sums(exported, 'fromSourceNode'), { packets: 25, octets: 2_500 });
    assert.deepEqual(sums(exported, 'fromDestinationNode'), { packets: 25, octets: 2_500 });
  });

  it('still starts a new flow when the totals go down with a new flowStartSeconds on that side', () => {
    const { agg, exported } = setup();
    agg.ingest(fromDestinationNode({ ...counters(50, 5_000, 50, 5_000), flowStartSeconds: T0 + 1 }), NODE_B);
    agg.ingest(fromSourceNode(counters(60, 6_000, 60, 6_000)), NODE_A);
    // The destination node's clock says T0 + 1 for the same connection: lower totals there are stale.
    agg.ingest(fromDestinationNode({ ...counters(0, 0, 0, 0), flowStartSeconds: T0 + 1 }), NODE_B);
    assert.equal(agg.stats().counterResets, 0);
    agg.ingest(fromSourceNode({ ...counters(2, 200, 2, 200), flowStartSeconds: T0 + 300, flowEndSeconds: T0 + 301 }), NODE_A);
    assert.equal(agg.stats().counterResets, 1);
    assert.equal(exported.length, 1);
    assert.equal(exported[0].fromSourceNode.packetDeltaCount, 60);
    assert.equal(exported[0].fromDestinationNode.packetDeltaCount, 50);
  });
});

describe('timeouts and bounds', () => {
  it('forgets a flow after the inactive timeout without exporting it twice', () => {
    const { agg, exported, step } = setup({ activeTimeoutMs: 10_000, inactiveTimeoutMs: 25_000 });
    agg.ingest(flowRecord({ flowType: FlowType.intraNode }), NODE_A);
    step(10_000);
    assert.equal(exported.length, 1);
    step(10_000);
    assert.equal(exported.length, 1, 'nothing new at the second active timeout: no empty export');
    step(5_000);
    assert.equal(agg.stats().flowsTracked, 0);
    assert.equal(exported.length, 1, 'nothing new since the last export');
    assert.equal(agg.stats().inactiveExpired, 1);
  });

  it('evicts the flow with the earliest deadline when the table is full, exporting it and counting it', () => {
    const { agg, exported, clock } = setup({ maxFlows: 3 });
    for (let port = 1; port <= 5; port++) {
      agg.ingest(flowRecord({ flowType: FlowType.intraNode, sourceTransportPort: port }), NODE_A);
      clock.advance(1);
    }
    const st = agg.stats();
    assert.equal(st.flowsTracked, 3);
    assert.equal(st.evictions, 2);
    assert.deepEqual(exported.map((r) => r.sourceTransportPort), [1, 2]);
    assert.ok(exported.every((r) => r.flowEndReason === FlowEndReason.lackOfResources));
  });

  it('counts invalid records and keeps going', () => {
    const { agg } = setup();
    assert.equal(agg.ingest(flowRecord({ sourceTransportPort: 70000 }), NODE_A), false);
    assert.equal(agg.ingest(flowRecord({ sourceAddress: '' }), NODE_A), false);
    assert.equal(agg.ingest(flowRecord({ packetTotalCount: -1 }), NODE_A), false);
    assert.equal(agg.ingest(flowRecord(), NODE_A), true);
    assert.equal(agg.stats().recordsInvalid, 3);
    assert.equal(agg.stats().recordsReceived, 4);
    assert.equal(agg.stats().flowsTracked, 1);
  });

  it('refuses an IPv4 record whose address is not a dotted quad, with a reason', () => {
    const { agg } = setup();
    const bad = [
      flowRecord({ sourceAddress: 'fd00::1' }),
      flowRecord({ destinationAddress: '10.1.2.300' }),
      flowRecord({ ipVersion: 5 as 4 }),
    ];
    for (const r of bad) assert.equal(agg.ingest(r, NODE_A), false);
    assert.match(recordProblem(bad[0]), /sourceAddress is not an IPv4 address/);
    assert.match(recordProblem(bad[1]), /destinationAddress is not an IPv4 address/);
    assert.match(recordProblem(bad[2]), /ipVersion/);
    assert.equal(recordProblem(flowRecord()), '');
    assert.equal(agg.stats().recordsInvalid, 3);
    assert.equal(agg.stats().flowsTracked, 0);
  });

  it('flush exports everything unsent and empties the table', () => {
    const { agg, exported } = setup();
    agg.ingest(fromSourceNode(), NODE_A);
    agg.ingest(flowRecord({ flowType: FlowType.intraNode, sourceTransportPort: 9 }), NODE_A);
    assert.equal(agg.flush(), 2);
    assert.equal(exported.length, 2);
    assert.equal(agg.stats().flowsTracked, 0);
    assert.equal(agg.stats().pendingCorrelation, 0);
  });

  it('lists the current view of tracked flows through records()', () => {
    const { agg } = setup();
    agg.ingest(fromSourceNode(), NODE_A);
    agg.ingest(flowRecord({ flowType: FlowType.intraNode, sourceTransportPort: 9 }), NODE_A);
    const found = agg.records((r) => r.sourcePodName === 'frontend-7d9c8b6f5-abcde');
    assert.equal(found.length, 1);
    assert.equal(found[0].correlated, false);
    assert.equal(agg.records(undefined, 1).length, 1);
  });
});

describe('flush in chunks', () => {
  it('exports at most the limit per call and forgets the flows only after the last chunk', () => {
    const { agg, exported } = setup();
    for (let port = 1; port <= 5; port++) agg.ingest(flowRecord({ flowType: FlowType.intraNode, sourceTransportPort: port }), NODE_A);
    assert.equal(agg.flush(2), 2);
    assert.equal(agg.stats().flowsTracked, 5);
    assert.equal(agg.flush(2), 2);
    assert.equal(agg.flush(2), 1);
    assert.equal(agg.stats().flowsTracked, 0);
    assert.deepEqual(exported.map((r) => r.sourceTransportPort).sort(), [1, 2, 3, 4, 5]);
    assert.equal(agg.flush(2), 0);
  });

  it('exports a record ingested between chunks, also into a flow already exported, before forgetting', () => {
    const { agg, exported } = setup();
    for (let port = 1; port <= 4; port++) agg.ingest(flowRecord({ flowType: FlowType.intraNode, sourceTransportPort: port }), NODE_A);
    assert.equal(agg.flush(2), 2);
    const first = exported[0].sourceTransportPort;
    agg.ingest(flowRecord({ flowType: FlowType.intraNode, sourceTransportPort: first, packetTotalCount: 150, flowEndSeconds: T0 + 20 }), NODE_A);
    agg.ingest(flowRecord({ flowType: FlowType.intraNode, sourceTransportPort: 99 }), NODE_A);
    while (agg.flush(2) === 2);
    assert.equal(agg.stats().flowsTracked, 0);
    assert.deepEqual(exported.map((r) => r.sourceTransportPort).sort((a, b) => a - b), [1, 2, 3, 4, first, 99].sort((a, b) => a - b));
    const again = exported.filter((r) => r.sourceTransportPort === first);
    assert.deepEqual(again.map((r) => r.packetDeltaCount), [100, 50]);
  });

  it('a new flow after a flush starts afresh in the cleared table', () => {
    const { agg, exported, step } = setup();
    agg.ingest(fromSourceNode(), NODE_A);
    agg.flush();
    agg.ingest(fromDestinationNode(), NODE_B);
    assert.equal(agg.stats().flowsTracked, 1);
    assert.equal(agg.stats().pendingCorrelation, 1);
    step(60_000);
    assert.equal(exported.length, 2);
    assert.equal(exported[1].destinationPodName, 'backend-5f6d7c8b9-xyz12');
    assert.equal(exported[1].sourcePodName, '');
    assert.equal(exported[1].packetDeltaCount, 98);
  });
});
