import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../src/util/clock.js';
import { FlowExporter, type DeniedPacketSource, type RecordSink } from '../../../src/exporter/exporter.js';
import { parseExporterConfig } from '../../../src/exporter/config.js';
import type { ConntrackDumper, ConntrackEntry, ConntrackEvent } from '../../../src/exporter/conntrack/types.js';
import type { DeniedPacket } from '../../../src/exporter/nflog/parse.js';
import type { DataRecord } from '../../../src/ipfix/api.js';
import { EXPORTER_IPV4_TEMPLATE_ID, EXPORTER_IPV6_TEMPLATE_ID } from '../../../src/flow/ie-mapping.js';
import { FlowEndReason, FlowType, RuleAction } from '../../../src/flow/record.js';
import { entry } from './entries.js';
import { FakeMetadata, pod } from './fake-metadata.js';

class FakeDumper implements ConntrackDumper {
  table: ConntrackEntry[] = [];
  fail: Error | null = null;
  onEvent: ((e: ConntrackEvent) => void) | null = null;
  onOverflow: (() => void) | null = null;
  async dump(): Promise<ConntrackEntry[]> {
    if (this.fail) throw this.fail;
    return [...this.table];
  }
  async subscribe(onEvent: (e: ConntrackEvent) => void, onOverflow: () => void): Promise<() => Promise<void>> {
    this.onEvent = onEvent;
    this.onOverflow = onOverflow;
    return async () => {
      this.onEvent = null;
    };
  }
  async close(): Promise<void> {}
}

class FakeSink implements RecordSink {
  connected = true;
  sent: { templateId: number; record: DataRecord }[] = [];
  send(templateId: number, records: readonly DataRecord[]): number {
    for (const record of records) this.sent.push({ templateId, record });
    return records.length;
  }
  stats() {
    return { connected: this.connected, recordsSent: this.sent.length, recordsDropped: 0, recordsQueued: 0, reconnects: 0 };
  }
  async flush(): Promise<void> {}
  take(): DataRecord[] {
    const r = this.sent.map((s) => s.record);
    this.sent = [];
    return r;
  }
}

const quiet = { info() {}, warn() {}, error() {} };

function setup(yaml: Record<string, unknown> = {}, metadata: FakeMetadata | null = null, denied?: DeniedPacketSource) {
  const config = parseExporterConfig(
    { featureGates: { FlowExporter: true }, nodeName: 'node-a', connectionFilter: 'all', ...yaml },
    { defaultNodeName: 'h', baseDir: '/' },
  );
  const clock = new ManualClock(1_700_000_000_000);
  const dumper = new FakeDumper();
  const sink = new FakeSink();
  const exporter = new FlowExporter({ config, dumper, metadata, sink, clock, logger: quiet, denied, procSys: '/nonexistent' });
  return { config, clock, dumper, sink, exporter, metrics: exporter.metrics };
}

test('records go out under the IPv4 or IPv6 template with the 5-tuple, counters and reason', async () => {
  const { clock, dumper, sink, exporter } = setup();
  dumper.table = [
    entry({ id: 1, src: '10.0.0.1', dst: '10.0.0.2', sport: 1111, dport: 80, packets: 10, bytes: 1500, replyPackets: 8, replyBytes: 9000 }),
    entry({ id: 2, src: 'fd00::1', dst: 'fd00::2', sport: 2222, dport: 53, protocol: 17, packets: 1, bytes: 80, replyPackets: 1, replyBytes: 120 }),
  ];
  await exporter.pollOnce();
  assert.equal(sink.sent.length, 0, 'nothing due yet');
  clock.advance(15_000);
  await exporter.pollOnce();
  assert.deepEqual(sink.sent.map((s) => s.templateId).sort(), [EXPORTER_IPV4_TEMPLATE_ID, EXPORTER_IPV6_TEMPLATE_ID]);
  const v4 = sink.sent.find((s) => s.templateId === EXPORTER_IPV4_TEMPLATE_ID)?.record as DataRecord;
  assert.equal(v4.sourceIPv4Address, '10.0.0.1');
  assert.equal(v4.destinationIPv4Address, '10.0.0.2');
  assert.equal(v4.sourceTransportPort, 1111);
  assert.equal(v4.destinationTransportPort, 80);
  assert.equal(v4.packetTotalCount, 10);
  assert.equal(v4.octetDeltaCount, 1500);
  assert.equal(v4.reverseOctetTotalCount, 9000);
  assert.equal(v4.flowEndReason, FlowEndReason.idleTimeout);
  assert.equal(v4.tcpState, 'ESTABLISHED');
  const v6 = sink.sent.find((s) => s.templateId === EXPORTER_IPV6_TEMPLATE_ID)?.record as DataRecord;
  assert.equal(v6.sourceIPv6Address, 'fd00::1');
  assert.equal(v6.protocolIdentifier, 17);
  assert.equal(v6.tcpState, '');
  assert.deepEqual(exporter.stats().recordsExported, [0, 2, 0, 0, 0, 0]);
});

test('a connection born and dead between two polls reaches the collector with its final counters', async () => {
  const { clock, dumper, sink, exporter } = setup();
  await exporter.start();
  assert.ok(dumper.onEvent, 'start() subscribed to events');
  dumper.onEvent({ type: 'new', entry: entry({ id: 9, sport: 5555, tcpState: 'SYN_SENT' }) });
  dumper.onEvent({ type: 'destroy', entry: entry({ id: 9, sport: 5555, tcpState: 'CLOSE', packets: 6, bytes: 400, replyPackets: 5, replyBytes: 7000 }) });
  clock.advance(5000);
  await exporter.pollOnce();
  const got = sink.take().filter((r) => r.sourceTransportPort === 5555);
  assert.equal(got.length, 1);
  assert.equal(got[0].flowEndReason, FlowEndReason.endOfFlow);
  assert.equal(got[0].octetTotalCount, 400);
  assert.equal(got[0].reverseOctetTotalCount, 7000);
  assert.equal(got[0].tcpState, 'CLOSE');
  await exporter.stop();
  assert.equal(sink.take().length, 0, 'not exported again at stop');
});

test('while the collector is unreachable live connections wait, and the first export after it carries the whole delta', async () => {
  const { clock, dumper, sink, exporter } = setup();
  dumper.table = [entry({ id: 1, packets: 10, bytes: 1000 })];
  await exporter.pollOnce();
  sink.connected = false;
  for (let i = 1; i <= 24; i++) {
    clock.advance(5000);
    dumper.table = [entry({ id: 1, packets: 10 + i, bytes: 1000 + 100 * i })];
    await exporter.pollOnce();
  }
  assert.equal(sink.sent.length, 0);
  sink.connected = true;
  clock.advance(5000);
  await exporter.pollOnce();
  const [r] = sink.take();
  assert.equal(r.flowEndReason, FlowEndReason.activeTimeout);
  assert.equal(r.packetDeltaCount, 34);
  assert.equal(r.octetDeltaCount, 3400);
});

test('a failed dump ends no connection and is counted', async () => {
  const { clock, dumper, sink, exporter, metrics } = setup();
  dumper.table = [entry({ id: 1, packets: 1 })];
  await exporter.pollOnce();
  dumper.fail = new Error('ENOBUFS');
  clock.advance(5000);
  await exporter.pollOnce();
  assert.equal(sink.sent.length, 0);
  assert.equal(exporter.stats().pollErrors, 1);
  assert.match(await metrics.text(), /flowvis_exporter_poll_errors_total 1/);
  dumper.fail = null;
  clock.advance(5000);
  await exporter.pollOnce();
  assert.equal(sink.sent.length, 0, 'still live, not ended');
});

test('stop() exports every known connection with flowEndReason 4 after a last dump', async () => {
  const { clock, dumper, sink, exporter } = setup();
  dumper.table = [entry({ id: 1, sport: 1, packets: 3 }), entry({ id: 2, sport: 2, packets: 5 })];
  await exporter.start();
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setTimeout(r, 5));
  clock.advance(1000);
  dumper.table = [entry({ id: 1, sport: 1, packets: 4 }), entry({ id: 2, sport: 2, packets: 5 })];
  await exporter.stop();
  const got = sink.take();
  assert.deepEqual(got.map((r) => r.flowEndReason), [FlowEndReason.forcedEnd, FlowEndReason.forcedEnd]);
  assert.deepEqual(got.map((r) => r.packetDeltaCount).sort(), [4, 5]);
  assert.equal(exporter.store.size, 0);
});

test('connectionFilter localPods keeps only connections with a Pod of this Node at one end', async () => {
  const md = new FakeMetadata([pod('ns', 'web', 'node-a', '10.10.1.3'), pod('ns', 'db', 'node-b', '10.10.2.5')], new Map(), ['10.10.0.0/16']);
  const { clock, dumper, sink, exporter } = setup({ connectionFilter: 'localPods' }, md);
  dumper.table = [
    entry({ id: 1, src: '10.10.2.5', dst: '10.10.1.3', packets: 1 }),
    entry({ id: 2, src: '10.10.2.5', dst: '8.8.8.8', packets: 1 }),
    entry({ id: 3, src: '192.168.0.9', dst: '192.168.0.1', dport: 4739, packets: 1 }),
  ];
  await exporter.pollOnce();
  clock.advance(15_000);
  await exporter.pollOnce();
  const got = sink.take();
  assert.equal(got.length, 1);
  assert.equal(got[0].destinationPodName, 'web');
  assert.equal(got[0].flowType, FlowType.interNode);
  assert.ok(exporter.stats().filtered >= 2);
});

test('denied packets become one record per 5-tuple with the action and policy of the NFLOG prefix', async () => {
  let deliver: ((p: DeniedPacket) => void) | null = null;
  const denied: DeniedPacketSource = {
    async start(onPacket) {
      deliver = onPacket;
    },
    async stop() {},
  };
  const { clock, sink, exporter: withMetrics, metrics } = setup({ nflogGroup: 5 }, null, denied);
  await withMetrics.start();
  assert.ok(deliver);
  const packet = (sport: number): DeniedPacket => ({
    group: 5, ipVersion: 4, protocol: 6, sourceAddress: '10.10.1.2', destinationAddress: '10.10.1.3', sourcePort: sport, destinationPort: 5432,
    bytes: 60, timestampMs: clock.now(), prefix: 'flowvis:D:I:shop/db-only', deny: { action: 'drop', direction: 'ingress', policy: 'shop/db-only' },
    mark: 0, inInterface: 0, outInterface: 0,
  });
  const send = deliver as unknown as (p: DeniedPacket) => void;
  send(packet(40000));
  send(packet(40000));
  send(packet(40001));
  send({ ...packet(40002), deny: null, prefix: 'other' });
  clock.advance(15_000);
  withMetrics.exportDue();
  const got = sink.take();
  assert.equal(got.length, 2);
  const first = got.find((r) => r.sourceTransportPort === 40000) as DataRecord;
  assert.equal(first.packetTotalCount, 2);
  assert.equal(first.octetTotalCount, 120);
  assert.equal(first.ingressNetworkPolicyRuleAction, RuleAction.drop);
  assert.equal(first.ingressNetworkPolicyName, 'db-only');
  assert.equal(first.ingressNetworkPolicyNamespace, 'shop');
  assert.equal(first.ingressNetworkPolicyType, 1);
  assert.equal(first.egressNetworkPolicyRuleAction, RuleAction.none);
  assert.match(await metrics.text(), /antrea_agent_denied_connection_count 2/);
  await withMetrics.stop();
});

test('the metrics carry the reference four names and our counters', async () => {
  const { clock, dumper, exporter, metrics } = setup();
  dumper.table = [entry({ id: 1, packets: 1 })];
  await exporter.pollOnce();
  clock.advance(15_000);
  await exporter.pollOnce();
  const text = await metrics.text();
  for (const name of [
    'antrea_agent_conntrack_total_connection_count',
    'antrea_agent_conntrack_antrea_connection_count',
    'antrea_agent_denied_connection_count',
    'antrea_agent_conntrack_max_connection_count',
    'flowvis_exporter_poll_duration_seconds',
    'flowvis_exporter_records_exported_total',
    'flowvis_exporter_reconnections_total',
    'flowvis_exporter_records_dropped_total',
    'flowvis_exporter_records_lost_total',
    'flowvis_exporter_evictions_total',
    'flowvis_exporter_event_overflows_total',
  ]) {
    assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
  }
  assert.match(text, /^antrea_agent_conntrack_antrea_connection_count 1$/m);
  assert.match(text, /^flowvis_exporter_records_exported_total\{flowEndReason="1"\} 1$/m);
  assert.match(text, /^flowvis_exporter_poll_duration_seconds_count 2$/m);
  assert.match(text, /^antrea_agent_conntrack_max_connection_count nan$/im, 'unknown without procfs: NaN rather than an invented 0');
});

test('event overflows are counted', async () => {
  const { dumper, exporter, metrics } = setup();
  await exporter.start();
  dumper.onOverflow?.();
  dumper.onOverflow?.();
  assert.equal(exporter.stats().eventOverflows, 2);
  assert.match(await metrics.text(), /^flowvis_exporter_event_overflows_total 2$/m);
  await exporter.stop();
});
