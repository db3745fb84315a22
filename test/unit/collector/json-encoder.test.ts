// The byte-writing JSON and text encoders the collector prints with: each line must be what
// JSON.stringify (or, for values it cannot print, the documented literal) says, whatever the
// values, the key order, the shape changes between records, or the size of a record.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { JsonLineEncoder, TextBlockEncoder, jsonValue, recordToJson, recordToText, textValue } from '../../../src/collector/format.js';
import type { DataRecord, IpfixValue } from '../../../src/ipfix/api.js';
import type { CollectedRecord } from '../../../src/collector/types.js';

function encodeLine(encoder: JsonLineEncoder, record: DataRecord): string {
  const length = encoder.encode(record);
  return encoder.buffer.toString('utf8', 0, length);
}

/** JSON.stringify of the record, with each bigint put in as its exact integer literal. */
function stringifyWithBigints(record: DataRecord): string {
  const bigints: string[] = [];
  const plain = JSON.stringify(record, (_key, value: unknown) => {
    if (typeof value !== 'bigint') return value;
    bigints.push(value.toString());
    return `\u0000BIGINT${bigints.length - 1}\u0000`;
  });
  return plain.replace(/"\\u0000BIGINT(\d+)\\u0000"/g, (_m, i: string) => bigints[Number(i)]);
}

/** The plain definition of a line: keys in order, each value as jsonValue prints it. */
function referenceLine(record: DataRecord): string {
  return `{${Object.keys(record).map((k) => `${JSON.stringify(k)}:${jsonValue(record[k])}`).join(',')}}`;
}

/** The plain definition of a text block. */
function referenceText(entry: CollectedRecord): string {
  const keys = Object.keys(entry.record);
  const width = Math.max(0, ...keys.map((k) => k.length));
  return (
    `IPFIX record from ${entry.exporter}, observation domain ${entry.observationDomainId}, ` +
    `template ${entry.templateId}, exported ${new Date(entry.exportTime * 1000).toISOString()}\n` +
    keys.map((k) => `  ${k.padEnd(width)}  ${textValue(entry.record[k])}\n`).join('') +
    '\n'
  );
}

const INTEGERS = [
  0, 1, 9, 10, 99, 100, 12345, 99999, 100000, 999999, 1000000, 9999999, 10000000, 99999999, 100000000,
  999999999, 1000000000, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, -1, -9, -10, -(2 ** 31) + 1,
  -(2 ** 31), -(2 ** 53) + 1, 1_000_000_001, 999_999_999_999, 1_000_000_000_000, 1_700_000_000_123,
  1_700_000_000_000_007, 10 ** 15, -1_000_000_000, -1_000_000_000_009,
];
const FLOATS = [0.5, -0.5, 0.1, 1e21, 1e-7, 123.456, -1.5e-300, Number.MAX_VALUE, Number.MIN_VALUE, -0];

describe('JsonLineEncoder', () => {
  it('prints integers of every digit count and sign, and floats, as JSON.stringify does', () => {
    const encoder = new JsonLineEncoder();
    for (const n of [...INTEGERS, ...FLOATS]) {
      const record = { packetDeltaCount: n, flowEndReason: 3 };
      assert.equal(encodeLine(encoder, record), JSON.stringify(record) + '\n', `value ${n}`);
    }
  });

  it('prints a line equal to JSON.stringify of the expected object for every value type', () => {
    const record: DataRecord = {
      flowStartSeconds: 1_700_000_000,
      octetTotalCount: 2n ** 64n - 1n,
      flowStartNanoseconds: 2n ** 53n + 1n,
      packetTotalCount: 2 ** 53 - 1,
      reverseOctetDeltaCount: -(2n ** 63n),
      samplingProbability: 0.25,
      isMulticast: true,
      dataRecordsReliability: false,
      sourceIPv4Address: '10.0.0.1',
      destinationIPv6Address: 'fd00:10:244:1::abcd',
      sourceIPv6Address: '::ffff:10.0.0.1',
      sourceMacAddress: 'fe:dc:ba:98:76:54',
      opaqueOctets: new Uint8Array([0x00, 0x0f, 0x10, 0xab, 0xff]),
      emptyOctets: new Uint8Array(0),
      interfaceName: '',
      sourcePodName: 'frontend-6b7d9c8f5d-x2x7q',
      quoted: 'say "hi" \\ back',
      controls: '\u0000\u0001\b\t\n\f\r\u001f\u007f',
      nonAscii: 'é ✓ 日本 😀',
      loneSurrogate: 'a\ud800b\udc00',
    };
    const expected = stringifyWithBigints({
      ...record,
      opaqueOctets: '000f10abff',
      emptyOctets: '',
    } as DataRecord);
    assert.match(expected, /"octetTotalCount":18446744073709551615,/);
    assert.match(expected, /"reverseOctetDeltaCount":-9223372036854775808,/);
    assert.equal(encodeLine(new JsonLineEncoder(), record), expected + '\n');
    assert.equal(recordToJson(record), expected);
  });

  it('prints non-finite floats as strings, and an empty record as {}', () => {
    const encoder = new JsonLineEncoder();
    assert.equal(
      encodeLine(encoder, { a: Number.NaN, b: Number.POSITIVE_INFINITY, c: Number.NEGATIVE_INFINITY }),
      '{"a":"NaN","b":"Infinity","c":"-Infinity"}\n',
    );
    assert.equal(encodeLine(encoder, {}), '{}\n');
  });

  it('grows its buffer for records far larger than it, escapes included', () => {
    const encoder = new JsonLineEncoder(64);
    const record: DataRecord = {
      sourcePodName: 'p'.repeat(70_000),
      opaqueOctets: new Uint8Array(65_535).map((_, i) => i),
      interfaceName: '\u0001'.repeat(20_000) + 'é',
    };
    const expected = JSON.stringify({ ...record, opaqueOctets: Buffer.from(record.opaqueOctets as Uint8Array).toString('hex') });
    assert.equal(encodeLine(encoder, record), expected + '\n');
    assert.equal(encodeLine(encoder, { a: 1 }), '{"a":1}\n', 'small records after a large one');
  });

  it('follows records whose keys change from one record to the next', () => {
    const encoder = new JsonLineEncoder();
    const records: DataRecord[] = [
      { a: 1, b: 'x', c: true },
      { a: 2, b: 'y' },
      { b: 'z', a: 3 },
      { a: 4, b: 'w', c: false, d: 5 },
      { 'we"ird\\key ✓': 6, a: 7 },
      { d: 8 },
      { a: 9, b: 'v', c: true },
    ];
    for (let round = 0; round < 2; round++) {
      for (const record of records) assert.equal(encodeLine(encoder, record), JSON.stringify(record) + '\n');
    }
  });

  it('equals the plain definition for any record (property test)', () => {
    const value: fc.Arbitrary<IpfixValue> = fc.oneof(
      fc.integer({ min: -(2 ** 31) - 10, max: 2 ** 31 + 10 }),
      fc.maxSafeInteger(),
      fc.double(),
      fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }),
      fc.boolean(),
      fc.string({ unit: 'binary' }),
      fc.string(),
      fc.uint8Array({ maxLength: 40 }),
    );
    const record = fc.dictionary(fc.constantFrom('a', 'sourcePodName', 'octetDeltaCount', 'x"y', 'ie0_9999', 'é'), value);
    const encoder = new JsonLineEncoder(32);
    fc.assert(
      fc.property(fc.array(record, { minLength: 1, maxLength: 5 }), (records) => {
        for (const r of records) assert.equal(encodeLine(encoder, r), referenceLine(r) + '\n');
      }),
      { numRuns: 300, seed: 2 },
    );
  });
});

describe('TextBlockEncoder', () => {
  const entry = (record: DataRecord, over: Partial<CollectedRecord> = {}): CollectedRecord => ({
    exporter: '10.0.0.1:40000',
    observationDomainId: 1,
    templateId: 256,
    exportTime: 1_700_000_000,
    record,
    ...over,
  });

  it('prints every value type as textValue does, names padded to the longest', () => {
    const e = entry({
      sourceTransportPort: 80,
      octetTotalCount: 2n ** 64n - 1n,
      samplingProbability: -1.5e-300,
      rate: Number.NaN,
      isMulticast: false,
      sourcePodName: 'web ✓ "x"',
      opaqueOctets: new Uint8Array([0, 255]),
      emptyOctets: new Uint8Array(0),
      negative: -2147483648,
    });
    assert.equal(recordToText(e), referenceText(e));
    assert.match(recordToText(e), /^ {2}octetTotalCount {6}18446744073709551615$/m);
  });

  it('changes heading and padding when exporter, time, template or keys change', () => {
    const encoder = new TextBlockEncoder(16);
    const entries = [
      entry({ a: 1, bb: 2 }),
      entry({ a: 3, bb: 4 }),
      entry({ a: 3, bb: 4 }, { exporter: '[fd00::1]:4739' }),
      entry({ a: 3, bb: 4 }, { exportTime: 1_700_000_001 }),
      entry({ a: 3, bb: 4 }, { templateId: 300, observationDomainId: 7 }),
      entry({ longerName: 5, a: 6 }),
      entry({ a: 7 }),
      entry({}),
      entry({ s: 'z'.repeat(50_000) }),
      entry({ a: 1, bb: 2 }),
    ];
    for (const e of entries) {
      const length = encoder.encode(e);
      assert.equal(encoder.buffer.toString('utf8', 0, length), referenceText(e));
    }
  });
});
