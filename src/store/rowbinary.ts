// ClickHouse RowBinary for the flows table: rows one after another, columns in COLUMNS order,
// no header (https://clickhouse.com/docs/en/interfaces/formats#rowbinary; Debian's 18.16 reads it).
//
//   UInt8 / UInt16 / UInt32 / UInt64   little-endian, 1 / 2 / 4 / 8 bytes
//   Int64                              little-endian two's complement, 8 bytes
//   DateTime                           UInt32, unix seconds
//   String                             LEB128 length, then the UTF-8 bytes
//
// Built from a columnar batch (columnar.ts): each distinct string is encoded once, the buffer is
// sized first and allocated once, then filled row by row. The server parses this with no
// text-to-number conversion, and JS builds no per-field strings.
import type { EncodedBatch, EncodeScratch } from './columnar.js';
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
 * another in one buffer, addressed by start and length per dictionary entry. Written in place:
 * ASCII strings byte by byte, others with Buffer#write, no buffer per string.
 */
function encodePool(dictionary: readonly string[]): { bytes: Buffer; start: Uint32Array; length: Uint32Array } {
  const m = dictionary.length;
  const start = new Uint32Array(m);
  const length = new Uint32Array(m);
  const utf8 = new Uint32Array(m);
  let total = 0;
  for (let k = 0; k < m; k++) {
    const u = utf8Length(dictionary[k]);
    utf8[k] = u;
    start[k] = total;
    length[k] = lebLength(u) + u;
    total += length[k];
  }
  const bytes = Buffer.allocUnsafe(total);
  for (let k = 0; k < m; k++) {
    const value = dictionary[k];
    let len = utf8[k];
    let off = start[k];
    while (len >= 0x80) {
      bytes[off++] = (len & 0x7f) | 0x80;
      len >>>= 7;
    }
    bytes[off++] = len;
    if (utf8[k] === value.length) for (let i = 0; i < value.length; i++) bytes[off + i] = value.charCodeAt(i);
    else bytes.write(value, off, 'utf8');
  }
  return { bytes, start, length };
}

/** Clamps a JS number into an unsigned integer range (the schema's readers already floor and zero bad values). */
function unsigned(v: number, max: number): number {
  return v > 0 ? (v < max ? Math.floor(v) : max) : 0;
}

/**
 * The RowBinary body of a batch for `columns` (the same list the batch was encoded with).
 * Filled column by column, with a write cursor per row: each column's loop is small and
 * monomorphic, where a row-by-row loop would switch on the column kind 52 times a row.
 */
export function rowBinary(batch: EncodedBatch, columns: readonly Column[], scratch?: EncodeScratch): Buffer {
  const n = batch.rows;
  // With a scratch (the batch's own, see EncodeScratch), the body lives in the scratch's memory
  // too: valid until the scratch is used again. Its last slot is past the batch's columns.
  const cursor = scratch ? scratch.u32(columns.length, n).fill(0) : new Uint32Array(n);
  // Row sizes: the fixed widths, plus each row's strings. Each string column's encoded values
  // go into one pool, addressed by start and length per dictionary entry.
  let fixed = 0;
  const pools: ({ bytes: Buffer; start: Uint32Array; length: Uint32Array } | null)[] = [];
  for (let c = 0; c < columns.length; c++) {
    const col = batch.columns[c];
    if (col.kind === 'number') {
      fixed += WIDTH[columns[c].kind as Exclude<ColumnKind, 'string'>];
      pools.push(null);
      continue;
    }
    const { bytes, start, length } = encodePool(col.dictionary);
    pools.push({ bytes, start, length });
    const idx = col.indexes;
    for (let i = 0; i < n; i++) cursor[i] += length[idx[i]];
  }
  // Sizes to row starts.
  let size = 0;
  for (let i = 0; i < n; i++) {
    const rowSize = fixed + cursor[i];
    cursor[i] = size;
    size += rowSize;
  }
  const buf = scratch ? scratch.bytes(size) : Buffer.allocUnsafe(size);
  const out = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let c = 0; c < columns.length; c++) {
    const col = batch.columns[c];
    if (col.kind !== 'number') {
      const { bytes, start, length } = pools[c]!;
      const idx = col.indexes;
      for (let i = 0; i < n; i++) {
        const k = idx[i];
        const from = start[k];
        const len = length[k];
        const at = cursor[i];
        // Short strings (names, IP keys: 33 bytes) byte by byte; longer ones with one native copy.
        if (len <= 64) for (let b = 0; b < len; b++) out[at + b] = bytes[from + b];
        else bytes.copy(buf, at, from, from + len);
        cursor[i] = at + len;
      }
      continue;
    }
    const v = col.values;
    switch (columns[c].kind) {
      case 'u8':
        for (let i = 0; i < n; i++) out[cursor[i]++] = unsigned(v[i], 0xff);
        break;
      case 'u16':
        for (let i = 0; i < n; i++) {
          view.setUint16(cursor[i], unsigned(v[i], 0xffff), true);
          cursor[i] += 2;
        }
        break;
      case 'time':
      case 'u32':
        for (let i = 0; i < n; i++) {
          view.setUint32(cursor[i], unsigned(v[i], 0xffffffff), true);
          cursor[i] += 4;
        }
        break;
      case 'i64':
        for (let i = 0; i < n; i++) {
          const x = Number.isFinite(v[i]) ? Math.max(-Number.MAX_SAFE_INTEGER, Math.min(Number.MAX_SAFE_INTEGER, Math.trunc(v[i]))) : 0;
          const high = Math.floor(x / 0x1_0000_0000);
          const at = cursor[i];
          view.setUint32(at, x - high * 0x1_0000_0000, true);
          view.setInt32(at + 4, high, true);
          cursor[i] = at + 8;
        }
        break;
      default:
        for (let i = 0; i < n; i++) {
          const u = unsigned(v[i], Number.MAX_SAFE_INTEGER);
          const at = cursor[i];
          view.setUint32(at, u % 0x1_0000_0000, true);
          view.setUint32(at + 4, Math.floor(u / 0x1_0000_0000), true);
          cursor[i] = at + 8;
        }
    }
  }
  return buf;
}
