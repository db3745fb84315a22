// A batch of records as columns, the form both engines' insert paths write from:
//   numbers  one Float64Array per column
//   strings  the batch's distinct values (dictionary) and one index per row, or, for a column
//            whose values are mostly distinct, the values themselves
// Derived columns (the IP keys) are computed once per distinct value of their source column.
import type { AggregatedFlowRecord } from '../flow/record.js';
import { COLUMNS, type Column } from './schema.js';

export type Indexes = Uint8Array | Uint16Array | Uint32Array;

/** One column of an encoded batch. */
export type EncodedColumn =
  | { readonly kind: 'number'; readonly values: Float64Array }
  | { readonly kind: 'dictionary'; readonly dictionary: readonly string[]; readonly indexes: Indexes }
  /** The same data as a dictionary, but the insert sends it value by value (mostly distinct values). */
  | { readonly kind: 'strings'; readonly dictionary: readonly string[]; readonly indexes: Uint32Array };

export interface EncodedBatch {
  readonly rows: number;
  readonly columns: readonly EncodedColumn[];
  /** The columns' names, when the batch was encoded for named columns (encodeBatch). */
  readonly names?: readonly string[];
}

/** Rows per DuckDB output chunk (its vector size); batches up to this size always keep dictionaries. */
export const CHUNK_ROWS = 2048;
/**
 * A string column with more distinct values than rows / DISTINCT_SHARE is sent value by value:
 * creating an ENUM type costs about 1 µs a member, assigning a string about 0.4 µs.
 */
const DISTINCT_SHARE = 4;

/** DuckDB stores an ENUM's index in the smallest unsigned type that holds its member count. */
export function narrow(indexes: Uint32Array, members: number): Indexes {
  if (members <= 0xff) return Uint8Array.from(indexes);
  if (members <= 0xffff) return Uint16Array.from(indexes);
  return indexes;
}

/**
 * Reusable memory for batches that are consumed before the next one is encoded (the ClickHouse
 * insert: encode, write RowBinary, send). A 50,000-row batch's typed arrays and body come to
 * about 35 MB; allocated per batch, they made V8 run a full GC nearly every batch (external
 * memory pressure), and each full GC marks every record the process still holds. A batch
 * encoded with a scratch is valid until the scratch is used again; its indexes are not narrowed.
 */
export class EncodeScratch {
  private readonly f64s: Float64Array[] = [];
  private readonly u32s: Uint32Array[] = [];
  private body: Buffer | null = null;

  /** n doubles in slot `slot` (contents undefined). */
  f64(slot: number, n: number): Float64Array {
    let a = this.f64s[slot];
    if (a === undefined || a.length < n) this.f64s[slot] = a = new Float64Array(n);
    return a.subarray(0, n);
  }

  /** n UInt32s in slot `slot` (contents undefined). */
  u32(slot: number, n: number): Uint32Array {
    let a = this.u32s[slot];
    if (a === undefined || a.length < n) this.u32s[slot] = a = new Uint32Array(n);
    return a.subarray(0, n);
  }

  /** n bytes (contents undefined); grows by a quarter beyond the size asked, so batches that vary a little reuse it. */
  bytes(n: number): Buffer {
    if (this.body === null || this.body.length < n) this.body = Buffer.allocUnsafe(n + (n >>> 2));
    return this.body.subarray(0, n);
  }
}

/** Encodes records column by column; string columns as per-batch dictionaries. */
export function encodeBatch(
  records: readonly AggregatedFlowRecord[],
  insertedAtSeconds: number,
  columns: readonly Column[] = COLUMNS,
  options: { dictionariesOnly?: boolean; scratch?: EncodeScratch } = {},
): EncodedBatch {
  const n = records.length;
  const scratch = options.scratch;
  const out: EncodedColumn[] = new Array(columns.length);
  const byName = new Map<string, { dictionary: string[]; indexes: Uint32Array }>();
  for (let c = 0; c < columns.length; c++) {
    const column = columns[c];
    const value = column.value;
    const source = column.derived ? byName.get(column.derived.from) : undefined;
    if (column.kind !== 'string') {
      const values = scratch ? scratch.f64(c, n) : new Float64Array(n);
      if (source && column.derived) {
        // A number derived from a string column (the address networks): once per distinct value.
        const perValue = Float64Array.from(source.dictionary, (v) => column.derived!.derive(v) as number);
        const idx = source.indexes;
        for (let i = 0; i < n; i++) values[i] = perValue[idx[i]];
      } else {
        for (let i = 0; i < n; i++) values[i] = value(records[i], insertedAtSeconds) as number;
      }
      out[c] = { kind: 'number', values };
      continue;
    }
    let dictionary: string[];
    let indexes: Uint32Array;
    if (source && column.derived) {
      // Derive once per distinct source value. Two sources can derive the same value (fd00::1
      // and fd00:0::1 have one key; every non-address has ''), so the derived values are
      // deduplicated and the indexes remapped: a dictionary's values are distinct.
      const derive = column.derived.derive;
      const seen = new Map<string, number>();
      dictionary = [];
      const remap = source.dictionary.map((v) => {
        const d = derive(v) as string;
        let k = seen.get(d);
        if (k === undefined) {
          k = dictionary.length;
          seen.set(d, k);
          dictionary.push(d);
        }
        return k;
      });
      const identity = dictionary.length === source.dictionary.length;
      if (identity) {
        indexes = source.indexes;
      } else {
        const from = source.indexes;
        indexes = scratch ? scratch.u32(c, n) : new Uint32Array(n);
        for (let i = 0; i < n; i++) indexes[i] = remap[from[i]];
      }
    } else {
      const seen = new Map<string, number>();
      dictionary = [];
      indexes = scratch ? scratch.u32(c, n) : new Uint32Array(n);
      for (let i = 0; i < n; i++) {
        const v = value(records[i], insertedAtSeconds) as string;
        let k = seen.get(v);
        if (k === undefined) {
          k = dictionary.length;
          seen.set(v, k);
          dictionary.push(v);
        }
        indexes[i] = k;
      }
    }
    byName.set(column.name, { dictionary, indexes });
    if (!options.dictionariesOnly && dictionary.length * DISTINCT_SHARE > n && n > CHUNK_ROWS) {
      out[c] = { kind: 'strings', dictionary, indexes };
    } else {
      out[c] = { kind: 'dictionary', dictionary, indexes: scratch ? indexes : narrow(indexes, dictionary.length) };
    }
  }
  return { rows: n, columns: out, names: columns.map((c) => c.name) };
}

