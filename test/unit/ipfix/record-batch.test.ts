// Records encoded one at a time into batches (RecordBatchEncoder) and framed later
// (MessageWriter.encodeEncoded): the messages equal encodeAs of the same records; numeric rows
// ('at') and names by id ('nameAt', NameBytes); coded errors; released batch memory is reused.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageWriter } from '../../../src/ipfix/index.js';
import type { DataRecord, TemplateDefinition } from '../../../src/ipfix/index.js';
import { codeOf } from '../../fixtures/ipfix/build.js';
import { RecordBatchEncoder, writeVariableString, type EncodeShape, type EncodedRecords, type NameBytes } from '../../../src/ipfix/writer.js';

// sourceIPv4Address, destinationTransportPort, octetDeltaCount, interfaceName (variable)
const DEF: TemplateDefinition = {
  templateId: 256,
  scopeFieldCount: 0,
  fields: [{ enterpriseId: 0, elementId: 8, length: 4 }, { enterpriseId: 0, elementId: 11, length: 2 }, { enterpriseId: 0, elementId: 1, length: 8 }, { enterpriseId: 0, elementId: 82, length: 0xffff }],
};

/** Names by id, written from their text (what a string table without bytes does). */
class Names implements NameBytes {
  constructor(readonly texts: string[]) {}
  nameLength(id: number): number {
    return Buffer.byteLength(this.texts[id]);
  }
  writeName(b: Buffer, dv: DataView, p: number, id: number, limit: number): number {
    return writeVariableString(b, dv, p, this.texts[id], limit, 'interfaceName');
  }
}

const NAMES = new Names(['', 'eth0', 'wlan-ü', 'x'.repeat(300)]);
/** Rows: [address value, port, octets, name id]. */
const ROW_SHAPE: EncodeShape<Float64Array> = {
  name: 'row',
  names: NAMES,
  sources: () => ({ sourceIPv4Address: { at: 0 }, destinationTransportPort: { at: 1 }, octetDeltaCount: { at: 2 }, interfaceName: { nameAt: 3 } }),
};

function row(i: number): Float64Array {
  return Float64Array.of(0x0a000000 + i, i & 0xffff, i * 1000 + 2 ** 40, i % 4);
}

function asRecord(r: Float64Array): DataRecord {
  const v = r[0];
  return { sourceIPv4Address: `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`, destinationTransportPort: r[1], octetDeltaCount: r[2], interfaceName: NAMES.texts[r[3]] };
}

describe('RecordBatchEncoder + MessageWriter.encodeEncoded', () => {
  it('frames rows into the messages encodeRecords makes of the same records, with the same sequence numbers', () => {
    const batches: EncodedRecords[] = [];
    const enc = new RecordBatchEncoder(DEF, ROW_SHAPE, (b) => batches.push(b), { batchBytes: 65_535 });
    const rows = Array.from({ length: 1500 }, (_, i) => row(i));
    for (const r of rows) enc.add(r);
    enc.take();
    assert.ok(batches.length > 1, 'several batches');
    assert.equal(batches.reduce((n, b) => n + b.count, 0), rows.length);
    for (const size of [65_535, 1400]) {
      const framed = new MessageWriter({ observationDomainId: 9, maxMessageSize: size, clock: { now: () => 5000 } });
      const plain = new MessageWriter({ observationDomainId: 9, maxMessageSize: size, clock: { now: () => 5000 } });
      framed.addTemplate(DEF);
      plain.addTemplate(DEF);
      const got = batches.flatMap((b) => framed.encodeEncoded(b));
      // The same records in the same batch boundaries.
      let k = 0;
      const want = batches.flatMap((b) => plain.encodeRecords(256, rows.slice(k, (k += b.count)).map(asRecord)));
      assert.deepEqual(got, want, `maxMessageSize ${size}`);
      assert.equal(framed.sequenceNumber, rows.length);
    }
  });

  it('refuses a bad value with its coded error and keeps the batch as it was', () => {
    const batches: EncodedRecords[] = [];
    const enc = new RecordBatchEncoder(DEF, ROW_SHAPE, (b) => batches.push(b));
    enc.add(row(1));
    assert.equal(codeOf(() => enc.add(Float64Array.of(-1, 1, 1, 1))), 'IPFIX_ERR_VALUE_RANGE');
    assert.equal(codeOf(() => enc.add(Float64Array.of(1, 70_000, 1, 1))), 'IPFIX_ERR_VALUE_RANGE');
    assert.equal(codeOf(() => enc.add(Float64Array.of(1, 1.5, 1, 1))), 'IPFIX_ERR_VALUE_RANGE');
    enc.add(row(2));
    enc.take();
    assert.deepEqual(batches.map((b) => b.count), [2]);
    const w = new MessageWriter({ observationDomainId: 1 });
    w.addTemplate(DEF);
    assert.deepEqual(w.encodeEncoded(batches[0]), new MessageWriter({ observationDomainId: 1 }).encodeRecords.call(
      (() => { const p = new MessageWriter({ observationDomainId: 1 }); p.addTemplate(DEF); return p; })(), 256, [asRecord(row(1)), asRecord(row(2))],
    ));
  });

  it('says which record does not fit a message, and refuses an unknown template and a nameAt without names', () => {
    const batches: EncodedRecords[] = [];
    const enc = new RecordBatchEncoder(DEF, ROW_SHAPE, (b) => batches.push(b));
    enc.add(Float64Array.of(1, 1, 1, 3)); // a 300-byte name
    enc.take();
    const small = new MessageWriter({ observationDomainId: 1, maxMessageSize: 256 });
    small.addTemplate(DEF);
    assert.equal(codeOf(() => small.encodeEncoded(batches[0])), 'IPFIX_ERR_RECORD_TOO_LARGE');
    assert.equal(small.sequenceNumber, 0);
    assert.equal(codeOf(() => new MessageWriter({ observationDomainId: 1 }).encodeEncoded(batches[0])), 'IPFIX_ERR_UNKNOWN_TEMPLATE');
    assert.equal(codeOf(() => new RecordBatchEncoder(DEF, { ...ROW_SHAPE, names: undefined }, () => {})), 'IPFIX_ERR_BAD_OPTION');
  });

  it('writes the next batch into the memory of a released one', () => {
    const batches: EncodedRecords[] = [];
    const enc = new RecordBatchEncoder(DEF, ROW_SHAPE, (b) => batches.push(b), { batchBytes: 65_535 });
    const batch = (i: number) => {
      enc.add(row(i));
      enc.take();
      return batches[batches.length - 1];
    };
    const first = batch(1);
    // The open batch's memory was taken when `first` was handed over: a release serves the one after.
    const second = batch(2);
    assert.notEqual(second.bytes.buffer, first.bytes.buffer, 'nothing released yet: new memory');
    first.release?.();
    first.release?.(); // twice is once
    const third = batch(3);
    const fourth = batch(4);
    assert.equal(fourth.bytes.buffer, first.bytes.buffer, 'the released memory');
    assert.deepEqual(Array.from(fourth.bytes.subarray(0, 4)), [10, 0, 0, 4], 'holding the new record');
    assert.notEqual(batch(5).bytes.buffer, first.bytes.buffer, 'given out once');
    assert.notEqual(third.bytes.buffer, first.bytes.buffer);
  });
});
