// ClickHouse Native blocks (native.ts): the layout read back field by field by a plain reader
// of the format, for the flows (one range, in row order or in a given order) and for several
// ranges with per-column sources (the rollup rows).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeBatch, EncodeScratch, type EncodedBatch } from '../../../src/store/columnar.js';
import { nativeBlock, type NativeColumn, type RowSource } from '../../../src/store/native.js';
import { COLUMNS, type ColumnKind } from '../../../src/store/schema.js';
import { flow, T0 } from './fixtures.js';
import { readNative } from './native-reader.js';

const flowsBlock = (batch: EncodedBatch, scratch?: EncodeScratch, order?: Uint32Array) =>
  nativeBlock(COLUMNS, [{ batch, from: 0, to: batch.rows, sources: COLUMNS.map((_, c) => c), order }], scratch);

describe('nativeBlock', () => {
  it('writes every column of every row as the schema reads it: integers little-endian, strings with LEB128 lengths', () => {
    const long = 'x'.repeat(200) + 'ü';
    const records = [
      flow({ sourcePodName: 'web-1', octetDeltaCount: 2 ** 40 + 5, destinationTransportPort: 65535, ingressNetworkPolicyRuleName: "rule'x\\y\tz" }),
      flow({ sourcePodName: long, octetDeltaCount: Number.MAX_SAFE_INTEGER, sourceAddress: 'fd00::5', ipVersion: 6 }),
      flow({ sourcePodName: 'web-1', flowEndSeconds: T0 + 9, destinationAddress: '' }),
    ];
    const rows = readNative(flowsBlock(encodeBatch(records, T0 + 1, COLUMNS, { dictionariesOnly: true })), COLUMNS);
    assert.equal(rows.length, 3);
    rows.forEach((row, i) => assert.deepEqual(row, COLUMNS.map((c) => c.value(records[i], T0 + 1)), `row ${i}`));
  });

  it('writes value-by-value string columns like dictionary ones', () => {
    const records = Array.from({ length: 5000 }, (_, i) => flow({ sourceAddress: `10.2.${i >> 8}.${i & 255}` }));
    const batch = encodeBatch(records, T0, COLUMNS);
    assert.equal(batch.columns[COLUMNS.findIndex((c) => c.name === 'sourceIP')].kind, 'strings');
    const rows = readNative(flowsBlock(batch), COLUMNS);
    assert.deepEqual(rows[4321], COLUMNS.map((c) => c.value(records[4321], T0)));
  });

  it('writes the rows of an order in that order', () => {
    const records = Array.from({ length: 40 }, (_, i) => flow({ sourcePodName: `p-${i % 7}`, octetDeltaCount: 2 ** 33 * i + i, flowEndSeconds: T0 + i }));
    const order = Uint32Array.from(records.keys()).reverse();
    order[0] = 5;
    order[5] = 39;
    const rows = readNative(flowsBlock(encodeBatch(records, T0, COLUMNS, { dictionariesOnly: true }), undefined, order), COLUMNS);
    rows.forEach((row, i) => assert.deepEqual(row, COLUMNS.map((c) => c.value(records[order[i]], T0)), `row ${i}`));
  });

  it('writes the same bytes with a reused scratch as without, batch after batch of different sizes and contents', () => {
    const scratch = new EncodeScratch();
    // Bigger, smaller, then bigger again: a reused buffer holds the previous batch's bytes past
    // the new one's end, and its pools and indexes hold the previous values.
    const batches = [
      Array.from({ length: 700 }, (_, i) => flow({ sourcePodName: `a-${i % 13}`, sourceAddress: `10.1.${i >> 8}.${i & 255}`, octetDeltaCount: i * 1000 })),
      Array.from({ length: 3 }, (_, i) => flow({ sourcePodName: 'x'.repeat(300 + i), destinationAddress: i === 1 ? 'fd00:0::1' : 'fd00::1', ipVersion: 6 })),
      Array.from({ length: 1200 }, (_, i) => flow({ destinationPodName: `b-${i % 7}`, sourceTransportPort: i, ingressNetworkPolicyName: i % 3 ? '' : 'p' })),
    ];
    for (const [k, records] of batches.entries()) {
      const plain = flowsBlock(encodeBatch(records, T0 + k, COLUMNS, { dictionariesOnly: true }));
      const reused = flowsBlock(encodeBatch(records, T0 + k, COLUMNS, { dictionariesOnly: true, scratch }), scratch);
      assert.equal(reused.length, plain.length, `batch ${k}`);
      assert.ok(reused.equals(plain), `batch ${k}: the bytes differ`);
      assert.deepEqual(readNative(reused, COLUMNS)[records.length - 1], COLUMNS.map((c) => c.value(records[records.length - 1], T0 + k)));
    }
  });
});

describe('nativeBlock of several ranges', () => {
  const numbers = (...v: number[]) => ({ kind: 'number' as const, values: Float64Array.from(v) });
  const strings = (dictionary: string[], indexes: number[]) => ({ kind: 'dictionary' as const, dictionary, indexes: Uint8Array.from(indexes) });
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
  const columns: NativeColumn[] = kinds.map((kind, c) => ({ name: `c${c}`, kind }));

  it('writes ranges one after another in each column, each column from its source: a batch column, a constant, or zero', () => {
    const first: RowSource[] = [{ constant: 1 }, 3, 1, null, 2, 2, null, 0];
    const second: RowSource[] = [{ constant: 4 }, null, null, 1, 2, { constant: -3 }, 0, { constant: 9 }];
    const body = nativeBlock(
      columns,
      [
        { batch, from: 1, to: 4, sources: first },
        { batch, from: 0, to: 2, sources: second },
      ],
    );
    assert.deepEqual(readNative(body, columns), [
      [1, 0, 'x'.repeat(200) + 'ü', '', 2 ** 40 + 3, 2 ** 40 + 3, 0, 2],
      [1, 4_294_967_295, '', '', 7, 7, 0, 3],
      [1, 12, 'é', '', 0, 0, 0, 4],
      [4, 0, '', 'ns-a', 0, -3, 1, 9],
      [4, 0, '', 'x'.repeat(200) + 'ü', 2 ** 40 + 3, -3, 2, 9],
    ]);
  });

  it('writes a column of one value in every row (a long string, a 64-bit number) as that value in each row, in any order', () => {
    const long = 'y'.repeat(300) + 'é';
    const constant: EncodedBatch = {
      rows: 5,
      columns: [strings(['other', long], [1, 1, 1, 1, 1]), numbers(2 ** 40 + 1, 2 ** 40 + 1, 2 ** 40 + 1, 2 ** 40 + 1, 2 ** 40 + 1), numbers(3, 3, 3, 3, Number.NaN)],
    };
    const cols: NativeColumn[] = [
      { name: 's', kind: 'string' },
      { name: 'n', kind: 'u64' },
      { name: 'm', kind: 'u32' },
    ];
    const expected = [3, 3, 3, 3, 0].map((m) => [long, 2 ** 40 + 1, m]);
    assert.deepEqual(readNative(nativeBlock(cols, [{ batch: constant, from: 0, to: 5, sources: [0, 1, 2] }]), cols), expected);
    const order = Uint32Array.of(4, 2, 0, 1, 3);
    assert.deepEqual(readNative(nativeBlock(cols, [{ batch: constant, from: 0, to: 5, sources: [0, 1, 2], order }]), cols), [...order].map((i) => expected[i]));
  });

  it('writes a range in its order when it has one', () => {
    const sources: RowSource[] = [0, 3, 1, 1, 2, 2, 0, 0];
    const inOrder = readNative(nativeBlock(columns, [{ batch, from: 0, to: 4, sources }]), columns);
    const reordered = readNative(nativeBlock(columns, [{ batch, from: 1, to: 4, sources, order: Uint32Array.of(3, 1, 2) }]), columns);
    assert.deepEqual(reordered, [inOrder[3], inOrder[1], inOrder[2]]);
    assert.throws(() => nativeBlock(columns, [{ batch, from: 0, to: 4, sources, order: Uint32Array.of(1, 2) }]), /order of 2 rows/);
  });

  it('writes the same bytes into a reused scratch as into fresh memory, larger body after smaller', () => {
    const scratch = new EncodeScratch();
    const sources: RowSource[] = [0, 3, 1, 1, 2, 2, 0, 0];
    for (const to of [1, 4, 2, 4]) {
      const plain = nativeBlock(columns, [{ batch, from: 0, to, sources }]);
      const reused = nativeBlock(columns, [{ batch, from: 0, to, sources }], scratch);
      assert.ok(reused.equals(plain), `rows 0-${to}`);
    }
  });

  it('encodes an all-ASCII dictionary and one with other characters alike (LEB128 lengths past 127 bytes)', () => {
    const long = 'a'.repeat(130);
    const one: NativeColumn[] = [{ name: 's', kind: 'string' }];
    const ascii: EncodedBatch = { rows: 2, columns: [strings([long, 'b'], [0, 1])] };
    const other: EncodedBatch = { rows: 2, columns: [strings([long + 'ü', 'b'], [0, 1])] };
    assert.deepEqual(readNative(nativeBlock(one, [{ batch: ascii, from: 0, to: 2, sources: [0] }]), one), [[long], ['b']]);
    assert.deepEqual(readNative(nativeBlock(one, [{ batch: other, from: 0, to: 2, sources: [0] }]), one), [[long + 'ü'], ['b']]);
  });

  it('writes a block of no rows as its header and the columns names and types', () => {
    const body = nativeBlock(columns, [{ batch, from: 2, to: 2, sources: [0, 3, 1, 1, 2, 2, 0, 0] }]);
    assert.deepEqual(readNative(body, columns), []);
  });
});
