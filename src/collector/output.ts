// Writes formatted records to a stream (stdout) without letting memory grow when the reader
// is slower than the exporters. Lines are batched and written once per event-loop turn; while
// the stream is over its high-water mark we wait for 'drain' and keep at most `maxPendingBytes`
// of lines. Lines that would go beyond that are dropped and counted, never silently lost.
import type { Writable } from 'node:stream';

export interface LineWriterStats {
  linesWritten: number;
  linesDropped: number;
  pendingBytes: number;
}

export class BoundedLineWriter {
  private pending: string[] = [];
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
    if (this.closed || this.broken !== null || this.pendingBytes + line.length > this.maxPendingBytes) {
      this.linesDropped++;
      return false;
    }
    this.pending.push(line);
    this.pendingBytes += line.length;
    if (!this.scheduled && !this.waitingForDrain) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.flush();
      });
    }
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
      while (this.broken === null && (this.pending.length > 0 || this.waitingForDrain)) {
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

  /** From now on every line counts as dropped: the stream failed, closed, or stopped taking data. */
  private abandon(err: Error): void {
    if (this.broken !== null) return;
    this.broken = err;
    this.linesDropped += this.pending.length;
    this.pending = [];
    this.pendingBytes = 0;
    this.waitingForDrain = false;
    this.wakeWaiters();
  }

  private wakeWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const wake of waiters) wake();
  }

  private flush(): void {
    if (this.waitingForDrain || this.broken !== null || this.pending.length === 0) return;
    const chunk = this.pending.length === 1 ? this.pending[0] : this.pending.join('');
    const lines = this.pending.length;
    this.pending = [];
    this.pendingBytes = 0;
    this.linesWritten += lines;
    if (!this.stream.write(chunk)) this.waitingForDrain = true;
  }
}
