// The exporter loop with a streaming dumper like CtnetlinkDumper: held connections go through the
// store's fast path (dumpKnown), the rest through dumpEntry, and a dump's summary says whether it
// was complete. The sequences here are the end-to-end failure "a TCP connection exported as ended
// while still ESTABLISHED, with counters from before the response, and never again".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../src/util/clock.js';
import { FlowExporter, type RecordSink } from '../../../src/exporter/exporter.js';
import { parseExporterConfig } from '../../../src/exporter/config.js';
import { addressDigest } from '../../../src/exporter/connection-store.js';
import type { DumpOptions, DumpSummary } from '../../../src/exporter/conntrack/ctnetlink.js';
import type { ConntrackDigest, ConntrackDumper, ConntrackEntry, ConntrackEvent } from '../../../src/exporter/conntrack/types.js';
import type { DataRecord } from '../../../src/ipfix/api.js';
import { FlowEndReason } from '../../../src/flow/record.js';
import { entry, type EntrySpec } from './entries.js';
import { FakeMetadata, pod } from './fake-metadata.js';

function digestOf(e: ConntrackEntry): ConntrackDigest {
  return {
    id: e.id, ipVersion: e.ipVersion, protocol: e.protocol, zone: e.zone, mark: e.mark, status: e.status, tcpState: e.tcpState,
    timeoutSeconds: 0, originalPackets: e.originalPackets, originalBytes: e.originalBytes, replyPackets: e.replyPackets, replyBytes: e.replyBytes,
    startMs: e.startMs, stopMs: e.stopMs, sourcePort: e.original.sourcePort, destinationPort: e.original.destinationPort,
    sourceAddressDigest: addressDigest(e.original.sourceAddress), destinationAddressDigest: addressDigest(e.original.destinationAddress),
  };
}

/** Streams `table` like CtnetlinkDumper.dumpEach: digest to `known` first, else the entry. */
class FakeStreamingDumper implements ConntrackDumper {
  table: ConntrackEntry[] = [];
  interrupted = false;
  malformed = 0;
  onEvent: ((e: ConntrackEvent) => void) | null = null;
  fastPathTook = 0;
  async dump(): Promise<ConntrackEntry[]> {
    throw new Error('the exporter should stream');
  }
  async dumpEach(onEntry: (e: ConntrackEntry) => void, options: DumpOptions = {}): Promise<DumpSummary> {
    for (const e of this.table) {
      if (options.known && options.known(digestOf(e))) {
        this.fastPathTook++;
        continue;
      }
      onEntry(e);
    }
    return { entries: this.table.length, malformed: this.malformed, otherZone: 0, interrupted: this.interrupted };
  }
  async subscribe(onEvent: (e: ConntrackEvent) => void): Promise<() => Promise<void>> {
    this.onEvent = onEvent;
    return async () => {
      this.onEvent = null;
    };
  }
  async close(): Promise<void> {}
}

class FakeSink implements RecordSink {
  sent: DataRecord[] = [];
  send(_templateId: number, records: readonly DataRecord[]): number {
    this.sent.push(...records);
    return records.length;
  }
  stats() {
    return { connected: true, recordsSent: this.sent.length, recordsDropped: 0, recordsQueued: 0, reconnects: 0 };
  }
  async flush(): Promise<void> {}
}

const quiet = { info() {}, warn() {}, error() {} };
const POLL = 1000;

function setup(yaml: Record<string, unknown> = {}, metadata: FakeMetadata | null = null) {
  const config = parseExporterConfig(
    { featureGates: { FlowExporter: true }, nodeName: 'node-a', connectionFilter: 'all', flowPollInterval: '1s', activeFlowExportTimeout: '3s', idleFlowExportTimeout: '2s', ...yaml },
    { defaultNodeName: 'h', baseDir: '/' },
  );
  const clock = new ManualClock(1_700_000_000_000);
  const dumper = new FakeStreamingDumper();
  const sink = new FakeSink();
  const exporter = new FlowExporter({ config, dumper, metadata, sink, clock, logger: quiet, procSys: '/nonexistent' });
  return { clock, dumper, sink, exporter };
}

const conn = (over: EntrySpec = {}): ConntrackEntry => entry({ id: 21, src: '10.10.2.10', dst: '10.10.2.11', sport: 56692, dport: 8080, startMs: 1_699_999_999_500, ...over });
const MID_FLIGHT = { packets: 4, bytes: 4216, replyPackets: 3, replyBytes: 164 };
const DONE = { packets: 7, bytes: 4372, replyPackets: 6, replyBytes: 6320 };

function sumOf(records: DataRecord[], key: string): number {
  return records.reduce((s, r) => s + Number(r[key]), 0);
}

test('a dump the kernel flagged interrupted ends nothing: the connection it missed is exported once, complete, when it really ends', async () => {
  const { clock, dumper, sink, exporter } = setup();
  dumper.table = [conn(MID_FLIGHT)];
  await exporter.pollOnce();
  clock.advance(POLL);
  dumper.table = [];
  dumper.interrupted = true;
  await exporter.pollOnce();
  clock.advance(POLL);
  dumper.interrupted = false;
  dumper.table = [conn({ ...DONE, tcpState: 'TIME_WAIT' })];
  await exporter.pollOnce();
  assert.deepEqual(sink.sent.map((r) => [r.flowEndReason, r.tcpState, r.octetTotalCount, r.reverseOctetTotalCount]), [[FlowEndReason.endOfFlow, 'TIME_WAIT', 4372, 6320]]);
  assert.equal(exporter.stats().incompleteDumps, 1);
  assert.equal(exporter.stats().store.ended, 1);
});

test('a dump with unreadable messages ends nothing either', async () => {
  const { clock, dumper, sink, exporter } = setup();
  dumper.table = [conn(MID_FLIGHT)];
  await exporter.pollOnce();
  clock.advance(POLL);
  dumper.table = [];
  dumper.malformed = 1;
  await exporter.pollOnce();
  clock.advance(POLL);
  await exporter.pollOnce();
  assert.deepEqual(sink.sent.filter((r) => r.flowEndReason === FlowEndReason.endOfFlow), []);
});

test('a held connection the Pod filter would now reject is still updated from dumps, not ended as vanished', async () => {
  // The metadata briefly does not know the local Pod (an inventory being rewritten): the
  // connection must neither end with the counters of before the response nor be lost.
  const md = new FakeMetadata([pod('frontend', 'web-2', 'node-a', '10.10.2.10')], new Map(), ['10.10.0.0/16']);
  const { clock, dumper, sink, exporter } = setup({ connectionFilter: 'localPods' }, md);
  dumper.table = [conn(MID_FLIGHT)];
  await exporter.pollOnce();
  const pods = md.pods.splice(0);
  for (let i = 0; i < 3; i++) {
    clock.advance(POLL);
    dumper.table = [conn({ ...MID_FLIGHT, replyPackets: 4 + i, replyBytes: 1000 * (i + 1) })];
    await exporter.pollOnce();
  }
  md.pods.push(...pods);
  clock.advance(POLL);
  dumper.table = [conn({ ...DONE, tcpState: 'TIME_WAIT' })];
  await exporter.pollOnce();
  const ended = sink.sent.filter((r) => r.flowEndReason === FlowEndReason.endOfFlow);
  assert.deepEqual(ended.map((r) => [r.tcpState, r.reverseOctetTotalCount]), [['TIME_WAIT', 6320]]);
  for (const [delta, total] of [['octetDeltaCount', 'octetTotalCount'], ['reverseOctetDeltaCount', 'reverseOctetTotalCount']]) {
    assert.equal(sumOf(sink.sent, delta), Number(ended[0][total]), `${delta} of every record adds up to the final ${total}`);
  }
});

test('a connection gone from a dump waits for its DESTROY event, which brings the final counters', async (t) => {
  const { clock, dumper, sink, exporter } = setup();
  await exporter.start();
  t.after(() => exporter.stop());
  dumper.table = [conn(MID_FLIGHT)];
  await exporter.pollOnce();
  clock.advance(POLL);
  dumper.table = [];
  await exporter.pollOnce();
  assert.equal(sink.sent.length, 0, 'not ended with the counters of before the response');
  dumper.onEvent!({ type: 'destroy', entry: conn({ ...DONE, tcpState: 'CLOSE', stopMs: clock.now() }) });
  clock.advance(POLL);
  await exporter.pollOnce();
  assert.deepEqual(sink.sent.map((r) => [r.flowEndReason, r.octetTotalCount, r.reverseOctetTotalCount, r.reverseOctetDeltaCount]), [[FlowEndReason.endOfFlow, 4372, 6320, 6320]]);
});

test('held connections take the fast path: a poll of an unchanged table makes no entry, and exports the same records', async () => {
  const { clock, dumper, sink, exporter } = setup();
  dumper.table = [conn(MID_FLIGHT), conn({ id: 22, sport: 56693, ...MID_FLIGHT })];
  await exporter.pollOnce();
  assert.equal(dumper.fastPathTook, 0);
  for (let i = 1; i <= 3; i++) {
    clock.advance(POLL);
    dumper.table = [conn({ ...MID_FLIGHT, bytes: 4216 + i }), conn({ id: 22, sport: 56693, ...MID_FLIGHT })];
    await exporter.pollOnce();
  }
  assert.equal(dumper.fastPathTook, 6);
  assert.equal(exporter.stats().lastDumpEntries, 2);
  const byPort = new Map(sink.sent.map((r) => [r.sourceTransportPort, r]));
  assert.equal(byPort.get(56692)?.octetTotalCount, 4219);
  assert.equal(byPort.get(56692)?.flowEndReason, FlowEndReason.activeTimeout);
  assert.equal(byPort.get(56693)?.flowEndReason, FlowEndReason.idleTimeout);
});

test('an event-only connection is never exported with zero counters after an exporter restart', async (t) => {
  const { clock, dumper, sink, exporter } = setup();
  await exporter.start();
  t.after(() => exporter.stop());
  // Before the first dump of the restarted exporter, the live connection changes state.
  dumper.onEvent!({ type: 'update', entry: conn({ startMs: 0, tcpState: 'FIN_WAIT' }) });
  clock.advance(5 * POLL);
  exporter.exportDue();
  assert.equal(sink.sent.length, 0, JSON.stringify(sink.sent));
  dumper.table = [conn({ ...DONE, tcpState: 'FIN_WAIT' })];
  await exporter.pollOnce();
  clock.advance(3 * POLL);
  await exporter.pollOnce();
  assert.ok(sink.sent.length > 0);
  assert.ok(sink.sent.every((r) => Number(r.octetTotalCount) === 4372 && Number(r.flowStartSeconds) === 1_699_999_999), JSON.stringify(sink.sent));
});

test('a close seen in an event while a dump is being read is exported with the counters of a later dump, not the dump\'s older snapshot', async (t) => {
  // The kernel wrote the connection into a dump datagram while it was ESTABLISHED, mid-flight;
  // before the exporter read that datagram, the connection finished and its TIME_WAIT UPDATE
  // event was read from the event socket. Then the stale snapshot arrived.
  const { clock, dumper, sink, exporter } = setup();
  await exporter.start();
  t.after(() => exporter.stop());
  dumper.table = [conn(MID_FLIGHT)];
  await exporter.pollOnce();
  clock.advance(POLL);
  const stale = conn({ ...MID_FLIGHT, replyPackets: 3 });
  dumper.table = [];
  const dumpEach = dumper.dumpEach.bind(dumper);
  dumper.dumpEach = async (onEntry, options) => {
    clock.advance(5);
    dumper.onEvent!({ type: 'update', entry: conn({ tcpState: 'TIME_WAIT', startMs: 0 }) });
    dumper.table = [stale];
    return dumpEach(onEntry, options);
  };
  await exporter.pollOnce();
  dumper.dumpEach = dumpEach;
  assert.deepEqual(sink.sent.map((r) => [r.flowEndReason, r.tcpState, r.reverseOctetTotalCount]), [], 'not ended with the stale snapshot');
  clock.advance(POLL);
  dumper.table = [conn({ ...DONE, tcpState: 'TIME_WAIT' })];
  await exporter.pollOnce();
  assert.deepEqual(sink.sent.map((r) => [r.flowEndReason, r.tcpState, r.octetTotalCount, r.reverseOctetTotalCount]), [[FlowEndReason.endOfFlow, 'TIME_WAIT', 4372, 6320]]);
  clock.advance(POLL);
  await exporter.pollOnce();
  assert.equal(sink.sent.length, 1, 'exported once');
});

test('a connection whose counters were never known is counted as a dropped record in the metrics, not exported', async (t) => {
  const { clock, dumper, sink, exporter } = setup();
  await exporter.start();
  t.after(() => exporter.stop());
  dumper.onEvent!({ type: 'new', entry: conn({ startMs: 0, tcpState: 'SYN_SENT' }) });
  clock.advance(POLL);
  dumper.table = [];
  await exporter.pollOnce();
  clock.advance(POLL);
  await exporter.pollOnce();
  assert.equal(sink.sent.length, 0);
  assert.equal(exporter.stats().store.countersUnknown, 1);
  assert.match(await exporter.metrics.text(), /flowvis_exporter_records_dropped_total\{cause="counters_unknown"\} 1/);
});
