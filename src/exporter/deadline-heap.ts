// An indexed binary min-heap of deadlines. Each item remembers its own position
// (`heapIndex`), so the connection store can move or remove one connection in O(log n)
// without searching. `heapIndex` is -1 while an item is not in the heap.

export interface HeapItem {
  /** Milliseconds since the Unix epoch; the smallest comes out first. */
  deadline: number;
  heapIndex: number;
}

export class DeadlineHeap<T extends HeapItem> {
  private readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  has(item: T): boolean {
    return item.heapIndex >= 0 && this.items[item.heapIndex] === item;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    if (this.has(item)) throw new Error('DeadlineHeap.push: item is already in the heap');
    item.heapIndex = this.items.length;
    this.items.push(item);
    this.siftUp(item.heapIndex);
  }

  pop(): T | undefined {
    const top = this.items[0];
    if (top === undefined) return undefined;
    this.removeAt(0);
    return top;
  }

  /** Removes the item if it is in the heap; returns whether it was. */
  remove(item: T): boolean {
    if (!this.has(item)) return false;
    this.removeAt(item.heapIndex);
    return true;
  }

  /** Sets a new deadline and restores the heap order; pushes the item when it is not in the heap. */
  schedule(item: T, deadline: number): void {
    item.deadline = deadline;
    if (!this.has(item)) {
      this.push(item);
      return;
    }
    const i = item.heapIndex;
    this.siftUp(i);
    if (item.heapIndex === i) this.siftDown(i);
  }

  clear(): void {
    for (const item of this.items) item.heapIndex = -1;
    this.items.length = 0;
  }

  /** The items in heap (not sorted) order; for iteration without popping. */
  values(): readonly T[] {
    return this.items;
  }

  private removeAt(i: number): void {
    const items = this.items;
    const removed = items[i];
    const last = items.pop() as T;
    removed.heapIndex = -1;
    if (i === items.length) return;
    items[i] = last;
    last.heapIndex = i;
    this.siftUp(i);
    if (last.heapIndex === i) this.siftDown(i);
  }

  private siftUp(i: number): void {
    const items = this.items;
    const item = items[i];
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent];
      if (p.deadline <= item.deadline) break;
      items[i] = p;
      p.heapIndex = i;
      i = parent;
    }
    items[i] = item;
    item.heapIndex = i;
  }

  private siftDown(i: number): void {
    const items = this.items;
    const n = items.length;
    const item = items[i];
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      const right = child + 1;
      if (right < n && items[right].deadline < items[child].deadline) child = right;
      const c = items[child];
      if (c.deadline >= item.deadline) break;
      items[i] = c;
      c.heapIndex = i;
      i = child;
    }
    items[i] = item;
    item.heapIndex = i;
  }
}
