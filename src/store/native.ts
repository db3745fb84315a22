// ClickHouse's Native format for inserts: one block, column after column. Over HTTP a block has
// no block-info header (that is the TCP protocol's); Debian's 18.16 writes and reads:
//
//   varint  column count                     varint = LEB128 (7 bits a byte, low first)
//   varint  row count
//   per column:
//     varint length + bytes   name
//     varint length + bytes   type name (UInt8 UInt16 UInt32 UInt64 Int64 DateTime String)
//     the values, rows in order:
//       UInt8 / UInt16 / UInt32 / UInt64 / Int64   fixed width, little-endian (Int64 two's complement)
//       DateTime                                   UInt32, unix seconds
//       String                                     varint length + UTF-8 bytes, per row
//
// (Checked byte for byte against `SELECT ... FORMAT Native` of the same rows by the server:
// test/integration/store/clickhouse-native.test.ts.) The server reads such a block without
// parsing rows: its columns go into the table's as they are; RowBinary cost it 3.7-4.0 µs a flow
// row against 2.5 for the same rows as Native (docs/store-clickhouse.md).
//
// Written from columnar batches (columnar.ts): a number column is converted by one typed-array
// loop, then copied in; a string column's distinct values are encoded once (a pool: prefix and
// bytes per dictionary entry) and copied per row. The body is sized first and taken once
// (EncodeScratch memory when given).
import { endianness } from 'node:os';
import type { EncodedBatch, EncodedColumn, EncodeScratch } from './columnar.js';
import { uleb128Length, writeUleb128 } from './leb128.js';
import type { ColumnKind } from './schema.js';

/** The ClickHouse type each column kind is written as. */
export const NATIVE_TYPES: Readonly<Record<ColumnKind, string>> = Object.freeze({
  time: 'DateTime',
  u8: 'UInt8',
  u16: 'UInt16',
  u32: 'UInt32',
  u64: 'UInt64',
  i64: 'Int64',
  string: 'String',
});

const WIDTH: Record<Exclude<ColumnKind, 'string'>, number> = { time: 4, u8: 1, u16: 2, u32: 4, u64: 8, i64: 8 };

/**
 * Where one output column of a range of rows takes its values: a column of the range's batch
 * (its position), a constant number, or null: the kind's zero ('' for a string).
 */
export type RowSource = number | { readonly constant: number } | null;

/**
 * Rows [from, to) of a batch, written with one source per output column. `order`: the rows
 * [from, to), each once, in the order to write them; without it, from to to.
 */
export interface RowRange {
  readonly batch: EncodedBatch;
  readonly from: number;
  readonly to: number;
  readonly sources: readonly RowSource[];
  readonly order?: Uint32Array;
}

/** A column of the block: its name and kind. */
export interface NativeColumn {
  readonly name: string;
  readonly kind: ColumnKind;
}

/**
 * Copies n bytes from `from` to `to`: four at a time through DataViews (big-endian read and
 * write: the bytes as they are), the rest one by one; about twice as fast as a byte loop on
 * the 10-40-byte values of a flow's strings, and a native copy costs more than that to call.
 */
function copyBytes(to: Uint8Array, toView: DataView, p: number, from: Uint8Array, fromView: DataView, at: number, n: number): void {
  let j = 0;
  for (; j + 4 <= n; j += 4) toView.setUint32(p + j, fromView.getUint32(at + j));
  for (; j < n; j++) to[p + j] = from[at + j];
}

/** The UTF-8 length of a string: its length when it is ASCII (no call into the runtime), else Buffer.byteLength. */
function utf8Length(value: string): number {
  for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) >= 0x80) return Buffer.byteLength(value, 'utf8');
  return value.length;
}

/** A string column's distinct values, encoded: entry k is bytes[start[k], start[k] + length[k]) (prefix and UTF-8). */
export interface Pool {
  readonly bytes: Buffer;
  readonly start: Uint32Array;
  readonly length: Uint32Array;
  /** The bytes as a plain Uint8Array and as a DataView (copied four bytes at a time). */
  readonly u8: Uint8Array;
  readonly view: DataView;
}

/**
 * A column's distinct strings as varint length + UTF-8 bytes, one after another in one buffer,
 * addressed by start and length per dictionary entry. When every value is ASCII (one native
 * check over the values joined), each one's UTF-8 length is its length and the joined text is
 * written by one native call, then copied behind the prefixes; reading the values a character at
 * a time cost about 40 ms a 50,000-row batch (their 100,000 address texts and keys). Otherwise
 * each value is measured and written on its own. With a scratch, in its buffer slots 3 * slot to
 * 3 * slot + 2, valid until the scratch is used again.
 */
export function encodePool(dictionary: readonly string[], scratch?: EncodeScratch, slot = 0): Pool {
  const m = dictionary.length;
  const meta = scratch ? new Uint32Array(scratch.buffer(3 * slot, 12 * m).buffer, 0, 3 * m) : new Uint32Array(3 * m);
  const start = meta.subarray(0, m);
  const length = meta.subarray(m, 2 * m);
  const utf8 = meta.subarray(2 * m, 3 * m);
  const text = dictionary.join('');
  const ascii = Buffer.byteLength(text, 'utf8') === text.length;
  let total = 0;
  for (let k = 0; k < m; k++) {
    const u = (utf8[k] = ascii ? dictionary[k].length : utf8Length(dictionary[k]));
    start[k] = total;
    length[k] = uleb128Length(u) + u;
    total += length[k];
  }
  const bytes = scratch ? scratch.buffer(3 * slot + 1, total) : Buffer.allocUnsafe(total);
  let raw: Buffer | null = null;
  if (ascii) {
    raw = scratch ? scratch.buffer(3 * slot + 2, text.length) : Buffer.allocUnsafe(text.length);
    raw.write(text, 0, text.length, 'latin1');
  }
  const u8 = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  let from = 0;
  if (raw) {
    const rawU8 = new Uint8Array(raw.buffer, raw.byteOffset, raw.length);
    const rawView = new DataView(raw.buffer, raw.byteOffset, raw.length);
    for (let k = 0; k < m; k++) {
      const u = utf8[k];
      copyBytes(u8, view, writeUleb128(u8, start[k], u), rawU8, rawView, from, u);
      from += u;
    }
  } else {
    for (let k = 0; k < m; k++) bytes.write(dictionary[k], writeUleb128(u8, start[k], utf8[k]), 'utf8');
  }
  return { bytes, start, length, u8, view };
}

if (endianness() !== 'LE') {
  // The number columns are written through typed arrays, which use the machine's byte order.
  throw new Error('native.ts writes ClickHouse Native bodies through typed arrays and needs a little-endian machine');
}

/**
 * Conversion memory: a number column's values in their ClickHouse width, copied into the body
 * (whose columns start at any byte). Written and copied within one call: one buffer serves every
 * body of the thread.
 */
let temp = new ArrayBuffer(64 * 1024);
function tempBytes(n: number): ArrayBuffer {
  if (temp.byteLength < n) temp = new ArrayBuffer(n + (n >>> 2));
  return temp;
}

type StringColumn = EncodedColumn & { dictionary: readonly string[] };

/**
 * One Native block of several ranges of rows, one after another (a batch's flows: one range,
 * perhaps in an order; its rollup rows: one range per rollup's finest tier), with `columns`'
 * names and kinds. Each string column's dictionary is encoded once however many ranges read it.
 * With a scratch, the body lives in its memory, valid until the scratch is used again.
 */
export function nativeBlock(columns: readonly NativeColumn[], ranges: readonly RowRange[], scratch?: EncodeScratch): Buffer {
  const pools = new Map<EncodedColumn, Pool>();
  const poolOf = (col: StringColumn): Pool => {
    let p = pools.get(col);
    if (p === undefined) pools.set(col, (p = encodePool(col.dictionary, scratch, pools.size)));
    return p;
  };
  let rows = 0;
  for (const r of ranges) {
    if (r.order && r.order.length !== r.to - r.from) throw new Error(`Native block: an order of ${r.order.length} rows for rows ${r.from}-${r.to}`);
    rows += r.to - r.from;
  }
  const names = columns.map((c) => Buffer.from(c.name, 'utf8'));
  const types = columns.map((c) => NATIVE_TYPES[c.kind]);
  let size = uleb128Length(columns.length) + uleb128Length(rows);
  for (let c = 0; c < columns.length; c++) {
    size += uleb128Length(names[c].length) + names[c].length + uleb128Length(types[c].length) + types[c].length;
    const kind = columns[c].kind;
    if (kind !== 'string') {
      size += WIDTH[kind] * rows;
      continue;
    }
    for (const r of ranges) {
      const col = sourceColumn(r, c);
      if (col === null || col.kind === 'number') size += r.to - r.from;
      else size += stringBytes(col.indexes, poolOf(col).length, r.from, r.to);
    }
  }
  const body = scratch ? scratch.bytes(size) : Buffer.allocUnsafe(size);
  const out = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  const outView = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let p = writeUleb128(out, 0, columns.length);
  p = writeUleb128(out, p, rows);
  for (let c = 0; c < columns.length; c++) {
    p = writeUleb128(out, p, names[c].length);
    out.set(names[c], p);
    p += names[c].length;
    p = writeUleb128(out, p, types[c].length);
    p += body.write(types[c], p, 'latin1');
    const kind = columns[c].kind;
    for (const r of ranges) {
      const n = r.to - r.from;
      const src = r.sources[c];
      const col = sourceColumn(r, c);
      if (kind === 'string') {
        if (col === null || col.kind === 'number') {
          out.fill(0, p, p + n);
          p += n;
        } else {
          const pool = poolOf(col);
          // One value in every row (empty fields, constants) is the same in any order.
          if (n > 0 && sameIndex(col.indexes, r.from, r.to)) p = repeat(out, p, pool.u8, pool.start[col.indexes[r.from]], pool.length[col.indexes[r.from]], n);
          else p = r.order ? writeStringsInOrder(out, outView, p, col.indexes, pool, r.order) : writeStrings(out, outView, p, col.indexes, pool, r.from, r.to);
        }
      } else if (col !== null && col.kind === 'number') {
        p = writeNumbers(out, p, kind, col.values, r.from, r.to, r.order);
      } else if (src !== null && typeof src === 'object') {
        p = writeConstant(out, p, kind, src.constant, n);
      } else {
        out.fill(0, p, p + n * WIDTH[kind]);
        p += n * WIDTH[kind];
      }
    }
  }
  if (p !== size) throw new Error(`Native block: wrote ${p} bytes of ${size}`);
  return body;
}

function sourceColumn(r: RowRange, c: number): EncodedColumn | null {
  const src = r.sources[c];
  return typeof src === 'number' ? r.batch.columns[src] : null;
}

/** The bytes of a string column's values in rows [from, to). */
function stringBytes(idx: ArrayLike<number>, length: Uint32Array, from: number, to: number): number {
  let total = 0;
  for (let i = from; i < to; i++) total += length[idx[i]];
  return total;
}

/** Rows [from, to) of a string column: each row's pool entry. Values up to 256 bytes by copyBytes, longer ones by one native copy. */
function writeStrings(out: Uint8Array, outView: DataView, p: number, idx: ArrayLike<number>, pool: Pool, from: number, to: number): number {
  const { u8, view, start, length } = pool;
  for (let i = from; i < to; i++) {
    const k = idx[i];
    const n = length[k];
    if (n <= 256) copyBytes(out, outView, p, u8, view, start[k], n);
    else out.set(u8.subarray(start[k], start[k] + n), p);
    p += n;
  }
  return p;
}

/** Whether rows [from, to) have one index (a scan that stops at the first other one). */
function sameIndex(idx: ArrayLike<number>, from: number, to: number): boolean {
  const first = idx[from];
  for (let i = from + 1; i < to; i++) if (idx[i] !== first) return false;
  return true;
}

/** `rows` copies of the n bytes at `at`: the first copied, then doubled (native copies). */
function repeat(out: Uint8Array, p: number, u8: Uint8Array, at: number, n: number, rows: number): number {
  const total = n * rows;
  if (n === 1) {
    out.fill(u8[at], p, p + total);
    return p + total;
  }
  out.set(u8.subarray(at, at + n), p);
  for (let filled = n; filled < total; ) {
    const chunk = Math.min(filled, total - filled);
    out.copyWithin(p + filled, p, p + chunk);
    filled += chunk;
  }
  return p + total;
}

/** A string column's rows in `order`. */
function writeStringsInOrder(out: Uint8Array, outView: DataView, p: number, idx: ArrayLike<number>, pool: Pool, order: Uint32Array): number {
  const { u8, view, start, length } = pool;
  for (let i = 0; i < order.length; i++) {
    const k = idx[order[i]];
    const n = length[k];
    if (n <= 256) copyBytes(out, outView, p, u8, view, start[k], n);
    else out.set(u8.subarray(start[k], start[k] + n), p);
    p += n;
  }
  return p;
}

/**
 * A number column's rows [from, to), or those of `order`, in the kind's width. Unsigned kinds
 * are clamped into their range (NaN: 0) and truncated (the schema's readers already floor and
 * zero bad values), Int64 truncated within the safe integers; each typed-array store truncates.
 */
function writeNumbers(out: Uint8Array, p: number, kind: Exclude<ColumnKind, 'string'>, values: Float64Array, from: number, to: number, order: Uint32Array | undefined): number {
  const n = to - from;
  const width = WIDTH[kind];
  // One value in every row (the insert time, zero counters, constants): the same in any order.
  if (n > 1 && sameValue(values, from, to)) return writeConstant(out, p, kind, values[from], n);
  if (kind === 'u8') {
    toU8(out.subarray(p, p + n), values, from, order);
    return p + n;
  }
  const buffer = tempBytes(n * width);
  if (kind === 'u16') toU16(new Uint16Array(buffer, 0, n), values, from, order);
  else if (kind === 'u32' || kind === 'time') toU32(new Uint32Array(buffer, 0, n), values, from, order);
  else if (kind === 'u64') toU64(new Uint32Array(buffer, 0, 2 * n), values, from, order);
  else toI64(new Uint32Array(buffer, 0, 2 * n), values, from, order);
  out.set(new Uint8Array(buffer, 0, n * width), p);
  return p + n * width;
}

/** Whether rows [from, to) hold one value (a scan that stops at the first other one; NaN never matches). */
function sameValue(values: Float64Array, from: number, to: number): boolean {
  const first = values[from];
  for (let i = from + 1; i < to; i++) if (values[i] !== first) return false;
  return first === first;
}

function toU8(a: Uint8Array, v: Float64Array, from: number, order: Uint32Array | undefined): void {
  for (let i = 0; i < a.length; i++) {
    const t = v[order ? order[i] : from + i];
    a[i] = t > 0 ? (t < 255 ? t : 255) : 0;
  }
}

function toU16(a: Uint16Array, v: Float64Array, from: number, order: Uint32Array | undefined): void {
  for (let i = 0; i < a.length; i++) {
    const t = v[order ? order[i] : from + i];
    a[i] = t > 0 ? (t < 65535 ? t : 65535) : 0;
  }
}

function toU32(a: Uint32Array, v: Float64Array, from: number, order: Uint32Array | undefined): void {
  for (let i = 0; i < a.length; i++) {
    const t = v[order ? order[i] : from + i];
    a[i] = t > 0 ? (t < 4294967295 ? t : 4294967295) : 0;
  }
}

/** Two words a value, low first; values at or past 2^53 are 2^53 - 1. */
function toU64(a: Uint32Array, v: Float64Array, from: number, order: Uint32Array | undefined): void {
  const n = a.length >>> 1;
  for (let i = 0; i < n; i++) {
    const t = v[order ? order[i] : from + i];
    if (t > 0 && t < 4294967296) {
      a[2 * i] = t;
      a[2 * i + 1] = 0;
    } else {
      const u = t > 0 ? (t < 9007199254740991 ? Math.floor(t) : 9007199254740991) : 0;
      const h = Math.floor(u / 4294967296);
      a[2 * i] = u - h * 4294967296;
      a[2 * i + 1] = h;
    }
  }
}

/** Two words a value, low first, two's complement (a negative high word wraps in the store). */
function toI64(a: Uint32Array, v: Float64Array, from: number, order: Uint32Array | undefined): void {
  const n = a.length >>> 1;
  for (let i = 0; i < n; i++) {
    const t = v[order ? order[i] : from + i];
    const x = Number.isFinite(t) ? (t > -9007199254740991 ? (t < 9007199254740991 ? Math.trunc(t) : 9007199254740991) : -9007199254740991) : 0;
    const h = Math.floor(x / 4294967296);
    a[2 * i] = x - h * 4294967296;
    a[2 * i + 1] = h;
  }
}

function writeConstant(out: Uint8Array, p: number, kind: Exclude<ColumnKind, 'string'>, value: number, n: number): number {
  const width = WIDTH[kind];
  if (n === 0) return p;
  writeNumbers(out, p, kind, Float64Array.of(value), 0, 1, undefined);
  // Doubling copies of the first value.
  let filled = width;
  const total = n * width;
  while (filled < total) {
    const chunk = Math.min(filled, total - filled);
    out.copyWithin(p + filled, p, p + chunk);
    filled += chunk;
  }
  return p + total;
}
