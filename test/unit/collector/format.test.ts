import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { jsonValue, recordToJson, recordToText, textValue, toHex } from '../../../src/collector/format.js';
import type { DataRecord } from '../../../src/ipfix/api.js';

describe('collector JSON lines', () => {
  it('prints IE names as keys, addresses as text, counters as numbers and octets as hex', () => {
    const record: DataRecord = {
      sourceIPv4Address: '10.0.0.1',
      destinationIPv6Address: 'fd00::2',
      packetDeltaCount: 42,
      sourcePodName: 'web-7d9f8c6b5-x2x7q',
      ie0_9999: new Uint8Array([0x00, 0xab, 0xff]),
      isMulticast: true,
    };
    const line = recordToJson(record);
    assert.deepEqual(JSON.parse(line), {
      sourceIPv4Address: '10.0.0.1',
      destinationIPv6Address: 'fd00::2',
      packetDeltaCount: 42,
      sourcePodName: 'web-7d9f8c6b5-x2x7q',
      ie0_9999: '00abff',
      isMulticast: true,
    });
    assert.ok(!line.includes('\n'));
  });

  it('prints a 64-bit counter above 2^53 as its exact integer literal', () => {
    const big = 2n ** 64n - 1n;
    const line = recordToJson({ octetTotalCount: big, packetTotalCount: 2 ** 53 - 1 });
    assert.equal(line, '{"octetTotalCount":18446744073709551615,"packetTotalCount":9007199254740991}');
    // JSON.parse rounds it, but the text carries every digit.
    assert.match(line, /18446744073709551615/);
  });

  it('escapes strings and keeps non-ASCII text', () => {
    const line = recordToJson({ sourcePodName: 'quote " back \\ newline \n é ✓' });
    assert.equal(JSON.parse(line).sourcePodName, 'quote " back \\ newline \n é ✓');
  });

  it('prints non-finite floats as strings, since JSON has no literal for them', () => {
    assert.equal(jsonValue(Number.NaN), '"NaN"');
    assert.equal(jsonValue(Number.POSITIVE_INFINITY), '"Infinity"');
    assert.equal(jsonValue(-0.5), '-0.5');
    assert.equal(jsonValue(false), 'false');
  });

  it('prints an empty record as {}', () => {
    assert.equal(recordToJson({}), '{}');
  });
});

describe('collector text blocks', () => {
  it('heads each block with exporter, domain, template and export time, then one field per line', () => {
    const text = recordToText({
      exporter: '[fd00::1]:4739',
      observationDomainId: 5,
      templateId: 256,
      exportTime: 1_700_000_000,
      record: { sourceTransportPort: 80, sourcePodName: 'a', mac: new Uint8Array([1, 2]), empty: new Uint8Array(0) },
    });
    const lines = text.split('\n');
    assert.equal(lines[0], 'IPFIX record from [fd00::1]:4739, observation domain 5, template 256, exported 2023-11-14T22:13:20.000Z');
    assert.equal(lines[1], '  sourceTransportPort  80');
    assert.equal(lines[2], '  sourcePodName        a');
    assert.equal(lines[3], '  mac                  0x0102');
    assert.equal(lines[4], '  empty                (empty)');
    assert.ok(text.endsWith('\n\n'));
  });

  it('shows values without JSON quoting', () => {
    assert.equal(textValue('web'), 'web');
    assert.equal(textValue(12n), '12');
    assert.equal(toHex(new Uint8Array([0, 15, 16, 255])), '000f10ff');
  });
});
