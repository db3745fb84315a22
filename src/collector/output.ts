// Writes formatted records to a stream (stdout) without letting memory grow when the reader
// is slower than the exporters. Lines are copied into 64 KiB chunks; a chunk is handed to the
// stream as soon as it is full, and what is left at the end of an event-loop turn goes out
// then. While the stream is over its high-water mark we wait for 'drain' and keep at most
// `maxPendingBytes` of lines; lines that would go beyond that are dropped and counted, never
// silently lost.
//
// Chunks rather than an array of strings: one copy of each byte, one write per 64 KiB, and
// chunks are reused once the stream has taken them, so printing makes no garbage. (An array of
// line strings joined per turn kept every line alive until the turn ended, long enough for the
// garbage collector to move them all to the old generation.)
import type { Writable } from 'node:stream';

export interface LineWriterStats {
  linesWritten: number;
  linesDropped: number;
  pendingBytes: number;
}

export const OUTPUT_CHUNK_BYTES = 64 * 1024;
/** Chunks kept for reuse once the stream has taken them. */
const MAX_SPARE_CHUNKS = 8;

export class BoundedLineWriter {
  /** Chunks waiting to be written, and the bytes used in each; the last one is being filled. */
  private chunks: Buffer[] = [];
  private chunkUsed: number[] = [];
  private readonly spare: Buffer[] = [];
  private pendingLines = 0;
  private pendingBytes = 0;
  private waitingForDrain = false;
  private scheduled = false;
  private closed = false;
  private broken: Error | null = null;
  private linesWritten = 0;
  private linesDropped = 0;
  private drainWaiters: (() => void)[] = [];

  constructor(
    private readonly stream: Writable,
    private readonly maxPendingBytes = 8 * 1024 * 1024,
  ) {
    if (!(maxPendingBytes > 0)) throw new RangeError(`maxPendingBytes must be positive, got ${maxPendingBytes}`);
    stream.on('drain', () => {
      if (!this.waitingForDrain) return;
      this.waitingForDrain = false;
      this.wakeWaiters();
      this.flush();
    });
    // A closed pipe (EPIPE: the reader went away) must not stop the collector: from then on
    // every line counts as dropped.
    stream.on('error', (err: Error) => this.abandon(err));
    stream.on('close', () => this.abandon(new Error('the output stream was closed')));
  }

  /** The stream's error, when writing to it failed. */
  get error(): Error | null {
    return this.broken;
  }

  /** Queues one line (with its newline). Returns false when it was dropped. */
  write(line: string): boolean {
    const room = this.maxPendingBytes - this.pendingBytes;
    // UTF-8 takes at most 3 bytes per UTF-16 unit; count exactly only when that bound is too much.
    if (this.closed || this.broken !== null || (line.length * 3 > room && Buffer.byteLength(line, 'utf8') > room)) {
      this.linesDropped++;
      return false;
    }
    const last = this.chunks.length - 1;
    if (last >= 0 && this.chunks[last].length - this.chunkUsed[last] >= line.length * 3) {
      const n = this.chunks[last].write(line, this.chunkUsed[last], 'utf8');
      this.chunkUsed[last] += n;
      this.pendingBytes += n;
    } else {
      const bytes = Buffer.from(line, 'utf8');
      this.append(bytes, 0, bytes.length);
    }
    this.lineQueued();
    return true;
  }

  /**
   * Queues one line (with its newline) given as bytes: source[start, end) is copied, so the
   * caller may reuse its buffer at once. Returns false when it was dropped.
   */
  writeBytes(source: Buffer, start: number, end: number): boolean {
    if (this.closed || this.broken !== null || end - start > this.maxPendingBytes - this.pendingBytes) {
      this.linesDropped++;
      return false;
    }
    this.append(source, start, end);
    this.lineQueued();
    return true;
  }

  stats(): LineWriterStats {
    return { linesWritten: this.linesWritten, linesDropped: this.linesDropped, pendingBytes: this.pendingBytes };
  }

  /**
   * Stops taking lines, writes everything still queued and resolves once the stream has taken
   * it. A stream that takes nothing for `timeoutMs` is given up on: what is left counts as dropped.
   */
  async end(timeoutMs = 5000): Promise<void> {
    this.closed = true;
    const timer = setTimeout(() => this.abandon(new Error(`the output stream took nothing for ${timeoutMs} ms`)), timeoutMs);
    try {
      while (this.broken === null && (this.pendingLines > 0 || this.waitingForDrain)) {
        if (this.waitingForDrain) {
          await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
        } else {
          this.flush();
        }
      }
      if (this.broken !== null || this.stream.writableLength === 0) return;
      await new Promise<void>((resolve) => {
        this.drainWaiters.push(resolve);
        this.stream.write('', () => resolve());
      });
    } finally {
      clearTimeout(timer);
    }
  }

  private append(source: Buffer, start: number, end: number): void {
    const chunks = this.chunks;
    const used = this.chunkUsed;
    this.pendingBytes += end - start;
    while (start < end) {
      let last = chunks.length - 1;
      if (last < 0 || used[last] === chunks[last].length) {
        chunks.push(this.spare.pop() ?? Buffer.allocUnsafe(OUTPUT_CHUNK_BYTES));
        used.push(0);
        last++;
      }
      const chunk = chunks[last];
      const n = Math.min(end - start, chunk.length - used[last]);
      source.copy(chunk, used[last], start, start + n);
      used[last] += n;
      start += n;
    }
  }

  /** A whole line is in the chunks: write now if a chunk is full, else once this turn ends. */
  private lineQueued(): void {
    this.pendingLines++;
    if (this.waitingForDrain) return;
    if (this.chunks.length > 1) {
      this.flush();
    } else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.flush();
      });
    }
  }

  /** From now on every line counts as dropped: the stream failed, closed, or stopped taking data. */
  private abandon(err: Error): void {
    if (this.broken !== null) return;
    this.broken = err;
    this.linesDropped += this.pendingLines;
    this.pendingLines = 0;
    this.chunks = [];
    this.chunkUsed = [];
    this.pendingBytes = 0;
    this.waitingForDrain = false;
    this.wakeWaiters();
  }

  private wakeWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const wake of waiters) wake();
  }

  private recycle(chunk: Buffer): void {
    if (this.spare.length < MAX_SPARE_CHUNKS && this.broken === null) this.spare.push(chunk);
  }

  private flush(): void {
    if (this.waitingForDrain || this.broken !== null || this.pendingLines === 0) return;
    const chunks = this.chunks;
    const used = this.chunkUsed;
    this.chunks = [];
    this.chunkUsed = [];
    this.linesWritten += this.pendingLines;
    this.pendingLines = 0;
    this.pendingBytes = 0;
    let ok = true;
    for (let i = 0; i < chunks.length; i++) {
      const chunk = chunks[i];
      if (used[i] === 0) continue;
      ok = this.stream.write(chunk.subarray(0, used[i]), () => this.recycle(chunk));
    }
    if (!ok) this.waitingForDrain = true;
  }
}
