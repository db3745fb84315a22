// The record the aggregator's collecting process decodes exporter messages into: a FlowRecord
// whose IPv4 addresses come as their 32-bit values as well. The 5-tuple key is numeric, so
// decoding the address bytes into text and parsing the text back into a number for every
// record would be work thrown away; the text is made only when a flow is exported
// (FlowTable.addressText).
import { FLOW_RECORD_SHAPE } from '../flow/ie-mapping.js';
import type { FlowRecord } from '../flow/record.js';
import type { RecordShape, ShapeProperty } from '../ipfix/template.js';

/**
 * A FlowRecord with `sourceIPv4`/`destinationIPv4`: for an IPv4 record decoded with
 * WIRE_FLOW_RECORD_SHAPE, the addresses' 32-bit values (-1 when the template lacks the field),
 * and `sourceAddress`/`destinationAddress` are left '' (ipv4Text of the value is the text).
 * For IPv6 records both numbers are -1 and the text fields hold the addresses.
 */
export interface WireFlowRecord extends FlowRecord {
  sourceIPv4: number;
  destinationIPv4: number;
}

/** True when the record carries its IPv4 addresses as numbers (WIRE_FLOW_RECORD_SHAPE). */
export function hasIpv4Numbers(r: FlowRecord): r is WireFlowRecord {
  return r.ipVersion === 4 && typeof (r as Partial<WireFlowRecord>).sourceIPv4 === 'number';
}

/** FLOW_RECORD_SHAPE with IPv4 addresses as numbers instead of text. */
export const WIRE_FLOW_RECORD_SHAPE: RecordShape<WireFlowRecord> = Object.freeze({
  name: 'WireFlowRecord',
  properties(keys: ReadonlySet<string>): ShapeProperty[] {
    const v6 = keys.has('sourceIPv6Address') || keys.has('destinationIPv6Address');
    const properties: ShapeProperty[] = [];
    for (const p of FLOW_RECORD_SHAPE.properties(keys)) {
      if (!v6 && (p.name === 'sourceAddress' || p.name === 'destinationAddress')) properties.push({ name: p.name, value: '' });
      else properties.push(p);
    }
    properties.push(
      v6 ? { name: 'sourceIPv4', value: -1 } : { name: 'sourceIPv4', key: 'sourceIPv4Address', as: 'ipv4Number' },
      v6 ? { name: 'destinationIPv4', value: -1 } : { name: 'destinationIPv4', key: 'destinationIPv4Address', as: 'ipv4Number' },
    );
    return properties;
  },
});
