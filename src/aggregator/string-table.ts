// Interned strings with reference counts. A million tracked flows name a few thousand Pods,
// namespaces, nodes and policies; each flow keeps 4-byte ids instead of its own strings, and a
// string leaves the table when the last flow that names it is gone, so Pod churn does not leak.

export class StringTable {
  private readonly ids = new Map<string, number>();
  private strings: string[] = [''];
  private refs = new Int32Array(64);
  private readonly free: number[] = [];

  /** The id of `s` without taking a reference, or -1 when no tracked flow names it. */
  peek(s: string): number {
    if (s === '') return 0;
    return this.ids.get(s) ?? -1;
  }

  /** Takes a reference to `s` and returns its id; '' is always id 0 and is not counted. */
  acquire(s: string): number {
    if (s === '') return 0;
    let id = this.ids.get(s);
    if (id === undefined) {
      id = this.free.length > 0 ? (this.free.pop() as number) : this.strings.length;
      if (id >= this.refs.length) {
        const grown = new Int32Array(this.refs.length * 2);
        grown.set(this.refs);
        this.refs = grown;
      }
      this.strings[id] = s;
      this.refs[id] = 0;
      this.ids.set(s, id);
    }
    this.refs[id]++;
    return id;
  }

  release(id: number): void {
    if (id === 0) return;
    if (--this.refs[id] === 0) {
      this.ids.delete(this.strings[id]);
      this.strings[id] = '';
      this.free.push(id);
    }
  }

  /** Replaces the reference held as `oldId` with one to `s`; cheap when the value is unchanged. */
  swap(oldId: number, s: string): number {
    if (this.strings[oldId] === s) return oldId;
    const id = this.acquire(s);
    this.release(oldId);
    return id;
  }

  /** Forgets every string (all ids are released at once). */
  clear(): void {
    this.ids.clear();
    this.strings = [''];
    this.refs.fill(0);
    this.free.length = 0;
  }

  get(id: number): string {
    return this.strings[id];
  }

  /** Distinct strings held (without ''). */
  get size(): number {
    return this.ids.size;
  }
}
