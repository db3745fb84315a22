// RowBinary bodies for ClickHouse: the layout read back field by field.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeBatch, EncodeScratch } from '../../../src/store/columnar.js';
import { rowBinary } from '../../../src/store/rowbinary.js';
import { COLUMNS, type Column } from '../../../src/store/schema.js';
import { flow, T0 } from './fixtures.js';
import { readRowBinary } from './rowbinary-reader.js';

/** A body's rows read back with the columns' kinds. */
const readRows = (buf: Buffer, columns: readonly Column[]) => readRowBinary(buf, columns.map((c) => c.kind));

describe('rowBinary', () => {
  it('writes every column of every row as the schema reads it: integers little-endian, strings with LEB128 lengths', () => {
    const long = 'x'.repeat(200) + 'ü';
    const records = [
      flow({ sourcePodName: 'web-1', octetDeltaCount: 2 ** 40 + 5, destinationTransportPort: 65535, ingressNetworkPolicyRuleName: "rule'x\\y\tz" }),
      flow({ sourcePodName: long, octetDeltaCount: Number.MAX_SAFE_INTEGER, sourceAddress: 'fd00::5', ipVersion: 6 }),
      flow({ sourcePodName: 'web-1', flowEndSeconds: T0 + 9, destinationAddress: '' }),
    ];
    const buf = rowBinary(encodeBatch(records, T0 + 1, COLUMNS, { dictionariesOnly: true }), COLUMNS);
    const rows = readRows(buf, COLUMNS);
    assert.equal(rows.length, 3);
    rows.forEach((row, i) => assert.deepEqual(row, COLUMNS.map((c) => c.value(records[i], T0 + 1)), `row ${i}`));
  });

  it('writes value-by-value string columns like dictionary ones', () => {
    const records = Array.from({ length: 5000 }, (_, i) => flow({ sourceAddress: `10.2.${i >> 8}.${i & 255}` }));
    const batch = encodeBatch(records, T0, COLUMNS);
    assert.equal(batch.columns[COLUMNS.findIndex((c) => c.name === 'sourceIP')].kind, 'strings');
    const rows = readRows(rowBinary(batch, COLUMNS), COLUMNS);
    assert.deepEqual(rows[4321], COLUMNS.map((c) => c.value(records[4321], T0)));
  });

  it('writes the same bytes with a reused scratch as without, batch after batch of different sizes and contents', () => {
    const scratch = new EncodeScratch();
    // Bigger, smaller, then bigger again: a reused buffer holds the previous batch's bytes past
    // the new one's end, and its cursors and indexes hold the previous values.
    const batches = [
      Array.from({ length: 700 }, (_, i) => flow({ sourcePodName: `a-${i % 13}`, sourceAddress: `10.1.${i >> 8}.${i & 255}`, octetDeltaCount: i * 1000 })),
      Array.from({ length: 3 }, (_, i) => flow({ sourcePodName: 'x'.repeat(300 + i), destinationAddress: i === 1 ? 'fd00:0::1' : 'fd00::1', ipVersion: 6 })),
      Array.from({ length: 1200 }, (_, i) => flow({ destinationPodName: `b-${i % 7}`, sourceTransportPort: i, ingressNetworkPolicyName: i % 3 ? '' : 'p' })),
    ];
    for (const [k, records] of batches.entries()) {
      const plain = rowBinary(encodeBatch(records, T0 + k, COLUMNS, { dictionariesOnly: true }), COLUMNS);
      const reused = rowBinary(encodeBatch(records, T0 + k, COLUMNS, { dictionariesOnly: true, scratch }), COLUMNS, scratch);
      assert.equal(reused.length, plain.length, `batch ${k}`);
      assert.ok(reused.equals(plain), `batch ${k}: the bytes differ`);
      assert.deepEqual(readRows(reused, COLUMNS)[records.length - 1], COLUMNS.map((c) => c.value(records[records.length - 1], T0 + k)));
    }
  });
});
