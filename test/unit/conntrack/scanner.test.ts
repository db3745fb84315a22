import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EntryDigest, EntryScanner, scanConntrackEntry } from '../../../src/exporter/conntrack/parse.js';
import { DumpReader } from '../../../src/exporter/conntrack/ctnetlink.js';
import { KernelSourceError } from '../../../src/exporter/conntrack/errors.js';
import type { ConntrackEntry } from '../../../src/exporter/conntrack/types.js';
import { attr, be32, controlMessage, ctMessage, entryAttrs, nfMessage, CT_NEW_TYPE, type EntrySpec } from './fixtures.js';

/** A copy in its own ArrayBuffer at offset 0, 4-byte aligned like a netlink receive buffer. */
function aligned(buf: Buffer): Buffer {
  const ab = new ArrayBuffer(buf.length);
  new Uint8Array(ab).set(buf);
  return Buffer.from(ab);
}

/** Message boundaries of a datagram of ctMessage()s: [nfgenmsg offset, end]. */
function messages(buf: Buffer): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let off = 0; off < buf.length; ) {
    const len = buf.readUInt32LE(off);
    out.push([off + 16, off + len]);
    off += (len + 3) & ~3;
  }
  return out;
}

/** The digest fields a consumer sees (ConntrackDigest), without the scan's internal offsets. */
function digestOf(d: EntryDigest): Record<string, unknown> {
  const { originalStart, originalEnd, replyStart, replyEnd, labelsStart, labelsEnd, ...rest } = d;
  return { ...rest, hasLabels: labelsStart >= 0, labelsLength: labelsEnd - labelsStart, tuples: [originalEnd - originalStart, replyEnd - replyStart] };
}

function walk(buf: Buffer, off: number, end: number): Record<string, unknown> {
  const d = new EntryDigest();
  scanConntrackEntry(buf, off, end, d);
  return digestOf(d);
}

const TCP = { src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 80, proto: 6 };
const UDP6 = { src: 'fd00::1', dst: 'fd00::2:3', sport: 5353, dport: 53, proto: 17 };
const MAX53 = 2 ** 53 - 1;

const tupleArb = fc.record({
  v6: fc.boolean(),
  a: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  b: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  sport: fc.integer({ min: 0, max: 65535 }),
  dport: fc.integer({ min: 0, max: 65535 }),
  proto: fc.constantFrom(6, 17, 132),
});
const counterArb = fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.constant(MAX53), fc.integer({ min: 0, max: MAX53 }));
const specArb = fc.record({
  t: tupleArb,
  status: fc.integer({ min: 0, max: 0xffffffff }),
  tcpState: fc.option(fc.integer({ min: 0, max: 12 }), { nil: undefined }),
  mark: fc.integer({ min: 0, max: 0xffffffff }),
  id: fc.integer({ min: 0, max: 0xffffffff }),
  zone: fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }),
  orig: fc.option(fc.tuple(counterArb, counterArb), { nil: undefined }),
  reply: fc.option(fc.tuple(counterArb, counterArb), { nil: undefined }),
  startMs: fc.option(fc.integer({ min: 0, max: 4_000_000_000_000 }), { nil: undefined }),
  stopMs: fc.option(fc.integer({ min: 0, max: 4_000_000_000_000 }), { nil: undefined }),
  labels: fc.option(fc.uint8Array({ minLength: 16, maxLength: 16 }), { nil: undefined }),
});

function text(bytes: Uint8Array, v6: boolean): string {
  if (!v6) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  return groups.join(':');
}

type SpecValue = typeof specArb extends fc.Arbitrary<infer T> ? T : never;

function toSpec(s: SpecValue): EntrySpec {
  const t = { src: text(s.t.a, s.t.v6), dst: text(s.t.b, s.t.v6), sport: s.t.sport, dport: s.t.dport, proto: s.t.proto };
  return {
    orig: t,
    status: s.status,
    tcpState: s.tcpState,
    mark: s.mark,
    id: s.id,
    zone: s.zone,
    origCounters: s.orig,
    replyCounters: s.reply,
    startNs: s.startMs === undefined ? undefined : BigInt(s.startMs) * 1_000_000n,
    stopNs: s.startMs === undefined || s.stopMs === undefined ? undefined : BigInt(s.stopMs) * 1_000_000n,
    labels: s.labels === undefined ? undefined : Buffer.from(s.labels),
  };
}

describe('conntrack message plans (EntryScanner)', () => {
  it('reads through a plan exactly what the attribute walk reads, for entries of every shape', () => {
    fc.assert(
      fc.property(fc.array(specArb, { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { minLength: 20, maxLength: 20 }), (specs, picks) => {
        // Shapes in a mixed order (up to 4 may share a length), so that later ones go through plans.
        const all = picks.map((p) => toSpec(specs[p % specs.length]));
        const buf = aligned(Buffer.concat(all.map((e) => ctMessage(e))));
        const scanner = new EntryScanner();
        const d = new EntryDigest();
        for (const [off, end] of messages(buf)) {
          scanner.scan(buf, off, end, d);
          assert.deepEqual(digestOf(d), walk(buf, off, end));
        }
        assert.equal(scanner.messagesPlanned + scanner.messagesWalked, all.length);
        assert.ok(scanner.messagesPlanned >= all.length - specs.length, `planned ${scanner.messagesPlanned} of ${all.length}`);
      }),
      { numRuns: 100, seed: 7 },
    );
  });

  it('walks a message of the same length whose headers differ, and reads it right', () => {
    const withMark = ctMessage({ orig: TCP, mark: 7, id: 1 });
    // The same bytes with CTA_MARK (8) renamed to CTA_USE (11): same length, another header word.
    const body = entryAttrs({ orig: TCP, mark: 7, id: 2 }).map((a) => (a.readUInt16LE(2) === 8 ? attr(11, be32(7)) : a));
    const withoutMark = nfMessage({ type: CT_NEW_TYPE, flags: 2, family: 2, body });
    assert.equal(withMark.length, withoutMark.length);
    const buf = aligned(Buffer.concat([withMark, withoutMark]));
    const [[o1, e1], [o2, e2]] = messages(buf);
    const scanner = new EntryScanner();
    const d = new EntryDigest();
    scanner.scan(buf, o1, e1, d);
    assert.equal(d.mark, 7);
    scanner.scan(buf, o2, e2, d);
    assert.equal(d.mark, 0);
    assert.equal(d.id, 2);
    assert.deepEqual([scanner.messagesPlanned, scanner.messagesWalked], [0, 2]);
  });

  it('rejects a counter of 2^53 read through a plan with CTNL_ERR_COUNTER_RANGE, as the walk does', () => {
    const buf = aligned(Buffer.concat([ctMessage({ orig: TCP, origCounters: [1, 2] }), ctMessage({ orig: TCP, origCounters: [2n ** 53n, 2] })]));
    const [[o1, e1], [o2, e2]] = messages(buf);
    const scanner = new EntryScanner();
    const d = new EntryDigest();
    scanner.scan(buf, o1, e1, d);
    assert.throws(
      () => scanner.scan(buf, o2, e2, d),
      (err: unknown) => err instanceof KernelSourceError && err.code === 'CTNL_ERR_COUNTER_RANGE',
    );
    assert.equal(scanner.messagesPlanned, 1);
  });

  it('walks every message of a buffer that is not 4-byte aligned', () => {
    const msgs = Buffer.concat([ctMessage({ orig: UDP6, id: 1 }), ctMessage({ orig: UDP6, id: 2 })]);
    const backing = Buffer.alloc(msgs.length + 1);
    msgs.copy(backing, 1);
    const buf = backing.subarray(1);
    const scanner = new EntryScanner();
    const d = new EntryDigest();
    const ids: number[] = [];
    for (const [off, end] of messages(buf)) {
      scanner.scan(buf, off, end, d);
      ids.push(d.id);
    }
    assert.deepEqual(ids, [1, 2]);
    assert.deepEqual([scanner.messagesPlanned, scanner.messagesWalked], [0, 2]);
  });

  it('gives an IPv4 address digest equal to the address as an int32', () => {
    const buf = aligned(ctMessage({ orig: { ...TCP, src: '192.168.1.2', dst: '255.255.255.255' } }));
    const d = new EntryDigest();
    new EntryScanner().scan(buf, 16, buf.length, d);
    assert.equal(d.sourceAddressDigest, 0xc0a80102 | 0);
    assert.equal(d.destinationAddressDigest, -1);
  });
});

describe('ctnetlink dump reader with a consumer that knows entries', () => {
  const SEQ = 9;
  const flow = (sport: number) => ({ orig: { ...TCP, sport }, id: sport, origCounters: [sport, sport * 100] as [number, number] });

  it('makes no entry for those the consumer takes from their numbers, and hands over the rest', () => {
    const entries: ConntrackEntry[] = [];
    const seen: Array<[number, number]> = [];
    const r = new DumpReader(SEQ, null, (e) => entries.push(e), () => assert.fail('no malformed message'), {
      known: (d) => {
        seen.push([d.sourcePort, d.originalBytes]);
        return d.sourcePort % 2 === 0;
      },
    });
    const buf = aligned(Buffer.concat([1, 2, 3, 4, 5].map((p) => ctMessage(flow(p), { seq: SEQ })).concat(controlMessage(3, SEQ))));
    assert.equal(r.feed(buf), true);
    assert.deepEqual(seen, [[1, 100], [2, 200], [3, 300], [4, 400], [5, 500]]);
    assert.deepEqual(entries.map((e) => [e.original.sourcePort, e.originalBytes]), [[1, 100], [3, 300], [5, 500]]);
    assert.equal(r.summary.entries, 5);
  });

  it('keeps its message plans across dumps when given the same scanner', () => {
    const scanner = new EntryScanner();
    for (const seq of [1, 2]) {
      const r = new DumpReader(seq, null, () => {}, () => {}, {}, scanner);
      r.feed(aligned(Buffer.concat([ctMessage(flow(1), { seq }), ctMessage(flow(2), { seq }), controlMessage(3, seq)])));
    }
    assert.deepEqual([scanner.messagesWalked, scanner.messagesPlanned], [1, 3]);
  });
});
