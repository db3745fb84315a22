// Builders for conntrack entries in exporter tests: one call per connection, overrides by name.
import type { ConntrackEntry, ConntrackTuple } from '../../../src/exporter/conntrack/types.js';

export interface EntrySpec {
  id?: number;
  src?: string;
  dst?: string;
  sport?: number;
  dport?: number;
  /** Post-DNAT destination (the reply tuple's source); defaults to dst/dport. */
  replySrc?: string;
  replySport?: number;
  protocol?: number;
  zone?: number;
  packets?: number;
  bytes?: number;
  replyPackets?: number;
  replyBytes?: number;
  tcpState?: string;
  status?: number;
  startMs?: number;
  stopMs?: number;
  /** ICMP echo identifier (type 8, code 0 in the original tuple). */
  icmpId?: number;
}

export function entry(spec: EntrySpec = {}): ConntrackEntry {
  const src = spec.src ?? '10.10.0.2';
  const dst = spec.dst ?? '10.10.0.3';
  const sport = spec.sport ?? 40000;
  const dport = spec.dport ?? 80;
  const protocol = spec.protocol ?? 6;
  const original: ConntrackTuple = { sourceAddress: src, destinationAddress: dst, sourcePort: sport, destinationPort: dport };
  if (spec.icmpId !== undefined) Object.assign(original, { icmpId: spec.icmpId, icmpType: 8, icmpCode: 0 });
  const reply: ConntrackTuple = {
    sourceAddress: spec.replySrc ?? dst,
    destinationAddress: src,
    sourcePort: spec.replySport ?? dport,
    destinationPort: sport,
  };
  return {
    id: spec.id ?? 1,
    ipVersion: src.includes(':') ? 6 : 4,
    protocol,
    zone: spec.zone ?? 0,
    mark: 0,
    status: spec.status ?? 0,
    labels: null,
    original,
    reply,
    originalPackets: spec.packets ?? 0,
    originalBytes: spec.bytes ?? 0,
    replyPackets: spec.replyPackets ?? 0,
    replyBytes: spec.replyBytes ?? 0,
    tcpState: spec.tcpState ?? (protocol === 6 ? 'ESTABLISHED' : ''),
    startMs: spec.startMs ?? 0,
    stopMs: spec.stopMs ?? 0,
  };
}
