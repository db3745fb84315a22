// MessageDecoder.decodeAsReusing: the records of a message are the decoder's objects of earlier
// messages, overwritten, with the same values decodeAs gives; the records of one message (in
// one set or several) are distinct objects.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageDecoder, MessageWriter } from '../../../src/ipfix/index.js';
import type { DataRecord, RecordShape, TemplateDefinition } from '../../../src/ipfix/index.js';
import { field } from '../../fixtures/ipfix/build.js';

const DEF: TemplateDefinition = {
  templateId: 400,
  scopeFieldCount: 0,
  fields: [field('sourceTransportPort'), field('interfaceName'), field('packetTotalCount')],
};

interface Port { port: number; name: string; packets: number }
const SHAPE: RecordShape<Port> = {
  name: 'reuse-test',
  properties: () => [
    { name: 'port', key: 'sourceTransportPort', as: 'number' },
    { name: 'name', key: 'interfaceName', as: 'text' },
    { name: 'packets', key: 'packetTotalCount', as: 'number' },
  ],
};

function record(i: number): DataRecord {
  return { sourceTransportPort: i, interfaceName: `eth${i}`, packetTotalCount: 1000 + i };
}

/** One message holding two data sets of the same template (the writer packs one per message, so it is spliced). */
function twoSetMessage(writer: MessageWriter, a: DataRecord[], b: DataRecord[]): Buffer {
  const m1 = writer.encodeRecords(DEF.templateId, a)[0];
  const m2 = writer.encodeRecords(DEF.templateId, b)[0];
  const out = Buffer.concat([m1, m2.subarray(16)]);
  out.writeUInt16BE(out.length, 2);
  return out;
}

describe('MessageDecoder.decodeAsReusing', () => {
  it('gives decodeAs values in the objects of earlier messages, never one object twice in a message', () => {
    const writer = new MessageWriter({ observationDomainId: 3 });
    writer.addTemplate(DEF);
    const reusing = new MessageDecoder();
    const fresh = new MessageDecoder();
    for (const m of writer.templateMessages()) {
      reusing.decode(m);
      fresh.decode(m);
    }
    const first = twoSetMessage(writer, [record(1), record(2)], [record(3)]);
    const second = twoSetMessage(writer, [record(4)], [record(5), record(6)]);
    const a = reusing.decodeAsReusing(first, SHAPE).dataSets.flatMap((s) => s.records);
    assert.deepEqual(a.map((r) => ({ ...r })), fresh.decodeAs(first, SHAPE).dataSets.flatMap((s) => s.records));
    assert.equal(new Set(a).size, 3, 'three records, three objects');
    const b = reusing.decodeAsReusing(second, SHAPE).dataSets.flatMap((s) => s.records);
    assert.deepEqual(b.map((r) => ({ ...r })), [
      { port: 4, name: 'eth4', packets: 1004 },
      { port: 5, name: 'eth5', packets: 1005 },
      { port: 6, name: 'eth6', packets: 1006 },
    ]);
    assert.deepEqual(b, a, 'the same objects, overwritten');
    for (let i = 0; i < 3; i++) assert.equal(b[i], a[i]);
    // decodeAs keeps making new objects.
    const c = fresh.decodeAs(second, SHAPE).dataSets.flatMap((s) => s.records);
    assert.notEqual(c[0], b[0]);
    assert.deepEqual(c, b);
  });
});
