// The codec's fast paths against their plain meaning: the byte-keyed string cache, the one-pass
// writer's message packing, the ASCII copy loop, and decoding straight into a record shape.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageDecoder, MessageWriter, VARIABLE_LENGTH, ieByName } from '../../../src/ipfix/index.js';
import type { DataRecord, RecordShape, TemplateDefinition } from '../../../src/ipfix/index.js';
import { readString, readStringAt, dataViewOf, utf8Length, writeString } from '../../../src/ipfix/values.js';
import { rng } from '../../fixtures/ipfix/flows.js';

function field(name: string, length?: number) {
  const ie = ieByName(name);
  assert.ok(ie, name);
  return { enterpriseId: ie.enterpriseId, elementId: ie.elementId, length: length ?? ie.length };
}

// sourceIPv4Address, octetDeltaCount, interfaceName (variable), interfaceDescription (variable)
const DEF: TemplateDefinition = {
  templateId: 300,
  scopeFieldCount: 0,
  fields: [field('sourceIPv4Address'), field('octetDeltaCount'), field('interfaceName'), field('interfaceDescription')],
};

function writerAndDecoder(maxMessageSize?: number): { w: MessageWriter; d: MessageDecoder } {
  const w = new MessageWriter({ observationDomainId: 3, maxMessageSize });
  w.addTemplate(DEF);
  const d = new MessageDecoder();
  for (const m of w.templateMessages()) d.decode(m);
  return { w, d };
}

/** Strings of every kind the fast paths distinguish. */
const TEXTS = [
  '', 'a', 'ab', 'abc', 'abcd', 'abcde', 'frontend-7d9c8b6f5-x2x9z', 'x'.repeat(63), 'y'.repeat(64), 'z'.repeat(65),
  'é', 'naïve-pod', '日本語のポッド', 'emoji-😀-pod', 'a'.repeat(254), 'b'.repeat(255), 'c'.repeat(300), 'ü'.repeat(130),
];

describe('codec fast paths', () => {
  it('reads every string back exactly, ASCII or not, cached or not, at every length', () => {
    const { w, d } = writerAndDecoder();
    const records: DataRecord[] = [];
    for (const a of TEXTS) for (const b of TEXTS) records.push({ sourceIPv4Address: '10.1.2.3', octetDeltaCount: 7, interfaceName: a, interfaceDescription: b });
    // Twice, so the second half is read through cache hits.
    const back = [...w.encodeRecords(300, records), ...w.encodeRecords(300, records)].flatMap((m) => d.decode(m).dataSets.flatMap((s) => s.records));
    assert.deepEqual(back, [...records, ...records]);
  });

  it('never returns a cached string for different bytes of the same length (same hash slot or not)', () => {
    // Strings that share length, first, middle and last bytes, and strings that differ in one byte.
    const r = rng(7);
    const texts: string[] = [];
    for (let i = 0; i < 3000; i++) texts.push(`team-${i % 10}-namespace`, `pod-${Math.floor(r() * 1e6).toString(36).padStart(4, '0')}-abcd`);
    const b = Buffer.alloc(64 * 1024);
    const dv = dataViewOf(b);
    for (let round = 0; round < 2; round++) {
      for (const t of texts) {
        const n = b.write(t, 100, 'utf8');
        assert.equal(readStringAt(b, dv, 100, 100 + n), t);
        assert.equal(readString(b, 100, 100 + n), t);
      }
    }
  });

  it('reads right after the cache has been overrun and slots replaced (eviction)', () => {
    const b = Buffer.alloc(64);
    const dv = dataViewOf(b);
    const text = (i: number) => `pod-${i.toString(36).padStart(6, '0')}-${(i * 7919).toString(36)}`;
    // Twice the cache's 32768 slots: every slot is replaced at least once, most several times.
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 65536; i += round === 0 ? 1 : 97) {
        const t = text(i);
        const n = b.write(t, 0, 'latin1');
        assert.equal(readStringAt(b, dv, 0, n), t);
      }
    }
  });

  it('measures and writes ASCII and non-ASCII strings like Buffer does', () => {
    for (const t of TEXTS) {
      assert.equal(utf8Length(t), Buffer.byteLength(t), JSON.stringify(t));
      const b = Buffer.alloc(1000, 0xee);
      assert.equal(writeString(b, 5, t, utf8Length(t)), 5 + Buffer.byteLength(t));
      assert.equal(b.toString('utf8', 5, 5 + Buffer.byteLength(t)), t);
      assert.equal(b[4], 0xee, 'nothing before');
      assert.equal(b[5 + Buffer.byteLength(t)], 0xee, 'nothing after');
    }
  });

  it('packs records greedily: every message is as full as the next record allows', () => {
    const maxMessageSize = 300;
    const { w, d } = writerAndDecoder(maxMessageSize);
    const r = rng(3);
    const records: DataRecord[] = Array.from({ length: 200 }, (_, i) => ({
      sourceIPv4Address: `10.0.${i >> 8}.${i & 255}`,
      octetDeltaCount: i,
      interfaceName: 'n'.repeat(Math.floor(r() * 60)),
      interfaceDescription: r() < 0.2 ? 'ü'.repeat(Math.floor(r() * 40)) : 'd'.repeat(Math.floor(r() * 100)),
    }));
    const messages = w.encodeRecords(300, records);
    const sizeOf = (x: DataRecord) => {
      const varLen = (s: string) => Buffer.byteLength(s) + (Buffer.byteLength(s) < 255 ? 1 : 3);
      return 4 + 8 + varLen(x.interfaceName as string) + varLen(x.interfaceDescription as string);
    };
    let next = 0;
    for (const m of messages) {
      assert.ok(m.length <= maxMessageSize);
      assert.equal(m.readUInt16BE(2), m.length);
      const got = d.decode(m).dataSets[0].records;
      assert.deepEqual(got, records.slice(next, next + got.length));
      next += got.length;
      if (next < records.length) assert.ok(m.length + sizeOf(records[next]) > maxMessageSize, 'the next record would not have fitted');
    }
    assert.equal(next, records.length);
  });

  it('writes a record that just fits, and refuses one byte more with IPFIX_ERR_RECORD_TOO_LARGE', () => {
    const maxMessageSize = 100;
    const { w, d } = writerAndDecoder(maxMessageSize);
    // 20 bytes of headers, 12 fixed, 1 + 1 + len for the strings: len = 66 fills 100 bytes.
    const fits = { sourceIPv4Address: '1.2.3.4', octetDeltaCount: 1, interfaceName: 'a'.repeat(66), interfaceDescription: '' };
    const [m] = w.encodeRecords(300, [fits]);
    assert.equal(m.length, 100);
    assert.deepEqual(d.decode(m).dataSets[0].records, [fits]);
    assert.throws(() => w.encodeRecords(300, [{ ...fits, interfaceName: 'a'.repeat(67) }]), { code: 'IPFIX_ERR_RECORD_TOO_LARGE' });
    assert.throws(() => w.encodeRecords(300, [{ ...fits, interfaceName: 'é'.repeat(34) }]), { code: 'IPFIX_ERR_RECORD_TOO_LARGE' });
  });

  it('does not let a small message pin a large buffer', () => {
    const { w } = writerAndDecoder();
    const [m] = w.encodeRecords(300, [{ sourceIPv4Address: '1.2.3.4', octetDeltaCount: 1, interfaceName: 'eth0', interfaceDescription: '' }]);
    // Copied out of the 64 KiB write buffer (into Node's shared 8 KiB pool for small buffers).
    assert.ok(m.buffer.byteLength <= 8192, `message of ${m.length} bytes holds ${m.buffer.byteLength}`);
  });

  it('writes counters on each side of 2^32 and 2^53 exactly', () => {
    const { w, d } = writerAndDecoder();
    const values = [0, 1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 1.5e12, Number.MAX_SAFE_INTEGER, 2n ** 53n, 2n ** 64n - 1n];
    const records = values.map((v) => ({ sourceIPv4Address: '255.255.255.255', octetDeltaCount: v, interfaceName: '', interfaceDescription: '' }));
    const back = w.encodeRecords(300, records).flatMap((m) => d.decode(m).dataSets[0].records.map((x) => x.octetDeltaCount));
    assert.deepEqual(back, values);
    assert.throws(() => w.encodeRecords(300, [{ ...records[0], octetDeltaCount: 2 ** 53 }]), { code: 'IPFIX_ERR_VALUE_RANGE' });
    assert.throws(() => w.encodeRecords(300, [{ ...records[0], octetDeltaCount: NaN }]), { code: 'IPFIX_ERR_VALUE_RANGE' });
    assert.throws(() => w.encodeRecords(300, [{ ...records[0], octetDeltaCount: 2 ** 40 + 0.5 }]), { code: 'IPFIX_ERR_VALUE_RANGE' });
  });

  it('decodes into a record shape exactly as DataRecord plus the same conversions', () => {
    // A template with a bigint-sized counter, a boolean, an address of Antrea's "none", a
    // fixed-length string, bytes, and a shape that also asks for a key the template lacks.
    const def: TemplateDefinition = {
      templateId: 301,
      scopeFieldCount: 0,
      fields: [
        field('octetDeltaCount'), field('packetDeltaCount', 4), field('dataRecordsReliability'), field('destinationIPv4Address'),
        field('interfaceName', 8), field('interfaceDescription', VARIABLE_LENGTH), field('sourceMacAddress'),
        { enterpriseId: 999, elementId: 1, length: 3 },
      ],
    };
    const shape: RecordShape<Record<string, unknown>> = {
      name: 'test',
      properties: (keys) => [
        { name: 'octets', key: 'octetDeltaCount', as: 'number' },
        { name: 'packets', key: 'packetDeltaCount', as: 'number' },
        { name: 'reliable', key: 'dataRecordsReliability', as: 'number' },
        { name: 'reliableText', key: 'dataRecordsReliability', as: 'text' },
        { name: 'dst', key: 'destinationIPv4Address', as: 'address' },
        { name: 'dstText', key: 'destinationIPv4Address', as: 'text' },
        { name: 'ifName', key: 'interfaceName', as: 'text' },
        { name: 'ifNameAsNumber', key: 'interfaceName', as: 'number' },
        { name: 'desc', key: 'interfaceDescription', as: 'text' },
        { name: 'mac', key: 'sourceMacAddress', as: 'text' },
        { name: 'unknown', key: 'ie999_1', as: 'text' },
        { name: 'absent', key: 'flowType', as: 'number' },
        { name: 'absentText', key: 'tcpState', as: 'text' },
        { name: 'hasDescription', value: keys.has('interfaceDescription') },
      ],
    };
    const w = new MessageWriter({ observationDomainId: 1 });
    w.addTemplate(def);
    const d = new MessageDecoder();
    for (const m of w.templateMessages()) d.decode(m);
    const records: DataRecord[] = [
      { octetDeltaCount: 2n ** 60n + 1n, packetDeltaCount: 5, dataRecordsReliability: true, destinationIPv4Address: '0.0.0.0', interfaceName: 'eth0', interfaceDescription: 'uplink', sourceMacAddress: '00:11:22:33:44:55', ie999_1: new Uint8Array([1, 2, 3]) },
      { octetDeltaCount: 12, packetDeltaCount: 0, dataRecordsReliability: false, destinationIPv4Address: '10.9.8.7', interfaceName: 'eth1eth1', interfaceDescription: '', sourceMacAddress: 'aa:bb:cc:dd:ee:ff', ie999_1: new Uint8Array([0, 0, 0]) },
    ];
    const [m] = w.encodeRecords(301, records);
    const direct = d.decodeAs(m, shape).dataSets[0].records;
    const expected = d.decode(m).dataSets[0].records.map((x) => ({
      octets: typeof x.octetDeltaCount === 'bigint' ? Number(x.octetDeltaCount) : x.octetDeltaCount,
      packets: x.packetDeltaCount,
      reliable: 0,
      reliableText: '',
      dst: x.destinationIPv4Address === '0.0.0.0' ? '' : x.destinationIPv4Address,
      dstText: x.destinationIPv4Address,
      ifName: x.interfaceName,
      ifNameAsNumber: 0,
      desc: x.interfaceDescription,
      mac: x.sourceMacAddress,
      unknown: '',
      absent: 0,
      absentText: '',
      hasDescription: true,
    }));
    assert.deepEqual(direct, expected);
    assert.equal(direct[0].octets, 2 ** 60);
    assert.equal(direct[0].dst, '');
  });
  it('writes names from the encode cache byte for byte as the first time, at every length', () => {
    const { w, d } = writerAndDecoder();
    const names = Array.from({ length: 70 }, (_, n) => 'abcdefghij'.repeat(7).slice(0, n));
    const records = names.map((name, i) => ({ sourceIPv4Address: `10.0.${i}.1`, octetDeltaCount: i, interfaceName: name, interfaceDescription: `d${name}` }));
    const first = Buffer.concat(w.encodeRecords(300, records));
    const again = Buffer.concat(w.encodeRecords(300, records));
    // Equal but for the header's sequence number (bytes 8-11).
    assert.deepEqual(again.subarray(12), first.subarray(12));
    assert.deepEqual(d.decode(again).dataSets[0].records, records);
  });

  it('writes a cached name that ends exactly at the end of the write buffer', () => {
    // Lengths 30-38 cover every remainder mod 4 with a buffer of at least the 64-byte minimum.
    for (let len = 30; len <= 38; len++) {
      const name = 'n'.repeat(len);
      // headers 20, fixed 12, interfaceName '' (1 byte), then 1 + len: the message is the whole buffer.
      const { w, d } = writerAndDecoder(20 + 12 + 1 + 1 + len);
      const record = { sourceIPv4Address: '1.2.3.4', octetDeltaCount: 7, interfaceName: '', interfaceDescription: name };
      const filler = { ...record, interfaceDescription: 'f'.repeat(64 - 34) };
      w.encodeRecords(300, [record]); // cached now
      const messages = w.encodeRecords(300, [record, filler, record]);
      assert.equal(messages[0].length, 34 + len, 'the first message fills its buffer');
      const got = messages.flatMap((m) => d.decode(m).dataSets[0].records);
      assert.deepEqual(got, [record, filler, record], `length ${len}`);
    }
  });

  it('writes right after the encode caches were filled and emptied', () => {
    const { w, d } = writerAndDecoder();
    const records = Array.from({ length: 20_000 }, (_, i) => ({
      sourceIPv4Address: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`,
      octetDeltaCount: i,
      interfaceName: `pod-${i}`,
      interfaceDescription: `namespace-${i % 50}`,
    }));
    for (let round = 0; round < 2; round++) {
      const got = w.encodeRecords(300, records).flatMap((m) => d.decode(m).dataSets[0].records);
      assert.deepEqual(got, records);
    }
  });

  it('writes right after more names than the encode cache holds (it starts afresh), and for equal text in another string', () => {
    const { w, d } = writerAndDecoder();
    // 40,000 distinct names: past the 32,768 the cache holds, so it is emptied mid-encode.
    const records = Array.from({ length: 40_000 }, (_, i) => ({
      sourceIPv4Address: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`,
      octetDeltaCount: i,
      interfaceName: `service-${i % 997}-deployment-7d9c8b6f5-${i.toString(36)}`,
      interfaceDescription: `namespace-${i % 50}`,
    }));
    for (let round = 0; round < 2; round++) {
      const got = w.encodeRecords(300, records).flatMap((m) => d.decode(m).dataSets[0].records);
      assert.deepEqual(got, records);
    }
    // The same text as a different string object (the cache compares text, not identity).
    const rebuilt = records.slice(0, 100).map((r) => ({ ...r, interfaceName: ['service', r.interfaceName.slice(8)].join('-') }));
    assert.deepEqual(w.encodeRecords(300, rebuilt).flatMap((m) => d.decode(m).dataSets[0].records), records.slice(0, 100));
  });

  it('still refuses bad addresses and non-strings once good ones are cached', () => {
    const { w } = writerAndDecoder();
    const good = { sourceIPv4Address: '1.2.3.4', octetDeltaCount: 1, interfaceName: 'eth0', interfaceDescription: 'uplink' };
    w.encodeRecords(300, [good]);
    assert.throws(() => w.encodeRecords(300, [{ ...good, sourceIPv4Address: '1.2.3.256' }]), { code: 'IPFIX_ERR_VALUE_RANGE' });
    assert.throws(() => w.encodeRecords(300, [{ ...good, sourceIPv4Address: 16909060 }]), { code: 'IPFIX_ERR_VALUE_TYPE' });
    assert.throws(() => w.encodeRecords(300, [{ ...good, sourceIPv4Address: undefined as unknown as string }]), { code: 'IPFIX_ERR_MISSING_VALUE' });
    assert.throws(() => w.encodeRecords(300, [{ ...good, interfaceName: 42 }]), { code: 'IPFIX_ERR_VALUE_TYPE' });
    assert.throws(() => w.encodeRecords(300, [{ ...good, interfaceName: undefined as unknown as string }]), { code: 'IPFIX_ERR_MISSING_VALUE' });
    assert.equal(w.encodeRecords(300, [good]).length, 1);
  });
});
