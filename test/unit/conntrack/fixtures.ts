// Builders for ctnetlink and NFLOG byte fixtures: small functions that write exactly what the
// kernel writes (host-order headers, big-endian payloads, 4-byte alignment).
import { endianness } from 'node:os';

const LE = endianness() === 'LE';
export const NESTED = 0x8000;

function hostU16(n: number): Buffer {
  const b = Buffer.alloc(2);
  if (LE) b.writeUInt16LE(n);
  else b.writeUInt16BE(n);
  return b;
}

export function u8(n: number): Buffer {
  return Buffer.of(n);
}
export function be16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}
export function be32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}
export function be64(n: bigint | number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}
export function ipv4(text: string): Buffer {
  return Buffer.from(text.split('.').map(Number));
}
export function ipv6(text: string): Buffer {
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

/** One attribute: header, value, padding to 4 bytes. `lenOverride` writes a wrong nla_len. */
export function attr(type: number, value: Buffer, lenOverride?: number): Buffer {
  const len = 4 + value.length;
  const pad = (4 - (len % 4)) % 4;
  return Buffer.concat([hostU16(lenOverride ?? len), hostU16(type), value, Buffer.alloc(pad)]);
}
export function nest(type: number, ...children: Buffer[]): Buffer {
  return attr(type | NESTED, Buffer.concat(children));
}

/** nlmsghdr + nfgenmsg + attributes. */
export function nfMessage(o: { type: number; flags?: number; seq?: number; family: number; resId?: number; body: Buffer[]; lenOverride?: number }): Buffer {
  const body = Buffer.concat(o.body);
  const len = 16 + 4 + body.length;
  const h = Buffer.alloc(20);
  if (LE) {
    h.writeUInt32LE(o.lenOverride ?? len, 0);
    h.writeUInt16LE(o.type, 4);
    h.writeUInt16LE(o.flags ?? 0, 6);
    h.writeUInt32LE(o.seq ?? 0, 8);
  } else {
    h.writeUInt32BE(o.lenOverride ?? len, 0);
    h.writeUInt16BE(o.type, 4);
    h.writeUInt16BE(o.flags ?? 0, 6);
    h.writeUInt32BE(o.seq ?? 0, 8);
  }
  h[16] = o.family;
  h.writeUInt16BE(o.resId ?? 0, 18);
  return Buffer.concat([h, body]);
}

/** A bare netlink control message (NLMSG_DONE, NLMSG_ERROR) with a 4-byte int payload + extra. */
export function controlMessage(type: number, seq: number, errnoValue = 0, flags = 0): Buffer {
  const len = type === 2 ? 16 + 4 + 16 : 16 + 4;
  const b = Buffer.alloc(len);
  const w32 = (v: number, o: number): void => void (LE ? b.writeInt32LE(v, o) : b.writeInt32BE(v, o));
  w32(len, 0);
  if (LE) {
    b.writeUInt16LE(type, 4);
    b.writeUInt16LE(flags, 6);
  } else {
    b.writeUInt16BE(type, 4);
    b.writeUInt16BE(flags, 6);
  }
  w32(seq, 8);
  w32(type === 2 ? -errnoValue : 0, 16);
  return b;
}

export interface TupleSpec {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: number;
  /** ICMP / ICMPv6: written instead of the ports, as the kernel does (CTA_PROTO_ICMP*_ID, _TYPE, _CODE). */
  icmp?: { id: number; type: number; code: number };
}

export function tuple(type: number, t: TupleSpec): Buffer {
  const v6 = t.src.includes(':');
  const l4 = t.icmp
    ? [attr(v6 ? 7 : 4, be16(t.icmp.id)), attr(v6 ? 8 : 5, u8(t.icmp.type)), attr(v6 ? 9 : 6, u8(t.icmp.code))]
    : [attr(2, be16(t.sport)), attr(3, be16(t.dport))];
  return nest(
    type,
    nest(1, attr(v6 ? 3 : 1, v6 ? ipv6(t.src) : ipv4(t.src)), attr(v6 ? 4 : 2, v6 ? ipv6(t.dst) : ipv4(t.dst))),
    nest(2, attr(1, u8(t.proto)), ...l4),
  );
}

export function counters(type: number, packets: bigint | number, bytes: bigint | number): Buffer {
  return nest(type, attr(1, be64(packets)), attr(2, be64(bytes)));
}

export interface EntrySpec {
  orig: TupleSpec;
  reply?: TupleSpec;
  status?: number;
  tcpState?: number;
  timeout?: number;
  mark?: number;
  id?: number;
  zone?: number;
  origCounters?: [bigint | number, bigint | number];
  replyCounters?: [bigint | number, bigint | number];
  startNs?: bigint;
  stopNs?: bigint;
  labels?: Buffer;
}

export function reversed(t: TupleSpec): TupleSpec {
  return { src: t.dst, dst: t.src, sport: t.dport, dport: t.sport, proto: t.proto };
}

/** The attributes of one conntrack entry, in the kernel's order (ctnetlink_fill_info). */
export function entryAttrs(e: EntrySpec): Buffer[] {
  const out: Buffer[] = [tuple(1, e.orig), tuple(2, e.reply ?? reversed(e.orig))];
  if (e.zone !== undefined) out.push(attr(18, be16(e.zone)));
  out.push(attr(3, be32(e.status ?? 0x18e)));
  if (e.origCounters) out.push(counters(9, ...e.origCounters));
  if (e.replyCounters) out.push(counters(10, ...e.replyCounters));
  if (e.startNs !== undefined) {
    const ts = [attr(1, be64(e.startNs))];
    if (e.stopNs !== undefined) ts.push(attr(2, be64(e.stopNs)));
    out.push(nest(20, ...ts));
  }
  out.push(attr(7, be32(e.timeout ?? 120)));
  if (e.tcpState !== undefined) out.push(nest(4, nest(1, attr(1, u8(e.tcpState)), attr(2, u8(7)), attr(3, u8(7)))));
  out.push(attr(8, be32(e.mark ?? 0)));
  if (e.labels) out.push(attr(22, e.labels));
  out.push(attr(12, be32(e.id ?? 1)));
  out.push(attr(11, be32(1))); // CTA_USE, ignored
  return out;
}

export const CT_NEW_TYPE = (1 << 8) | 0;
export const CT_DELETE_TYPE = (1 << 8) | 2;

export function ctMessage(e: EntrySpec, o: { seq?: number; flags?: number; type?: number } = {}): Buffer {
  const family = e.orig.src.includes(':') ? 10 : 2;
  return nfMessage({ type: o.type ?? CT_NEW_TYPE, flags: o.flags ?? 2, seq: o.seq ?? 0, family, body: entryAttrs(e) });
}

/** An IPv4 packet header + 4 bytes of ports (+ padding), as NFLOG copies it. */
export function ipv4Packet(o: { src: string; dst: string; proto: number; sport: number; dport: number; totalLength: number; fragOffset?: number }): Buffer {
  const b = Buffer.alloc(20 + 8);
  b[0] = 0x45;
  b.writeUInt16BE(o.totalLength, 2);
  b.writeUInt16BE(o.fragOffset ?? 0x4000, 6);
  b[8] = 64;
  b[9] = o.proto;
  ipv4(o.src).copy(b, 12);
  ipv4(o.dst).copy(b, 16);
  b.writeUInt16BE(o.sport, 20);
  b.writeUInt16BE(o.dport, 22);
  return b;
}

export function ipv6Packet(o: { src: string; dst: string; proto: number; sport: number; dport: number; payloadLength: number; hopByHop?: boolean }): Buffer {
  const ext = o.hopByHop ? Buffer.alloc(8) : Buffer.alloc(0);
  if (o.hopByHop) ext[0] = o.proto;
  const b = Buffer.alloc(40);
  b[0] = 0x60;
  b.writeUInt16BE(o.payloadLength, 4);
  b[6] = o.hopByHop ? 0 : o.proto;
  b[7] = 64;
  ipv6(o.src).copy(b, 8);
  ipv6(o.dst).copy(b, 24);
  const l4 = Buffer.alloc(8);
  l4.writeUInt16BE(o.sport, 0);
  l4.writeUInt16BE(o.dport, 2);
  return Buffer.concat([b, ext, l4]);
}

export const NFLOG_PACKET_TYPE = (4 << 8) | 0;

export function nflogMessage(o: { family: number; group: number; prefix?: string; payload?: Buffer; timestamp?: [number, number]; mark?: number; indev?: number }): Buffer {
  const body: Buffer[] = [attr(1, Buffer.from([o.family === 2 ? 0x08 : 0x86, o.family === 2 ? 0x00 : 0xdd, 3, 0]))];
  if (o.mark !== undefined) body.push(attr(2, be32(o.mark)));
  if (o.timestamp) body.push(attr(3, Buffer.concat([be64(o.timestamp[0]), be64(o.timestamp[1])])));
  if (o.indev !== undefined) body.push(attr(4, be32(o.indev)));
  if (o.prefix !== undefined) body.push(attr(10, Buffer.concat([Buffer.from(o.prefix), Buffer.of(0)])));
  if (o.payload) body.push(attr(9, o.payload));
  return nfMessage({ type: NFLOG_PACKET_TYPE, family: o.family, resId: o.group, body });
}
