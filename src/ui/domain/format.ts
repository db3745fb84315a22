// How numbers, times and enum values read on the dashboards. Pure: no DOM.

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
const BIT_UNITS = ['bps', 'kbps', 'Mbps', 'Gbps', 'Tbps'];

function scaled(value: number, base: number, units: string[]): string {
  if (!Number.isFinite(value)) return '–';
  let v = Math.abs(value);
  let i = 0;
  while (v >= base && i < units.length - 1) {
    v /= base;
    i++;
  }
  const sign = value < 0 ? '-' : '';
  const digits = i === 0 || v >= 100 ? 0 : 1;
  return `${sign}${v.toFixed(digits)} ${units[i]}`;
}

/** 1536 -> "1.5 KiB". */
export function formatBytes(bytes: number): string {
  return scaled(bytes, 1024, BYTE_UNITS);
}

/** Bits per second with SI prefixes: 8000 -> "8.0 kbps". */
export function formatBitRate(bitsPerSecond: number): string {
  return scaled(bitsPerSecond, 1000, BIT_UNITS);
}

/** 1234567 -> "1,234,567". */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return '–';
  return Math.round(n)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

const pad = (n: number) => String(n).padStart(2, '0');

/** Epoch seconds as "2023-11-14 22:14:00" in UTC (the store keeps UTC; so do the pages). */
export function formatTime(epochSeconds: number): string {
  if (!Number.isFinite(epochSeconds) || epochSeconds <= 0) return '–';
  const d = new Date(epochSeconds * 1000);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

const PROTOCOLS: Record<number, string> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 58: 'ICMPv6', 132: 'SCTP' };
export const FLOW_TYPES: readonly string[] = ['unknown', 'intraNode', 'interNode', 'toExternal', 'fromExternal'];
export const RULE_ACTIONS: readonly string[] = ['none', 'allow', 'drop', 'reject'];
const POLICY_TYPES: readonly string[] = ['none', 'K8s NetworkPolicy', 'Antrea NetworkPolicy', 'Antrea ClusterNetworkPolicy', 'K8s ClusterNetworkPolicy'];
const END_REASONS: readonly string[] = ['', 'idle timeout', 'active timeout', 'end of flow', 'forced end', 'lack of resources'];

const named = (table: readonly string[], v: number) => (Number.isInteger(v) && v >= 0 && v < table.length && table[v] !== '' ? table[v] : String(v));

export const protocolName = (p: number): string => PROTOCOLS[p] ?? String(p);
export const flowTypeName = (t: number): string => named(FLOW_TYPES, t);
export const actionName = (a: number): string => named(RULE_ACTIONS, a);
export const policyTypeName = (t: number): string => named(POLICY_TYPES, t);
export const flowEndReasonName = (r: number): string => named(END_REASONS, r);

/** Drop or reject: the connection was denied by a policy rule. */
export const isDeniedAction = (a: number): boolean => a === 2 || a === 3;

/** "ns/pod" or the address when there is no Pod, with the port: "shop/web-1:8080", "[fd00::1]:53". */
export function formatEndpoint(namespace: string, pod: string, ip: string, port: number): string {
  if (pod !== '') return `${namespace}/${pod}:${port}`;
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** How a stored column's value reads in the detail panel. */
export function formatColumn(column: string, value: string | number): string {
  if (typeof value === 'string') return value === '' ? '–' : value;
  switch (column) {
    case 'protocolIdentifier':
      return `${protocolName(value)} (${value})`;
    case 'flowType':
      return `${flowTypeName(value)} (${value})`;
    case 'ingressNetworkPolicyRuleAction':
    case 'egressNetworkPolicyRuleAction':
      return `${actionName(value)} (${value})`;
    case 'ingressNetworkPolicyType':
    case 'egressNetworkPolicyType':
      return `${policyTypeName(value)} (${value})`;
    case 'flowEndReason':
      return `${flowEndReasonName(value)} (${value})`;
    case 'correlated':
      return value === 1 ? 'yes' : 'no';
  }
  if (/Seconds|timeInserted/.test(column)) return value === 0 ? '–' : `${formatTime(value)} (${value})`;
  if (/[oO]ctet/.test(column)) return `${formatBytes(value)} (${formatCount(value)})`;
  if (/[tT]hroughput/.test(column)) return formatBitRate(value);
  return String(value);
}
