// End to end, as root on the network-namespace testbed, over TLS: an exporter restart alone,
// then the exporters and the aggregator restarted together (the exporters stopped, the
// aggregator restarted, the exporters started again: their first reports reach an aggregator
// that never saw the connection), while long-lived connections run through them.
// After each restart the flows are still exported, and nothing is counted twice: at the
// collector and in the store the deltas of all records of a connection add up to its final
// totals, which match the bytes sent. The restarted exporter continues its deltas from its
// state file (docs/exporter.md, "Restarts"); a running aggregator also diffs totals.
import { describe, it, before, after } from 'node:test';
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { E2eCluster, e2eSkipReason, type IpfixRecord } from '../../helpers/e2e-cluster.js';
import { assertSameInBoth, finalFlow, sum } from '../../helpers/e2e-expect.js';
import { FlowEndReason, FlowType } from '../../../src/flow/record.js';
import type { TrafficResult } from '../../../src/testbed/traffic.js';

const skip = e2eSkipReason();
const prefix = `e2er${process.pid % 100_000}`;

describe('end to end: an exporter restart and an aggregator restart during long-lived connections', { skip }, () => {
  let cluster: E2eCluster;
  let acrossExporter: TrafficResult;
  let acrossBoth: TrafficResult;
  let afterRestarts: TrafficResult;
  /** The log of the exporter process that was stopped. */
  let stoppedExporterLog = '';
  /** The logs of node-1's exporter before and after the restart of both. */
  let bothStoppedLog = '';
  let bothRestartedLog = '';

  /**
   * The first IPFIX record of a connection between two Pods on a port, whatever its source port;
   * with `sourceNodeAfterSec`, the first one whose source Node's part ends after that second.
   */
  async function firstRecordBetween(from: string, to: string, sourceNodeAfterSec = 0): Promise<IpfixRecord> {
    const src = cluster.topology.pods.find((p) => p.id === from)!.ips[4];
    const dst = cluster.topology.pods.find((p) => p.id === to)!.ips[4];
    const deadline = Date.now() + 30_000;
    for (;;) {
      cluster.ipfixOf({ family: 4, sourceAddress: '', sourcePort: 0, destinationAddress: '', destinationPort: 0, protocol: 0 });
      const hit = cluster.ipfix.find((r) =>
        r.record.sourceIPv4Address === src && r.record.destinationIPv4Address === dst && r.record.destinationTransportPort === 8080 &&
        Number(r.record.flowEndSecondsFromSourceNode) > sourceNodeAfterSec);
      if (hit) return hit;
      if (Date.now() > deadline) throw new Error(`no record of ${from} -> ${to}${sourceNodeAfterSec > 0 ? ` with source Node data after ${sourceNodeAfterSec}` : ''} within 30 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  before(async () => {
    cluster = await E2eCluster.start({ prefix, transport: 'tls' });
    // Two long-lived connections, the request spread over their whole life; the second (30 s)
    // still runs when its exporter and the aggregator restart together.
    const running = cluster.traffic([
      { name: 'across-exporter-restart', from: 'frontend/web-2', to: 'backend/api-1', port: 'http', requestBytes: 120_000, responseBytes: 4_000, duration: '20s' },
      { name: 'across-both-restarts', from: 'frontend/web-1', to: 'backend/api-2', port: 'http', requestBytes: 90_000, responseBytes: 6_000, duration: '30s' },
    ]);
    // Restart once each connection has been exported at least once.
    await firstRecordBetween('frontend/web-2', 'backend/api-1');
    const stoppedLogFile = cluster.component('exporter', 'node-2').log;
    await cluster.restart('exporter', 'node-2');
    stoppedExporterLog = readFileSync(stoppedLogFile, 'utf8');
    const restartedSec = Math.floor(Date.now() / 1000);
    await firstRecordBetween('frontend/web-2', 'backend/api-1', restartedSec);
    // Both within one report interval: the exporters stop (forced-end records to the running
    // aggregator, state files written), the aggregator restarts (flushing what it holds), then
    // the exporters start again, the second connection's source Node first. Their first reports
    // of the open connection go to an aggregator that holds no earlier totals: only the state
    // files can make those reports' deltas the true ones. (Both exporters, so that the source
    // Node's half reaches the new aggregator first, as it would in a steady state: a
    // destination half exported alone before the source half arrives makes the aggregator
    // switch the record's counters from one Node's to the other's; docs/e2e.md.)
    await firstRecordBetween('frontend/web-1', 'backend/api-2');
    const bothLogFile = cluster.component('exporter', 'node-1').log;
    await cluster.stopComponent('exporter', 'node-1');
    await cluster.stopComponent('exporter', 'node-2');
    bothStoppedLog = readFileSync(bothLogFile, 'utf8');
    await cluster.restart('aggregator', 'aggregator');
    await cluster.startComponent('exporter', 'node-1');
    await cluster.startComponent('exporter', 'node-2');
    [acrossExporter, acrossBoth] = await running;
    for (const r of [acrossExporter, acrossBoth]) assert.equal(r.verdict, 'allow', `${r.spec.name}: ${JSON.stringify(r.conversations)}`);
    bothRestartedLog = cluster.logOf('exporter', 'node-1');
    [afterRestarts] = await cluster.traffic([{ name: 'after-restarts', from: 'frontend/web-2', to: 'backend/api-1', port: 'http', requestBytes: 7_000, responseBytes: 11_000 }]);
    assert.equal(afterRestarts.verdict, 'allow');
  });

  after(async () => {
    await cluster?.stop();
  });

  it('exports a connection across a restart of its source Node\'s exporter without counting it twice', async () => {
    const c = acrossExporter.conversations[0];
    const f = await finalFlow(cluster, 'across-exporter-restart', c, { interNode: true, endReason: FlowEndReason.endOfFlow });
    assertSameInBoth('across-exporter-restart', f, {
      sourcePodName: 'web-2', sourceNodeName: 'node-2', destinationPodName: 'api-1', destinationNodeName: 'node-1', flowType: FlowType.interNode,
    });
    assert.ok(f.ipfix.length >= 2, `exported before and after the restart: ${f.ipfix.length} records`);
    // The stopping exporter sent its connections with flowEndReason 4. Checked in its own
    // account: at the collector the aggregator's record carries the reason of the latest report
    // of either Node, and the destination Node's next report can supersede the 4 within one
    // aggregator export interval.
    const stopped = stoppedExporterLog.split('\n').filter((l) => l.includes('flow exporter stopped')).map((l) => JSON.parse(l) as { recordsExported: number[]; collector: { recordsDropped: number } });
    assert.equal(stopped.length, 1, `the stopping exporter logged its end: ${stoppedExporterLog.slice(-2000)}`);
    assert.ok(stopped[0].recordsExported[FlowEndReason.forcedEnd] >= 1, `records with flowEndReason 4 at SIGTERM: ${JSON.stringify(stopped[0])}`);
    assert.equal(stopped[0].collector.recordsDropped, 0, 'and none of them was dropped');
  });

  it('counts a connection exactly when the exporters and the aggregator all restart before the exporters report it again', async () => {
    const c = acrossBoth.conversations[0];
    // finalFlow: at the collector and in the store the deltas add up to the final totals, which
    // are the bytes sent within header tolerance. Without the state file the restarted
    // exporter's first delta repeats what the stopped one sent, and the new aggregator counts it.
    const f = await finalFlow(cluster, 'across-both-restarts', c, { interNode: true, endReason: FlowEndReason.endOfFlow });
    const aggregatorSessions = [...new Set(cluster.ipfix.map((r) => r.sessionId))];
    assert.ok(aggregatorSessions.length >= 2, `the collector saw the restarted aggregator connect again: sessions ${JSON.stringify(aggregatorSessions)}`);
    assertSameInBoth('across-both-restarts', f, {
      sourcePodName: 'web-1', sourceNodeName: 'node-1', destinationPodName: 'api-2', destinationNodeName: 'node-2', flowType: FlowType.interNode,
    });
    const sessions = new Set(f.ipfix.map((r) => r.sessionId));
    assert.ok(sessions.size >= 2, `records of this connection came from both aggregator runs: ${f.ipfix.map((r) => `${r.sessionId}:${String(r.record.octetDeltaCount)}`).join(' ')}`);
    // Each Node's own counters add up too, at the collector.
    for (const side of ['FromSourceNode', 'FromDestinationNode']) {
      for (const [delta, total] of [['octetDeltaCount', 'octetTotalCount'], ['reverseOctetDeltaCount', 'reverseOctetTotalCount']]) {
        assert.equal(sum(f.ipfix.map((r) => r.record), `${delta}${side}`), Number(f.last[`${total}${side}`]), `${delta}${side}: ${f.ipfix.map((r) => `${r.sessionId}:${String(r.record[`${delta}${side}`])}`).join(' ')}`);
      }
    }
    // The scenario happened as meant: the stopped exporter sent the forced end, the new one
    // continued this connection from the state file.
    assert.match(bothStoppedLog, /flow exporter stopped/);
    assert.match(bothRestartedLog, /exporter state loaded/);
    const settled = bothRestartedLog.split('\n').filter((l) => l.includes('restored connections settled')).map((l) => JSON.parse(l) as { restored: number });
    assert.ok(settled.length === 1 && settled[0].restored >= 1, `the restarted exporter continued at least this connection: ${bothRestartedLog.slice(-2000)}`);
  });

  it('exports new connections after both restarts', async () => {
    const f = await finalFlow(cluster, 'after-restarts', afterRestarts.conversations[0], { interNode: true, endReason: FlowEndReason.endOfFlow });
    assertSameInBoth('after-restarts', f, { sourcePodName: 'web-2', destinationPodName: 'api-1', flowType: FlowType.interNode });
    assert.equal(f.row.correlated, 1);
  });
});
