// The store's dump fast path (dumpKnown): connections it holds are updated from the numbers the
// parser read, without an entry. It must change nothing but speed: the same dumps through the
// fast path and through dumpEntry alone give the same exports.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ManualClock } from '../../../src/util/clock.js';
import { ConnectionStore, addressDigest, type ConnectionExport } from '../../../src/exporter/connection-store.js';
import { DumpReader } from '../../../src/exporter/conntrack/ctnetlink.js';
import { EntryDigest, EntryScanner } from '../../../src/exporter/conntrack/parse.js';
import type { ConntrackDigest } from '../../../src/exporter/conntrack/types.js';
import { FlowEndReason } from '../../../src/flow/record.js';
import { controlMessage, ctMessage, type EntrySpec } from '../conntrack/fixtures.js';

const ACTIVE = 60_000;
const IDLE = 15_000;
const T0 = 1_700_000_000_000;

function aligned(buf: Buffer): Buffer {
  const ab = new ArrayBuffer(buf.length);
  new Uint8Array(ab).set(buf);
  return Buffer.from(ab);
}

interface Flow {
  id: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: number;
  packets: number;
  bytes: number;
  replyPackets: number;
  replyBytes: number;
  tcpState: number;
  status: number;
  startMs: number;
}

function spec(f: Flow): EntrySpec {
  return {
    orig: { src: f.src, dst: f.dst, sport: f.sport, dport: f.dport, proto: f.proto },
    id: f.id,
    status: f.status,
    tcpState: f.proto === 6 ? f.tcpState : undefined,
    origCounters: [f.packets, f.bytes],
    replyCounters: [f.replyPackets, f.replyBytes],
    startNs: BigInt(f.startMs) * 1_000_000n,
  };
}

/** Two stores fed the same dumps: `fast` through dumpKnown first, `full` through dumpEntry only. */
function twins() {
  const clock = new ManualClock(T0);
  const opts = { activeTimeoutMs: ACTIVE, idleTimeoutMs: IDLE, maxConnections: 1000, clock };
  const full = new ConnectionStore(opts);
  const fast = new ConnectionStore(opts);
  const scanner = new EntryScanner();
  let seq = 0;
  const counts = { known: 0, made: 0 };
  const dump = (flows: Flow[]): void => {
    seq++;
    const buf = aligned(Buffer.concat([...flows.map((f) => ctMessage(spec(f), { seq })), controlMessage(3, seq)]));
    full.beginDump(clock.now());
    new DumpReader(seq, null, (e) => full.dumpEntry(e), () => assert.fail('malformed')).feed(buf);
    full.endDump();
    fast.beginDump(clock.now());
    const known = (d: ConntrackDigest): boolean => {
      const took = fast.dumpKnown(d);
      if (took) counts.known++;
      return took;
    };
    new DumpReader(seq, null, (e) => (counts.made++, fast.dumpEntry(e)), () => assert.fail('malformed'), { known }, scanner).feed(buf);
    fast.endDump();
  };
  return { clock, full, fast, dump, counts };
}

const reasons = (xs: ConnectionExport[]) => xs.map((x) => x.flowEndReason);

describe('connection store: dump fast path (dumpKnown)', () => {
  const tcp = (over: Partial<Flow> = {}): Flow => ({
    id: 11, src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 80, proto: 6,
    packets: 1, bytes: 60, replyPackets: 1, replyBytes: 60, tcpState: 3, status: 0x18e, startMs: T0 - 1000, ...over,
  });

  it('updates a held connection from its numbers alone and exports what the full path exports', () => {
    const { clock, full, fast, dump, counts } = twins();
    const a = tcp();
    const b = tcp({ id: 12, sport: 40001, src: 'fd00::1', dst: 'fd00::2' });
    dump([a, b]);
    assert.deepEqual(counts, { known: 0, made: 2 });
    clock.advance(5_000);
    a.packets = 10;
    a.bytes = 9000;
    dump([a, b]);
    assert.deepEqual(counts, { known: 2, made: 2 });
    clock.advance(ACTIVE);
    const x = fast.expire();
    assert.deepEqual(x, full.expire());
    const forA = x.find((e) => e.entry.id === 11);
    assert.equal(forA?.packetTotalCount, 10);
    assert.equal(forA?.octetDeltaCount, 9000);
  });

  it('leaves to the full path a new TCP state, a new status, and a kernel id now on another tuple', () => {
    const { clock, fast, dump, counts, full } = twins();
    const a = tcp();
    const b = tcp({ id: 12, sport: 40001 });
    const c = tcp({ id: 13, sport: 40002 });
    dump([a, b, c]);
    a.tcpState = 7; // TIME_WAIT
    b.status |= 1 << 9; // IPS_DYING
    const reused = { ...c, sport: 50000 }; // id 13 on another tuple: another connection
    dump([a, b, reused]);
    assert.deepEqual(counts, { known: 0, made: 6 });
    const x = fast.expire();
    assert.deepEqual(x, full.expire());
    assert.deepEqual(reasons(x), [FlowEndReason.endOfFlow, FlowEndReason.endOfFlow]);
    // c is no longer listed: it waits one grace period for its DESTROY event, then ends.
    clock.advance(1000);
    const y = fast.expire();
    assert.deepEqual(y, full.expire());
    assert.deepEqual(y.map((e) => [e.entry.id, e.entry.original.sourcePort, e.flowEndReason]), [[13, 40002, FlowEndReason.endOfFlow]]);
  });

  it('keeps two connections that share a kernel id apart', () => {
    const { clock, fast, full, dump, counts } = twins();
    const a = tcp({ id: 7 });
    const b = tcp({ id: 7, sport: 40001, proto: 17 });
    dump([a, b]);
    b.bytes = 5000;
    dump([a, b]);
    dump([a, b]);
    assert.deepEqual(counts, { known: 4, made: 2 });
    assert.equal(fast.size, 2);
    clock.advance(ACTIVE);
    const x = fast.expire();
    assert.deepEqual(x, full.expire());
    assert.deepEqual(x.map((e) => [e.entry.protocol, e.octetTotalCount]).sort(), [[17, 5000], [6, 60]].sort());
  });

  it('ends the connections a dump does not list, also when every listed one was known', () => {
    const { clock, fast, full, dump } = twins();
    const a = tcp();
    const b = tcp({ id: 12, sport: 40001 });
    dump([a, b]);
    dump([a]);
    assert.deepEqual(fast.expire(), [], 'waits for a DESTROY event first');
    assert.deepEqual(full.expire(), []);
    clock.advance(1000);
    const x = fast.expire();
    assert.deepEqual(x, full.expire());
    assert.deepEqual(x.map((e) => [e.entry.id, e.flowEndReason]), [[12, FlowEndReason.endOfFlow]]);
    assert.equal(fast.size, 1);
  });

  it('gives the same exports as the full path for any sequence of dumps', () => {
    const opArb = fc.record({
      step: fc.integer({ min: 1_000, max: 20_000 }),
      changes: fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 12, maxLength: 12 }),
      born: fc.array(
        fc.record({ id: fc.integer({ min: 1, max: 12 }), sport: fc.integer({ min: 1, max: 8 }), proto: fc.constantFrom(6, 17), v6: fc.boolean() }),
        { maxLength: 4 },
      ),
    });
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 10 }), (polls) => {
        const { clock, fast, full, dump } = twins();
        let flows: Flow[] = [];
        for (const p of polls) {
          const next: Flow[] = [];
          flows.forEach((f, i) => {
            const c = p.changes[i % p.changes.length];
            if (c === 8) return; // vanished from the table
            if (c >= 4 && c <= 6) {
              f.packets += c;
              f.bytes += 100 * c;
              if (c === 6) f.replyBytes += 40;
            } else if (c === 7 && f.proto === 6) {
              f.tcpState = 7;
            } else if (c === 9) {
              f.status ^= 1 << 3;
            }
            next.push(f);
          });
          for (const n of p.born) {
            const f = tcp({
              id: n.id, sport: n.sport, proto: n.proto, packets: 1, bytes: 50,
              src: n.v6 ? 'fd00::a' : '10.0.0.1', dst: n.v6 ? 'fd00::b' : '10.0.0.2', startMs: clock.now(),
            });
            // The kernel holds one entry per tuple.
            if (!next.some((g) => g.sport === f.sport && g.proto === f.proto && g.src === f.src)) next.push(f);
          }
          flows = next;
          dump(flows);
          clock.advance(p.step);
          assert.deepEqual(fast.expire(), full.expire());
          assert.deepEqual(fast.stats(), full.stats());
        }
        assert.deepEqual(fast.drainAll(), full.drainAll());
      }),
      { numRuns: 300, seed: 11 },
    );
  });
});

describe('address digests', () => {
  it('of the text equal those the parser computes from the bytes, for IPv4 and IPv6', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6().filter((t) => !t.includes('.'))), (text) => {
        const v6 = text.includes(':');
        const msg = aligned(ctMessage({ orig: { src: text, dst: v6 ? '::1' : '127.0.0.1', sport: 1, dport: 2, proto: 17 } }));
        const d = new EntryDigest();
        new EntryScanner().scan(msg, 16, msg.length, d);
        return d.sourceAddressDigest === addressDigest(text);
      }),
      { numRuns: 500, seed: 3 },
    );
  });

  it('of text that is not an address match nothing', () => {
    assert.ok(Number.isNaN(addressDigest('not an address')));
  });
});
