// The demo's simulator: a seeded cluster and traffic model, and what each simulated Node exports.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { buildCluster } from '../../../src/demo/cluster.js';
import { DemoError, DemoErrorCodes } from '../../../src/demo/errors.js';
import { resolveDemoOptions } from '../../../src/demo/runner.js';
import { ClusterSimulator } from '../../../src/demo/simulator.js';
import { shapeAt, TrafficModel, type SimConnection, type TrafficOptions } from '../../../src/demo/traffic.js';
import { AggregationProcess } from '../../../src/aggregator/aggregation.js';
import { dataRecordToFlowRecord, flowRecordToDataRecord } from '../../../src/flow/ie-mapping.js';
import { FlowEndReason, FlowType, PolicyType, RuleAction, type AggregatedFlowRecord, type FlowRecord } from '../../../src/flow/record.js';
import { observationDomainId } from '../../../src/exporter/flow-builder.js';
import { ManualClock } from '../../../src/util/clock.js';

const HOUR = 3_600_000;
/** 2024-01-01T00:00:00Z, the simulated cluster in UTC. */
const DAY0 = Date.UTC(2024, 0, 1);
const traffic = (seed: number, rate = 1): TrafficOptions => ({ seed, rate, utcOffsetMinutes: 0, windowMs: 5000 });

/** Runs windows [from, from + count) and returns every record with the Node that sent it. */
function run(sim: ClusterSimulator, fromMs: number, count: number): { node: string; r: FlowRecord }[] {
  const out: { node: string; r: FlowRecord }[] = [];
  const k0 = sim.windowOf(fromMs);
  for (let k = k0; k < k0 + count; k++) {
    for (const [node, rs] of sim.runWindow(k).records) for (const r of rs) out.push({ node, r });
  }
  return out;
}

function connectionsIn(model: TrafficModel, fromMs: number, ms: number): SimConnection[] {
  const out: SimConnection[] = [];
  for (let k = Math.floor(fromMs / 5000); k < Math.floor((fromMs + ms) / 5000); k++) out.push(...model.window(k));
  return out;
}

const tuple = (r: FlowRecord) => `${r.sourceAddress}:${r.sourceTransportPort}>${r.destinationAddress}:${r.destinationTransportPort}/${r.protocolIdentifier}`;

describe('simulated cluster', () => {
  it('is the same for the same seed and differs for another seed', () => {
    assert.deepEqual(buildCluster({ seed: 42, nodes: 3 }), buildCluster({ seed: 42, nodes: 3 }));
    const a = buildCluster({ seed: 42, nodes: 3 }).pods.map((p) => p.name);
    const b = buildCluster({ seed: 43, nodes: 3 }).pods.map((p) => p.name);
    assert.notDeepEqual(a, b);
  });

  it('names Pods as their controllers do and places them on every Node', () => {
    const c = buildCluster({ seed: 7, nodes: 3 });
    const frontend = c.pods.filter((p) => p.workload === 'frontend');
    assert.equal(frontend.length, 3);
    for (const p of frontend) assert.match(p.name, /^frontend-[bcdfghjklmnpqrstvwxz2456789]{10}-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    assert.equal(new Set(frontend.map((p) => p.name.split('-')[1])).size, 1, 'one pod-template-hash per Deployment');
    assert.deepEqual(c.pods.filter((p) => p.workload === 'postgres').map((p) => p.name), ['postgres-0']);
    const nodeExporters = c.pods.filter((p) => p.workload === 'node-exporter');
    assert.deepEqual(nodeExporters.map((p) => p.nodeName).sort(), ['node-1', 'node-2', 'node-3']);
    for (const n of c.nodes) assert.ok(c.pods.some((p) => p.nodeName === n.name && p.workload !== 'node-exporter'), `${n.name} hosts workloads`);
    assert.equal(new Set(c.pods.map((p) => p.ipv4)).size, c.pods.length, 'Pod IPs are unique');
    for (const p of c.pods) assert.ok(p.ipv4.startsWith(`10.10.${p.nodeName.slice(5)}.`), `${p.name} is in its Node's Pod CIDR`);
  });

  it('refuses a cluster without inter-node traffic, with a coded error', () => {
    assert.throws(() => buildCluster({ seed: 1, nodes: 1 }), (e: unknown) => e instanceof DemoError && e.code === 'DEMO_ERR_INVALID_OPTION' && /from 2 to 16/.test(e.message));
  });
});

describe('traffic model', () => {
  it('generates the same connections for a window with the same seed, whatever ran before', () => {
    const k = Math.floor((DAY0 + 12 * HOUR) / 5000);
    const a = new TrafficModel(buildCluster({ seed: 5, nodes: 3 }), traffic(5));
    const b = new TrafficModel(buildCluster({ seed: 5, nodes: 3 }), traffic(5));
    b.window(k - 1);
    b.window(k + 7);
    const wa = a.window(k);
    assert.ok(wa.length > 0);
    assert.deepEqual(b.window(k), wa);
    const c = new TrafficModel(buildCluster({ seed: 6, nodes: 3 }), traffic(6));
    assert.notDeepEqual(c.window(k).map((x) => x.sourcePort), wa.map((x) => x.sourcePort));
  });

  it('follows the day: quiet before dawn, busy in the evening, batch at night', () => {
    assert.ok(shapeAt('web', 4) < 0.15);
    assert.ok(shapeAt('web', 20.5) > 0.9);
    assert.ok(shapeAt('web', 11.5) > 0.5);
    assert.ok(shapeAt('batch', 2.5) > 0.9 && shapeAt('batch', 14) < 0.05);
    assert.equal(shapeAt('steady', 3), shapeAt('steady', 15));
    const model = new TrafficModel(buildCluster({ seed: 1, nodes: 3 }), traffic(1));
    const night = connectionsIn(model, DAY0 + 4 * HOUR, 600_000).length;
    const evening = connectionsIn(model, DAY0 + 20 * HOUR + 15 * 60_000, 600_000).length;
    assert.ok(evening > 3 * night, `evening ${evening} vs night ${night}`);
    const reportsAtNight = connectionsIn(model, DAY0 + 2 * HOUR, 1_800_000).filter((c) => c.conversation === 'reports-from-postgres').length;
    const reportsAtNoon = connectionsIn(model, DAY0 + 13 * HOUR, 1_800_000).filter((c) => c.conversation === 'reports-from-postgres').length;
    assert.ok(reportsAtNight > reportsAtNoon, `batch: night ${reportsAtNight}, noon ${reportsAtNoon}`);
  });

  it('scales with the rate', () => {
    const cluster = buildCluster({ seed: 1, nodes: 3 });
    const one = connectionsIn(new TrafficModel(cluster, traffic(1, 1)), DAY0 + 12 * HOUR, 600_000).length;
    const four = connectionsIn(new TrafficModel(cluster, traffic(1, 4)), DAY0 + 12 * HOUR, 600_000).length;
    assert.ok(four > 3 * one && four < 5 * one, `rate 4: ${four}, rate 1: ${one}`);
  });
});

describe('simulated Node exporters', () => {
  const cluster = buildCluster({ seed: 3, nodes: 3 });
  const sim = new ClusterSimulator(cluster, traffic(3));
  const records = run(sim, DAY0 + 19 * HOUR, 240);

  it('report both halves of an inter-node flow with the same 5-tuple and counters, each with its own side', () => {
    // Every boundary's report of a connection by its source Node has its twin from the destination Node.
    const byTuple = new Map<string, { node: string; r: FlowRecord }[]>();
    for (const x of records) if (x.r.flowType === FlowType.interNode) byTuple.set(tuple(x.r), [...(byTuple.get(tuple(x.r)) ?? []), x]);
    let pairs = 0;
    for (const reports of byTuple.values()) {
      const sources = reports.filter((x) => x.r.sourcePodName !== '');
      const destinations = reports.filter((x) => x.r.destinationPodName !== '');
      assert.equal(sources.length + destinations.length, reports.length, 'each record is one side');
      if (destinations.length === 0) {
        // Only a connection denied on egress stays on its Node.
        for (const s of sources) assert.ok(s.r.egressNetworkPolicyRuleAction >= RuleAction.drop, `${tuple(s.r)} has no partner`);
        continue;
      }
      assert.equal(sources.length, destinations.length);
      sources.forEach((s, i) => {
        const d = destinations[i];
        assert.notEqual(s.node, d.node);
        assert.equal(s.r.sourceNodeName, s.node);
        assert.equal(s.r.destinationPodName, '');
        assert.equal(s.r.destinationNodeName, '');
        assert.equal(d.r.sourcePodName, '');
        assert.equal(d.r.destinationNodeName, d.node);
        assert.equal(d.r.destinationClusterIP, '', 'DNAT is seen on the source Node only');
        for (const f of ['packetTotalCount', 'octetTotalCount', 'packetDeltaCount', 'octetDeltaCount', 'reverseOctetTotalCount', 'reverseOctetDeltaCount', 'flowStartSeconds', 'flowEndSeconds', 'flowEndReason'] as const) {
          assert.equal(s.r[f], d.r[f], f);
        }
        pairs++;
      });
    }
    assert.ok(pairs > 100, `${pairs} inter-node pairs`);
    const viaService = records.filter((x) => x.r.destinationServicePortName === 'data/postgres:postgres');
    assert.ok(viaService.length > 0);
    for (const x of viaService) assert.equal(x.r.destinationTransportPort, 5432);
  });

  it('send deltas that add up to the totals, and end every finished connection', () => {
    const bySource = new Map<string, FlowRecord[]>();
    for (const x of records) if (x.r.sourcePodName !== '' || x.r.flowType === FlowType.fromExternal) bySource.set(tuple(x.r), [...(bySource.get(tuple(x.r)) ?? []), x.r]);
    let checked = 0;
    for (const rs of bySource.values()) {
      const last = rs[rs.length - 1];
      if (last.flowEndReason === FlowEndReason.activeTimeout) continue;
      assert.equal(rs.reduce((n, r) => n + r.octetDeltaCount, 0), last.octetTotalCount);
      assert.equal(rs.reduce((n, r) => n + r.reversePacketDeltaCount, 0), last.reversePacketTotalCount);
      for (const r of rs.slice(0, -1)) assert.equal(r.flowEndReason, FlowEndReason.activeTimeout);
      checked++;
    }
    assert.ok(checked > 500);
  });

  it('mark denied flows with the action, the policy and the rule', () => {
    const pick = (pred: (r: FlowRecord) => boolean) => records.filter((x) => pred(x.r));
    const sandboxToPostgres = pick((r) => r.destinationPodName === 'postgres-0' && r.sourceAddress === cluster.pods.find((p) => p.workload === 'sandbox')!.ipv4);
    assert.ok(sandboxToPostgres.length > 0, 'the sandbox tries postgres');
    for (const { r } of sandboxToPostgres) {
      assert.equal(r.ingressNetworkPolicyRuleAction, RuleAction.drop);
      assert.equal(r.ingressNetworkPolicyName, 'postgres-clients');
      assert.equal(r.ingressNetworkPolicyNamespace, 'data');
      assert.equal(r.ingressNetworkPolicyType, PolicyType.k8sNetworkPolicy);
      assert.equal(r.ingressNetworkPolicyRuleName, '', 'K8s isolation has no rule name');
      assert.equal(r.reverseOctetTotalCount, 0);
      assert.equal(r.tcpState, 'SYN_SENT');
    }
    const rejected = pick((r) => r.egressNetworkPolicyRuleAction === RuleAction.reject);
    assert.ok(rejected.length > 0);
    for (const { r } of rejected) {
      assert.equal(r.egressNetworkPolicyName, 'isolate-dev');
      assert.equal(r.egressNetworkPolicyType, PolicyType.antreaClusterNetworkPolicy);
      assert.match(r.egressNetworkPolicyRuleName, /^reject-(internet|shop)-egress$/);
      assert.equal(r.sourcePodNamespace, 'dev');
    }
    const dropped = pick((r) => r.egressNetworkPolicyRuleAction === RuleAction.drop);
    assert.ok(dropped.length > 0);
    for (const { r } of dropped) {
      assert.deepEqual([r.egressNetworkPolicyNamespace, r.egressNetworkPolicyName, r.egressNetworkPolicyRuleName, r.egressNetworkPolicyType], ['shop', 'payments-egress', 'drop-other-external', PolicyType.antreaNetworkPolicy]);
      assert.equal(r.destinationAddress, '203.0.113.99');
    }
    const allowed = pick((r) => r.egressNetworkPolicyRuleName === 'allow-payment-gateway');
    assert.ok(allowed.length > 0 && allowed.every((x) => x.r.egressNetworkPolicyRuleAction === RuleAction.allow && x.r.destinationAddress === '203.0.113.10'));
  });

  it('are correlated by the aggregator into one record per inter-node flow, in either order', () => {
    for (const reversed of [false, true]) {
      const clock = new ManualClock(DAY0 + 20 * HOUR);
      const exported: AggregatedFlowRecord[] = [];
      const agg = new AggregationProcess({ clock, activeTimeoutMs: 5000, inactiveTimeoutMs: 15_000, correlationWaitMs: 5000, maxFlows: 1_000_000, onExport: (r) => exported.push(r) });
      const s = new ClusterSimulator(cluster, traffic(3));
      const k0 = s.windowOf(DAY0 + 20 * HOUR);
      for (let k = k0; k < k0 + 24; k++) {
        const report = s.runWindow(k);
        const nodes = [...report.records.keys()];
        if (reversed) nodes.reverse();
        for (const node of nodes) {
          for (const r of report.records.get(node)!) {
            // Through the IPFIX field mapping, as the collector reads it.
            assert.ok(agg.ingest(dataRecordToFlowRecord(flowRecordToDataRecord(r)), { address: '127.0.0.1', observationDomainId: observationDomainId(node) }));
          }
        }
        clock.advance(5000);
        agg.expire();
      }
      agg.flush();
      const st = agg.stats();
      assert.equal(st.recordsInvalid, 0);
      assert.equal(st.uncorrelatedExported, 0);
      assert.ok(st.flowsCorrelated > 50, `${st.flowsCorrelated} correlated`);
      const inter = exported.filter((r) => r.flowType === FlowType.interNode && r.egressNetworkPolicyRuleAction < RuleAction.drop);
      assert.ok(inter.length > 0);
      for (const r of inter) {
        assert.ok(r.correlated);
        assert.notEqual(r.sourcePodName, '');
        assert.notEqual(r.destinationPodName, '');
        assert.notEqual(r.sourceNodeName, r.destinationNodeName);
        assert.equal(r.fromSourceNode.octetTotalCount, r.fromDestinationNode.octetTotalCount);
      }
    }
  });
});

describe('demo options', () => {
  const code = (fn: () => unknown, pattern: RegExp) =>
    assert.throws(fn, (e: unknown) => e instanceof DemoError && e.code === 'DEMO_ERR_INVALID_OPTION' && pattern.test(e.message));

  it('default to the documented values', () => {
    const o = resolveDemoOptions({});
    assert.equal(o.nodes, 3);
    assert.deepEqual(o.listen, { host: '127.0.0.1', port: 10348 });
    assert.deepEqual(o.collect, { host: '127.0.0.1', port: 4739 });
    assert.equal(o.windowMs, 5000);
    assert.equal(o.backfillMs, 3 * HOUR);
    assert.ok(o.dataDir.endsWith('/.flowvis/demo'));
    assert.ok(Object.isFrozen(o));
  });

  it('say what to write instead of a bad value', () => {
    code(() => resolveDemoOptions({ nodes: 1 }), /nodes must be a whole number from 2 to 16/);
    code(() => resolveDemoOptions({ listen: '10348' }), /write e\.g\. "127\.0\.0\.1:10348"/);
    code(() => resolveDemoOptions({ rate: 0 }), /rate must be a number above 0/);
    code(() => resolveDemoOptions({ backfill: 'two hours' }), /not a duration; write e\.g\. "6h"/);
    code(() => resolveDemoOptions({ backfill: '12h' }), /reuse ephemeral ports/);
    code(() => resolveDemoOptions({ window: '1500ms' }), /whole seconds/);
  });

  it('keeps docs/demo.md in step with the error codes', () => {
    const doc = readFileSync(new URL('../../../../docs/demo.md', import.meta.url), 'utf8');
    const section = doc.slice(doc.indexOf('## Error codes'));
    const documented = [...section.matchAll(/^\| `(DEMO_ERR_[A-Z_]+)` \|/gm)].map((m) => m[1]).sort();
    assert.deepEqual(documented, Object.keys(DemoErrorCodes).sort());
  });
});
