// Addresses as fixed-width keys, so that "IP or CIDR" filters are plain string ranges that
// both engines evaluate the same way (DuckDB's inet extension is a download; ClickHouse 18
// has no IPv6 CIDR functions).
//
//   key = 32 lowercase hex digits of the 128-bit address; IPv4 a.b.c.d is ::ffff:a.b.c.d
//   a.b.c.d/n      -> keys from ::ffff:(net) to ::ffff:(net | host bits), i.e. /(96 + n)
//   x:y::/n        -> keys sharing the first n bits
import { isIP } from 'node:net';

const V4_PREFIX = '00000000000000000000ffff';

function v4Hex(text: string): string {
  let out = '';
  for (const part of text.split('.')) out += Number(part).toString(16).padStart(2, '0');
  return out;
}

function v6Hex(text: string): string {
  let s = text;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    const h = v4Hex(tail);
    s = `${s.slice(0, lastColon + 1)}${h.slice(0, 4)}:${h.slice(4)}`;
  }
  const [head, rest] = s.split('::') as [string, string | undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const restGroups = rest === undefined || rest === '' ? [] : rest.split(':');
  const fill = rest === undefined ? 0 : 8 - headGroups.length - restGroups.length;
  const groups = [...headGroups, ...new Array<string>(fill).fill('0'), ...restGroups];
  return groups.map((g) => g.padStart(4, '0')).join('').toLowerCase();
}

const HEX2: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * A dotted-quad IPv4 address in canonical form (four decimal parts of 0-255, no leading zeros)
 * as its 32-bit value; -1 for any other text. Canonical text and value map one to one, so
 * ipv4Text(value) gives the text back.
 */
export function ipv4Value(text: string): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  const n = text.length;
  if (n < 7 || n > 15) return -1;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? text.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0 || dots > 3) return -1;
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return -1; // a leading zero: not canonical
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return -1;
    } else {
      return -1;
    }
  }
  return dots === 4 ? value : -1;
}

/** The canonical text of a 32-bit IPv4 value. */
export function ipv4Text(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/** ipKey() of an IPv4 address given as its 32-bit value. */
export function ipv4Key(value: number): string {
  return V4_PREFIX + HEX2[value >>> 24] + HEX2[(value >>> 16) & 255] + HEX2[(value >>> 8) & 255] + HEX2[value & 255];
}

/** ipNet() of an IPv4 address given as its 32-bit value: its /24. */
export function ipv4Net(value: number): number {
  return value >>> 8;
}

/** The 32-hex-digit key of an address; '' when the text is not an IP address (e.g. empty). */
export function ipKey(text: string): string {
  const v4 = ipv4Value(text);
  if (v4 >= 0) return ipv4Key(v4);
  switch (isIP(text)) {
    case 4:
      return V4_PREFIX + v4Hex(text);
    case 6:
      return v6Hex(text);
    default:
      return '';
  }
}

export interface KeyRange {
  low: string;
  high: string;
}

/** The key range of an address or CIDR block; null when the text is neither. */
export function ipKeyRange(text: string): KeyRange | null {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const family = isIP(address);
  if (family === 0) return null;
  const maxBits = family === 4 ? 32 : 128;
  let bits = maxBits;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > maxBits) return null;
    bits = Number(p);
  }
  const key = ipKey(address);
  const prefixBits = (family === 4 ? 96 : 0) + bits;
  // Walk 4-bit digits: full digits are kept, the partial one is masked, the rest are 0 / f.
  let low = '';
  let high = '';
  for (let i = 0; i < 32; i++) {
    const digit = parseInt(key[i], 16);
    const keep = Math.max(0, Math.min(4, prefixBits - i * 4));
    const mask = (0xf << (4 - keep)) & 0xf;
    low += (digit & mask).toString(16);
    high += ((digit & mask) | (~mask & 0xf)).toString(16);
  }
  return { low, high };
}

// ---- Address networks: the IP filter's key in the rollups -----------------------------------
//
// A row's address network is a number that fits a double exactly (and a BIGINT / Int64):
//
//   IPv4 a.b.c.d (also ::ffff:a.b.c.d)   its /24:        a << 16 | b << 8 | c     in [0, 2^24)
//   other IPv6                            its first 48 bits, plus 2^24             in [2^24, 2^24 + 2^48)
//   not an address ('')                   -1
//
// A Pod's address lies in its Node's Pod CIDR (Antrea: a /24 per Node for IPv4, a /64 for IPv6),
// so the Pod rollup keeps one network per Pod key and grows by nothing. An `ip` filter whose
// block is a /24 or shorter (IPv6: /48 or shorter) holds whole networks, so it is answered
// exactly from the networks: from the rollups, and on raw rows by comparing numbers.

/** Networks at or above this are IPv6; below it, IPv4 /24s. */
export const V6_NET_BASE = 2 ** 24;
/** The network of a non-address. */
export const NO_NET = -1;

/** The network number of an address (see above); -1 when the text is not an IP address. */
export function ipNet(text: string): number {
  return netOfKey(ipKey(text));
}

/** The network of an address from its key (ipKey): a slice and a parseInt, no address parsing. */
export function netOfKey(key: string): number {
  if (key === '') return NO_NET;
  if (key.startsWith(V4_PREFIX)) return parseInt(key.slice(24, 30), 16);
  return V6_NET_BASE + parseInt(key.slice(0, 12), 16);
}

/** A range of networks an `ip` filter is answered from; `v4` also when an IPv6 block holds ::ffff:0:0/96. */
export interface NetRange {
  low: number;
  high: number;
  /** True when the block also holds every IPv4 address (an IPv6 block that holds ::/48). */
  allV4: boolean;
}

/**
 * The networks of an address block, when the block is whole networks: IPv4 /0 to /24, IPv6 /0
 * to /48. Null otherwise (a single address, a longer prefix, or not a block at all).
 */
export function ipNetRange(text: string): NetRange | null {
  const range = ipKeyRange(text);
  if (!range) return null;
  const slash = text.indexOf('/');
  if (slash < 0) return null;
  const bits = Number(text.slice(slash + 1));
  const family = isIP(text.slice(0, slash));
  const v4 = (): NetRange => ({ low: parseInt(range.low.slice(24, 30), 16), high: parseInt(range.high.slice(24, 30), 16), allV4: false });
  if (family === 4) return bits <= 24 ? v4() : null;
  // An IPv6 block inside ::ffff:0:0/96 (its first 96 bits are kept, so bits >= 96) is IPv4.
  if (range.low.startsWith(V4_PREFIX)) return bits <= 96 + 24 ? v4() : null;
  if (bits > 48) return null;
  const low = parseInt(range.low.slice(0, 12), 16);
  return { low: V6_NET_BASE + low, high: V6_NET_BASE + parseInt(range.high.slice(0, 12), 16), allV4: low === 0 };
}
