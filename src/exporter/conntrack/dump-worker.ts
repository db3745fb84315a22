// The dump thread (a worker_threads Worker started by DumpThread, dump-thread.ts): receives the
// datagrams of ctnetlink dumps on its own netlink socket and hands them to the main thread
// through a DumpRing, which parses them meanwhile.
//
// Why a thread: the kernel fills a dump's next datagram inside the recvmsg() that reads the
// previous one (netlink_recvmsg -> netlink_dump -> ctnetlink_dump_table), so on one thread the
// kernel's work (about two thirds of a poll of a large table) and our parsing take turns. Here
// the recvmsg() calls, and with them the kernel's work, run on this thread while the main thread
// parses: a poll takes about the longer of the two instead of their sum.
//
// This thread parses nothing, and does as little as it can, since its time is the poll's: it
// writes the request and reads each datagram with read(2) on the socket's fd (socket-fd.ts)
// straight into the next ring slot, until a read finds none ready, which after NLMSG_DONE is the
// case (the kernel then has nothing more to fill). Per datagram that is a read, a slot header
// and, every WAKE_EVERY datagrams, a wake of the reader: ~1-2 ms of this thread's user CPU per
// 100,000 entries, where the addon's receive path (a new zeroed 32 KiB buffer per datagram, a
// callback, the copy into the ring, a walk of the headers for the dump's end) took 11-15 ms.
// Where /proc cannot name the fd, the addon receives as before ('message': copy into the ring,
// endsDump for the end). Socket failures are written into the ring, in order after the
// datagrams before them; the main thread turns them into the errors the in-thread path raises.
//
// Messages from the main thread:
//   { type: 'dump', seq, request }   open the socket if needed, send the request, forward
//   { type: 'reset' }                close the socket (after a failed dump; the next opens anew)
//   { type: 'close' }                close the socket and end the thread
import { readSync, writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { RawNetlinkSocket, type ErrnoException, type MessageInfo, type RawNetlinkSocketOptions } from 'netlink';
import { DumpRing, SLOT_DATAGRAM, SLOT_FAILURE, VIA_COPY, VIA_FD_READ, encodeFailure, type DumpRingLayout } from './dump-ring.js';
import {
  HOST_IS_LE, NETLINK_NETFILTER, NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, NLMSG_OVERRUN, align4, hostU16, hostU32, hostWords, readNlmsgError,
} from './netlink.js';
import { netlinkSocketFd } from './socket-fd.js';

/**
 * The reader (main thread) is woken once per this many datagrams (about 8,700 entries, a few ms
 * of parsing), when the ring is full, and at the end of the dump. Each wake is a futex call here
 * and, on a busy machine, often a preemption of this thread by the one it woke: measured at
 * 10-50 ms per dump of 100,000 entries when waking every 16 datagrams under load 7-10.
 */
const WAKE_EVERY = 64;

export interface DumpWorkerData {
  ring: SharedArrayBuffer;
  layout: DumpRingLayout;
  /** Read datagrams from the socket's fd where /proc names it (else the addon receives them). */
  readFromFd: boolean;
}

export type DumpWorkerMessage = { type: 'dump'; seq: number; request: Uint8Array } | { type: 'reset' } | { type: 'close' };

/**
 * Whether a datagram ends dump `seq`: it holds NLMSG_DONE, NLMSG_OVERRUN or an NLMSG_ERROR
 * other than an ACK with that seq. Stops at a header that does not fit (the main thread reports
 * it). Used for the datagrams the addon receives; those read from the fd need no such walk.
 */
export function endsDump(buf: Uint8Array, seq: number): boolean {
  // The addon's receive buffers start on a malloc boundary: their headers are read as host-order
  // words (about 10x faster than Buffer reads, 1-2 ms of a 100k-entry dump on this thread).
  const words = hostWords(buf);
  if (words !== null) return endsDumpAligned(words, buf.length, seq >>> 0);
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  const end = b.length;
  let off = 0;
  while (end - off >= NLMSG_HDRLEN) {
    const len = hostU32(b, off);
    if (len < NLMSG_HDRLEN || len > end - off) return false;
    if (hostU32(b, off + 8) === seq >>> 0) {
      const type = hostU16(b, off + 4);
      if (type === NLMSG_DONE || type === NLMSG_OVERRUN) return true;
      if (type === NLMSG_ERROR && (len < NLMSG_HDRLEN + 4 || readNlmsgError(b, off, off + len) !== 0)) return true;
    }
    off += align4(len);
  }
  return false;
}

/**
 * endsDump over the datagram's words (host order, as netlink headers are). Messages are 4-byte
 * aligned, so every header starts on a word: [len] [type | flags << 16] [seq] [pid] [error].
 */
function endsDumpAligned(words: Uint32Array, end: number, seq: number): boolean {
  let off = 0;
  while (end - off >= NLMSG_HDRLEN) {
    const w = off >>> 2;
    const len = words[w];
    if (len < NLMSG_HDRLEN || len > end - off) return false;
    if (words[w + 2] === seq) {
      const typeAndFlags = words[w + 1];
      const type = HOST_IS_LE ? typeAndFlags & 0xffff : typeAndFlags >>> 16;
      if (type === NLMSG_DONE || type === NLMSG_OVERRUN) return true;
      // struct nlmsgerr: the (negative) errno right after the header; 0 is an ACK.
      if (type === NLMSG_ERROR && (len < NLMSG_HDRLEN + 4 || words[w + 4] !== 0)) return true;
    }
    off += align4(len);
  }
  return false;
}

function run(port: NonNullable<typeof parentPort>, data: DumpWorkerData): void {
  const ring = new DumpRing(data.layout, data.ring);
  // As on the main thread (ctnetlink.ts): no peeking, receive buffers of a slot's size.
  const socketOptions = { messagePeeking: false, msgBufferSize: data.layout.slotBytes } as RawNetlinkSocketOptions;
  let sock: RawNetlinkSocket | null = null;
  /** The socket's fd, read directly into the ring (socket-fd.ts); null: only the addon receives. */
  let fd: number | null = null;
  /** The dump being forwarded; 0 when none. */
  let seq = 0;

  /** Records written since the reader was last woken. */
  let unwoken = 0;
  /** Waits for a free slot; false (and seq 0) when the main thread stopped reading this dump. */
  const reserve = (): boolean => {
    if (ring.pending() >= ring.slots && unwoken > 0) {
      // The reader must make room: make sure it knows there is something to read.
      ring.wakeReader();
      unwoken = 0;
    }
    if (!ring.waitForSpace(seq)) {
      // The main thread stopped reading this dump (it ended, failed or timed out).
      seq = 0;
      return false;
    }
    return true;
  };
  /** Publishes the slot filled in place; wakes the reader every WAKE_EVERY records and with `last`. */
  const publish = (kind: number, length: number, last: boolean, via: number): void => {
    const wake = last || ++unwoken >= WAKE_EVERY;
    ring.commit(seq, kind, length, wake, via);
    if (wake) unwoken = 0;
  };
  const forward = (kind: number, bytes: Uint8Array, last: boolean): void => {
    if (seq === 0 || !reserve()) return;
    ring.slotForWrite().set(bytes);
    publish(kind, bytes.length, last, VIA_COPY);
  };
  const fail = (what: string, err: unknown): void => {
    const e = err as { message?: string; code?: string } | undefined;
    forward(SLOT_FAILURE, encodeFailure({ what, message: e?.message ?? String(err), code: e?.code ?? '' }), true);
    seq = 0;
  };
  const wakeReader = (): void => {
    if (unwoken === 0) return;
    ring.wakeReader();
    unwoken = 0;
  };

  /**
   * Reads the dump's datagrams from the socket's fd straight into ring slots, until none is
   * ready. The kernel fills the next datagram inside each read (netlink_recvmsg ->
   * netlink_dump), so during a dump one is always ready, and the read after NLMSG_DONE finds
   * none (EAGAIN: the socket is non-blocking): that ends the loop, with a wake of the reader,
   * and spares this thread the walk of every datagram's headers for the end (endsDump). Should
   * a read find nothing before the end, the addon's watcher delivers the next datagram
   * ('message' below) once the kernel has it, and reading resumes there.
   */
  const receive = (): void => {
    while (seq !== 0 && fd !== null) {
      if (!reserve()) return;
      const slot = ring.slotForWrite();
      let n: number;
      try {
        n = readSync(fd, slot, 0, slot.length, null);
      } catch (err) {
        const code = (err as ErrnoException).code;
        if (code === 'EINTR') continue;
        wakeReader();
        if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK') fail('conntrack dump', err);
        return;
      }
      // read(2) says nothing of truncation; a dump datagram is at most SKB_WITH_OVERHEAD(32 KiB),
      // less than a slot, so one that fills the slot may have been cut.
      if (n >= slot.length) {
        fail('truncated', new Error('a conntrack dump datagram was truncated by the socket'));
        return;
      }
      publish(SLOT_DATAGRAM, n, false, VIA_FD_READ);
    }
  };
  const closeSocket = (): void => {
    fd = null;
    if (sock === null) return;
    try {
      sock.close();
    } catch {
      // already closed
    }
    sock = null;
  };
  const open = (): RawNetlinkSocket => {
    const s = new RawNetlinkSocket(NETLINK_NETFILTER, socketOptions);
    // Datagrams the addon received: without the fd all of them, with it only those that came
    // after a read found none ready (see receive).
    s.on('message', (buf: Buffer, rinfo: MessageInfo) => {
      if (seq === 0 || rinfo.port !== 0) return;
      const current = seq;
      const last = endsDump(buf, current);
      forward(SLOT_DATAGRAM, buf, last);
      if (last) seq = 0;
      else receive();
    });
    s.on('truncatedMessage', () => fail('truncated', new Error('a conntrack dump datagram was truncated by the socket')));
    s.on('error', (err: ErrnoException) => fail('conntrack dump', err));
    fd = data.readFromFd ? netlinkSocketFd(s, NETLINK_NETFILTER) : null;
    return s;
  };

  port.on('message', (msg: DumpWorkerMessage) => {
    if (msg.type === 'dump') {
      seq = msg.seq;
      unwoken = 0;
      let s: RawNetlinkSocket;
      try {
        s = sock ??= open();
      } catch (err) {
        fail('opening the ctnetlink dump socket', err);
        return;
      }
      if (fd !== null) {
        try {
          // To the kernel (port 0): an unconnected netlink socket's default destination.
          writeSync(fd, msg.request);
        } catch (err) {
          fail('sending the conntrack dump request', err);
          return;
        }
        receive();
        return;
      }
      const request = Buffer.from(msg.request.buffer, msg.request.byteOffset, msg.request.length);
      s.send(request, {}, (err) => {
        if (err !== undefined) fail('sending the conntrack dump request', err);
      });
    } else if (msg.type === 'reset') {
      seq = 0;
      closeSocket();
    } else {
      seq = 0;
      closeSocket();
      port.close();
    }
  });
}

if (parentPort !== null && (workerData as Partial<DumpWorkerData> | null)?.ring instanceof SharedArrayBuffer) {
  run(parentPort, workerData as DumpWorkerData);
}
