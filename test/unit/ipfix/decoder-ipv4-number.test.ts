// ShapeConversion 'ipv4Number': an ipv4Address field decoded as its 32-bit value, alone or next
// to the same field's text, and -1 for a field that is absent or of another type.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageDecoder, MessageWriter, ieByName } from '../../../src/ipfix/index.js';
import type { RecordShape, TemplateDefinition } from '../../../src/ipfix/index.js';

function field(name: string) {
  const ie = ieByName(name);
  assert.ok(ie, name);
  return { enterpriseId: ie.enterpriseId, elementId: ie.elementId, length: ie.length };
}

const DEF: TemplateDefinition = {
  templateId: 310,
  scopeFieldCount: 0,
  fields: [field('sourceIPv4Address'), field('interfaceName'), field('destinationIPv4Address'), field('sourceTransportPort')],
};

const SHAPE: RecordShape<Record<string, unknown>> = {
  name: 'ipv4-number-test',
  properties: () => [
    { name: 'src', key: 'sourceIPv4Address', as: 'ipv4Number' },
    { name: 'dst', key: 'destinationIPv4Address', as: 'ipv4Number' },
    { name: 'dstText', key: 'destinationIPv4Address', as: 'text' },
    { name: 'port', key: 'sourceTransportPort', as: 'ipv4Number' },
    { name: 'name', key: 'interfaceName', as: 'ipv4Number' },
    { name: 'absent', key: 'postNATSourceIPv4Address', as: 'ipv4Number' },
  ],
};

describe("decodeAs with 'ipv4Number'", () => {
  const cases = [
    { src: '0.0.0.0', dst: '255.255.255.255', srcValue: 0, dstValue: 0xffffffff },
    { src: '10.1.2.3', dst: '128.0.0.1', srcValue: 0x0a010203, dstValue: 0x80000001 },
    { src: '192.168.255.0', dst: '1.0.0.0', srcValue: 0xc0a8ff00, dstValue: 0x01000000 },
  ];
  for (const c of cases) {
    it(`reads ${c.src} and ${c.dst} as ${c.srcValue} and ${c.dstValue}, keeping the text where asked`, () => {
      const w = new MessageWriter({ observationDomainId: 1 });
      w.addTemplate(DEF);
      const d = new MessageDecoder();
      for (const m of w.templateMessages()) d.decode(m);
      const [m] = w.encodeRecords(310, [
        { sourceIPv4Address: c.src, interfaceName: 'eth0', destinationIPv4Address: c.dst, sourceTransportPort: 443 },
      ]);
      const [r] = d.decodeAs(m, SHAPE).dataSets[0].records;
      assert.deepEqual(r, { src: c.srcValue, dst: c.dstValue, dstText: c.dst, port: -1, name: -1, absent: -1 });
    });
  }
});
