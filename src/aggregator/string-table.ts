// Interned strings with reference counts. A million tracked flows name a few thousand Pods,
// namespaces, nodes and policies; each flow keeps 4-byte ids instead of its own strings, and a
// string leaves the table when the last flow that names it is gone, so Pod churn does not leak.

/** Call sites that acquire() remembers the last string of. */
export const RECENT_HINTS = 32;

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

  // The string last acquired for each of RECENT_HINTS call sites (a field of a flow record), and
  // its id: records in a row often name the same policy, state, exporter or node in the same
  // field, and comparing with the last one costs less than a Map lookup. The id is used only
  // while it still holds that string, so a released and reused id is never taken by mistake.
  private readonly recentText: string[] = new Array<string>(RECENT_HINTS).fill('');
  private readonly recentId = new Int32Array(RECENT_HINTS);

  /**
   * Takes a reference to `s` and returns its id; '' is always id 0 and is not counted. `hint`
   * (0 to RECENT_HINTS - 1) names the call site, whose last string is tried before the Map.
   */
  acquire(s: string, hint = 0): number {
    if (s === '') return 0;
    if (this.recentText[hint] === s) {
      const recent = this.recentId[hint];
      if (this.strings[recent] === s) {
        this.refs[recent]++;
        return recent;
      }
    }
    const id = this.lookup(s);
    this.recentText[hint] = s;
    this.recentId[hint] = id;
    this.refs[id]++;
    return id;
  }

  /** The id of s, added with no references when new. */
  private lookup(s: string): number {
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
  swap(oldId: number, s: string, hint = 0): number {
    if (this.strings[oldId] === s) return oldId;
    const id = this.acquire(s, hint);
    this.release(oldId);
    return id;
  }

  /** Forgets every string (all ids are released at once). */
  clear(): void {
    this.recentText.fill('');
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
