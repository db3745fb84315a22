// End to end, as root on the network-namespace testbed (exporters to aggregator over plain TCP
// here; the TLS path is pod-traffic.test.ts's): NetworkPolicy attribution. Connections allowed
// by ingress and egress rules carry the policies' names, types, rule names and action Allow;
// connections the testbed's iptables rules drop or reject (NFLOG before the verdict) carry the
// isolating policy with action Drop or Reject. Each is checked at the aggregator's IPFIX output
// and in the store, with byte counts: the dropped packets only (SYNs, or the datagram).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { E2eCluster, e2eSkipReason } from '../../helpers/e2e-cluster.js';
import { assertSameInBoth, finalFlow } from '../../helpers/e2e-expect.js';
import { FlowEndReason, FlowType, PolicyType, RuleAction } from '../../../src/flow/record.js';
import type { TrafficResult } from '../../../src/testbed/traffic.js';

const skip = e2eSkipReason();
const prefix = `e2eq${process.pid % 100_000}`;

const NONE_INGRESS = { ingressNetworkPolicyName: '', ingressNetworkPolicyNamespace: '', ingressNetworkPolicyType: PolicyType.none, ingressNetworkPolicyRuleName: '', ingressNetworkPolicyRuleAction: RuleAction.none };
const NONE_EGRESS = { egressNetworkPolicyName: '', egressNetworkPolicyNamespace: '', egressNetworkPolicyType: PolicyType.none, egressNetworkPolicyRuleName: '', egressNetworkPolicyRuleAction: RuleAction.none };
const k8s = PolicyType.k8sNetworkPolicy;
/** A TCP SYN with options (MSS, SACK, timestamps, window scale): 20 + 40 bytes over IPv4. */
const SYN_V4 = 60;

describe('end to end: ingress and egress NetworkPolicy allow, drop and reject, with names and rule actions', { skip }, () => {
  let cluster: E2eCluster;
  let results: Map<string, TrafficResult>;

  before(async () => {
    cluster = await E2eCluster.start({ prefix, transport: 'tcp' });
    const list = await cluster.traffic([
      { name: 'allow-both', from: 'frontend/web-2', to: 'backend/api-1', port: 'http', requestBytes: 2_000, responseBytes: 3_000, expect: 'allow' },
      { name: 'allow-egress-ipblock', from: 'frontend/web-1', to: 'external', port: 443, requestBytes: 1_500, responseBytes: 2_500, expect: 'allow' },
      { name: 'ingress-drop', from: 'frontend/probe-1', to: 'backend/api-1', port: 'http', expect: 'drop' },
      { name: 'ingress-reject', from: 'frontend/probe-1', to: 'backend/db-1', port: 'postgres', expect: 'reject' },
      { name: 'egress-drop-udp', from: 'frontend/web-1', to: 'external', protocol: 'UDP', port: 53, requestBytes: 100, expect: 'drop' },
      { name: 'egress-drop-udp-v6', from: 'frontend/web-2', to: 'external', protocol: 'UDP', port: 53, family: 6, requestBytes: 200, expect: 'drop' },
    ]);
    results = new Map(list.map((r) => [r.spec.name, r]));
    for (const r of list) assert.ok(r.asExpected, `${r.spec.name}: expected ${String(r.spec.expect)}, got ${r.verdict}: ${JSON.stringify(r.conversations)}`);
  });

  after(async () => {
    await cluster?.stop();
  });

  const one = (name: string) => results.get(name)!.conversations[0];

  it('names the ingress and egress policies and their rules with action Allow on an allowed inter-node connection', async () => {
    const f = await finalFlow(cluster, 'allow-both', one('allow-both'), { interNode: true, endReason: FlowEndReason.endOfFlow });
    assertSameInBoth('allow-both', f, {
      sourcePodName: 'web-2', destinationPodName: 'api-1', flowType: FlowType.interNode,
      ingressNetworkPolicyName: 'api-allow-web', ingressNetworkPolicyNamespace: 'backend', ingressNetworkPolicyType: k8s, ingressNetworkPolicyRuleName: 'ingress-0', ingressNetworkPolicyRuleAction: RuleAction.allow,
      egressNetworkPolicyName: 'web-egress', egressNetworkPolicyNamespace: 'frontend', egressNetworkPolicyType: k8s, egressNetworkPolicyRuleName: 'egress-0', egressNetworkPolicyRuleAction: RuleAction.allow,
    });
  });

  it('names the egress rule that allows traffic to an ipBlock (the second rule) for Pod-to-External', async () => {
    const f = await finalFlow(cluster, 'allow-egress-ipblock', one('allow-egress-ipblock'), { endReason: FlowEndReason.endOfFlow });
    assertSameInBoth('allow-egress-ipblock', f, {
      sourcePodName: 'web-1', destinationPodName: '', flowType: FlowType.toExternal, ...NONE_INGRESS,
      egressNetworkPolicyName: 'web-egress', egressNetworkPolicyNamespace: 'frontend', egressNetworkPolicyType: k8s, egressNetworkPolicyRuleName: 'egress-1', egressNetworkPolicyRuleAction: RuleAction.allow,
    });
  });

  it('reports an ingress drop with the isolating policy and action Drop, counting only the dropped SYNs', async () => {
    const c = one('ingress-drop');
    assert.notEqual(c.sourcePort, 0);
    const f = await finalFlow(cluster, 'ingress-drop', c);
    assertSameInBoth('ingress-drop', f, {
      sourcePodNamespace: 'frontend', sourcePodName: 'probe-1', destinationPodNamespace: 'backend', destinationPodName: 'api-1',
      sourceNodeName: 'node-1', destinationNodeName: 'node-1', flowType: FlowType.intraNode, tcpState: '',
      ingressNetworkPolicyName: 'api-allow-web', ingressNetworkPolicyNamespace: 'backend', ingressNetworkPolicyType: k8s, ingressNetworkPolicyRuleName: '', ingressNetworkPolicyRuleAction: RuleAction.drop,
      ...NONE_EGRESS,
    });
    for (const got of [f.last, f.row]) {
      const packets = Number(got.packetTotalCount);
      assert.ok(packets >= 1, `at least the first SYN was dropped: ${packets}`);
      assert.deepEqual([got.octetTotalCount, got.reversePacketTotalCount, got.reverseOctetTotalCount], [packets * SYN_V4, 0, 0], 'only SYNs, nothing back');
    }
  });

  it('reports an ingress reject on the other Node, correlated with the source Node\'s view of the refused connection', async () => {
    const c = one('ingress-reject');
    const f = await finalFlow(cluster, 'ingress-reject', c, { interNode: true });
    assertSameInBoth('ingress-reject', f, {
      sourcePodName: 'probe-1', destinationPodNamespace: 'backend', destinationPodName: 'db-1', sourceNodeName: 'node-1', destinationNodeName: 'node-2', flowType: FlowType.interNode,
      ingressNetworkPolicyName: 'db-allow-api', ingressNetworkPolicyNamespace: 'backend', ingressNetworkPolicyType: k8s, ingressNetworkPolicyRuleName: '', ingressNetworkPolicyRuleAction: RuleAction.reject,
      ...NONE_EGRESS,
    });
    // The source Node's conntrack saw the SYN and the RST that answered it; the destination Node
    // logged the one SYN it rejected.
    assert.deepEqual(
      [f.last.packetTotalCountFromSourceNode, f.last.octetTotalCountFromSourceNode, f.last.reversePacketTotalCountFromSourceNode, f.last.reverseOctetTotalCountFromSourceNode],
      [1, SYN_V4, 1, 40],
    );
    assert.deepEqual([f.last.packetTotalCountFromDestinationNode, f.last.octetTotalCountFromDestinationNode, f.last.reversePacketTotalCountFromDestinationNode], [1, SYN_V4, 0]);
    assert.equal(f.row.correlated, 1);
  });

  it('reports egress drops of UDP to the External host over IPv4 and IPv6 with the exact datagram bytes', async () => {
    for (const [name, family, payload, sourcePod, node] of [['egress-drop-udp', 4, 100, 'web-1', 'node-1'], ['egress-drop-udp-v6', 6, 200, 'web-2', 'node-2']] as const) {
      const c = one(name);
      assert.equal(c.datagramsSent, 1);
      const f = await finalFlow(cluster, name, c);
      assertSameInBoth(name, f, {
        sourcePodNamespace: 'frontend', sourcePodName: sourcePod, sourceNodeName: node, destinationPodName: '', destinationNodeName: '', flowType: FlowType.toExternal,
        ...NONE_INGRESS,
        egressNetworkPolicyName: 'web-egress', egressNetworkPolicyNamespace: 'frontend', egressNetworkPolicyType: k8s, egressNetworkPolicyRuleName: '', egressNetworkPolicyRuleAction: RuleAction.drop,
      });
      const wire = payload + (family === 4 ? 28 : 48);
      for (const got of [f.last, f.row]) assert.deepEqual([got.packetTotalCount, got.octetTotalCount, got.reversePacketTotalCount, got.reverseOctetTotalCount], [1, wire, 0, 0], name);
    }
  });

  it('keeps counting: no record was dropped on the way', async () => {
    const m = await cluster.recordMetrics();
    assert.equal(m.recordsDropped, 0, JSON.stringify(m));
    assert.ok((m.recordsReceived as number) > 0);
  });
});
