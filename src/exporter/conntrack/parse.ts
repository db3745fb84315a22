// ctnetlink message parsing (linux/netfilter/nfnetlink_conntrack.h): one conntrack entry per
// IPCTNL_MSG_CT_NEW / IPCTNL_MSG_CT_DELETE message, read with offsets into the receive buffer.
// Nothing here keeps a view into that buffer: entries hold numbers and strings.
//
// Two steps, so that a dump of 100,000 mostly known connections makes almost no garbage:
//   scanConntrackEntry   walks the attribute tree, checks every length, and reads every number
//                        into a reused EntryDigest (id, counters, ports, address digests, state)
//                        plus where the tuples and labels are; no string, no object.
//   buildConntrackEntry  makes the ConntrackEntry (address strings, tuples, a copy of the
//                        labels) from a scanned message; only for entries the consumer needs.
// parseConntrackEntry does both. EntryScanner, used by dumps, compiles each message shape the
// walk accepted into a MessagePlan, so that the next message of that shape is checked by
// comparing its attribute headers and read at known offsets, without the walk.
//
// Attribute tree of one entry (all payloads big endian):
//
//   CTA_TUPLE_ORIG (1) / CTA_TUPLE_REPLY (2)        nested
//     CTA_TUPLE_IP (1)                              nested
//       CTA_IP_V4_SRC (1) CTA_IP_V4_DST (2)         4 bytes
//       CTA_IP_V6_SRC (3) CTA_IP_V6_DST (4)         16 bytes
//     CTA_TUPLE_PROTO (2)                           nested
//       CTA_PROTO_NUM (1) u8, CTA_PROTO_SRC_PORT (2) u16, CTA_PROTO_DST_PORT (3) u16
//       ICMP:   CTA_PROTO_ICMP_ID (4) u16, CTA_PROTO_ICMP_TYPE (5) u8, CTA_PROTO_ICMP_CODE (6) u8
//       ICMPv6: CTA_PROTO_ICMPV6_ID (7) u16, CTA_PROTO_ICMPV6_TYPE (8) u8, CTA_PROTO_ICMPV6_CODE (9) u8
//   CTA_STATUS (3) u32      CTA_PROTOINFO (4) > CTA_PROTOINFO_TCP (1) > CTA_PROTOINFO_TCP_STATE (1) u8
//   CTA_TIMEOUT (7) u32 s   CTA_MARK (8) u32        CTA_ID (12) u32          CTA_ZONE (18) u16
//   CTA_COUNTERS_ORIG (9) / CTA_COUNTERS_REPLY (10) nested > CTA_COUNTERS_PACKETS (1), _BYTES (2) u64
//   CTA_TIMESTAMP (20) nested > CTA_TIMESTAMP_START (1), CTA_TIMESTAMP_STOP (2) u64 ns
//   CTA_LABELS (22) 16 bytes (a bitmap)
import type { ConntrackDigest, ConntrackEntry, ConntrackTuple } from './types.js';
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
export const CTA_PROTO_ICMP_ID = 4;
export const CTA_PROTO_ICMP_TYPE = 5;
export const CTA_PROTO_ICMP_CODE = 6;
export const CTA_PROTO_ICMPV6_ID = 7;
export const CTA_PROTO_ICMPV6_TYPE = 8;
export const CTA_PROTO_ICMPV6_CODE = 9;
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

// Where walkConntrackEntry read attribute headers, in order; a MessagePlan is made from them.
const MAX_PLAN_HEADERS = 64;
const headersRead = new Int32Array(MAX_PLAN_HEADERS);
let headersReadCount = 0;

/** Checks the attribute header at `off` against `end`; returns nla_len. Notes where it read. */
function attrLength(buf: Buffer, off: number, end: number): number {
  if (headersReadCount < MAX_PLAN_HEADERS) headersRead[headersReadCount] = off;
  headersReadCount++;
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

/**
 * A 32-bit digest of an IPv6 address given as its four big-endian 32-bit words (murmur3's
 * mixing steps). Used only to tell apart connections that already share a kernel id, protocol,
 * zone and ports, so a collision needs all of those to match as well.
 */
export function ipv6AddressDigest(w0: number, w1: number, w2: number, w3: number): number {
  let h = mixWord(0x2f0b3c1d, w0);
  h = mixWord(h, w1);
  h = mixWord(h, w2);
  h = mixWord(h, w3);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h | 0;
}

function mixWord(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** The digest of the address at `off`: IPv4 as an int32 (exact), IPv6 via ipv6AddressDigest. */
function addressDigestAt(buf: Buffer, off: number, isV4: boolean): number {
  if (isV4) return be32(buf, off) | 0;
  return ipv6AddressDigest(be32(buf, off), be32(buf, off + 4), be32(buf, off + 8), be32(buf, off + 12));
}

/**
 * Everything scanConntrackEntry reads. One instance is reused per reader; after a scan it
 * describes the message just scanned, and the offsets point into that message's buffer.
 */
export class EntryDigest implements ConntrackDigest {
  id = 0;
  ipVersion: 4 | 6 = 4;
  protocol = 0;
  zone = 0;
  mark = 0;
  status = 0;
  tcpState = '';
  timeoutSeconds = 0;
  originalPackets = 0;
  originalBytes = 0;
  replyPackets = 0;
  replyBytes = 0;
  startMs = 0;
  stopMs = 0;
  sourcePort = 0;
  destinationPort = 0;
  sourceAddressDigest = 0;
  destinationAddressDigest = 0;
  /** Payload bounds of CTA_TUPLE_ORIG, CTA_TUPLE_REPLY and CTA_LABELS (labelsStart -1: none). */
  originalStart = 0;
  originalEnd = 0;
  replyStart = 0;
  replyEnd = 0;
  labelsStart = -1;
  labelsEnd = -1;
}

/**
 * Where walkConntrackEntry found each value it read (absolute offsets of the payloads; -1 for
 * absent). Compiled into a MessagePlan, relative to the message.
 */
class FieldOffsets {
  id = -1;
  status = -1;
  mark = -1;
  timeout = -1;
  zone = -1;
  protocol = -1;
  sourcePort = -1;
  destinationPort = -1;
  sourceAddress = -1;
  destinationAddress = -1;
  originalPackets = -1;
  originalBytes = -1;
  replyPackets = -1;
  replyBytes = -1;
  start = -1;
  stop = -1;
  tcpState = -1;
}

const walked = new FieldOffsets();

// Set by scanTuple for the tuple just checked.
let tupleProtocolAt = -1;
let tupleSourcePortAt = -1;
let tupleDestinationPortAt = -1;
let tupleSourceAt = -1;
let tupleDestinationAt = -1;
let tupleProtocol = -1;
let tupleSourcePort = 0;
let tupleDestinationPort = 0;
let tupleSourceDigest = 0;
let tupleDestinationDigest = 0;

/**
 * Checks one CTA_TUPLE_* payload and reads its numbers (into the tuple* variables above):
 *
 *   CTA_TUPLE_IP    > CTA_IP_V4_SRC/DST (4 bytes) or CTA_IP_V6_SRC/DST (16 bytes), both required
 *   CTA_TUPLE_PROTO > CTA_PROTO_NUM (u8, required), CTA_PROTO_SRC_PORT / _DST_PORT (u16)
 */
function scanTuple(buf: Buffer, off: number, end: number, family: number, name: string): void {
  let haveSrc = false;
  let haveDst = false;
  tupleProtocol = -1;
  tupleSourcePort = 0;
  tupleDestinationPort = 0;
  tupleProtocolAt = -1;
  tupleSourcePortAt = -1;
  tupleDestinationPortAt = -1;
  const isV4 = family === AF_INET;
  const addrLen = isV4 ? 4 : 16;
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
          if (isV4Attr !== isV4) {
            fail('NETLINK_ERR_BAD_ATTRIBUTE', `${name}: CTA_IP attribute ${t} at ${o} does not match family ${family}`);
          }
          if (l - NLA_HDRLEN !== addrLen) expectLength(`${name} address`, l - NLA_HDRLEN, addrLen, o);
          const digest = addressDigestAt(buf, o + NLA_HDRLEN, isV4);
          if (t === CTA_IP_V4_SRC || t === CTA_IP_V6_SRC) {
            haveSrc = true;
            tupleSourceDigest = digest;
            tupleSourceAt = o + NLA_HDRLEN;
          } else {
            haveDst = true;
            tupleDestinationDigest = digest;
            tupleDestinationAt = o + NLA_HDRLEN;
          }
        }
        o += align4(l);
      }
    } else if (type === CTA_TUPLE_PROTO) {
      let o = v;
      while (o < vend) {
        const l = attrLength(buf, o, vend);
        const t = hostU16(buf, o + 2) & NLA_TYPE_MASK;
        if (t === CTA_PROTO_NUM) {
          if (l - NLA_HDRLEN !== 1) expectLength(`${name} CTA_PROTO_NUM`, l - NLA_HDRLEN, 1, o);
          tupleProtocol = buf[o + NLA_HDRLEN];
          tupleProtocolAt = o + NLA_HDRLEN;
        } else if (t === CTA_PROTO_SRC_PORT) {
          if (l - NLA_HDRLEN !== 2) expectLength(`${name} CTA_PROTO_SRC_PORT`, l - NLA_HDRLEN, 2, o);
          tupleSourcePort = be16(buf, o + NLA_HDRLEN);
          tupleSourcePortAt = o + NLA_HDRLEN;
        } else if (t === CTA_PROTO_DST_PORT) {
          if (l - NLA_HDRLEN !== 2) expectLength(`${name} CTA_PROTO_DST_PORT`, l - NLA_HDRLEN, 2, o);
          tupleDestinationPort = be16(buf, o + NLA_HDRLEN);
          tupleDestinationPortAt = o + NLA_HDRLEN;
        }
        o += align4(l);
      }
    }
    off += align4(len);
  }
  if (!haveSrc || !haveDst) fail('CTNL_ERR_MISSING_ATTRIBUTE', `${name} lacks a source or destination address`);
  if (tupleProtocol < 0) fail('CTNL_ERR_MISSING_ATTRIBUTE', `${name} lacks CTA_PROTO_NUM`);
}

/**
 * Makes the ConntrackTuple of a tuple payload that scanTuple accepted: the same walk, this time
 * formatting the addresses and reading the ICMP identifier, type and code. (The last attribute of
 * each kind wins, as in the scan.) An ICMP attribute of the wrong length is left out: scanTuple
 * does not check them, and buildConntrackEntry must not fail.
 */
function buildTuple(buf: Buffer, off: number, end: number): ConntrackTuple {
  let src = '';
  let dst = '';
  let sport = 0;
  let dport = 0;
  let icmpId = -1;
  let icmpType = -1;
  let icmpCode = -1;
  while (off < end) {
    const len = hostU16(buf, off);
    const type = hostU16(buf, off + 2) & NLA_TYPE_MASK;
    const vend = off + len;
    let o = off + NLA_HDRLEN;
    if (type === CTA_TUPLE_IP) {
      for (; o < vend; o += align4(hostU16(buf, o))) {
        const t = hostU16(buf, o + 2) & NLA_TYPE_MASK;
        if (t === CTA_IP_V4_SRC) src = formatIPv4(buf, o + NLA_HDRLEN);
        else if (t === CTA_IP_V4_DST) dst = formatIPv4(buf, o + NLA_HDRLEN);
        else if (t === CTA_IP_V6_SRC) src = formatIPv6(buf, o + NLA_HDRLEN);
        else if (t === CTA_IP_V6_DST) dst = formatIPv6(buf, o + NLA_HDRLEN);
      }
    } else if (type === CTA_TUPLE_PROTO) {
      for (; o < vend; o += align4(hostU16(buf, o))) {
        const t = hostU16(buf, o + 2) & NLA_TYPE_MASK;
        const vlen = hostU16(buf, o) - NLA_HDRLEN;
        if (t === CTA_PROTO_SRC_PORT) sport = be16(buf, o + NLA_HDRLEN);
        else if (t === CTA_PROTO_DST_PORT) dport = be16(buf, o + NLA_HDRLEN);
        else if ((t === CTA_PROTO_ICMP_ID || t === CTA_PROTO_ICMPV6_ID) && vlen === 2) icmpId = be16(buf, o + NLA_HDRLEN);
        else if ((t === CTA_PROTO_ICMP_TYPE || t === CTA_PROTO_ICMPV6_TYPE) && vlen === 1) icmpType = buf[o + NLA_HDRLEN];
        else if ((t === CTA_PROTO_ICMP_CODE || t === CTA_PROTO_ICMPV6_CODE) && vlen === 1) icmpCode = buf[o + NLA_HDRLEN];
      }
    }
    off += align4(len);
  }
  const tuple: ConntrackTuple = { sourceAddress: src, destinationAddress: dst, sourcePort: sport, destinationPort: dport };
  if (icmpId >= 0 || icmpType >= 0 || icmpCode >= 0) {
    tuple.icmpId = Math.max(icmpId, 0);
    tuple.icmpType = Math.max(icmpType, 0);
    tuple.icmpCode = Math.max(icmpCode, 0);
  }
  return tuple;
}

// Set by parseCounters.
let counterPackets = 0;
let counterBytes = 0;
let counterPacketsAt = -1;
let counterBytesAt = -1;

function parseCounters(buf: Buffer, off: number, end: number, name: string): void {
  counterPackets = 0;
  counterBytes = 0;
  counterPacketsAt = -1;
  counterBytesAt = -1;
  while (off < end) {
    const len = attrLength(buf, off, end);
    const type = hostU16(buf, off + 2) & NLA_TYPE_MASK;
    if (type === CTA_COUNTERS_PACKETS || type === CTA_COUNTERS_BYTES) {
      if (len - NLA_HDRLEN !== 8) expectLength(name, len - NLA_HDRLEN, 8, off);
      const n = readU64(buf, off + NLA_HDRLEN, name);
      if (type === CTA_COUNTERS_PACKETS) {
        counterPackets = n;
        counterPacketsAt = off + NLA_HDRLEN;
      } else {
        counterBytes = n;
        counterBytesAt = off + NLA_HDRLEN;
      }
    }
    off += align4(len);
  }
}

/**
 * Checks one conntrack message attribute by attribute and reads its numbers into `d`. `off` is
 * where the nfgenmsg starts (right after the nlmsghdr), `end` where the message ends. Throws a
 * KernelSourceError on malformed or incomplete input; after it returns, buildConntrackEntry
 * cannot fail. Notes where it read (headersRead, walked) for EntryScanner's plans.
 */
export function scanConntrackEntry(buf: Buffer, off: number, end: number, d: EntryDigest): void {
  headersReadCount = 0;
  const at = walked;
  at.id = -1;
  at.status = -1;
  at.mark = -1;
  at.timeout = -1;
  at.zone = -1;
  at.protocol = -1;
  at.sourcePort = -1;
  at.destinationPort = -1;
  at.sourceAddress = -1;
  at.destinationAddress = -1;
  at.originalPackets = -1;
  at.originalBytes = -1;
  at.replyPackets = -1;
  at.replyBytes = -1;
  at.start = -1;
  at.stop = -1;
  at.tcpState = -1;
  if (end - off < NFGENMSG_LEN) fail('NETLINK_ERR_SHORT_BUFFER', `nfgenmsg at ${off}: ${end - off} bytes left`);
  const family = buf[off];
  if (family !== AF_INET && family !== AF_INET6) fail('CTNL_ERR_FAMILY', `family ${family} at ${off}`);
  let haveOriginal = false;
  let haveReply = false;
  let protocol = -1;
  let tcpState = '';
  d.ipVersion = family === AF_INET ? 4 : 6;
  d.id = 0;
  d.zone = 0;
  d.mark = 0;
  d.status = 0;
  d.timeoutSeconds = 0;
  d.originalPackets = 0;
  d.originalBytes = 0;
  d.replyPackets = 0;
  d.replyBytes = 0;
  d.startMs = 0;
  d.stopMs = 0;
  d.labelsStart = -1;
  d.labelsEnd = -1;
  off += NFGENMSG_LEN;
  while (off < end) {
    const len = attrLength(buf, off, end);
    const type = hostU16(buf, off + 2) & NLA_TYPE_MASK;
    const v = off + NLA_HDRLEN;
    const vend = off + len;
    const vlen = len - NLA_HDRLEN;
    switch (type) {
      case CTA_TUPLE_ORIG:
        scanTuple(buf, v, vend, family, 'CTA_TUPLE_ORIG');
        haveOriginal = true;
        protocol = tupleProtocol;
        d.sourcePort = tupleSourcePort;
        d.destinationPort = tupleDestinationPort;
        d.sourceAddressDigest = tupleSourceDigest;
        d.destinationAddressDigest = tupleDestinationDigest;
        at.protocol = tupleProtocolAt;
        at.sourcePort = tupleSourcePortAt;
        at.destinationPort = tupleDestinationPortAt;
        at.sourceAddress = tupleSourceAt;
        at.destinationAddress = tupleDestinationAt;
        d.originalStart = v;
        d.originalEnd = vend;
        break;
      case CTA_TUPLE_REPLY:
        scanTuple(buf, v, vend, family, 'CTA_TUPLE_REPLY');
        haveReply = true;
        d.replyStart = v;
        d.replyEnd = vend;
        break;
      case CTA_STATUS:
        if (vlen !== 4) expectLength('CTA_STATUS', vlen, 4, off);
        d.status = be32(buf, v);
        at.status = v;
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
                if (pl - NLA_HDRLEN !== 1) expectLength('CTA_PROTOINFO_TCP_STATE', pl - NLA_HDRLEN, 1, p);
                const s = buf[p + NLA_HDRLEN];
                tcpState = tcpStateName(s);
                at.tcpState = p + NLA_HDRLEN;
              }
              p += align4(pl);
            }
          }
          o += align4(l);
        }
        break;
      }
      case CTA_TIMEOUT:
        if (vlen !== 4) expectLength('CTA_TIMEOUT', vlen, 4, off);
        d.timeoutSeconds = be32(buf, v);
        at.timeout = v;
        break;
      case CTA_MARK:
        if (vlen !== 4) expectLength('CTA_MARK', vlen, 4, off);
        d.mark = be32(buf, v);
        at.mark = v;
        break;
      case CTA_ID:
        if (vlen !== 4) expectLength('CTA_ID', vlen, 4, off);
        d.id = be32(buf, v);
        at.id = v;
        break;
      case CTA_ZONE:
        if (vlen !== 2) expectLength('CTA_ZONE', vlen, 2, off);
        d.zone = be16(buf, v);
        at.zone = v;
        break;
      case CTA_COUNTERS_ORIG:
        parseCounters(buf, v, vend, 'CTA_COUNTERS_ORIG');
        d.originalPackets = counterPackets;
        d.originalBytes = counterBytes;
        at.originalPackets = counterPacketsAt;
        at.originalBytes = counterBytesAt;
        break;
      case CTA_COUNTERS_REPLY:
        parseCounters(buf, v, vend, 'CTA_COUNTERS_REPLY');
        d.replyPackets = counterPackets;
        d.replyBytes = counterBytes;
        at.replyPackets = counterPacketsAt;
        at.replyBytes = counterBytesAt;
        break;
      case CTA_TIMESTAMP: {
        let o = v;
        while (o < vend) {
          const l = attrLength(buf, o, vend);
          const t = hostU16(buf, o + 2) & NLA_TYPE_MASK;
          if (t === CTA_TIMESTAMP_START || t === CTA_TIMESTAMP_STOP) {
            if (l - NLA_HDRLEN !== 8) expectLength('CTA_TIMESTAMP', l - NLA_HDRLEN, 8, o);
            if (t === CTA_TIMESTAMP_START) {
              d.startMs = timestampMs(buf, o + NLA_HDRLEN);
              at.start = o + NLA_HDRLEN;
            } else {
              d.stopMs = timestampMs(buf, o + NLA_HDRLEN);
              at.stop = o + NLA_HDRLEN;
            }
          }
          o += align4(l);
        }
        break;
      }
      case CTA_LABELS:
        d.labelsStart = v;
        d.labelsEnd = vend;
        break;
      default:
        break;
    }
    off += align4(len);
  }
  if (!haveOriginal) fail('CTNL_ERR_MISSING_ATTRIBUTE', 'entry lacks CTA_TUPLE_ORIG');
  if (!haveReply) fail('CTNL_ERR_MISSING_ATTRIBUTE', 'entry lacks CTA_TUPLE_REPLY');
  d.protocol = protocol;
  d.tcpState = protocol === IPPROTO_TCP ? tcpState : '';
}

function tcpStateName(s: number): string {
  return s < TCP_STATE_NAMES.length ? TCP_STATE_NAMES[s] : `UNKNOWN_${s}`;
}

/**
 * A CTA_TIMESTAMP_START/STOP u64 of nanoseconds in ms. Nanoseconds since the epoch exceed
 * 2^53; milliseconds do not, and a double keeps ns / 1e6 exact to well under a millisecond.
 */
function timestampMs(buf: Buffer, off: number): number {
  return Math.floor((be32(buf, off) * 0x100000000 + be32(buf, off + 4)) / 1e6);
}

// The same reads through a DataView, for MessagePlan.read: V8 compiles getUint32 to one load
// and a byte swap, where be32 is four loads; read() is too large for be32 to be inlined in it.
function viewU64(v: DataView, off: number, what: string): number {
  const hi = v.getUint32(off);
  if (hi > 0x1fffff) fail('CTNL_ERR_COUNTER_RANGE', `${what} at ${off} is above 2^53 - 1`);
  return hi * 0x100000000 + v.getUint32(off + 4);
}

function viewTimestampMs(v: DataView, off: number): number {
  return Math.floor((v.getUint32(off) * 0x100000000 + v.getUint32(off + 4)) / 1e6);
}

function viewAddressDigest(v: DataView, off: number, isV4: boolean): number {
  if (isV4) return v.getInt32(off);
  return ipv6AddressDigest(v.getUint32(off), v.getUint32(off + 4), v.getUint32(off + 8), v.getUint32(off + 12));
}

/** Makes the entry of the message `d` describes; `buf` must be the buffer scanned into `d`. */
export function buildConntrackEntry(buf: Buffer, d: EntryDigest): ConntrackEntry {
  return {
    id: d.id,
    ipVersion: d.ipVersion,
    protocol: d.protocol,
    zone: d.zone,
    mark: d.mark,
    status: d.status,
    // a copy, not a view
    labels: d.labelsStart < 0 ? null : new Uint8Array(buf.subarray(d.labelsStart, d.labelsEnd)),
    original: buildTuple(buf, d.originalStart, d.originalEnd),
    reply: buildTuple(buf, d.replyStart, d.replyEnd),
    originalPackets: d.originalPackets,
    originalBytes: d.originalBytes,
    replyPackets: d.replyPackets,
    replyBytes: d.replyBytes,
    tcpState: d.tcpState,
    startMs: d.startMs,
    stopMs: d.stopMs,
    timeoutSeconds: d.timeoutSeconds,
  };
}

/**
 * A compiled message shape. The kernel writes every conntrack entry with the same code
 * (ctnetlink_fill_info), so a table holds few shapes: UDP over IPv4 with counters and a start
 * timestamp, TCP with its protoinfo, the same over IPv6, ... Two messages of the same family and
 * length whose attribute headers (nla_len and nla_type, one 32-bit word each) are equal at every
 * place the walk read one make the walk take the same path and read the same offsets. So the
 * first message of a shape is walked, and the plan remembers the header words it saw and where
 * each value was; later messages compare those words and read the values directly.
 *
 *   message:  nfgenmsg | hdr | hdr | hdr | value | hdr | value | ...
 *   plan:     headerAt [1, 2, 3, 5, ...] (32-bit words from the nfgenmsg) + headerWord [...]
 *             fields   { id: 212, status: 120, originalPackets: 132, ... } (bytes; -1 absent)
 *
 * What the walk checks on values rather than headers (a counter above 2^53) is checked again.
 */
class MessagePlan {
  constructor(
    readonly family: number,
    readonly length: number,
    private readonly headerAt: Int32Array,
    private readonly headerWord: Int32Array,
    private readonly at: FieldOffsets,
    private readonly originalStart: number,
    private readonly originalEnd: number,
    private readonly replyStart: number,
    private readonly replyEnd: number,
    private readonly labelsStart: number,
    private readonly labelsEnd: number,
  ) {}

  /** `words` views the datagram as host-order 32-bit words; `base` is the nfgenmsg's word index. */
  matches(words: Int32Array, base: number): boolean {
    const at = this.headerAt;
    const want = this.headerWord;
    for (let i = 0; i < at.length; i++) {
      if (words[base + at[i]] !== want[i]) return false;
    }
    return true;
  }

  /** Reads the message at `off` (nfgenmsg) into `d`, as walkConntrackEntry would. `v` views `buf`. */
  read(buf: Buffer, v: DataView, off: number, d: EntryDigest): void {
    const at = this.at;
    const isV4 = this.family === AF_INET;
    d.ipVersion = isV4 ? 4 : 6;
    d.id = at.id < 0 ? 0 : v.getUint32(off + at.id);
    d.zone = at.zone < 0 ? 0 : v.getUint16(off + at.zone);
    d.mark = at.mark < 0 ? 0 : v.getUint32(off + at.mark);
    d.status = at.status < 0 ? 0 : v.getUint32(off + at.status);
    d.timeoutSeconds = at.timeout < 0 ? 0 : v.getUint32(off + at.timeout);
    d.originalPackets = at.originalPackets < 0 ? 0 : viewU64(v, off + at.originalPackets, 'CTA_COUNTERS_ORIG');
    d.originalBytes = at.originalBytes < 0 ? 0 : viewU64(v, off + at.originalBytes, 'CTA_COUNTERS_ORIG');
    d.replyPackets = at.replyPackets < 0 ? 0 : viewU64(v, off + at.replyPackets, 'CTA_COUNTERS_REPLY');
    d.replyBytes = at.replyBytes < 0 ? 0 : viewU64(v, off + at.replyBytes, 'CTA_COUNTERS_REPLY');
    d.startMs = at.start < 0 ? 0 : viewTimestampMs(v, off + at.start);
    d.stopMs = at.stop < 0 ? 0 : viewTimestampMs(v, off + at.stop);
    // A plan exists only for messages the walk accepted: the tuples have addresses and a protocol.
    d.protocol = buf[off + at.protocol];
    d.sourcePort = at.sourcePort < 0 ? 0 : v.getUint16(off + at.sourcePort);
    d.destinationPort = at.destinationPort < 0 ? 0 : v.getUint16(off + at.destinationPort);
    d.sourceAddressDigest = viewAddressDigest(v, off + at.sourceAddress, isV4);
    d.destinationAddressDigest = viewAddressDigest(v, off + at.destinationAddress, isV4);
    d.tcpState = d.protocol === IPPROTO_TCP && at.tcpState >= 0 ? tcpStateName(buf[off + at.tcpState]) : '';
    d.originalStart = off + this.originalStart;
    d.originalEnd = off + this.originalEnd;
    d.replyStart = off + this.replyStart;
    d.replyEnd = off + this.replyEnd;
    d.labelsStart = this.labelsStart < 0 ? -1 : off + this.labelsStart;
    d.labelsEnd = this.labelsStart < 0 ? -1 : off + this.labelsEnd;
  }
}

/** Copies `walked` relative to `off`. */
function relativeOffsets(off: number): FieldOffsets {
  const r = new FieldOffsets();
  for (const k of Object.keys(r) as (keyof FieldOffsets)[]) r[k] = walked[k] < 0 ? -1 : walked[k] - off;
  return r;
}

/** Shapes kept per scanner, and per message length; beyond them the oldest are dropped. */
const MAX_PLANS = 64;
const MAX_PLANS_PER_LENGTH = 4;

/**
 * scanConntrackEntry with compiled message shapes (MessagePlan). One per dumper, so the plans
 * outlive a dump. Plans need the datagram 4-byte aligned (the netlink receive buffers are);
 * other buffers are walked.
 */
export class EntryScanner {
  /** Messages read through a plan / walked attribute by attribute; for tests and benchmarks. */
  messagesPlanned = 0;
  messagesWalked = 0;
  /** By message length * 16 + family: the plans of that length, most recently made first. */
  private readonly plans = new Map<number, MessagePlan[]>();
  private last: MessagePlan | null = null;
  private words: Int32Array | null = null;
  private view: DataView | null = null;
  private wordsOf: Buffer | null = null;

  scan(buf: Buffer, off: number, end: number, d: EntryDigest): void {
    if (buf !== this.wordsOf) {
      this.wordsOf = buf;
      this.words = (buf.byteOffset & 3) === 0 ? new Int32Array(buf.buffer, buf.byteOffset, buf.length >>> 2) : null;
      this.view = new DataView(buf.buffer, buf.byteOffset, buf.length);
    }
    const words = this.words;
    const view = this.view!;
    const length = end - off;
    if (words === null || (off & 3) !== 0 || length < NFGENMSG_LEN) {
      this.messagesWalked++;
      scanConntrackEntry(buf, off, end, d);
      return;
    }
    const family = buf[off];
    const base = off >>> 2;
    // Most messages have the shape of the one before.
    const last = this.last;
    if (last !== null && last.length === length && last.family === family && last.matches(words, base)) {
      this.messagesPlanned++;
      last.read(buf, view, off, d);
      return;
    }
    const key = length * 16 + family;
    const sameLength = this.plans.get(key);
    if (sameLength !== undefined) {
      for (const plan of sameLength) {
        if (plan !== last && plan.matches(words, base)) {
          this.last = plan;
          this.messagesPlanned++;
          plan.read(buf, view, off, d);
          return;
        }
      }
    }
    this.messagesWalked++;
    scanConntrackEntry(buf, off, end, d);
    if (headersReadCount <= MAX_PLAN_HEADERS) this.learn(key, buf, off, length, words, d);
  }

  /** Compiles the message just walked (headersRead, walked, d) into a plan. */
  private learn(key: number, buf: Buffer, off: number, length: number, words: Int32Array, d: EntryDigest): void {
    const headerAt = new Int32Array(headersReadCount);
    const headerWord = new Int32Array(headersReadCount);
    for (let i = 0; i < headersReadCount; i++) {
      headerAt[i] = (headersRead[i] - off) >>> 2;
      headerWord[i] = words[headersRead[i] >>> 2];
    }
    const plan = new MessagePlan(
      buf[off], length, headerAt, headerWord, relativeOffsets(off),
      d.originalStart - off, d.originalEnd - off, d.replyStart - off, d.replyEnd - off,
      d.labelsStart < 0 ? -1 : d.labelsStart - off, d.labelsEnd < 0 ? -1 : d.labelsEnd - off,
    );
    let sameLength = this.plans.get(key);
    if (sameLength === undefined) {
      if (this.plans.size >= MAX_PLANS) this.plans.delete(this.plans.keys().next().value as number);
      sameLength = [];
      this.plans.set(key, sameLength);
    }
    sameLength.unshift(plan);
    if (sameLength.length > MAX_PLANS_PER_LENGTH) sameLength.length = MAX_PLANS_PER_LENGTH;
    this.last = plan;
  }
}

const scratch = new EntryDigest();

/**
 * Parses one conntrack entry. `off` is where the nfgenmsg starts (right after the nlmsghdr),
 * `end` where the message ends. Throws a KernelSourceError on malformed or incomplete input.
 */
export function parseConntrackEntry(buf: Buffer, off: number, end: number): ConntrackEntry {
  scanConntrackEntry(buf, off, end, scratch);
  return buildConntrackEntry(buf, scratch);
}
