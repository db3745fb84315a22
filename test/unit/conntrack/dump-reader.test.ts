import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CtnetlinkDumper, DumpReader, readEventDatagram } from '../../../src/exporter/conntrack/ctnetlink.js';
import { KernelSourceError } from '../../../src/exporter/conntrack/errors.js';
import type { ConntrackEntry, ConntrackEvent } from '../../../src/exporter/conntrack/types.js';
import { CT_DELETE_TYPE, attr, be32, controlMessage, ctMessage, nfMessage, CT_NEW_TYPE } from './fixtures.js';

const SEQ = 77;
const flow = (sport: number, zone?: number) => ({ orig: { src: '10.1.0.1', dst: '10.1.0.2', sport, dport: 53, proto: 17 }, zone });

function reader(zone: number | null = null) {
  const entries: ConntrackEntry[] = [];
  const errors: KernelSourceError[] = [];
  const r = new DumpReader(SEQ, zone, (e) => entries.push(e), (e) => errors.push(e));
  return { r, entries, errors };
}

describe('ctnetlink dump reader', () => {
  it('collects the entries of a multipart dump across datagrams until NLMSG_DONE', () => {
    const { r, entries } = reader();
    assert.equal(r.feed(Buffer.concat([ctMessage(flow(1), { seq: SEQ }), ctMessage(flow(2), { seq: SEQ })])), false);
    assert.equal(r.feed(ctMessage(flow(3), { seq: SEQ })), false);
    assert.equal(r.feed(Buffer.concat([ctMessage(flow(4), { seq: SEQ }), controlMessage(3, SEQ)])), true);
    assert.deepEqual(entries.map((e) => e.original.sourcePort), [1, 2, 3, 4]);
    assert.deepEqual(r.summary, { entries: 4, malformed: 0, otherZone: 0, interrupted: false });
  });

  it('turns NLMSG_ERROR into NETLINK_ERR_KERNEL with the errno name', () => {
    const { r } = reader();
    assert.throws(
      () => r.feed(controlMessage(2, SEQ, 1)),
      (err: unknown) => err instanceof KernelSourceError && err.code === 'NETLINK_ERR_KERNEL' && err.errno === 'EPERM',
    );
  });

  it('counts and skips a malformed entry and keeps the ones around it', () => {
    const { r, entries, errors } = reader();
    const bad = nfMessage({ type: CT_NEW_TYPE, flags: 2, seq: SEQ, family: 2, body: [attr(3, be32(1))] });
    assert.equal(r.feed(Buffer.concat([ctMessage(flow(1), { seq: SEQ }), bad, ctMessage(flow(2), { seq: SEQ }), controlMessage(3, SEQ)])), true);
    assert.deepEqual(entries.map((e) => e.original.sourcePort), [1, 2]);
    assert.equal(r.summary.malformed, 1);
    assert.equal(errors[0].code, 'CTNL_ERR_MISSING_ATTRIBUTE');
  });

  it('drops the rest of a datagram whose message header is broken, and counts it', () => {
    const { r, entries, errors } = reader();
    const broken = nfMessage({ type: CT_NEW_TYPE, seq: SEQ, family: 2, body: [], lenOverride: 4000 });
    assert.equal(r.feed(Buffer.concat([ctMessage(flow(1), { seq: SEQ }), broken, controlMessage(3, SEQ)])), false);
    assert.equal(entries.length, 1);
    assert.equal(errors[0].code, 'NETLINK_ERR_SHORT_BUFFER');
    assert.equal(r.feed(controlMessage(3, SEQ)), true);
  });

  it('reads the same entries, summary and errors from a datagram that starts on a word and from one that does not', () => {
    const placed = (bytes: Buffer, shift: number): Buffer => {
      const out = Buffer.from(new ArrayBuffer(bytes.length + 8), shift, bytes.length);
      bytes.copy(out);
      return out;
    };
    const bad = nfMessage({ type: CT_NEW_TYPE, flags: 2, seq: SEQ, family: 2, body: [attr(3, be32(1))] });
    const broken = nfMessage({ type: CT_NEW_TYPE, seq: SEQ, family: 2, body: [], lenOverride: 4000 });
    const datagrams = [
      Buffer.concat([ctMessage(flow(1), { seq: SEQ }), ctMessage(flow(9), { seq: SEQ - 1 }), bad, ctMessage(flow(2), { seq: SEQ })]),
      Buffer.concat([ctMessage(flow(3), { seq: SEQ, flags: 2 | 0x10 }), broken, ctMessage(flow(4), { seq: SEQ })]),
      Buffer.concat([ctMessage(flow(5), { seq: SEQ }), controlMessage(3, SEQ)]),
    ];
    const runs = [0, 1].map((shift) => {
      const { r, entries, errors } = reader();
      const done = datagrams.map((d) => r.feed(placed(d, shift)));
      return { done, ports: entries.map((e) => e.original.sourcePort), summary: r.summary, codes: errors.map((e) => e.code) };
    });
    assert.deepEqual(runs[0], runs[1]);
    assert.deepEqual(runs[0].done, [false, false, true]);
    assert.deepEqual(runs[0].ports, [1, 2, 3, 5]);
    assert.deepEqual(runs[0].summary, { entries: 4, malformed: 2, otherZone: 0, interrupted: true });
    assert.deepEqual(runs[0].codes, ['CTNL_ERR_MISSING_ATTRIBUTE', 'NETLINK_ERR_SHORT_BUFFER']);
  });

  it('ignores messages of another sequence number (a late answer to an abandoned dump)', () => {
    const { r, entries } = reader();
    assert.equal(r.feed(Buffer.concat([ctMessage(flow(1), { seq: SEQ - 1 }), controlMessage(3, SEQ - 1)])), false);
    assert.equal(entries.length, 0);
  });

  it('keeps only the configured zone', () => {
    const { r, entries } = reader(5);
    r.feed(Buffer.concat([ctMessage(flow(1, 5), { seq: SEQ }), ctMessage(flow(2), { seq: SEQ }), ctMessage(flow(3, 6), { seq: SEQ }), controlMessage(3, SEQ)]));
    assert.deepEqual(entries.map((e) => [e.original.sourcePort, e.zone]), [[1, 5]]);
    assert.equal(r.summary.otherZone, 2);
  });

  it('reports a dump the kernel flagged NLM_F_DUMP_INTR', () => {
    const { r } = reader();
    r.feed(Buffer.concat([ctMessage(flow(1), { seq: SEQ, flags: 0x2 | 0x10 }), controlMessage(3, SEQ)]));
    assert.equal(r.summary.interrupted, true);
  });
});

describe('ctnetlink events', () => {
  const NLM_F_CREATE_EXCL = 0x400 | 0x200;
  it('classifies NEW with CREATE|EXCL as new, NEW without as update, and DELETE as destroy with final counters', () => {
    const events: ConntrackEvent[] = [];
    const n = readEventDatagram(
      Buffer.concat([
        ctMessage(flow(1), { flags: NLM_F_CREATE_EXCL }),
        ctMessage({ ...flow(1), origCounters: [1, 40] }, { flags: 0 }),
        ctMessage({ ...flow(1), origCounters: [3, 120], replyCounters: [2, 80] }, { type: CT_DELETE_TYPE, flags: 0 }),
      ]),
      null,
      (e) => events.push(e),
      () => assert.fail('nothing is malformed'),
    );
    assert.equal(n, 3);
    assert.deepEqual(events.map((e) => e.type), ['new', 'update', 'destroy']);
    assert.deepEqual([events[2].entry.originalBytes, events[2].entry.replyPackets], [120, 2]);
  });

  it('skips other zones and counts malformed events through the callback', () => {
    const events: ConntrackEvent[] = [];
    const errors: KernelSourceError[] = [];
    readEventDatagram(
      Buffer.concat([ctMessage(flow(1, 9)), nfMessage({ type: CT_NEW_TYPE, family: 2, body: [] }), ctMessage(flow(2, 3))]),
      3,
      (e) => events.push(e),
      (e) => errors.push(e),
    );
    assert.deepEqual(events.map((e) => e.entry.original.sourcePort), [2]);
    assert.equal(errors.length, 1);
  });
});

describe('ctnetlink dumper options', () => {
  for (const [opts, what] of [
    [{ zone: 70000 }, 'zone 70000'],
    [{ zone: -1 }, 'zone -1'],
    [{ dumpTimeoutMs: 0 }, 'dumpTimeoutMs 0'],
    [{ eventReceiveBufferBytes: 10 }, 'a 10-byte event buffer'],
  ] as const) {
    it(`refuses ${what} with KERNEL_ERR_OPTION`, () => {
      assert.throws(() => new CtnetlinkDumper(opts), (err: unknown) => err instanceof KernelSourceError && err.code === 'KERNEL_ERR_OPTION');
    });
  }

  it('refuses to dump after close() with CTNL_ERR_CLOSED', async () => {
    const d = new CtnetlinkDumper();
    await d.close();
    await assert.rejects(d.dump(), (err: unknown) => err instanceof KernelSourceError && err.code === 'CTNL_ERR_CLOSED');
  });
});
