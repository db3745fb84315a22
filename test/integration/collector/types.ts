// A template with one IANA Information Element of every RFC 7011 6.1 data type the IANA
// registry uses (plus the reverse and Antrea enterprises), and records that probe the edges
// of each: 0 and maximum integers, 2^53 on both sides, empty and long variable-length values.
import type { DataRecord, TemplateDefinition } from '../../../src/ipfix/api.js';
import { field } from '../../fixtures/ipfix/build.js';

export const ALL_TYPES_TEMPLATE_ID = 300;

export const ALL_TYPES_FIELDS = [
  'protocolIdentifier', // unsigned8
  'sourceTransportPort', // unsigned16
  'ingressInterface', // unsigned32
  'octetDeltaCount', // unsigned64
  'mibObjectValueInteger', // signed32
  'samplingProbability', // float64
  'dataRecordsReliability', // boolean
  'sourceMacAddress', // macAddress
  'interfaceName', // string (variable length)
  'opaqueOctets', // octetArray (variable length)
  'flowStartSeconds', // dateTimeSeconds
  'flowStartMilliseconds', // dateTimeMilliseconds
  'flowStartMicroseconds', // dateTimeMicroseconds
  'flowStartNanoseconds', // dateTimeNanoseconds
  'sourceIPv4Address', // ipv4Address
  'destinationIPv6Address', // ipv6Address
  'reverseOctetDeltaCount', // unsigned64, enterprise 29305
  'sourcePodName', // string, enterprise 56506
] as const;

export const allTypesTemplate: TemplateDefinition = {
  templateId: ALL_TYPES_TEMPLATE_ID,
  scopeFieldCount: 0,
  fields: ALL_TYPES_FIELDS.map(field),
};

export const allTypesRecords: DataRecord[] = [
  {
    protocolIdentifier: 0,
    sourceTransportPort: 0,
    ingressInterface: 0,
    octetDeltaCount: 0,
    mibObjectValueInteger: -2147483648,
    samplingProbability: 0.25,
    dataRecordsReliability: true,
    sourceMacAddress: '00:00:00:00:00:00',
    interfaceName: '',
    opaqueOctets: new Uint8Array(0),
    flowStartSeconds: 0,
    flowStartMilliseconds: 1_700_000_000_123,
    flowStartMicroseconds: 1_700_000_000_123_456,
    flowStartNanoseconds: 1_700_000_000_123_456_789n,
    sourceIPv4Address: '0.0.0.0',
    destinationIPv6Address: '::',
    reverseOctetDeltaCount: 2 ** 53 - 1,
    sourcePodName: 'frontend-6b7d9c8f5d-x2x7q',
  },
  {
    protocolIdentifier: 255,
    sourceTransportPort: 65535,
    ingressInterface: 4294967295,
    octetDeltaCount: 2n ** 64n - 1n,
    mibObjectValueInteger: 2147483647,
    samplingProbability: -1.5e-300,
    dataRecordsReliability: false,
    sourceMacAddress: 'fe:dc:ba:98:76:54',
    interfaceName: 'eth0 ✓ "quoted"',
    opaqueOctets: new Uint8Array(255).map((_, i) => i),
    flowStartSeconds: 4294967295,
    flowStartMilliseconds: 0,
    flowStartMicroseconds: 0,
    flowStartNanoseconds: 0n,
    sourceIPv4Address: '255.255.255.255',
    destinationIPv6Address: 'fd00:10:244:1::abcd',
    reverseOctetDeltaCount: 2n ** 53n + 1n,
    sourcePodName: 'x'.repeat(300),
  },
];

/** What a JSON line must say for one sent value, compared on the raw JSON text of the value. */
export function expectedJsonText(value: DataRecord[string]): string {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return JSON.stringify(Buffer.from(value).toString('hex'));
  return JSON.stringify(value);
}
