import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlowBuilder, observationDomainId } from '../../../src/exporter/flow-builder.js';
import { flowTypeOf } from '../../../src/exporter/flow-type.js';
import type { ConnectionExport } from '../../../src/exporter/connection-store.js';
import { FlowEndReason, FlowType, PolicyType, RuleAction } from '../../../src/flow/record.js';
import { entry, type EntrySpec } from './entries.js';
import { FakeMetadata, pod, service } from './fake-metadata.js';

const T0 = 1_700_000_000_000;

function exported(spec: EntrySpec, over: Partial<ConnectionExport> = {}): ConnectionExport {
  return {
    entry: entry(spec),
    flowStartMs: T0,
    flowEndMs: T0 + 2500,
    flowEndReason: FlowEndReason.activeTimeout,
    packetTotalCount: 10,
    octetTotalCount: 1000,
    reversePacketTotalCount: 8,
    reverseOctetTotalCount: 8000,
    packetDeltaCount: 4,
    octetDeltaCount: 400,
    reversePacketDeltaCount: 3,
    reverseOctetDeltaCount: 3000,
    ...over,
  };
}

// node-a runs client (10.10.1.2) and web (10.10.1.3); node-b runs db (10.10.2.5).
const metadata = new FakeMetadata(
  [pod('shop', 'client', 'node-a', '10.10.1.2'), pod('shop', 'web', 'node-a', '10.10.1.3'), pod('shop', 'db', 'node-b', '10.10.2.5')],
  new Map([['10.96.0.10:80', service('shop', 'web', 'http', 80)]]),
  ['10.10.1.0/24', '10.10.2.0/24'],
  new Map([
    [8080, {
      ingress: { name: 'allow-web', namespace: 'shop', type: PolicyType.k8sNetworkPolicy, ruleName: 'ingress-0', action: RuleAction.allow },
      egress: { name: 'deny-out', namespace: 'shop', type: PolicyType.k8sNetworkPolicy, ruleName: '', action: RuleAction.drop },
    }],
  ]),
);
const builder = new FlowBuilder({ nodeName: 'node-a', metadata, podCidrsOverride: [] });

test('copies the tuple, times, reason and counters', () => {
  const r = builder.build(exported({ src: '10.10.1.2', dst: '10.10.1.3', sport: 41000, dport: 8080, protocol: 6, tcpState: 'ESTABLISHED' }));
  assert.equal(r.sourceAddress, '10.10.1.2');
  assert.equal(r.destinationAddress, '10.10.1.3');
  assert.equal(r.sourceTransportPort, 41000);
  assert.equal(r.destinationTransportPort, 8080);
  assert.equal(r.protocolIdentifier, 6);
  assert.equal(r.ipVersion, 4);
  assert.equal(r.flowStartSeconds, 1_700_000_000);
  assert.equal(r.flowEndSeconds, 1_700_000_002);
  assert.equal(r.flowEndReason, FlowEndReason.activeTimeout);
  assert.deepEqual(
    [r.packetTotalCount, r.octetTotalCount, r.packetDeltaCount, r.octetDeltaCount],
    [10, 1000, 4, 400],
  );
  assert.deepEqual(
    [r.reversePacketTotalCount, r.reverseOctetTotalCount, r.reversePacketDeltaCount, r.reverseOctetDeltaCount],
    [8, 8000, 3, 3000],
  );
  assert.equal(r.tcpState, 'ESTABLISHED');
});

test('an intra-node flow names both Pods and this Node on both sides', () => {
  const r = builder.build(exported({ src: '10.10.1.2', dst: '10.10.1.3', dport: 8080 }));
  assert.equal(r.flowType, FlowType.intraNode);
  assert.deepEqual(
    [r.sourcePodNamespace, r.sourcePodName, r.sourceNodeName, r.destinationPodNamespace, r.destinationPodName, r.destinationNodeName],
    ['shop', 'client', 'node-a', 'shop', 'web', 'node-a'],
  );
});

test('an inter-node flow names only the local Pod', () => {
  const r = builder.build(exported({ src: '10.10.1.2', dst: '10.10.2.5', dport: 5432 }));
  assert.equal(r.flowType, FlowType.interNode);
  assert.equal(r.sourcePodName, 'client');
  assert.equal(r.sourceNodeName, 'node-a');
  assert.equal(r.destinationPodName, '');
  assert.equal(r.destinationNodeName, '');
});

test('an address inside the Pod CIDRs but not a known Pod is still the Pod network', () => {
  const r = builder.build(exported({ src: '10.10.2.99', dst: '10.10.1.3', dport: 80 }));
  assert.equal(r.flowType, FlowType.interNode);
  assert.equal(r.sourcePodName, '');
  assert.equal(r.destinationPodName, 'web');
});

test('flows to and from outside the Pod network are to-external and from-external', () => {
  assert.equal(builder.build(exported({ src: '10.10.1.2', dst: '93.184.216.34', dport: 443 })).flowType, FlowType.toExternal);
  assert.equal(builder.build(exported({ src: '192.168.1.50', dst: '10.10.1.3', dport: 80 })).flowType, FlowType.fromExternal);
  assert.equal(builder.build(exported({ src: '192.168.1.50', dst: '192.168.1.51', dport: 80 })).flowType, FlowType.unknown);
});

test('the flowType table', () => {
  assert.equal(flowTypeOf('localPod', 'localPod'), FlowType.intraNode);
  assert.equal(flowTypeOf('localPod', 'remotePod'), FlowType.interNode);
  assert.equal(flowTypeOf('remotePod', 'localPod'), FlowType.interNode);
  assert.equal(flowTypeOf('localPod', 'external'), FlowType.toExternal);
  assert.equal(flowTypeOf('external', 'localPod'), FlowType.fromExternal);
  assert.equal(flowTypeOf('external', 'external'), FlowType.unknown);
});

test('a connection DNAT-ed from a ClusterIP to a Pod carries the Service fields and the Pod as destination', () => {
  const r = builder.build(exported({ src: '10.10.1.2', dst: '10.96.0.10', dport: 80, replySrc: '10.10.1.3', replySport: 8080 }));
  assert.equal(r.destinationAddress, '10.10.1.3');
  assert.equal(r.destinationTransportPort, 8080);
  assert.equal(r.destinationClusterIP, '10.96.0.10');
  assert.equal(r.destinationServicePort, 80);
  assert.equal(r.destinationServicePortName, 'shop/web:http');
  assert.equal(r.destinationPodName, 'web');
  assert.equal(r.flowType, FlowType.intraNode);
});

test('a DNAT to a Pod without a known Service keeps the observed ClusterIP and port but no name', () => {
  const r = builder.build(exported({ src: '10.10.1.2', dst: '10.96.0.99', dport: 81, replySrc: '10.10.1.3', replySport: 8080 }));
  assert.equal(r.destinationClusterIP, '10.96.0.99');
  assert.equal(r.destinationServicePort, 81);
  assert.equal(r.destinationServicePortName, '');
});

test('a connection without DNAT has empty Service fields', () => {
  const r = builder.build(exported({ src: '10.10.1.2', dst: '10.10.1.3', dport: 80 }));
  assert.deepEqual([r.destinationClusterIP, r.destinationServicePort, r.destinationServicePortName], ['', 0, '']);
});

test('policy fields come from the metadata, asked with the post-DNAT destination, the flow start and this Node', () => {
  metadata.queries.length = 0;
  const r = builder.build(exported({ src: '10.10.1.2', dst: '10.96.0.10', dport: 80, replySrc: '10.10.1.3', replySport: 8080 }));
  assert.deepEqual(metadata.queries, [
    { sourceAddress: '10.10.1.2', destinationAddress: '10.10.1.3', protocol: 6, destinationPort: 8080, atMs: T0, localNodeName: 'node-a' },
  ]);
  assert.deepEqual(
    [r.ingressNetworkPolicyName, r.ingressNetworkPolicyNamespace, r.ingressNetworkPolicyType, r.ingressNetworkPolicyRuleName, r.ingressNetworkPolicyRuleAction],
    ['allow-web', 'shop', PolicyType.k8sNetworkPolicy, 'ingress-0', RuleAction.allow],
  );
  assert.deepEqual(
    [r.egressNetworkPolicyName, r.egressNetworkPolicyNamespace, r.egressNetworkPolicyType, r.egressNetworkPolicyRuleName, r.egressNetworkPolicyRuleAction],
    ['deny-out', 'shop', PolicyType.k8sNetworkPolicy, '', RuleAction.drop],
  );
});

test('the Pod that held an IP when the flow started is the one named', () => {
  const md = new FakeMetadata([pod('a', 'old', 'node-a', '10.10.1.7', 0, T0), pod('b', 'new', 'node-a', '10.10.1.7', T0)]);
  const b = new FlowBuilder({ nodeName: 'node-a', metadata: md, podCidrsOverride: [] });
  assert.equal(b.build(exported({ src: '10.10.1.7', dst: '8.8.8.8' }, { flowStartMs: T0 - 1 })).sourcePodName, 'old');
  assert.equal(b.build(exported({ src: '10.10.1.7', dst: '8.8.8.8' }, { flowStartMs: T0 })).sourcePodName, 'new');
});

test('without metadata, the configured Pod CIDRs still decide the flowType and nothing else is invented', () => {
  const b = new FlowBuilder({ nodeName: 'node-a', metadata: null, podCidrsOverride: ['fd00:10::/48'] });
  const r = b.build(exported({ src: 'fd00:10::2', dst: '2001:db8::1', dport: 443, protocol: 17 }));
  assert.equal(r.ipVersion, 6);
  assert.equal(r.flowType, FlowType.toExternal);
  assert.equal(r.sourcePodName, '');
  assert.equal(r.sourceNodeName, '');
  assert.equal(r.tcpState, '');
  assert.equal(r.ingressNetworkPolicyRuleAction, RuleAction.none);
});

test('touchesLocalPod is true only when one end is a Pod of this Node', () => {
  assert.equal(builder.touchesLocalPod(entry({ src: '10.10.1.2', dst: '8.8.8.8' }), T0), true);
  assert.equal(builder.touchesLocalPod(entry({ src: '10.0.0.1', dst: '10.96.0.10', replySrc: '10.10.1.3' }), T0), true);
  assert.equal(builder.touchesLocalPod(entry({ src: '10.10.2.5', dst: '8.8.8.8' }), T0), false);
});

test('the observation domain ID is a stable, non-zero hash of the Node name', () => {
  assert.equal(observationDomainId('node-a'), observationDomainId('node-a'));
  assert.notEqual(observationDomainId('node-a'), observationDomainId('node-b'));
  // FNV-1a 32-bit of "a" is 0xe40c292c (a published test vector).
  assert.equal(observationDomainId('a'), 0xe40c292c);
  assert.ok(observationDomainId('') > 0);
});
