import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageDecoder, TemplateCache, readMessageLength } from '../../../src/ipfix/index.js';
import type { IpfixErrorCode } from '../../../src/ipfix/index.js';
import { ManualClock } from '../../../src/util/clock.js';
import { codeOf, message, optionsTemplateRecord, set, templateRecord, u16, u32, u8, varField, withdrawalRecord } from '../../fixtures/ipfix/build.js';

// IANA: sourceIPv4Address 8/4, destinationTransportPort 11/2, octetDeltaCount 1/8, interfaceName 82/var
const T256 = templateRecord(256, [{ id: 8, length: 4 }, { id: 11, length: 2 }, { id: 1, length: 8 }]);
const rec256 = (ip: number[], port: number, octets: number) => Buffer.concat([Buffer.from(ip), u16(port), u32(0), u32(octets)]);

describe('MessageDecoder', () => {
  it('reads the header fields', () => {
    const d = new MessageDecoder();
    const m = d.decode(message([set(2, [T256])], { domain: 77, sequence: 12345, exportTime: 1_600_000_000 }));
    assert.deepEqual(m.header, { version: 10, length: 16 + 4 + T256.length, exportTime: 1_600_000_000, sequenceNumber: 12345, observationDomainId: 77 });
    assert.deepEqual(m.templates, [{ templateId: 256, scopeFieldCount: 0, fields: [
      { enterpriseId: 0, elementId: 8, length: 4 }, { enterpriseId: 0, elementId: 11, length: 2 }, { enterpriseId: 0, elementId: 1, length: 8 },
    ] }]);
  });

  it('decodes every set and every record of a message, templates first used in the same message', () => {
    const d = new MessageDecoder();
    const T257 = templateRecord(257, [{ id: 4, length: 1 }]);
    const m = d.decode(message([
      set(2, [T256, T257]),
      set(256, [rec256([10, 0, 0, 1], 80, 100), rec256([10, 0, 0, 2], 443, 200), rec256([10, 0, 0, 3], 53, 300)]),
      set(257, [u8(6), u8(17)]),
      set(256, [rec256([10, 0, 0, 4], 8080, 400)]),
    ]));
    assert.equal(m.templates.length, 2);
    assert.deepEqual(m.dataSets.map((s) => [s.templateId, s.records.length]), [[256, 3], [257, 2], [256, 1]]);
    assert.deepEqual(m.dataSets[0].records[1], { sourceIPv4Address: '10.0.0.2', destinationTransportPort: 443, octetDeltaCount: 200 });
    assert.deepEqual(m.dataSets[1].records, [{ protocolIdentifier: 6 }, { protocolIdentifier: 17 }]);
  });

  it('skips set padding shorter than a record, in data and template sets', () => {
    const d = new MessageDecoder();
    const m = d.decode(message([set(2, [T256], { padding: 3 }), set(256, [rec256([1, 2, 3, 4], 1, 1)], { padding: 13 })]));
    assert.equal(m.templates.length, 1);
    assert.equal(m.dataSets[0].records.length, 1);
  });

  it('reads variable-length fields in both length encodings (RFC 7011 7)', () => {
    const d = new MessageDecoder();
    d.decode(message([set(2, [templateRecord(300, [{ id: 82, length: 0xffff }, { id: 4, length: 1 }])])]));
    const long = 'x'.repeat(300);
    const m = d.decode(message([set(300, [
      Buffer.concat([varField('eth0'), u8(6)]),
      Buffer.concat([varField('eth1', true), u8(17)]), // the 3-byte form is allowed for short values too
      Buffer.concat([varField(long), u8(1)]),
      Buffer.concat([varField(''), u8(2)]),
    ])]));
    assert.deepEqual(m.dataSets[0].records, [
      { interfaceName: 'eth0', protocolIdentifier: 6 },
      { interfaceName: 'eth1', protocolIdentifier: 17 },
      { interfaceName: long, protocolIdentifier: 1 },
      { interfaceName: '', protocolIdentifier: 2 },
    ]);
  });

  it('decodes reduced-size integers and a float64 sent in 4 bytes (RFC 7011 6.2)', () => {
    const d = new MessageDecoder();
    // octetDeltaCount (u64) in 4, 3, 1 bytes; ingressInterface (u32) in 2; absoluteError (f64) in 4
    d.decode(message([set(2, [templateRecord(301, [
      { id: 1, length: 4 }, { id: 2, length: 3 }, { id: 86, length: 1 }, { id: 10, length: 2 }, { id: 320, length: 4 },
    ])])]));
    const f32 = Buffer.alloc(4);
    f32.writeFloatBE(2.5);
    const m = d.decode(message([set(301, [Buffer.concat([u32(0xfffffffe), Buffer.from([1, 2, 3]), u8(200), u16(513), f32])])]));
    assert.deepEqual(m.dataSets[0].records[0], {
      octetDeltaCount: 0xfffffffe, packetDeltaCount: 0x010203, packetTotalCount: 200, ingressInterface: 513, absoluteError: 2.5,
    });
  });

  it('decodes options templates (set 3) and their data records with scope fields', () => {
    const d = new MessageDecoder();
    // scope: observationDomainId (149/4); then exportedMessageTotalCount (41/8)
    const m = d.decode(message([
      set(3, [optionsTemplateRecord(400, 1, [{ id: 149, length: 4 }, { id: 41, length: 8 }])], { padding: 2 }),
      set(400, [Buffer.concat([u32(5), u32(0), u32(99)])]),
    ]));
    assert.deepEqual(m.templates, [{ templateId: 400, scopeFieldCount: 1, fields: [{ enterpriseId: 0, elementId: 149, length: 4 }, { enterpriseId: 0, elementId: 41, length: 8 }] }]);
    assert.deepEqual(m.dataSets[0].records, [{ observationDomainId: 5, exportedMessageTotalCount: 99 }]);
    assert.equal(d.templates.get(1, 400)?.isOptionsTemplate, true);
  });

  it('reads enterprise field specifiers: reverse (29305), Antrea (56506), and keeps unknown IEs as bytes', () => {
    const d = new MessageDecoder();
    d.decode(message([set(2, [templateRecord(302, [
      { id: 1, length: 8, enterprise: 29305 }, { id: 101, length: 0xffff, enterprise: 56506 }, { id: 7, length: 3, enterprise: 12345 }, { id: 999, length: 2 },
    ])])]));
    const m = d.decode(message([set(302, [Buffer.concat([u32(0), u32(42), varField('web-0'), Buffer.from([1, 2, 3]), u16(0xbeef)])])]));
    const r = m.dataSets[0].records[0];
    assert.equal(r.reverseOctetDeltaCount, 42);
    assert.equal(r.sourcePodName, 'web-0');
    assert.deepEqual(r.ie12345_7, new Uint8Array([1, 2, 3]));
    assert.deepEqual(r.ie0_999, new Uint8Array([0xbe, 0xef]));
  });

  it('keys a repeated IE in one template as name, name#2, ...', () => {
    const d = new MessageDecoder();
    d.decode(message([set(2, [templateRecord(303, [{ id: 4, length: 1 }, { id: 4, length: 1 }])])]));
    const m = d.decode(message([set(303, [Buffer.from([6, 17])])]));
    assert.deepEqual(m.dataSets[0].records[0], { protocolIdentifier: 6, 'protocolIdentifier#2': 17 });
  });

  it('returns copies, not views into the receive buffer', () => {
    const d = new MessageDecoder();
    d.decode(message([set(2, [templateRecord(304, [{ id: 210, length: 4 }, { id: 82, length: 0xffff }])])]));
    const wire = message([set(304, [Buffer.concat([Buffer.from([1, 2, 3, 4]), varField('eth7')])])]);
    const r = d.decode(wire).dataSets[0].records[0];
    wire.fill(0);
    assert.deepEqual(r.paddingOctets, new Uint8Array([1, 2, 3, 4]));
    assert.equal(r.interfaceName, 'eth7');
    assert.notEqual((r.paddingOctets as Uint8Array).buffer, wire.buffer);
  });

  it('decodes the message at an offset and ignores bytes after it', () => {
    const d = new MessageDecoder();
    const m1 = message([set(2, [T256])]);
    const m2 = message([set(256, [rec256([9, 9, 9, 9], 9, 9)])], { sequence: 0 });
    const stream = Buffer.concat([m1, m2, Buffer.from([0xde, 0xad])]);
    d.decode(stream, 0);
    assert.equal(readMessageLength(stream, m1.length), m2.length);
    assert.equal(d.decode(new Uint8Array(stream), m1.length).dataSets[0].records[0].sourceIPv4Address, '9.9.9.9');
  });

  it('counts data sets whose template is unknown and keeps going', () => {
    const d = new MessageDecoder();
    const m = d.decode(message([set(999, [Buffer.alloc(10)]), set(2, [T256]), set(256, [rec256([1, 1, 1, 1], 1, 1)])]));
    assert.equal(m.setsWithoutTemplate, 1);
    assert.equal(m.recordsWithoutTemplate, 1);
    assert.equal(m.dataSets[0].records.length, 1);
  });

  it('keeps templates per observation domain', () => {
    const d = new MessageDecoder();
    d.decode(message([set(2, [T256])], { domain: 1 }));
    const m = d.decode(message([set(256, [rec256([1, 1, 1, 1], 1, 1)])], { domain: 2 }));
    assert.equal(m.setsWithoutTemplate, 1);
    assert.equal(m.dataSets.length, 0);
  });

  it('withdraws one template, and all templates with ID 2 (RFC 7011 8.1)', () => {
    const d = new MessageDecoder();
    d.decode(message([set(2, [T256, templateRecord(257, [{ id: 4, length: 1 }])]), set(3, [optionsTemplateRecord(258, 1, [{ id: 149, length: 4 }])])]));
    assert.equal(d.templates.size, 3);
    let m = d.decode(message([set(2, [withdrawalRecord(256)])]));
    assert.deepEqual(m.withdrawals, [256]);
    assert.equal(d.templates.get(1, 256), undefined);
    assert.ok(d.templates.get(1, 257));
    m = d.decode(message([set(2, [withdrawalRecord(2)])]));
    assert.deepEqual(m.withdrawals, [2]);
    assert.equal(d.templates.get(1, 257), undefined);
    assert.ok(d.templates.get(1, 258), 'options templates stay');
    d.decode(message([set(3, [withdrawalRecord(3)])]));
    assert.equal(d.templates.size, 0);
    assert.equal(d.decode(message([set(256, [rec256([1, 1, 1, 1], 1, 1)])])).setsWithoutTemplate, 1);
  });

  it('expires templates after their lifetime on the injected clock (UDP, RFC 7011 8.4)', () => {
    const clock = new ManualClock();
    const d = new MessageDecoder({ clock, templateLifetimeMs: 1_800_000 });
    d.decode(message([set(2, [T256])]));
    clock.advance(1_799_999);
    assert.equal(d.decode(message([set(256, [rec256([1, 1, 1, 1], 1, 1)])])).dataSets.length, 1);
    d.decode(message([set(2, [T256])])); // a refresh restarts the lifetime
    clock.advance(1_799_999);
    assert.equal(d.templates.size, 1);
    clock.advance(1);
    assert.equal(d.decode(message([set(256, [rec256([1, 1, 1, 1], 1, 1)])])).setsWithoutTemplate, 1);
    assert.equal(d.templates.size, 0);
  });

  it('never expires templates without a lifetime (TCP/TLS)', () => {
    const clock = new ManualClock();
    const cache = new TemplateCache({ clock });
    const d = new MessageDecoder({ templates: cache });
    d.decode(message([set(2, [T256])]));
    clock.advance(365 * 24 * 3600 * 1000);
    assert.ok(cache.get(1, 256));
  });

  const ERRORS: [string, () => Buffer, IpfixErrorCode][] = [
    ['fewer than 4 bytes', () => Buffer.from([0, 10, 0]), 'IPFIX_ERR_SHORT_BUFFER'],
    ['a message cut short', () => message([set(2, [T256])]).subarray(0, 30), 'IPFIX_ERR_SHORT_BUFFER'],
    ['NetFlow v9', () => message([], { version: 9 }), 'IPFIX_ERR_BAD_VERSION'],
    ['a length below 16', () => message([], { length: 15 }), 'IPFIX_ERR_BAD_MESSAGE_LENGTH'],
    ['set ID 1', () => message([set(1, [u32(0)])]), 'IPFIX_ERR_BAD_SET_ID'],
    ['set ID 255', () => message([set(255, [u32(0)])]), 'IPFIX_ERR_BAD_SET_ID'],
    ['a set length of 3', () => message([set(256, [], { length: 3 })]), 'IPFIX_ERR_BAD_SET_LENGTH'],
    ['a set past the message end', () => message([set(256, [u32(0)], { length: 40 })]), 'IPFIX_ERR_BAD_SET_LENGTH'],
    ['2 trailing bytes after the sets', () => message([set(2, [T256]), u16(0)]), 'IPFIX_ERR_BAD_SET_LENGTH'],
    ['template ID 255', () => message([set(2, [templateRecord(255, [{ id: 4, length: 1 }])])]), 'IPFIX_ERR_BAD_TEMPLATE'],
    ['a template cut off', () => message([set(2, [templateRecord(256, [{ id: 4, length: 1 }]).subarray(0, 6)])]), 'IPFIX_ERR_BAD_TEMPLATE'],
    ['an enterprise number cut off', () => message([set(2, [Buffer.concat([u16(256), u16(1), u16(0x8001), u16(4), u16(0)])])]), 'IPFIX_ERR_BAD_TEMPLATE'],
    ['scope field count 0', () => message([set(3, [optionsTemplateRecord(256, 0, [{ id: 4, length: 1 }])])]), 'IPFIX_ERR_BAD_TEMPLATE'],
    ['scope count above field count', () => message([set(3, [optionsTemplateRecord(256, 2, [{ id: 4, length: 1 }])])]), 'IPFIX_ERR_BAD_TEMPLATE'],
    ['withdrawal of ID 100', () => message([set(2, [withdrawalRecord(100)])]), 'IPFIX_ERR_BAD_TEMPLATE'],
    ['ipv4Address of 3 bytes', () => message([set(2, [templateRecord(256, [{ id: 8, length: 3 }])])]), 'IPFIX_ERR_BAD_FIELD_LENGTH'],
    ['unsigned16 of 4 bytes', () => message([set(2, [templateRecord(256, [{ id: 7, length: 4 }])])]), 'IPFIX_ERR_BAD_FIELD_LENGTH'],
    ['variable-length unsigned32', () => message([set(2, [templateRecord(256, [{ id: 10, length: 0xffff }])])]), 'IPFIX_ERR_BAD_FIELD_LENGTH'],
    ['a field of length 0', () => message([set(2, [templateRecord(256, [{ id: 82, length: 0 }])])]), 'IPFIX_ERR_BAD_FIELD_LENGTH'],
    ['a dateTimeSeconds of 2 bytes', () => message([set(2, [templateRecord(256, [{ id: 150, length: 2 }])])]), 'IPFIX_ERR_BAD_FIELD_LENGTH'],
    ['a variable length past the set', () => message([set(2, [templateRecord(256, [{ id: 82, length: 0xffff }])]), set(256, [Buffer.from([5, 65, 65])])]), 'IPFIX_ERR_RECORD_OVERRUN'],
    ['a 3-byte length cut off', () => message([set(2, [templateRecord(256, [{ id: 82, length: 0xffff }])]), set(256, [Buffer.from([255, 0])])]), 'IPFIX_ERR_RECORD_OVERRUN'],
    ['fixed fields after a var field past the set', () => message([set(2, [templateRecord(256, [{ id: 82, length: 0xffff }, { id: 1, length: 8 }])]), set(256, [Buffer.from([5, 65, 65, 65, 65, 65, 0, 0, 0])])]), 'IPFIX_ERR_RECORD_OVERRUN'],
    ['boolean 0', () => message([set(2, [templateRecord(256, [{ id: 276, length: 1 }])]), set(256, [u8(0)])]), 'IPFIX_ERR_BAD_VALUE'],
    ['dateTimeMilliseconds above 2^53', () => message([set(2, [templateRecord(256, [{ id: 152, length: 8 }])]), set(256, [Buffer.alloc(8, 0xff)])]), 'IPFIX_ERR_BAD_VALUE'],
  ];
  for (const [what, bytes, code] of ERRORS) {
    it(`throws ${code} for ${what}`, () => {
      assert.equal(codeOf(() => new MessageDecoder().decode(bytes())), code);
    });
  }

  it('leaves the cache as it was when a template is bad', () => {
    const d = new MessageDecoder();
    assert.equal(codeOf(() => d.decode(message([set(2, [templateRecord(256, [{ id: 8, length: 3 }])])]))), 'IPFIX_ERR_BAD_FIELD_LENGTH');
    assert.equal(d.templates.size, 0);
  });

  it('readMessageLength validates the version and minimum length', () => {
    assert.equal(readMessageLength(message([set(2, [T256])])), 16 + 4 + T256.length);
    assert.equal(codeOf(() => readMessageLength(Buffer.from([0, 10, 0]))), 'IPFIX_ERR_SHORT_BUFFER');
    assert.equal(codeOf(() => readMessageLength(Buffer.from([0, 5, 0, 20]))), 'IPFIX_ERR_BAD_VERSION');
    assert.equal(codeOf(() => readMessageLength(Buffer.from([0, 10, 0, 4]))), 'IPFIX_ERR_BAD_MESSAGE_LENGTH');
  });
});
