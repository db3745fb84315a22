// Output formats for the CLI: table, JSON, YAML, CSV and JSON lines. Pure functions of the
// query layer's results, so `flowvis flows`, `top` and `export` print the same things the API
// returns.
import { stringify as toYaml } from 'yaml';
import { FlowType } from '../flow/record.js';
import type { StoredFlow } from './schema.js';

export const OUTPUT_FORMATS = ['table', 'json', 'yaml', 'csv'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

const PROTOCOL_NAMES: Record<number, string> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 58: 'ICMPv6', 132: 'SCTP' };
const FLOW_TYPE_NAMES = Object.fromEntries(Object.entries(FlowType).map(([k, v]) => [v, k])) as Record<number, string>;

/** RFC 4180: quote when needed, double the quotes. */
export function csvField(v: unknown): string {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvHeader(keys: readonly string[]): string {
  return keys.map(csvField).join(',') + '\n';
}

export function csvRows(items: readonly Record<string, unknown>[], keys: readonly string[]): string {
  let out = '';
  for (const item of items) out += keys.map((k) => csvField(item[k])).join(',') + '\n';
  return out;
}

/** Columns padded to their widest cell. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

const endpoint = (ns: string, pod: string, ip: string, port: number) => `${pod ? `${ns}/${pod}` : ip.includes(':') ? `[${ip}]` : ip}:${port}`;

export const FLOW_TABLE_HEADERS = ['END', 'PROTO', 'SOURCE', 'DESTINATION', 'SERVICE', 'TYPE', 'BYTES', 'REV BYTES', 'PACKETS', 'POLICY'] as const;

export function flowTableRow(f: StoredFlow): string[] {
  const policy = [f.egressNetworkPolicyName && `egress ${f.egressNetworkPolicyNamespace}/${f.egressNetworkPolicyName}`, f.ingressNetworkPolicyName && `ingress ${f.ingressNetworkPolicyNamespace}/${f.ingressNetworkPolicyName}`]
    .filter(Boolean)
    .join(', ');
  return [
    new Date(f.flowEndSeconds * 1000).toISOString().replace('.000Z', 'Z'),
    PROTOCOL_NAMES[f.protocolIdentifier] ?? String(f.protocolIdentifier),
    endpoint(f.sourcePodNamespace, f.sourcePodName, f.sourceIP, f.sourceTransportPort),
    endpoint(f.destinationPodNamespace, f.destinationPodName, f.destinationIP, f.destinationTransportPort),
    f.destinationServicePortName,
    FLOW_TYPE_NAMES[f.flowType] ?? String(f.flowType),
    String(f.octetDeltaCount),
    String(f.reverseOctetDeltaCount),
    String(f.packetDeltaCount + f.reversePacketDeltaCount),
    policy,
  ];
}

/** A whole result as JSON or YAML. */
export function document(result: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? JSON.stringify(result, null, 2) + '\n' : toYaml(result);
}

/** A generic table of items: one column per key of the first item. */
export function itemsTable(items: readonly Record<string, unknown>[]): string {
  if (items.length === 0) return '(no results)\n';
  const keys = Object.keys(items[0]);
  return table(keys.map((k) => k.replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase()), items.map((it) => keys.map((k) => String(it[k] ?? ''))));
}
