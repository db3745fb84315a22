// Reading records into columns (columnar.ts): address columns read canonical IPv4 text as
// 32-bit values and give it back as text, keys and networks when the batch is completed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ArrayPool, completeBatch, encodeBatch, encodeRows, plainImageOf, rawBuffers, transferable, type EncodedBatch } from '../../../src/store/columnar.js';
import { ipKey, ipNet, ipv4Key, ipv4Net, ipv4Text, ipv4Value } from '../../../src/store/ip-key.js';
import { COLUMN_NAMES, COLUMNS } from '../../../src/store/schema.js';
import { flow } from './fixtures.js';

/** The text of row `row` of a string column, or the number of a number column. */
function cell(batch: EncodedBatch, name: string, row: number): string | number {
  const column = batch.columns[COLUMN_NAMES.indexOf(name as (typeof COLUMN_NAMES)[number])];
  return column.kind === 'number' ? column.values[row] : column.dictionary[column.indexes[row]];
}

const ADDRESSES = [
  '10.0.0.1',
  '10.0.0.1',
  '0.0.0.0',
  '255.255.255.255',
  '192.168.100.200',
  '010.0.0.1', // not canonical: kept as text, never rewritten to 10.0.0.1
  '10.0.0.1.',
  '1.2.3',
  '256.1.1.1',
  '',
  'fd00::1',
  'fd00:0::1', // the same key as fd00::1
  '::ffff:10.0.0.1', // the same key and network as 10.0.0.1
  '10.0.0.1',
  'fd00::1',
];

describe('ipv4Value', () => {
  it('reads canonical dotted quads only', () => {
    assert.equal(ipv4Value('10.1.2.3'), 0x0a010203);
    assert.equal(ipv4Value('255.255.255.255'), 0xffffffff);
    assert.equal(ipv4Value('0.0.0.0'), 0);
    for (const text of ['', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1.2.3.256', '1.2.3.4 ', 'a.b.c.d', '1..2.3', '::1', '1.2.3.1000', '.1.2.3']) {
      assert.equal(ipv4Value(text), -1, JSON.stringify(text));
    }
  });

  it('round-trips through ipv4Text, and gives the keys and networks of the text', () => {
    let x = 7;
    for (let i = 0; i < 2000; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const text = ipv4Text(x);
      assert.equal(ipv4Value(text), x, text);
      assert.equal(ipv4Key(x), ipKey(text), text);
      assert.equal(ipv4Net(x), ipNet(text), text);
    }
  });
});

describe('address columns', () => {
  const records = ADDRESSES.map((a, i) => flow({ sourceAddress: a, destinationAddress: ADDRESSES[ADDRESSES.length - 1 - i] }));

  for (const repeatedValues of [false, true]) {
    it(`give back every address, key and network as the text has them (${repeatedValues ? 'Parquet dictionaries' : 'distinct dictionaries'})`, () => {
      const batch = completeBatch(encodeRows(records, 1000), COLUMNS, { dictionariesOnly: true, repeatedValues });
      records.forEach((r, row) => {
        for (const [side, text] of [['source', r.sourceAddress], ['destination', r.destinationAddress]] as const) {
          assert.equal(cell(batch, `${side}IP`, row), text, `${side}IP of row ${row}`);
          assert.equal(cell(batch, `${side}IPKey`, row), ipKey(text), `${side}IPKey of ${text}`);
          assert.equal(cell(batch, `${side}IPNet`, row), ipNet(text), `${side}IPNet of ${text}`);
        }
      });
      if (!repeatedValues) {
        for (const column of batch.columns) {
          if (column.kind !== 'number') assert.equal(new Set(column.dictionary).size, column.dictionary.length, 'a dictionary holds distinct values');
        }
      }
    });
  }

  it('number each distinct address once, in order of first appearance', () => {
    const raw = encodeRows(records, 1000);
    const c = COLUMN_NAMES.indexOf('sourceIP');
    const entries = raw.numbers[c]!;
    const texts = [...entries].map((v) => (v >= 0 ? ipv4Text(v) : raw.dictionaries[c]![-v - 1]));
    assert.deepEqual(texts, [...new Set(ADDRESSES)]);
    assert.deepEqual([...raw.indexes[c]!].map((k) => texts[k]), ADDRESSES);
  });

  it('keep batches apart: a smaller batch after a large one sees none of its addresses', () => {
    const many = Array.from({ length: 5000 }, (_, i) => flow({ sourceAddress: `10.${i >> 8}.${i & 255}.1` }));
    const first = encodeBatch(many, 1000);
    assert.equal(cell(first, 'sourceIP', 4999), '10.19.135.1');
    const later = encodeBatch([flow({ sourceAddress: '10.0.7.1' }), flow({ sourceAddress: '10.0.7.1' }), flow({ sourceAddress: '10.0.8.1' })], 1001);
    const column = later.columns[COLUMN_NAMES.indexOf('sourceIP')];
    assert.ok(column.kind === 'dictionary');
    assert.deepEqual(column.dictionary, ['10.0.7.1', '10.0.8.1']);
    assert.deepEqual([0, 1, 2].map((row) => cell(later, 'sourceIP', row)), ['10.0.7.1', '10.0.7.1', '10.0.8.1']);
  });
});

/** The Parquet PLAIN encoding of a dictionary (u32 LE length, UTF-8 bytes per value), written out value by value. */
function plainEncoding(dictionary: readonly string[]): Buffer {
  return Buffer.concat(
    dictionary.flatMap((text) => {
      const bytes = Buffer.from(text, 'utf8');
      const length = Buffer.alloc(4);
      length.writeUInt32LE(bytes.length);
      return [length, bytes];
    }),
  );
}

describe('address dictionaries', () => {
  // Mostly distinct IPv4 sources (several image pieces and table growths), with every odd text of
  // ADDRESSES among them; destinations repeat (few distinct: read through the map of texts from
  // the second batch on).
  const records = Array.from({ length: 30_000 }, (_, i) =>
    flow({
      sourceAddress: i % 1000 === 0 ? ADDRESSES[(i / 1000) % ADDRESSES.length] : `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      destinationAddress: i % 7 === 0 ? ADDRESSES[i % ADDRESSES.length] : `172.16.${i % 40}.${(i * 7) % 3}`,
    }),
  );

  it('come with their PLAIN page, byte for byte the encoding of their values, keys too', () => {
    for (let pass = 0; pass < 2; pass++) {
      const batch = completeBatch(encodeRows(records, 1000), COLUMNS, { dictionariesOnly: true, repeatedValues: true });
      for (const name of ['sourceIP', 'destinationIP', 'sourceIPKey', 'destinationIPKey']) {
        const column = batch.columns[COLUMN_NAMES.indexOf(name as (typeof COLUMN_NAMES)[number])];
        assert.ok(column.kind !== 'number');
        const image = plainImageOf(column.dictionary);
        assert.ok(image !== undefined, `${name} has an image`);
        assert.ok(Buffer.from(image.join(''), 'latin1').equals(plainEncoding(column.dictionary)), `${name}: image = encoding of its values`);
        if (name === 'sourceIP') assert.ok(image.length > 1, 'the sources image is in pieces');
      }
      records.forEach((r, row) => {
        if (row % 97 !== 0 && row % 1000 !== 0 && row % 7 !== 0) return;
        for (const [side, text] of [['source', r.sourceAddress], ['destination', r.destinationAddress]] as const) {
          assert.equal(cell(batch, `${side}IP`, row), text, `${side}IP of row ${row}, pass ${pass}`);
          assert.equal(cell(batch, `${side}IPKey`, row), ipKey(text), `${side}IPKey of ${text}`);
        }
      });
    }
  });

  it('number every address of a batch in order of first appearance, read through the table or the map of texts', () => {
    const c = COLUMN_NAMES.indexOf('destinationIP');
    const few = records.slice(0, 5000);
    // The first batch of few distinct destinations is read through the table, the second through the map.
    for (let pass = 0; pass < 2; pass++) {
      const raw = encodeRows(few, 1000);
      const texts = [...raw.numbers[c]!].map((v) => (v >= 0 ? ipv4Text(v) : raw.dictionaries[c]![-v - 1]));
      const expected = [...new Set(few.map((r) => r.destinationAddress))];
      assert.deepEqual(texts, expected, `pass ${pass}`);
      assert.deepEqual([...raw.indexes[c]!].map((k) => texts[k]), few.map((r) => r.destinationAddress), `pass ${pass}`);
    }
    // Then a batch of distinct destinations (through the map, since the last batch had few).
    const many = Array.from({ length: 3000 }, (_, i) => flow({ destinationAddress: i % 500 === 0 ? 'fd00::1' : `10.1.${i >> 8}.${i & 255}` }));
    const raw = encodeRows(many, 1000);
    const texts = [...raw.numbers[c]!].map((v) => (v >= 0 ? ipv4Text(v) : raw.dictionaries[c]![-v - 1]));
    assert.deepEqual([...raw.indexes[c]!].map((k) => texts[k]), many.map((r) => r.destinationAddress));
    assert.equal(texts.length, new Set(many.map((r) => r.destinationAddress)).size);
  });

  it('are built string by string, without an image, when a non-address text is not ASCII', () => {
    const odd = [flow({ sourceAddress: '10.0.0.1' }), flow({ sourceAddress: 'pöd' }), flow({ sourceAddress: '10.0.0.2' })];
    const batch = completeBatch(encodeRows(odd, 1000), COLUMNS, { dictionariesOnly: true, repeatedValues: true });
    const column = batch.columns[COLUMN_NAMES.indexOf('sourceIP')];
    assert.ok(column.kind !== 'number');
    assert.equal(plainImageOf(column.dictionary), undefined);
    assert.deepEqual([0, 1, 2].map((row) => cell(batch, 'sourceIP', row)), ['10.0.0.1', 'pöd', '10.0.0.2']);
    assert.deepEqual([0, 1, 2].map((row) => cell(batch, 'sourceIPKey', row)), [ipKey('10.0.0.1'), '', ipKey('10.0.0.2')]);
  });
});

describe('the generated row reader', () => {
  it('reads every column as its value function does, odd field values included', () => {
    const odd = [
      flow({}),
      flow({ octetDeltaCount: 12.7, packetDeltaCount: -3, throughput: Infinity, flowEndSeconds: Number.NaN, destinationServicePort: 8080 }),
      { ...flow({}), octetTotalCount: '17', sourcePodName: 42, destinationPodName: null, tcpState: undefined, flowStartSeconds: '1700000000', reverseThroughput: 1e20 } as unknown as ReturnType<typeof flow>,
    ];
    const raw = encodeRows(odd, 1234);
    COLUMNS.forEach((column, c) => {
      if (column.derived) return;
      odd.forEach((r, row) => {
        const got = column.kind === 'string' ? cell(completeBatch(raw), column.name, row) : raw.numbers[c]![row];
        assert.equal(got, column.value(r, 1234), `${column.name} of record ${row}`);
      });
    });
    assert.equal(raw.numbers[COLUMN_NAMES.indexOf('octetDeltaCount')]![1], 12, 'a fractional count is floored');
    assert.equal(raw.numbers[COLUMN_NAMES.indexOf('packetDeltaCount')]![1], 0, 'a negative count is 0');
    assert.equal(raw.numbers[COLUMN_NAMES.indexOf('octetTotalCount')]![2], 0, 'a count given as text is 0');
    assert.equal(raw.numbers[COLUMN_NAMES.indexOf('flowStartSeconds')]![2], 1_700_000_000, 'a time given as text is read as a number');
    assert.equal(cell(completeBatch(raw), 'destinationPodName', 2), '');
    assert.equal(cell(completeBatch(raw), 'sourcePodName', 2), '42');
  });
});

describe('columns that follow another (Column.follows)', () => {
  it('read every value right when a Pod name comes with another namespace or Node than before', () => {
    // Pods mostly keep their namespace and Node, but the same name recurs in other namespaces,
    // '' names Pods of many namespaces, and policies share names across namespaces.
    const records = Array.from({ length: 3000 }, (_, i) => {
      const pod = i % 37;
      const moved = i % 11 === 0;
      return flow({
        sourcePodName: pod === 0 ? '' : `pod-${pod}`,
        sourcePodNamespace: moved ? `ns-${i % 5}` : `ns-${pod % 3}`,
        sourceNodeName: i % 13 === 0 ? `node-${i % 7}` : `node-${pod % 4}`,
        destinationPodName: `pod-${(pod * 7) % 37}`,
        destinationPodNamespace: `ns-${i % 2}`,
        ingressNetworkPolicyName: i % 3 === 0 ? 'allow' : '',
        ingressNetworkPolicyNamespace: i % 3 === 0 ? `ns-${i % 4}` : '',
        ingressNetworkPolicyRuleName: i % 3 === 0 ? `rule-${i % 6}` : '',
      });
    });
    const batch = completeBatch(encodeRows(records, 1000), COLUMNS, { dictionariesOnly: true });
    const followers = COLUMNS.filter((c) => c.follows !== undefined);
    assert.ok(followers.length >= 6);
    records.forEach((r, row) => {
      for (const c of followers) assert.equal(cell(batch, c.name, row), c.value(r, 1000), `${c.name} of row ${row}`);
      assert.equal(cell(batch, 'sourcePodName', row), r.sourcePodName);
    });
  });
});

describe('ArrayPool', () => {
  it('gives a batch the smallest free buffer that holds each array, and new ones beyond', () => {
    const pool = new ArrayPool(1 << 20);
    const first = pool.source();
    const big = first.f64(0, 1000);
    const small = first.u32(1, 100);
    assert.equal(big.length, 1000);
    assert.equal(small.length, 100);
    assert.ok(big.buffer instanceof SharedArrayBuffer, 'shared: posting it to the segment thread neither copies it nor counts as external memory');
    pool.give([big.buffer, small.buffer]);
    assert.equal(pool.freeBytes, 8000 + 400);
    const next = pool.source();
    const a = next.u32(0, 50);
    assert.equal(a.buffer, small.buffer, 'the 400-byte buffer is the smallest that holds 200 bytes');
    assert.equal(a.length, 50);
    const b = next.f64(1, 900);
    assert.equal(b.buffer, big.buffer);
    const c = next.f64(2, 10);
    assert.notEqual(c.buffer, big.buffer);
    assert.notEqual(c.buffer, small.buffer);
    assert.equal(pool.freeBytes, 0);
  });

  it('holds no more than its bound, and leaves buffers of other kinds to the collector', () => {
    const pool = new ArrayPool(10_000);
    const s = pool.source();
    const arrays = [s.f64(0, 1000), s.f64(1, 1000)];
    pool.give([...arrays.map((x) => x.buffer), new ArrayBuffer(64)]);
    assert.equal(pool.freeBytes, 8000, 'the second 8,000-byte buffer would pass the bound; a plain ArrayBuffer is not kept');
  });

  it('keeps its shared buffers out of transfer lists, which refuse them', () => {
    const shared = new ArrayPool().source().u32(0, 16);
    const plain = new Uint32Array(16);
    const raw = { rows: 16, insertedAtSeconds: 0, numbers: [undefined], dictionaries: [], indexes: [shared, plain] };
    const buffers = rawBuffers(raw);
    assert.equal(buffers.length, 2);
    assert.deepEqual(transferable(buffers), [plain.buffer]);
    assert.throws(() => structuredClone(shared, { transfer: [shared.buffer as unknown as ArrayBuffer] }));
    const copy = structuredClone(shared, { transfer: transferable([shared.buffer]) });
    copy[3] = 99;
    assert.equal(shared[3], 99, 'a posted shared array is the same memory');
  });

  it('reads records into pooled arrays as into fresh ones', () => {
    const records = ADDRESSES.map((a, i) => flow({ sourceAddress: a, octetDeltaCount: i * 1000 }));
    const pool = new ArrayPool();
    const fresh = completeBatch(encodeRows(records, 1000), COLUMNS, { dictionariesOnly: true });
    // Buffers with old contents, larger than the batch needs.
    pool.give(Array.from({ length: 120 }, () => new Float64Array(new SharedArrayBuffer(512)).fill(7).buffer));
    const pooled = completeBatch(encodeRows(records, 1000, COLUMNS, pool.source()), COLUMNS, { dictionariesOnly: true });
    records.forEach((_, row) => {
      for (const c of COLUMNS) assert.equal(cell(pooled, c.name, row), cell(fresh, c.name, row), `${c.name} of row ${row}`);
    });
  });
});
