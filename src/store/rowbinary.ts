// ClickHouse RowBinary for the flows table: rows one after another, columns in COLUMNS order,
// no header (https://clickhouse.com/docs/en/interfaces/formats#rowbinary; Debian's 18.16 reads it).
//
//   UInt8 / UInt16 / UInt32 / UInt64   little-endian, 1 / 2 / 4 / 8 bytes
//   Int64                              little-endian two's complement, 8 bytes
//   DateTime                           UInt32, unix seconds
//   String                             LEB128 length, then the UTF-8 bytes
//
// Built from a columnar batch (columnar.ts): each distinct string is encoded once, the buffer is
// sized first and allocated once, then filled row by row, front to back. The server parses this with no
// text-to-number conversion, and JS builds no per-field strings.
import type { EncodedBatch, EncodedColumn, EncodeScratch } from './columnar.js';
import type { Column, ColumnKind } from './schema.js';

const WIDTH: Record<Exclude<ColumnKind, 'string'>, number> = { time: 4, u8: 1, u16: 2, u32: 4, u64: 8, i64: 8 };

/** The length of a LEB128-encoded number. */
function lebLength(len: number): number {
  let prefix = 1;
  while (len >= 0x80) {
    len >>>= 7;
    prefix++;
  }
  return prefix;
}

/** The UTF-8 length of a string: its length when it is ASCII (no call into the runtime), else Buffer.byteLength. */
function utf8Length(value: string): number {
  for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) >= 0x80) return Buffer.byteLength(value, 'utf8');
  return value.length;
}

/**
 * A column's distinct strings as RowBinary (LEB128 length, then the UTF-8 bytes), one after
 * another in one buffer, addressed by start and length per dictionary entry. When every value
 * is ASCII (one native check over the values joined), each one's UTF-8 length is its length and
 * the joined text is written by one native call, then copied behind the prefixes; reading the
 * values a character at a time cost about 40 ms a 50,000-row batch (their 100,000 address
 * texts and keys). Otherwise each value is measured and written on its own.
 */
function encodePool(dictionary: readonly string[], scratch?: EncodeScratch, slot = 0): { bytes: Buffer; start: Uint32Array; length: Uint32Array } {
  const m = dictionary.length;
  // With a scratch, in its memory (buffer slots 3 * slot ...): valid until the scratch is used again.
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
    length[k] = lebLength(u) + u;
    total += length[k];
  }
  const bytes = scratch ? scratch.buffer(3 * slot + 1, total) : Buffer.allocUnsafe(total);
  let raw: Buffer | null = null;
  if (ascii) {
    raw = scratch ? scratch.buffer(3 * slot + 2, text.length) : Buffer.allocUnsafe(text.length);
    raw.write(text, 0, text.length, 'latin1');
  }
  let from = 0;
  for (let k = 0; k < m; k++) {
    const u = utf8[k];
    let len = u;
    let off = start[k];
    while (len >= 0x80) {
      bytes[off++] = (len & 0x7f) | 0x80;
      len >>>= 7;
    }
    bytes[off++] = len;
    if (raw) {
      for (let i = 0; i < u; i++) bytes[off + i] = raw[from + i];
      from += u;
    } else {
      bytes.write(dictionary[k], off, 'utf8');
    }
  }
  return { bytes, start, length };
}

/**
 * The RowBinary body of a batch for `columns` (the same list the batch was encoded with).
 * `scratch`: the body lives in the scratch's memory (the batch's own, see EncodeScratch), valid
 * until the scratch is used again.
 */
export function rowBinary(batch: EncodedBatch, columns: readonly Column[], scratch?: EncodeScratch): Buffer {
  const sources = columns.map((_, c) => c);
  return rowBinaryRanges([{ batch, from: 0, to: batch.rows, sources }], columns.map((c) => c.kind), scratch);
}

/**
 * Where one output column of a range of rows takes its values: a column of the range's batch
 * (its position), a constant number, or null: the kind's zero ('' for a string).
 */
export type RowSource = number | { readonly constant: number } | null;

/** Rows [from, to) of a batch, written as output rows with one source per output column. */
export interface RowRange {
  readonly batch: EncodedBatch;
  readonly from: number;
  readonly to: number;
  readonly sources: readonly RowSource[];
}

type Pool = { bytes: Buffer; start: Uint32Array; length: Uint32Array };

/**
 * One RowBinary body of several ranges of rows, one after another (a batch's flows: one range;
 * its rollup rows: one range per rollup's finest tier), for output columns of `kinds`.
 * Each string column's dictionary is encoded once however many ranges read it. The size is
 * summed first (fixed widths, plus each string column's lengths by index), the buffer taken
 * once, then written row after row, front to back, by a function compiled for the range's
 * layout (rangeWriter). With a scratch, the body lives in its memory, valid until the scratch is
 * used again.
 */
export function rowBinaryRanges(ranges: readonly RowRange[], kinds: readonly ColumnKind[], scratch?: EncodeScratch): Buffer {
  const pools = new Map<EncodedColumn, Pool>();
  const poolOf = (col: EncodedColumn & { dictionary: readonly string[] }): Pool => {
    let p = pools.get(col);
    if (p === undefined) pools.set(col, (p = encodePool(col.dictionary, scratch, pools.size)));
    return p;
  };
  let fixed = 0;
  for (const kind of kinds) if (kind !== 'string') fixed += WIDTH[kind];
  let size = 0;
  const plans = ranges.map((r) => {
    const rows = r.to - r.from;
    size += fixed * rows;
    const layout: string[] = [];
    const args: unknown[] = [];
    for (let c = 0; c < kinds.length; c++) {
      const src = r.sources[c];
      const col = typeof src === 'number' ? r.batch.columns[src] : null;
      if (kinds[c] === 'string') {
        if (col === null || col.kind === 'number') {
          layout.push('z');
          args.push(null);
          size += rows;
        } else {
          const pool = poolOf(col);
          layout.push('s');
          args.push(col.indexes, pool.bytes, pool.start, pool.length);
          size += stringBytes(col.indexes, pool.length, r.from, r.to);
        }
      } else if (col !== null && col.kind === 'number') {
        layout.push('n');
        args.push(col.values);
      } else if (src !== null && typeof src === 'object') {
        layout.push('c');
        args.push(src.constant);
      } else {
        layout.push('z');
        args.push(null);
      }
    }
    return { writer: rangeWriter(kinds, layout), args };
  });
  const buf = scratch ? scratch.bytes(size) : Buffer.allocUnsafe(size);
  const out = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let p = 0;
  for (let k = 0; k < ranges.length; k++) p = plans[k].writer(buf, out, view, p, ranges[k].from, ranges[k].to, plans[k].args);
  if (p !== size) throw new Error(`RowBinary body: wrote ${p} bytes of ${size}`);
  return buf;
}

/** The bytes of a string column's values in rows [from, to). */
function stringBytes(idx: ArrayLike<number>, length: Uint32Array, from: number, to: number): number {
  let total = 0;
  for (let i = from; i < to; i++) total += length[idx[i]];
  return total;
}

type RangeWriter = (buf: Buffer, out: Uint8Array, view: DataView, p: number, from: number, to: number, args: readonly unknown[]) => number;

const rangeWriters = new Map<string, RangeWriter>();

/**
 * Compiles, once per layout (each column's kind and where its values come from: 'n' a number
 * column, 's' a string column, 'c' a constant, 'z' zero or ''), a function that writes rows
 * [from, to) front to back from the column arrays. Filling the body column by column with a
 * cursor per row wrote 54 times across the whole 17 MB body of a 50,000-row batch (a cache miss
 * per row per column), and called through one shared loop per kind; a row at a time, each value
 * goes right after the one before, and each column's array is read in order. The source text
 * holds only array positions and the kinds' fixed code.
 */
function rangeWriter(kinds: readonly ColumnKind[], layout: readonly string[]): RangeWriter {
  const key = kinds.map((k, c) => `${k}:${layout[c]}`).join(',');
  let writer = rangeWriters.get(key);
  if (writer) return writer;
  const head: string[] = [];
  const body: string[] = [];
  let a = 0;
  for (let c = 0; c < kinds.length; c++) {
    const kind = kinds[c];
    const from = layout[c];
    if (from === 's') {
      head.push(`const x${c} = args[${a}], b${c} = args[${a + 1}], s${c} = args[${a + 2}], l${c} = args[${a + 3}];`);
      a += 4;
      // Short strings (names, IP keys: 33 bytes) byte by byte; longer ones with one native copy.
      body.push(`{ const k = x${c}[i], at = s${c}[k], n = l${c}[k]; if (n <= 64) { for (let j = 0; j < n; j++) out[p + j] = b${c}[at + j]; } else b${c}.copy(buf, p, at, at + n); p += n; }`);
      continue;
    }
    if (from === 'n') head.push(`const v${c} = args[${a}];`);
    if (from === 'c') head.push(`const k${c} = args[${a}];`);
    a += 1;
    if (from === 'z') {
      body.push(kind === 'string' ? 'out[p++] = 0;' : `for (let j = 0; j < ${WIDTH[kind]}; j++) out[p + j] = 0; p += ${WIDTH[kind]};`);
      continue;
    }
    const value = from === 'n' ? `v${c}[i]` : `k${c}`;
    body.push(`{ const t = ${value}; ${NUMBER_CODE[kind as Exclude<ColumnKind, 'string'>]} }`);
  }
  const source = `return function writeRows(buf, out, view, p, from, to, args) {
  ${head.join('\n  ')}
  for (let i = from; i < to; i++) {
    ${body.join('\n    ')}
  }
  return p;
};`;
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- generated from the column kinds' fixed code and array positions (see above)
  writer = new Function(source)() as RangeWriter;
  rangeWriters.set(key, writer);
  return writer;
}

/**
 * Each number kind's code for value `t` at `p` (then past it): unsigned kinds clamped into their
 * range and floored (the schema's readers already floor and zero bad values), Int64 truncated
 * within the safe integers; little-endian.
 */
const NUMBER_CODE: Record<Exclude<ColumnKind, 'string'>, string> = {
  u8: 'out[p++] = t > 0 ? (t < 255 ? Math.floor(t) : 255) : 0;',
  u16: 'const u = t > 0 ? (t < 65535 ? Math.floor(t) : 65535) : 0; out[p] = u & 255; out[p + 1] = u >>> 8; p += 2;',
  u32: 'view.setUint32(p, t > 0 ? (t < 4294967295 ? Math.floor(t) : 4294967295) : 0, true); p += 4;',
  time: 'view.setUint32(p, t > 0 ? (t < 4294967295 ? Math.floor(t) : 4294967295) : 0, true); p += 4;',
  u64:
    'const u = t > 0 ? (t < 9007199254740991 ? Math.floor(t) : 9007199254740991) : 0; ' +
    'if (u < 4294967296) { view.setUint32(p, u, true); view.setUint32(p + 4, 0, true); } ' +
    'else { const h = Math.floor(u / 4294967296); view.setUint32(p, u - h * 4294967296, true); view.setUint32(p + 4, h, true); } p += 8;',
  i64:
    'const x = Number.isFinite(t) ? Math.max(-9007199254740991, Math.min(9007199254740991, Math.trunc(t))) : 0; ' +
    'const h = Math.floor(x / 4294967296); view.setUint32(p, x - h * 4294967296, true); view.setInt32(p + 4, h, true); p += 8;',
};
