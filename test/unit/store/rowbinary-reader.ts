// Reads a RowBinary body back field by field with the column kinds: the plain definition of
// the format (https://clickhouse.com/docs/en/interfaces/formats#rowbinary), for the tests of
// rowbinary.ts's writers.
import assert from 'node:assert/strict';
import type { ColumnKind } from '../../../src/store/schema.js';

export function readRowBinary(buf: Buffer, kinds: readonly ColumnKind[]): (number | string)[][] {
  const rows: (number | string)[][] = [];
  let off = 0;
  while (off < buf.length) {
    const row: (number | string)[] = [];
    for (const kind of kinds) {
      if (kind === 'u8') row.push(buf.readUInt8(off++));
      else if (kind === 'u16') (row.push(buf.readUInt16LE(off)), (off += 2));
      else if (kind === 'u32' || kind === 'time') (row.push(buf.readUInt32LE(off)), (off += 4));
      else if (kind === 'u64') (row.push(Number(buf.readBigUInt64LE(off))), (off += 8));
      else if (kind === 'i64') (row.push(Number(buf.readBigInt64LE(off))), (off += 8));
      else {
        let len = 0;
        let shift = 0;
        for (;;) {
          const b = buf[off++];
          len += (b & 0x7f) * 2 ** shift;
          shift += 7;
          if (b < 0x80) break;
        }
        row.push(buf.toString('utf8', off, off + len));
        off += len;
      }
    }
    rows.push(row);
  }
  assert.equal(off, buf.length, 'the body ends with its last row');
  return rows;
}
