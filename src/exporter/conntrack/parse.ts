// ctnetlink message parsing (linux/netfilter/nfnetlink_conntrack.h): one conntrack entry per
// IPCTNL_MSG_CT_NEW / IPCTNL_MSG_CT_DELETE message, read with offsets into the receive buffer.
// Nothing here keeps a view into that buffer: entries hold numbers and strings.
//
// Attribute tree of one entry (all payloads big endian):
//
//   CTA_TUPLE_ORIG (1) / CTA_TUPLE_REPLY (2)        nested
//     CTA_TUPLE_IP (1)                              nested
//       CTA_IP_V4_SRC (1) CTA_IP_V4_DST (2)         4 bytes
//       CTA_IP_V6_SRC (3) CTA_IP_V6_DST (4)         16 bytes
//     CTA_TUPLE_PROTO (2)                           nested
//       CTA_PROTO_NUM (1) u8, CTA_PROTO_SRC_PORT (2) u16, CTA_PROTO_DST_PORT (3) u16
//   CTA_STATUS (3) u32      CTA_PROTOINFO (4) > CTA_PROTOINFO_TCP (1) > CTA_PROTOINFO_TCP_STATE (1) u8
//   CTA_TIMEOUT (7) u32 s   CTA_MARK (8) u32        CTA_ID (12) u32          CTA_ZONE (18) u16
//   CTA_COUNTERS_ORIG (9) / CTA_COUNTERS_REPLY (10) nested > CTA_COUNTERS_PACKETS (1), _BYTES (2) u64
//   CTA_TIMESTAMP (20) nested > CTA_TIMESTAMP_START (1), CTA_TIMESTAMP_STOP (2) u64 ns
//   CTA_LABELS (22) 16 bytes (a bitmap)
import type { ConntrackEntry, ConntrackTuple } from './types.js';
import { KernelSourceError, type KernelSourceErrorCode } from './errors.js';
import { AF_INET, AF_INET6, NFGENMSG_LEN, NLA_HDRLEN, NLA_TYPE_MASK, align4, hostU16 } from './netlink.js';

export const IPCTNL_MSG_CT_NEW = 0;
export const IPCTNL_MSG_CT_GET = 1;
export const IPCTNL_MSG_CT_DELETE = 2;

export const CTA_TUPLE_ORIG = 1;
export const CTA_TUPLE_REPLY = 2;
export const CTA_STATUS = 3;
export const CTA_PROTOINFO = 4;
export const CTA_TIMEOUT = 7;
export const CTA_MARK = 8;
export const CTA_COUNTERS_ORIG = 9;
export const CTA_COUNTERS_REPLY = 10;
export const CTA_ID = 12;
export const CTA_ZONE = 18;
export const CTA_TIMESTAMP = 20;
export const CTA_LABELS = 22;

export const CTA_TUPLE_IP = 1;
export const CTA_TUPLE_PROTO = 2;
export const CTA_IP_V4_SRC = 1;
export const CTA_IP_V4_DST = 2;
export const CTA_IP_V6_SRC = 3;
export const CTA_IP_V6_DST = 4;
export const CTA_PROTO_NUM = 1;
export const CTA_PROTO_SRC_PORT = 2;
export const CTA_PROTO_DST_PORT = 3;
export const CTA_PROTOINFO_TCP = 1;
export const CTA_PROTOINFO_TCP_STATE = 1;
export const CTA_COUNTERS_PACKETS = 1;
export const CTA_COUNTERS_BYTES = 2;
export const CTA_TIMESTAMP_START = 1;
export const CTA_TIMESTAMP_STOP = 2;

/** enum tcp_conntrack (linux/netfilter/nf_conntrack_tcp.h), by value. */
export const TCP_STATE_NAMES: readonly string[] = [
  'NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT', 'CLOSE', 'SYN_SENT2',
];

export const IPPROTO_TCP = 6;

// Big-endian reads without Buffer's bounds-checked methods: every offset here is checked
// against the attribute length first, and these inline into the hot loop.
function be16(buf: Buffer, off: number): number {
  return (buf[off] << 8) | buf[off + 1];
}

function be32(buf: Buffer, off: number): number {
  return buf[off] * 0x1000000 + ((buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]);
}

function fail(code: KernelSourceErrorCode, message: string): never {
  throw new KernelSourceError(code, message);
}

/** Checks the attribute header at `off` against `end`; returns nla_len. */
function attrLength(buf: Buffer, off: number, end: number): number {
  if (end - off < NLA_HDRLEN) fail('NETLINK_ERR_SHORT_BUFFER', `attribute header at ${off}: ${end - off} bytes left`);
  const len = hostU16(buf, off);
  if (len < NLA_HDRLEN) fail('NETLINK_ERR_BAD_ATTRIBUTE', `attribute at ${off} has nla_len ${len} < 4`);
  if (len > end - off) fail('NETLINK_ERR_SHORT_BUFFER', `attribute at ${off} claims ${len} bytes, ${end - off} left`);
  return len;
}

function expectLength(type: string, len: number, want: number, off: number): void {
  if (len !== want) fail('NETLINK_ERR_BAD_ATTRIBUTE', `${type} at ${off} has ${len} payload bytes, expected ${want}`);
}

/** u64 big endian into a number; exact up to Number.MAX_SAFE_INTEGER, an error above. */
export function readU64(buf: Buffer, off: number, what: string): number {
  const hi = be32(buf, off);
  if (hi > 0x1fffff) fail('CTNL_ERR_COUNTER_RANGE', `${what} at ${off} is above 2^53 - 1`);
  return hi * 0x100000000 + be32(buf, off + 4);
}

// Conntrack tables repeat the same few addresses many times; formatting each once saves
// one string per tuple side. Bounded: cleared when full.
const V4_CACHE_MAX = 65536;
const v4Cache = new Map<number, string>();

export function formatIPv4(buf: Buffer, off: number): string {
  const n = be32(buf, off);
  let s = v4Cache.get(n);
  if (s === undefined) {
    s = `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
    if (v4Cache.size >= V4_CACHE_MAX) v4Cache.clear();
    v4Cache.set(n, s);
  }
  return s;
}

/** RFC 5952 text of the 16-byte IPv6 address at `off` (IPv4-mapped as ::ffff:a.b.c.d). */
export function formatIPv6(buf: Buffer, off: number): string {
  let bestStart = -1;
  let bestLen = 1;
  let runStart = -1;
  for (let i = 0; i < 8; i++) {
    if (buf[off + 2 * i] === 0 && buf[off + 2 * i + 1] === 0) {
      if (runStart < 0) runStart = i;
      if (i - runStart + 1 > bestLen) {
        bestLen = i - runStart + 1;
        bestStart = runStart;
      }
    } else {
      runStart = -1;
    }
  }
  if (bestStart === 0 && bestLen === 5 && buf[off + 10] === 0xff && buf[off + 11] === 0xff) {
    return `::ffff:${buf[off + 12]}.${buf[off + 13]}.${buf[off + 14]}.${buf[off + 15]}`;
  }
  let s = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      s += i === 0 ? '::' : ':';
      i += bestLen - 1;
      continue;
    }
    s += ((buf[off + 2 * i] << 8) | buf[off + 2 * i + 1]).toString(16);
    if (i < 7) s += ':';
  }
  return s;
}

// Set by parseTuple: the protocol number of the tuple just read (-1 when absent).
let tupleProtocol = -1;

function parseTuple(buf: Buffer, off: number, end: number, family: number, name: string): ConntrackTuple {
  let src = '';
  let dst = '';
  let sport = 0;
  let dport = 0;
  tupleProtocol = -1;
  const addrLen = family === AF_INET ? 4 : 16;
  while (off < end) {
    const len = attrLength(buf, off, end);
    const type = hostU16(buf, off + 2) & NLA_TYPE_MASK;
    const v = off + NLA_HDRLEN;
    const vend = off + len;
    if (type === CTA_TUPLE_IP) {
      let o = v;
      while (o < vend) {
        const l = attrLength(buf, o, vend);
        const t = hostU16(buf, o + 2) & NLA_TYPE_MASK;
        if (t >= CTA_IP_V4_SRC && t <= CTA_IP_V6_DST) {
          const isV4Attr = t <= CTA_IP_V4_DST;
          if (isV4Attr !== (family === AF_INET)) {
            fail('NETLINK_ERR_BAD_ATTRIBUTE', `${name}: CTA_IP attribute ${t} at ${o} does not match family ${family}`);
          }
          expectLength(`${name} address`, l - NLA_HDRLEN, addrLen, o);
          const text = isV4Attr ? formatIPv4(buf, o + NLA_HDRLEN) : formatIPv6(buf, o + NLA_HDRLEN);
          if (t === CTA_IP_V4_SRC || t === CTA_IP_V6_SRC) src = text;
          else dst = text;
        }
        o += align4(l);
      }
    } else if (type === CTA_TUPLE_PROTO) {
      let o = v;
      while (o < vend) {
        const l = attrLength(buf, o, vend);
        const t = hostU16(buf, o + 2) & NLA_TYPE_MASK;
        if (t === CTA_PROTO_NUM) {
          expectLength(`${name} CTA_PROTO_NUM`, l - NLA_HDRLEN, 1, o);
          tupleProtocol = buf[o + NLA_HDRLEN];
        } else if (t === CTA_PROTO_SRC_PORT) {
          expectLength(`${name} CTA_PROTO_SRC_PORT`, l - NLA_HDRLEN, 2, o);
          sport = be16(buf, o + NLA_HDRLEN);
        } else if (t === CTA_PROTO_DST_PORT) {
          expectLength(`${name} CTA_PROTO_DST_PORT`, l - NLA_HDRLEN, 2, o);
          dport = be16(buf, o + NLA_HDRLEN);
        }
        o += align4(l);
      }
    }
    off += align4(len);
  }
  if (src === '' || dst === '') fail('CTNL_ERR_MISSING_ATTRIBUTE', `${name} lacks a source or destination address`);
  if (tupleProtocol < 0) fail('CTNL_ERR_MISSING_ATTRIBUTE', `${name} lacks CTA_PROTO_NUM`);
  return { sourceAddress: src, destinationAddress: dst, sourcePort: sport, destinationPort: dport };
}

// Set by parseCounters.
let counterPackets = 0;
let counterBytes = 0;

function parseCounters(buf: Buffer, off: number, end: number, name: string): void {
  counterPackets = 0;
  counterBytes = 0;
  while (off < end) {
    const len = attrLength(buf, off, end);
    const type = hostU16(buf, off + 2) & NLA_TYPE_MASK;
    if (type === CTA_COUNTERS_PACKETS || type === CTA_COUNTERS_BYTES) {
      expectLength(name, len - NLA_HDRLEN, 8, off);
      const n = readU64(buf, off + NLA_HDRLEN, name);
      if (type === CTA_COUNTERS_PACKETS) counterPackets = n;
      else counterBytes = n;
    }
    off += align4(len);
  }
}

/**
 * Parses one conntrack entry. `off` is where the nfgenmsg starts (right after the nlmsghdr),
 * `end` where the message ends. Throws a KernelSourceError on malformed or incomplete input.
 */
export function parseConntrackEntry(buf: Buffer, off: number, end: number): ConntrackEntry {
  if (end - off < NFGENMSG_LEN) fail('NETLINK_ERR_SHORT_BUFFER', `nfgenmsg at ${off}: ${end - off} bytes left`);
  const family = buf[off];
  if (family !== AF_INET && family !== AF_INET6) fail('CTNL_ERR_FAMILY', `family ${family} at ${off}`);
  let original: ConntrackTuple | null = null;
  let reply: ConntrackTuple | null = null;
  let protocol = -1;
  let status = 0;
  let tcpState = '';
  let timeout = 0;
  let mark = 0;
  let id = 0;
  let zone = 0;
  let originalPackets = 0;
  let originalBytes = 0;
  let replyPackets = 0;
  let replyBytes = 0;
  let startMs = 0;
  let stopMs = 0;
  let labels: Uint8Array | null = null;
  off += NFGENMSG_LEN;
  while (off < end) {
    const len = attrLength(buf, off, end);
    const type = hostU16(buf, off + 2) & NLA_TYPE_MASK;
    const v = off + NLA_HDRLEN;
    const vend = off + len;
    const vlen = len - NLA_HDRLEN;
    switch (type) {
      case CTA_TUPLE_ORIG:
        original = parseTuple(buf, v, vend, family, 'CTA_TUPLE_ORIG');
        protocol = tupleProtocol;
        break;
      case CTA_TUPLE_REPLY:
        reply = parseTuple(buf, v, vend, family, 'CTA_TUPLE_REPLY');
        break;
      case CTA_STATUS:
        expectLength('CTA_STATUS', vlen, 4, off);
        status = be32(buf, v);
        break;
      case CTA_PROTOINFO: {
        let o = v;
        while (o < vend) {
          const l = attrLength(buf, o, vend);
          if ((hostU16(buf, o + 2) & NLA_TYPE_MASK) === CTA_PROTOINFO_TCP) {
            let p = o + NLA_HDRLEN;
            const pend = o + l;
            while (p < pend) {
              const pl = attrLength(buf, p, pend);
              if ((hostU16(buf, p + 2) & NLA_TYPE_MASK) === CTA_PROTOINFO_TCP_STATE) {
                expectLength('CTA_PROTOINFO_TCP_STATE', pl - NLA_HDRLEN, 1, p);
                const s = buf[p + NLA_HDRLEN];
                tcpState = s < TCP_STATE_NAMES.length ? TCP_STATE_NAMES[s] : `UNKNOWN_${s}`;
              }
              p += align4(pl);
            }
          }
          o += align4(l);
        }
        break;
      }
      case CTA_TIMEOUT:
        expectLength('CTA_TIMEOUT', vlen, 4, off);
        timeout = be32(buf, v);
        break;
      case CTA_MARK:
        expectLength('CTA_MARK', vlen, 4, off);
        mark = be32(buf, v);
        break;
      case CTA_ID:
        expectLength('CTA_ID', vlen, 4, off);
        id = be32(buf, v);
        break;
      case CTA_ZONE:
        expectLength('CTA_ZONE', vlen, 2, off);
        zone = be16(buf, v);
        break;
      case CTA_COUNTERS_ORIG:
        parseCounters(buf, v, vend, 'CTA_COUNTERS_ORIG');
        originalPackets = counterPackets;
        originalBytes = counterBytes;
        break;
      case CTA_COUNTERS_REPLY:
        parseCounters(buf, v, vend, 'CTA_COUNTERS_REPLY');
        replyPackets = counterPackets;
        replyBytes = counterBytes;
        break;
      case CTA_TIMESTAMP: {
        let o = v;
        while (o < vend) {
          const l = attrLength(buf, o, vend);
          const t = hostU16(buf, o + 2) & NLA_TYPE_MASK;
          if (t === CTA_TIMESTAMP_START || t === CTA_TIMESTAMP_STOP) {
            expectLength('CTA_TIMESTAMP', l - NLA_HDRLEN, 8, o);
            // Nanoseconds since the epoch exceed 2^53; milliseconds do not, and a double
            // keeps ns / 1e6 exact to well under a millisecond.
            const ns = be32(buf, o + NLA_HDRLEN) * 0x100000000 + be32(buf, o + NLA_HDRLEN + 4);
            if (t === CTA_TIMESTAMP_START) startMs = Math.floor(ns / 1e6);
            else stopMs = Math.floor(ns / 1e6);
          }
          o += align4(l);
        }
        break;
      }
      case CTA_LABELS:
        labels = new Uint8Array(buf.subarray(v, vend)); // a copy, not a view
        break;
      default:
        break;
    }
    off += align4(len);
  }
  if (original === null) fail('CTNL_ERR_MISSING_ATTRIBUTE', 'entry lacks CTA_TUPLE_ORIG');
  if (reply === null) fail('CTNL_ERR_MISSING_ATTRIBUTE', 'entry lacks CTA_TUPLE_REPLY');
  return {
    id,
    ipVersion: family === AF_INET ? 4 : 6,
    protocol,
    zone,
    mark,
    status,
    labels,
    original,
    reply,
    originalPackets,
    originalBytes,
    replyPackets,
    replyBytes,
    tcpState: protocol === IPPROTO_TCP ? tcpState : '',
    startMs,
    stopMs,
    timeoutSeconds: timeout,
  };
}
