// Netlink framing shared by the ctnetlink and NFLOG sources: message and attribute headers,
// request building, and the NETLINK_NETFILTER constants. Pure: no sockets.
//
// A netlink datagram holds one or more messages, each 4-byte aligned (netlink(7)):
//
//   0               1               2               3
//   +---------------+---------------+---------------+---------------+
//   |                     nlmsg_len (host order, u32)               |
//   +---------------+---------------+---------------+---------------+
//   |      nlmsg_type (u16)         |       nlmsg_flags (u16)       |
//   +---------------+---------------+---------------+---------------+
//   |                     nlmsg_seq (u32)                           |
//   +---------------+---------------+---------------+---------------+
//   |                     nlmsg_pid (u32)                           |
//   +---------------+---------------+---------------+---------------+
//   | nfgen_family  |   version     |      res_id (big endian)      |  struct nfgenmsg
//   +---------------+---------------+---------------+---------------+
//   | nla_len (u16) | nla_type (u16, bit 15 NESTED, bit 14 NET_BYTEORDER) | attributes...
//
// Header fields are in host byte order; nfnetlink attribute payloads are big endian.
import { endianness } from 'node:os';
import { constants as osConstants } from 'node:os';
import { KernelSourceError } from './errors.js';

export const NETLINK_NETFILTER = 12;

export const NLMSG_HDRLEN = 16;
export const NFGENMSG_LEN = 4;
export const NLA_HDRLEN = 4;
/** nla_type without NLA_F_NESTED (0x8000) and NLA_F_NET_BYTEORDER (0x4000). */
export const NLA_TYPE_MASK = 0x3fff;

export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_DUMP = 0x300;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;

/** nfnetlink subsystems (linux/netfilter/nfnetlink.h); the message type is subsys << 8 | msg. */
export const NFNL_SUBSYS_CTNETLINK = 1;
export const NFNL_SUBSYS_ULOG = 4;
export const NFNETLINK_V0 = 0;

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;

export function align4(n: number): number {
  return (n + 3) & ~3;
}

const hostIsLE = endianness() === 'LE';
/** Whether this host is little endian: netlink headers are in host order. */
export const HOST_IS_LE = hostIsLE;

/**
 * A datagram's 32-bit words in host order, for reading its netlink headers (every message
 * starts on a word), or null when the buffer does not start on a word (then use hostU32/hostU16).
 * The addon's receive buffers and the dump ring's slots start on a word.
 */
export function hostWords(buf: Uint8Array): Uint32Array | null {
  return (buf.byteOffset & 3) === 0 ? new Uint32Array(buf.buffer, buf.byteOffset, buf.length >>> 2) : null;
}

/** Reads a host-order u16 (netlink header fields). */
export function hostU16(buf: Buffer, off: number): number {
  return hostIsLE ? buf[off] | (buf[off + 1] << 8) : (buf[off] << 8) | buf[off + 1];
}

/** Reads a host-order u32 (netlink header fields). */
export function hostU32(buf: Buffer, off: number): number {
  return hostIsLE ? buf.readUInt32LE(off) : buf.readUInt32BE(off);
}

export function writeHostU16(buf: Buffer, value: number, off: number): void {
  if (hostIsLE) buf.writeUInt16LE(value, off);
  else buf.writeUInt16BE(value, off);
}

export function writeHostU32(buf: Buffer, value: number, off: number): void {
  if (hostIsLE) buf.writeUInt32LE(value, off);
  else buf.writeUInt32BE(value, off);
}

/** One attribute of a request: its type (with NLA_F_NESTED when nested) and its payload. */
export interface RequestAttribute {
  type: number;
  value: Uint8Array;
}

/**
 * Builds one nfnetlink request: nlmsghdr + nfgenmsg + attributes. Sizes first, allocates once.
 * resId is written big endian, as nfnetlink expects.
 */
export function buildNfnlRequest(
  type: number,
  flags: number,
  seq: number,
  family: number,
  resId: number,
  attrs: readonly RequestAttribute[] = [],
): Buffer {
  let len = NLMSG_HDRLEN + NFGENMSG_LEN;
  for (const a of attrs) len += align4(NLA_HDRLEN + a.value.length);
  const buf = Buffer.alloc(len);
  writeHostU32(buf, len, 0);
  writeHostU16(buf, type, 4);
  writeHostU16(buf, flags, 6);
  writeHostU32(buf, seq >>> 0, 8);
  writeHostU32(buf, 0, 12);
  buf[16] = family;
  buf[17] = NFNETLINK_V0;
  buf.writeUInt16BE(resId, 18);
  let off = NLMSG_HDRLEN + NFGENMSG_LEN;
  for (const a of attrs) {
    writeHostU16(buf, NLA_HDRLEN + a.value.length, off);
    writeHostU16(buf, a.type, off + 2);
    buf.set(a.value, off + NLA_HDRLEN);
    off += align4(NLA_HDRLEN + a.value.length);
  }
  return buf;
}

/** Encodes a nested attribute's payload from its children. */
export function nestAttributes(attrs: readonly RequestAttribute[]): Uint8Array {
  let len = 0;
  for (const a of attrs) len += align4(NLA_HDRLEN + a.value.length);
  const buf = Buffer.alloc(len);
  let off = 0;
  for (const a of attrs) {
    writeHostU16(buf, NLA_HDRLEN + a.value.length, off);
    writeHostU16(buf, a.type, off + 2);
    buf.set(a.value, off + NLA_HDRLEN);
    off += align4(NLA_HDRLEN + a.value.length);
  }
  return buf;
}

const errnoNames = new Map<number, string>();
for (const [name, num] of Object.entries(osConstants.errno)) if (!errnoNames.has(num)) errnoNames.set(num, name);

/** The symbolic name of an errno ("EPERM"), or "errno <n>". */
export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `errno ${errno}`;
}

/**
 * Reads the errno of an NLMSG_ERROR message at `off` (its nlmsghdr); 0 is an ACK.
 * struct nlmsgerr { int error; struct nlmsghdr msg; } — error is negative.
 */
export function readNlmsgError(buf: Buffer, off: number, end: number): number {
  if (end - off < NLMSG_HDRLEN + 4) {
    throw new KernelSourceError('NETLINK_ERR_SHORT_BUFFER', `NLMSG_ERROR at ${off} has ${end - off} bytes, needs ${NLMSG_HDRLEN + 4}`);
  }
  const e = hostIsLE ? buf.readInt32LE(off + NLMSG_HDRLEN) : buf.readInt32BE(off + NLMSG_HDRLEN);
  return -e;
}

/**
 * Checks the nlmsghdr at `off` of a datagram that ends at `end` and returns its length.
 * Throws NETLINK_ERR_SHORT_BUFFER when the header or the message does not fit.
 */
export function checkedMessageLength(buf: Buffer, off: number, end: number): number {
  if (end - off < NLMSG_HDRLEN) {
    throw new KernelSourceError('NETLINK_ERR_SHORT_BUFFER', `netlink header at ${off}: ${end - off} bytes left, needs ${NLMSG_HDRLEN}`);
  }
  const len = hostU32(buf, off);
  if (len < NLMSG_HDRLEN || len > end - off) {
    throw new KernelSourceError('NETLINK_ERR_SHORT_BUFFER', `netlink message at ${off} claims ${len} bytes, ${end - off} left`);
  }
  return len;
}

/**
 * Walks the netlink messages of one datagram: calls onMessage with each message's offset,
 * length, type and flags. A message whose header does not fit ends the walk and is reported
 * to onMalformed; the messages before it have been delivered.
 */
export function forEachMessage(
  buf: Buffer,
  onMessage: (off: number, len: number, type: number, flags: number) => void,
  onMalformed: (err: KernelSourceError) => void,
): void {
  const end = buf.length;
  let off = 0;
  while (off < end) {
    let len: number;
    try {
      len = checkedMessageLength(buf, off, end);
    } catch (err) {
      if (!(err instanceof KernelSourceError)) throw err;
      onMalformed(err);
      return;
    }
    onMessage(off, len, hostU16(buf, off + 4), hostU16(buf, off + 6));
    off += align4(len);
  }
}

/** Runs a message parser; a malformed message (KernelSourceError) is reported and yields null. */
export function parseOrReport<T>(parse: () => T, onMalformed: (err: KernelSourceError) => void): T | null {
  try {
    return parse();
  } catch (err) {
    if (!(err instanceof KernelSourceError)) throw err;
    onMalformed(err);
    return null;
  }
}

/** A socket call's failure as a coded error that keeps the errno name. */
export function socketError(what: string, err: unknown): KernelSourceError {
  const code = (err as { code?: string } | undefined)?.code ?? '';
  return new KernelSourceError('NETLINK_ERR_SOCKET', `${what}: ${(err as Error)?.message ?? String(err)}`, { cause: err, errno: code });
}
