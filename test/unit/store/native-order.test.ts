// Row orders for the ClickHouse Native bodies (native-order.ts, clickhouse-native.ts): ranks in
// ClickHouse's byte order, the multi-key stable sort against a plain comparator sort, and the
// flows and rollup bodies written in their tables' ORDER BY order.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { flowsBody, rollupBody, ROLLUP_INPUT_NATIVE } from '../../../src/store/clickhouse-native.js';
import { completeBatch, encodeRows } from '../../../src/store/columnar.js';
import { dictionaryRanks, numberRanks, OrderScratch, sortRows, type RankKey } from '../../../src/store/native-order.js';
import { RollupScratch } from '../../../src/store/rollup-batch.js';
import { ALL_KEYS, ROLLUPS } from '../../../src/store/rollups.js';
import { COLUMNS } from '../../../src/store/schema.js';
import { rng } from '../../fixtures/ipfix/flows.js';
import { flow, T0 } from './fixtures.js';
import { readNative } from './native-reader.js';
import { rollupRecords, H0 } from './rollup-contract.js';


/** Compares as ClickHouse compares Strings: their UTF-8 bytes. */
const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

describe('dictionaryRanks', () => {
  it('ranks entries in UTF-8 byte order, where it differs from JS string order too', () => {
    // U+FF61 sorts after a surrogate pair as UTF-16, before it as UTF-8 (EF.. < F0..).
    const dictionary = ['web', '\uff61', '😀', '', 'Web', 'é', 'z', 'web-1'];
    const ranks = dictionaryRanks(dictionary);
    const expected = [...dictionary].sort(byBytes);
    assert.deepEqual(Array.from(ranks, (_, k) => expected.indexOf(dictionary[k])), Array.from(ranks));
    assert.ok(ranks[dictionary.indexOf('\uff61')] < ranks[dictionary.indexOf('😀')]);
  });
});

describe('numberRanks', () => {
  it('ranks a small range of integers by value and any other values by their place among the distinct ones', () => {
    const out = new Uint32Array(6);
    const small = numberRanks(Float64Array.of(99, 7, 5, 7, 5, 99), 1, 5, out);
    assert.equal(small.width, 3);
    assert.deepEqual(Array.from(out.subarray(1, 5)), [2, 0, 2, 0]);
    const wide = numberRanks(Float64Array.of(-1, 2 ** 40, 3.5, -1, 2 ** 40, 16_777_216), 0, 6, out);
    assert.equal(wide.width, 4);
    assert.deepEqual(Array.from(out), [0, 3, 1, 0, 3, 2]);
  });
});

describe('sortRows', () => {
  it('orders rows by several keys, the first most significant, equal rows in row order, as a comparator sort does', () => {
    const next = rng(7);
    const n = 5000;
    const widths = [3, 40, 1, 700];
    const keys: RankKey[] = widths.map((width) => ({ ranks: Uint32Array.from({ length: n }, () => Math.floor(next() * width)), width }));
    for (const [from, to] of [[0, n], [123, 4000]]) {
      const out = new Uint32Array(to - from);
      assert.equal(sortRows(keys, from, to, new OrderScratch(), out), true);
      const expected = Array.from({ length: to - from }, (_, i) => from + i).sort((a, b) => {
        for (const k of keys) if (k.ranks[a] !== k.ranks[b]) return k.ranks[a] - k.ranks[b];
        return a - b;
      });
      assert.deepEqual(Array.from(out), expected, `rows ${from}-${to}`);
    }
  });

  it('leaves rows that are in order already as they are', () => {
    const keys: RankKey[] = [{ ranks: Uint32Array.of(0, 0, 1, 1), width: 2 }, { ranks: Uint32Array.of(1, 1, 0, 5), width: 6 }];
    const out = new Uint32Array(4).fill(9);
    assert.equal(sortRows(keys, 0, 4, new OrderScratch(), out), false);
    assert.deepEqual(Array.from(out), [9, 9, 9, 9]);
    assert.equal(sortRows([{ ranks: Uint32Array.of(1, 0), width: 2 }], 0, 2, new OrderScratch(), new Uint32Array(2)), true);
  });
});

describe('the repository bodies in their tables order', () => {
  it("writes the flows in the flows table's ORDER BY order: hour (the server's), source and destination namespace, end", () => {
    const next = rng(11);
    const namespaces = ['shop', 'kube-system', '', 'ünï', 'Shop', 'shop-2'];
    const records = Array.from({ length: 3000 }, () =>
      flow({
        sourcePodNamespace: namespaces[Math.floor(next() * namespaces.length)],
        destinationPodNamespace: namespaces[Math.floor(next() * namespaces.length)],
        flowEndSeconds: T0 + Math.floor(next() * 4 * 3600),
      }),
    );
    const batch = completeBatch(encodeRows(records, T0, COLUMNS), COLUMNS, { dictionariesOnly: true, repeatedValues: true });
    const at = (name: string) => COLUMNS.findIndex((c) => c.name === name);
    for (const hourStart of [0, 1800]) {
      const rows = readNative(flowsBody(batch, COLUMNS, undefined, { scratch: new OrderScratch(), hourStart }), COLUMNS);
      const key = (row: (string | number)[]) => [Math.floor(((row[at('flowEndSeconds')] as number) - hourStart) / 3600), row[at('sourcePodNamespace')], row[at('destinationPodNamespace')], row[at('flowEndSeconds')]] as const;
      for (let i = 1; i < rows.length; i++) {
        const [a, b] = [key(rows[i - 1]), key(rows[i])];
        const cmp = a[0] - b[0] || byBytes(a[1] as string, b[1] as string) || byBytes(a[2] as string, b[2] as string) || (a[3] as number) - (b[3] as number);
        assert.ok(cmp <= 0, `hour start ${hourStart}: row ${i} before row ${i - 1}`);
      }
      // The same rows: the unordered body's, rearranged.
      const unordered = readNative(flowsBody(batch, COLUMNS), COLUMNS).map((r) => JSON.stringify(r)).sort();
      assert.deepEqual(rows.map((r) => JSON.stringify(r)).sort(), unordered);
    }
  });

  it("writes each rollup's rows in its tier tables' ORDER BY order (bucket, then the rollup's keys)", () => {
    const records = rollupRecords(3000, 41);
    const batch = completeBatch(encodeRows(records, H0, COLUMNS), COLUMNS, { dictionariesOnly: true, repeatedValues: true });
    const sorted = readNative(rollupBody(batch, new RollupScratch(), undefined, { scratch: new OrderScratch(), hourStart: 0 }).body, ROLLUP_INPUT_NATIVE);
    const plain = readNative(rollupBody(batch, new RollupScratch()).body, ROLLUP_INPUT_NATIVE);
    assert.deepEqual(sorted.map((r) => JSON.stringify(r)).sort(), plain.map((r) => JSON.stringify(r)).sort());
    const col = (name: string) => ROLLUP_INPUT_NATIVE.findIndex((c) => c.name === name);
    let outOfOrder = 0;
    for (let i = 1; i < sorted.length; i++) {
      const [a, b] = [sorted[i - 1], sorted[i]];
      assert.ok((a[0] as number) <= (b[0] as number), 'rollups one after another');
      if (a[0] !== b[0]) continue;
      const spec = ROLLUPS[(a[0] as number) - 1];
      let cmp = (a[col('bucket')] as number) - (b[col('bucket')] as number);
      for (const k of spec.keys) {
        if (cmp !== 0) break;
        const [x, y] = [a[col(k.name)], b[col(k.name)]];
        cmp = typeof x === 'string' ? byBytes(x, y as string) : x - (y as number);
      }
      assert.ok(cmp < 0, `rollup ${spec.name}: row ${i} not after row ${i - 1} (keys are distinct per bucket)`);
      if (plain[i - 1][0] === plain[i][0] && JSON.stringify(plain[i]) !== JSON.stringify(sorted[i])) outOfOrder++;
    }
    // The data must need the sort, or this test could not fail.
    assert.ok(outOfOrder > 0, 'rollupBatch gave its rows in order already');
    assert.ok(ALL_KEYS.length > 0);
  });
});
