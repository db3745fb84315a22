// End to end, as root on the network-namespace testbed, with TLS between the exporters and the
// aggregator (the product's default): Pod traffic within a Node, across Nodes, to a Service, to
// the External host, over IPv4, IPv6 and both at once, and short-lived connections. Every flow
// is checked at two places, the aggregator's IPFIX output (a collector of this test) and the
// store (its HTTP API): exact fields, and byte counts equal to the application bytes plus one
// IP + transport header per packet.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { E2eCluster, e2eSkipReason, tupleOf } from '../../helpers/e2e-cluster.js';
import { assertCounters, assertSameInBoth, finalFlow } from '../../helpers/e2e-expect.js';
import { findTool } from '../../../src/testbed/system.js';
import { FlowType, RuleAction, PolicyType } from '../../../src/flow/record.js';
import type { TrafficResult } from '../../../src/testbed/traffic.js';

const skip = e2eSkipReason();
const prefix = `e2ep${process.pid % 100_000}`;

/** Pod IPs of the default topology (allocated from .10 / ::a per Node, in order). */
const IP = {
  'web-1': { 4: '10.10.1.10', 6: 'fd00:10:1::a' },
  'api-1': { 4: '10.10.1.12', 6: 'fd00:10:1::c' },
  'web-2': { 4: '10.10.2.10', 6: 'fd00:10:2::a' },
  'api-2': { 4: '10.10.2.11', 6: 'fd00:10:2::b' },
} as const;

/** The policies that allow this traffic (policies.yaml of the default topology). */
const ALLOWED_BY_BOTH = {
  ingressNetworkPolicyName: 'api-allow-web',
  ingressNetworkPolicyNamespace: 'backend',
  ingressNetworkPolicyType: PolicyType.k8sNetworkPolicy,
  ingressNetworkPolicyRuleAction: RuleAction.allow,
  egressNetworkPolicyName: 'web-egress',
  egressNetworkPolicyNamespace: 'frontend',
  egressNetworkPolicyType: PolicyType.k8sNetworkPolicy,
  egressNetworkPolicyRuleAction: RuleAction.allow,
};

const NO_SERVICE = { destinationServicePort: 0, destinationServicePortName: '' };

describe('end to end over TLS: Pod, Service, External, IPv6 and short-lived flows reach the collector and the store', { skip }, () => {
  let cluster: E2eCluster;
  let results: Map<string, TrafficResult>;
  let capture: ChildProcess | null = null;
  let captureFile = '';
  const canCapture = findTool('tcpdump') && findTool('tshark');

  before(async () => {
    cluster = await E2eCluster.start({ prefix, transport: 'tls' });
    if (canCapture) {
      captureFile = join(cluster.workDir, 'exporters-to-aggregator.pcap');
      capture = spawn('ip', ['netns', 'exec', cluster.tb.names.aggregator, 'tcpdump', '-i', 'eth0', '-U', '-n', '-w', captureFile, 'tcp port 4739'], { stdio: 'ignore' });
    }
    // Every scenario's traffic at once; each test then waits for its own flows.
    const specs = [
      { name: 'intra-node', from: 'frontend/web-1', to: 'backend/api-1', port: 'http', requestBytes: 20_000, responseBytes: 80_000 },
      { name: 'inter-node', from: 'frontend/web-1', to: 'backend/api-2', port: 'http', requestBytes: 30_000, responseBytes: 70_000 },
      { name: 'service-tcp', from: 'frontend/web-2', to: 'service:backend/api', port: 'http', requestBytes: 5_000, responseBytes: 25_000 },
      { name: 'service-udp-v6', from: 'frontend/web-1', to: 'service:backend/api', protocol: 'UDP' as const, port: 'stats', family: 6 as const, datagrams: 4, requestBytes: 300, responseBytes: 200 },
      { name: 'external', from: 'frontend/web-1', to: 'external', port: 443, requestBytes: 3_000, responseBytes: 9_000 },
      { name: 'inter-node-v6', from: 'frontend/web-2', to: 'backend/api-1', port: 'http', family: 6 as const, requestBytes: 30_000, responseBytes: 10_000 },
      { name: 'dual-v4', from: 'frontend/web-2', to: 'backend/api-2', port: 'http', family: 4 as const, requestBytes: 4_000, responseBytes: 6_000 },
      { name: 'dual-v6', from: 'frontend/web-2', to: 'backend/api-2', port: 'http', family: 6 as const, requestBytes: 7_000, responseBytes: 3_000 },
      { name: 'short-lived', from: 'frontend/web-1', to: 'backend/api-2', port: 'http', connections: 5, requestBytes: 500, responseBytes: 1_500 },
    ];
    const list = await cluster.traffic(specs);
    results = new Map(list.map((r) => [r.spec.name, r]));
    for (const r of list) assert.equal(r.verdict, 'allow', `${r.spec.name}: ${JSON.stringify(r.conversations)}`);
  });

  after(async () => {
    capture?.kill('SIGKILL');
    await cluster?.stop();
  });

  const one = (name: string) => results.get(name)!.conversations[0];

  it('exports an intra-node flow with both Pods, one Node, both policies and the exact bytes', async () => {
    const c = one('intra-node');
    const t = tupleOf(c, cluster.topology);
    assert.deepEqual([t.sourceAddress, t.destinationAddress, t.destinationPort], [IP['web-1'][4], IP['api-1'][4], 8080]);
    const f = await finalFlow(cluster, 'intra-node', c, { endReason: 3 });
    assertSameInBoth('intra-node', f, {
      sourcePodNamespace: 'frontend', sourcePodName: 'web-1', sourceNodeName: 'node-1',
      destinationPodNamespace: 'backend', destinationPodName: 'api-1', destinationNodeName: 'node-1',
      flowType: FlowType.intraNode, flowEndReason: 3, destinationClusterIP: '0.0.0.0', ...NO_SERVICE, ...ALLOWED_BY_BOTH,
    });
    assert.equal(f.last.flowEndReason, 3);
    assert.equal(f.ipfix[0].templateId, f.ipfix[f.ipfix.length - 1].templateId);
      });

  it('correlates an inter-node flow into one record with both Nodes\' statistics', async () => {
    const c = one('inter-node');
    const t = tupleOf(c, cluster.topology);
    const f = await finalFlow(cluster, 'inter-node', c, { interNode: true, endReason: 3 });
    assertSameInBoth('inter-node', f, {
      sourcePodNamespace: 'frontend', sourcePodName: 'web-1', sourceNodeName: 'node-1',
      destinationPodNamespace: 'backend', destinationPodName: 'api-2', destinationNodeName: 'node-2',
      flowType: FlowType.interNode, flowEndReason: 3, destinationClusterIP: '0.0.0.0', ...NO_SERVICE, ...ALLOWED_BY_BOTH,
    });
    // Both Nodes counted the same packets; the record's own counters are the source Node's.
    for (const side of ['FromSourceNode', 'FromDestinationNode']) assertCounters(`inter-node ${side}`, (k) => f.last[k], t, f.app, side);
    for (const k of ['packetTotalCount', 'octetTotalCount', 'reversePacketTotalCount', 'reverseOctetTotalCount']) {
      assert.equal(f.last[`${k}FromSourceNode`], f.last[`${k}FromDestinationNode`], `${k}: both Nodes saw the same packets`);
      assert.equal(f.last[k], f.last[`${k}FromSourceNode`], `${k} is the source Node's`);
    }
    assert.ok(Number(f.last.flowEndSecondsFromSourceNode) > 0 && Number(f.last.flowEndSecondsFromDestinationNode) > 0);
    assert.equal(f.last.originalExporterIPv4Address, cluster.topology.nodes[0].underlayIps[4], 'the source Node exported it');
    assert.equal(f.row.correlated, 1);
    assert.ok(Number(f.row.flowEndSecondsFromSourceNode) > 0 && Number(f.row.flowEndSecondsFromDestinationNode) > 0);
    assert.equal(f.row.originalExporterAddress, cluster.topology.nodes[0].underlayIps[4]);
  });

  it('names the Service, its ClusterIP and port for Pod-to-Service traffic over TCP and UDP/IPv6', async () => {
    const svc = cluster.topology.services.find((s) => s.id === 'backend/api')!;
    for (const [name, family, servicePort, portName, targetPort] of [['service-tcp', 4, 80, 'backend/api:http', 8080], ['service-udp-v6', 6, 9000, 'backend/api:stats', 9000]] as const) {
      const c = one(name);
      const t = tupleOf(c, cluster.topology);
      const endpoint = c.servedBy!.split('/')[1] as 'api-1' | 'api-2';
      assert.ok(endpoint === 'api-1' || endpoint === 'api-2', `${name}: served by ${String(c.servedBy)}`);
      assert.deepEqual([c.destinationAddress, t.destinationAddress, t.destinationPort], [svc.clusterIPs[family], IP[endpoint][family], targetPort], `${name}: the exporters report the endpoint after DNAT`);
      const sourceNode = name === 'service-tcp' ? 'node-2' : 'node-1';
      const endpointNode = endpoint === 'api-1' ? 'node-1' : 'node-2';
      const interNode = sourceNode !== endpointNode;
      const f = await finalFlow(cluster, name, c, { interNode });
      assertSameInBoth(name, f, {
        sourcePodNamespace: 'frontend', sourcePodName: name === 'service-tcp' ? 'web-2' : 'web-1', sourceNodeName: sourceNode,
        destinationPodNamespace: 'backend', destinationPodName: endpoint, destinationNodeName: endpointNode,
        flowType: interNode ? FlowType.interNode : FlowType.intraNode,
        destinationClusterIP: svc.clusterIPs[family]!, destinationServicePort: servicePort, destinationServicePortName: portName,
        ...ALLOWED_BY_BOTH,
      });
      if (c.protocol === 'UDP') {
        // UDP: one packet per datagram, each with exactly one IPv6 + UDP header.
        assert.deepEqual([f.last.packetTotalCount, f.last.octetTotalCount, f.last.reversePacketTotalCount, f.last.reverseOctetTotalCount], [4, 4 * (300 + 48), 4, 4 * (200 + 48)]);
        assert.deepEqual([f.row.packetTotalCount, f.row.octetTotalCount, f.row.reversePacketTotalCount, f.row.reverseOctetTotalCount], [4, 4 * (300 + 48), 4, 4 * (200 + 48)]);
        assert.equal(f.last.tcpState, '');
      }
    }
  });

  it('exports Pod-to-External traffic as flowType 3 with the egress policy and the pre-SNAT source', async () => {
    const c = one('external');
    const t = tupleOf(c, cluster.topology);
    assert.equal(c.peerSeenAs!.address, cluster.topology.nodes[0].underlayIps[4], 'the External host saw the Node (SNAT)');
    assert.deepEqual([t.sourceAddress, t.destinationAddress, t.destinationPort], [IP['web-1'][4], cluster.topology.external.ips[4], 443]);
    const f = await finalFlow(cluster, 'external', c, { endReason: 3 });
    assertSameInBoth('external', f, {
      sourcePodNamespace: 'frontend', sourcePodName: 'web-1', sourceNodeName: 'node-1',
      destinationPodNamespace: '', destinationPodName: '', destinationNodeName: '',
      flowType: FlowType.toExternal, flowEndReason: 3, destinationClusterIP: '0.0.0.0', ...NO_SERVICE,
      ingressNetworkPolicyName: '', ingressNetworkPolicyRuleAction: RuleAction.none,
      egressNetworkPolicyName: 'web-egress', egressNetworkPolicyNamespace: 'frontend', egressNetworkPolicyRuleAction: RuleAction.allow,
    });
  });

  it('exports IPv6 inter-node flows, and the same Pods over IPv4 and IPv6 at once as two flows (dual stack)', async () => {
    const v6 = one('inter-node-v6');
    const t6 = tupleOf(v6, cluster.topology);
    assert.deepEqual([t6.sourceAddress, t6.destinationAddress], [IP['web-2'][6], IP['api-1'][6]]);
    const f6 = await finalFlow(cluster, 'inter-node-v6', v6, { interNode: true, endReason: 3 });
    assertSameInBoth('inter-node-v6', f6, {
      sourcePodName: 'web-2', sourceNodeName: 'node-2', destinationPodName: 'api-1', destinationNodeName: 'node-1',
      flowType: FlowType.interNode, destinationClusterIP: '::', ...ALLOWED_BY_BOTH,
    });
    assert.equal(f6.row.ipVersion, 6);
    assert.equal(f6.last.sourceIPv4Address, undefined, 'an IPv6 record carries IPv6 addresses only');

    const dual = [one('dual-v4'), one('dual-v6')];
    assert.equal(dual[0].sourcePort > 0 && dual[1].sourcePort > 0, true);
    const flows = [];
    for (const c of dual) {
      const t = tupleOf(c, cluster.topology);
      assert.equal(t.sourceAddress, IP['web-2'][c.family]);
      assert.equal(t.destinationAddress, IP['api-2'][c.family]);
      const f = await finalFlow(cluster, `dual-stack IPv${c.family}`, c, { endReason: 3 });
      assertSameInBoth(`dual-stack IPv${c.family}`, f, {
        sourcePodName: 'web-2', destinationPodName: 'api-2', sourceNodeName: 'node-2', destinationNodeName: 'node-2', flowType: FlowType.intraNode, ...ALLOWED_BY_BOTH,
      });
      assert.equal(f.row.ipVersion, c.family);
      flows.push(f);
    }
    assert.notEqual(flows[0].ipfix[0].templateId, flows[1].ipfix[0].templateId, 'IPv4 and IPv6 records use their own templates');
  });

  it('exports each of five short-lived connections, opened and closed between two polls, with its own bytes', async () => {
    const r = results.get('short-lived')!;
    assert.equal(r.conversations.length, 5);
    assert.equal(new Set(r.conversations.map((c) => c.sourcePort)).size, 5);
    for (const c of r.conversations) {
      const t = tupleOf(c, cluster.topology);
      const f = await finalFlow(cluster, `short-lived :${c.sourcePort}`, c, { interNode: true, endReason: 3 });
      assertSameInBoth(`short-lived :${c.sourcePort}`, f, {
        sourcePodName: 'web-1', destinationPodName: 'api-2', flowType: FlowType.interNode, flowEndReason: 3, ...ALLOWED_BY_BOTH,
      });
      assert.equal(f.ipfix.length, 1, 'a connection that ended between two polls is exported once, complete');
    }
  });

  it('carries the exporters\' records over TLS: the exporters say so, and the wire holds TLS records only', async () => {
    for (const node of cluster.topology.nodes) {
      const log = cluster.logOf('exporter', node.name);
      const connected = log.split('\n').filter((l) => l.includes('IPFIX exporting process connected')).map((l) => JSON.parse(l) as { protocol: string; port: number });
      assert.ok(connected.length > 0, `${node.name}: no "connected" line in its log`);
      assert.ok(connected.every((l) => l.protocol === 'tls' && l.port === 4739), JSON.stringify(connected));
    }
    const aggLog = cluster.logOf('aggregator', 'aggregator');
    assert.match(aggLog, /"protocol":"tls".*collecting process listening|collecting process listening.*"protocol":"tls"/);
    if (!canCapture) {
      if (process.env.CI === 'true') assert.fail('CI=true and tcpdump or tshark is missing (apt-get install tcpdump tshark)');
      return;
    }
    capture!.kill('SIGINT');
    await new Promise((r) => capture!.once('exit', r));
    capture = null;
    // Decoded as TLS, the exporters' segments to port 4739 hold application-data records.
    const tls = spawnSync('tshark', ['-r', captureFile, '-d', 'tcp.port==4739,tls', '-Y', 'tls.record.content_type == 23 && tcp.dstport == 4739', '-T', 'fields', '-e', 'ip.src'], { encoding: 'utf8' });
    assert.equal(tls.status, 0, tls.stderr);
    const senders = new Set(tls.stdout.split('\n').filter((l) => l !== ''));
    assert.deepEqual([...senders].sort(), cluster.topology.nodes.map((n) => n.underlayIps[4]!).sort(), 'both exporters sent TLS application data');
    // Decoded as IPFIX, nothing on the wire is a readable IPFIX message.
    const clear = spawnSync('tshark', ['-r', captureFile, '-d', 'tcp.port==4739,cflow', '-Y', 'cflow.version == 10 && cflow.od_id', '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8' });
    assert.equal(clear.status, 0, clear.stderr);
    assert.equal(clear.stdout.trim(), '', 'no IPFIX message in clear text between the exporters and the aggregator');
  });
});
