// The public shape of the IPFIX codec (RFC 7011, RFC 5103). Transports, the collector,
// the exporter and the aggregator code against these types only; the implementation
// lives beside this file. Pure: no sockets, no timers, node: built-ins only.

/** RFC 7011 section 6.1 abstract data types (the structured lists are carried as octetArray). */
export type AbstractDataType =
  | 'octetArray'
  | 'unsigned8' | 'unsigned16' | 'unsigned32' | 'unsigned64'
  | 'signed8' | 'signed16' | 'signed32' | 'signed64'
  | 'float32' | 'float64'
  | 'boolean'
  | 'macAddress'
  | 'string'
  | 'dateTimeSeconds' | 'dateTimeMilliseconds' | 'dateTimeMicroseconds' | 'dateTimeNanoseconds'
  | 'ipv4Address' | 'ipv6Address'
  | 'basicList' | 'subTemplateList' | 'subTemplateMultiList';

/** Field length 65535 in a template means "variable length" (RFC 7011 7). */
export const VARIABLE_LENGTH = 0xffff;

export const ENTERPRISE_IANA = 0;
/** RFC 5103 reverse Information Elements: the IANA IDs under this private enterprise number. */
export const ENTERPRISE_REVERSE = 29305;
export const ENTERPRISE_ANTREA = 56506;

export interface InformationElement {
  readonly name: string;
  readonly enterpriseId: number;
  readonly elementId: number;
  readonly dataType: AbstractDataType;
  /** Natural encoded length in bytes; VARIABLE_LENGTH for string, octetArray and lists. */
  readonly length: number;
}

/** One field specifier of a template (RFC 7011 3.2). */
export interface FieldSpecifier {
  readonly enterpriseId: number;
  readonly elementId: number;
  /** Encoded length on the wire, or VARIABLE_LENGTH. May be reduced (RFC 7011 6.2). */
  readonly length: number;
}

export interface TemplateDefinition {
  readonly templateId: number;
  readonly fields: readonly FieldSpecifier[];
  /** 0 for a template record (set ID 2); the scope field count of an options template (set ID 3). */
  readonly scopeFieldCount: number;
}

/**
 * A decoded field value:
 * - unsigned/signed 8-32, float, dateTimeSeconds, dateTimeMilliseconds, dateTimeMicroseconds
 *   (microseconds since the Unix epoch): number;
 * - unsigned64/signed64: number when it is a safe integer, bigint beyond that;
 * - dateTimeNanoseconds: bigint, nanoseconds since the Unix epoch;
 * - boolean: boolean;
 * - string: string; ipv4Address/ipv6Address: text (RFC 5952 for v6); macAddress: "aa:bb:cc:dd:ee:ff";
 * - octetArray, lists and unknown IEs: Uint8Array (a copy, never a view into the receive buffer).
 */
export type IpfixValue = number | bigint | boolean | string | Uint8Array;

/** A data record keyed by Information Element name. Unknown IEs are keyed `ie<enterprise>_<id>`. */
export type DataRecord = Record<string, IpfixValue>;

export interface MessageHeader {
  readonly version: 10;
  readonly length: number;
  /** Seconds since the Unix epoch. */
  readonly exportTime: number;
  readonly sequenceNumber: number;
  readonly observationDomainId: number;
}

export interface DecodedDataSet {
  readonly templateId: number;
  readonly records: DataRecord[];
}

export interface DecodedMessage {
  readonly header: MessageHeader;
  /** Templates and options templates defined by this message, in order. */
  readonly templates: TemplateDefinition[];
  /** Template IDs withdrawn by this message (RFC 7011 8.1); 2 or 3 alone withdraws all. */
  readonly withdrawals: number[];
  readonly dataSets: DecodedDataSet[];
  /**
   * Data records in sets whose template is not (or no longer) known; they are counted, not decoded.
   * Without the template their number is unknowable, so this is a lower bound: one per such set.
   */
  readonly recordsWithoutTemplate: number;
  /** Data sets whose template is not known (RFC 7011 8: kept aside, not decoded). */
  readonly setsWithoutTemplate: number;
}

export type { Clock } from '../util/clock.js';
