// A bounded FIFO between aggregation and a sink. push() never blocks and never grows the
// buffer past its capacity: when full, the new record is refused and counted, so a stalled
// sink costs records (visible in the metrics), never memory or collection time.

export interface RecordBufferStats {
  capacity: number;
  length: number;
  accepted: number;
  dropped: number;
}

export class RecordBuffer<T> {
  private readonly ring: (T | undefined)[];
  private head = 0;
  private count = 0;
  private accepted = 0;
  private dropped = 0;
  private waiter: (() => void) | undefined;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`buffer capacity ${capacity} must be a positive integer`);
    this.ring = new Array<T | undefined>(capacity);
  }

  get length(): number {
    return this.count;
  }

  /** Appends a record; false (and counted as dropped) when the buffer is full. */
  push(item: T): boolean {
    if (this.count === this.capacity) {
      this.dropped++;
      return false;
    }
    this.ring[(this.head + this.count) % this.capacity] = item;
    this.count++;
    this.accepted++;
    this.wake();
    return true;
  }

  /** Removes and returns up to `max` records, oldest first. */
  take(max: number): T[] {
    const n = Math.min(max, this.count);
    const out = new Array<T>(n);
    for (let i = 0; i < n; i++) {
      out[i] = this.ring[this.head] as T;
      this.ring[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
    }
    this.count -= n;
    return out;
  }

  /** Resolves when a record is pushed or wake() is called. */
  waitForRecords(): Promise<void> {
    if (this.count > 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  stats(): RecordBufferStats {
    return { capacity: this.capacity, length: this.count, accepted: this.accepted, dropped: this.dropped };
  }
}
