// A fixed-capacity FIFO between a producer that must never block (the collector's socket
// handlers) and a consumer that may be slow. When it is full, new items are dropped and
// counted, so memory stays bounded whatever the consumer does. A ring buffer: push and
// shift are O(1) and allocate nothing.
//
// Consume with `for await (const item of queue)` (ends after close() once drained), or
// with shift()/drain() from a 'readable' callback.

export interface BoundedQueueStats {
  readonly length: number;
  readonly capacity: number;
  readonly enqueued: number;
  readonly dropped: number;
  readonly highWater: number;
}

export class BoundedQueue<T> implements AsyncIterable<T> {
  private readonly items: (T | undefined)[];
  private head = 0;
  private size = 0;
  private closed = false;
  private enqueued = 0;
  private dropped = 0;
  private highWater = 0;
  private waiter: (() => void) | null = null;
  private spaceWaiters: (() => void)[] = [];
  /** Called (synchronously) when the queue goes from empty to non-empty. */
  onReadable: (() => void) | null = null;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`BoundedQueue capacity must be a positive integer, got ${capacity}`);
    }
    this.items = new Array<T | undefined>(capacity);
  }

  get length(): number {
    return this.size;
  }

  get isFull(): boolean {
    return this.size === this.capacity;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Adds an item; returns false (and counts a drop) when the queue is full or closed. */
  push(item: T): boolean {
    if (this.closed || this.size === this.capacity) {
      this.dropped++;
      return false;
    }
    this.items[(this.head + this.size) % this.capacity] = item;
    this.size++;
    this.enqueued++;
    if (this.size > this.highWater) this.highWater = this.size;
    if (this.size === 1) {
      const w = this.waiter;
      if (w !== null) {
        this.waiter = null;
        w();
      }
      this.onReadable?.();
    }
    return true;
  }

  /** Counts items the producer had to drop for a reason of its own (e.g. records of a dropped message). */
  countDropped(n: number): void {
    this.dropped += n;
  }

  /** Removes and returns the oldest item, or undefined when empty. */
  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.size--;
    if (this.spaceWaiters.length > 0 && this.size <= this.capacity >>> 1) {
      const ws = this.spaceWaiters;
      this.spaceWaiters = [];
      for (const w of ws) w();
    }
    return item;
  }

  /** Resolves when the queue is at most half full (or closed): for producers that can pause. */
  whenSpace(): Promise<void> {
    if (this.closed || this.size <= this.capacity >>> 1) return Promise.resolve();
    return new Promise((resolve) => this.spaceWaiters.push(resolve));
  }

  /** Stops accepting items; iteration ends once the remaining items are consumed. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const w = this.waiter;
    this.waiter = null;
    w?.();
    const ws = this.spaceWaiters;
    this.spaceWaiters = [];
    for (const s of ws) s();
  }

  stats(): BoundedQueueStats {
    return { length: this.size, capacity: this.capacity, enqueued: this.enqueued, dropped: this.dropped, highWater: this.highWater };
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      while (this.size > 0) yield this.shift() as T;
      if (this.closed) return;
      if (this.waiter !== null) throw new Error('BoundedQueue supports one async consumer at a time');
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
    }
  }
}
