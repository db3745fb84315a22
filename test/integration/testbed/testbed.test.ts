// The testbed for real, as root: `up` builds the default topology under a prefix of this test,
// the traffic generator checks every path (intra-node, inter-node, Service DNAT, External via
// SNAT, IPv6), the enforcement agrees with the exporter's policy engine for every Pod pair,
// denied packets are logged through NFLOG with the flowvis prefix, `run` gets a flow to the
// aggregator, and `down` leaves nothing behind.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultTopology } from '../../../src/testbed/default-topology.js';
import { Testbed } from '../../../src/testbed/testbed.js';
import { isolatingPolicies } from '../../../src/testbed/plan.js';
import { parseTopology, type Topology } from '../../../src/testbed/topology.js';
import { TrafficGenerator, type TrafficResult } from '../../../src/testbed/traffic.js';
import { prerequisiteProblem } from '../../../src/testbed/system.js';
import { PolicyEngine } from '../../../src/exporter/policy/engine.js';
import { parseIp } from '../../../src/exporter/policy/ip.js';
import { parseInventory } from '../../../src/exporter/k8s/inventory.js';
import { loadExporterConfig } from '../../../src/exporter/config.js';
import { loadAggregatorConfig } from '../../../src/aggregator/config.js';
import { RuleAction } from '../../../src/flow/record.js';
import { JsonLines } from '../conntrack/lines.js';

const NFLOG_PROBE = fileURLToPath(new URL('../conntrack/nflog-probe.js', import.meta.url));

function skipReason(): string | false {
  const problem = prerequisiteProblem();
  if (problem === null) return false;
  if (process.env.CI === 'true') throw new Error(`CI=true and the testbed cannot run: ${problem.message}`);
  return problem.message;
}

const skip = skipReason();
const prefix = `fvi${process.pid % 1_000_000}`;

describe('flowvis testbed (network namespaces, as root)', { skip }, () => {
  let topology: Topology;
  let tb: Testbed;
  let gen: TrafficGenerator;
  let stateDir: string;
  const byName = (results: TrafficResult[], name: string) => results.find((r) => r.spec.name === name)!;

  before(async () => {
    topology = parseTopology({ ...defaultTopology().document, prefix }, { baseDir: process.cwd() });
    stateDir = mkdtempSync(join(tmpdir(), 'fv-testbed-'));
    // A leftover of a crashed run: up must remove it first.
    execFileSync('ip', ['netns', 'add', `${prefix}-leftover`]);
    tb = await Testbed.up(topology, { stateDir });
    gen = new TrafficGenerator(tb, { connectTimeoutMs: 1500, replyTimeoutMs: 800 });
  });

  after(async () => {
    await Testbed.down({ prefix, stateDir }).catch(() => undefined);
    try {
      execFileSync('ip', ['netns', 'del', `${prefix}-leftover`], { stdio: 'ignore' });
    } catch {
      // removed by up, as it should be
    }
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('removes the leftovers of an earlier run before building', () => {
    const list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    assert.ok(!list.includes(`${prefix}-leftover`), list);
    assert.equal(tb.status().namespaces.filter((n) => !n.exists).length, 0);
  });

  it('connects Pods within a Node, across Nodes, to Services and to the External host through SNAT, over IPv4 and IPv6', async () => {
    const names = ['intra-node-tcp', 'inter-node-tcp', 'inter-node-tcp-v6', 'short-lived-tcp', 'udp', 'service-tcp', 'service-udp-v6', 'external-tcp', 'external-tcp-v6'];
    const results = await gen.runPlan(names);
    for (const r of results) {
      assert.equal(r.verdict, 'allow', `${r.spec.name}: ${JSON.stringify(r.conversations)}`);
      assert.equal(r.conversations.length, r.spec.protocol === 'TCP' ? r.spec.connections : 1);
      for (const c of r.conversations) {
        const n = r.spec.protocol === 'UDP' ? r.spec.datagrams : 1;
        assert.deepEqual([c.bytesSent, c.bytesReceived], [r.spec.requestBytes * n, r.spec.responseBytes * n], r.spec.name);
        assert.notEqual(c.servedBy, null, `${r.spec.name}: no server saw ${c.sourceAddress}:${c.sourcePort}`);
      }
    }
    const pod = (id: string) => topology.pods.find((p) => p.id === id)!;
    const node = (name: string) => topology.nodes.find((n) => n.name === name)!;
    // Pod to Pod: no address translation; the server sees the client's own tuple.
    for (const name of ['intra-node-tcp', 'inter-node-tcp', 'inter-node-tcp-v6']) {
      const r = byName(results, name);
      const c = r.conversations[0];
      assert.deepEqual(c.peerSeenAs, { address: pod(r.spec.from).ips[r.spec.family], port: c.sourcePort });
      assert.equal(c.servedBy, (r.spec.to as { id: string }).id);
    }
    // Services: the ClusterIP was dialled, an endpoint of the Service answered on its target port.
    for (const name of ['service-tcp', 'service-udp-v6']) {
      const r = byName(results, name);
      const c = r.conversations[0];
      assert.equal(c.destinationAddress, topology.services.find((s) => s.id === 'backend/api')!.clusterIPs[r.spec.family]);
      assert.ok(['backend/api-1', 'backend/api-2'].includes(c.servedBy!), c.servedBy!);
      assert.equal(c.servedPort, r.spec.protocol === 'TCP' ? 8080 : 9000);
    }
    // External: masqueraded to the source Node's underlay address.
    for (const name of ['external-tcp', 'external-tcp-v6']) {
      const r = byName(results, name);
      const c = r.conversations[0];
      assert.equal(c.servedBy, 'external');
      assert.equal(c.peerSeenAs!.address, node(pod(r.spec.from).node).underlayIps[r.spec.family]);
    }
  });

  it('allows and denies every Pod-to-Pod connection as the exporter\'s policy engine evaluates it', async () => {
    const engine = new PolicyEngine();
    for (const p of topology.policies) engine.upsert(p.compiled);
    const nsLabels = (name: string) => ({ ...(topology.namespaces.find((n) => n.name === name)?.labels ?? {}), 'kubernetes.io/metadata.name': name });
    const subject = (id: string) => {
      const p = topology.pods.find((x) => x.id === id)!;
      return { namespace: p.namespace, labels: p.labels, containerPorts: p.ports.map((cp) => ({ name: cp.name, port: cp.containerPort, protocol: cp.protocol === 'TCP' ? 6 : 17 })) };
    };
    const specs = [];
    const expected: string[] = [];
    for (const from of topology.pods) {
      for (const to of topology.pods) {
        if (from === to) continue;
        for (const cp of to.ports.filter((x) => x.protocol === 'TCP')) {
          const verdict = engine.evaluate({
            source: subject(from.id),
            destination: subject(to.id),
            sourceIp: parseIp(from.ips[4]!)!,
            destinationIp: parseIp(to.ips[4]!)!,
            protocol: 6,
            destinationPort: cp.containerPort,
            namespaceLabels: nsLabels,
          });
          // The engine says allow or drop; the testbed's Reject annotation says how a drop is done.
          let want = 'allow';
          if (verdict.egress.action === RuleAction.drop) want = isolatingPolicies(topology, from, 'egress').some((p) => p.denyAction === 'reject') ? 'reject' : 'drop';
          else if (verdict.ingress.action === RuleAction.drop) want = isolatingPolicies(topology, to, 'ingress').some((p) => p.denyAction === 'reject') ? 'reject' : 'drop';
          specs.push(gen.spec({ name: `${from.name}-${to.name}-${cp.containerPort}`, from: from.id, to: to.id, port: cp.containerPort, requestBytes: 100, responseBytes: 100 }));
          expected.push(want);
        }
      }
    }
    assert.ok(expected.includes('allow') && expected.includes('drop') && expected.includes('reject'), 'the default topology exercises allow, drop and reject');
    const results = await gen.run(specs);
    assert.deepEqual(results.map((r) => `${r.spec.name}: ${r.verdict}`), specs.map((s, i) => `${s.name}: ${expected[i]}`));
  });

  it('logs denied packets through NFLOG with the flowvis prefix before dropping or rejecting them', async () => {
    const probes = topology.nodes.map((n) => new JsonLines(spawn('ip', ['netns', 'exec', tb.names.nodes[n.name], process.execPath, NFLOG_PROBE, String(topology.nflogGroup)], { stdio: ['pipe', 'pipe', 'pipe'] })));
    try {
      for (const p of probes) {
        const l = await p.waitFor('ready', (x) => x.ready === true || typeof x.code === 'string');
        assert.equal(l.ready, true, JSON.stringify(l));
      }
      const results = await gen.runPlan(['denied-ingress-drop', 'denied-ingress-reject', 'denied-egress-drop-udp']);
      const cases = [
        { name: 'denied-ingress-drop', verdict: 'drop', node: 0, prefix: 'flowvis:D:I:backend/api-allow-web', deny: { action: 'drop', direction: 'ingress', policy: 'backend/api-allow-web' } },
        { name: 'denied-ingress-reject', verdict: 'reject', node: 1, prefix: 'flowvis:R:I:backend/db-allow-api', deny: { action: 'reject', direction: 'ingress', policy: 'backend/db-allow-api' } },
        { name: 'denied-egress-drop-udp', verdict: 'drop', node: 0, prefix: 'flowvis:D:E:frontend/web-egress', deny: { action: 'drop', direction: 'egress', policy: 'frontend/web-egress' } },
      ];
      for (const k of cases) {
        const r = byName(results, k.name);
        assert.equal(r.verdict, k.verdict, `${k.name}: ${JSON.stringify(r.conversations)}`);
        const c = r.conversations[0];
        assert.notEqual(c.sourcePort, 0);
        const line = await probes[k.node].waitFor(k.name, (x) => {
          const p = x.packet as { sourcePort?: number; sourceAddress?: string } | undefined;
          return p?.sourcePort === c.sourcePort && p.sourceAddress === c.sourceAddress;
        });
        const p = line.packet as Record<string, unknown>;
        assert.deepEqual(
          [p.group, p.prefix, p.deny, p.destinationAddress, p.destinationPort, p.protocol],
          [topology.nflogGroup, k.prefix, k.deny, c.destinationAddress, c.destinationPort, r.spec.protocol === 'TCP' ? 6 : 17],
        );
      }
    } finally {
      for (const p of probes) p.child.kill('SIGKILL');
    }
  });

  it('writes an inventory and component configs that the exporter and aggregator parsers accept', () => {
    const inv = parseInventory(readFileSync(tb.paths.inventoryFile, 'utf8'), tb.paths.inventoryFile, Date.now());
    assert.deepEqual(inv.pods.map((p) => [`${p.namespace}/${p.name}`, p.nodeName, [...p.ips]]), topology.pods.map((p) => [p.id, p.node, [p.ips[4], p.ips[6]]]));
    assert.deepEqual(inv.nodes.map((n) => [n.name, [...n.podCidrs]]), [['node-1', ['10.10.1.0/24', 'fd00:10:1::/64']], ['node-2', ['10.10.2.0/24', 'fd00:10:2::/64']]]);
    assert.deepEqual(inv.policies.map((p) => `${p.namespace}/${p.name}`).sort(), ['backend/api-allow-web', 'backend/db-allow-api', 'frontend/web-egress']);
    assert.equal(inv.endpointSlices.length, 4);
    for (const n of topology.nodes) {
      const c = loadExporterConfig(tb.paths.exporterConfig(n.name), 'unused');
      assert.deepEqual([c.nodeName, c.nflogGroup, c.collector.host, c.collector.port, c.collector.protocol], [n.name, topology.nflogGroup, '10.255.0.250', 4739, 'tcp']);
    }
    assert.deepEqual(loadAggregatorConfig(tb.paths.aggregatorConfig).sinks, ['log']);
  });

  it('runs one exporter per Node and the aggregator, and an inter-node flow reaches the aggregator correlated', async () => {
    await tb.startComponents();
    const [r] = await gen.runPlan(['inter-node-tcp']);
    const c = r.conversations[0];
    assert.equal(r.verdict, 'allow');
    // Bounded wait for the aggregator's log sink (a hang guard, not a timing assertion).
    const deadline = Date.now() + 30_000;
    let record: Record<string, unknown> | undefined;
    while (!record && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 250));
      let text = '';
      try {
        text = readFileSync(tb.paths.flowLogFile, 'utf8');
      } catch {
        continue;
      }
      record = text
        .split('\n')
        .filter((l) => l.includes(`"sourceTransportPort":${c.sourcePort},`))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((x) => x.correlated === true);
    }
    assert.ok(record, `no correlated record for port ${c.sourcePort} in ${tb.paths.flowLogFile}`);
    assert.deepEqual(
      [record.sourceAddress, record.destinationAddress, record.sourcePodName, record.destinationPodName, record.sourceNodeName, record.destinationNodeName, record.flowType],
      [c.sourceAddress, c.destinationAddress, 'web-1', 'api-2', 'node-1', 'node-2', 2],
    );
    assert.ok(tb.status().processes.filter((p) => p.role !== 'server').every((p) => p.alive));
  });

  it('down stops every process and leaves no namespace, link or iptables rule behind', async () => {
    const pids = tb.processes.map((p) => p.pid);
    const report = await Testbed.down({ prefix, stateDir });
    assert.equal(report.namespacesRemoved.length, tb.names.all.length);
    assert.ok(!execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(`${prefix}-`));
    const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
    for (const dev of ['fvbr0', 'fvul0', 'fvp0', 'fvn0', 'fvx0', 'fva0']) assert.ok(!links.includes(` ${dev}:`) && !links.includes(` ${dev}@`), links);
    for (const tool of ['iptables-save', 'ip6tables-save']) {
      const rules = execFileSync(tool, [], { encoding: 'utf8' });
      assert.ok(!rules.includes(prefix) && !rules.includes('FV-FORWARD') && !rules.includes('flowvis:'), `${tool}:\n${rules}`);
    }
    for (const pid of pids) assert.equal(readProc(pid), null, `process ${pid} is still running`);
    assert.throws(() => Testbed.attach(stateDir), { code: 'TESTBED_ERR_NO_STATE' });
  });
});

function readProc(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z' ? null : stat;
  } catch {
    return null;
  }
}
