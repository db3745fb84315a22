// `flowvis exporter` against real conntrack: the exporter runs in a "node" namespace, a server
// in a second namespace plays the remote Pod, and an in-test collector (also in the second
// namespace, on its own link) receives the records. The inventory names the client Pod on
// node-a (this Node) and the server Pod on node-b.
//
// The poll interval is one hour, so after the first dump every connection is learnt from
// conntrack events; SIGTERM then takes a last dump and exports what is left with reason 4.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { once } from 'node:events';
import { NetnsBed, netnsSkipReason, type Netns, type VethLink } from '../../helpers/netns.js';
import { JsonLines, waitForStderr } from '../conntrack/lines.js';
import { observationDomainId } from '../../../src/exporter/flow-builder.js';

const here = dirname(fileURLToPath(import.meta.url));
const PEER = join(here, '..', 'conntrack', 'peer.js');
const COLLECTOR = join(here, 'collector-probe.js');
const FLOWVIS = join(here, '..', '..', '..', '..', 'bin', 'flowvis.js');
const TCP_HEADER_MAX = 80;
/** Largest TCP payload a retransmitted segment can add (veth MTU 1500 minus IPv4/IPv6 and TCP headers). */
const TCP_SEGMENT_MAX = 1460;

/** TcpRetransSegs of a namespace (/proc/net/snmp; one MIB for IPv4 and IPv6). */
async function retransmittedSegments(ns: Netns): Promise<number> {
  const lines = (await ns.exec('cat', ['/proc/net/snmp'])).stdout.split('\n').filter((l) => l.startsWith('Tcp:'));
  const names = lines[0].split(/\s+/);
  const values = lines[1].split(/\s+/);
  return Number(values[names.indexOf('RetransSegs')]);
}

const skip = netnsSkipReason(['iptables', 'ip6tables', 'conntrack', 'sysctl']);

type Rec = Record<string, string | number>;

describe('flowvis exporter in network namespaces', { skip }, () => {
  const bed = new NetnsBed('fx');
  let node: Netns;
  let remote: Netns;
  let pods: VethLink;
  let wire: VethLink;
  let collector: JsonLines;
  let exporter: JsonLines;
  let dir: string;
  const records: Rec[] = [];
  /** Segments the client and server side retransmitted during the test: real wire bytes conntrack counts. */
  const retransmitted = { forward: 0, reverse: 0 };
  const flows: { label: string; localPort: number; protocol: number; family: 4 | 6 }[] = [];

  async function serve(mode: 'tcp-server' | 'udp-server', host: string, ...args: number[]): Promise<number> {
    const s = new JsonLines(remote.spawn(process.execPath, [PEER, mode, host, ...args.map(String)]));
    return (await s.waitFor('port', (l) => typeof l.port === 'number')).port as number;
  }

  async function client(...args: (string | number)[]): Promise<{ lines: JsonLines; localPort: number }> {
    const lines = new JsonLines(node.spawn(process.execPath, [PEER, ...args.map(String)]));
    const localPort = (await lines.waitFor('done', (l) => l.done === true)).localPort as number;
    return { lines, localPort };
  }

  const SENT = 100_000;
  const RECEIVED = 5_000;

  before(async () => {
    node = await bed.namespace();
    remote = await bed.namespace();
    pods = await bed.link(node, remote);
    wire = await bed.link(node, remote);
    await node.enableConntrack();
    await remote.enableConntrack();
    dir = mkdtempSync(join(tmpdir(), 'flowvis-exporter-it-'));
    const retransBefore = [await retransmittedSegments(node), await retransmittedSegments(remote)];

    collector = new JsonLines(remote.spawn(process.execPath, [COLLECTOR, wire.bIPv4]));
    const port = (await collector.waitFor('port', (l) => typeof l.port === 'number')).port as number;

    writeFileSync(
      join(dir, 'inventory.yaml'),
      `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Pod
metadata: {namespace: shop, name: client, creationTimestamp: "2020-01-01T00:00:00Z"}
spec: {nodeName: node-a, containers: [{name: c, image: x}]}
status: {phase: Running, podIP: ${pods.aIPv4}, podIPs: [{ip: ${pods.aIPv4}}, {ip: "${pods.aIPv6}"}]}
---
apiVersion: v1
kind: Pod
metadata: {namespace: shop, name: server, creationTimestamp: "2020-01-01T00:00:00Z"}
spec: {nodeName: node-b, containers: [{name: c, image: x}]}
status: {phase: Running, podIP: ${pods.bIPv4}, podIPs: [{ip: ${pods.bIPv4}}, {ip: "${pods.bIPv6}"}]}
`,
    );
    writeFileSync(
      join(dir, 'exporter.yaml'),
      `featureGates: {FlowExporter: true}
flowCollectorAddr: "${wire.bIPv4}:${port}:tcp"
flowPollInterval: 1h
nodeName: node-a
metadata: {source: inventory, inventoryFile: inventory.yaml}
podCIDRs: ["10.231.0.0/24", "fd00:231:1::/64"]
metricsAddress: ""
stateFile: exporter-state.json
`,
    );
    exporter = new JsonLines(node.spawn(process.execPath, [FLOWVIS, 'exporter', '--config', join(dir, 'exporter.yaml'), '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] }));
    // pino writes to stderr; wait until the exporter says it started.
    await waitForStderr(exporter, /flow exporter started/);

    // 1. TCP over IPv4 and IPv6, closed by the client: TIME_WAIT via events -> end of flow.
    for (const family of [4, 6] as const) {
      const dst = family === 4 ? pods.bIPv4 : pods.bIPv6;
      const port4 = await serve('tcp-server', dst, SENT, RECEIVED);
      const c = await client('tcp-client', dst, port4, SENT, RECEIVED, 'close');
      await once(c.lines.child, 'exit');
      flows.push({ label: `tcp${family}-closed`, localPort: c.localPort, protocol: 6, family });
    }
    // 2. A TCP connection opened and closed, then deleted from conntrack before any dump:
    //    only its events can report it.
    {
      const port2 = await serve('tcp-server', pods.bIPv4, SENT, RECEIVED);
      const c = await client('tcp-client', pods.bIPv4, port2, SENT, RECEIVED, 'close');
      await once(c.lines.child, 'exit');
      await node.exec('conntrack', ['-D', '-p', 'tcp', '--orig-port-src', String(c.localPort)]);
      flows.push({ label: 'tcp-deleted', localPort: c.localPort, protocol: 6, family: 4 });
    }
    // 3. A TCP connection still open at SIGTERM: forced end.
    const portOpen = await serve('tcp-server', pods.bIPv4, SENT, RECEIVED);
    const open = await client('tcp-client', pods.bIPv4, portOpen, SENT, RECEIVED, 'hold');
    flows.push({ label: 'tcp-open', localPort: open.localPort, protocol: 6, family: 4 });
    // 4. UDP: 10 datagrams of 500 bytes, echoed.
    const portUdp = await serve('udp-server', pods.bIPv4);
    const u = await client('udp-client', pods.bIPv4, portUdp, 10, 500);
    flows.push({ label: 'udp', localPort: u.localPort, protocol: 17, family: 4 });

    exporter.child.kill('SIGTERM');
    await once(exporter.child, 'exit');
    open.lines.child.kill('SIGKILL');
    retransmitted.forward = (await retransmittedSegments(node)) - retransBefore[0];
    retransmitted.reverse = (await retransmittedSegments(remote)) - retransBefore[1];
    for (const f of flows) {
      const line = await collector.waitFor(f.label, (l) => {
        const r = l.record as Rec | undefined;
        return r !== undefined && r.sourceTransportPort === f.localPort && r.protocolIdentifier === f.protocol;
      });
      records.push({ ...(line.record as Rec), _label: f.label, _templateId: line.templateId as number, _domain: line.observationDomainId as number });
    }
  });

  after(async () => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    await bed.cleanup();
  });

  const rec = (label: string): Rec => {
    const r = records.find((x) => x._label === label);
    assert.ok(r, `a record for ${label}`);
    return r;
  };

  /** Application bytes plus a header per packet, plus the payload of each retransmitted segment (a loaded machine drops some). */
  function assertTcpBytes(r: Rec): void {
    const [ob, op, rb, rp] = [Number(r.octetTotalCount), Number(r.packetTotalCount), Number(r.reverseOctetTotalCount), Number(r.reversePacketTotalCount)];
    const fwdMax = SENT + op * TCP_HEADER_MAX + retransmitted.forward * TCP_SEGMENT_MAX;
    const revMax = RECEIVED + rp * TCP_HEADER_MAX + retransmitted.reverse * TCP_SEGMENT_MAX;
    assert.ok(ob >= SENT && ob <= fwdMax, `original ${ob} B in ${op} packets for ${SENT} B (${retransmitted.forward} segments retransmitted)`);
    assert.ok(rb >= RECEIVED && rb <= revMax, `reply ${rb} B in ${rp} packets for ${RECEIVED} B (${retransmitted.reverse} segments retransmitted)`);
    assert.equal(Number(r.octetDeltaCount), ob, 'first export: delta = total');
  }

  for (const family of [4, 6] as const) {
    it(`exports a closed IPv${family} TCP connection with its tuple, byte counts, TIME_WAIT, end of flow and inter-node flowType`, () => {
      const r = rec(`tcp${family}-closed`);
      const [src, dst] = family === 4 ? [pods.aIPv4, pods.bIPv4] : [pods.aIPv6, pods.bIPv6];
      assert.equal(r[family === 4 ? 'sourceIPv4Address' : 'sourceIPv6Address'], src);
      assert.equal(r[family === 4 ? 'destinationIPv4Address' : 'destinationIPv6Address'], dst);
      assert.equal(r._templateId, family === 4 ? 256 : 257);
      assertTcpBytes(r);
      assert.equal(r.tcpState, 'TIME_WAIT');
      assert.equal(r.flowEndReason, 3);
      assert.equal(r.flowType, 2);
      assert.equal(r.sourcePodNamespace, 'shop');
      assert.equal(r.sourcePodName, 'client');
      assert.equal(r.sourceNodeName, 'node-a');
      assert.equal(r.destinationPodName, '', 'the remote Pod is not this Node\'s to name');
      assert.equal(r._domain, observationDomainId('node-a'));
    });
  }

  it('exports a connection that lived and died between two dumps, from its events, with final counters', () => {
    const r = rec('tcp-deleted');
    assertTcpBytes(r);
    assert.equal(r.flowEndReason, 3);
  });

  it('exports a connection still open at SIGTERM with flowEndReason 4 and ESTABLISHED', () => {
    const r = rec('tcp-open');
    assertTcpBytes(r);
    assert.equal(r.flowEndReason, 4);
    assert.equal(r.tcpState, 'ESTABLISHED');
  });

  it('exports a UDP conversation with its datagram counts and no tcpState', () => {
    const r = rec('udp');
    assert.equal(r.packetTotalCount, 10);
    assert.equal(r.reversePacketTotalCount, 10);
    assert.equal(r.octetTotalCount, 10 * (500 + 28));
    assert.equal(r.reverseOctetTotalCount, 10 * (500 + 28));
    assert.equal(r.tcpState, '');
    assert.equal(r.flowType, 2);
  });

  it('exports nothing for its own connection to the collector (no Pod at either end)', () => {
    const own = collector.seen.filter((l) => (l.record as Rec | undefined)?.destinationIPv4Address === wire.bIPv4);
    assert.deepEqual(own, []);
  });
});
