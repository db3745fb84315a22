// NFLOG packet parsing (linux/netfilter/nfnetlink_log.h): one NFULNL_MSG_PACKET message
// becomes one DeniedPacket. The payload is the logged packet from its IP header on:
//
//   IPv4: | ver/ihl | tos | total length | id | flags/frag | ttl | proto | csum | src(4) | dst(4) | opts | L4
//   IPv6: | ver/tc/flow (4) | payload length | next header | hop limit | src(16) | dst(16) | ext hdrs | L4
//   TCP/UDP/SCTP L4: | source port | destination port | ...
//
// `bytes` is the packet's own length (IPv4 total length, IPv6 40 + payload length), so it is
// right whatever copy range the NFLOG rule or the socket asked for.
import { KernelSourceError } from '../conntrack/errors.js';
import { AF_INET, AF_INET6, NFGENMSG_LEN, NLA_HDRLEN, NLA_TYPE_MASK, align4, hostU16 } from '../conntrack/netlink.js';
import { formatIPv4, formatIPv6 } from '../conntrack/parse.js';
import { parseDenyPrefix, type DenyPrefix } from './prefix.js';

export const NFULNL_MSG_PACKET = 0;
export const NFULNL_MSG_CONFIG = 1;

export const NFULA_PACKET_HDR = 1;
export const NFULA_MARK = 2;
export const NFULA_TIMESTAMP = 3;
export const NFULA_IFINDEX_INDEV = 4;
export const NFULA_IFINDEX_OUTDEV = 5;
export const NFULA_PAYLOAD = 9;
export const NFULA_PREFIX = 10;

/** A packet that an NFLOG rule logged, typically right before a DROP or REJECT rule. */
export interface DeniedPacket {
  /** The NFLOG group it came from (res_id of the message). */
  group: number;
  ipVersion: 4 | 6;
  protocol: number;
  sourceAddress: string;
  destinationAddress: string;
  /** 0 for protocols without ports (ICMP) and for non-first fragments. */
  sourcePort: number;
  destinationPort: number;
  /** Length of the IP packet in bytes. */
  bytes: number;
  /** NFULA_TIMESTAMP in ms since the epoch, or the source's clock when the kernel sent none. */
  timestampMs: number;
  /** The rule's --nflog-prefix ('' when none). */
  prefix: string;
  /** The prefix read as flowvis's format; null when it is not a flowvis prefix. */
  deny: DenyPrefix | null;
  mark: number;
  /** Interface indexes (0 when absent). */
  inInterface: number;
  outInterface: number;
}

function fail(message: string): never {
  throw new KernelSourceError('NFLOG_ERR_PAYLOAD', message);
}

const IPPROTO_HOPOPTS = 0;
const IPPROTO_ROUTING = 43;
const IPPROTO_FRAGMENT = 44;
const IPPROTO_DSTOPTS = 60;
const PORTED = new Set([6, 17, 33, 132, 136]); // TCP, UDP, DCCP, SCTP, UDP-Lite

/**
 * Parses one NFULNL_MSG_PACKET message: `off` is where its nfgenmsg starts, `end` where it ends.
 * `nowMs` supplies the time when the kernel attached no timestamp.
 */
export function parseNflogPacket(buf: Buffer, off: number, end: number, nowMs: () => number): DeniedPacket {
  if (end - off < NFGENMSG_LEN) throw new KernelSourceError('NETLINK_ERR_SHORT_BUFFER', `nfgenmsg at ${off}: ${end - off} bytes left`);
  const family = buf[off];
  const group = buf.readUInt16BE(off + 2);
  let payload = -1;
  let payloadEnd = -1;
  let prefix = '';
  let timestampMs = -1;
  let mark = 0;
  let inInterface = 0;
  let outInterface = 0;
  off += NFGENMSG_LEN;
  while (off < end) {
    if (end - off < NLA_HDRLEN) throw new KernelSourceError('NETLINK_ERR_SHORT_BUFFER', `attribute header at ${off}`);
    const len = hostU16(buf, off);
    if (len < NLA_HDRLEN) throw new KernelSourceError('NETLINK_ERR_BAD_ATTRIBUTE', `attribute at ${off} has nla_len ${len}`);
    if (len > end - off) throw new KernelSourceError('NETLINK_ERR_SHORT_BUFFER', `attribute at ${off} claims ${len} bytes, ${end - off} left`);
    const type = hostU16(buf, off + 2) & NLA_TYPE_MASK;
    const v = off + NLA_HDRLEN;
    const vlen = len - NLA_HDRLEN;
    switch (type) {
      case NFULA_PAYLOAD:
        payload = v;
        payloadEnd = v + vlen;
        break;
      case NFULA_PREFIX: {
        // NUL-terminated string
        let e = v + vlen;
        const nul = buf.indexOf(0, v);
        if (nul >= 0 && nul < e) e = nul;
        prefix = buf.toString('utf8', v, e);
        break;
      }
      case NFULA_TIMESTAMP:
        if (vlen !== 16) throw new KernelSourceError('NETLINK_ERR_BAD_ATTRIBUTE', `NFULA_TIMESTAMP at ${off} has ${vlen} bytes, expected 16`);
        timestampMs = (buf.readUInt32BE(v) * 0x100000000 + buf.readUInt32BE(v + 4)) * 1000 + Math.floor(buf.readUInt32BE(v + 12) / 1000);
        break;
      case NFULA_MARK:
      case NFULA_IFINDEX_INDEV:
      case NFULA_IFINDEX_OUTDEV: {
        if (vlen !== 4) throw new KernelSourceError('NETLINK_ERR_BAD_ATTRIBUTE', `NFLOG attribute ${type} at ${off} has ${vlen} bytes, expected 4`);
        const n = buf.readUInt32BE(v);
        if (type === NFULA_MARK) mark = n;
        else if (type === NFULA_IFINDEX_INDEV) inInterface = n;
        else outInterface = n;
        break;
      }
      default:
        break;
    }
    off += align4(len);
  }
  if (payload < 0) fail('the packet has no NFULA_PAYLOAD (the NFLOG copy mode must include the packet)');
  if (payloadEnd - payload < 1) fail('the payload is empty');
  const version = buf[payload] >> 4;
  if ((family === AF_INET && version !== 4) || (family === AF_INET6 && version !== 6) || (version !== 4 && version !== 6)) {
    fail(`family ${family} with an IP version ${version} payload`);
  }
  let protocol: number;
  let l4: number;
  let bytes: number;
  let firstFragment = true;
  let sourceAddress: string;
  let destinationAddress: string;
  if (version === 4) {
    if (payloadEnd - payload < 20) fail(`IPv4 header needs 20 bytes, payload has ${payloadEnd - payload}`);
    const ihl = (buf[payload] & 0x0f) * 4;
    if (ihl < 20) fail(`IPv4 header length ${ihl} < 20`);
    bytes = buf.readUInt16BE(payload + 2);
    firstFragment = (buf.readUInt16BE(payload + 6) & 0x1fff) === 0;
    protocol = buf[payload + 9];
    sourceAddress = formatIPv4(buf, payload + 12);
    destinationAddress = formatIPv4(buf, payload + 16);
    l4 = payload + ihl;
  } else {
    if (payloadEnd - payload < 40) fail(`IPv6 header needs 40 bytes, payload has ${payloadEnd - payload}`);
    bytes = 40 + buf.readUInt16BE(payload + 4);
    protocol = buf[payload + 6];
    sourceAddress = formatIPv6(buf, payload + 8);
    destinationAddress = formatIPv6(buf, payload + 24);
    l4 = payload + 40;
    // Walk the extension headers that can precede the transport header.
    for (let hops = 0; hops < 8; hops++) {
      if (protocol === IPPROTO_HOPOPTS || protocol === IPPROTO_ROUTING || protocol === IPPROTO_DSTOPTS) {
        if (payloadEnd - l4 < 2) fail('IPv6 extension header is cut off');
        protocol = buf[l4];
        l4 += (buf[l4 + 1] + 1) * 8;
      } else if (protocol === IPPROTO_FRAGMENT) {
        if (payloadEnd - l4 < 8) fail('IPv6 fragment header is cut off');
        firstFragment = (buf.readUInt16BE(l4 + 2) & 0xfff8) === 0;
        protocol = buf[l4];
        l4 += 8;
      } else {
        break;
      }
    }
  }
  let sourcePort = 0;
  let destinationPort = 0;
  if (PORTED.has(protocol) && firstFragment) {
    if (payloadEnd - l4 < 4) fail(`protocol ${protocol} ports are cut off (copy range too small?)`);
    sourcePort = buf.readUInt16BE(l4);
    destinationPort = buf.readUInt16BE(l4 + 2);
  }
  let deny: DenyPrefix | null = null;
  deny = parseDenyPrefix(prefix);
  return {
    group,
    ipVersion: version === 4 ? 4 : 6,
    protocol,
    sourceAddress,
    destinationAddress,
    sourcePort,
    destinationPort,
    bytes,
    timestampMs: timestampMs >= 0 ? timestampMs : nowMs(),
    prefix,
    deny,
    mark,
    inInterface,
    outInterface,
  };
}
