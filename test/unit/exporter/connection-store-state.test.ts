// The exporter's state across restarts (src/exporter/state-file.ts): the file round trip, files
// it must not use (corrupt, old, another Node or boot), the connection store continuing a
// connection from its predecessor's totals only when it is the same kernel connection, and
// the loop writing the file at stop and every stateSaveInterval. Last, the reason it exists:
// an exporter and an aggregator that both restart before the exporter's next report still give
// exact totals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../../src/util/clock.js';
import { ConnectionStore, connectionKey, type ConnectionExport } from '../../../src/exporter/connection-store.js';
import {
  decodeState,
  encodeState,
  loadStateFile,
  writeStateFile,
  STATE_VERSION,
  type ExporterState,
  type SavedConnection,
} from '../../../src/exporter/state-file.js';
import { FlowExporter, type RecordSink } from '../../../src/exporter/exporter.js';
import { parseExporterConfig } from '../../../src/exporter/config.js';
import type { ConntrackDumper, ConntrackEntry, ConntrackEvent } from '../../../src/exporter/conntrack/types.js';
import type { DataRecord } from '../../../src/ipfix/api.js';
import { dataRecordToFlowRecord } from '../../../src/flow/ie-mapping.js';
import { AggregationProcess } from '../../../src/aggregator/aggregation.js';
import { FlowEndReason, type AggregatedFlowRecord } from '../../../src/flow/record.js';
import { entry, type EntrySpec } from './entries.js';

const T0 = 1_700_000_000_000;
const NODE = { nodeName: 'node-a', bootId: 'boot-1' };

/** Runs fn with a fresh temporary directory, removed afterwards even when fn fails. */
async function withTempDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'flowvis-state-'));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function saved(spec: EntrySpec, over: Partial<SavedConnection> = {}): SavedConnection {
  const e = entry(spec);
  return {
    key: connectionKey(e),
    id: e.id,
    startMs: e.startMs,
    flowStartMs: e.startMs,
    packets: e.originalPackets,
    bytes: e.originalBytes,
    reversePackets: e.replyPackets,
    reverseBytes: e.replyBytes,
    done: false,
    ...over,
  };
}

function state(connections: SavedConnection[], over: Partial<ExporterState> = {}): ExporterState {
  return { nodeName: 'node-a', bootId: 'boot-1', savedAtMs: T0, connections, ...over };
}

// ---- the file ----

test('a state file round-trips: what is written is what is read back', async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, 'sub', 'state.json');
    const s = state([
      saved({ id: 7, startMs: T0 - 5000, packets: 10, bytes: 1000, replyPackets: 4, replyBytes: 400 }),
      saved({ id: 8, sport: 4001, src: 'fd00::1', dst: 'fd00::2', packets: 2 ** 40, bytes: Number.MAX_SAFE_INTEGER }, { done: true, flowStartMs: T0 - 1 }),
      saved({ id: 9, protocol: 1, icmpId: 33, sport: 0, dport: 0, packets: 1 }),
    ]);
    await writeStateFile(file, encodeState(s));
    const got = loadStateFile(file, NODE);
    assert.equal(got.kind, 'loaded');
    assert.deepEqual(got.kind === 'loaded' ? got.state : null, s);
    assert.deepEqual(readFileSync(file, 'utf8'), encodeState(s), 'the temporary file was renamed over it');
  });
});

test('an absent file is a first start; an unreadable or malformed one is corrupt, with the reason', async () => {
  await withTempDir(async (dir) => {
    assert.deepEqual(loadStateFile(join(dir, 'none.json'), NODE), { kind: 'absent' });
    const good = encodeState(state([saved({ id: 1, packets: 3 })]));
    const cases: [string, RegExp][] = [
      ['', /not JSON/],
      [good.slice(0, good.length - 7), /not JSON/],
      ['[1,2]', /not a JSON object/],
      ['{"format":"something-else","version":1}', /"format"/],
      [good.replace('"nodeName":"node-a"', '"nodeName":5'), /wrong type/],
      [good.replace(',3,', ',-3,'), /connection 0 is not/],
      [good.replace(',3,', ',"3",'), /connection 0 is not/],
      [good.replace(/,0\]\]/, ',2]]'), /connection 0 is not/],
    ];
    for (const [text, why] of cases) {
      const file = join(dir, 'bad.json');
      writeFileSync(file, text);
      const got = loadStateFile(file, NODE);
      assert.equal(got.kind, 'corrupt', `${JSON.stringify(text.slice(0, 60))}: ${JSON.stringify(got)}`);
      assert.match(got.kind === 'corrupt' ? got.why : '', why);
    }
    // A directory where the file should be: unreadable, not a crash.
    const got = loadStateFile(dir, NODE);
    assert.equal(got.kind, 'corrupt');
  });
});

test('a file of another format version, another Node or from before a reboot is old and not used', () => {
  const base = encodeState(state([saved({ id: 1, packets: 3 })]));
  const other = (text: string) => decodeState(text, NODE);
  assert.deepEqual(other(base.replace(`"version":${STATE_VERSION}`, '"version":0')).kind, 'old');
  const node = other(encodeState(state([], { nodeName: 'node-b' })));
  assert.equal(node.kind, 'old');
  assert.match(node.kind === 'old' ? node.why : '', /Node "node-b"/);
  const boot = other(encodeState(state([], { bootId: 'boot-0' })));
  assert.match(boot.kind === 'old' ? boot.why : '', /rebooted/);
  // A host without a boot id (not Linux) cannot tell: the kernel id and start still must match.
  assert.equal(decodeState(encodeState(state([], { bootId: 'boot-0' })), { nodeName: 'node-a', bootId: '' }).kind, 'loaded');
  assert.equal(other(base).kind, 'loaded');
});

// ---- the connection store ----

function storeSetup() {
  const clock = new ManualClock(T0);
  const store = new ConnectionStore({ activeTimeoutMs: 60_000, idleTimeoutMs: 15_000, maxConnections: 100, clock, eventGraceMs: 1000 });
  const poll = (specs: EntrySpec[], complete = true): ConnectionExport[] => {
    store.applyDump(specs.map(entry), clock.now(), complete);
    return store.expire();
  };
  return { clock, store, poll };
}

const open = { id: 41, sport: 41000, startMs: T0 - 30_000 };

test('a connection the kernel still has under the same id and start continues its deltas from the saved totals', () => {
  const { clock, store, poll } = storeSetup();
  store.restore([saved({ ...open, packets: 100, bytes: 50_000, replyPackets: 60, replyBytes: 3000 })]);
  assert.deepEqual(poll([{ ...open, packets: 130, bytes: 65_000, replyPackets: 70, replyBytes: 3500 }]), []);
  clock.advance(15_000);
  const [x] = poll([{ ...open, packets: 130, bytes: 65_000, replyPackets: 70, replyBytes: 3500 }]);
  assert.equal(x.flowEndReason, FlowEndReason.idleTimeout);
  assert.deepEqual(
    [x.packetTotalCount, x.packetDeltaCount, x.octetTotalCount, x.octetDeltaCount, x.reversePacketDeltaCount, x.reverseOctetDeltaCount],
    [130, 30, 65_000, 15_000, 10, 500],
  );
  assert.equal(x.flowStartMs, open.startMs);
  assert.deepEqual([store.stats().restored, store.stats().restoreDiscarded], [1, 0]);
});

test('without conntrack timestamps the kernel id alone matches, and the records keep the predecessor\'s flowStartSeconds', () => {
  const { clock, store, poll } = storeSetup();
  const noTs = { id: 42, sport: 42000, startMs: 0 };
  store.restore([saved({ ...noTs, packets: 5, bytes: 500 }, { flowStartMs: T0 - 90_000 })]);
  poll([{ ...noTs, packets: 9, bytes: 900 }]);
  clock.advance(15_000);
  const [x] = poll([{ ...noTs, packets: 9, bytes: 900 }]);
  assert.deepEqual([x.flowStartMs, x.packetDeltaCount, x.octetDeltaCount], [T0 - 90_000, 4, 400]);
});

test('a new kernel connection on the saved 5-tuple (another id, another start, or lower counters) reports its whole total', () => {
  const cases: [string, EntrySpec, Partial<SavedConnection>][] = [
    ['another kernel id', { ...open, id: 99 }, {}],
    ['another start', { ...open, startMs: open.startMs + 1000 }, {}],
    ['counters below the saved totals', { ...open }, { packets: 500 }],
    ['neither id nor start known', { ...open, id: 0, startMs: 0 }, { id: 0, startMs: 0 }],
  ];
  for (const [what, now, over] of cases) {
    const { clock, store, poll } = storeSetup();
    store.restore([saved({ ...open, packets: 100, bytes: 50_000 }, over)]);
    poll([{ ...now, packets: 130, bytes: 65_000 }]);
    clock.advance(15_000);
    const [x] = poll([{ ...now, packets: 130, bytes: 65_000 }]);
    assert.deepEqual([x.packetDeltaCount, x.octetDeltaCount], [130, 65_000], what);
    assert.deepEqual([store.stats().restored, store.stats().restoreDiscarded], [0, 1], what);
  }
});

test('saved connections the first complete dump does not list are stale: dropped, and a later connection on that tuple starts afresh', () => {
  const { clock, store, poll } = storeSetup();
  const gone = { id: 43, sport: 43000, startMs: T0 - 20_000 };
  store.restore([saved({ ...gone, packets: 10, bytes: 1000 }), saved({ ...open, packets: 1, bytes: 10 })]);
  // An incomplete dump cannot tell what is gone: both stay pending.
  poll([], false);
  assert.equal(store.pendingRestores, 2);
  poll([{ ...open, packets: 2, bytes: 20 }]);
  assert.equal(store.pendingRestores, 0);
  assert.deepEqual([store.stats().restored, store.stats().restoreDiscarded], [1, 1]);
  // The same id and start coming back later (it cannot, but a stale file must not be used then).
  poll([{ ...open, packets: 2, bytes: 20 }, { ...gone, packets: 12, bytes: 1200 }]);
  clock.advance(15_000);
  const xs = poll([{ ...open, packets: 2, bytes: 20 }, { ...gone, packets: 12, bytes: 1200 }]);
  const late = xs.find((x) => x.entry.original.sourcePort === gone.sport)!;
  assert.equal(late.octetDeltaCount, 1200);
});

test('a saved connection whose end was exported is a tombstone after the restart: not reported again', () => {
  const { clock, store, poll } = storeSetup();
  const closed = { ...open, tcpState: 'TIME_WAIT', packets: 20, bytes: 2000 };
  store.restore([saved(closed, { done: true })]);
  assert.deepEqual(poll([closed]), []);
  clock.advance(120_000);
  assert.deepEqual(poll([closed]), [], 'not while the kernel keeps it');
  assert.deepEqual(poll([]), [], 'nor when it goes');
  assert.equal(store.size, 0);
});

test('a connection first heard of from an event continues from the saved totals once a dump gives its counters', () => {
  const { clock, store, poll } = storeSetup();
  store.restore([saved({ ...open, packets: 100, bytes: 50_000 })]);
  // Events carry no counters and no start.
  store.applyEvent({ type: 'update', entry: entry({ ...open, startMs: 0, tcpState: 'ESTABLISHED' }) });
  poll([{ ...open, packets: 110, bytes: 51_000 }]);
  clock.advance(15_000);
  const [x] = poll([{ ...open, packets: 110, bytes: 51_000 }]);
  assert.deepEqual([x.packetDeltaCount, x.octetDeltaCount, x.flowStartMs], [10, 1000, open.startMs]);
});

test('the store saves what it exported (not what it has seen since), and at drain the totals of the forced-end records', () => {
  const { clock, store, poll } = storeSetup();
  poll([{ ...open, packets: 10, bytes: 1000 }]);
  clock.advance(15_000);
  poll([{ ...open, packets: 10, bytes: 1000 }]);
  poll([{ ...open, packets: 15, bytes: 1500 }]);
  assert.deepEqual(store.savedConnections().map((c) => [c.packets, c.bytes, c.done]), [[10, 1000, false]]);
  const after: SavedConnection[] = [];
  const forced = store.drainAll(after);
  assert.deepEqual(forced.map((x) => [x.flowEndReason, x.packetDeltaCount]), [[FlowEndReason.forcedEnd, 5]]);
  assert.deepEqual(after.map((c) => [c.key, c.id, c.startMs, c.packets, c.bytes, c.done]), [[connectionKey(entry(open)), open.id, open.startMs, 15, 1500, false]]);
});

// ---- the loop ----

class FakeDumper implements ConntrackDumper {
  table: ConntrackEntry[] = [];
  async dump(): Promise<ConntrackEntry[]> {
    return [...this.table];
  }
  async subscribe(_onEvent: (e: ConntrackEvent) => void): Promise<() => Promise<void>> {
    return async () => {};
  }
  async close(): Promise<void> {}
}

class FakeSink implements RecordSink {
  sent: DataRecord[] = [];
  flushes = true;
  send(_templateId: number, records: readonly DataRecord[]): number {
    this.sent.push(...records);
    return records.length;
  }
  stats() {
    return { connected: true, recordsSent: this.sent.length, recordsDropped: 0, recordsQueued: this.flushes ? 0 : 1, reconnects: 0 };
  }
  flush(): Promise<void> {
    return this.flushes ? Promise.resolve() : new Promise(() => {});
  }
  take(): DataRecord[] {
    const r = this.sent;
    this.sent = [];
    return r;
  }
}

interface LogLine {
  level: string;
  obj: Record<string, unknown>;
  msg: string;
}

function loopSetup(file: string, clock: ManualClock, yaml: Record<string, unknown> = {}) {
  const config = parseExporterConfig(
    { featureGates: { FlowExporter: true }, nodeName: 'node-a', connectionFilter: 'all', activeFlowExportTimeout: '60s', idleFlowExportTimeout: '15s', ...yaml },
    { defaultNodeName: 'h', baseDir: '/' },
  );
  const lines: LogLine[] = [];
  const logger = {
    info: (obj: object, msg: string) => lines.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
    warn: (obj: object, msg: string) => lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
    error: (obj: object, msg: string) => lines.push({ level: 'error', obj: obj as Record<string, unknown>, msg }),
  };
  const dumper = new FakeDumper();
  const sink = new FakeSink();
  const exporter = new FlowExporter({
    config, dumper, metadata: null, sink, clock, logger, procSys: '/nonexistent', flushTimeoutMs: 50,
    state: { file, saveIntervalMs: 30_000, bootId: 'boot-1' },
  });
  return { dumper, sink, exporter, lines };
}

const conn = (packets: number, bytes: number) => entry({ ...open, packets, bytes, replyPackets: packets, replyBytes: bytes / 10 });

test('a restarted exporter continues from the state its predecessor wrote at stop: the deltas add up to the total', async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, 'state.json');
    const clock = new ManualClock(T0);
    const first = loopSetup(file, clock);
    first.dumper.table = [conn(10, 10_000)];
    await first.exporter.start();
    await first.exporter.pollOnce();
    first.dumper.table = [conn(40, 40_000)];
    await first.exporter.stop();
    const before = first.sink.take();
    assert.deepEqual(before.map((r) => [r.flowEndReason, r.octetDeltaCount]), [[FlowEndReason.forcedEnd, 40_000]]);
    assert.ok(first.lines.some((l) => /no exporter state file/.test(l.msg)), 'the first start says it has no state');

    clock.advance(2000);
    const second = loopSetup(file, clock);
    second.dumper.table = [conn(55, 55_000)];
    await second.exporter.start();
    await second.exporter.pollOnce();
    assert.ok(second.lines.some((l) => /exporter state loaded/.test(l.msg) && l.obj.connections === 1));
    second.dumper.table = [conn(70, 70_000)];
    await second.exporter.stop();
    const after = second.sink.take();
    assert.deepEqual(after.map((r) => [r.flowEndReason, r.octetTotalCount, r.octetDeltaCount, r.packetDeltaCount, r.reverseOctetDeltaCount]), [[FlowEndReason.forcedEnd, 70_000, 30_000, 30, 3000]]);
    assert.equal(after[0].flowStartSeconds, before[0].flowStartSeconds);
    assert.equal(second.exporter.stats().store.restored, 1);
    const text = await second.exporter.metrics.registry.metrics();
    assert.match(text, /^flowvis_exporter_state_restored_total 1$/m);
    assert.match(text, /^flowvis_exporter_state_discarded_total 0$/m);
  });
});

test('a corrupt state file is logged and ignored: a fresh start that reports the whole total, and no crash', async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, 'state.json');
    writeFileSync(file, '{"format":"flowvis-exporter-state","version":1,"nodeName":"node-a","bootId":"boot-1","savedAtMs":1,"connections":[["0/6/x",');
    const clock = new ManualClock(T0);
    const { dumper, sink, exporter, lines } = loopSetup(file, clock);
    dumper.table = [conn(40, 40_000)];
    await exporter.start();
    await exporter.stop();
    const warn = lines.find((l) => l.level === 'warn' && /state file is unreadable/.test(l.msg));
    assert.ok(warn, JSON.stringify(lines));
    assert.match(String(warn.obj.why), /not JSON/);
    assert.deepEqual(sink.take().map((r) => r.octetDeltaCount), [40_000]);
    assert.equal(loadStateFile(file, NODE).kind, 'loaded', 'and the stop wrote a good one over it');
  });
});

test('when the forced-end records cannot be delivered, the state keeps the totals exported before them', async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, 'state.json');
    const clock = new ManualClock(T0);
    const { dumper, sink, exporter } = loopSetup(file, clock);
    dumper.table = [conn(10, 10_000)];
    await exporter.pollOnce();
    clock.advance(15_000);
    await exporter.pollOnce(); // idle export: 10 000 bytes out
    dumper.table = [conn(40, 40_000)];
    sink.flushes = false;
    await exporter.start();
    await exporter.stop();
    const got = loadStateFile(file, NODE);
    assert.equal(got.kind, 'loaded');
    assert.deepEqual(got.kind === 'loaded' ? got.state.connections.map((c) => c.bytes) : [], [10_000]);
  });
});

test('the state file is written every stateSaveInterval while running, with what was exported', async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, 'state.json');
    const clock = new ManualClock(T0);
    const { dumper, exporter } = loopSetup(file, clock);
    await exporter.start(); // loads (absent) and starts the interval
    dumper.table = [conn(10, 10_000)];
    await exporter.pollOnce();
    clock.advance(15_000);
    await exporter.pollOnce();
    assert.equal(existsSync(file), false, 'not before the interval');
    clock.advance(15_000);
    dumper.table = [conn(12, 12_000)];
    await exporter.pollOnce();
    // The write is asynchronous; stop() waits for it before its own.
    for (let i = 0; i < 100 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 5));
    const got = loadStateFile(file, NODE);
    assert.deepEqual(got.kind === 'loaded' ? got.state.connections.map((c) => c.bytes) : got, [10_000]);
    await exporter.stop();
  });
});

test('with connectionFilter localPods, a restored connection is followed before the metadata knows its Pod', async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, 'state.json');
    await writeStateFile(file, encodeState(state([saved({ ...open, packets: 10, bytes: 10_000, replyPackets: 10, replyBytes: 1000 })])));
    const clock = new ManualClock(T0);
    const { dumper, sink, exporter } = loopSetup(file, clock, { connectionFilter: 'localPods' });
    dumper.table = [conn(40, 40_000)];
    await exporter.start();
    await exporter.stop();
    assert.deepEqual(sink.take().map((r) => [r.octetTotalCount, r.octetDeltaCount]), [[40_000, 30_000]]);
  });
});

// ---- why: both restarts before the exporter's next report ----

/** Aggregators on one clock that all export into `out`, and delivery of an exporter's records to one. */
function aggregatorHarness(clock: ManualClock) {
  const out: AggregatedFlowRecord[] = [];
  const aggregator = () => new AggregationProcess({ clock, activeTimeoutMs: 5000, inactiveTimeoutMs: 60_000, correlationWaitMs: 3000, maxFlows: 100, onExport: (r) => out.push(r) });
  const session = { address: '10.0.0.9', observationDomainId: 1 };
  const deliver = (agg: AggregationProcess, records: DataRecord[]): void => {
    for (const d of records) assert.ok(agg.ingest(dataRecordToFlowRecord(d), session));
  };
  return { out, aggregator, deliver };
}

test('an exporter and an aggregator that both restart before the exporter\'s next report count every byte once', async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, 'state.json');
    const clock = new ManualClock(T0);
    const { out, aggregator, deliver } = aggregatorHarness(clock);

    const agg1 = aggregator();
    const exp1 = loopSetup(file, clock);
    await exp1.exporter.start();
    exp1.dumper.table = [conn(10, 10_000)];
    await exp1.exporter.pollOnce();
    clock.advance(15_000);
    await exp1.exporter.pollOnce();
    deliver(agg1, exp1.sink.take());
    exp1.dumper.table = [conn(40, 40_000)];
    await exp1.exporter.stop();
    deliver(agg1, exp1.sink.take());
    agg1.flush();

    // Both restarted: the new aggregator never saw this connection.
    const agg2 = aggregator();
    const exp2 = loopSetup(file, clock);
    exp2.dumper.table = [conn(90, 90_000)];
    await exp2.exporter.start();
    await exp2.exporter.stop();
    deliver(agg2, exp2.sink.take());
    agg2.flush();

    assert.equal(out.reduce((s, r) => s + r.octetDeltaCount, 0), 90_000, `deltas ${out.map((r) => r.octetDeltaCount).join(' + ')}`);
    assert.equal(out.reduce((s, r) => s + r.reverseOctetDeltaCount, 0), 9000);
    assert.equal(out[out.length - 1].octetTotalCount, 90_000);
  });
});

test('the other order, the aggregator restarting first and the exporter before its next report, counts every byte once too', async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, 'state.json');
    const clock = new ManualClock(T0);
    const { out, aggregator, deliver } = aggregatorHarness(clock);
    const exp1 = loopSetup(file, clock);
    await exp1.exporter.start();
    exp1.dumper.table = [conn(10, 10_000)];
    await exp1.exporter.pollOnce();
    clock.advance(15_000);
    await exp1.exporter.pollOnce();
    const agg1 = aggregator();
    deliver(agg1, exp1.sink.take());
    agg1.flush();
    // The aggregator restarted; the exporter's forced end reaches the new one, then it restarts.
    const agg2 = aggregator();
    exp1.dumper.table = [conn(40, 40_000)];
    await exp1.exporter.stop();
    deliver(agg2, exp1.sink.take());
    const exp2 = loopSetup(file, clock);
    exp2.dumper.table = [conn(90, 90_000)];
    await exp2.exporter.start();
    await exp2.exporter.stop();
    deliver(agg2, exp2.sink.take());
    agg2.flush();
    assert.equal(out.reduce((s, r) => s + r.octetDeltaCount, 0), 90_000, `deltas ${out.map((r) => r.octetDeltaCount).join(' + ')}`);
    assert.equal(out.reduce((s, r) => s + r.packetDeltaCount, 0), 90);
  });
});

test('a state file that cannot be written is logged at stop, and the exporter still stops cleanly', async () => {
  await withTempDir(async (dir) => {
    const blocker = join(dir, 'not-a-directory');
    writeFileSync(blocker, '');
    const clock = new ManualClock(T0);
    const { dumper, sink, exporter, lines } = loopSetup(join(blocker, 'state.json'), clock);
    dumper.table = [conn(40, 40_000)];
    await exporter.start();
    await exporter.stop();
    assert.deepEqual(sink.take().map((r) => r.flowEndReason), [FlowEndReason.forcedEnd]);
    const warn = lines.find((l) => l.level === 'warn' && /cannot write the exporter state file/.test(l.msg));
    assert.ok(warn, JSON.stringify(lines));
    assert.match(await exporter.metrics.registry.metrics(), /^flowvis_exporter_state_write_errors_total 1$/m);
  });
});
