// A batch of records as columns, the form both engines' insert paths write from:
//   numbers  one Float64Array per column
//   strings  the batch's distinct values (dictionary) and one index per row, or, for a column
//            whose values are mostly distinct, the values themselves
// Derived columns (the IP keys) are computed once per distinct value of their source column.
import type { AggregatedFlowRecord } from '../flow/record.js';
import { ipv4Key, ipv4Text, ipv4Value } from './ip-key.js';
import { COLUMNS, FIELD_CONVERSIONS, type Column } from './schema.js';

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
 * insert: encode, write the Native body, send). A 50,000-row batch's typed arrays and body come to
 * about 35 MB; allocated per batch, they made V8 run a full GC nearly every batch (external
 * memory pressure), and each full GC marks every record the process still holds. A batch
 * encoded with a scratch is valid until the scratch is used again; its indexes are not narrowed.
 */
export class EncodeScratch {
  private readonly f64s: Float64Array[] = [];
  private readonly u32s: Uint32Array[] = [];
  private body: Buffer | null = null;
  private readonly buffers: Buffer[] = [];

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

  /**
   * n bytes in buffer slot `slot` (contents undefined), for memory that an encoder needs only
   * while it runs (native.ts: each string column's encoded values, about 5 MB a 50,000-row
   * batch, which allocated anew counted as external memory and brought on full collections).
   * Starts at offset 0 of its own ArrayBuffer, so it can be viewed as 32-bit words.
   */
  buffer(slot: number, n: number): Buffer {
    let b = this.buffers[slot];
    if (b === undefined || b.length < n) this.buffers[slot] = b = Buffer.allocUnsafeSlow(Math.max(64, n + (n >>> 2)));
    return b.subarray(0, n);
  }

  /** n bytes (contents undefined); grows by a quarter beyond the size asked, so batches that vary a little reuse it. */
  bytes(n: number): Buffer {
    if (this.body === null || this.body.length < n) this.body = Buffer.allocUnsafe(n + (n >>> 2));
    return this.body.subarray(0, n);
  }
}

/** Where encodeRows takes its arrays from (fresh ones when none is given). */
export interface ArraySource {
  /** n doubles for column slot `slot` (contents undefined). */
  f64(slot: number, n: number): Float64Array;
  /** n UInt32s for column slot `slot` (contents undefined). */
  u32(slot: number, n: number): Uint32Array;
}

/**
 * Array memory for batches that cross to another thread and come back (the segment writer):
 * a batch's arrays are taken from here, shared with the other thread, and given back once it
 * is done with them. A 245,760-row batch's arrays come to about 85 MB. The buffers are
 * SharedArrayBuffers: V8 counts an ArrayBuffer's bytes as the isolate's external memory each
 * time it is allocated or transferred in, and every ~64 MB of that starts a scavenge and then a
 * full collection (the main thread marking every record it holds), about two a second at full
 * rate, although nothing was garbage; a shared buffer is counted by neither isolate, and
 * posting it copies nothing. Holds at most `maxBytes` of free buffers.
 */
export class ArrayPool {
  private readonly free: SharedArrayBuffer[] = [];
  private held = 0;

  constructor(private readonly maxBytes = 384 * 1024 * 1024) {}

  /** Arrays for one batch, each in the smallest free buffer that holds it, else a new one. */
  source(): ArraySource {
    return {
      f64: (_slot, n) => new Float64Array(this.take(n * 8), 0, n),
      u32: (_slot, n) => new Uint32Array(this.take(n * 4), 0, n),
    };
  }

  /** Buffers whose arrays are no longer used (any that are not this pool's shared kind are left to the collector). */
  give(buffers: readonly ArrayBufferLike[]): void {
    for (const b of buffers) {
      if (!(b instanceof SharedArrayBuffer) || this.held + b.byteLength > this.maxBytes) continue;
      this.free.push(b);
      this.held += b.byteLength;
    }
  }

  /** Free bytes held (tests). */
  get freeBytes(): number {
    return this.held;
  }

  private take(bytes: number): SharedArrayBuffer {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const size = this.free[i].byteLength;
      if (size >= bytes && (best < 0 || size < this.free[best].byteLength)) best = i;
    }
    if (best < 0) return new SharedArrayBuffer(Math.max(bytes, 8));
    const b = this.free[best];
    this.free[best] = this.free[this.free.length - 1];
    this.free.pop();
    this.held -= b.byteLength;
    return b;
  }
}

/** Every distinct buffer under a raw batch's arrays (to give back to its pool). */
export function rawBuffers(raw: RawBatch): ArrayBufferLike[] {
  const out = new Set<ArrayBufferLike>();
  for (const a of raw.numbers) if (a) out.add(a.buffer);
  for (const a of raw.indexes) if (a) out.add(a.buffer);
  return [...out];
}

/** The buffers of `buffers` that a message can transfer (shared ones are shared, not transferred). */
export function transferable(buffers: readonly ArrayBufferLike[]): ArrayBuffer[] {
  return buffers.filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
}

/**
 * Reads every direct (not derived) column of every record into the batch's arrays, one record at
 * a time: `numbers[c][i]` for number columns, `indexes[c][i]` into `dictionaries[c]` (through
 * `seen[c]`) for string columns.
 */
type RowEncoder = (
  records: readonly AggregatedFlowRecord[],
  insertedAtSeconds: number,
  numbers: Float64Array[],
  seen: Map<string, number>[],
  dictionaries: string[][],
  indexes: Uint32Array[],
  addresses: AddressDictionary[],
) => void;

const rowEncoders = new WeakMap<readonly Column[], RowEncoder>();

/** Whether a column is computed from an earlier column of the list (its source's distinct values). */
function derivesFrom(columns: readonly Column[], c: number): number {
  const derived = columns[c].derived;
  if (!derived) return -1;
  const from = columns.findIndex((x) => x.name === derived.from);
  return from >= 0 && from < c ? from : -1;
}

/** A record field's name as it may appear in generated source: an identifier, nothing else. */
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/**
 * The code that reads column c of record `r`: `setup` (statements) then `expr`. A field read is
 * written out (the field into `t`, then its conversion); any other column calls its `value`.
 */
function readCode(column: Column, c: number): { setup: string; expr: string } {
  const read = column.read;
  if (!read || !IDENTIFIER.test(read.field)) return { setup: '', expr: `v${c}(r, at)` };
  return { setup: `const t = r.${read.field};`, expr: FIELD_CONVERSIONS[read.as].code };
}

/**
 * Compiles, once per column list, a function that reads a record's fields one after the other.
 * Reading column by column walked the whole batch once per column (52 passes over 150,000
 * records of about 500 bytes, each pass missing the CPU caches on every record), and called each
 * column's reader through one shared call site, which V8 cannot inline. The generated loop reads
 * each column's field in place (Column.read: the conversion written out, since a loop that
 * called 50 functions ran out of V8's inlining budget and called the last ones), or calls the
 * column's own `value` at a call site of its own, so the record's fields are read while it is in
 * cache. The source text holds only array indexes and the schema's field names.
 */
function rowEncoder(columns: readonly Column[]): RowEncoder {
  let encoder = rowEncoders.get(columns);
  if (encoder) return encoder;
  const head: string[] = [];
  const body: string[] = [];
  // Column.follows: per anchor column, the columns that remember their value per anchor value.
  const followers = new Map<number, number[]>();
  const anchorOf = (c: number): number => {
    const name = columns[c].follows;
    const a = name === undefined ? -1 : columns.findIndex((x) => x.name === name);
    const plain = (x: number) => x >= 0 && columns[x].kind === 'string' && !columns[x].address && derivesFrom(columns, x) < 0;
    return a >= 0 && a < c && plain(a) && plain(c) ? a : -1;
  };
  for (let c = 0; c < columns.length; c++) {
    const a = anchorOf(c);
    if (a >= 0) followers.set(a, [...(followers.get(a) ?? []), c]);
  }
  for (let c = 0; c < columns.length; c++) {
    if (derivesFrom(columns, c) >= 0) continue;
    const { setup, expr: value } = readCode(columns[c], c);
    if (columns[c].kind !== 'string') {
      head.push(`const n${c} = numbers[${c}];`);
      body.push(`{ ${setup} n${c}[i] = ${value}; }`);
    } else if (columns[c].address) {
      head.push(`const a${c} = addresses[${c}], x${c} = indexes[${c}]; let l${c} = null, lk${c} = 0;`);
      body.push(`{ ${setup} const s = ${value}; if (s === l${c}) x${c}[i] = lk${c}; else { const k = a${c}.add(s); x${c}[i] = k; l${c} = s; lk${c} = k; } }`);
    } else {
      // The previous row's value first: a compare instead of a hash lookup when a column
      // repeats (empty fields, constants, runs of one Pod's flows). A column that follows an
      // anchor (Column.follows) then tries the value it had with this row's anchor value
      // (f: value, fk: its index, per anchor index; grown as the anchor's dictionary grows): a
      // Map lookup costs about 25 ns, and a Pod's namespace and Node change with every row that
      // names another Pod (encodeRows of the store bench's rows: a median 821 ns a row against 876
      // without, 976 for the session's start; alternating in one process, load 5).
      head.push(`const m${c} = seen[${c}], d${c} = dictionaries[${c}], x${c} = indexes[${c}]; let l${c} = null, lk${c} = 0;`);
      const grow = (followers.get(c) ?? []).map((f) => `f${f}.push(null); fk${f}.push(0);`).join(' ');
      const lookup = `let k = m${c}.get(s); if (k === undefined) { k = d${c}.length; m${c}.set(s, k); d${c}.push(s); ${grow} }`;
      const a = anchorOf(c);
      if (a < 0) body.push(`{ ${setup} const s = ${value}; if (s === l${c}) x${c}[i] = lk${c}; else { ${lookup} x${c}[i] = k; l${c} = s; lk${c} = k; } }`);
      else {
        head.push(`const f${c} = [], fk${c} = [];`);
        body.push(
          `{ ${setup} const s = ${value}; if (s === l${c}) x${c}[i] = lk${c}; else if (f${c}[lk${a}] === s) { const k = fk${c}[lk${a}]; x${c}[i] = k; l${c} = s; lk${c} = k; } else { ${lookup} f${c}[lk${a}] = s; fk${c}[lk${a}] = k; x${c}[i] = k; l${c} = s; lk${c} = k; } }`,
        );
      }
    }
  }
  const readers = columns.map((_, c) => `v${c}`);
  const source = `return function encodeRows(records, at, numbers, seen, dictionaries, indexes, addresses) {
  ${head.join('\n  ')}
  const count = records.length;
  for (let i = 0; i < count; i++) {
    const r = records[i];
    ${body.join('\n    ')}
  }
};`;
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- generated from column positions and the schema's field names (see above)
  encoder = new Function(...readers, source)(...columns.map((c) => c.value)) as RowEncoder;
  rowEncoders.set(columns, encoder);
  return encoder;
}

/**
 * The direct (not derived) columns of a batch, as read from the records: numbers, and per string
 * column its dictionary and an index per row. Plain arrays and typed arrays only, so that a
 * batch can cross to a worker thread (the segment writer, parquet/segment-writer.ts) and be
 * completed there (completeBatch).
 *
 * An address column (Column.address) has no text for its IPv4 entries: `numbers[c]` holds one
 * value per dictionary entry, the address's 32-bit value (>= 0), or -(j + 1) for an entry whose
 * text is `dictionaries[c][j]` (IPv6, '', anything not canonical IPv4).
 */
export interface RawBatch {
  readonly rows: number;
  readonly insertedAtSeconds: number;
  /** Per column position: the values of a direct number column, or an address column's entries (else undefined). */
  readonly numbers: (Float64Array | undefined)[];
  /** Per column position: the distinct values of a direct string column (else undefined). */
  readonly dictionaries: (string[] | undefined)[];
  readonly indexes: (Uint32Array | undefined)[];
}

/**
 * An address column's distinct values while a batch is read: canonical IPv4 text by its 32-bit
 * value through an open-addressing table, other text through a Map. Entry ids are given in order
 * of first appearance.
 *
 * The table is one Uint32Array of (value, id + 1) pairs, so that a probe touches one cache line,
 * and it grows with the distinct values found (load at most 5/8), not with the rows: sized for
 * the rows (two arrays of 2^19 entries for a 245,760-row batch, 4 MB, twice the L2 cache), a
 * column of 2,000 distinct destinations missed the cache on nearly every row, and every new
 * value cost two misses (its id, then its key). Each column keeps its table from one batch to the
 * next (`slot`).
 */
class AddressDictionary {
  /** Per slot: its tables by size (log2 of the pairs), and the size the last batch ended with. */
  private static readonly tables: { bySize: Uint32Array[]; last: number; fewDistinct: boolean }[] = [];
  private readonly slot: number;
  private readonly rows: number;
  /** Text to entry id, when the column's last batch had few distinct values (see add). */
  private readonly byText: Map<string, number> | null;
  /** Pairs: [2h] the value, [2h + 1] its entry id + 1 (0: empty). */
  private table: Uint32Array;
  /** Fibonacci hashing: the top `bits` bits of value * 2^32 / phi pick the pair. */
  private shift: number;
  private mask: number;
  /** Grow past this many IPv4 entries. */
  private limit: number;
  private readonly entries: Float64Array;
  private count = 0;
  private v4 = 0;
  private readonly others: string[] = [];
  private readonly otherIds = new Map<string, number>();

  /** `slot`: which reusable tables to take (one per address column of a batch being read); `entries`: room for one entry a row. */
  constructor(rows: number, slot: number, entries: Float64Array) {
    let tables = AddressDictionary.tables[slot];
    if (tables === undefined) AddressDictionary.tables[slot] = tables = { bySize: [], last: 12, fewDistinct: false };
    // The size the column's last batch needed: batches alike need no growth.
    this.slot = slot;
    this.rows = rows;
    this.byText = tables.fewDistinct ? new Map() : null;
    this.table = this.tableOf(tables.last);
    this.shift = 32 - tables.last;
    this.mask = (1 << tables.last) - 1;
    this.limit = ((1 << tables.last) / 8) * 5;
    this.entries = entries;
  }

  /** The slot's cleared table of 2^bits pairs. */
  private tableOf(bits: number): Uint32Array {
    const tables = AddressDictionary.tables[this.slot];
    let table = tables.bySize[bits];
    if (table === undefined) tables.bySize[bits] = table = new Uint32Array(2 << bits);
    else table.fill(0);
    tables.last = bits;
    return table;
  }

  /**
   * The entry id of an address text (a new entry the first time). Parsing the text costs about
   * 100 ns (a charCodeAt a char); where a column holds few distinct addresses (destinations:
   * Services and server Pods), a Map of the texts seen answers most rows with one lookup of the
   * string's cached hash instead. A column whose last batch had one distinct address in 8 rows
   * or fewer uses it. With the pair table below, encodeRows of the store bench's 245,760-row
   * batch (2,000 destinations, ~195,000 sources) took a median 876 against 993 ns a row
   * (alternating in one process, 10 each, load 5); the table alone 898 against 935.
   */
  add(text: string): number {
    const byText = this.byText;
    if (byText === null) return this.parse(text);
    const known = byText.get(text);
    if (known !== undefined) return known;
    const id = this.parse(text);
    byText.set(text, id);
    return id;
  }

  private parse(text: string): number {
    const v = ipv4Value(text);
    if (v < 0) return this.addOther(text);
    const table = this.table;
    const mask = this.mask;
    let h = Math.imul(v, 0x9e3779b1) >>> this.shift;
    for (;;) {
      const id = table[2 * h + 1];
      if (id === 0) break;
      if (table[2 * h] === v) return id - 1;
      h = (h + 1) & mask;
    }
    const id = this.count++;
    this.entries[id] = v;
    table[2 * h] = v;
    table[2 * h + 1] = id + 1;
    if (++this.v4 > this.limit) this.grow();
    return id;
  }

  /** A table twice the size, every IPv4 entry placed again. */
  private grow(): void {
    const old = this.table;
    const bits = 33 - this.shift;
    const table = this.tableOf(bits);
    const shift = 32 - bits;
    const mask = (1 << bits) - 1;
    for (let s = 0; s < old.length; s += 2) {
      const id = old[s + 1];
      if (id === 0) continue;
      const v = old[s];
      let h = Math.imul(v, 0x9e3779b1) >>> shift;
      while (table[2 * h + 1] !== 0) h = (h + 1) & mask;
      table[2 * h] = v;
      table[2 * h + 1] = id;
    }
    this.table = table;
    this.shift = shift;
    this.mask = mask;
    this.limit = ((1 << bits) / 8) * 5;
  }

  private addOther(text: string): number {
    const known = this.otherIds.get(text);
    if (known !== undefined) return known;
    const id = this.count++;
    this.entries[id] = -(this.others.length + 1);
    this.others.push(text);
    this.otherIds.set(text, id);
    return id;
  }

  /** The entries (RawBatch.numbers of the column) and the other texts (its dictionary). */
  finish(): { entries: Float64Array; others: string[] } {
    AddressDictionary.tables[this.slot].fewDistinct = this.count * 8 <= this.rows;
    return { entries: this.entries.subarray(0, this.count), others: this.others };
  }
}

/** Reads the records' direct columns in one pass (the part of encoding that needs the records). */
export function encodeRows(records: readonly AggregatedFlowRecord[], insertedAtSeconds: number, columns: readonly Column[] = COLUMNS, scratch?: ArraySource): RawBatch {
  const n = records.length;
  const numbers: Float64Array[] = [];
  const seen: Map<string, number>[] = [];
  const dictionaries: string[][] = [];
  const indexes: Uint32Array[] = [];
  const addresses: AddressDictionary[] = [];
  let addressColumns = 0;
  for (let c = 0; c < columns.length; c++) {
    if (derivesFrom(columns, c) >= 0) continue;
    if (columns[c].kind !== 'string') numbers[c] = scratch ? scratch.f64(c, n) : new Float64Array(n);
    else {
      if (columns[c].address) {
        const entries = scratch ? scratch.f64(columns.length + c, n) : new Float64Array(n);
        addresses[c] = new AddressDictionary(n, addressColumns++, entries);
      } else {
        seen[c] = new Map();
        dictionaries[c] = [];
      }
      indexes[c] = scratch ? scratch.u32(c, n) : new Uint32Array(n);
    }
  }
  rowEncoder(columns)(records, insertedAtSeconds, numbers, seen, dictionaries, indexes, addresses);
  addresses.forEach((a, c) => {
    const { entries, others } = a.finish();
    numbers[c] = entries;
    dictionaries[c] = others;
  });
  const pad = <T>(xs: T[]): (T | undefined)[] => Array.from({ length: columns.length }, (_, c) => xs[c]);
  return { rows: n, insertedAtSeconds, numbers: pad(numbers), dictionaries: pad(dictionaries), indexes: pad(indexes) };
}

/** Encodes records column by column; string columns as per-batch dictionaries. */
export function encodeBatch(
  records: readonly AggregatedFlowRecord[],
  insertedAtSeconds: number,
  columns: readonly Column[] = COLUMNS,
  options: { dictionariesOnly?: boolean; scratch?: EncodeScratch; wideIndexes?: boolean } = {},
): EncodedBatch {
  return completeBatch(encodeRows(records, insertedAtSeconds, columns, options.scratch), columns, options);
}

/**
 * Adds the derived columns to a batch's direct ones (each derived once per distinct value of its
 * source) and gives every column its final form. `wideIndexes`: keep the Uint32Array indexes
 * (the Parquet writer packs them itself) instead of narrowing them to the dictionary's size.
 * `repeatedValues`: a derived string column's dictionary may hold a value more than once (two
 * sources with one key); only for writers that do not need distinct members (Parquet, not ENUMs).
 */
export function completeBatch(
  raw: RawBatch,
  columns: readonly Column[] = COLUMNS,
  options: { dictionariesOnly?: boolean; scratch?: EncodeScratch; wideIndexes?: boolean; repeatedValues?: boolean } = {},
): EncodedBatch {
  const n = raw.rows;
  const scratch = options.scratch;
  const out: EncodedColumn[] = new Array(columns.length);
  const dictionaries = [...raw.dictionaries];
  const indexes = [...raw.indexes];
  // An address column's entries (RawBatch): IPv4 values, or the position of their text.
  const entriesOf = (c: number): Float64Array | null => (columns[c].address ? raw.numbers[c]! : null);
  for (let c = 0; c < columns.length; c++) {
    const entries = entriesOf(c);
    if (entries) dictionaries[c] = ipv4Dictionary(entries, raw.dictionaries[c]!, null) ?? addressTexts(entries, raw.dictionaries[c]!);
  }
  for (let c = 0; c < columns.length; c++) {
    const column = columns[c];
    const from = derivesFrom(columns, c);
    if (column.kind !== 'string') {
      let values = raw.numbers[c];
      if (from >= 0) {
        // A number derived from a string column (the address networks): once per distinct value.
        values = scratch ? scratch.f64(c, n) : new Float64Array(n);
        const perValue = Float64Array.from(derivedValues(column, dictionaries[from]!, entriesOf(from)) as number[]);
        gather(values, perValue, indexes[from]!);
      }
      out[c] = { kind: 'number', values: values! };
      continue;
    }
    let dictionary: string[];
    let idx: Uint32Array;
    if (from >= 0 && options.repeatedValues) {
      // A Parquet dictionary may hold a value twice: derive one entry per source entry and keep
      // the source's indexes (no map of the derived strings).
      const entries = entriesOf(from);
      const keys = entries && column.derived!.fromIpv4 === ipv4Key ? ipv4Dictionary(entries, raw.dictionaries[from]!, column.derived!.derive) : null;
      dictionary = keys ?? (derivedValues(column, dictionaries[from]!, entries) as string[]);
      idx = indexes[from]!;
      dictionaries[c] = dictionary;
      indexes[c] = idx;
    } else if (from >= 0) {
      // Derive once per distinct source value. Two sources can derive the same value (fd00::1
      // and fd00:0::1 have one key; every non-address has ''), so the derived values are
      // deduplicated and the indexes remapped: a dictionary's values are distinct.
      const seenDerived = new Map<string, number>();
      dictionary = [];
      const remap = Uint32Array.from(derivedValues(column, dictionaries[from]!, entriesOf(from)) as string[], (d) => {
        let k = seenDerived.get(d);
        if (k === undefined) {
          k = dictionary.length;
          seenDerived.set(d, k);
          dictionary.push(d);
        }
        return k;
      });
      if (dictionary.length === dictionaries[from]!.length) {
        idx = indexes[from]!;
      } else {
        idx = scratch ? scratch.u32(c, n) : new Uint32Array(n);
        remapInto(idx, remap, indexes[from]!);
      }
      dictionaries[c] = dictionary;
      indexes[c] = idx;
    } else {
      dictionary = dictionaries[c]!;
      idx = indexes[c]!;
    }
    if (!options.dictionariesOnly && dictionary.length * DISTINCT_SHARE > n && n > CHUNK_ROWS) {
      out[c] = { kind: 'strings', dictionary, indexes: idx };
    } else {
      out[c] = { kind: 'dictionary', dictionary, indexes: scratch || options.wideIndexes ? idx : narrow(idx, dictionary.length) };
    }
  }
  return { rows: n, columns: out, names: columns.map((c) => c.name) };
}

// ---- Address dictionaries built as bytes ---------------------------------------------------
//
// An address column's dictionary (the text of each entry) and its key column's (ip-key.ts ipKey)
// are made from the entries' IPv4 values without building each string by concatenation: every
// entry is written as bytes, in the layout of a Parquet PLAIN BYTE_ARRAY page
//
//   per entry   length (u32 LE)   text (ASCII)
//
// into reused memory, the whole read as one latin1 string (the image), and each entry is a
// substring of it (V8 keeps one of 13 chars or more as a slice: no copy). The Parquet writer
// (parquet/writer.ts) writes a dictionary page from its image in one copy (plainImageOf) instead
// of char by char, and no string is flattened. Concatenated (ipv4Text, ipv4Key), each value was
// a tree of 4-5 strings, flattened again by every writer that read its chars: on a 245,760-row
// segment of mostly distinct sources (~195,000 entries), completeBatch took 350-450 ns a row and
// the segment's Parquet pages 470-500; from images 250-350 and 240-270 (same process, load 4-5).

/** Dictionaries made by ipv4Dictionary, and their images. */
const plainImages = new WeakMap<readonly string[], readonly string[]>();
/** Bytes of one piece of an image (below V8's large-object size). */
const IMAGE_PIECE = 32 * 1024;

/**
 * The Parquet PLAIN encoding (per value: u32 LE length, UTF-8 bytes) of a dictionary made from an
 * address column's entries, as latin1 strings (each char one byte) to write one after the other;
 * undefined for any other dictionary.
 */
export function plainImageOf(dictionary: readonly string[]): readonly string[] | undefined {
  return plainImages.get(dictionary);
}

const DIGITS: readonly number[][] = Array.from({ length: 256 }, (_, i) => [...String(i)].map((c) => c.charCodeAt(0)));
const HEX_CODES = Uint8Array.from('0123456789abcdef', (c) => c.charCodeAt(0));
/** ipKey's prefix of an IPv4 address (::ffff:0:0/96), as char codes. */
const V4_KEY_PREFIX = Uint8Array.from(ipv4Key(0).slice(0, 24), (c) => c.charCodeAt(0));
let imageMemory = Buffer.allocUnsafeSlow(0);

/**
 * An address column's dictionary (`derive` null: the text of each entry) or its key column's
 * (`derive`: ipKey, of the IPv4 values written directly), made through a PLAIN image (above).
 * Entries that are not IPv4 take their text from `others` (RawBatch), derived when asked; null
 * when one of those is not ASCII (the caller builds the dictionary string by string).
 */
function ipv4Dictionary(entries: Float64Array, others: readonly string[], derive: ((text: string) => string | number) | null): string[] | null {
  const n = entries.length;
  const otherValues = derive === null ? others : others.map((t) => String(derive(t)));
  let bound = n * (4 + (derive === null ? 15 : 32));
  for (const t of otherValues) {
    for (let i = 0; i < t.length; i++) if (t.charCodeAt(i) >= 0x80) return null;
    bound += t.length;
  }
  if (imageMemory.length < bound) imageMemory = Buffer.allocUnsafeSlow(bound + (bound >>> 2));
  const b = imageMemory;
  const starts = new Uint32Array(n);
  let off = 0;
  for (let k = 0; k < n; k++) {
    const v = entries[k];
    const start = off + 4;
    let end = start;
    if (v < 0) {
      const t = otherValues[-v - 1];
      for (let i = 0; i < t.length; i++) b[end++] = t.charCodeAt(i);
    } else if (derive === null) {
      end = writeDecimal(b, end, v >>> 24);
      b[end++] = 46;
      end = writeDecimal(b, end, (v >>> 16) & 255);
      b[end++] = 46;
      end = writeDecimal(b, end, (v >>> 8) & 255);
      b[end++] = 46;
      end = writeDecimal(b, end, v & 255);
    } else {
      for (let i = 0; i < 24; i++) b[end++] = V4_KEY_PREFIX[i];
      for (let shift = 28; shift >= 0; shift -= 4) b[end++] = HEX_CODES[(v >>> shift) & 15];
    }
    const len = end - start;
    b[off] = len & 255;
    b[off + 1] = (len >>> 8) & 255;
    b[off + 2] = (len >>> 16) & 255;
    b[off + 3] = len >>> 24;
    starts[k] = start;
    off = end;
  }
  // The image in pieces of at most IMAGE_PIECE bytes (whole entries), each a string of the young
  // generation: one string of several MB is allocated in V8's large-object space, and a few such
  // a batch brought on full collections (on the ClickHouse client, of the heap that holds every
  // record in flight).
  const out = new Array<string>(n);
  const image: string[] = [];
  let k = 0;
  while (k < n) {
    const from = starts[k] - 4;
    let last = k;
    while (last + 1 < n && starts[last + 1] - from <= IMAGE_PIECE) last++;
    const to = last + 1 < n ? starts[last + 1] - 4 : off;
    const piece = b.toString('latin1', from, to);
    image.push(piece);
    for (; k <= last; k++) {
      const v = entries[k];
      if (v < 0) out[k] = otherValues[-v - 1];
      else out[k] = piece.substring(starts[k] - from, (k + 1 < n ? starts[k + 1] - 4 : off) - from);
    }
  }
  plainImages.set(out, image);
  return out;
}

function writeDecimal(b: Buffer, off: number, octet: number): number {
  const digits = DIGITS[octet];
  for (let i = 0; i < digits.length; i++) b[off++] = digits[i];
  return off;
}

/** An address column's dictionary: the text of each entry (RawBatch). */
function addressTexts(entries: Float64Array, others: readonly string[]): string[] {
  const out = new Array<string>(entries.length);
  for (let k = 0; k < entries.length; k++) {
    const v = entries[k];
    out[k] = v >= 0 ? ipv4Text(v) : others[-v - 1];
  }
  return out;
}

/** A derived column's value per entry of its source's dictionary; from the IPv4 value where the source is an address column. */
function derivedValues(column: Column, source: readonly string[], entries: Float64Array | null): (string | number)[] {
  const { derive, fromIpv4 } = column.derived!;
  const out = new Array<string | number>(source.length);
  if (entries && fromIpv4) {
    for (let k = 0; k < out.length; k++) {
      const v = entries[k];
      out[k] = v >= 0 ? fromIpv4(v) : derive(source[k]);
    }
  } else {
    for (let k = 0; k < out.length; k++) out[k] = derive(source[k]);
  }
  return out;
}

/** out[i] = perValue[indexes[i]] */
function gather(out: Float64Array, perValue: Float64Array, indexes: Uint32Array): void {
  const n = out.length;
  for (let i = 0; i < n; i++) out[i] = perValue[indexes[i]];
}

/** out[i] = remap[indexes[i]] */
function remapInto(out: Uint32Array, remap: Uint32Array, indexes: Uint32Array): void {
  const n = out.length;
  for (let i = 0; i < n; i++) out[i] = remap[indexes[i]];
}
