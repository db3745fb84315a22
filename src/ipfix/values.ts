// Wire forms of the RFC 7011 section 6.1 data types that are more than a byte-order read:
// addresses as text, MAC addresses, NTP timestamps, 64-bit integers and UTF-8 strings.
// Readers take a Buffer and an offset; writers write at an offset and return the next one.
// Every function returns fresh values (strings, numbers, copies), never views.

/** Seconds between the NTP era 0 epoch (1900-01-01) and the Unix epoch (RFC 7011 6.1.9). */
export const NTP_UNIX_OFFSET_SECONDS = 2_208_988_800;
const TWO_32 = 4_294_967_296;

/** Buffer's own latin1/utf8 slice and write methods: present in every Node release, but not typed. */
interface BufferInternals {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
  utf8Write(text: string, offset: number, length: number): number;
  latin1Write(text: string, offset: number, length: number): number;
}

// ---- 64-bit integers: a number while it is a safe integer, a bigint beyond that -------------

export function readUnsigned64(b: Buffer, o: number): number | bigint {
  const hi = b[o] * 0x1000000 + ((b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]);
  // hi < 2^21 keeps hi * 2^32 + lo <= 2^53 - 1.
  if (hi < 0x200000) return hi * TWO_32 + b[o + 4] * 0x1000000 + ((b[o + 5] << 16) | (b[o + 6] << 8) | b[o + 7]);
  return b.readBigUInt64BE(o);
}

export function readSigned64(b: Buffer, o: number): number | bigint {
  const hi = (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
  const lo = b[o + 4] * 0x1000000 + ((b[o + 5] << 16) | (b[o + 6] << 8) | b[o + 7]);
  const n = hi * TWO_32 + lo;
  // When |n| < 2^53 the sum is exact; otherwise it rounds to a value that is not a safe integer.
  return Number.isSafeInteger(n) ? n : b.readBigInt64BE(o);
}

/** Unsigned big-endian integer of 1-8 bytes (RFC 7011 6.2 reduced-size encoding). */
export function readUnsignedN(b: Buffer, o: number, len: number): number | bigint {
  if (len === 8) return readUnsigned64(b, o);
  let n = 0;
  for (let i = 0; i < len; i++) n = n * 256 + b[o + i];
  if (Number.isSafeInteger(n)) return n;
  let big = 0n;
  for (let i = 0; i < len; i++) big = (big << 8n) | BigInt(b[o + i]);
  return big;
}

/** Signed big-endian two's-complement integer of 1-8 bytes (RFC 7011 6.2). */
export function readSignedN(b: Buffer, o: number, len: number): number | bigint {
  if (len === 8) return readSigned64(b, o);
  const u = readUnsignedN(b, o, len);
  if (typeof u === 'number') {
    const bits = len * 8;
    return b[o] & 0x80 ? u - 2 ** bits : u;
  }
  return BigInt.asIntN(len * 8, u);
}

// ---- text ------------------------------------------------------------------------------------

// Flow records repeat the same short names (namespaces, Nodes, Pods, policies) over and over,
// and a runtime call that builds a string costs more than reading the bytes. So strings of up
// to 64 bytes go through a direct-mapped cache keyed by their bytes: the bytes are read as
// 32-bit words (the last word overlaps the one before it, so every byte is covered); four of
// them and the length are hashed, and every word is compared with the bytes kept for the slot; on a hit the cached string is
// returned. Nothing is invented: a hit means the bytes are equal, and equal UTF-8 bytes decode
// to equal text. Memory is bounded: 32768 slots of 64 bytes plus their strings. Repeated
// strings also come back as the same object, so a Map keyed by them finds them by pointer.
const STRING_CACHE_SLOTS = 32768;
const STRING_CACHE_MAX_LENGTH = 64;
const WORDS_PER_SLOT = STRING_CACHE_MAX_LENGTH / 4;
// Allocated on first use, so processes that never decode do not pay for them.
let cacheWords: Int32Array | undefined;
let cacheLengths = new Int32Array(0);
let cacheStrings: string[] = [];

function allocateStringCache(): Int32Array {
  cacheLengths = new Int32Array(STRING_CACHE_SLOTS);
  cacheStrings = new Array<string>(STRING_CACHE_SLOTS).fill('');
  cacheWords = new Int32Array(STRING_CACHE_SLOTS * WORDS_PER_SLOT);
  return cacheWords;
}

/** A DataView over the bytes of b, for readStringAt. */
export function dataViewOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** UTF-8 text of b[s, e); dv is dataViewOf(b). Short strings go through the cache above. */
export function readStringAt(b: Buffer, dv: DataView, s: number, e: number): string {
  const n = e - s;
  if (n === 0) return '';
  if (n > STRING_CACHE_MAX_LENGTH) return (b as unknown as BufferInternals).utf8Slice(s, e);
  const words = cacheWords ?? allocateStringCache();
  // The slot comes from the length and four of the words (the first, the last, and two
  // between, so that names differing only at the start, the end or the middle spread); the
  // comparison below reads every word. For n < 4 the bytes form one word.
  const last = n >= 4 ? e - 4 : s;
  let h = n;
  let small = 0;
  if (n >= 4) {
    h = Math.imul(h ^ dv.getInt32(s), 0x9e3779b1);
    h ^= h >>> 15;
    h = Math.imul(h ^ dv.getInt32(last), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h ^ dv.getInt32(s + ((n - 4) >>> 1)), 0xc2b2ae35);
    h ^= h >>> 16;
    h = Math.imul(h ^ dv.getInt32(s + ((n - 4) >>> 2)), 0x27d4eb2f);
  } else {
    for (let o = s; o < e; o++) small = (small << 8) | b[o];
    h = Math.imul(h ^ small, 0x9e3779b1);
  }
  const slot = (h ^ (h >>> 16)) & (STRING_CACHE_SLOTS - 1);
  const k = slot * WORDS_PER_SLOT;
  if (cacheLengths[slot] === n) {
    let i = k;
    let equal = true;
    if (n >= 4) {
      for (let o = s; o < last; o += 4, i++) {
        if (words[i] !== dv.getInt32(o)) {
          equal = false;
          break;
        }
      }
      if (equal && words[i] !== dv.getInt32(last)) equal = false;
    } else if (words[i] !== small) {
      equal = false;
    }
    if (equal) return cacheStrings[slot];
  }
  // A miss: keep the bytes for the slot, noting whether any has bit 7 set (not ASCII).
  let high = small;
  let i = k;
  if (n >= 4) {
    for (let o = s; o < last; o += 4) {
      const w = dv.getInt32(o);
      high |= w;
      words[i++] = w;
    }
    const w = dv.getInt32(last);
    high |= w;
    words[i] = w;
  } else {
    words[i] = small;
  }
  const text = (high & 0x80808080) === 0
    ? (b as unknown as BufferInternals).latin1Slice(s, e)
    : (b as unknown as BufferInternals).utf8Slice(s, e);
  cacheLengths[slot] = n;
  cacheStrings[slot] = text;
  return text;
}

/** UTF-8 text of b[s, e). (The generated decoders call readStringAt with a view made once per set.) */
export function readString(b: Buffer, s: number, e: number): string {
  if (e - s === 0) return '';
  if (e - s > STRING_CACHE_MAX_LENGTH) return (b as unknown as BufferInternals).utf8Slice(s, e);
  return readStringAt(b, dataViewOf(b), s, e);
}

// Writing: a call into the runtime (Buffer.byteLength, latin1Write) costs more than copying a
// Pod name by hand, so short strings are measured and copied in JS when they are ASCII, which
// names in Kubernetes are. Longer or non-ASCII strings take the runtime's UTF-8 paths.
const SHORT_STRING = 64;

/** Byte length of s in UTF-8 (equal to s.length exactly when s is ASCII). */
export function utf8Length(s: string): number {
  const n = s.length;
  if (n <= SHORT_STRING) {
    let i = 0;
    while (i < n && s.charCodeAt(i) < 0x80) i++;
    if (i === n) return n;
  }
  return Buffer.byteLength(s, 'utf8');
}

/** Writes s (whose UTF-8 length is len) at o; returns o + len. */
export function writeString(b: Buffer, o: number, s: string, len: number): number {
  // UTF-8 is never shorter than UTF-16 and is equally long only for ASCII text.
  if (len === s.length) {
    if (len <= SHORT_STRING) {
      for (let i = 0; i < len; i++) b[o + i] = s.charCodeAt(i);
    } else {
      (b as unknown as BufferInternals).latin1Write(s, o, len);
    }
  } else {
    (b as unknown as BufferInternals).utf8Write(s, o, len);
  }
  return o + len;
}

// ---- addresses -------------------------------------------------------------------------------

// 65536 slots: a cluster's Pod addresses come back as the same string objects, so the
// aggregator's string table finds them by pointer with their hash already computed.
const IPV4_CACHE_SLOTS = 65536;
const ipv4CacheKey = new Float64Array(IPV4_CACHE_SLOTS).fill(-1);
const ipv4CacheText: string[] = new Array<string>(IPV4_CACHE_SLOTS).fill('');

export function readIpv4(b: Buffer, o: number): string {
  return ipv4Text(b[o] * 0x1000000 + ((b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]));
}

/** Dotted-quad text of the address u (0 to 2^32 - 1), through the cache. */
export function ipv4Text(u: number): string {
  const h = Math.imul(u, 0x9e3779b1);
  const slot = (h ^ (h >>> 16)) & (IPV4_CACHE_SLOTS - 1);
  if (ipv4CacheKey[slot] === u) return ipv4CacheText[slot];
  const text = `${u >>> 24}.${(u >>> 16) & 255}.${(u >>> 8) & 255}.${u & 255}`;
  ipv4CacheKey[slot] = u;
  ipv4CacheText[slot] = text;
  return text;
}

const IPV6_CACHE_SLOTS = 1024;
const ipv6CacheKey = Buffer.alloc(IPV6_CACHE_SLOTS * 16);
const ipv6CacheText: string[] = new Array<string>(IPV6_CACHE_SLOTS).fill('');

/** RFC 5952 text (see formatIpv6), through a cache like readIpv4's. */
export function readIpv6(b: Buffer, o: number): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < 16; i++) h = Math.imul(h ^ b[o + i], 0x01000193);
  const slot = (h ^ (h >>> 16)) & (IPV6_CACHE_SLOTS - 1);
  const k = slot * 16;
  const cached = ipv6CacheText[slot];
  if (cached !== '') {
    let i = 0;
    while (i < 16 && ipv6CacheKey[k + i] === b[o + i]) i++;
    if (i === 16) return cached;
  }
  const text = formatIpv6(b, o);
  for (let i = 0; i < 16; i++) ipv6CacheKey[k + i] = b[o + i];
  ipv6CacheText[slot] = text;
  return text;
}

/** RFC 5952 text: lower-case hex, no leading zeros, the longest run of zero groups as "::". */
export function formatIpv6(b: Buffer, o: number): string {
  const g = new Array<number>(8);
  for (let i = 0; i < 8; i++) g[i] = (b[o + 2 * i] << 8) | b[o + 2 * i + 1];
  // RFC 5952 5: IPv4-mapped addresses keep the dotted quad.
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${b[o + 12]}.${b[o + 13]}.${b[o + 14]}.${b[o + 15]}`;
  }
  let bestStart = -1;
  let bestLen = 1; // a single zero group is not shortened (RFC 5952 4.2.2)
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return g.map((x) => x.toString(16)).join(':');
  const head = g.slice(0, bestStart).map((x) => x.toString(16)).join(':');
  const tail = g.slice(bestStart + bestLen).map((x) => x.toString(16)).join(':');
  return `${head}::${tail}`;
}

/**
 * The 32-bit value (0 to 2^32 - 1) of dotted-quad text, or -1 when the text is not an IPv4
 * address (the same rules as writeIpv4: four decimal parts 0-255, no leading zeros).
 */
export function parseIpv4(text: string): number {
  const n = text.length;
  if (n < 7 || n > 15) return -1;
  let value = 0;
  let part = 0;
  let digits = 0;
  let result = 0;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? text.charCodeAt(i) : 46; // a virtual trailing "."
    if (c >= 48 && c <= 57) {
      if (digits > 0 && value === 0) return -1;
      value = value * 10 + (c - 48);
      if (++digits > 3 || value > 255) return -1;
    } else if (c === 46) {
      if (digits === 0 || part > 3) return -1;
      result = result * 256 + value;
      part++;
      value = 0;
      digits = 0;
    } else {
      return -1;
    }
  }
  return part === 4 ? result : -1;
}

/** Writes dotted-quad text as 4 bytes; returns false when the text is not an IPv4 address. */
export function writeIpv4(b: Buffer, o: number, text: string): boolean {
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 46; // a virtual trailing "."
    if (c >= 48 && c <= 57) {
      if (digits > 0 && value === 0) return false; // no leading zeros ("01" is ambiguous)
      value = value * 10 + (c - 48);
      if (++digits > 3 || value > 255) return false;
    } else if (c === 46) {
      if (digits === 0 || part > 3) return false;
      b[o + part++] = value;
      value = 0;
      digits = 0;
    } else {
      return false;
    }
  }
  return part === 4;
}

/** Writes IPv6 text (RFC 4291 2.2 forms, with an optional trailing dotted quad) as 16 bytes. */
export function writeIpv6(b: Buffer, o: number, text: string): boolean {
  // The unspecified address, which every IPv4 flow's originalExporterIPv6Address is, without
  // the parse below.
  if (text === '::') {
    for (let i = 0; i < 16; i++) b[o + i] = 0;
    return true;
  }
  if (text.length < 2 || text.length > 45) return false;
  const doubleColon = text.indexOf('::');
  if (doubleColon >= 0 && text.indexOf('::', doubleColon + 1) >= 0) return false;
  const parseGroups = (s: string, out: number[]): boolean => {
    if (s === '') return true;
    const parts = s.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (i === parts.length - 1 && p.includes('.')) {
        const quad = Buffer.alloc(4);
        if (!writeIpv4(quad, 0, p)) return false;
        out.push((quad[0] << 8) | quad[1], (quad[2] << 8) | quad[3]);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return false;
        out.push(parseInt(p, 16));
      }
    }
    return true;
  };
  const head: number[] = [];
  const tail: number[] = [];
  if (doubleColon >= 0) {
    if (!parseGroups(text.slice(0, doubleColon), head) || !parseGroups(text.slice(doubleColon + 2), tail)) return false;
    if (head.length + tail.length > 7) return false;
  } else {
    if (!parseGroups(text, head) || head.length !== 8) return false;
  }
  const groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  for (let i = 0; i < 8; i++) {
    b[o + 2 * i] = groups[i] >> 8;
    b[o + 2 * i + 1] = groups[i] & 0xff;
  }
  return true;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function readMac(b: Buffer, o: number): string {
  return `${HEX[b[o]]}:${HEX[b[o + 1]]}:${HEX[b[o + 2]]}:${HEX[b[o + 3]]}:${HEX[b[o + 4]]}:${HEX[b[o + 5]]}`;
}

/** Accepts "aa:bb:cc:dd:ee:ff" or "aa-bb-cc-dd-ee-ff" (either case). */
export function writeMac(b: Buffer, o: number, text: string): boolean {
  if (!/^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/.test(text)) return false;
  for (let i = 0; i < 6; i++) b[o + i] = parseInt(text.substr(i * 3, 2), 16);
  return true;
}

// ---- NTP timestamps (RFC 7011 6.1.9, 6.1.10) ---------------------------------------------------
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                 seconds since 1900-01-01 00:00 UTC            |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                 fraction of a second (units of 2^-32 s)       |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

/** Microseconds since the Unix epoch. */
export function readNtpMicroseconds(b: Buffer, o: number): number {
  const seconds = b.readUInt32BE(o) - NTP_UNIX_OFFSET_SECONDS;
  const fraction = b.readUInt32BE(o + 4);
  return seconds * 1_000_000 + Math.round((fraction * 1_000_000) / TWO_32);
}

export function writeNtpMicroseconds(b: Buffer, o: number, us: number): void {
  const seconds = Math.floor(us / 1_000_000);
  const rest = us - seconds * 1_000_000;
  b.writeUInt32BE(seconds + NTP_UNIX_OFFSET_SECONDS, o);
  b.writeUInt32BE(Math.round((rest * TWO_32) / 1_000_000), o + 4);
}

/** Nanoseconds since the Unix epoch. */
export function readNtpNanoseconds(b: Buffer, o: number): bigint {
  const seconds = BigInt(b.readUInt32BE(o) - NTP_UNIX_OFFSET_SECONDS);
  const fraction = BigInt(b.readUInt32BE(o + 4));
  return seconds * 1_000_000_000n + ((fraction * 1_000_000_000n + 0x80000000n) >> 32n);
}

export function writeNtpNanoseconds(b: Buffer, o: number, ns: bigint): void {
  let seconds = ns / 1_000_000_000n;
  let rest = ns % 1_000_000_000n;
  if (rest < 0n) {
    seconds -= 1n;
    rest += 1_000_000_000n;
  }
  b.writeUInt32BE(Number(seconds) + NTP_UNIX_OFFSET_SECONDS, o);
  b.writeUInt32BE(Number(((rest << 32n) + 500_000_000n) / 1_000_000_000n), o + 4);
}
