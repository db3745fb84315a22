// A Parquet file writer for one batch of flow rows (https://parquet.apache.org/docs/file-format/),
// written for the embedded store's segments: one row group, one column chunk per column, every
// column REQUIRED (the flows schema has no NULLs), uncompressed.
//
//   "PAR1"
//   per column   [dictionary page header][dictionary: PLAIN byte arrays]   (string columns)
//                [data page header (v1)][values]
//                  numbers: PLAIN, INT32 (u8/u16/u32) or INT64 (time/u64/i64), little-endian;
//                           a column of one value: a one-entry dictionary and one RLE run
//                  strings: RLE_DICTIONARY: one byte bit width, then the dictionary indexes as
//                           the RLE / bit-packed hybrid (runs of 16 or more equal indexes as RLE runs)
//                REQUIRED and not nested: no repetition or definition levels
//   FileMetaData (Thrift compact, thrift.ts) with min/max statistics of every number column, so
//   that DuckDB skips a segment whose time range a query's WHERE excludes
//   footer length (u32 LE) "PAR1"
//
// Input is a batch as the columnar encoder produces it (columnar.ts): typed arrays of numbers
// and per-batch dictionaries with an index per row, which is already the dictionary encoding.
// Numbers are written in the same pass that finds their range (through a Uint32Array view of the
// page), ASCII strings a char at a time, and the segment thread builds every file in one reused
// block of memory (WriteArena): a 245,760-row segment's pages took 307-310 ms of CPU before,
// 124-136 ms after (alternating, load 7-8), the bytes the same.
import { endianness } from 'node:os';
import { plainImageOf, type EncodedColumn } from '../columnar.js';
import { StoreError } from '../errors.js';
import { writeUleb128 } from '../leb128.js';
import { clampedValues, KIND_RANGES, type ColumnKind } from '../schema.js';
import { CompactWriter } from './thrift.js';

const MAGIC = Buffer.from('PAR1', 'latin1');
const HOST_IS_LE = endianness() === 'LE';

// parquet.thrift enums
const TYPE_INT32 = 1;
const TYPE_INT64 = 2;
const TYPE_BYTE_ARRAY = 6;
const REQUIRED = 0;
const CONVERTED_UTF8 = 0;
const CONVERTED_UINT = { u8: 11, u16: 12, u32: 13, u64: 14 } as const;
const ENCODING_PLAIN = 0;
const ENCODING_RLE = 3;
const ENCODING_RLE_DICTIONARY = 8;
const CODEC_UNCOMPRESSED = 0;
const PAGE_DATA = 0;
const PAGE_DICTIONARY = 2;

export interface ParquetColumn {
  readonly name: string;
  readonly kind: ColumnKind;
  /** Numbers for number kinds; a dictionary (with indexes) for strings. */
  readonly data: EncodedColumn;
}

/** Per kind: the range a value must lie in (schema.ts), and whether it takes 8 bytes. */
const RANGES: Record<Exclude<ColumnKind, 'string'>, { min: number; max: number; wide: boolean }> = {
  time: { ...KIND_RANGES.time, wide: true },
  i64: { ...KIND_RANGES.i64, wide: true },
  u64: { ...KIND_RANGES.u64, wide: true },
  u32: { ...KIND_RANGES.u32, wide: false },
  u16: { ...KIND_RANGES.u16, wide: false },
  u8: { ...KIND_RANGES.u8, wide: false },
};

interface Chunk {
  column: ParquetColumn;
  /** Byte offset of the chunk's first page in the file. */
  offset: number;
  dictionaryOffset: number;
  dataOffset: number;
  size: number;
  min: number;
  max: number;
}

/**
 * Where a file's pages are written: fresh memory per file, or (WriteArena) one block of memory
 * reused by every file of a thread that writes each file out before it builds the next.
 */
export interface PageMemory {
  /** At least n bytes (contents undefined), 8-byte aligned. */
  take(n: number): Buffer;
  /** The first `length` bytes of the last buffer taken; the rest is given back. */
  keep(b: Buffer, length: number): Buffer;
}

const FRESH: PageMemory = {
  take: (n) => Buffer.allocUnsafeSlow(n),
  keep: (b, length) => b.subarray(0, length),
};

/**
 * Page memory reused from one file to the next: a segment's pages come to about 31 MB, and
 * allocated per file they kept the segment thread's GC busy (a sixth of its time). A file's
 * buffers are valid until the next reset().
 */
export class WriteArena implements PageMemory {
  private block: Buffer = Buffer.allocUnsafeSlow(0);
  private used = 0;
  /** Bytes the current file has taken, across blocks. */
  private total = 0;

  /** Starts a new file: the previous file's buffers may be overwritten from now on. */
  reset(): void {
    // A file that outgrew the block gets one block its size (and a quarter) from the next file on.
    if (this.total > this.block.length) this.block = Buffer.allocUnsafeSlow(this.total + (this.total >>> 2));
    this.used = 0;
    this.total = 0;
  }

  take(n: number): Buffer {
    const size = (n + 7) & ~7;
    this.total += size;
    if (this.used + size > this.block.length) {
      // Past the block: fresh memory for the rest of this file (earlier buffers stay valid).
      this.block = Buffer.allocUnsafeSlow(Math.max(size, 2 * this.block.length, 1 << 20));
      this.used = 0;
    }
    const b = this.block.subarray(this.used, this.used + n);
    this.used += size;
    return b;
  }

  keep(b: Buffer, length: number): Buffer {
    const freed = ((b.length + 7) & ~7) - ((length + 7) & ~7);
    if (b.buffer === this.block.buffer && b.byteOffset + ((b.length + 7) & ~7) === this.block.byteOffset + this.used) {
      this.used -= freed;
      this.total -= freed;
    }
    return b.subarray(0, length);
  }
}

/**
 * The bytes of a Parquet file holding `rows` rows of `columns`, as buffers to write one after
 * the other (writev). A number outside its kind's range is an error (as the table's cast is):
 * nothing is clamped. With a WriteArena, the buffers live in its memory until its next reset().
 */
export function parquetFile(rows: number, columns: readonly ParquetColumn[], createdBy = 'flowvis', memory: PageMemory = FRESH): Buffer[] {
  if (memory instanceof WriteArena) memory.reset();
  const out: Buffer[] = [MAGIC];
  let offset = MAGIC.length;
  const chunks: Chunk[] = [];
  for (const column of columns) {
    const start = offset;
    let dictionaryOffset = -1;
    let min = 0;
    let max = 0;
    let values: Buffer;
    let dataEncoding: number;
    if (column.kind === 'string') {
      if (column.data.kind === 'number') throw new StoreError('STORE_ERR_UNAVAILABLE', `parquet column ${column.name}: a string column was given numbers`);
      const dictionary = plainStrings(column.data.dictionary, memory);
      const entries = column.data.dictionary.length;
      const header = pageHeader(PAGE_DICTIONARY, dictionary.length, (w) => w.struct(7, (d) => d.i32(1, entries).i32(2, ENCODING_PLAIN)));
      dictionaryOffset = offset;
      out.push(header, dictionary);
      offset += header.length + dictionary.length;
      values = dictionaryIndexes(column.data.indexes, rows, column.data.dictionary.length, memory);
      dataEncoding = ENCODING_RLE_DICTIONARY;
    } else {
      if (column.data.kind !== 'number') throw new StoreError('STORE_ERR_UNAVAILABLE', `parquet column ${column.name}: a number column was given strings`);
      const range = RANGES[column.kind];
      const plain = plainNumbers(column.data.values, rows, range.min, range.max, range.wide, memory);
      min = plain.min;
      max = plain.max;
      if (plain.bytes === null) {
        // One value in every row: a one-entry dictionary and a single RLE run.
        const entry = range.wide ? int64Bytes(min) : int32Bytes(min);
        const header = pageHeader(PAGE_DICTIONARY, entry.length, (w) => w.struct(7, (d) => d.i32(1, 1).i32(2, ENCODING_PLAIN)));
        dictionaryOffset = offset;
        out.push(header, entry);
        offset += header.length + entry.length;
        values = constantIndexes(rows);
        dataEncoding = ENCODING_RLE_DICTIONARY;
      } else {
        values = plain.bytes;
        dataEncoding = ENCODING_PLAIN;
      }
    }
    const header = pageHeader(PAGE_DATA, values.length, (w) =>
      w.struct(5, (d) => d.i32(1, rows).i32(2, dataEncoding).i32(3, ENCODING_RLE).i32(4, ENCODING_RLE)),
    );
    const dataOffset = offset;
    out.push(header, values);
    offset += header.length + values.length;
    chunks.push({ column, offset: start, dictionaryOffset, dataOffset, size: offset - start, min, max });
  }
  const footer = fileMetaData(rows, chunks, createdBy);
  const tail = Buffer.allocUnsafe(8);
  tail.writeUInt32LE(footer.length, 0);
  MAGIC.copy(tail, 4);
  out.push(footer, tail);
  return out;
}

function pageHeader(type: number, size: number, fill: (w: CompactWriter) => void): Buffer {
  const w = new CompactWriter(64);
  w.i32(1, type).i32(2, size).i32(3, size);
  fill(w);
  w.end();
  return Buffer.from(w.bytes());
}

/** Little-endian bytes of a safe integer, 8 of them (Statistics' min_value / max_value). */
function int64Bytes(v: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  const hi = Math.floor(v / 4294967296);
  b.writeUInt32LE(v - hi * 4294967296, 0);
  b.writeInt32LE(hi, 4);
  return b;
}

function int32Bytes(v: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32LE(v >>> 0, 0);
  return b;
}

function fileMetaData(rows: number, chunks: readonly Chunk[], createdBy: string): Buffer {
  const w = new CompactWriter(16 * 1024);
  w.i32(1, 1);
  const schema: (ParquetColumn | null)[] = [null, ...chunks.map((c) => c.column)];
  w.listOfStructs(2, schema, (e, column) => {
    if (column === null) {
      e.binary(4, 'schema').i32(5, chunks.length);
      return;
    }
    const kind = column.kind;
    if (kind === 'string') {
      e.i32(1, TYPE_BYTE_ARRAY).i32(3, REQUIRED).binary(4, column.name).i32(6, CONVERTED_UTF8);
      e.struct(10, (l) => l.struct(1, () => undefined));
      return;
    }
    const wide = RANGES[kind].wide;
    e.i32(1, wide ? TYPE_INT64 : TYPE_INT32).i32(3, REQUIRED).binary(4, column.name);
    const bits = { time: 64, i64: 64, u64: 64, u32: 32, u16: 16, u8: 8 }[kind];
    const signed = kind === 'time' || kind === 'i64';
    if (!signed) e.i32(6, CONVERTED_UINT[kind as keyof typeof CONVERTED_UINT]);
    e.struct(10, (l) => l.struct(10, (i) => i.byteField(1, bits).bool(2, signed)));
  });
  w.i64(3, rows);
  let total = 0;
  for (const c of chunks) total += c.size;
  w.listOfStructs(4, [0], (g) => {
    g.listOfStructs(1, chunks, (cc, c) => {
      cc.i64(2, c.offset);
      cc.struct(3, (m) => {
        const kind = c.column.kind;
        const type = kind === 'string' ? TYPE_BYTE_ARRAY : RANGES[kind].wide ? TYPE_INT64 : TYPE_INT32;
        m.i32(1, type);
        m.listOfI32(2, c.dictionaryOffset >= 0 ? [ENCODING_PLAIN, ENCODING_RLE, ENCODING_RLE_DICTIONARY] : [ENCODING_PLAIN, ENCODING_RLE]);
        m.listOfStrings(3, [c.column.name]);
        m.i32(4, CODEC_UNCOMPRESSED);
        m.i64(5, rows).i64(6, c.size).i64(7, c.size).i64(9, c.dataOffset);
        if (c.dictionaryOffset >= 0) m.i64(11, c.dictionaryOffset);
        if (kind !== 'string' && rows > 0) {
          const bytes = RANGES[kind].wide ? int64Bytes : int32Bytes;
          m.struct(12, (s) => s.i64(3, 0).binary(5, bytes(c.max)).binary(6, bytes(c.min)));
        }
      });
    });
    g.i64(2, total).i64(3, rows).i64(5, chunks.length > 0 ? chunks[0].offset : MAGIC.length).i64(6, total);
  });
  w.binary(6, createdBy);
  w.end();
  return Buffer.from(w.bytes());
}

/**
 * PLAIN values of a number column, rounded as DuckDB casts a DOUBLE to an integer (half away
 * from zero), with their min and max; a value outside [lo, hi] is clamped into it. One pass writes the
 * values as integers while it finds the range and checks each value; a column of one value is
 * returned as `constant` (the caller writes it as a one-entry dictionary and a single RLE run),
 * and a column with a fraction is written again, rounded (a second pass only then).
 */
function plainNumbers(values: Float64Array, rows: number, lo: number, hi: number, wide: boolean, memory: PageMemory): { bytes: Buffer | null; min: number; max: number } {
  if (rows === 0) return { bytes: Buffer.alloc(0), min: 0, max: 0 };
  const bytes = memory.take(rows * (wide ? 8 : 4));
  const aligned = HOST_IS_LE && bytes.byteOffset % 4 === 0;
  const words = aligned ? new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4) : null;
  let scan: NumberScan;
  if (words !== null) scan = wide ? writeInt64Words(words, values, rows) : writeInt32Words(words, values, rows);
  else scan = scanNumbers(values, rows);
  if (scan.bad || !(scan.min >= lo && scan.max <= hi)) {
    // A value the column's type cannot hold (a port above 65535, a counter past 2^53, NaN): it is
    // stored clamped into the type's range (NaN as 0), as the ClickHouse writer stores it
    // (native.ts), instead of failing the batch, which the sink would retry forever.
    values = clampedValues(values, rows, lo, hi);
    scan = words !== null ? (wide ? writeInt64Words(words, values, rows) : writeInt32Words(words, values, rows)) : scanNumbers(values, rows);
  }
  let { min, max } = scan;
  if (min === max && scan.integral) {
    memory.keep(bytes, 0);
    return { bytes: null, min, max };
  }
  const source = scan.integral ? values : roundedHalfAway(values, rows);
  if (!scan.integral) {
    min = roundHalfAway(min);
    max = roundHalfAway(max);
  }
  if (words !== null && !scan.integral) {
    if (wide) writeInt64Words(words, source, rows);
    else writeInt32Words(words, source, rows);
  } else if (words === null && wide) {
    for (let i = 0; i < rows; i++) {
      const v = source[i];
      const h = Math.floor(v / 4294967296);
      bytes.writeUInt32LE(v - h * 4294967296, i * 8);
      bytes.writeInt32LE(h, i * 8 + 4);
    }
  } else if (words === null) {
    for (let i = 0; i < rows; i++) bytes.writeUInt32LE(source[i] >>> 0, i * 4);
  }
  return { bytes, min, max };
}

/** A number column's range, whether every value is an integer, and whether any value is NaN. */
interface NumberScan {
  min: number;
  max: number;
  integral: boolean;
  /** A NaN was seen (it is neither below nor above anything): the caller finds and names it. */
  bad: boolean;
}

function scanNumbers(values: Float64Array, rows: number): NumberScan {
  let min = Infinity;
  let max = -Infinity;
  let integral = true;
  let bad = false;
  for (let i = 0; i < rows; i++) {
    const v = values[i];
    if (v < min) min = v;
    if (v > max) max = v;
    if (Math.floor(v) !== v) {
      integral = false;
      if (v !== v) bad = true;
    }
  }
  return { min, max, integral, bad };
}

function roundHalfAway(v: number): number {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}

function roundedHalfAway(values: Float64Array, rows: number): Float64Array {
  const out = new Float64Array(rows);
  for (let i = 0; i < rows; i++) out[i] = roundHalfAway(values[i]);
  return out;
}

/** An RLE_DICTIONARY data page of `rows` copies of index 0: bit width 1, one RLE run. */
function constantIndexes(rows: number): Buffer {
  const out = Buffer.allocUnsafe(12);
  out[0] = 1;
  let off = writeUleb128(out, 1, rows * 2);
  out[off++] = 0;
  return out.subarray(0, off);
}

/** Writes safe integers as INT64 little-endian words (the low word first) while scanning them as scanNumbers does. */
function writeInt64Words(words: Uint32Array, values: Float64Array, rows: number): NumberScan {
  let min = Infinity;
  let max = -Infinity;
  let integral = true;
  let bad = false;
  for (let i = 0; i < rows; i++) {
    const v = values[i];
    if (v < min) min = v;
    if (v > max) max = v;
    if (v >= 0 && v < 4294967296) {
      words[2 * i] = v;
      words[2 * i + 1] = 0;
    } else {
      const h = Math.floor(v / 4294967296);
      words[2 * i] = v - h * 4294967296;
      words[2 * i + 1] = h >>> 0;
    }
    if (Math.floor(v) !== v) {
      integral = false;
      if (v !== v) bad = true;
    }
  }
  return { min, max, integral, bad };
}

function writeInt32Words(words: Uint32Array, values: Float64Array, rows: number): NumberScan {
  let min = Infinity;
  let max = -Infinity;
  let integral = true;
  let bad = false;
  for (let i = 0; i < rows; i++) {
    const v = values[i];
    if (v < min) min = v;
    if (v > max) max = v;
    words[i] = v;
    if (Math.floor(v) !== v) {
      integral = false;
      if (v !== v) bad = true;
    }
  }
  return { min, max, integral, bad };
}

/**
 * A dictionary page's values: PLAIN BYTE_ARRAY, each a u32 LE length and its UTF-8 bytes. ASCII
 * strings (names, addresses) are copied a char at a time, which for strings this short costs less
 * than a call into the UTF-8 encoder each; a string with any other char goes through it.
 */
function plainStrings(dictionary: readonly string[], memory: PageMemory): Buffer {
  // An address dictionary comes with its page already encoded (columnar.ts plainImageOf).
  const image = plainImageOf(dictionary);
  if (image !== undefined) {
    let size = 0;
    for (const piece of image) size += piece.length;
    const b = memory.take(size);
    let at = 0;
    for (const piece of image) at += b.write(piece, at, piece.length, 'latin1');
    return memory.keep(b, at);
  }
  let bound = 0;
  for (const s of dictionary) bound += 4 + s.length * 3;
  const b = memory.take(bound);
  let off = 0;
  for (const s of dictionary) {
    const len = s.length;
    const start = off + 4;
    let i = 0;
    while (i < len) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      b[start + i] = c;
      i++;
    }
    const n = i === len ? len : b.write(s, start, 'utf8');
    b.writeUInt32LE(n, off);
    off = start + n;
  }
  return memory.keep(b, off);
}

/** Bit width of indexes below `size` (at least 1). */
export function bitWidth(size: number): number {
  return size <= 2 ? 1 : 32 - Math.clz32(size - 1);
}

/**
 * A dictionary data page's values: the bit width, then the RLE / bit-packed hybrid:
 *   rle-run          varint(count << 1), the value in ceil(width / 8) bytes LE
 *   bit-packed-run   varint(groups << 1 | 1), groups x 8 values packed LSB first in width bits
 * Bit-packed runs hold multiples of 8 values; the last one is padded (the page header has the count).
 */
export function dictionaryIndexes(indexes: ArrayLike<number>, n: number, size: number, memory: PageMemory = FRESH): Buffer {
  const width = bitWidth(size);
  if (width > 24) throw new StoreError('STORE_ERR_UNAVAILABLE', `a dictionary of ${size} values is beyond this writer (2^24)`);
  const valueBytes = (width + 7) >> 3;
  const out = memory.take(1 + Math.ceil(n / 8) * width + (Math.floor(n / 16) + 2) * (5 + valueBytes) + 16);
  out[0] = width;
  let off = 1;
  let pending = 0;
  let i = 0;
  const flush = (end: number): void => {
    if (end <= pending) return;
    const groups = Math.ceil((end - pending) / 8);
    off = writeUleb128(out, off, groups * 2 + 1);
    off = bitPack(out, off, indexes, pending, pending + groups * 8, end, width);
  };
  while (i + 8 <= n) {
    const v = indexes[i];
    let j = i + 1;
    while (j < n && indexes[j] === v) j++;
    if (j - i >= 16) {
      flush(i);
      off = writeUleb128(out, off, (j - i) * 2);
      for (let k = 0; k < valueBytes; k++) out[off++] = (v >>> (8 * k)) & 0xff;
      i = j;
      pending = i;
    } else {
      i += 8;
    }
  }
  flush(n);
  return memory.keep(out, off);
}

/** Packs indexes[from, to) (values at or beyond `end` as 0) LSB first, `width` bits each. */
function bitPack(out: Buffer, off: number, indexes: ArrayLike<number>, from: number, to: number, end: number, width: number): number {
  let acc = 0;
  let bits = 0;
  for (let i = from; i < to; i++) {
    const v = i < end ? indexes[i] : 0;
    acc |= v << bits;
    bits += width;
    while (bits >= 8) {
      out[off++] = acc & 0xff;
      acc >>>= 8;
      bits -= 8;
    }
    // A value's bits beyond the 32 of `acc`: width + bits can reach 31 (24 + 7), no more.
  }
  if (bits > 0) out[off++] = acc & 0xff;
  return off;
}
