import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { IpfixError, MessageDecoder, MessageWriter, VARIABLE_LENGTH, ieByName } from '../../../src/ipfix/index.js';
import type { DataRecord, InformationElement, IpfixValue, TemplateDefinition } from '../../../src/ipfix/index.js';

/** Writes one record with a one-field template and decodes it back. */
function roundTrip(ieName: string, value: IpfixValue, length?: number, maxMessageSize?: number): IpfixValue {
  const ie = ieByName(ieName);
  assert.ok(ie, `${ieName} is in the registry`);
  const def: TemplateDefinition = {
    templateId: 400,
    scopeFieldCount: 0,
    fields: [{ enterpriseId: ie.enterpriseId, elementId: ie.elementId, length: length ?? ie.length }],
  };
  const writer = new MessageWriter({ observationDomainId: 9, maxMessageSize });
  writer.addTemplate(def);
  const decoder = new MessageDecoder();
  for (const m of writer.templateMessages()) decoder.decode(m);
  const messages = writer.encodeRecords(400, [{ [ieName]: value }]);
  assert.equal(messages.length, 1);
  const decoded = decoder.decode(messages[0]);
  assert.equal(decoded.dataSets.length, 1);
  assert.equal(decoded.dataSets[0].records.length, 1);
  return decoded.dataSets[0].records[0][ieName];
}

const SAFE = Number.MAX_SAFE_INTEGER; // 2^53 - 1

// [IE, data type, value, expected after decoding (default: the same)]
const CASES: [string, string, IpfixValue, IpfixValue?][] = [
  ['protocolIdentifier', 'unsigned8', 0],
  ['protocolIdentifier', 'unsigned8', 255],
  ['sourceTransportPort', 'unsigned16', 65535],
  ['ingressInterface', 'unsigned32', 0xffffffff],
  ['octetDeltaCount', 'unsigned64 0', 0],
  ['octetDeltaCount', 'unsigned64 2^32', 2 ** 32],
  ['octetDeltaCount', 'unsigned64 2^53 - 1 (number)', SAFE],
  ['octetDeltaCount', 'unsigned64 2^53 - 1 given as bigint', BigInt(SAFE), SAFE],
  ['octetDeltaCount', 'unsigned64 2^53 (bigint)', 2n ** 53n],
  ['octetDeltaCount', 'unsigned64 2^53 + 1 (bigint)', 2n ** 53n + 1n],
  ['octetDeltaCount', 'unsigned64 2^64 - 1', 2n ** 64n - 1n],
  ['mibObjectValueInteger', 'signed32', -2147483648],
  ['mibObjectValueInteger', 'signed32', 2147483647],
  ['ingressNetworkPolicyRulePriority', 'signed32 (Antrea)', -5],
  ['absoluteError', 'float64', 1.5e-300],
  ['absoluteError', 'float64 NaN', NaN],
  ['absoluteError', 'float64 -Infinity', -Infinity],
  ['dataRecordsReliability', 'boolean true', true],
  ['dataRecordsReliability', 'boolean false', false],
  ['sourceMacAddress', 'macAddress', '00:1b:21:ab:cd:ef'],
  ['interfaceName', 'string (variable)', 'eth0'],
  ['interfaceName', 'string UTF-8', 'Grüße, 世界 🚀'],
  ['interfaceName', 'string empty', ''],
  ['flowStartSeconds', 'dateTimeSeconds', 1_700_000_123],
  ['flowStartMilliseconds', 'dateTimeMilliseconds', 1_700_000_123_456],
  ['flowStartMicroseconds', 'dateTimeMicroseconds (NTP)', 1_700_000_123_456_789],
  ['flowStartMicroseconds', 'dateTimeMicroseconds before 1970', -1_000_001],
  ['flowStartNanoseconds', 'dateTimeNanoseconds (NTP)', 1_700_000_123_456_789_123n],
  ['flowStartNanoseconds', 'dateTimeNanoseconds whole second', 1_700_000_000_000_000_000n],
  ['sourceIPv4Address', 'ipv4Address', '192.168.1.254'],
  ['sourceIPv4Address', 'ipv4Address zero', '0.0.0.0'],
  ['sourceIPv6Address', 'ipv6Address', '2001:db8::1'],
  ['sourceIPv6Address', 'ipv6Address full', '2001:db8:1:2:3:4:5:6'],
  ['sourceIPv6Address', 'ipv6Address RFC 5952 shortening', '2001:0DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
  ['sourceIPv6Address', 'ipv6Address IPv4-mapped', '::ffff:10.0.0.1'],
  ['sourceIPv6Address', 'ipv6Address unspecified', '::'],
  ['paddingOctets', 'octetArray', new Uint8Array([0, 1, 2, 255])],
  ['reverseOctetDeltaCount', 'reverse unsigned64 (29305)', 123456789],
  ['sourcePodName', 'Antrea string (56506)', 'frontend-7d9c8b6f5-x2x9q'],
  ['destinationPodUUID', 'Antrea fixed-length octetArray', new Uint8Array(16).fill(7)],
  ['destinationServiceIPv6', 'Antrea ipv6Address', 'fd00:10:96::a'],
];

describe('writer -> decoder round trip', () => {
  for (const [ieName, label, value, expected] of CASES) {
    it(`is the identity for ${label} (${ieName})`, () => {
      const got = roundTrip(ieName, value);
      assert.deepEqual(got, expected ?? value);
    });
  }

  it('keeps 64-bit values exact on both sides of 2^53: number below, bigint from 2^53', () => {
    assert.equal(typeof roundTrip('packetDeltaCount', SAFE), 'number');
    assert.equal(roundTrip('packetDeltaCount', 2n ** 53n), 2n ** 53n);
    assert.equal(typeof roundTrip('packetDeltaCount', 2n ** 53n), 'bigint');
  });

  // The registries have no signed8/16/64 or float32 element; a session can know extra ones.
  const EXTRA: InformationElement[] = [
    { name: 'testSigned8', enterpriseId: 4242, elementId: 1, dataType: 'signed8', length: 1 },
    { name: 'testSigned16', enterpriseId: 4242, elementId: 2, dataType: 'signed16', length: 2 },
    { name: 'testSigned64', enterpriseId: 4242, elementId: 3, dataType: 'signed64', length: 8 },
    { name: 'testFloat32', enterpriseId: 4242, elementId: 4, dataType: 'float32', length: 4 },
  ];
  function extraRoundTrip(name: string, value: IpfixValue, length?: number): IpfixValue {
    const ie = EXTRA.find((e) => e.name === name)!;
    const writer = new MessageWriter({ observationDomainId: 1, extraElements: EXTRA });
    writer.addTemplate({ templateId: 401, scopeFieldCount: 0, fields: [{ enterpriseId: 4242, elementId: ie.elementId, length: length ?? ie.length }] });
    const decoder = new MessageDecoder({ extraElements: EXTRA });
    for (const m of writer.templateMessages()) decoder.decode(m);
    return decoder.decode(writer.encodeRecords(401, [{ [name]: value }])[0]).dataSets[0].records[0][name];
  }
  const EXTRA_CASES: [string, IpfixValue, IpfixValue?, number?][] = [
    ['testSigned8', -128], ['testSigned8', 127],
    ['testSigned16', -32768], ['testSigned16', 32767],
    ['testSigned64', -SAFE], ['testSigned64', SAFE],
    ['testSigned64', -(2n ** 53n)], ['testSigned64', 2n ** 53n], ['testSigned64', -(2n ** 63n)], ['testSigned64', 2n ** 63n - 1n],
    ['testSigned64', -1n, -1], ['testSigned64', -300, -300, 2], ['testSigned64', -(2n ** 40n), -(2 ** 40), 6],
    ['testFloat32', 0.5], ['testFloat32', -325_000_000],
  ];
  for (const [name, value, expected, length] of EXTRA_CASES) {
    it(`is the identity for ${name} = ${String(value)}${length ? ` in ${length} bytes` : ''}`, () => {
      assert.deepEqual(extraRoundTrip(name, value, length), expected ?? value);
    });
  }

  it('keeps signed64 exact on both sides of -2^53: number from -(2^53 - 1), bigint below', () => {
    assert.equal(typeof extraRoundTrip('testSigned64', -SAFE), 'number');
    assert.equal(typeof extraRoundTrip('testSigned64', -(2n ** 53n)), 'bigint');
  });

  for (const size of [0, 1, 254, 255, 256, 1000, 65535 - 16 - 4 - 3]) {
    it(`round-trips a variable-length octetArray of ${size} bytes`, () => {
      const bytes = new Uint8Array(size).map((_, i) => (i * 31) & 0xff);
      assert.deepEqual(roundTrip('paddingOctets', bytes), bytes);
    });
    it(`round-trips a variable-length string of ${size} bytes`, () => {
      const text = 'k'.repeat(size);
      assert.equal(roundTrip('interfaceName', text), text);
    });
  }

  it('refuses a 65535-byte value: it cannot fit a 65535-byte message with its headers', () => {
    assert.throws(
      () => roundTrip('paddingOctets', new Uint8Array(65535)),
      (e: unknown) => e instanceof IpfixError && e.code === 'IPFIX_ERR_RECORD_TOO_LARGE',
    );
    assert.throws(
      () => roundTrip('paddingOctets', new Uint8Array(65535 - 16 - 4 - 3 + 1)),
      (e: unknown) => e instanceof IpfixError && e.code === 'IPFIX_ERR_RECORD_TOO_LARGE',
    );
  });

  it('refuses a variable-length value above 65535 bytes instead of truncating it', () => {
    assert.throws(
      () => roundTrip('interfaceName', 'x'.repeat(65536)),
      (e: unknown) => e instanceof IpfixError && e.code === 'IPFIX_ERR_VALUE_TOO_LONG',
    );
  });

  it('pads a fixed-length string with NULs and reads it back without them', () => {
    assert.equal(roundTrip('interfaceName', 'eth0', 16), 'eth0');
  });

  it('refuses a string longer than its fixed-length field', () => {
    assert.throws(
      () => roundTrip('interfaceName', 'a-very-long-interface-name', 8),
      (e: unknown) => e instanceof IpfixError && e.code === 'IPFIX_ERR_VALUE_TOO_LONG',
    );
  });

  it('writes and reads reduced-size integers (RFC 7011 6.2)', () => {
    assert.equal(roundTrip('octetDeltaCount', 0xffffffff, 4), 0xffffffff);
    assert.equal(roundTrip('octetDeltaCount', 0xffffff, 3), 0xffffff);
    assert.equal(roundTrip('octetDeltaCount', 2 ** 48 - 1, 6), 2 ** 48 - 1);
    assert.equal(roundTrip('octetDeltaCount', 2n ** 56n - 1n, 7), 2n ** 56n - 1n);
    assert.equal(roundTrip('ingressInterface', 0xffff, 2), 0xffff);
    assert.equal(roundTrip('absoluteError', 1.5, 4), 1.5);
    assert.throws(
      () => roundTrip('octetDeltaCount', 2 ** 32, 4),
      (e: unknown) => e instanceof IpfixError && e.code === 'IPFIX_ERR_VALUE_RANGE',
    );
  });

  it('round-trips a record with every data type at once', () => {
    const names = ['protocolIdentifier', 'sourceTransportPort', 'ingressInterface', 'octetDeltaCount', 'mibObjectValueInteger',
      'absoluteError', 'dataRecordsReliability', 'sourceMacAddress', 'interfaceName', 'flowStartSeconds', 'flowStartMilliseconds',
      'flowStartMicroseconds', 'flowStartNanoseconds', 'sourceIPv4Address', 'sourceIPv6Address', 'paddingOctets'];
    const fields = names.map((n) => {
      const ie = ieByName(n)!;
      return { enterpriseId: ie.enterpriseId, elementId: ie.elementId, length: ie.length };
    });
    const record: DataRecord = {
      protocolIdentifier: 17, sourceTransportPort: 53, ingressInterface: 3, octetDeltaCount: 2n ** 60n,
      mibObjectValueInteger: -1, absoluteError: 0.25, dataRecordsReliability: true, sourceMacAddress: 'de:ad:be:ef:00:01',
      interfaceName: 'veth-pod-1', flowStartSeconds: 1, flowStartMilliseconds: 2, flowStartMicroseconds: 3,
      flowStartNanoseconds: 4n, sourceIPv4Address: '1.2.3.4', sourceIPv6Address: 'fe80::1', paddingOctets: new Uint8Array([9]),
    };
    const writer = new MessageWriter({ observationDomainId: 1 });
    writer.addTemplate({ templateId: 500, scopeFieldCount: 0, fields });
    const decoder = new MessageDecoder();
    for (const m of writer.templateMessages()) decoder.decode(m);
    const [m] = writer.encodeRecords(500, [record, record]);
    const out = decoder.decode(m);
    assert.deepEqual(out.dataSets[0].records, [record, record]);
    assert.ok(fields.some((f) => f.length === VARIABLE_LENGTH));
  });
});
