// RowBinary bodies of several row ranges with per-column sources (the ClickHouse rollup body:
// rollupBatch's rows of each rollup's finest tier, rollupOf a constant), read back field by field.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EncodeScratch, type EncodedBatch } from '../../../src/store/columnar.js';
import { rowBinaryRanges, type RowSource } from '../../../src/store/rowbinary.js';
import type { ColumnKind } from '../../../src/store/schema.js';
import { readRowBinary as readRows } from './rowbinary-reader.js';

const numbers = (...v: number[]) => ({ kind: 'number' as const, values: Float64Array.from(v) });
const strings = (dictionary: string[], indexes: number[]) => ({ kind: 'dictionary' as const, dictionary, indexes: Uint8Array.from(indexes) });

describe('rowBinaryRanges', () => {
  const batch: EncodedBatch = {
    rows: 4,
    columns: [
      numbers(1, 2, 3, 4),
      strings(['', 'ns-a', 'x'.repeat(200) + 'ü', 'é'], [1, 2, 0, 3]),
      numbers(-5, 2 ** 40 + 3, 7.9, Number.NaN),
      numbers(1_700_000_000, 0, 4_294_967_296, 12),
    ],
  };
  const kinds: ColumnKind[] = ['u8', 'time', 'string', 'string', 'u64', 'i64', 'u16', 'u32'];

  it('writes ranges one after another, each column from its source: a batch column, a constant, or zero', () => {
    const first: RowSource[] = [{ constant: 1 }, 3, 1, null, 2, 2, null, 0];
    const second: RowSource[] = [{ constant: 4 }, null, null, 1, 2, { constant: -3 }, 0, { constant: 9 }];
    const rows = readRows(
      rowBinaryRanges(
        [
          { batch, from: 1, to: 4, sources: first },
          { batch, from: 0, to: 2, sources: second },
        ],
        kinds,
      ),
      kinds,
    );
    assert.deepEqual(rows, [
      [1, 0, 'x'.repeat(200) + 'ü', '', 2 ** 40 + 3, 2 ** 40 + 3, 0, 2],
      [1, 4_294_967_295, '', '', 7, 7, 0, 3],
      [1, 12, 'é', '', 0, 0, 0, 4],
      [4, 0, '', 'ns-a', 0, -3, 1, 9],
      [4, 0, '', 'x'.repeat(200) + 'ü', 2 ** 40 + 3, -3, 2, 9],
    ]);
  });

  it('writes the same bytes into a reused scratch as into fresh memory, larger body after smaller', () => {
    const scratch = new EncodeScratch();
    const sources: RowSource[] = [0, 3, 1, 1, 2, 2, 0, 0];
    for (const to of [1, 4, 2, 4]) {
      const plain = rowBinaryRanges([{ batch, from: 0, to, sources }], kinds);
      const reused = rowBinaryRanges([{ batch, from: 0, to, sources }], kinds, scratch);
      assert.ok(reused.equals(plain), `rows 0-${to}`);
    }
  });

  it('encodes an all-ASCII dictionary and one with other characters alike (LEB128 lengths past 127 bytes)', () => {
    const long = 'a'.repeat(130);
    const ascii: EncodedBatch = { rows: 2, columns: [strings([long, 'b'], [0, 1])] };
    const other: EncodedBatch = { rows: 2, columns: [strings([long + 'ü', 'b'], [0, 1])] };
    assert.deepEqual(readRows(rowBinaryRanges([{ batch: ascii, from: 0, to: 2, sources: [0] }], ['string']), ['string']), [[long], ['b']]);
    assert.deepEqual(readRows(rowBinaryRanges([{ batch: other, from: 0, to: 2, sources: [0] }], ['string']), ['string']), [[long + 'ü'], ['b']]);
  });
});
