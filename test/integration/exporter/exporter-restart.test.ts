// `flowvis exporter` restarted while a TCP connection it reports stays open, against real
// conntrack: the first process exports it (reason 4 at SIGTERM) and writes its state file; the
// second reports the same connection with the same flowStartSeconds (the conntrack start, not
// when it first heard of it) and totals that never go below what the first one sent, never with
// zero counters. With the state file its first delta continues from the forced-end totals, so
// the deltas of both runs add up to the final totals: no aggregator needs to have kept them.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { once } from 'node:events';
import { NetnsBed, netnsSkipReason, type Netns, type VethLink } from '../../helpers/netns.js';
import { JsonLines, waitForStderr } from '../conntrack/lines.js';

const here = dirname(fileURLToPath(import.meta.url));
const PEER = join(here, '..', 'conntrack', 'peer.js');
const COLLECTOR = join(here, 'collector-probe.js');
const FLOWVIS = join(here, '..', '..', '..', '..', 'bin', 'flowvis.js');

const skip = netnsSkipReason(['iptables', 'ip6tables', 'conntrack', 'sysctl']);

type Rec = Record<string, string | number>;

describe('flowvis exporter restarted during a connection', { skip }, () => {
  const bed = new NetnsBed('fr');
  let node: Netns;
  let remote: Netns;
  let pods: VethLink;
  let wire: VethLink;
  let collector: JsonLines;
  let dir: string;
  let localPort = 0;
  let firstRun: Rec[] = [];
  let secondRun: Rec[] = [];
  let secondLog = '';

  async function startExporter(log?: (text: string) => void): Promise<JsonLines> {
    const p = new JsonLines(node.spawn(process.execPath, [FLOWVIS, 'exporter', '--config', join(dir, 'exporter.yaml'), '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] }));
    if (log) p.child.stderr?.on('data', (d: Buffer) => log(d.toString()));
    await waitForStderr(p, /flow exporter started/);
    return p;
  }

  const ours = (l: Record<string, unknown>): boolean => {
    const r = l.record as Rec | undefined;
    return r !== undefined && r.sourceTransportPort === localPort && r.protocolIdentifier === 6;
  };

  before(async () => {
    node = await bed.namespace();
    remote = await bed.namespace();
    pods = await bed.link(node, remote);
    wire = await bed.link(node, remote);
    await node.enableConntrack();
    await remote.enableConntrack();
    dir = mkdtempSync(join(tmpdir(), 'flowvis-exporter-restart-'));
    collector = new JsonLines(remote.spawn(process.execPath, [COLLECTOR, wire.bIPv4]));
    const port = (await collector.waitFor('port', (l) => typeof l.port === 'number')).port as number;
    writeFileSync(
      join(dir, 'inventory.yaml'),
      `apiVersion: v1
kind: Pod
metadata: {namespace: shop, name: client, creationTimestamp: "2020-01-01T00:00:00Z"}
spec: {nodeName: node-a, containers: [{name: c, image: x}]}
status: {phase: Running, podIP: ${pods.aIPv4}, podIPs: [{ip: ${pods.aIPv4}}]}
`,
    );
    writeFileSync(
      join(dir, 'exporter.yaml'),
      `featureGates: {FlowExporter: true}
flowCollectorAddr: "${wire.bIPv4}:${port}:tcp"
flowPollInterval: 1s
activeFlowExportTimeout: 2s
idleFlowExportTimeout: 1s
nodeName: node-a
metadata: {source: inventory, inventoryFile: inventory.yaml}
podCIDRs: ["10.231.0.0/24"]
metricsAddress: ""
stateFile: state/exporter-state.json
`,
    );
    const serverPort = await serveTcp(remote, pods.bIPv4, 50_000, 3_000);
    let exporter = await startExporter();
    const client = new JsonLines(node.spawn(process.execPath, [PEER, 'tcp-client', pods.bIPv4, String(serverPort), '50000', '3000', 'hold']));
    localPort = (await client.waitFor('done', (l) => l.done === true)).localPort as number;
    // The first process reports it (idle after 1 s), then exports it with reason 4 at SIGTERM.
    await collector.waitFor('first report', ours);
    exporter.child.kill('SIGTERM');
    await once(exporter.child, 'exit');
    await collector.waitFor('forced end', (l) => ours(l) && (l.record as Rec).flowEndReason === 4);
    firstRun = collector.seen.filter(ours).map((l) => l.record as Rec);
    const mark = collector.seen.length;
    exporter = await startExporter((text) => {
      secondLog += text;
    });
    await collector.waitFor('report after the restart', ours, mark);
    client.send('close');
    await client.exit();
    await collector.waitFor('end of flow', (l) => ours(l) && (l.record as Rec).flowEndReason === 3, mark);
    exporter.child.kill('SIGTERM');
    await once(exporter.child, 'exit');
    secondRun = collector.seen.slice(mark).filter(ours).map((l) => l.record as Rec);
  });

  after(async () => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    await bed.cleanup();
  });

  it('reports the connection after the restart with the same start, and totals that never go below the first run\'s', () => {
    const forced = firstRun[firstRun.length - 1];
    assert.equal(forced.flowEndReason, 4);
    assert.ok(Number(forced.octetTotalCount) >= 50_000, JSON.stringify(forced));
    assert.ok(secondRun.length > 0);
    for (const r of secondRun) {
      assert.equal(r.flowStartSeconds, forced.flowStartSeconds, `the conntrack start, not the restart: ${JSON.stringify(r)}`);
      for (const k of ['packetTotalCount', 'octetTotalCount', 'reversePacketTotalCount', 'reverseOctetTotalCount']) {
        assert.ok(Number(r[k]) >= Number(forced[k]), `${k} ${r[k]} after the restart is below the ${forced[k]} exported before it`);
      }
    }
  });

  it('continues the deltas from the state file: the second run\'s first delta is what the total grew by since the forced end, and both runs\' deltas add up to the final totals', () => {
    const forced = firstRun[firstRun.length - 1];
    const [first] = secondRun;
    for (const [delta, total] of [['octetDeltaCount', 'octetTotalCount'], ['packetDeltaCount', 'packetTotalCount'], ['reverseOctetDeltaCount', 'reverseOctetTotalCount'], ['reversePacketDeltaCount', 'reversePacketTotalCount']]) {
      assert.equal(Number(first[delta]), Number(first[total]) - Number(forced[total]), `${delta} of the first record after the restart: ${JSON.stringify(first)} after ${JSON.stringify(forced)}`);
    }
    const last = secondRun[secondRun.length - 1];
    assert.equal(last.flowEndReason, 3);
    assert.equal(last.tcpState, 'TIME_WAIT');
    for (const [delta, total] of [['octetDeltaCount', 'octetTotalCount'], ['packetDeltaCount', 'packetTotalCount'], ['reverseOctetDeltaCount', 'reverseOctetTotalCount'], ['reversePacketDeltaCount', 'reversePacketTotalCount']]) {
      assert.equal([...firstRun, ...secondRun].reduce((s, r) => s + Number(r[delta]), 0), Number(last[total]), `${delta} of both runs`);
    }
  });

  it('logs what it restored from the state file', () => {
    assert.match(secondLog, /exporter state loaded/);
    assert.match(secondLog, /"restored":1\b/);
  });
});

async function serveTcp(ns: Netns, host: string, expect: number, reply: number): Promise<number> {
  const s = new JsonLines(ns.spawn(process.execPath, [PEER, 'tcp-server', host, String(expect), String(reply)]));
  return (await s.waitFor('port', (l) => typeof l.port === 'number')).port as number;
}
