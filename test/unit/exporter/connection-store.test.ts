import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../src/util/clock.js';
import { ConnectionStore, IPS_DYING, type ConnectionExport } from '../../../src/exporter/connection-store.js';
import { FlowEndReason } from '../../../src/flow/record.js';
import { entry, type EntrySpec } from './entries.js';

const ACTIVE = 60_000;
const IDLE = 15_000;
const POLL = 5_000;

function setup(maxConnections = 1000) {
  const clock = new ManualClock(1_700_000_000_000);
  const store = new ConnectionStore({ activeTimeoutMs: ACTIVE, idleTimeoutMs: IDLE, maxConnections, clock });
  /** One poll: dump these entries, then collect what is due. */
  const poll = (...specs: EntrySpec[]): ConnectionExport[] => {
    store.applyDump(specs.map(entry), clock.now());
    return store.expire();
  };
  return { clock, store, poll };
}

const reasons = (xs: ConnectionExport[]) => xs.map((x) => x.flowEndReason);

test('a continuously active connection is exported every active timeout with reason 2 and deltas since the last export', () => {
  const { clock, poll } = setup();
  const exports: ConnectionExport[] = [];
  let packets = 0;
  for (let t = 0; t <= 2 * ACTIVE; t += POLL) {
    packets += 10;
    exports.push(...poll({ packets, bytes: packets * 100, replyPackets: packets / 2, replyBytes: packets * 50 }));
    clock.advance(POLL);
  }
  assert.deepEqual(reasons(exports), [FlowEndReason.activeTimeout, FlowEndReason.activeTimeout]);
  const [a, b] = exports;
  // First export at t = 60 s (13th poll: 130 packets), the second at t = 120 s (250 packets).
  assert.equal(a.packetTotalCount, 130);
  assert.equal(a.packetDeltaCount, 130);
  assert.equal(b.packetTotalCount, 250);
  assert.equal(b.packetDeltaCount, 120);
  assert.equal(b.octetDeltaCount, 12_000);
  assert.equal(b.reversePacketDeltaCount, 60);
  assert.equal(b.reverseOctetDeltaCount, 6_000);
  assert.equal(a.packetDeltaCount + b.packetDeltaCount, b.packetTotalCount);
});

test('a connection without new packets for the idle timeout is exported once with reason 1, and again once it resumes', () => {
  const { clock, poll } = setup();
  assert.deepEqual(poll({ packets: 5, bytes: 500 }), []);
  const got: ConnectionExport[] = [];
  for (let t = POLL; t <= 40_000; t += POLL) {
    clock.advance(POLL);
    got.push(...poll({ packets: 5, bytes: 500 }));
  }
  assert.deepEqual(reasons(got), [FlowEndReason.idleTimeout]);
  assert.equal(got[0].packetDeltaCount, 5);
  clock.advance(POLL);
  assert.deepEqual(poll({ packets: 7, bytes: 700 }), [], 'resumed: not due yet');
  clock.advance(IDLE);
  const resumed = poll({ packets: 7, bytes: 700 });
  assert.deepEqual(reasons(resumed), [FlowEndReason.idleTimeout]);
  assert.equal(resumed[0].packetDeltaCount, 2);
  assert.equal(resumed[0].octetDeltaCount, 200);
});

test('the exports come out in deadline order', () => {
  const { clock, store, poll } = setup();
  poll({ sport: 1, packets: 1 });
  clock.advance(1000);
  store.applyDump([entry({ sport: 1, packets: 1 }), entry({ sport: 2, id: 2, packets: 1 })], clock.now());
  clock.advance(1000);
  store.applyDump([entry({ sport: 1, packets: 1 }), entry({ sport: 2, id: 2, packets: 1 }), entry({ sport: 3, id: 3, packets: 1 })], clock.now());
  clock.advance(IDLE);
  const got = store.expire();
  assert.deepEqual(got.map((x) => x.entry.original.sourcePort), [1, 2, 3]);
});

test('a connection born and destroyed between two polls is exported with its final counters and reason 3', () => {
  const { clock, store, poll } = setup();
  assert.deepEqual(poll(), []);
  clock.advance(1000);
  store.applyEvent({ type: 'new', entry: entry({ sport: 5555, tcpState: 'SYN_SENT' }) });
  clock.advance(1000);
  store.applyEvent({ type: 'destroy', entry: entry({ sport: 5555, tcpState: 'CLOSE', packets: 6, bytes: 420, replyPackets: 4, replyBytes: 9000 }) });
  clock.advance(3000);
  const got = poll();
  assert.equal(got.length, 1);
  const [x] = got;
  assert.equal(x.flowEndReason, FlowEndReason.endOfFlow);
  assert.equal(x.entry.original.sourcePort, 5555);
  assert.equal(x.entry.tcpState, 'CLOSE');
  assert.deepEqual(
    [x.packetTotalCount, x.octetTotalCount, x.reversePacketTotalCount, x.reverseOctetTotalCount],
    [6, 420, 4, 9000],
  );
  assert.deepEqual([x.packetDeltaCount, x.octetDeltaCount], [6, 420]);
  assert.equal(x.flowStartMs, 1_700_000_001_000);
  assert.equal(x.flowEndMs, 1_700_000_002_000);
  assert.deepEqual(poll(), [], 'exported once');
});

test('a DESTROY event without counters keeps the last counters seen', () => {
  const { clock, store, poll } = setup();
  poll({ packets: 10, bytes: 1000 });
  clock.advance(1000);
  store.applyEvent({ type: 'destroy', entry: entry({ tcpState: '' }) });
  const [x] = store.expire();
  assert.equal(x.flowEndReason, FlowEndReason.endOfFlow);
  assert.equal(x.packetTotalCount, 10);
  assert.equal(x.octetDeltaCount, 1000);
  assert.equal(x.entry.tcpState, 'ESTABLISHED');
});

test('a connection that vanished from the dump is exported with reason 3 and forgotten', () => {
  const { clock, store, poll } = setup();
  poll({ packets: 3 }, { sport: 2, id: 2, packets: 1 });
  clock.advance(POLL);
  assert.deepEqual(poll({ packets: 4 }), [], 'not yet: its DESTROY event may still bring the final counters');
  clock.advance(POLL);
  const got = poll({ packets: 4 });
  assert.equal(got.length, 1);
  assert.equal(got[0].entry.original.sourcePort, 2);
  assert.equal(got[0].flowEndReason, FlowEndReason.endOfFlow);
  assert.equal(store.size, 1);
});

test('a connection touched by an event after the dump began is not ended by that dump', () => {
  const { clock, store } = setup();
  const dumpStart = clock.now();
  clock.advance(10);
  store.applyEvent({ type: 'new', entry: entry({ sport: 9, packets: 1 }) });
  store.applyDump([], dumpStart);
  assert.deepEqual(store.expire(), []);
  assert.equal(store.size, 1);
});

test('a TCP connection in TIME_WAIT is exported once with reason 3 while the kernel still lists it', () => {
  const { clock, store, poll } = setup();
  poll({ packets: 10 });
  clock.advance(POLL);
  const ended = poll({ packets: 12, tcpState: 'TIME_WAIT' });
  assert.deepEqual(reasons(ended), [FlowEndReason.endOfFlow]);
  assert.equal(ended[0].entry.tcpState, 'TIME_WAIT');
  assert.equal(ended[0].packetDeltaCount, 12);
  for (let i = 0; i < 30; i++) {
    clock.advance(POLL);
    assert.deepEqual(poll({ packets: 12, tcpState: 'TIME_WAIT' }), []);
  }
  assert.equal(store.size, 1, 'kept as a tombstone');
  clock.advance(POLL);
  assert.deepEqual(poll(), []);
  assert.equal(store.size, 0, 'forgotten once the kernel drops it');
});

test('an entry with IPS_DYING set is treated as ended', () => {
  const { poll } = setup();
  assert.deepEqual(reasons(poll({ protocol: 17, packets: 1, status: IPS_DYING })), [FlowEndReason.endOfFlow]);
});

test('a reused tuple with a new kernel id ends the old connection and starts a new one', () => {
  const { clock, store, poll } = setup();
  poll({ id: 100, packets: 50, bytes: 5000 });
  clock.advance(POLL);
  const got = poll({ id: 101, packets: 2, bytes: 200 });
  assert.equal(got.length, 1);
  assert.equal(got[0].flowEndReason, FlowEndReason.endOfFlow);
  assert.equal(got[0].entry.id, 100);
  assert.equal(got[0].packetTotalCount, 50);
  assert.equal(store.size, 1);
  clock.advance(ACTIVE);
  const next = poll({ id: 101, packets: 3, bytes: 300 });
  assert.equal(next[0].entry.id, 101);
  assert.equal(next[0].packetDeltaCount, 3);
});

test('a full store evicts the idle connection first and exports it with reason 5', () => {
  const { clock, store, poll } = setup(2);
  poll({ sport: 1, id: 1, packets: 1 }, { sport: 2, id: 2, packets: 1 });
  clock.advance(IDLE);
  // Connection 1 stays idle (exported, reason 1); connection 2 keeps sending.
  const idle = poll({ sport: 1, id: 1, packets: 1 }, { sport: 2, id: 2, packets: 9 });
  assert.deepEqual(idle.map((x) => [x.entry.id, x.flowEndReason]), [[1, FlowEndReason.idleTimeout]]);
  clock.advance(POLL);
  const got = poll({ sport: 1, id: 1, packets: 1 }, { sport: 2, id: 2, packets: 10 }, { sport: 3, id: 3, packets: 1 });
  const evicted = got.filter((x) => x.flowEndReason === FlowEndReason.lackOfResources);
  assert.ok(evicted.length >= 1);
  assert.equal(evicted[0].entry.id, 1);
  assert.ok(store.size <= 2);
  assert.ok(store.stats().evictions >= 1);
});

test('eviction of a live connection reports its unexported delta', () => {
  const { clock, store } = setup(1);
  store.applyDump([entry({ id: 1, sport: 1, packets: 7, bytes: 70 })], clock.now());
  store.applyEvent({ type: 'new', entry: entry({ id: 2, sport: 2, packets: 1 }) });
  const [x] = store.expire();
  assert.equal(x.flowEndReason, FlowEndReason.lackOfResources);
  assert.equal(x.entry.id, 1);
  assert.deepEqual([x.packetDeltaCount, x.octetDeltaCount], [7, 70]);
  assert.equal(store.stats().evictions, 1);
  assert.equal(store.size, 1);
});

test('drainAll exports every connection with reason 4 and its unexported delta, and empties the store', () => {
  const { clock, store, poll } = setup();
  poll({ sport: 1, id: 1, packets: 4 }, { sport: 2, id: 2, packets: 8 });
  clock.advance(ACTIVE);
  poll({ sport: 1, id: 1, packets: 6 }, { sport: 2, id: 2, packets: 8 });
  clock.advance(1000);
  store.applyDump([entry({ sport: 1, id: 1, packets: 9 }), entry({ sport: 2, id: 2, packets: 8 })], clock.now());
  const drained = store.drainAll();
  assert.deepEqual(reasons(drained), [FlowEndReason.forcedEnd, FlowEndReason.forcedEnd]);
  const byPort = new Map(drained.map((x) => [x.entry.original.sourcePort, x]));
  assert.equal(byPort.get(1)?.packetDeltaCount, 3);
  assert.equal(byPort.get(2)?.packetDeltaCount, 0);
  assert.equal(byPort.get(1)?.flowEndMs, clock.now());
  assert.equal(store.size, 0);
  assert.deepEqual(store.expire(), []);
});

test('malformed entries are counted and skipped', () => {
  const { clock, store } = setup();
  store.applyDump([entry({ sport: 70000 }), entry({ packets: -1 }), entry({ id: 3, sport: 3 })], clock.now());
  assert.equal(store.stats().badEntries, 2);
  assert.equal(store.size, 1);
});

test('the same tuple in two zones is two connections', () => {
  const { clock, store } = setup();
  store.applyDump([entry({ zone: 0 }), entry({ zone: 65520 })], clock.now());
  assert.equal(store.size, 2);
});

test('flowStart comes from the conntrack timestamp when the kernel gives one', () => {
  const { clock, store, poll } = setup();
  poll({ packets: 1, startMs: 1_699_999_990_000 });
  clock.advance(IDLE);
  const [x] = store.expire();
  assert.equal(x.flowStartMs, 1_699_999_990_000);
  assert.equal(x.flowEndMs, 1_700_000_000_000);
});

test('a streamed dump ends the connections it did not list, like applyDump', () => {
  const { clock, store } = setup();
  store.applyDump([entry({ sport: 1, id: 1, packets: 1 }), entry({ sport: 2, id: 2, packets: 1 })], clock.now());
  clock.advance(POLL);
  store.beginDump(clock.now());
  store.dumpEntry(entry({ sport: 2, id: 2, packets: 2 }));
  store.endDump();
  clock.advance(1000);
  const got = store.expire();
  assert.deepEqual(got.map((x) => [x.entry.original.sourcePort, x.flowEndReason]), [[1, FlowEndReason.endOfFlow]]);
});

test('addPackets accumulates per-packet counts and, with forgetIdle, forgets the connection after its idle export', () => {
  const clock = new ManualClock(1_700_000_000_000);
  const store = new ConnectionStore({ activeTimeoutMs: ACTIVE, idleTimeoutMs: IDLE, maxConnections: 10, clock, forgetIdle: true });
  store.addPackets(entry({ id: 0, packets: 1, bytes: 60, tcpState: '' }));
  clock.advance(1000);
  store.addPackets(entry({ id: 0, packets: 1, bytes: 60, tcpState: '' }));
  clock.advance(IDLE);
  const [x] = store.expire();
  assert.equal(x.flowEndReason, FlowEndReason.idleTimeout);
  assert.deepEqual([x.packetTotalCount, x.octetTotalCount, x.packetDeltaCount], [2, 120, 2]);
  assert.equal(store.size, 0);
  store.addPackets(entry({ id: 0, packets: 1, bytes: 60, tcpState: '' }));
  clock.advance(IDLE);
  const [y] = store.expire();
  assert.deepEqual([y.packetTotalCount, y.packetDeltaCount], [1, 1]);
});
