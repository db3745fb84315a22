// The ctnetlink ConntrackDumper: full-table dumps (IPCTNL_MSG_CT_GET with NLM_F_DUMP, family
// AF_UNSPEC = IPv4 and IPv6 in one dump) and NEW/UPDATE/DESTROY events, over NETLINK_NETFILTER
// sockets from the `netlink` package. The message parsing is ours (parse.ts).
//
// A dump of a large table is mostly connections the consumer already holds. With
// DumpOptions.known, each entry's numbers (ConntrackDigest) go to the consumer first, and the
// entry object with its address strings is made only when the consumer asks for it.
//
// Where the datagrams are received (DumpChannel): by default on the dump thread (dump-thread.ts,
// dump-worker.ts), because the kernel fills each datagram of a dump inside the recvmsg() that
// reads the one before: on the dump thread that work, two thirds of a poll of a large table,
// overlaps with the parsing here. With `dumpThread: false`, when no core is free ('auto'), or
// after the thread died, the datagrams are received on this thread (SocketDumpChannel). Either way DumpReader parses them
// here, so entries, summaries and errors are the same.
//
// Everything is per network namespace: the sockets see the conntrack table of the namespace
// the process runs in (a worker thread shares the process's namespace). Dumps need
// CAP_NET_ADMIN there; events need it to join the groups.
//
// Events: the kernel attaches its event cache to a connection when it is created while a
// listener exists (nf_conntrack_events = 2, the default) or always (= 1). A connection that
// starts and ends between two dumps is then reported by its DESTROY event, with its final
// counters (nf_conntrack_acct = 1) and stop timestamp (nf_conntrack_timestamp = 1).
import { RawNetlinkSocket, type ErrnoException, type MessageInfo, type RawNetlinkSocketOptions } from 'netlink';
import type { ConntrackDigest, ConntrackDumper, ConntrackEntry, ConntrackEvent } from './types.js';
import { KernelSourceError } from './errors.js';
import { readSync, writeSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { DumpThread, OwnLoadEstimate, dumpThreadPays, type DumpChannelHandlers } from './dump-thread.js';
import {
  AF_UNSPEC, NETLINK_NETFILTER, NFNL_SUBSYS_CTNETLINK, NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, NLMSG_OVERRUN,
  NLM_F_CREATE, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_EXCL, NLM_F_REQUEST,
  HOST_IS_LE, align4, buildNfnlRequest, checkedMessageLength, errnoName, forEachMessage, hostU16, hostU32, hostWords, parseOrReport, readNlmsgError, socketError,
} from './netlink.js';
import {
  CTA_ZONE, EntryDigest, EntryScanner, IPCTNL_MSG_CT_DELETE, IPCTNL_MSG_CT_GET, IPCTNL_MSG_CT_NEW, buildConntrackEntry, parseConntrackEntry,
} from './parse.js';
import { netlinkSocketFd } from './socket-fd.js';

/** nfnetlink multicast groups (enum nfnetlink_groups). */
export const NFNLGRP_CONNTRACK_NEW = 1;
export const NFNLGRP_CONNTRACK_UPDATE = 2;
export const NFNLGRP_CONNTRACK_DESTROY = 3;

export interface CtnetlinkOptions {
  /** Only entries of this conntrack zone (0-65535); null or absent for every zone. */
  zone?: number | null;
  /** A dump that has not ended (NLMSG_DONE) after this many ms fails with CTNL_ERR_DUMP_TIMEOUT. Default 30000. */
  dumpTimeoutMs?: number;
  /** SO_RCVBUF for the event socket, capped by net.core.rmem_max. Default 4 MiB. */
  eventReceiveBufferBytes?: number;
  /** Told about malformed messages (each is counted and skipped) and socket errors. */
  onError?: (err: KernelSourceError) => void;
  /**
   * Receive dumps on a worker thread (dump-worker.ts) while this thread parses them, so that
   * the kernel's work of filling the dump and ours of reading it overlap on two cores: true
   * always, false never (receive on this thread), 'auto' (the default) for each dump whose
   * start finds a core free (dumpThreadPays: the 1-minute load average, less this process's own
   * part (OwnLoadEstimate), <= cores - 1). On a machine with no free core the two threads only
   * take turns and add their overhead, so there the dump runs on this thread. Entries, summaries and errors are the same either way. Costs a worker
   * thread (its own V8 heap, started at the first dump on it) and a 4 MiB shared ring. A process
   * that ends with process.exit() must close() the dumper first: the netlink addon aborts when a
   * worker that used it is terminated (a process that ends on its own closes the thread itself).
   */
  dumpThread?: boolean | 'auto';
  /**
   * Read dump datagrams with read(2) on the socket's fd (socket-fd.ts) where /proc names it:
   * true (the default), or false to have the `netlink` addon receive every datagram (a new
   * zeroed buffer each; the path used anyway where the fd cannot be found).
   */
  readFromFd?: boolean;
}

/** Counters for metrics; they only grow. */
export interface CtnetlinkStats {
  dumps: number;
  dumpsFailed: number;
  /** Dumps the kernel flagged NLM_F_DUMP_INTR: the table changed during the dump. */
  dumpsInterrupted: number;
  entriesDumped: number;
  /** Entries of other zones, skipped by the zone filter. */
  entriesOtherZone: number;
  /** Messages dropped because they could not be parsed (dumps and events). */
  malformed: number;
  events: number;
  /** ENOBUFS on the event socket: the kernel dropped events. The next dump repairs the store. */
  eventOverflows: number;
  /** Dumps received on the dump thread (the others ran on this thread). */
  dumpsOnThread: number;
  /** Datagrams of dumps received, on either thread. */
  datagrams: number;
  /** Of them, read with read(2) on the socket's fd (socket-fd.ts) rather than received by the addon. */
  datagramsReadFromFd: number;
}

/** Options of one dump (CtnetlinkDumper.dumpEach, DumpReader). */
export interface DumpOptions {
  /**
   * Called first for every entry of the dump, with its numbers only (no strings or objects made
   * yet). Returning true means the consumer took what it needed from them (typically: a
   * connection it already holds, whose counters it updated), so no ConntrackEntry is made and
   * `onEntry` is not called for it. The digest is reused for the next entry: copy what you keep.
   */
  known?: ((digest: ConntrackDigest) => boolean) | null;
}

/** What one dump saw besides its entries. */
export interface DumpSummary {
  /** Entries of the dump (after the zone filter), whether `known` took them or `onEntry` got them. */
  entries: number;
  malformed: number;
  otherZone: number;
  interrupted: boolean;
}

const DEFAULT_DUMP_TIMEOUT_MS = 30_000;
/**
 * The kernel sizes each dump datagram after the largest receive buffer it has seen on the
 * socket, up to 32 KiB (netlink_dump, max_recvmsg_len). Receiving into 32 KiB buffers instead
 * of peeking first makes it fill 32 KiB datagrams: 8x fewer datagrams and one recvmsg each
 * instead of two. A datagram never exceeds 32 KiB, so nothing is truncated.
 */
// (The typings mark recvBufferSize and sendBufferSize required; the implementation leaves the
// kernel defaults when they are absent.)
const DUMP_SOCKET_OPTIONS = { messagePeeking: false, msgBufferSize: 32768 } as RawNetlinkSocketOptions;
const DEFAULT_EVENT_RCVBUF = 4 * 1024 * 1024;

function checkOptions(o: CtnetlinkOptions): { zone: number | null; dumpTimeoutMs: number; eventRcvBuf: number; dumpThread: boolean | 'auto'; readFromFd: boolean } {
  const zone = o.zone ?? null;
  if (zone !== null && (!Number.isInteger(zone) || zone < 0 || zone > 0xffff)) {
    throw new KernelSourceError('KERNEL_ERR_OPTION', `zone ${zone} is not 0-65535; leave it out to dump every zone`);
  }
  const dumpTimeoutMs = o.dumpTimeoutMs ?? DEFAULT_DUMP_TIMEOUT_MS;
  if (!(dumpTimeoutMs > 0)) throw new KernelSourceError('KERNEL_ERR_OPTION', `dumpTimeoutMs ${dumpTimeoutMs} must be > 0, e.g. 30000`);
  const eventRcvBuf = o.eventReceiveBufferBytes ?? DEFAULT_EVENT_RCVBUF;
  if (!Number.isInteger(eventRcvBuf) || eventRcvBuf < 4096) {
    throw new KernelSourceError('KERNEL_ERR_OPTION', `eventReceiveBufferBytes ${eventRcvBuf} must be an integer >= 4096, e.g. 4194304`);
  }
  const dumpThread = o.dumpThread ?? 'auto';
  if (typeof dumpThread !== 'boolean' && dumpThread !== 'auto') {
    throw new KernelSourceError('KERNEL_ERR_OPTION', `dumpThread ${String(dumpThread)} must be true, false or 'auto'`);
  }
  const readFromFd = o.readFromFd ?? true;
  if (typeof readFromFd !== 'boolean') throw new KernelSourceError('KERNEL_ERR_OPTION', `readFromFd ${String(readFromFd)} must be true or false`);
  return { zone, dumpTimeoutMs, eventRcvBuf, dumpThread, readFromFd };
}

/**
 * Reads the datagrams of one dump. Pure (no socket), so tests feed it byte fixtures.
 * Messages with another sequence number (a late answer to an abandoned dump) are ignored.
 */
export class DumpReader {
  readonly summary: DumpSummary = { entries: 0, malformed: 0, otherZone: 0, interrupted: false };
  /** One scratch digest for every message of the dump. */
  private readonly digest = new EntryDigest();
  private readonly known: ((digest: ConntrackDigest) => boolean) | null;

  constructor(
    private readonly seq: number,
    private readonly zone: number | null,
    private readonly onEntry: (entry: ConntrackEntry) => void,
    private readonly onMalformed: (err: KernelSourceError) => void,
    options: DumpOptions = {},
    /** Pass the dumper's scanner so that the message plans it compiled carry over between dumps. */
    private readonly scanner: EntryScanner = new EntryScanner(),
  ) {
    this.known = options.known ?? null;
  }

  /** Consumes one datagram; true once NLMSG_DONE arrived. Throws NETLINK_ERR_KERNEL on NLMSG_ERROR. */
  feed(buf: Buffer): boolean {
    const end = buf.length;
    // Headers read as host-order words where the datagram starts on one (always, from the
    // socket or the ring): a few ms less per 100,000 entries than Buffer reads.
    const words = hostWords(buf);
    let off = 0;
    while (off < end) {
      let len: number;
      let type: number;
      let flags: number;
      let seq: number;
      const w = off >>> 2;
      if (words !== null && end - off >= NLMSG_HDRLEN && words[w] >= NLMSG_HDRLEN && words[w] <= end - off) {
        len = words[w];
        const typeAndFlags = words[w + 1];
        type = HOST_IS_LE ? typeAndFlags & 0xffff : typeAndFlags >>> 16;
        flags = HOST_IS_LE ? typeAndFlags >>> 16 : typeAndFlags & 0xffff;
        seq = words[w + 2];
      } else {
        try {
          len = checkedMessageLength(buf, off, end);
        } catch (err) {
          // The framing is broken: the rest of this datagram cannot be delimited.
          this.malformed(err);
          return false;
        }
        type = hostU16(buf, off + 4);
        flags = hostU16(buf, off + 6);
        seq = hostU32(buf, off + 8);
      }
      if (seq === this.seq) {
        if ((flags & NLM_F_DUMP_INTR) !== 0) this.summary.interrupted = true;
        if (type === NLMSG_DONE) return true;
        if (type === NLMSG_ERROR || type === NLMSG_OVERRUN) {
          const errno = type === NLMSG_ERROR ? readNlmsgError(buf, off, off + len) : 0;
          if (type === NLMSG_ERROR && errno === 0) {
            off += align4(len);
            continue;
          }
          const name = type === NLMSG_OVERRUN ? 'NLMSG_OVERRUN' : errnoName(errno);
          throw new KernelSourceError('NETLINK_ERR_KERNEL', `conntrack dump failed: ${name}`, { errno: name });
        }
        if (type === ((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW)) this.entry(buf, off + NLMSG_HDRLEN, off + len);
      }
      off += align4(len);
    }
    return false;
  }

  /** Scans one entry's numbers; makes the entry only when `known` did not take it. */
  private entry(buf: Buffer, off: number, end: number): void {
    const d = this.digest;
    try {
      this.scanner.scan(buf, off, end, d);
    } catch (err) {
      this.malformed(err);
      return;
    }
    if (this.zone !== null && d.zone !== this.zone) {
      this.summary.otherZone++;
      return;
    }
    this.summary.entries++;
    if (this.known !== null && this.known(d)) return;
    this.onEntry(buildConntrackEntry(buf, d));
  }

  private malformed(err: unknown): void {
    if (!(err instanceof KernelSourceError)) throw err;
    this.summary.malformed++;
    this.onMalformed(err);
  }
}

/**
 * Reads one datagram of conntrack events. Pure. IPCTNL_MSG_CT_NEW with NLM_F_CREATE|NLM_F_EXCL
 * is a new connection, without them an update; IPCTNL_MSG_CT_DELETE is a destroy.
 * Returns the number of events delivered.
 */
export function readEventDatagram(
  buf: Buffer,
  zone: number | null,
  onEvent: (event: ConntrackEvent) => void,
  onMalformed: (err: KernelSourceError) => void,
): number {
  let delivered = 0;
  forEachMessage(
    buf,
    (off, len, type, flags) => {
      if (type >> 8 !== NFNL_SUBSYS_CTNETLINK) return;
      const msg = type & 0xff;
      if (msg !== IPCTNL_MSG_CT_NEW && msg !== IPCTNL_MSG_CT_DELETE) return;
      const entry = parseOrReport(() => parseConntrackEntry(buf, off + NLMSG_HDRLEN, off + len), onMalformed);
      if (entry === null || (zone !== null && entry.zone !== zone)) return;
      const kind = msg === IPCTNL_MSG_CT_DELETE ? 'destroy' : (flags & (NLM_F_CREATE | NLM_F_EXCL)) !== 0 ? 'new' : 'update';
      delivered++;
      onEvent({ type: kind, entry });
    },
    onMalformed,
  );
  return delivered;
}

/** Where a dump's datagrams come from: a socket on this thread, or the dump thread (DumpThread). */
interface DumpChannel {
  /** Sends the dump request with `seq`; then hands the datagrams, in order, or a failure to `handlers`. */
  start(seq: number, request: Buffer, handlers: DumpChannelHandlers): void;
  /** Ends the dump; after a failure (`ok` false) the socket is dropped and the next dump opens a new one. */
  stop(ok: boolean): void;
}

/**
 * In-thread dumps: datagrams read from the fd right after the request, and after each datagram
 * the addon's watcher delivers (that one included). The watcher's receive loop takes up to 32
 * ready datagrams per turn of the event loop, and during a dump one is always ready, so a turn
 * reads 32 * this many (128, about 25 ms of kernel fill and parsing for a table like the bench's;
 * the addon alone took 32), and one datagram in this many goes through the addon's buffers.
 */
const DIRECT_READS_PER_MESSAGE = 4;

/**
 * Dumps on a socket of this thread: the kernel fills each datagram while this thread waits.
 * Where the socket's fd is known (socket-fd.ts), datagrams are read with read(2) into one
 * reused buffer, as the dump thread does into its ring, instead of a new zeroed buffer from the
 * addon for each. The addon's watcher still receives when the event loop polls (a dump always has
 * its next datagram ready), so some come through 'message', in order with the others, and each
 * is followed by a few reads from the fd (DIRECT_READS_PER_MESSAGE).
 */
class SocketDumpChannel implements DumpChannel {
  private sock: RawNetlinkSocket | null = null;
  /** The socket's fd for direct reads, or null (then the addon receives every datagram). */
  private fd: number | null = null;
  /** The receive buffer of direct reads: a datagram is only valid during onDatagram. */
  private readonly buf = Buffer.allocUnsafeSlow(DUMP_SOCKET_OPTIONS.msgBufferSize!);
  private detach: (() => void) | null = null;
  /** The running dump's handlers; null between dumps (reads stop). */
  private running: DumpChannelHandlers | null = null;

  constructor(private readonly readFromFd: boolean) {}

  start(_seq: number, request: Buffer, handlers: DumpChannelHandlers): void {
    let sock: RawNetlinkSocket;
    try {
      if (this.sock === null) {
        this.sock = new RawNetlinkSocket(NETLINK_NETFILTER, DUMP_SOCKET_OPTIONS);
        this.fd = this.readFromFd ? netlinkSocketFd(this.sock, NETLINK_NETFILTER) : null;
      }
      sock = this.sock;
    } catch (err) {
      handlers.onFailure(socketError('opening the ctnetlink dump socket', err));
      return;
    }
    this.running = handlers;
    const onMessage = (buf: Buffer, rinfo: MessageInfo): void => {
      if (rinfo.port !== 0) return;
      handlers.onDatagram(buf, false);
      this.readDirect(handlers, DIRECT_READS_PER_MESSAGE - 1);
    };
    const onTruncated = (): void => {
      handlers.onFailure(new KernelSourceError('NETLINK_ERR_SHORT_BUFFER', 'a conntrack dump datagram was truncated by the socket'));
    };
    const onSocketError = (err: ErrnoException): void => handlers.onFailure(socketError('conntrack dump', err));
    sock.on('message', onMessage);
    sock.on('truncatedMessage', onTruncated);
    sock.on('error', onSocketError);
    this.detach = () => {
      sock.off('message', onMessage);
      sock.off('truncatedMessage', onTruncated);
      sock.off('error', onSocketError);
    };
    sock.ref();
    if (this.fd === null) {
      sock.send(request, {}, (err) => {
        if (err !== undefined) handlers.onFailure(socketError('sending the conntrack dump request', err));
      });
      return;
    }
    try {
      // To the kernel (port 0): an unconnected netlink socket's default destination.
      writeSync(this.fd, request);
    } catch (err) {
      handlers.onFailure(socketError('sending the conntrack dump request', err));
      return;
    }
    this.readDirect(handlers, DIRECT_READS_PER_MESSAGE);
  }

  /** Reads up to `count` datagrams of the running dump from the fd, until the dump stops or none is ready. */
  private readDirect(handlers: DumpChannelHandlers, count: number): void {
    const buf = this.buf;
    for (let i = 0; i < count && this.running === handlers && this.fd !== null; i++) {
      let n: number;
      try {
        n = readSync(this.fd, buf, 0, buf.length, null);
      } catch (err) {
        const code = (err as ErrnoException).code;
        if (code === 'EINTR') continue;
        // EAGAIN: none ready; the watcher delivers the next one.
        if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK') handlers.onFailure(socketError('conntrack dump', err));
        return;
      }
      // read(2) says nothing of truncation; a dump datagram is less than the buffer (see dump-worker.ts).
      if (n >= buf.length) {
        handlers.onFailure(new KernelSourceError('NETLINK_ERR_SHORT_BUFFER', 'a conntrack dump datagram was truncated by the socket'));
        return;
      }
      handlers.onDatagram(buf.subarray(0, n), true);
    }
  }

  stop(ok: boolean): void {
    this.running = null;
    this.detach?.();
    this.detach = null;
    if (ok) this.sock?.unref();
    else this.close();
  }

  close(): void {
    const sock = this.sock;
    this.sock = null;
    this.fd = null;
    try {
      sock?.close();
    } catch {
      // already closed
    }
  }
}

export class CtnetlinkDumper implements ConntrackDumper {
  readonly stats: CtnetlinkStats = {
    dumps: 0, dumpsFailed: 0, dumpsInterrupted: 0, entriesDumped: 0, entriesOtherZone: 0, malformed: 0, events: 0, eventOverflows: 0, dumpsOnThread: 0, datagrams: 0, datagramsReadFromFd: 0,
  };
  private readonly zone: number | null;
  private readonly dumpTimeoutMs: number;
  private readonly eventRcvBuf: number;
  private readonly onError: (err: KernelSourceError) => void;
  /** Dumps on this thread: the fallback, and the path with `dumpThread: false`. */
  private readonly socketChannel: SocketDumpChannel;
  /** Dumps received on a worker thread while this one parses (dumpThread true or 'auto'). */
  private thread: DumpThread | null;
  private readonly threadOnlyWhenCoreFree: boolean;
  private readonly ownLoad = new OwnLoadEstimate();
  private retiredThread: DumpThread | null = null;
  /** Keeps the compiled message shapes from one dump to the next. */
  private readonly scanner = new EntryScanner();
  private readonly eventSockets = new Set<RawNetlinkSocket>();
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(options: CtnetlinkOptions = {}) {
    const o = checkOptions(options);
    this.zone = o.zone;
    this.dumpTimeoutMs = o.dumpTimeoutMs;
    this.eventRcvBuf = o.eventRcvBuf;
    this.onError = options.onError ?? (() => {});
    this.socketChannel = new SocketDumpChannel(o.readFromFd);
    this.thread = o.dumpThread === false ? null : new DumpThread(undefined, undefined, o.readFromFd);
    this.threadOnlyWhenCoreFree = o.dumpThread === 'auto';
  }

  async dump(): Promise<ConntrackEntry[]> {
    const entries: ConntrackEntry[] = [];
    await this.dumpEach((e) => entries.push(e));
    return entries;
  }

  /**
   * Dumps the table and hands each entry to `onEntry` as its datagram is parsed, without
   * collecting an array. With `options.known`, entries the consumer recognises from their
   * numbers are not made at all (see DumpOptions). Dumps run one at a time, in call order.
   */
  dumpEach(onEntry: (entry: ConntrackEntry) => void, options: DumpOptions = {}): Promise<DumpSummary> {
    const run = this.queue.then(() => this.runDump(onEntry, options));
    this.queue = run.catch(() => {});
    return run;
  }

  private runDump(onEntry: (entry: ConntrackEntry) => void, options: DumpOptions): Promise<DumpSummary> {
    if (this.closed) return Promise.reject(new KernelSourceError('CTNL_ERR_CLOSED', 'dump() after close()'));
    // Never 0: the dump thread and its ring take seq 0 for "no dump".
    this.seq = ((this.seq + 1) >>> 0) || 1;
    const seq = this.seq;
    const reader = new DumpReader(
      seq,
      this.zone,
      onEntry,
      (err) => {
        this.stats.malformed++;
        this.onError(err);
      },
      options,
      this.scanner,
    );
    const attrs = [];
    if (this.zone !== null) {
      const z = Buffer.alloc(2);
      z.writeUInt16BE(this.zone);
      attrs.push({ type: CTA_ZONE, value: z });
    }
    const request = buildNfnlRequest((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, seq, AF_UNSPEC, 0, attrs);
    const channel = this.channel();
    return new Promise<DumpSummary>((resolve, reject) => {
      let finished = false;
      const finish = (err: unknown): void => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        // After a failure the kernel may still be in the middle of this dump; a fresh socket
        // avoids EBUSY and stray answers on the next one.
        channel.stop(err === null);
        if (err === null) {
          this.stats.dumps++;
          this.stats.entriesDumped += reader.summary.entries;
          this.stats.entriesOtherZone += reader.summary.otherZone;
          if (reader.summary.interrupted) this.stats.dumpsInterrupted++;
          if (channel === this.thread) this.stats.dumpsOnThread++;
          resolve(reader.summary);
        } else {
          this.stats.dumpsFailed++;
          reject(err);
        }
      };
      const timer = setTimeout(() => {
        finish(new KernelSourceError('CTNL_ERR_DUMP_TIMEOUT', `no NLMSG_DONE after ${this.dumpTimeoutMs} ms (${reader.summary.entries} entries read)`));
      }, this.dumpTimeoutMs);
      channel.start(seq, request, {
        onDatagram: (buf, readFromFd) => {
          if (finished) return;
          this.stats.datagrams++;
          if (readFromFd) this.stats.datagramsReadFromFd++;
          try {
            if (reader.feed(buf)) finish(null);
          } catch (err) {
            finish(err);
          }
        },
        onFailure: finish,
      });
    });
  }

  /** The dump thread, unless it is off, died, or ('auto') no core is free; else this thread's socket. */
  private channel(): DumpChannel {
    if (this.thread !== null && this.thread.failed !== null) {
      this.onError(this.thread.failed);
      this.retiredThread = this.thread;
      this.thread = null;
    }
    if (this.thread === null) return this.socketChannel;
    if (this.threadOnlyWhenCoreFree) {
      const cpu = process.cpuUsage();
      const own = this.ownLoad.update(performance.now(), (cpu.user + cpu.system) / 1000);
      if (!dumpThreadPays(loadavg()[0] - own, availableParallelism())) return this.socketChannel;
    }
    return this.thread;
  }

  async subscribe(onEvent: (event: ConntrackEvent) => void, onOverflow: () => void): Promise<() => Promise<void>> {
    if (this.closed) throw new KernelSourceError('CTNL_ERR_CLOSED', 'subscribe() after close()');
    let sock: RawNetlinkSocket;
    try {
      sock = new RawNetlinkSocket(NETLINK_NETFILTER);
    } catch (err) {
      throw socketError('opening the ctnetlink event socket', err);
    }
    try {
      sock.setRecvBufferSize(this.eventRcvBuf);
      sock.addMembership(NFNLGRP_CONNTRACK_NEW);
      sock.addMembership(NFNLGRP_CONNTRACK_UPDATE);
      sock.addMembership(NFNLGRP_CONNTRACK_DESTROY);
    } catch (err) {
      sock.close();
      throw socketError('joining the conntrack event groups (needs CAP_NET_ADMIN)', err);
    }
    sock.unref();
    const onMalformed = (err: KernelSourceError): void => {
      this.stats.malformed++;
      this.onError(err);
    };
    sock.on('message', (buf: Buffer, rinfo: MessageInfo) => {
      if (rinfo.port !== 0) return;
      this.stats.events += readEventDatagram(buf, this.zone, onEvent, onMalformed);
    });
    sock.on('truncatedMessage', () => {
      onMalformed(new KernelSourceError('NETLINK_ERR_SHORT_BUFFER', 'a conntrack event datagram was truncated by the socket'));
    });
    sock.on('error', (err: ErrnoException) => {
      if (err.code === 'ENOBUFS') {
        this.stats.eventOverflows++;
        onOverflow();
      } else {
        this.onError(socketError('conntrack event socket', err));
      }
    });
    this.eventSockets.add(sock);
    return async () => {
      if (this.eventSockets.delete(sock)) sock.close();
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    this.socketChannel.close();
    await this.thread?.close();
    await this.retiredThread?.close();
    for (const s of this.eventSockets) s.close();
    this.eventSockets.clear();
  }
}
