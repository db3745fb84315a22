// The record the aggregator's collecting process decodes exporter messages into: a FlowRecord
// whose IPv4 addresses come as their 32-bit values, and whose names come as ids of the
// aggregator's string table.
//
// The 5-tuple key is numeric, so decoding the address bytes into text and parsing the text
// back into a number for every record would be work thrown away; the text is made only when a
// flow is exported (FlowTable.addressText). Names (Pods, namespaces, Nodes, policies, TCP
// state) are looked up by their bytes in the string table (StringTable.idOf), so a name the
// table knows costs no JS string, and merging a record into its flow compares 4-byte ids.
import { FLOW_RECORD_SHAPE } from '../flow/ie-mapping.js';
import type { FlowRecord } from '../flow/record.js';
import type { NameInterner, RecordShape, ShapeProperty } from '../ipfix/template.js';

/** The FlowRecord text fields that a WireFlowRecord carries as string-table ids (`<field>Id`). */
export const NAME_FIELDS = [
  'sourcePodNamespace', 'sourcePodName', 'destinationPodNamespace', 'destinationPodName',
  'sourceNodeName', 'destinationNodeName', 'destinationServicePortName',
  'ingressNetworkPolicyName', 'ingressNetworkPolicyNamespace', 'ingressNetworkPolicyRuleName',
  'egressNetworkPolicyName', 'egressNetworkPolicyNamespace', 'egressNetworkPolicyRuleName',
  'tcpState',
] as const;
export type NameField = (typeof NAME_FIELDS)[number];

/** A FlowRecord without its names: what the aggregation reads of every record. */
export type FlowFacts = Omit<FlowRecord, NameField>;

/**
 * A record decoded with wireFlowRecordShape: for IPv4, `sourceIPv4`/`destinationIPv4` are the
 * addresses' 32-bit values (-1 when the template lacks the field) and
 * `sourceAddress`/`destinationAddress` are '' (ipv4Text of the value is the text); for IPv6 both
 * numbers are -1 and the text fields hold the addresses. Each name is `<field>Id`, an id of the
 * string table the shape was made for (0 for ''), valid until that table's next sweep().
 */
export type WireFlowRecord = FlowFacts & {
  sourceIPv4: number;
  destinationIPv4: number;
} & { [K in NameField as `${K}Id`]: number };

/** True when the record carries its IPv4 addresses as numbers (a WireFlowRecord). */
export function hasIpv4Numbers(r: FlowFacts): r is WireFlowRecord {
  return r.ipVersion === 4 && typeof (r as Partial<WireFlowRecord>).sourceIPv4 === 'number';
}

const NAMES: ReadonlySet<string> = new Set(NAME_FIELDS);

/**
 * FLOW_RECORD_SHAPE with IPv4 addresses as numbers and names as ids of `strings` (the
 * aggregation's string table, AggregationProcess.wireShape).
 */
export function wireFlowRecordShape(strings: NameInterner): RecordShape<WireFlowRecord> {
  return Object.freeze({
    name: 'WireFlowRecord',
    interner: strings,
    properties(keys: ReadonlySet<string>): ShapeProperty[] {
      const v6 = keys.has('sourceIPv6Address') || keys.has('destinationIPv6Address');
      const properties: ShapeProperty[] = [];
      for (const p of FLOW_RECORD_SHAPE.properties(keys)) {
        if (!v6 && (p.name === 'sourceAddress' || p.name === 'destinationAddress')) properties.push({ name: p.name, value: '' });
        else if (NAMES.has(p.name) && 'key' in p) properties.push({ name: `${p.name}Id`, key: p.key, as: 'id' });
        else properties.push(p);
      }
      properties.push(
        v6 ? { name: 'sourceIPv4', value: -1 } : { name: 'sourceIPv4', key: 'sourceIPv4Address', as: 'ipv4Number' },
        v6 ? { name: 'destinationIPv4', value: -1 } : { name: 'destinationIPv4', key: 'destinationIPv4Address', as: 'ipv4Number' },
      );
      return properties;
    },
  });
}
