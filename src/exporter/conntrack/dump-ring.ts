// The ring between the dump thread (dump-worker.ts), which receives a ctnetlink dump's
// datagrams, and the main thread, which parses them while the next ones are received. One
// writer, one reader, in a SharedArrayBuffer: no copy on the reader's side, no allocation per
// datagram, and bounded memory (a full ring makes the writer wait, and the kernel fills the
// next datagram only when the writer receives again).
//
//   SharedArrayBuffer
//   +------------------------------+ 0
//   | control   Int32Array(16)     |   [WRITTEN] slots written, [CONSUMED] slots read (both
//   |                              |   count up and wrap at 2^32), [ACTIVE] seq of the dump
//   |                              |   the reader is reading (0: none)
//   +------------------------------+ 64
//   | slot headers Int32Array      |   per slot: [length, seq, kind, via]
//   |   (slots * 4)                |
//   +------------------------------+ 64 + slots * 16
//   | slot 0 data (slotBytes)      |   a datagram as received, or an error as JSON (utf8)
//   | slot 1 data                  |
//   | ...                          |
//   +------------------------------+
//
// Slot i of the ring holds the records whose number is i modulo `slots` (a power of two).
// The writer fills a slot, then publishes it by incrementing WRITTEN (Atomics: the reader sees
// the slot's bytes once it sees the count); the reader gives it back by incrementing CONSUMED.
// Every slot carries the seq of its dump, so the reader skips what an abandoned dump left.
import { KernelSourceError } from './errors.js';

const CONTROL_INTS = 16;
const WRITTEN = 0;
const CONSUMED = 1;
const ACTIVE = 2;
const HEADER_INTS = 4;

/** A datagram of the dump. */
export const SLOT_DATAGRAM = 1;
/** The dump failed on the writer's side; the slot holds a DumpThreadFailure as JSON. */
export const SLOT_FAILURE = 2;

/** How a datagram got into its slot (a slot header's `via`): copied from a buffer the addon received into. */
export const VIA_COPY = 0;
/** Read from the socket's fd straight into the slot. */
export const VIA_FD_READ = 1;

/** What the dump thread reports instead of datagrams when its socket fails. */
export interface DumpThreadFailure {
  /** 'truncated': a datagram did not fit the receive buffer; otherwise what failed ("conntrack dump", ...). */
  what: string;
  message: string;
  /** The errno name of a socket call's failure (ENOBUFS, EPERM, ...), else ''. */
  code: string;
}

/** One record of the ring as the reader sees it; valid until release(). */
export interface RingRecord {
  kind: number;
  seq: number;
  /** Byte offset of its data in the SharedArrayBuffer, and its length. */
  offset: number;
  length: number;
  /** VIA_COPY or VIA_FD_READ. */
  via: number;
}

export interface DumpRingLayout {
  /** Number of slots, a power of two. */
  slots: number;
  /** Bytes of one slot: the largest datagram the dump socket receives. */
  slotBytes: number;
}

/**
 * 128 datagrams of 32 KiB (4 MiB, about 17,000 entries): room for what the kernel fills while the
 * main thread is busy elsewhere or waits for a CPU, so that the dump thread seldom waits for it.
 */
export const DEFAULT_RING_LAYOUT: DumpRingLayout = { slots: 128, slotBytes: 32768 };

function byteLengthOf(layout: DumpRingLayout): number {
  return CONTROL_INTS * 4 + layout.slots * HEADER_INTS * 4 + layout.slots * layout.slotBytes;
}

export class DumpRing {
  readonly buffer: SharedArrayBuffer;
  readonly slots: number;
  readonly slotBytes: number;
  private readonly control: Int32Array;
  private readonly headers: Int32Array;
  /** Each slot's bytes, for the writer. */
  private readonly slotViews: Uint8Array[];
  private readonly dataStart: number;
  private readonly mask: number;

  /** Makes a ring, or opens one another thread made (pass its buffer and layout). */
  constructor(layout: DumpRingLayout = DEFAULT_RING_LAYOUT, buffer?: SharedArrayBuffer) {
    const { slots, slotBytes } = layout;
    if (!Number.isInteger(slots) || slots < 2 || (slots & (slots - 1)) !== 0) {
      throw new KernelSourceError('KERNEL_ERR_OPTION', `ring slots ${slots} must be a power of two >= 2, e.g. 64`);
    }
    if (!Number.isInteger(slotBytes) || slotBytes < 4096 || (slotBytes & 3) !== 0) {
      throw new KernelSourceError('KERNEL_ERR_OPTION', `ring slotBytes ${slotBytes} must be a multiple of 4 >= 4096, e.g. 32768`);
    }
    const size = byteLengthOf(layout);
    if (buffer !== undefined && buffer.byteLength !== size) {
      throw new KernelSourceError('KERNEL_ERR_OPTION', `ring buffer has ${buffer.byteLength} bytes, the layout needs ${size}`);
    }
    this.buffer = buffer ?? new SharedArrayBuffer(size);
    this.slots = slots;
    this.slotBytes = slotBytes;
    this.mask = slots - 1;
    this.control = new Int32Array(this.buffer, 0, CONTROL_INTS);
    this.headers = new Int32Array(this.buffer, CONTROL_INTS * 4, slots * HEADER_INTS);
    this.dataStart = CONTROL_INTS * 4 + slots * HEADER_INTS * 4;
    this.slotViews = [];
    for (let i = 0; i < slots; i++) this.slotViews.push(new Uint8Array(this.buffer, this.dataStart + i * slotBytes, slotBytes));
  }

  // ---- the writer (dump thread) ----

  /** Slots the reader has not given back yet. */
  pending(): number {
    return (Atomics.load(this.control, WRITTEN) - Atomics.load(this.control, CONSUMED)) | 0;
  }

  /** The seq the reader is reading now (0: none): the writer drops what belongs to no dump being read. */
  activeSeq(): number {
    return Atomics.load(this.control, ACTIVE);
  }

  /**
   * Waits (blocking this thread, so only on the dump thread) until a slot is free, or until
   * the reader no longer reads dump `seq`. Returns whether a slot is free for `seq`.
   */
  waitForSpace(seq: number, pollMs = 50): boolean {
    for (;;) {
      if (Atomics.load(this.control, ACTIVE) !== (seq | 0)) return false;
      const consumed = Atomics.load(this.control, CONSUMED);
      if (((Atomics.load(this.control, WRITTEN) - consumed) | 0) < this.slots) return true;
      Atomics.wait(this.control, CONSUMED, consumed, pollMs);
    }
  }

  /**
   * Writes one record into the next slot and publishes it. The caller has made sure a slot is
   * free (waitForSpace). `data` longer than a slot is an assertion failure, not input.
   * `wake` false leaves a waiting reader asleep (it sees the record at its next wake): under
   * load every wake-up of a sleeping thread waits for a CPU, so the writer wakes the reader
   * once per batch of records and at the end of a dump, not for every datagram.
   */
  write(seq: number, kind: number, data: Uint8Array, wake = true): void {
    if (data.length > this.slotBytes) throw new RangeError(`record of ${data.length} bytes exceeds the slot size ${this.slotBytes}`);
    this.slotForWrite().set(data);
    this.commit(seq, kind, data.length, wake);
  }

  /**
   * The bytes of the next slot, for the writer to fill in place (the dump thread reads each
   * datagram from its socket straight into it), then publish with commit(). The caller has made
   * sure a slot is free (waitForSpace). The view starts on a word, as the message plans need.
   */
  slotForWrite(): Uint8Array {
    const written = Atomics.load(this.control, WRITTEN);
    if (((written - Atomics.load(this.control, CONSUMED)) | 0) >= this.slots) throw new RangeError('ring full: waitForSpace first');
    return this.slotViews[written & this.mask];
  }

  /**
   * Publishes the slot slotForWrite() gave, holding `length` bytes of a record of `kind` for
   * dump `seq`. `wake` as in write(); `via` says how the bytes got there (VIA_COPY, VIA_FD_READ).
   */
  commit(seq: number, kind: number, length: number, wake = true, via = VIA_COPY): void {
    if (!(length >= 0 && length <= this.slotBytes)) throw new RangeError(`record of ${length} bytes does not fit a slot of ${this.slotBytes}`);
    const written = Atomics.load(this.control, WRITTEN);
    if (((written - Atomics.load(this.control, CONSUMED)) | 0) >= this.slots) throw new RangeError('ring full: waitForSpace first');
    const h = (written & this.mask) * HEADER_INTS;
    this.headers[h] = length;
    this.headers[h + 1] = seq | 0;
    this.headers[h + 2] = kind;
    this.headers[h + 3] = via;
    Atomics.store(this.control, WRITTEN, (written + 1) | 0);
    if (wake) Atomics.notify(this.control, WRITTEN);
  }

  /** Wakes a waiting reader (after records written with `wake` false). */
  wakeReader(): void {
    Atomics.notify(this.control, WRITTEN);
  }

  // ---- the reader (main thread) ----

  /** Starts reading dump `seq`: the writer forwards its datagrams from now on. */
  begin(seq: number): void {
    Atomics.store(this.control, ACTIVE, seq | 0);
  }

  /** Stops reading: the writer drops what it still receives and stops waiting for space. */
  end(): void {
    Atomics.store(this.control, ACTIVE, 0);
    Atomics.notify(this.control, CONSUMED);
    // A reader waiting for data wakes and sees that its dump ended.
    Atomics.notify(this.control, WRITTEN);
  }

  /** The WRITTEN count now: pass it to waitForData after reading every record up to it. */
  writtenCount(): number {
    return Atomics.load(this.control, WRITTEN);
  }

  /**
   * The record `ahead` places after the oldest one not given back (0: the oldest), or null when
   * the writer has not written it yet. Records stay valid until release() gives them back.
   */
  peek(ahead = 0): RingRecord | null {
    const index = (Atomics.load(this.control, CONSUMED) + ahead) | 0;
    if (((Atomics.load(this.control, WRITTEN) - index) | 0) <= 0) return null;
    const slot = index & this.mask;
    const h = slot * HEADER_INTS;
    return { length: this.headers[h], seq: this.headers[h + 1], kind: this.headers[h + 2], via: this.headers[h + 3], offset: this.dataStart + slot * this.slotBytes };
  }

  /** The data of a record as a Buffer over the shared memory (no copy): valid until release(). */
  view(r: RingRecord): Buffer {
    return Buffer.from(this.buffer, r.offset, r.length);
  }

  /** Gives the `count` oldest records back to the writer (one wake-up for all of them). */
  release(count = 1): void {
    if (count <= 0) return;
    Atomics.add(this.control, CONSUMED, count);
    Atomics.notify(this.control, CONSUMED);
  }

  /**
   * Resolves once WRITTEN is no longer `written` (or at once if it changed already), without
   * blocking the thread; `timeoutMs` bounds the wait.
   */
  waitForData(written: number, timeoutMs: number): Promise<unknown> {
    const r = waitAsync(this.control, WRITTEN, written, timeoutMs);
    return r.async ? r.value : Promise.resolve(r.value);
  }
}

// Atomics.waitAsync (V8, Node >= 16) is not in the ES2023 lib typings.
type WaitAsync = (
  ta: Int32Array,
  index: number,
  value: number,
  timeout?: number,
) => { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

/** Encodes a failure for a SLOT_FAILURE record. */
export function encodeFailure(f: DumpThreadFailure): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(f));
}

/** Decodes a SLOT_FAILURE record; what it cannot read is reported as such, not thrown. */
export function decodeFailure(bytes: Uint8Array): DumpThreadFailure {
  try {
    const o = JSON.parse(new TextDecoder().decode(bytes)) as Partial<DumpThreadFailure>;
    return { what: String(o.what ?? 'conntrack dump'), message: String(o.message ?? ''), code: String(o.code ?? '') };
  } catch {
    return { what: 'conntrack dump', message: 'unreadable failure report from the dump thread', code: '' };
  }
}
