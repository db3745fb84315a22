// IP addresses and CIDRs for NetworkPolicy ipBlocks and Pod IP indexes. An address is held as
// 32-bit words (one for IPv4, four for IPv6) so that a CIDR test is a few masked compares.
import { isIP } from 'node:net';
import { K8sError } from '../k8s/errors.js';

export interface ParsedIp {
  readonly family: 4 | 6;
  /** Big-endian 32-bit words: length 1 for IPv4, 4 for IPv6. */
  readonly words: readonly number[];
}

export interface Cidr {
  readonly family: 4 | 6;
  readonly words: readonly number[];
  readonly prefix: number;
  /** The CIDR as written in canonical form, e.g. "10.0.0.0/16" or "fd00::/64". */
  readonly text: string;
}

/** Dotted-decimal IPv4 to a uint32, by hand: this runs for every connection lookup. */
function parseV4Words(text: string): number | undefined {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || dots === 3) return undefined;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits === 3) return undefined;
      octet = octet * 10 + (c - 48);
      if (octet > 255) return undefined;
      digits++;
    } else {
      return undefined;
    }
  }
  if (dots !== 3 || digits === 0) return undefined;
  return (value * 256 + octet) >>> 0;
}

/** True when IPv4 text has no leading zeros ("10.0.0.1", not "010.0.0.1"), i.e. is canonical. */
function hasNoLeadingZero(text: string): boolean {
  for (let i = 0; i < text.length - 1; i++) {
    if (text.charCodeAt(i) === 48 && (i === 0 || text.charCodeAt(i - 1) === 46) && text.charCodeAt(i + 1) !== 46) return false;
  }
  return true;
}

function parseV6Words(text: string): number[] | undefined {
  if (isIP(text) !== 6) return undefined;
  let head = text;
  let tailV4: number | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) >= 0) {
    tailV4 = parseV4Words(text.slice(lastColon + 1));
    if (tailV4 === undefined) return undefined;
    head = text.slice(0, lastColon + 1) + '0:0';
  }
  const halves = head.split('::');
  const left = halves[0] === '' ? [] : halves[0].split(':');
  const right = halves.length > 1 && halves[1] !== '' ? halves[1].split(':') : [];
  const fill = 8 - left.length - right.length;
  const groups = [...left, ...new Array<string>(halves.length > 1 ? fill : 0).fill('0'), ...right].map((g) => parseInt(g, 16));
  if (groups.length !== 8 || groups.some((g) => !(g >= 0 && g <= 0xffff))) return undefined;
  const words = [0, 1, 2, 3].map((i) => (groups[2 * i] * 0x10000 + groups[2 * i + 1]) >>> 0);
  if (tailV4 !== undefined) words[3] = tailV4;
  return words;
}

/** Parses an IPv4 or IPv6 address; undefined when it is neither. */
export function parseIp(text: string): ParsedIp | undefined {
  if (text.includes(':')) {
    const words = parseV6Words(text);
    return words && { family: 6, words };
  }
  const v4 = parseV4Words(text);
  return v4 === undefined ? undefined : { family: 4, words: [v4] };
}

/** Formats parsed words as RFC 5952 text (IPv6) or dotted decimal (IPv4). */
export function formatIp(ip: ParsedIp): string {
  if (ip.family === 4) {
    const v = ip.words[0];
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const groups: number[] = [];
  for (const w of ip.words) groups.push(w >>> 16, w & 0xffff);
  // RFC 5952 4.2: the longest run (first if tied) of two or more zero groups becomes "::".
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number[]): string => g.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

const canonicalCache = new Map<string, string>();
const CANONICAL_CACHE_MAX = 65536;

/**
 * The canonical text of an address, so that "fd00:0::1" and "fd00::1" index the same Pod.
 * IPv4 text in the usual form is returned as is; IPv6 results are cached. Undefined when invalid.
 */
export function canonicalIp(text: string): string | undefined {
  if (!text.includes(':')) {
    const v4 = parseV4Words(text);
    if (v4 === undefined) return undefined;
    return hasNoLeadingZero(text) ? text : formatIp({ family: 4, words: [v4] });
  }
  const hit = canonicalCache.get(text);
  if (hit !== undefined) return hit;
  const parsed = parseIp(text);
  if (!parsed) return undefined;
  const canon = formatIp(parsed);
  if (canonicalCache.size >= CANONICAL_CACHE_MAX) canonicalCache.clear();
  canonicalCache.set(text, canon);
  return canon;
}

/** Parses "a.b.c.d/n" or "x::/n". Host bits must be zero unless `allowHostBits`. */
export function parseCidr(text: string, allowHostBits = true): Cidr {
  const slash = text.indexOf('/');
  const fail = (why: string): never => {
    throw new K8sError('K8S_ERR_BAD_ADDRESS', `invalid CIDR "${text}": ${why}; expected e.g. "10.0.0.0/16" or "fd00::/64"`);
  };
  if (slash < 0) fail('missing "/<prefix length>"');
  const ip = parseIp(text.slice(0, slash));
  if (!ip) fail('the address is not IPv4 or IPv6');
  const prefixText = text.slice(slash + 1);
  const max = ip!.family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) fail(`the prefix length must be 0-${max}`);
  const prefix = Number(prefixText);
  const words = ip!.words.map((w, i) => (w & maskWord(prefix, i)) >>> 0);
  if (!allowHostBits && words.some((w, i) => w !== ip!.words[i])) fail('host bits are set');
  return { family: ip!.family, words, prefix, text: `${formatIp({ family: ip!.family, words })}/${prefix}` };
}

function maskWord(prefix: number, wordIndex: number): number {
  const bits = prefix - wordIndex * 32;
  if (bits >= 32) return 0xffffffff;
  if (bits <= 0) return 0;
  return (0xffffffff << (32 - bits)) >>> 0;
}

export function cidrContains(cidr: Cidr, ip: ParsedIp): boolean {
  if (cidr.family !== ip.family) return false;
  for (let i = 0; i < cidr.words.length; i++) {
    const bits = cidr.prefix - i * 32;
    if (bits <= 0) return true;
    const mask = bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
    if (((ip.words[i] & mask) >>> 0) !== cidr.words[i]) return false;
  }
  return true;
}
