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

/** Dotted-quad IPv4 in canonical form (no leading zeros) as 8 hex digits; null for anything else. */
function fastV4Hex(text: string): string | null {
  let out = '';
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0 || dots > 3) return null;
      out += HEX2[part];
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return null; // a leading zero: let isIP decide
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return null;
    } else {
      return null;
    }
  }
  return dots === 4 ? out : null;
}

/** The 32-hex-digit key of an address; '' when the text is not an IP address (e.g. empty). */
export function ipKey(text: string): string {
  const v4 = fastV4Hex(text);
  if (v4 !== null) return V4_PREFIX + v4;
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
