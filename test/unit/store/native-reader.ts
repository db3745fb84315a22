// Reads a ClickHouse Native block back field by field: the plain definition of the format
// (https://clickhouse.com/docs/en/interfaces/formats#native; over HTTP no block-info header),
// for the tests of native.ts's writer and of the repository's bodies.
import assert from 'node:assert/strict';
import { NATIVE_TYPES, type NativeColumn } from '../../../src/store/native.js';

function readLeb(buf: Buffer, at: { off: number }): number {
  let value = 0;
  let shift = 0;
  for (;;) {
    const b = buf[at.off++];
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (b < 0x80) return value;
  }
}

/**
 * A Native block read back: the header's counts, each column's name and type, then its values
 * (https://clickhouse.com/docs/en/interfaces/formats#native; over HTTP no block-info header).
 * Returns the rows, one array of values per row.
 */
export function readNative(buf: Buffer, columns: readonly NativeColumn[]): (number | string)[][] {
  const at = { off: 0 };
  assert.equal(readLeb(buf, at), columns.length, 'column count');
  const rows = readLeb(buf, at);
  const out: (number | string)[][] = Array.from({ length: rows }, () => []);
  for (const column of columns) {
    const text = () => {
      const len = readLeb(buf, at);
      const s = buf.toString('utf8', at.off, at.off + len);
      at.off += len;
      return s;
    };
    assert.equal(text(), column.name);
    assert.equal(text(), NATIVE_TYPES[column.kind]);
    for (let i = 0; i < rows; i++) {
      const kind = column.kind;
      let v: number | string;
      if (kind === 'u8') v = buf.readUInt8(at.off++);
      else if (kind === 'u16') (v = buf.readUInt16LE(at.off)), (at.off += 2);
      else if (kind === 'u32' || kind === 'time') (v = buf.readUInt32LE(at.off)), (at.off += 4);
      else if (kind === 'u64') (v = Number(buf.readBigUInt64LE(at.off))), (at.off += 8);
      else if (kind === 'i64') (v = Number(buf.readBigInt64LE(at.off))), (at.off += 8);
      else v = text();
      out[i].push(v);
    }
  }
  assert.equal(at.off, buf.length, 'the block ends with its last column');
  return out;
}

