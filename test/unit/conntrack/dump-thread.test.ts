import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DumpRing, SLOT_DATAGRAM, SLOT_FAILURE, VIA_COPY, VIA_FD_READ, decodeFailure, encodeFailure } from '../../../src/exporter/conntrack/dump-ring.js';
import { DumpThread, OwnLoadEstimate, dumpThreadPays, failureError } from '../../../src/exporter/conntrack/dump-thread.js';
import { endsDump } from '../../../src/exporter/conntrack/dump-worker.js';
import { CtnetlinkDumper, DumpReader } from '../../../src/exporter/conntrack/ctnetlink.js';
import { KernelSourceError } from '../../../src/exporter/conntrack/errors.js';
import { socketError } from '../../../src/exporter/conntrack/netlink.js';
import type { ConntrackEntry } from '../../../src/exporter/conntrack/types.js';
import { controlMessage, ctMessage } from './fixtures.js';
import { MANY_DATAGRAMS, PER_DATAGRAM } from './fake-dump-worker.js';

const SMALL = { slots: 4, slotBytes: 4096 };
const FAKE = new URL('./fake-dump-worker.js', import.meta.url);

function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

describe('dump ring (dump thread -> main thread)', () => {
  it('hands over records in order across many turns of the ring, each with its seq and kind', () => {
    const ring = new DumpRing(SMALL);
    ring.begin(9);
    const seen: Array<[number, number, number[]]> = [];
    for (let i = 0; i < 11; i++) {
      assert.equal(ring.waitForSpace(9), true);
      ring.write(9, i % 3 === 0 ? SLOT_FAILURE : SLOT_DATAGRAM, bytes(i, i + 1, i + 2));
      if (i % 2 === 1) {
        for (let r = ring.peek(); r !== null; r = ring.peek()) {
          seen.push([r.seq, r.kind, [...ring.view(r)]]);
          ring.release();
        }
      }
    }
    for (let r = ring.peek(); r !== null; r = ring.peek()) {
      seen.push([r.seq, r.kind, [...ring.view(r)]]);
      ring.release();
    }
    assert.deepEqual(
      seen,
      Array.from({ length: 11 }, (_, i) => [9, i % 3 === 0 ? SLOT_FAILURE : SLOT_DATAGRAM, [i, i + 1, i + 2]]),
    );
    assert.equal(ring.pending(), 0);
  });

  it('lets the reader look ahead and give several records back at once', () => {
    const ring = new DumpRing(SMALL);
    ring.begin(2);
    for (let i = 0; i < 3; i++) ring.write(2, SLOT_DATAGRAM, bytes(i));
    assert.deepEqual([0, 1, 2].map((a) => ring.view(ring.peek(a)!)[0]), [0, 1, 2]);
    assert.equal(ring.peek(3), null);
    ring.release(2);
    assert.equal(ring.pending(), 1);
    assert.equal(ring.view(ring.peek()!)[0], 2);
    ring.release(0);
    assert.equal(ring.pending(), 1);
  });

  it('refuses a write into a full ring, and stops the writer waiting once the reader ends the dump', () => {
    const ring = new DumpRing(SMALL);
    ring.begin(3);
    for (let i = 0; i < SMALL.slots; i++) ring.write(3, SLOT_DATAGRAM, bytes(i));
    assert.equal(ring.pending(), SMALL.slots);
    assert.throws(() => ring.write(3, SLOT_DATAGRAM, bytes(0)), RangeError);
    ring.end();
    assert.equal(ring.waitForSpace(3), false, 'no dump is being read: the writer drops instead of waiting');
    ring.begin(4);
    assert.equal(ring.waitForSpace(3), false, 'another dump is being read');
  });

  it('gives views of the shared memory that are 4-byte aligned, as the message plans need', () => {
    const ring = new DumpRing(SMALL);
    ring.begin(1);
    for (let i = 0; i < 6; i++) {
      ring.write(1, SLOT_DATAGRAM, new Uint8Array(100 + i));
      const r = ring.peek()!;
      const v = ring.view(r);
      assert.equal(v.byteOffset % 4, 0);
      assert.equal(v.length, 100 + i);
      assert.equal(v.buffer, ring.buffer);
      ring.release();
    }
  });

  it('lets the writer fill the next slot in place and publish it with its length and how it got there', () => {
    const ring = new DumpRing(SMALL);
    ring.begin(5);
    const seen: Array<[number, number, number[]]> = [];
    for (let i = 0; i < 7; i++) {
      assert.equal(ring.waitForSpace(5), true);
      const slot = ring.slotForWrite();
      assert.equal(slot.length, SMALL.slotBytes);
      assert.equal(slot.byteOffset % 4, 0);
      slot.set([i, i * 2, 7]);
      ring.commit(5, SLOT_DATAGRAM, 2, true, i % 2 === 0 ? VIA_FD_READ : VIA_COPY);
      const r = ring.peek()!;
      seen.push([r.via, r.length, [...ring.view(r)]]);
      ring.release();
    }
    assert.deepEqual(seen, Array.from({ length: 7 }, (_, i) => [i % 2 === 0 ? VIA_FD_READ : VIA_COPY, 2, [i, i * 2]]));
    // write() copies, and says so.
    ring.write(5, SLOT_DATAGRAM, bytes(9));
    assert.equal(ring.peek()!.via, VIA_COPY);
  });

  it('refuses to hand out or publish a slot of a full ring, and a length beyond the slot', () => {
    const ring = new DumpRing(SMALL);
    ring.begin(6);
    assert.throws(() => ring.commit(6, SLOT_DATAGRAM, SMALL.slotBytes + 1), RangeError);
    assert.throws(() => ring.commit(6, SLOT_DATAGRAM, -1), RangeError);
    for (let i = 0; i < SMALL.slots; i++) {
      ring.slotForWrite();
      ring.commit(6, SLOT_DATAGRAM, 1);
    }
    assert.throws(() => ring.slotForWrite(), RangeError);
    assert.throws(() => ring.commit(6, SLOT_DATAGRAM, 1), RangeError);
    assert.equal(ring.pending(), SMALL.slots);
  });

  it('rejects a record larger than a slot and layouts that cannot work, with what to use instead', () => {
    const ring = new DumpRing(SMALL);
    ring.begin(1);
    assert.throws(() => ring.write(1, SLOT_DATAGRAM, new Uint8Array(SMALL.slotBytes + 1)), RangeError);
    for (const layout of [{ slots: 3, slotBytes: 4096 }, { slots: 1, slotBytes: 4096 }, { slots: 4, slotBytes: 1000 }, { slots: 4, slotBytes: 4098 }]) {
      assert.throws(() => new DumpRing(layout), (err: unknown) => err instanceof KernelSourceError && err.code === 'KERNEL_ERR_OPTION' && /e\.g\./.test(err.message));
    }
    assert.throws(() => new DumpRing(SMALL, new SharedArrayBuffer(100)), (err: unknown) => err instanceof KernelSourceError && err.code === 'KERNEL_ERR_OPTION');
  });

  it('wakes a waiting reader when a record is written, and at once when one already was', async () => {
    const ring = new DumpRing(SMALL);
    ring.begin(1);
    const before = ring.writtenCount();
    const waiting = ring.waitForData(before, 10_000);
    ring.write(1, SLOT_DATAGRAM, bytes(1));
    assert.equal(await waiting, 'ok');
    assert.equal(await ring.waitForData(before, 10_000), 'not-equal');
  });

  it('carries a failure as JSON and reads an unreadable one as such, without throwing', () => {
    const f = { what: 'conntrack dump', message: 'recvmsg: No buffer space available', code: 'ENOBUFS' };
    assert.deepEqual(decodeFailure(encodeFailure(f)), f);
    assert.equal(decodeFailure(bytes(0x7b, 0x7b)).message, 'unreadable failure report from the dump thread');
  });
});

describe("when the dump thread is used ('auto')", () => {
  it('only with a core free for it: 1-minute load average at most cores - 1', () => {
    assert.equal(dumpThreadPays(0.5, 2), true);
    assert.equal(dumpThreadPays(1, 2), true);
    assert.equal(dumpThreadPays(1.01, 2), false);
    assert.equal(dumpThreadPays(8.9, 2), false);
    assert.equal(dumpThreadPays(8.9, 16), true);
    assert.equal(dumpThreadPays(0, 1), false, 'one core: nothing to overlap on');
  });

  it("estimates this process's own part of the load average from its CPU time, over about a minute", () => {
    const own = new OwnLoadEstimate();
    assert.equal(own.update(0, 0), 0, 'the first sample only sets the baseline');
    // One thread busy all the time for a minute, sampled every 5 s: 1 - 1/e of the way to 1.
    for (let t = 5_000; t <= 60_000; t += 5_000) own.update(t, t);
    assert.ok(Math.abs(own.value - (1 - Math.exp(-1))) < 1e-9, `${own.value}`);
    // Then idle for five minutes: almost nothing left.
    for (let t = 65_000; t <= 360_000; t += 5_000) own.update(t, 60_000);
    assert.ok(own.value < 0.01 && own.value > 0, `${own.value}`);
    // A clock that does not move changes nothing.
    const before = own.value;
    assert.equal(own.update(360_000, 70_000), before);
  });

  it('accepts true, false and auto, and says so for anything else', () => {
    for (const dumpThread of [true, false, 'auto'] as const) assert.ok(new CtnetlinkDumper({ dumpThread }));
    assert.throws(
      () => new CtnetlinkDumper({ dumpThread: 'yes' as unknown as boolean }),
      (err: unknown) => err instanceof KernelSourceError && err.code === 'KERNEL_ERR_OPTION' && /true, false or 'auto'/.test(err.message),
    );
  });

  it('takes readFromFd true or false, and says so for anything else', () => {
    for (const readFromFd of [true, false]) assert.ok(new CtnetlinkDumper({ dumpThread: false, readFromFd }));
    assert.throws(
      () => new CtnetlinkDumper({ readFromFd: 1 as unknown as boolean }),
      (err: unknown) => err instanceof KernelSourceError && err.code === 'KERNEL_ERR_OPTION' && /readFromFd 1 must be true or false/.test(err.message),
    );
  });
});

describe('dump thread failures as the in-thread path raises them', () => {
  it('a socket failure is NETLINK_ERR_SOCKET with the errno name and the same message', () => {
    const err = Object.assign(new Error('recvmsg: No buffer space available'), { code: 'ENOBUFS' });
    const inThread = socketError('conntrack dump', err);
    const fromThread = failureError({ what: 'conntrack dump', message: err.message, code: 'ENOBUFS' });
    assert.deepEqual([fromThread.code, fromThread.errno, fromThread.message], [inThread.code, inThread.errno, inThread.message]);
    assert.equal(fromThread.code, 'NETLINK_ERR_SOCKET');
    assert.equal(fromThread.errno, 'ENOBUFS');
  });

  it('a truncated datagram is NETLINK_ERR_SHORT_BUFFER', () => {
    const e = failureError({ what: 'truncated', message: '', code: '' });
    assert.equal(e.code, 'NETLINK_ERR_SHORT_BUFFER');
    assert.match(e.message, /truncated by the socket/);
  });

  it('opening and sending keep their own wording', () => {
    assert.match(failureError({ what: 'opening the ctnetlink dump socket', message: 'socket: Operation not permitted', code: 'EPERM' }).message, /^NETLINK_ERR_SOCKET: opening the ctnetlink dump socket: socket: Operation not permitted$/);
    assert.match(failureError({ what: 'sending the conntrack dump request', message: 'sendmsg', code: 'ECONNREFUSED' }).message, /sending the conntrack dump request/);
  });
});

describe('where a dump ends (endsDump, read by the dump thread)', () => {
  const flow = { orig: { src: '10.1.0.1', dst: '10.1.0.2', sport: 1, dport: 53, proto: 17 } };
  it('at NLMSG_DONE or an NLMSG_ERROR of the dump seq, not at an ACK or another seq', () => {
    assert.equal(endsDump(Buffer.concat([ctMessage(flow, { seq: 5 }), controlMessage(3, 5)]), 5), true);
    assert.equal(endsDump(controlMessage(2, 5, 1), 5), true);
    assert.equal(endsDump(controlMessage(2, 5, 0), 5), false);
    assert.equal(endsDump(Buffer.concat([ctMessage(flow, { seq: 5 }), controlMessage(3, 4)]), 5), false);
    assert.equal(endsDump(ctMessage(flow, { seq: 5 }), 5), false);
  });

  it('stops at a header that does not fit, leaving the report to the main thread', () => {
    const broken = Buffer.concat([ctMessage(flow, { seq: 5 }), controlMessage(3, 5)]);
    broken.writeUInt32LE(9999, 0);
    assert.equal(endsDump(broken, 5), false);
    assert.equal(endsDump(Buffer.alloc(7), 5), false);
  });

  it('answers the same whether the datagram starts on a word (read as words) or not (read as bytes)', () => {
    const placed = (bytes: Buffer, shift: number): Buffer => {
      const out = Buffer.from(new ArrayBuffer(bytes.length + 8), shift, bytes.length);
      bytes.copy(out);
      return out;
    };
    const truncatedHeader = Buffer.concat([ctMessage(flow, { seq: 5 }), controlMessage(3, 5)]);
    truncatedHeader.writeUInt32LE(9999, 0);
    const cases: [Buffer, boolean][] = [
      [Buffer.concat([ctMessage(flow, { seq: 5 }), ctMessage(flow, { seq: 5 }), controlMessage(3, 5)]), true],
      [Buffer.concat([ctMessage(flow, { seq: 5 }), controlMessage(4, 5)]), true],
      [controlMessage(2, 5, 1), true],
      [controlMessage(2, 5, 0), false],
      [Buffer.concat([ctMessage(flow, { seq: 5 }), controlMessage(3, 4)]), false],
      [Buffer.concat([ctMessage(flow, { seq: 0x80000005 }), controlMessage(3, 0x80000005 | 0)]), true],
      [truncatedHeader, false],
      [Buffer.concat([controlMessage(3, 5)]).subarray(0, 19), false],
    ];
    for (const [bytes, ends] of cases) {
      const seq = bytes.length >= 12 && bytes.readUInt32LE(8) === 0x80000005 ? 0x80000005 : 5;
      assert.equal(endsDump(placed(bytes, 0), seq), ends, `aligned ${bytes.toString('hex').slice(0, 40)}`);
      assert.equal(endsDump(placed(bytes, 1), seq), ends, `unaligned ${bytes.toString('hex').slice(0, 40)}`);
    }
  });
});

/** Runs one dump through a DumpThread on the fake worker, parsing as CtnetlinkDumper does. */
function dumpThrough(thread: DumpThread, seq: number): Promise<{ entries: ConntrackEntry[]; err: KernelSourceError | null; datagrams: number }> {
  return new Promise((resolve) => {
    const entries: ConntrackEntry[] = [];
    let datagrams = 0;
    const reader = new DumpReader(seq, null, (e) => entries.push(e), () => {});
    const done = (err: KernelSourceError | null): void => {
      thread.stop(err === null);
      resolve({ entries, err, datagrams });
    };
    thread.start(seq, Buffer.alloc(20), {
      onDatagram: (buf) => {
        datagrams++;
        if (reader.feed(buf)) done(null);
      },
      onFailure: done,
    });
  });
}

describe('dump thread on a worker (with a fake kernel)', () => {
  it('hands over every datagram in order, more than the ring holds, while the worker waits for space', async () => {
    const thread = new DumpThread(SMALL, FAKE);
    try {
      const r = await dumpThrough(thread, 1);
      assert.equal(r.err, null);
      assert.equal(r.datagrams, MANY_DATAGRAMS);
      assert.deepEqual(
        r.entries.map((e) => e.original.sourcePort),
        Array.from({ length: MANY_DATAGRAMS * PER_DATAGRAM }, (_, i) => i + 1),
      );
      // The same thread serves the next dump.
      const again = await dumpThrough(thread, 9);
      assert.equal(again.entries.length, MANY_DATAGRAMS * PER_DATAGRAM);
    } finally {
      await thread.close();
    }
  });

  it('serves the next dump in full after one was abandoned half way (as after a timeout)', async () => {
    const thread = new DumpThread(SMALL, FAKE);
    try {
      const abandoned = await new Promise<number>((resolve) => {
        let datagrams = 0;
        thread.start(1, Buffer.alloc(20), {
          onDatagram: () => {
            // The dumper gives up after the first datagram, as its timeout would.
            if (++datagrams === 1) {
              thread.stop(false);
              resolve(datagrams);
            }
          },
          onFailure: () => resolve(-1),
        });
      });
      assert.equal(abandoned, 1);
      const next = await dumpThrough(thread, 17);
      assert.equal(next.err, null);
      assert.deepEqual(
        next.entries.map((e) => e.original.sourcePort),
        Array.from({ length: MANY_DATAGRAMS * PER_DATAGRAM }, (_, i) => i + 1),
      );
    } finally {
      await thread.close();
    }
  });

  it('skips what an abandoned dump left in the ring', async () => {
    const thread = new DumpThread(SMALL, FAKE);
    try {
      const r = await dumpThrough(thread, 2);
      assert.equal(r.err, null);
      assert.deepEqual(r.entries.map((e) => e.original.sourcePort), [1]);
    } finally {
      await thread.close();
    }
  });

  it('fails the dump with NETLINK_ERR_SOCKET and the errno after the datagrams before it', async () => {
    const thread = new DumpThread(SMALL, FAKE);
    try {
      const r = await dumpThrough(thread, 3);
      assert.equal(r.entries.length, 2);
      assert.equal(r.err?.code, 'NETLINK_ERR_SOCKET');
      assert.equal(r.err?.errno, 'ENOBUFS');
      assert.equal(r.err?.message, 'NETLINK_ERR_SOCKET: conntrack dump: recvmsg: No buffer space available');
    } finally {
      await thread.close();
    }
  });

  it('fails the dump with NETLINK_ERR_SHORT_BUFFER for a truncated datagram', async () => {
    const thread = new DumpThread(SMALL, FAKE);
    try {
      const r = await dumpThrough(thread, 4);
      assert.equal(r.err?.code, 'NETLINK_ERR_SHORT_BUFFER');
    } finally {
      await thread.close();
    }
  });

  it('fails the dump with CTNL_ERR_DUMP_THREAD when the thread dies, and says so for later dumps', async () => {
    const thread = new DumpThread(SMALL, FAKE);
    try {
      const r = await dumpThrough(thread, 5);
      assert.equal(r.err?.code, 'CTNL_ERR_DUMP_THREAD');
      assert.match(r.err?.message ?? '', /exited with code 7/);
      assert.equal(thread.failed?.code, 'CTNL_ERR_DUMP_THREAD');
      const later = await dumpThrough(thread, 1);
      assert.equal(later.err?.code, 'CTNL_ERR_DUMP_THREAD');
    } finally {
      await thread.close();
    }
  });
});
