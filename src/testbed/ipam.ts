// Address arithmetic for the testbed plan: CIDRs as bigints, so that Pod, Node and host
// addresses can be allocated by index and NetworkPolicy ipBlocks with `except` can be turned
// into the plain list of prefixes that iptables matches (cidr minus every except).
import { isIP } from 'node:net';

export interface Prefix {
  readonly family: 4 | 6;
  /** The network address (host bits cleared). */
  readonly base: bigint;
  readonly length: number;
}

const BITS = { 4: 32, 6: 128 } as const;

export function parseAddress(text: string): { family: 4 | 6; value: bigint } | undefined {
  const family = isIP(text);
  if (family === 4) {
    const parts = text.split('.').map(Number);
    return { family: 4, value: parts.reduce((acc, p) => (acc << 8n) | BigInt(p), 0n) };
  }
  if (family !== 6) return undefined;
  let t = text;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hextets.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(t);
  if (v4) {
    const n = parseAddress(v4[1])!.value;
    t = `${t.slice(0, -v4[1].length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = t.includes('::') ? t.split('::') : [t, undefined];
  const h = head === '' ? [] : head.split(':');
  const tl = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - tl.length).fill('0'), ...tl];
  return { family: 6, value: groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n) };
}

/** RFC 5952 text for IPv6 (longest run of zero groups compressed), dotted decimal for IPv4. */
export function formatAddress(family: 4 | 6, value: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn)).join('.');
  const groups = Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(112 - 16 * i)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

export function canonicalAddress(text: string): string | undefined {
  const a = parseAddress(text);
  return a && formatAddress(a.family, a.value);
}

/** Parses "a.b.c.d/n" or "x::/n"; host bits are cleared. Undefined when it is not a CIDR. */
export function parsePrefix(text: string): Prefix | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const addr = parseAddress(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (!addr || !/^\d{1,3}$/.test(lenText)) return undefined;
  const length = Number(lenText);
  const bits = BITS[addr.family];
  if (length > bits) return undefined;
  const hostMask = (1n << BigInt(bits - length)) - 1n;
  return { family: addr.family, base: addr.value & ~hostMask, length };
}

export function formatPrefix(p: Prefix): string {
  return `${formatAddress(p.family, p.base)}/${p.length}`;
}

export function prefixSize(p: Prefix): bigint {
  return 1n << BigInt(BITS[p.family] - p.length);
}

export function prefixContains(p: Prefix, family: 4 | 6, value: bigint): boolean {
  return p.family === family && value >= p.base && value < p.base + prefixSize(p);
}

export function prefixesOverlap(a: Prefix, b: Prefix): boolean {
  return a.family === b.family && a.base < b.base + prefixSize(b) && b.base < a.base + prefixSize(a);
}

/** The address at `index` inside the prefix; undefined past its end. */
export function addressAt(p: Prefix, index: number): string | undefined {
  const i = BigInt(index);
  if (i < 0n || i >= prefixSize(p)) return undefined;
  return formatAddress(p.family, p.base + i);
}

/**
 * `outer` minus every prefix in `holes`, as the smallest list of prefixes, in address order.
 * This is how an ipBlock's `except` list becomes plain iptables matches.
 */
export function subtractPrefixes(outer: Prefix, holes: readonly Prefix[]): Prefix[] {
  const relevant = holes.filter((h) => prefixesOverlap(outer, h));
  if (relevant.length === 0) return [outer];
  if (relevant.some((h) => h.length <= outer.length)) return []; // a hole covers the whole prefix
  const half = BigInt(BITS[outer.family] - outer.length - 1);
  const lo: Prefix = { family: outer.family, base: outer.base, length: outer.length + 1 };
  const hi: Prefix = { family: outer.family, base: outer.base + (1n << half), length: outer.length + 1 };
  return [...subtractPrefixes(lo, relevant), ...subtractPrefixes(hi, relevant)];
}
