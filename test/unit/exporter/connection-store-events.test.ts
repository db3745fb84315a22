// The connection store between dumps and events: conntrack NEW/UPDATE events carry no counters,
// so a connection first learnt from one has unknown counters until a dump or its DESTROY event
// gives them; a connection a dump no longer lists waits for its DESTROY before it is exported;
// an incomplete dump ends nothing. These are the sequences behind two end-to-end failures: the
// restarted exporter's double count and the end of flow with stale counters (docs/e2e.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../src/util/clock.js';
import { ConnectionStore, type ConnectionExport } from '../../../src/exporter/connection-store.js';
import { FlowEndReason } from '../../../src/flow/record.js';
import { entry, type EntrySpec } from './entries.js';

const ACTIVE = 3_000;
const IDLE = 2_000;
const POLL = 1_000;
const GRACE = 1_000;
const T0 = 1_700_000_000_000;

function setup() {
  const clock = new ManualClock(T0);
  const store = new ConnectionStore({ activeTimeoutMs: ACTIVE, idleTimeoutMs: IDLE, maxConnections: 100, clock, eventGraceMs: GRACE });
  const poll = (...specs: EntrySpec[]): ConnectionExport[] => {
    store.applyDump(specs.map(entry), clock.now());
    return store.expire();
  };
  return { clock, store, poll };
}

const counters = (x: ConnectionExport) => [x.packetTotalCount, x.octetTotalCount, x.reversePacketTotalCount, x.reverseOctetTotalCount];
const deltas = (x: ConnectionExport) => [x.packetDeltaCount, x.octetDeltaCount, x.reversePacketDeltaCount, x.reverseOctetDeltaCount];

test('a restarted exporter that first hears of a live connection from an UPDATE event exports it only with the counters and start of a dump', () => {
  const { clock, store, poll } = setup();
  // The restarted exporter subscribes before its first dump; the connection's next state change
  // arrives as an UPDATE event: no counters, no start timestamp.
  store.applyEvent({ type: 'update', entry: entry({ id: 7, tcpState: 'ESTABLISHED' }) });
  clock.advance(ACTIVE + IDLE);
  assert.deepEqual(store.expire(), [], 'no record with invented zero counters or start');
  const started = T0 - 60_000;
  const live = { id: 7, packets: 17, bytes: 70_892, replyPackets: 16, replyBytes: 840, startMs: started };
  assert.deepEqual(poll(live), []);
  clock.advance(ACTIVE);
  const [x, ...rest] = poll({ ...live, packets: 29, bytes: 121_516 });
  assert.deepEqual(rest, []);
  assert.equal(x.flowEndReason, FlowEndReason.activeTimeout);
  assert.equal(x.flowStartMs, started, 'the conntrack start, so the aggregator sees the same connection');
  assert.deepEqual(counters(x), [29, 121_516, 16, 840]);
  assert.deepEqual(deltas(x), [29, 121_516, 16, 840], 'a restarted exporter cannot know what its predecessor sent: delta = total');
});

test('totals never go backwards within one kernel connection, whatever a later entry says', () => {
  const { clock, store, poll } = setup();
  poll({ id: 3, packets: 10, bytes: 1000, replyPackets: 5, replyBytes: 500 });
  store.applyEvent({ type: 'update', entry: entry({ id: 3 }) });
  clock.advance(POLL);
  poll({ id: 3, packets: 9, bytes: 900, replyPackets: 5, replyBytes: 500 });
  clock.advance(ACTIVE);
  const [x] = poll({ id: 3, packets: 10, bytes: 1000, replyPackets: 5, replyBytes: 500 });
  assert.deepEqual(counters(x), [10, 1000, 5, 500]);
  assert.deepEqual(deltas(x), [10, 1000, 5, 500]);
});

test('a connection known only from its NEW event is exported with the counters of its DESTROY', () => {
  const { clock, store, poll } = setup();
  store.applyEvent({ type: 'new', entry: entry({ id: 4, tcpState: 'SYN_SENT' }) });
  clock.advance(300);
  store.applyEvent({ type: 'destroy', entry: entry({ id: 4, tcpState: 'CLOSE', packets: 6, bytes: 420, replyPackets: 5, replyBytes: 6300, stopMs: clock.now() }) });
  const [x, ...rest] = poll();
  assert.deepEqual(rest, []);
  assert.equal(x.flowEndReason, FlowEndReason.endOfFlow);
  assert.deepEqual(counters(x), [6, 420, 5, 6300]);
});

test('a connection known only from events that vanishes without a DESTROY is dropped and counted, never exported with zeros', () => {
  const { clock, store, poll } = setup();
  poll();
  store.applyEvent({ type: 'new', entry: entry({ id: 5, tcpState: 'SYN_SENT' }) });
  clock.advance(POLL);
  assert.deepEqual(poll(), [], 'not listed: waits for its DESTROY');
  clock.advance(GRACE);
  assert.deepEqual(poll(), []);
  assert.equal(store.stats().countersUnknown, 1);
  assert.equal(store.size, 0);
  // A DESTROY that comes late after all still reports it, with its own counters.
  store.applyEvent({ type: 'destroy', entry: entry({ id: 5, tcpState: 'CLOSE', packets: 3, bytes: 180, replyPackets: 2, replyBytes: 120 }) });
  const [x] = store.expire();
  assert.deepEqual(counters(x), [3, 180, 2, 120]);
});

test('a connection a dump no longer lists is exported with the final counters of a DESTROY that arrives after the dump', () => {
  const { clock, store, poll } = setup();
  // Mid-flight: the request is in, the response not yet (3 reply packets, 164 bytes).
  poll({ id: 9, packets: 4, bytes: 4216, replyPackets: 3, replyBytes: 164 });
  clock.advance(POLL);
  assert.deepEqual(poll(), [], 'gone from the table, but its DESTROY may still be queued on the event socket');
  clock.advance(200);
  store.applyEvent({ type: 'destroy', entry: entry({ id: 9, tcpState: 'TIME_WAIT', packets: 7, bytes: 4372, replyPackets: 6, replyBytes: 6320, stopMs: clock.now() - 100 }) });
  const [x, ...rest] = store.expire();
  assert.deepEqual(rest, []);
  assert.equal(x.flowEndReason, FlowEndReason.endOfFlow);
  assert.deepEqual(counters(x), [7, 4372, 6, 6320]);
  assert.equal(x.flowEndMs, clock.now() - 100);
  assert.equal(store.stats().endedBy.vanished, 1);
});

test('without a DESTROY, a connection a dump no longer lists ends one grace period later with the last counters seen', () => {
  const { clock, store, poll } = setup();
  poll({ id: 9, packets: 4, bytes: 4216, replyPackets: 3, replyBytes: 164 });
  clock.advance(POLL);
  assert.deepEqual(poll(), []);
  clock.advance(GRACE);
  const [x] = poll();
  assert.equal(x.flowEndReason, FlowEndReason.endOfFlow);
  assert.deepEqual(counters(x), [4, 4216, 3, 164]);
  assert.equal(store.size, 0);
});

test('an incomplete dump (interrupted, or messages it could not read) ends nothing', () => {
  const { clock, store } = setup();
  store.applyDump([entry({ id: 1, sport: 1 }), entry({ id: 2, sport: 2, packets: 1 })], clock.now());
  clock.advance(POLL);
  store.applyDump([entry({ id: 1, sport: 1, packets: 2 })], clock.now(), false);
  clock.advance(GRACE);
  assert.deepEqual(store.expire().filter((x) => x.flowEndReason === FlowEndReason.endOfFlow), []);
  assert.equal(store.stats().ended, 0);
  assert.equal(store.stats().incompleteDumps, 1);
});

test('a connection one dump missed and the next lists again did not end: it is exported once, complete, when it really ends', () => {
  const { clock, store, poll } = setup();
  poll({ id: 9, packets: 4, bytes: 4216, replyPackets: 3, replyBytes: 164 });
  clock.advance(POLL);
  assert.deepEqual(poll(), []);
  clock.advance(POLL / 2);
  assert.deepEqual(poll({ id: 9, packets: 6, bytes: 4320, replyPackets: 6, replyBytes: 6320 }), [], 'listed again before its grace ran out');
  clock.advance(POLL);
  const got = poll({ id: 9, packets: 7, bytes: 4372, replyPackets: 6, replyBytes: 6320, tcpState: 'TIME_WAIT' });
  assert.deepEqual(got.map((x) => x.flowEndReason), [FlowEndReason.endOfFlow]);
  assert.deepEqual(counters(got[0]), [7, 4372, 6, 6320]);
  assert.deepEqual(deltas(got[0]), [7, 4372, 6, 6320]);
  assert.equal(store.stats().ended, 1);
  clock.advance(ACTIVE + IDLE);
  assert.deepEqual(poll({ id: 9, packets: 7, bytes: 4372, replyPackets: 6, replyBytes: 6320, tcpState: 'TIME_WAIT' }), [], 'a tombstone: not exported again');
});

test('a closing UPDATE for a connection never dumped waits for the next dump\'s counters, then ends at once', () => {
  const { clock, store, poll } = setup();
  store.applyEvent({ type: 'update', entry: entry({ id: 8, tcpState: 'TIME_WAIT' }) });
  assert.deepEqual(store.expire(), []);
  clock.advance(POLL);
  const [x] = poll({ id: 8, tcpState: 'TIME_WAIT', packets: 5, bytes: 500, replyPackets: 4, replyBytes: 400 });
  assert.equal(x.flowEndReason, FlowEndReason.endOfFlow);
  assert.deepEqual(counters(x), [5, 500, 4, 400]);
});

test('at shutdown a connection whose counters were never known is counted, not exported', () => {
  const { clock, store, poll } = setup();
  poll({ id: 1, packets: 2, bytes: 200 });
  store.applyEvent({ type: 'new', entry: entry({ id: 2, sport: 2 }) });
  clock.advance(POLL);
  const out = store.drainAll();
  assert.deepEqual(out.map((x) => [x.entry.id, x.flowEndReason]), [[1, FlowEndReason.forcedEnd]]);
  assert.equal(store.stats().countersUnknown, 1);
});

test('two ping conversations between the same two hosts are two connections, each with its own counters', () => {
  const { clock, store, poll } = setup();
  const ping = (id: number, icmpId: number, packets: number) =>
    ({ id, icmpId, protocol: 1, sport: 0, dport: 0, packets, bytes: packets * 84, replyPackets: packets, replyBytes: packets * 84 });
  poll(ping(31, 1000, 1), ping(32, 1001, 1));
  // An event of one conversation must not end the other (they used to share one key).
  store.applyEvent({ type: 'update', entry: entry(ping(32, 1001, 0)) });
  clock.advance(POLL);
  poll(ping(31, 1000, 3), ping(32, 1001, 5));
  assert.equal(store.size, 2);
  clock.advance(ACTIVE);
  const got = poll(ping(31, 1000, 3), ping(32, 1001, 5));
  assert.deepEqual(got.map((x) => [x.entry.original.icmpId, x.flowEndReason, x.packetTotalCount, x.packetDeltaCount]).sort(), [
    [1000, FlowEndReason.idleTimeout, 3, 3],
    [1001, FlowEndReason.idleTimeout, 5, 5],
  ]);
  assert.equal(store.stats().ended, 0);
});

test('ICMP conversations without kernel ids are told apart by their echo identifier', () => {
  const { store } = setup();
  store.addPackets(entry({ id: 0, protocol: 1, sport: 0, dport: 0, icmpId: 1, packets: 1, bytes: 84, tcpState: '' }));
  store.addPackets(entry({ id: 0, protocol: 1, sport: 0, dport: 0, icmpId: 2, packets: 1, bytes: 84, tcpState: '' }));
  assert.equal(store.size, 2);
});

test('a dump read after a close event but begun before it neither rolls the state back nor ends the connection with its older counters', () => {
  const { clock, store, poll } = setup();
  const mid = { id: 9, packets: 4, bytes: 4216, replyPackets: 3, replyBytes: 164 };
  poll(mid);
  clock.advance(POLL);
  store.beginDump(clock.now());
  clock.advance(5);
  store.applyEvent({ type: 'update', entry: entry({ id: 9, tcpState: 'TIME_WAIT' }) });
  store.dumpEntry(entry({ ...mid, tcpState: 'ESTABLISHED' })); // written by the kernel before the close
  store.endDump();
  assert.deepEqual(store.expire(), [], 'waits for a dump begun after the close');
  clock.advance(POLL);
  const [x, ...rest] = poll({ id: 9, packets: 7, bytes: 4372, replyPackets: 6, replyBytes: 6320, tcpState: 'TIME_WAIT' });
  assert.deepEqual(rest, []);
  assert.equal(x.flowEndReason, FlowEndReason.endOfFlow);
  assert.equal(x.entry.tcpState, 'TIME_WAIT');
  assert.deepEqual(counters(x), [7, 4372, 6, 6320]);
  assert.equal(x.flowEndMs, T0 + POLL + 5, 'ended when the event said so');
});

test('a close event whose connection no later dump lists is exported with the last counters after its DESTROY, or at the latest after the active timeout', () => {
  const { clock, store, poll } = setup();
  poll({ id: 9, packets: 4, bytes: 4216 });
  clock.advance(POLL);
  store.applyEvent({ type: 'update', entry: entry({ id: 9, tcpState: 'CLOSE' }) });
  for (let t = 0; t < ACTIVE - POLL; t += POLL) {
    clock.advance(POLL);
    store.applyDump([], clock.now(), false);
    assert.deepEqual(store.expire(), []);
  }
  clock.advance(2 * POLL);
  store.applyDump([], clock.now(), false);
  const [x] = store.expire();
  assert.equal(x.flowEndReason, FlowEndReason.endOfFlow);
  assert.deepEqual(counters(x).slice(0, 2), [4, 4216]);
});

test('a closed connection one dump missed and the next lists again still ends once, as closed', () => {
  const { clock, store, poll } = setup();
  poll({ id: 9, packets: 4, bytes: 4216 });
  clock.advance(POLL);
  store.applyEvent({ type: 'update', entry: entry({ id: 9, tcpState: 'TIME_WAIT' }) });
  clock.advance(POLL);
  assert.deepEqual(poll(), []);
  clock.advance(POLL / 2);
  const got = poll({ id: 9, packets: 6, bytes: 4320, tcpState: 'TIME_WAIT' });
  assert.deepEqual(got.map((x) => [x.flowEndReason, x.entry.tcpState, x.packetTotalCount]), [[FlowEndReason.endOfFlow, 'TIME_WAIT', 6]]);
  assert.deepEqual(store.stats().endedBy, { destroy: 0, closed: 1, vanished: 0, replaced: 0 });
  clock.advance(POLL);
  assert.deepEqual(poll({ id: 9, packets: 6, bytes: 4320, tcpState: 'TIME_WAIT' }), []);
});
