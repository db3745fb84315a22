// ShapeConversion 'id': a string field decoded as the shape's interner's id of its bytes, for
// variable-length and fixed-length string fields; 0 for an empty value, a missing key or a field
// that is not a string; and a shape that asks for ids without an interner is refused.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageDecoder, MessageWriter, ieByName } from '../../../src/ipfix/index.js';
import type { RecordShape, TemplateDefinition } from '../../../src/ipfix/index.js';
import type { NameInterner } from '../../../src/ipfix/template.js';

function field(name: string, length?: number) {
  const ie = ieByName(name);
  assert.ok(ie, name);
  return { enterpriseId: ie.enterpriseId, elementId: ie.elementId, length: length ?? ie.length };
}

/** Ids in order of first sight, and the text of each call (bytes or text) it was asked about. */
class ListInterner implements NameInterner {
  readonly texts: string[] = [''];
  readonly calls: string[] = [];
  idOf(b: Buffer, _dv: DataView, start: number, end: number): number {
    assert.ok(end > start, 'never asked about an empty name');
    return this.intern(b.toString('utf8', start, end), 'bytes');
  }
  intern(text: string, how = 'text'): number {
    this.calls.push(`${how}:${text}`);
    const i = this.texts.indexOf(text);
    if (i >= 0) return i;
    this.texts.push(text);
    return this.texts.length - 1;
  }
}

// interfaceName is a variable-length string; interfaceDescription is given a fixed length of 8.
const DEF: TemplateDefinition = {
  templateId: 311,
  scopeFieldCount: 0,
  fields: [field('interfaceName'), field('sourceTransportPort'), field('interfaceDescription', 8), field('applicationName')],
};

function shape(interner: NameInterner | undefined): RecordShape<Record<string, unknown>> {
  return {
    name: 'name-id-test',
    ...(interner ? { interner } : {}),
    properties: () => [
      { name: 'nameId', key: 'interfaceName', as: 'id' },
      { name: 'name', key: 'interfaceName', as: 'text' },
      { name: 'descriptionId', key: 'interfaceDescription', as: 'id' },
      { name: 'portId', key: 'sourceTransportPort', as: 'id' },
      { name: 'absentId', key: 'postNATSourceIPv4Address', as: 'id' },
      { name: 'appId', key: 'applicationName', as: 'id' },
    ],
  };
}

function encode(records: Record<string, string | number>[]): Buffer[] {
  const w = new MessageWriter({ observationDomainId: 1 });
  w.addTemplate(DEF);
  return [...w.templateMessages(), ...w.encodeRecords(311, records)];
}

describe("decodeAs with 'id'", () => {
  it('gives each name the id of its bytes (fixed-length text trimmed of padding first), 0 for empty, absent and non-string fields', () => {
    const interner = new ListInterner();
    const d = new MessageDecoder();
    const messages = encode([
      { interfaceName: 'eth0', sourceTransportPort: 443, interfaceDescription: 'uplink', applicationName: 'ünïcödé' },
      { interfaceName: '', sourceTransportPort: 80, interfaceDescription: '', applicationName: 'eth0' },
      { interfaceName: 'eth0', sourceTransportPort: 1, interfaceDescription: 'eth0', applicationName: 'x' },
    ]);
    const records = messages.flatMap((m) => d.decodeAs(m, shape(interner)).dataSets.flatMap((s) => s.records));
    const id = (t: string) => interner.texts.indexOf(t);
    assert.deepEqual(records, [
      { nameId: id('eth0'), name: 'eth0', descriptionId: id('uplink'), portId: 0, absentId: 0, appId: id('ünïcödé') },
      { nameId: 0, name: '', descriptionId: 0, portId: 0, absentId: 0, appId: id('eth0') },
      { nameId: id('eth0'), name: 'eth0', descriptionId: id('eth0'), portId: 0, absentId: 0, appId: id('x') },
    ]);
    assert.ok(id('eth0') > 0 && id('uplink') > 0 && id('ünïcödé') > 0);
    // Variable-length names come as bytes; the fixed-length field as its trimmed text.
    assert.deepEqual(interner.calls.slice(0, 3), ['bytes:eth0', 'text:uplink', 'bytes:ünïcödé']);
  });

  it('refuses a shape that reads ids without an interner, naming the shape', () => {
    const d = new MessageDecoder();
    const [templates, data] = encode([{ interfaceName: 'eth0', sourceTransportPort: 1, interfaceDescription: '', applicationName: '' }]);
    d.decode(templates);
    assert.throws(() => d.decodeAs(data, shape(undefined)), (e: Error & { code?: string }) => e.code === 'IPFIX_ERR_BAD_OPTION' && /name-id-test/.test(e.message));
  });
});
