// The main thread's side of the dump thread (dump-worker.ts): starts the Worker, asks it for a
// dump, and hands each datagram it forwards through the DumpRing to the dump's reader, in order,
// as a Buffer over the shared memory (no copy). A failure the thread reports comes out as the
// error the in-thread path raises for it (NETLINK_ERR_SOCKET with the errno name,
// NETLINK_ERR_SHORT_BUFFER for a truncated datagram).
//
// One dump at a time (CtnetlinkDumper queues them). A thread that dies fails the dump in progress
// with CTNL_ERR_DUMP_THREAD and is not restarted: `failed` tells the dumper to dump on its own
// thread from then on.
import { Worker } from 'node:worker_threads';
import { DEFAULT_RING_LAYOUT, DumpRing, SLOT_DATAGRAM, VIA_FD_READ, decodeFailure, type DumpRingLayout, type DumpThreadFailure } from './dump-ring.js';
import type { DumpWorkerData, DumpWorkerMessage } from './dump-worker.js';
import { KernelSourceError } from './errors.js';
import { socketError } from './netlink.js';

/** How a dump's datagrams and its failure reach the dumper; the same for both paths. */
export interface DumpChannelHandlers {
  /**
   * A datagram of the dump, in order. The buffer is valid only during the call. `readFromFd`:
   * read with read(2) on the socket's fd (socket-fd.ts), not received by the addon.
   */
  onDatagram(buf: Buffer, readFromFd: boolean): void;
  /** The dump failed before its end (socket error, truncated datagram, dead thread). */
  onFailure(err: KernelSourceError): void;
}

/** The error the in-thread path raises for the same failure. */
export function failureError(f: DumpThreadFailure): KernelSourceError {
  if (f.what === 'truncated') return new KernelSourceError('NETLINK_ERR_SHORT_BUFFER', 'a conntrack dump datagram was truncated by the socket');
  const err = Object.assign(new Error(f.message), f.code === '' ? {} : { code: f.code });
  return socketError(f.what, err);
}

/**
 * Whether receiving a dump on the dump thread is likely to make it faster: only with a core free
 * for it. The overlap turns a poll of kernel time K plus parsing time P into about max(K, P); on
 * a machine whose cores are all busy the two threads take turns like one, and the hand-over
 * (copy into the ring, wake-ups, parsing data another core wrote) costs 10-20 ms more per
 * 100,000 entries. `load1` is the 1-minute load average of other work (the load average less
 * OwnLoadEstimate), `cores` the CPUs this process may use.
 */
export function dumpThreadPays(load1: number, cores: number): boolean {
  return cores >= 2 && load1 <= cores - 1;
}

/**
 * This process's own part of the load average, estimated from its CPU time the way the kernel
 * averages runnable threads (an exponential average with a 1-minute time constant), so that
 * 'auto' asks whether *other* work leaves a core free: polling a large table back to back (a
 * benchmark, a very short poll interval) would otherwise count its own polls against itself.
 */
export class OwnLoadEstimate {
  private lastMs = -1;
  private lastCpuMs = 0;
  /** Threads of this process busy on average over about the last minute. */
  value = 0;

  /** `nowMs` a monotonic clock, `cpuMs` this process's CPU time (user + system) so far. */
  update(nowMs: number, cpuMs: number): number {
    if (this.lastMs >= 0 && nowMs > this.lastMs) {
      const dt = nowMs - this.lastMs;
      const busy = Math.max(0, (cpuMs - this.lastCpuMs) / dt);
      this.value += (1 - Math.exp(-dt / 60_000)) * (busy - this.value);
    }
    this.lastMs = nowMs;
    this.lastCpuMs = cpuMs;
    return this.value;
  }
}

/** Datagrams read before they are given back to the dump thread at once (a quarter of the default ring). */
const RELEASE_EVERY = 32;

/** Wakes the reader now and then even without data, so that it sees a dump that ended otherwise. */
const IDLE_WAKE_MS = 250;

/**
 * Dump threads not closed yet. A worker thread that the process ends while it still runs is
 * terminated, and the netlink addon then aborts the process from a finalizer ("terminate called
 * after throwing an instance of 'Napi::Error'"); a thread that ends by itself is fine. So when
 * the process is about to end on its own ('beforeExit': nothing left to do), the open threads are
 * closed first. A process that calls process.exit() must close its dumper before.
 */
const openThreads = new Set<DumpThread>();
let beforeExitHooked = false;

function closeOpenThreadsBeforeExit(): void {
  for (const t of openThreads) void t.close();
}

interface RunningDump {
  seq: number;
  handlers: DumpChannelHandlers;
}

export class DumpThread {
  private readonly ring: DumpRing;
  private worker: Worker | null = null;
  private current: RunningDump | null = null;
  private dead: KernelSourceError | null = null;
  private closed = false;

  constructor(
    private readonly layout: DumpRingLayout = DEFAULT_RING_LAYOUT,
    /** The worker's script; tests pass another to make the thread fail. */
    private readonly script: URL = new URL('./dump-worker.js', import.meta.url),
    /** Read datagrams from the socket's fd (CtnetlinkOptions.readFromFd). */
    private readonly readFromFd = true,
  ) {
    this.ring = new DumpRing(layout);
  }

  /** Why the thread cannot dump (it died), or null. */
  get failed(): KernelSourceError | null {
    return this.dead;
  }

  /** Starts dump `seq`: sends `request` from the thread's socket and forwards what comes back. */
  start(seq: number, request: Buffer, handlers: DumpChannelHandlers): void {
    if (this.current !== null) throw new Error('DumpThread: a dump is already running');
    if (this.dead !== null || this.closed) {
      handlers.onFailure(this.dead ?? new KernelSourceError('CTNL_ERR_CLOSED', 'dump() after close()'));
      return;
    }
    const worker = this.worker ?? this.spawn();
    const dump: RunningDump = { seq, handlers };
    this.current = dump;
    this.ring.begin(seq);
    worker.ref();
    worker.postMessage({ type: 'dump', seq, request } satisfies DumpWorkerMessage);
    void this.pump(dump);
  }

  /** Ends the running dump. After a failure (`ok` false) the thread drops its socket, as the in-thread path does. */
  stop(ok: boolean): void {
    if (this.current === null) return;
    this.current = null;
    this.ring.end();
    if (this.worker !== null) {
      if (!ok) this.worker.postMessage({ type: 'reset' } satisfies DumpWorkerMessage);
      this.worker.unref();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    openThreads.delete(this);
    this.stop(true);
    const w = this.worker;
    this.worker = null;
    if (w === null) return;
    const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
    w.postMessage({ type: 'close' } satisfies DumpWorkerMessage);
    // The thread ends once its socket and port are closed; terminate() if it does not.
    const timer = setTimeout(() => void w.terminate(), 2000);
    await exited;
    clearTimeout(timer);
  }

  private spawn(): Worker {
    if (!beforeExitHooked) {
      beforeExitHooked = true;
      process.on('beforeExit', closeOpenThreadsBeforeExit);
    }
    openThreads.add(this);
    const data: DumpWorkerData = { ring: this.ring.buffer, layout: this.layout, readFromFd: this.readFromFd };
    const w = new Worker(this.script, { workerData: data, stdout: false, stderr: false });
    w.unref();
    const died = (why: string): void => {
      if (this.worker !== w) return;
      this.worker = null;
      openThreads.delete(this);
      this.dead = new KernelSourceError('CTNL_ERR_DUMP_THREAD', `the dump thread ${why}; dumps run on the main thread from now on`);
      const dump = this.current;
      this.stop(false);
      dump?.handlers.onFailure(this.dead);
    };
    w.on('error', (err) => died(`failed: ${err.message}`));
    w.on('exit', (code) => died(`exited with code ${code}`));
    this.worker = w;
    return w;
  }

  /** Hands the ring's records of `dump` to its handlers until the dump stops. */
  private async pump(dump: RunningDump): Promise<void> {
    try {
      await this.pumpRecords(dump);
    } catch (err) {
      // The handlers catch what parsing throws; anything else is a broken invariant, but it
      // must still end the dump rather than leave it waiting for its timeout.
      if (this.current === dump) {
        this.stop(false);
        dump.handlers.onFailure(new KernelSourceError('CTNL_ERR_DUMP_THREAD', `reading the dump thread's ring failed: ${(err as Error)?.message ?? String(err)}`));
      }
    }
  }

  private async pumpRecords(dump: RunningDump): Promise<void> {
    const ring = this.ring;
    while (this.current === dump) {
      const written = ring.writtenCount();
      // Records are given back in batches: a wake-up of the dump thread per batch, not per datagram.
      let read = 0;
      for (let r = ring.peek(); r !== null && this.current === dump; r = ring.peek(read)) {
        // Records of an abandoned dump are skipped.
        if (r.seq === (dump.seq | 0)) {
          if (r.kind === SLOT_DATAGRAM) dump.handlers.onDatagram(ring.view(r), r.via === VIA_FD_READ);
          else dump.handlers.onFailure(failureError(decodeFailure(ring.view(r))));
        }
        if (++read === RELEASE_EVERY) {
          ring.release(read);
          read = 0;
        }
      }
      ring.release(read);
      if (this.current !== dump) return;
      await ring.waitForData(written, IDLE_WAKE_MS);
    }
  }
}
