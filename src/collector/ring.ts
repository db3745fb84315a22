// A fixed-capacity ring of the most recent items: the collector keeps its last N records
// here for `GET /records`. Pushing never allocates after construction; the oldest item
// is overwritten when the ring is full.

export class Ring<T> {
  private readonly items: (T | undefined)[];
  private next = 0;
  private filled = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) {
      throw new RangeError(`ring capacity must be a non-negative integer, got ${capacity}`);
    }
    this.items = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.filled;
  }

  push(item: T): void {
    if (this.capacity === 0) return;
    this.items[this.next] = item;
    this.next = this.next + 1 === this.capacity ? 0 : this.next + 1;
    if (this.filled < this.capacity) this.filled++;
  }

  /** The newest `count` items (all when count exceeds the size), oldest first. */
  last(count: number): T[] {
    const n = Math.min(Math.max(0, Math.floor(count)), this.filled);
    const out = new Array<T>(n);
    let idx = this.next - n;
    if (idx < 0) idx += this.capacity;
    for (let i = 0; i < n; i++) {
      out[i] = this.items[idx] as T;
      idx = idx + 1 === this.capacity ? 0 : idx + 1;
    }
    return out;
  }

  clear(): void {
    this.items.fill(undefined);
    this.next = 0;
    this.filled = 0;
  }
}
