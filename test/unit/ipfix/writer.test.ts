import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageDecoder, MessageWriter } from '../../../src/ipfix/index.js';
import type { DataRecord, IpfixErrorCode, TemplateDefinition } from '../../../src/ipfix/index.js';
import { ManualClock } from '../../../src/util/clock.js';
import { codeOf } from '../../fixtures/ipfix/build.js';

// sourceIPv4Address, destinationTransportPort, octetDeltaCount, interfaceName (variable)
const DEF: TemplateDefinition = {
  templateId: 256,
  scopeFieldCount: 0,
  fields: [{ enterpriseId: 0, elementId: 8, length: 4 }, { enterpriseId: 0, elementId: 11, length: 2 }, { enterpriseId: 0, elementId: 1, length: 8 }, { enterpriseId: 0, elementId: 82, length: 0xffff }],
};
const OPTIONS: TemplateDefinition = {
  templateId: 300, scopeFieldCount: 1,
  fields: [{ enterpriseId: 0, elementId: 149, length: 4 }, { enterpriseId: 0, elementId: 41, length: 8 }],
};
const record = (i: number): DataRecord => ({ sourceIPv4Address: `10.0.${i >> 8 & 255}.${i & 255}`, destinationTransportPort: i & 0xffff, octetDeltaCount: i * 1000, interfaceName: `eth${i}` });

function decodeAll(writer: MessageWriter, messages: Buffer[]): DataRecord[] {
  const d = new MessageDecoder();
  for (const m of writer.templateMessages()) d.decode(m);
  return messages.flatMap((m) => d.decode(m).dataSets.flatMap((s) => s.records));
}

describe('MessageWriter', () => {
  it('splits records across messages no larger than maxMessageSize, in order, none lost', () => {
    const w = new MessageWriter({ observationDomainId: 3, maxMessageSize: 1400 });
    w.addTemplate(DEF);
    const records = Array.from({ length: 500 }, (_, i) => record(i));
    const messages = w.encodeRecords(256, records);
    assert.ok(messages.length > 1);
    for (const m of messages) assert.ok(m.length <= 1400, `message of ${m.length} bytes`);
    // Greedy packing: adding the next message's first record would have overflowed.
    assert.ok(messages[0].length + 24 > 1400);
    assert.deepEqual(decodeAll(w, messages), records);
  });

  it('numbers messages by data records sent before them, per domain (RFC 7011 3.1)', () => {
    const w = new MessageWriter({ observationDomainId: 3, maxMessageSize: 200 });
    w.addTemplate(DEF);
    const d = new MessageDecoder();
    for (const m of w.templateMessages()) assert.equal(d.decode(m).header.sequenceNumber, 0);
    const messages = [...w.encodeRecords(256, Array.from({ length: 20 }, (_, i) => record(i))), ...w.encodeRecords(256, [record(99)])];
    let expected = 0;
    for (const m of messages) {
      const out = d.decode(m);
      assert.equal(out.header.sequenceNumber, expected);
      assert.equal(out.header.observationDomainId, 3);
      expected += out.dataSets[0].records.length;
    }
    assert.equal(expected, 21);
    assert.equal(w.sequenceNumber, 21);
    assert.equal(w.templateMessages().length, 1);
    assert.equal(d.decode(w.templateMessages()[0]).header.sequenceNumber, 21, 'template messages carry, not advance, the count');
  });

  it('stamps export time from the injected clock', () => {
    const clock = new ManualClock(1_650_000_000_999);
    const w = new MessageWriter({ observationDomainId: 1, clock });
    w.addTemplate(DEF);
    assert.equal(new MessageDecoder().decode(w.templateMessages()[0]).header.exportTime, 1_650_000_000);
  });

  it('sends templates and options templates in their own sets, split when they do not fit', () => {
    const w = new MessageWriter({ observationDomainId: 1, maxMessageSize: 64 });
    w.addTemplate(DEF);
    w.addTemplate(OPTIONS);
    w.addTemplate({ ...DEF, templateId: 257 });
    const d = new MessageDecoder();
    const messages = w.templateMessages();
    assert.ok(messages.length >= 2);
    const ids = messages.flatMap((m) => d.decode(m).templates.map((t) => [t.templateId, t.scopeFieldCount]));
    assert.deepEqual(ids, [[256, 0], [300, 1], [257, 0]]);
    assert.equal(d.templates.size, 3);
  });

  it('writes withdrawals that a decoder applies', () => {
    const w = new MessageWriter({ observationDomainId: 1 });
    w.addTemplate(DEF);
    w.addTemplate(OPTIONS);
    const d = new MessageDecoder();
    for (const m of w.templateMessages()) d.decode(m);
    const [m] = w.withdrawalMessages([256, 300]);
    assert.deepEqual(d.decode(m).withdrawals, [256, 300]);
    assert.equal(d.templates.size, 0);
    w.removeTemplate(256);
    assert.equal(codeOf(() => w.encodeRecords(256, [record(1)])), 'IPFIX_ERR_UNKNOWN_TEMPLATE');
  });

  it('returns no messages for no records and keeps the sequence number', () => {
    const w = new MessageWriter({ observationDomainId: 1 });
    w.addTemplate(DEF);
    assert.deepEqual(w.encodeRecords(256, []), []);
    assert.equal(w.sequenceNumber, 0);
  });

  it('does not move the sequence number when a record is rejected', () => {
    const w = new MessageWriter({ observationDomainId: 1 });
    w.addTemplate(DEF);
    assert.equal(codeOf(() => w.encodeRecords(256, [record(1), { ...record(2), destinationTransportPort: 70000 }])), 'IPFIX_ERR_VALUE_RANGE');
    assert.equal(w.sequenceNumber, 0);
  });

  const BAD: [string, DataRecord, IpfixErrorCode][] = [
    ['a missing field', { sourceIPv4Address: '1.2.3.4', destinationTransportPort: 1, interfaceName: '' }, 'IPFIX_ERR_MISSING_VALUE'],
    ['a string for a port', { ...record(1), destinationTransportPort: '80' }, 'IPFIX_ERR_VALUE_TYPE'],
    ['a number for an address', { ...record(1), sourceIPv4Address: 167772161 }, 'IPFIX_ERR_VALUE_TYPE'],
    ['a port of 65536', { ...record(1), destinationTransportPort: 65536 }, 'IPFIX_ERR_VALUE_RANGE'],
    ['a negative counter', { ...record(1), octetDeltaCount: -1 }, 'IPFIX_ERR_VALUE_RANGE'],
    ['a fractional counter', { ...record(1), octetDeltaCount: 1.5 }, 'IPFIX_ERR_VALUE_RANGE'],
    ['an unsafe number counter', { ...record(1), octetDeltaCount: 2 ** 60 }, 'IPFIX_ERR_VALUE_RANGE'],
    ['a counter of 2^64', { ...record(1), octetDeltaCount: 2n ** 64n }, 'IPFIX_ERR_VALUE_RANGE'],
    ['a bad IPv4 text', { ...record(1), sourceIPv4Address: '10.0.0.256' }, 'IPFIX_ERR_VALUE_RANGE'],
    ['an IPv6 text in an IPv4 field', { ...record(1), sourceIPv4Address: 'fd00::1' }, 'IPFIX_ERR_VALUE_RANGE'],
    ['a string over 65535 bytes', { ...record(1), interfaceName: 'é'.repeat(40000) }, 'IPFIX_ERR_VALUE_TOO_LONG'],
  ];
  for (const [what, r, code] of BAD) {
    it(`rejects ${what} with ${code}`, () => {
      const w = new MessageWriter({ observationDomainId: 1 });
      w.addTemplate(DEF);
      assert.equal(codeOf(() => w.encodeRecords(256, [r])), code);
    });
  }

  it('rejects a record that cannot fit an empty message', () => {
    const w = new MessageWriter({ observationDomainId: 1, maxMessageSize: 100 });
    w.addTemplate(DEF);
    assert.equal(codeOf(() => w.encodeRecords(256, [{ ...record(1), interfaceName: 'x'.repeat(100) }])), 'IPFIX_ERR_RECORD_TOO_LARGE');
  });

  it('rejects bad options and templates with coded errors', () => {
    assert.equal(codeOf(() => new MessageWriter({ observationDomainId: -1 })), 'IPFIX_ERR_BAD_OPTION');
    assert.equal(codeOf(() => new MessageWriter({ observationDomainId: 1, maxMessageSize: 70000 })), 'IPFIX_ERR_BAD_OPTION');
    assert.equal(codeOf(() => new MessageWriter({ observationDomainId: 1, maxMessageSize: 20 })), 'IPFIX_ERR_BAD_OPTION');
    const w = new MessageWriter({ observationDomainId: 1 });
    assert.equal(codeOf(() => w.addTemplate({ ...DEF, templateId: 2 })), 'IPFIX_ERR_BAD_TEMPLATE');
    assert.equal(codeOf(() => w.addTemplate({ ...DEF, fields: [] })), 'IPFIX_ERR_BAD_TEMPLATE');
    assert.equal(codeOf(() => w.addTemplate({ ...DEF, fields: [{ enterpriseId: 0, elementId: 8, length: 16 }] })), 'IPFIX_ERR_BAD_FIELD_LENGTH');
    assert.equal(codeOf(() => w.withdrawalMessages([17])), 'IPFIX_ERR_BAD_TEMPLATE');
  });

  it('writes an unknown IE from a Uint8Array of the field length', () => {
    const w = new MessageWriter({ observationDomainId: 1 });
    w.addTemplate({ templateId: 256, scopeFieldCount: 0, fields: [{ enterpriseId: 777, elementId: 1, length: 2 }] });
    assert.deepEqual(decodeAll(w, w.encodeRecords(256, [{ ie777_1: new Uint8Array([1, 2]) }])), [{ ie777_1: new Uint8Array([1, 2]) }]);
    assert.equal(codeOf(() => w.encodeRecords(256, [{ ie777_1: new Uint8Array([1, 2, 3]) }])), 'IPFIX_ERR_VALUE_TOO_LONG');
  });
});
