// A binary min-heap of (deadline, slot, generation) in typed arrays: the aggregator's timer
// for active, inactive and correlation timeouts. Entries are never updated in place; a popped
// entry whose generation no longer matches its slot is stale (the flow was removed) and is
// skipped, and a live flow is pushed again with its next deadline.

export class DeadlineHeap {
  private deadlines: Float64Array;
  private slots: Int32Array;
  private generations: Uint32Array;
  size = 0;

  constructor(initialCapacity = 1024) {
    const cap = Math.max(16, initialCapacity);
    this.deadlines = new Float64Array(cap);
    this.slots = new Int32Array(cap);
    this.generations = new Uint32Array(cap);
  }

  push(deadline: number, slot: number, generation: number): void {
    if (this.size === this.deadlines.length) this.grow();
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.deadlines[parent] <= deadline) break;
      this.deadlines[i] = this.deadlines[parent];
      this.slots[i] = this.slots[parent];
      this.generations[i] = this.generations[parent];
      i = parent;
    }
    this.deadlines[i] = deadline;
    this.slots[i] = slot;
    this.generations[i] = generation;
  }

  /** The earliest deadline, or Infinity when empty. */
  peekDeadline(): number {
    return this.size === 0 ? Infinity : this.deadlines[0];
  }

  peekSlot(): number {
    return this.slots[0];
  }

  peekGeneration(): number {
    return this.generations[0];
  }

  /** Removes the top entry (read it with the peek methods first). */
  pop(): void {
    const last = --this.size;
    if (last === 0) return;
    const d = this.deadlines[last];
    const s = this.slots[last];
    const g = this.generations[last];
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= last) break;
      if (child + 1 < last && this.deadlines[child + 1] < this.deadlines[child]) child++;
      if (this.deadlines[child] >= d) break;
      this.deadlines[i] = this.deadlines[child];
      this.slots[i] = this.slots[child];
      this.generations[i] = this.generations[child];
      i = child;
    }
    this.deadlines[i] = d;
    this.slots[i] = s;
    this.generations[i] = g;
  }

  /** Drops every entry. */
  clear(): void {
    this.size = 0;
  }

  byteLength(): number {
    return this.deadlines.byteLength + this.slots.byteLength + this.generations.byteLength;
  }

  private grow(): void {
    const cap = this.deadlines.length * 2;
    const d = new Float64Array(cap);
    d.set(this.deadlines);
    const s = new Int32Array(cap);
    s.set(this.slots);
    const g = new Uint32Array(cap);
    g.set(this.generations);
    this.deadlines = d;
    this.slots = s;
    this.generations = g;
  }
}
