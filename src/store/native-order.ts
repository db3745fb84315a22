// Row orders for Native blocks (native.ts RowRange.order): a batch's rows in a table's ORDER BY
// order, from integer ranks per row, so that the server finds the block already sorted and
// neither computes a permutation nor copies every column through it (MergeTreeDataWriter checks
// for a sorted block first). Only ranks are compared: a string key's rank is its dictionary
// entry's place in byte order (ClickHouse compares Strings as bytes), a number key's its value's
// place among the distinct values.

/** One sort key over a batch's rows: each row's rank in [0, width). */
export interface RankKey {
  readonly ranks: ArrayLike<number>;
  readonly width: number;
}

/**
 * Each dictionary entry's place in the byte order of its UTF-8 text (ties: equal texts get
 * neighbouring places, in entry order). ASCII text compares alike as JS strings and as bytes.
 */
export function dictionaryRanks(dictionary: readonly string[]): Uint32Array {
  const m = dictionary.length;
  const entries = Array.from({ length: m }, (_, k) => k);
  const ascii = dictionary.every((s) => Buffer.byteLength(s, 'utf8') === s.length);
  if (ascii) entries.sort((a, b) => (dictionary[a] < dictionary[b] ? -1 : dictionary[a] > dictionary[b] ? 1 : a - b));
  else {
    const bytes = dictionary.map((s) => Buffer.from(s, 'utf8'));
    entries.sort((a, b) => Buffer.compare(bytes[a], bytes[b]) || a - b);
  }
  const ranks = new Uint32Array(m);
  for (let r = 0; r < m; r++) ranks[entries[r]] = r;
  return ranks;
}

/**
 * Rows' ranks of a number key, for rows [from, to) of `values` (others 0): the value less the
 * smallest when the range of values is small, else the place among the distinct values.
 */
export function numberRanks(values: Float64Array, from: number, to: number, out: Uint32Array): RankKey {
  let min = Infinity;
  let max = -Infinity;
  for (let i = from; i < to; i++) {
    const v = values[i];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (to <= from) return { ranks: out, width: 1 };
  let integral = true;
  for (let i = from; i < to && integral; i++) integral = Number.isInteger(values[i]);
  if (integral && max - min < Math.max(65536, 4 * (to - from))) {
    for (let i = from; i < to; i++) out[i] = values[i] - min;
    return { ranks: out, width: max - min + 1 };
  }
  // Each distinct value's id (in order of first appearance; runs of one value compare only),
  // then the ids ranked by their values.
  const ids = new Map<number, number>();
  const distinct: number[] = [];
  let last = NaN;
  let lastId = 0;
  for (let i = from; i < to; i++) {
    const v = values[i];
    if (v !== last) {
      let id = ids.get(v);
      if (id === undefined) {
        id = distinct.length;
        ids.set(v, id);
        distinct.push(v);
      }
      last = v;
      lastId = id;
    }
    out[i] = lastId;
  }
  const m = distinct.length;
  const byValue = Array.from({ length: m }, (_, id) => id).sort((a, b) => distinct[a] - distinct[b]);
  const rankOf = new Uint32Array(m);
  for (let r = 0; r < m; r++) rankOf[byValue[r]] = r;
  for (let i = from; i < to; i++) out[i] = rankOf[out[i]];
  return { ranks: out, width: m };
}

/** Memory kept from one order to the next. */
export class OrderScratch {
  private readonly u32s: Uint32Array[] = [];
  private readonly f64s: Float64Array[] = [];

  /** n UInt32s in slot `slot` (contents undefined). */
  u32(slot: number, n: number): Uint32Array {
    let a = this.u32s[slot];
    if (a === undefined || a.length < n) this.u32s[slot] = a = new Uint32Array(Math.max(1024, n + (n >>> 2)));
    return a.subarray(0, n);
  }

  /** n doubles in slot `slot` (contents undefined). */
  f64(slot: number, n: number): Float64Array {
    let a = this.f64s[slot];
    if (a === undefined || a.length < n) this.f64s[slot] = a = new Float64Array(Math.max(1024, n + (n >>> 2)));
    return a.subarray(0, n);
  }
}

/** The OrderScratch slots sortRows works in; callers use slots from FIRST_FREE_SLOT on. */
export const FIRST_FREE_SLOT = 2;

/**
 * Rows [from, to) in ascending order of `keys` (the most significant first), rows with equal
 * keys in row order, written into `out` (to - from rows); false when they are in that order
 * already (write them as they are, `out` untouched). One counting sort per key, least
 * significant first (each stable), in scratch slots 0 and 1.
 */
export function sortRows(keys: readonly RankKey[], from: number, to: number, scratch: OrderScratch, out: Uint32Array): boolean {
  const n = to - from;
  if (out.length !== n) throw new Error(`sortRows: room for ${out.length} rows, ${n} to order`);
  if (n < 2 || isSorted(keys, from, to)) return false;
  // Keys at the end by which the rows are in order already need no pass (rows arrive in time
  // order, mostly): the sort by the keys before them keeps that order within their ties.
  let last = keys.length;
  while (last > 1 && isSorted(keys.slice(last - 1), from, to)) last--;
  let order = scratch.u32(0, n);
  let next = scratch.u32(1, n);
  for (let i = 0; i < n; i++) order[i] = from + i;
  for (let k = last - 1; k >= 0; k--) {
    const { ranks, width } = keys[k];
    if (width <= 1) continue;
    const starts = new Uint32Array(width + 1);
    for (let i = from; i < to; i++) starts[ranks[i] + 1]++;
    for (let r = 1; r <= width; r++) starts[r] += starts[r - 1];
    for (let i = 0; i < n; i++) {
      const row = order[i];
      next[starts[ranks[row]]++] = row;
    }
    const t = order;
    order = next;
    next = t;
  }
  out.set(order);
  return true;
}

function isSorted(keys: readonly RankKey[], from: number, to: number): boolean {
  for (let i = from + 1; i < to; i++) {
    for (let k = 0; k < keys.length; k++) {
      const a = keys[k].ranks[i - 1];
      const b = keys[k].ranks[i];
      if (a < b) break;
      if (a > b) return false;
    }
  }
  return true;
}
