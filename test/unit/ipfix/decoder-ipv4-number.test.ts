// ShapeConversion 'ipv4Number': an ipv4Address field decoded as its 32-bit value, alone or next
// to the same field's text, and -1 for a field that is absent or of another type. Also the
// writer's shortcut for the unspecified IPv6 address, which every IPv4 aggregated record carries.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageDecoder, MessageWriter } from '../../../src/ipfix/index.js';
import type { RecordShape, TemplateDefinition } from '../../../src/ipfix/index.js';
import { field } from '../../fixtures/ipfix/build.js';

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

describe('writeIpv6 of the unspecified address', () => {
  it('writes 16 zero bytes over whatever was there, as the parse of "::" does', async () => {
    const { writeIpv6 } = await import('../../../src/ipfix/values.js');
    const b = Buffer.alloc(20, 0xff);
    assert.equal(writeIpv6(b, 2, '::'), true);
    assert.deepEqual([...b], [0xff, 0xff, ...new Array<number>(16).fill(0), 0xff, 0xff]);
    const c = Buffer.alloc(16, 0xff);
    assert.equal(writeIpv6(c, 0, '0:0:0:0:0:0:0:0'), true);
    assert.deepEqual(c, b.subarray(2, 18));
  });
});
