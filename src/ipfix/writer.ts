// The message writer (exporting process side of RFC 7011). Each template is compiled once into
// a generated function that writes one record and checks each value on the way. encodeRecords
// writes records one after another into a message-sized buffer; a record that would cross
// maxMessageSize is written again at the start of the next message, so messages are packed
// greedily in one pass, without sizing every string twice. Header and set header are
// backfilled when a message is closed.
import { VARIABLE_LENGTH } from './api.js';
import type { DataRecord, InformationElement, IpfixValue, TemplateDefinition } from './api.js';
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import { IpfixError } from './errors.js';
import { checkDefinition, ieLookupWith, resolveFields } from './template.js';
import type { CompiledField, IeLookup } from './template.js';
import {
  IPFIX_HEADER_LENGTH, IPFIX_VERSION, MIN_DATA_SET_ID, OPTIONS_TEMPLATE_SET_ID, SET_HEADER_LENGTH, TEMPLATE_SET_ID,
} from './decoder.js';
import { parseIpv4, utf8Length, writeIpv6, writeMac, writeNtpMicroseconds, writeNtpNanoseconds, writeString, NTP_UNIX_OFFSET_SECONDS } from './values.js';

export const DEFAULT_MAX_MESSAGE_SIZE = 65535;
/** The smallest maxMessageSize accepted: a header, a set header and a few bytes of records. */
export const MIN_MAX_MESSAGE_SIZE = 64;
const TWO_32 = 4_294_967_296;

// ---- value writers, passed to the generated code as `h` ----------------------------------------

function describe(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === 'bigint') return `${v}n`;
  if (v instanceof Uint8Array) return `Uint8Array(${v.length})`;
  return `${typeof v} ${String(v)}`;
}

function bad(v: unknown, key: string, expected: string): IpfixError {
  if (v === undefined) return new IpfixError('IPFIX_ERR_MISSING_VALUE', `record has no value for ${key} (${expected})`);
  return new IpfixError('IPFIX_ERR_VALUE_TYPE', `${key}: expected ${expected}, got ${describe(v)}`);
}

function outOfRange(v: unknown, key: string, range: string): IpfixError {
  return new IpfixError('IPFIX_ERR_VALUE_RANGE', `${key}: ${describe(v)} is outside ${range}`);
}

/** Writes a non-negative integer v < 2^(8 len) as len big-endian bytes (len <= 6 keeps it exact). */
function putUnsigned(b: Buffer, at: number, v: number, len: number): void {
  for (let i = len - 1; i >= 0; i--) {
    b[at + i] = v % 256;
    v = Math.floor(v / 256);
  }
}

function putBig(b: Buffer, at: number, v: bigint, len: number): void {
  for (let i = len - 1; i >= 0; i--) {
    b[at + i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

/**
 * Copies a string into b at o when all of its n characters are ASCII; false (bytes undefined)
 * when not. Four characters make one big-endian word and one DataView store: Kubernetes names
 * are ASCII, and a name is written from its string this way faster than it is found in a cache
 * of bytes (a Map of 20,000 Pod names cost 100-200 ns per lookup in cache misses; see
 * bench/aggregator.bench.ts, session 5).
 */
function copyAscii(b: Buffer, dv: DataView, o: number, v: string, n: number): boolean {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const c0 = v.charCodeAt(i);
    const c1 = v.charCodeAt(i + 1);
    const c2 = v.charCodeAt(i + 2);
    const c3 = v.charCodeAt(i + 3);
    if ((c0 | c1 | c2 | c3) >= 0x80) return false;
    dv.setInt32(o + i, (c0 << 24) | (c1 << 16) | (c2 << 8) | c3);
  }
  for (; i < n; i++) {
    const c = v.charCodeAt(i);
    if (c >= 0x80) return false;
    b[o + i] = c;
  }
  return true;
}

const encodeHelpers = {
  u8(b: Buffer, at: number, v: IpfixValue, key: string): void {
    if (typeof v !== 'number' || !(v >= 0 && v <= 0xff) || v % 1 !== 0) throw checkInt(v, key, 0, 0xff);
    b[at] = v;
  },
  u16(b: Buffer, at: number, v: IpfixValue, key: string): void {
    if (typeof v !== 'number' || !(v >= 0 && v <= 0xffff) || v % 1 !== 0) throw checkInt(v, key, 0, 0xffff);
    b[at] = v >>> 8;
    b[at + 1] = v & 0xff;
  },
  u32(b: Buffer, at: number, v: IpfixValue, key: string): void {
    if (typeof v !== 'number' || !(v >= 0 && v <= 0xffffffff) || v % 1 !== 0) throw checkInt(v, key, 0, 0xffffffff);
    b[at] = v >>> 24;
    b[at + 1] = (v >>> 16) & 0xff;
    b[at + 2] = (v >>> 8) & 0xff;
    b[at + 3] = v & 0xff;
  },
  /** unsigned64 (or any unsigned in len bytes): a safe integer number or a bigint. */
  uN(b: Buffer, at: number, v: IpfixValue, len: number, key: string): void {
    if (typeof v === 'number') {
      if (v >= 0 && v <= Number.MAX_SAFE_INTEGER && v % 1 === 0) {
        if (len >= 7 || v < 2 ** (8 * len)) {
          if (len === 8) {
            const hi = Math.floor(v / TWO_32);
            const lo = v - hi * TWO_32;
            b[at] = hi >>> 24; b[at + 1] = (hi >>> 16) & 0xff; b[at + 2] = (hi >>> 8) & 0xff; b[at + 3] = hi & 0xff;
            b[at + 4] = lo >>> 24; b[at + 5] = (lo >>> 16) & 0xff; b[at + 6] = (lo >>> 8) & 0xff; b[at + 7] = lo & 0xff;
          } else if (len === 7) {
            putBig(b, at, BigInt(v), 7);
          } else {
            putUnsigned(b, at, v, len);
          }
          return;
        }
        throw outOfRange(v, key, `0-${2 ** (8 * len) - 1} (${len} bytes)`);
      }
      if (Number.isInteger(v) && v > Number.MAX_SAFE_INTEGER) {
        throw outOfRange(v, key, 'safe integers; pass a bigint above 2^53 - 1');
      }
      throw outOfRange(v, key, `unsigned integers of ${len} bytes`);
    }
    if (typeof v === 'bigint') {
      if (v < 0n || v >= 1n << BigInt(8 * len)) throw outOfRange(v, key, `0-${(1n << BigInt(8 * len)) - 1n} (${len} bytes)`);
      putBig(b, at, v, len);
      return;
    }
    throw bad(v, key, 'a number or bigint');
  },
  /** signed8-64 in len bytes (two's complement): a safe integer number or a bigint. */
  sN(b: Buffer, at: number, v: IpfixValue, len: number, key: string): void {
    const bits = BigInt(8 * len);
    let big: bigint;
    if (typeof v === 'number') {
      if (!Number.isSafeInteger(v)) {
        throw Number.isInteger(v) ? outOfRange(v, key, 'safe integers; pass a bigint beyond 2^53') : bad(v, key, 'an integer');
      }
      if (len <= 4) {
        const lim = 2 ** (8 * len - 1);
        if (v < -lim || v >= lim) throw outOfRange(v, key, `${-lim}-${lim - 1}`);
        const u = v < 0 ? v + 2 * lim : v;
        putUnsigned(b, at, u, len);
        return;
      }
      big = BigInt(v);
    } else if (typeof v === 'bigint') {
      big = v;
    } else {
      throw bad(v, key, 'a number or bigint');
    }
    const lim = 1n << (bits - 1n);
    if (big < -lim || big >= lim) throw outOfRange(v, key, `${-lim}-${lim - 1n}`);
    putBig(b, at, BigInt.asUintN(8 * len, big), len);
  },
  f32(b: Buffer, at: number, v: IpfixValue, key: string): void {
    if (typeof v !== 'number') throw bad(v, key, 'a number');
    b.writeFloatBE(v, at);
  },
  f64(b: Buffer, at: number, v: IpfixValue, key: string): void {
    if (typeof v !== 'number') throw bad(v, key, 'a number');
    b.writeDoubleBE(v, at);
  },
  bool(b: Buffer, at: number, v: IpfixValue, key: string): void {
    if (typeof v !== 'boolean') throw bad(v, key, 'a boolean');
    b[at] = v ? 1 : 2; // RFC 7011 6.1.5
  },
  mac(b: Buffer, at: number, v: IpfixValue, key: string): void {
    if (typeof v !== 'string') throw bad(v, key, 'a MAC address text "aa:bb:cc:dd:ee:ff"');
    if (!writeMac(b, at, v)) throw outOfRange(v, key, 'MAC addresses ("aa:bb:cc:dd:ee:ff")');
  },
  /** IPv4 text as 4 bytes (parsed to its value, then one store). */
  ipv4(dv: DataView, at: number, v: IpfixValue, key: string): void {
    if (typeof v !== 'string') throw bad(v, key, 'an IPv4 address text');
    const u = parseIpv4(v);
    if (u < 0) throw outOfRange(v, key, 'IPv4 addresses ("10.0.0.1")');
    dv.setUint32(at, u);
  },
  /** The error for a value that the inlined integer writes below refused. */
  badInt: checkInt,
  ipv6(b: Buffer, at: number, v: IpfixValue, key: string): void {
    if (typeof v !== 'string') throw bad(v, key, 'an IPv6 address text');
    if (!writeIpv6(b, at, v)) throw outOfRange(v, key, 'IPv6 addresses ("fd00::1")');
  },
  ms(b: Buffer, at: number, v: IpfixValue, key: string): void {
    if (typeof v !== 'number') throw bad(v, key, 'milliseconds since the Unix epoch (number)');
    encodeHelpers.uN(b, at, v, 8, key);
  },
  us(b: Buffer, at: number, v: IpfixValue, key: string): void {
    if (typeof v !== 'number') throw bad(v, key, 'microseconds since the Unix epoch (number)');
    const seconds = Math.floor(v / 1_000_000) + NTP_UNIX_OFFSET_SECONDS;
    if (!Number.isSafeInteger(v) || seconds < 0 || seconds >= TWO_32) throw outOfRange(v, key, 'integer microseconds in NTP era 0 (1900-2036)');
    writeNtpMicroseconds(b, at, v);
  },
  ns(b: Buffer, at: number, v: IpfixValue, key: string): void {
    let ns: bigint;
    if (typeof v === 'bigint') ns = v;
    else if (typeof v === 'number' && Number.isSafeInteger(v)) ns = BigInt(v);
    else throw bad(v, key, 'nanoseconds since the Unix epoch (bigint)');
    const seconds = Number(ns >= 0n ? ns / 1_000_000_000n : (ns - 999_999_999n) / 1_000_000_000n) + NTP_UNIX_OFFSET_SECONDS;
    if (seconds < 0 || seconds >= TWO_32) throw outOfRange(v, key, 'nanoseconds in NTP era 0 (1900-2036)');
    writeNtpNanoseconds(b, at, ns);
  },
  /** A fixed-length string field: shorter text is padded with NUL bytes, longer is an error. */
  fixStr(b: Buffer, at: number, v: IpfixValue, len: number, key: string): void {
    if (typeof v !== 'string') throw bad(v, key, 'a string');
    const n = utf8Length(v);
    if (n > len) throw new IpfixError('IPFIX_ERR_VALUE_TOO_LONG', `${key}: ${n} UTF-8 bytes do not fit the field's ${len} bytes`);
    writeString(b, at, v, n);
    b.fill(0, at + n, at + len);
  },
  fixBytes(b: Buffer, at: number, v: IpfixValue, len: number, key: string): void {
    if (!(v instanceof Uint8Array)) throw bad(v, key, 'a Uint8Array');
    if (v.length !== len) {
      throw new IpfixError(v.length > len ? 'IPFIX_ERR_VALUE_TOO_LONG' : 'IPFIX_ERR_VALUE_RANGE', `${key}: ${v.length} bytes for a ${len}-byte field`);
    }
    b.set(v, at);
  },
  /** Size pass: the UTF-8 length of a variable-length string, checked against 65535. */
  sizeStr(v: IpfixValue, key: string): number {
    if (typeof v !== 'string') throw bad(v, key, 'a string');
    const n = utf8Length(v);
    if (n > 0xffff) throw new IpfixError('IPFIX_ERR_VALUE_TOO_LONG', `${key}: ${n} UTF-8 bytes exceed the 65535-byte limit of a variable-length field`);
    return n;
  },
  sizeBytes(v: IpfixValue, key: string): number {
    if (!(v instanceof Uint8Array)) throw bad(v, key, 'a Uint8Array');
    if (v.length > 0xffff) throw new IpfixError('IPFIX_ERR_VALUE_TOO_LONG', `${key}: ${v.length} bytes exceed the 65535-byte limit of a variable-length field`);
    return v.length;
  },
  /** RFC 7011 7: a 1-byte length below 255, else 255 and a 2-byte length. */
  varLength(b: Buffer, p: number, n: number): number {
    if (n < 255) {
      b[p] = n;
      return p + 1;
    }
    b[p] = 255;
    b[p + 1] = n >>> 8;
    b[p + 2] = n & 0xff;
    return p + 3;
  },
  varStr(b: Buffer, p: number, v: string, n: number): number {
    return writeString(b, encodeHelpers.varLength(b, p, n), v, n);
  },
  /**
   * A variable-length string (RFC 7011 7: a 1-byte length below 255, else 255 and a 2-byte
   * length; then the UTF-8 bytes) at p. Returns the offset after it, or -1 when it would
   * cross `limit` (the caller retries the record in a new message). Short ASCII text, which
   * Kubernetes names are, is copied and measured in the same loop.
   */
  varStrTo(b: Buffer, dv: DataView, p: number, v: IpfixValue, limit: number, key: string): number {
    if (typeof v !== 'string') throw bad(v, key, 'a string');
    const n = v.length;
    if (n === 0) {
      if (p + 1 > limit) return -1;
      b[p] = 0;
      return p + 1;
    }
    if (n < 255) {
      // UTF-8 is at least as long as UTF-16, so text that does not fit as ASCII never fits.
      const o = p + 1;
      if (o + n > limit) return -1;
      if (copyAscii(b, dv, o, v, n)) {
        b[p] = n;
        return o + n;
      }
    }
    const len = encodeHelpers.sizeStr(v, key);
    if (p + (len < 255 ? 1 : 3) + len > limit) return -1;
    return writeString(b, encodeHelpers.varLength(b, p, len), v, len);
  },
  varBytesTo(b: Buffer, p: number, v: IpfixValue, limit: number, key: string): number {
    const len = encodeHelpers.sizeBytes(v, key);
    if (p + (len < 255 ? 1 : 3) + len > limit) return -1;
    return encodeHelpers.varBytes(b, p, v as Uint8Array, len);
  },
  varBytes(b: Buffer, p: number, v: Uint8Array, n: number): number {
    p = encodeHelpers.varLength(b, p, n);
    b.set(v, p);
    return p + n;
  },
};

function checkInt(v: IpfixValue, key: string, min: number, max: number): IpfixError {
  if (typeof v !== 'number') return bad(v, key, 'a number');
  return outOfRange(v, key, `integers ${min}-${max}`);
}

/**
 * Big-endian byte stores of the 32-bit value expression `x` at `at`..`at`+3. `>>>` works on the
 * value modulo 2^32, so this is exact for any integer 0-4294967295.
 */
function storeU32(x: string, at: string): string {
  // One DataView store (big-endian by default) instead of four byte stores and shifts.
  return `dv.setUint32(${at}, ${x});`;
}

/**
 * A JS statement that writes the fixed-length field f of record r at position expression at.
 * The common integer cases are inlined (check, then byte stores): a helper call per field
 * costs more than the write itself, and a 37-field writer exceeds V8's inlining budget.
 * Anything unusual (bigints, reduced sizes, bad values) goes through the helpers. Integrality
 * is tested with Math.floor (one instruction) rather than `% 1`, which is a call into fmod for
 * counters above 2^30 (they are heap numbers, not small integers).
 */
function writeStatement(f: CompiledField, at: string, v: string): string {
  const key = JSON.stringify(f.key);
  const len = f.length;
  const intCheck = (max: number) =>
    `v = ${v}; if (typeof v !== 'number' || !(v >= 0 && v <= ${max}) || Math.floor(v) !== v) throw h.badInt(v, ${key}, 0, ${max});`;
  switch (f.dataType) {
    case 'unsigned8':
    case 'unsigned16':
    case 'unsigned32':
    case 'dateTimeSeconds':
      if (len === 1) return `${intCheck(0xff)} b[${at}] = v;`;
      if (len === 2) return `${intCheck(0xffff)} dv.setUint16(${at}, v);`;
      if (len === 4) return `${intCheck(0xffffffff)} ${storeU32('v', at)}`;
      return `h.uN(b, ${at}, ${v}, ${len}, ${key});`;
    case 'unsigned64':
      if (len === 8) {
        // A safe integer splits exactly into (v / 2^32) >>> 0 and v >>> 0; bigints and errors go to uN.
        return (
          `v = ${v}; if (typeof v === 'number' && v >= 0 && v <= ${Number.MAX_SAFE_INTEGER} && Math.floor(v) === v) { ` +
          `x = (v / ${TWO_32}) >>> 0; y = v >>> 0; ${storeU32('x', at)} ${storeU32('y', `${at} + 4`)} } ` +
          `else h.uN(b, ${at}, v, 8, ${key});`
        );
      }
      return `h.uN(b, ${at}, ${v}, ${len}, ${key});`;
    case 'signed8':
    case 'signed16':
    case 'signed32':
    case 'signed64':
      return `h.sN(b, ${at}, ${v}, ${len}, ${key});`;
    case 'float32':
      return `h.f32(b, ${at}, ${v}, ${key});`;
    case 'float64':
      return len === 8 ? `h.f64(b, ${at}, ${v}, ${key});` : `h.f32(b, ${at}, ${v}, ${key});`;
    case 'boolean':
      return `h.bool(b, ${at}, ${v}, ${key});`;
    case 'macAddress':
      return `h.mac(b, ${at}, ${v}, ${key});`;
    case 'dateTimeMilliseconds':
      return `h.ms(b, ${at}, ${v}, ${key});`;
    case 'dateTimeMicroseconds':
      return `h.us(b, ${at}, ${v}, ${key});`;
    case 'dateTimeNanoseconds':
      return `h.ns(b, ${at}, ${v}, ${key});`;
    case 'ipv4Address':
      return `h.ipv4(dv, ${at}, ${v}, ${key});`;
    case 'ipv6Address':
      return `h.ipv6(b, ${at}, ${v}, ${key});`;
    case 'string':
      return `h.fixStr(b, ${at}, ${v}, ${len}, ${key});`;
    default:
      return `h.fixBytes(b, ${at}, ${v}, ${len}, ${key});`;
  }
}

// ---- encode shapes: writing straight from a caller's record type ------------------------------

/**
 * Where a template field's value comes from in a record of type T (MessageWriter.encodeAs):
 * - path: a property, or a property of a property (`['fromSourceNode', 'packetTotalCount']`);
 *   with orIfEmpty, an empty string there is written as that value instead ('' -> '0.0.0.0');
 * - value: a constant;
 * - read: a function of the record, for anything else (called once per record);
 * - at: element `at` of a numeric row (T a Float64Array): an integer field's value, or an
 *   ipv4Address field's 32-bit value;
 * - nameAt: element `at` of a numeric row is the id of a string field's text in the shape's
 *   `names` (NameBytes), written from its bytes.
 */
export type EncodeSource<T> =
  | { readonly path: readonly string[]; readonly orIfEmpty?: string }
  | { readonly value: number | string | boolean }
  | { readonly read: (r: T) => IpfixValue }
  | { readonly at: number }
  | { readonly nameAt: number };

/**
 * Names kept as bytes by id (the aggregator's string table), for the `nameAt` source of an
 * encode shape: a string field written from the bytes the table holds, without a JS string.
 */
export interface NameBytes {
  /** The UTF-8 length of name id (0 for id 0, ''). */
  nameLength(id: number): number;
  /**
   * Writes name id as a variable-length string (RFC 7011 7: length, then the UTF-8 bytes) at p;
   * returns the offset after it, or -1 when it would cross limit.
   */
  writeName(b: Buffer, dv: DataView, p: number, id: number, limit: number): number;
}

/**
 * A record type that a template encodes from directly, without a DataRecord in between: the
 * mirror of RecordShape on the decoding side. Once per template, `sources` gets the template's
 * field keys and says where each is read from; the generated writer checks and writes the values
 * exactly as encodeRecords would write the DataRecord of the same values.
 */
export interface EncodeShape<T> {
  readonly name: string;
  sources(keys: ReadonlySet<string>): Readonly<Record<string, EncodeSource<T>>>;
  /** Where `nameAt` sources find their bytes; required when any source is `nameAt`. */
  readonly names?: NameBytes;
}

/** How a field's expression is read: a value, a row's number (`at`), or a name id (`nameAt`). */
type ExpressionKind = 'value' | 'at' | 'nameAt';

/**
 * JS expressions that read each field of `r` as the shape says; functions go into `readers`,
 * and `kinds` gets each expression's kind.
 */
function shapeExpressions(
  fields: readonly CompiledField[], shape: EncodeShape<never> | undefined, readers: ((r: never) => IpfixValue)[], kinds: ExpressionKind[],
): string[] {
  if (shape === undefined) {
    for (let i = 0; i < fields.length; i++) kinds.push('value');
    return fields.map((f) => `r[${JSON.stringify(f.key)}]`);
  }
  const sources = shape.sources(new Set(fields.map((f) => f.key)));
  return fields.map((f) => {
    const src = Object.prototype.hasOwnProperty.call(sources, f.key) ? sources[f.key] : undefined;
    if (src === undefined) {
      throw new IpfixError('IPFIX_ERR_BAD_OPTION', `encode shape ${shape.name} says nothing about ${f.key}; give it a path, value or read`);
    }
    if ('at' in src || 'nameAt' in src) {
      const at = 'at' in src ? src.at : src.nameAt;
      if (!Number.isInteger(at) || at < 0) throw new IpfixError('IPFIX_ERR_BAD_OPTION', `encode shape ${shape.name}: ${f.key} reads row element ${at}`);
      if ('nameAt' in src) {
        if (f.dataType !== 'string' || f.length !== VARIABLE_LENGTH) {
          throw new IpfixError('IPFIX_ERR_BAD_OPTION', `encode shape ${shape.name}: ${f.key} is not a variable-length string, so it cannot be read as a name id`);
        }
        if (shape.names === undefined) throw new IpfixError('IPFIX_ERR_BAD_OPTION', `encode shape ${shape.name} reads ${f.key} as a name id but has no names`);
        kinds.push('nameAt');
      } else {
        kinds.push('at');
      }
      return `r[${at}]`;
    }
    kinds.push('value');
    if ('value' in src) return JSON.stringify(src.value);
    if ('read' in src) {
      readers.push(src.read);
      return `s[${readers.length - 1}](r)`;
    }
    if (src.path.length === 0) throw new IpfixError('IPFIX_ERR_BAD_OPTION', `encode shape ${shape.name}: empty path for ${f.key}`);
    const read = 'r' + src.path.map((p) => `[${JSON.stringify(p)}]`).join('');
    return src.orIfEmpty === undefined ? read : `((t = ${read}) === '' ? ${JSON.stringify(src.orIfEmpty)} : t)`;
  });
}

/** The bytes of a record's variable-length fields (with their length prefixes); checks their types. */
type SizeFn = (r: unknown) => number;
/** Writes record r at p; returns the offset after it, or -1 when it would cross limit. */
type WriteFn = (b: Buffer, p: number, r: unknown, limit: number, dv: DataView) => number;

/**
 * A template compiled for writing: its template record bytes, the generated writer, and a
 * generated sizer that is only needed to explain a record that fits no message.
 */
class EncodePlan {
  readonly definition: TemplateDefinition;
  readonly fixedLength: number;
  readonly variableCount: number;
  readonly sizeVariable: SizeFn;
  readonly write: WriteFn;
  /** The template record as sent in a template set. */
  readonly templateRecord: Buffer;

  constructor(def: TemplateDefinition, lookup: IeLookup, shape?: EncodeShape<never>) {
    this.definition = checkDefinition(def);
    const fields = resolveFields(this.definition, lookup);
    const readers: ((r: never) => IpfixValue)[] = [];
    const kinds: ExpressionKind[] = [];
    const values = shapeExpressions(fields, shape, readers, kinds);
    let fixed = 0;
    const sizeLines: string[] = ['var n = 0, x;'];
    const writeLines: string[] = [];
    let k = 0;
    let j = 0;
    // Each run of fixed-length fields is checked against the limit once, before its first field.
    const segmentLength = (from: number) => {
      let n = 0;
      for (let i = from; i < fields.length && fields[i].length !== VARIABLE_LENGTH; i++) n += fields[i].length;
      return n;
    };
    fields.forEach((f, i) => {
      if (f.length === VARIABLE_LENGTH) {
        const key = JSON.stringify(f.key);
        const value = values[i];
        const str = f.dataType === 'string';
        if (k > 0) writeLines.push(`p += ${k};`);
        k = 0;
        if (kinds[i] === 'nameAt') {
          sizeLines.push(`x = nm.nameLength(${value}); n += x < 255 ? x + 1 : x + 3;`);
          writeLines.push(`p = nm.writeName(b, dv, p, ${value}, limit); if (p < 0) return -1;`);
          j++;
          return;
        }
        sizeLines.push(`x = h.${str ? 'sizeStr' : 'sizeBytes'}(${value}, ${key}); n += x < 255 ? x + 1 : x + 3;`);
        writeLines.push(str ? `p = h.varStrTo(b, dv, p, ${value}, limit, ${key}); if (p < 0) return -1;` : `p = h.varBytesTo(b, p, ${value}, limit, ${key}); if (p < 0) return -1;`);
        j++;
        return;
      }
      if (k === 0) writeLines.push(`if (p + ${segmentLength(i)} > limit) return -1;`);
      const at = k === 0 ? 'p' : `p + ${k}`;
      if (kinds[i] === 'at' && f.dataType === 'ipv4Address' && f.length === 4) {
        // A row holds an address as its 32-bit value.
        const key = JSON.stringify(f.key);
        writeLines.push(`v = ${values[i]}; if (!(v >= 0 && v <= 4294967295) || Math.floor(v) !== v) throw h.badInt(v, ${key}, 0, 4294967295); ${storeU32('v', at)}`);
      } else {
        writeLines.push(writeStatement(f, at, values[i]));
      }
      k += f.length;
      fixed += f.length;
    });
    sizeLines.push('return n;');
    writeLines.push(`return p + ${k};`);
    this.fixedLength = fixed;
    this.variableCount = j;
    const names = shape?.names;
    this.sizeVariable = new Function('h', 's', 'nm', `"use strict";\nreturn function sizeRecord(r) {\nvar t;\n${sizeLines.join('\n')}\n};`)(encodeHelpers, readers, names) as SizeFn;
    this.write = new Function('h', 's', 'nm', `"use strict";\nreturn function writeRecord(b, p, r, limit, dv) {\nvar v, x, y, t;\n${writeLines.join('\n')}\n};`)(encodeHelpers, readers, names) as WriteFn;
    this.templateRecord = encodeTemplateRecord(this.definition);
  }

  get isOptionsTemplate(): boolean {
    return this.definition.scopeFieldCount > 0;
  }
}

/** template ID | field count | [scope field count] | specifiers (ID | length | [enterprise]). */
function encodeTemplateRecord(def: TemplateDefinition): Buffer {
  const options = def.scopeFieldCount > 0;
  let size = options ? 6 : 4;
  for (const f of def.fields) size += f.enterpriseId === 0 ? 4 : 8;
  const b = Buffer.alloc(size);
  let p = b.writeUInt16BE(def.templateId, 0);
  p = b.writeUInt16BE(def.fields.length, p);
  if (options) p = b.writeUInt16BE(def.scopeFieldCount, p);
  for (const f of def.fields) {
    p = b.writeUInt16BE(f.enterpriseId === 0 ? f.elementId : f.elementId | 0x8000, p);
    p = b.writeUInt16BE(f.length, p);
    if (f.enterpriseId !== 0) p = b.writeUInt32BE(f.enterpriseId, p);
  }
  return b;
}

/**
 * A variable-length string field at p, as every generated writer writes one (RFC 7011 7);
 * returns the offset after it, or -1 when it would cross limit. `key` names the field in errors.
 */
export function writeVariableString(b: Buffer, dv: DataView, p: number, text: string, limit: number, key: string): number {
  return encodeHelpers.varStrTo(b, dv, p, text, limit, key);
}

/**
 * Data records of one template, encoded already (RecordBatchEncoder): record i is
 * bytes[i === 0 ? 0 : ends[i - 1], ends[i]). MessageWriter.encodeEncoded frames them into
 * messages with the writer's header and sequence numbers.
 */
export interface EncodedRecords {
  readonly templateId: number;
  readonly bytes: Buffer;
  readonly ends: Uint32Array;
  readonly count: number;
  /**
   * Called once by whoever consumes the batch (ExportingProcess) when its bytes are no longer
   * needed (framed into messages, which copies them, or dropped): the encoder writes its next
   * batch into the same memory instead of a new buffer each time.
   */
  readonly release?: () => void;
}

/** Record i of an encoded batch alone (a view, no copy). */
export function encodedRecord(batch: EncodedRecords, i: number): EncodedRecords {
  const from = i === 0 ? 0 : batch.ends[i - 1];
  const to = batch.ends[i];
  return { templateId: batch.templateId, bytes: batch.bytes.subarray(from, to), ends: Uint32Array.of(to - from), count: 1 };
}

/** Released batch buffers a RecordBatchEncoder keeps for reuse. */
const MAX_FREE_BATCHES = 8;

export interface RecordBatchEncoderOptions {
  /** Bytes of records per batch; default 262144. A record never spans two batches. */
  batchBytes?: number;
  /** Elements known beyond the generated registry (looked up first). */
  extraElements?: readonly InformationElement[];
}

/**
 * Encodes records of type T one at a time, as they come (the aggregator writes each exported
 * flow as it leaves its slot), into batches of encoded records; `onBatch` gets each batch when
 * the next record does not fit it, and on take(). The bytes are those the shape's generated
 * writer puts into a message (MessageWriter.encodeAs): framing them with encodeEncoded gives the
 * messages encodeAs would give.
 */
export class RecordBatchEncoder<T> {
  readonly templateId: number;
  private readonly plan: EncodePlan;
  private readonly batchBytes: number;
  private b: Buffer;
  private dv: DataView;
  private p = 0;
  private ends: number[] = [];
  /** Buffers of released batches, for the next ones. */
  private readonly free: Buffer[] = [];

  constructor(
    def: TemplateDefinition,
    shape: EncodeShape<T>,
    private readonly onBatch: (batch: EncodedRecords) => void,
    opts: RecordBatchEncoderOptions = {},
  ) {
    const size = opts.batchBytes ?? 262_144;
    if (!Number.isInteger(size) || size < DEFAULT_MAX_MESSAGE_SIZE) {
      throw new IpfixError('IPFIX_ERR_BAD_OPTION', `batchBytes ${size} must be an integer >= ${DEFAULT_MAX_MESSAGE_SIZE} (a record of any size that fits a message fits a batch)`);
    }
    this.templateId = def.templateId;
    this.plan = new EncodePlan(def, ieLookupWith(opts.extraElements), shape as EncodeShape<never>);
    this.batchBytes = size;
    this.b = Buffer.allocUnsafeSlow(size);
    this.dv = new DataView(this.b.buffer, this.b.byteOffset, this.b.length);
  }

  /** Records in the open batch. */
  get count(): number {
    return this.ends.length;
  }

  /**
   * Encodes r at the end of the open batch. A bad value throws its coded error (IpfixError)
   * and leaves the batch as it was; so does a record larger than the largest message's room.
   */
  add(r: T): void {
    const room = DEFAULT_MAX_MESSAGE_SIZE - IPFIX_HEADER_LENGTH - SET_HEADER_LENGTH;
    let end = this.plan.write(this.b, this.p, r, Math.min(this.b.length, this.p + room), this.dv);
    if (end < 0 && this.p + room > this.b.length) {
      // The batch is full: hand it over, and write r at the start of a new one.
      this.take();
      end = this.plan.write(this.b, 0, r, room, this.dv);
    }
    if (end < 0) {
      const size = this.plan.fixedLength + this.plan.sizeVariable(r);
      throw new IpfixError('IPFIX_ERR_RECORD_TOO_LARGE', `a record of template ${this.templateId} (${size} bytes) does not fit a ${DEFAULT_MAX_MESSAGE_SIZE}-byte message`);
    }
    this.p = end;
    this.ends.push(end);
  }

  /**
   * Hands the open batch (if it holds any record) to onBatch and starts a new one, in memory a
   * released batch gave back when there is one (a fresh buffer per batch was external memory
   * that V8 counts, and every ~64 MB of it forces a full garbage collection).
   */
  take(): void {
    if (this.ends.length === 0) return;
    const b = this.b;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      if (this.free.length < MAX_FREE_BATCHES) this.free.push(b);
    };
    const batch: EncodedRecords = { templateId: this.templateId, bytes: b.subarray(0, this.p), ends: Uint32Array.from(this.ends), count: this.ends.length, release };
    this.b = this.free.pop() ?? Buffer.allocUnsafeSlow(this.batchBytes);
    this.dv = new DataView(this.b.buffer, this.b.byteOffset, this.b.length);
    this.p = 0;
    this.ends = [];
    this.onBatch(batch);
  }
}

export interface MessageWriterOptions {
  observationDomainId: number;
  /** Default 65535; UDP exporters pass 1400 (RFC 7011 10.3.3: fit the path MTU). */
  maxMessageSize?: number;
  clock?: Clock;
  /** Elements known beyond the generated registry (looked up first). */
  extraElements?: readonly InformationElement[];
}

/** Writes the messages of one observation domain of an exporting process. */
export class MessageWriter {
  readonly observationDomainId: number;
  readonly maxMessageSize: number;
  private readonly clock: Clock;
  private readonly lookup: IeLookup;
  private readonly plans = new Map<number, EncodePlan>();
  /** Plans generated for encodeAs, per shape and template ID; dropped when the template changes. */
  private readonly shapedPlans = new Map<EncodeShape<never>, Map<number, EncodePlan>>();
  private seq = 0;
  /** A message-sized buffer that records are written into, kept between calls. */
  private spare: Buffer | null = null;

  constructor(opts: MessageWriterOptions) {
    const domain = opts?.observationDomainId;
    if (!Number.isInteger(domain) || domain < 0 || domain > 0xffffffff) {
      throw new IpfixError('IPFIX_ERR_BAD_OPTION', `observationDomainId ${domain} must be an integer 0-4294967295`);
    }
    const max = opts.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    if (!Number.isInteger(max) || max < MIN_MAX_MESSAGE_SIZE || max > DEFAULT_MAX_MESSAGE_SIZE) {
      throw new IpfixError(
        'IPFIX_ERR_BAD_OPTION',
        `maxMessageSize ${max} must be an integer ${MIN_MAX_MESSAGE_SIZE}-65535 (65535 for TCP/TLS, 1400 for UDP)`,
      );
    }
    this.observationDomainId = domain;
    this.maxMessageSize = max;
    this.clock = opts.clock ?? systemClock;
    this.lookup = ieLookupWith(opts.extraElements);
  }

  /** Data records sent so far in this domain, modulo 2^32: the next message's sequence number. */
  get sequenceNumber(): number {
    return this.seq;
  }

  /** Compiles the template's encode plan (once); replaces a template with the same ID. */
  addTemplate(def: TemplateDefinition): void {
    const plan = new EncodePlan(def, this.lookup);
    if (IPFIX_HEADER_LENGTH + SET_HEADER_LENGTH + plan.templateRecord.length > this.maxMessageSize) {
      throw new IpfixError(
        'IPFIX_ERR_RECORD_TOO_LARGE',
        `template ${def.templateId} (${plan.templateRecord.length} bytes) does not fit a ${this.maxMessageSize}-byte message`,
      );
    }
    this.plans.set(def.templateId, plan);
    for (const byId of this.shapedPlans.values()) byId.delete(def.templateId);
  }

  removeTemplate(templateId: number): void {
    this.plans.delete(templateId);
    for (const byId of this.shapedPlans.values()) byId.delete(templateId);
  }

  /** The registered template definitions, in the order they were added. */
  get templateDefinitions(): TemplateDefinition[] {
    return [...this.plans.values()].map((p) => p.definition);
  }

  /** Every registered template, packed into as few messages as fit (session start, reconnect, UDP refresh). */
  templateMessages(): Buffer[] {
    const items: SetItem[] = [];
    for (const plan of this.plans.values()) {
      items.push({ setId: plan.isOptionsTemplate ? OPTIONS_TEMPLATE_SET_ID : TEMPLATE_SET_ID, bytes: plan.templateRecord });
    }
    return this.packSets(items);
  }

  /**
   * Template withdrawal messages (RFC 7011 8.1): a record of template ID and field count 0 each.
   * ID 2 withdraws all templates, 3 all options templates. Not for UDP (RFC 7011 8.4).
   */
  withdrawalMessages(templateIds: readonly number[]): Buffer[] {
    const items: SetItem[] = templateIds.map((id) => {
      if (!Number.isInteger(id) || (id !== TEMPLATE_SET_ID && id !== OPTIONS_TEMPLATE_SET_ID && (id < MIN_DATA_SET_ID || id > 0xffff))) {
        throw new IpfixError('IPFIX_ERR_BAD_TEMPLATE', `cannot withdraw template ID ${id} (256-65535, or 2/3 for all)`);
      }
      let setId = TEMPLATE_SET_ID;
      if (id === TEMPLATE_SET_ID || id === OPTIONS_TEMPLATE_SET_ID) setId = id;
      else if (this.plans.get(id)?.isOptionsTemplate) setId = OPTIONS_TEMPLATE_SET_ID;
      const bytes = Buffer.alloc(4);
      bytes.writeUInt16BE(id, 0);
      return { setId, bytes };
    });
    return this.packSets(items);
  }

  /**
   * Encodes the records into as few messages as fit maxMessageSize. A record that cannot fit an
   * empty message throws IPFIX_ERR_RECORD_TOO_LARGE; a bad value throws before anything is
   * returned, and the sequence number only moves when every message is built.
   */
  encodeRecords(templateId: number, records: readonly DataRecord[]): Buffer[] {
    return this.encodeWith(this.plan(templateId), templateId, records);
  }

  /**
   * Like encodeRecords, but reads each record of type T through the shape (EncodeShape), so no
   * DataRecord is built per record: the bytes equal encodeRecords of the mapped DataRecords.
   * The generated writer is compiled once per shape and template.
   */
  encodeAs<T>(templateId: number, records: readonly T[], shape: EncodeShape<T>): Buffer[] {
    const base = this.plan(templateId);
    const key = shape as EncodeShape<never>;
    let byId = this.shapedPlans.get(key);
    if (byId === undefined) {
      byId = new Map();
      this.shapedPlans.set(key, byId);
    }
    let plan = byId.get(templateId);
    if (plan === undefined) {
      plan = new EncodePlan(base.definition, this.lookup, key);
      byId.set(templateId, plan);
    }
    return this.encodeWith(plan, templateId, records);
  }

  /**
   * Frames records encoded already (RecordBatchEncoder) into as few messages as fit
   * maxMessageSize, in order, with this writer's headers and sequence numbers. The template must
   * have been added. A record that cannot fit an empty message throws
   * IPFIX_ERR_RECORD_TOO_LARGE before anything is returned (the sequence number unmoved).
   * `memory`: called once with the messages' total length, it returns the buffer (at least that
   * long) that they are written into, one after another; a caller that reuses it once the
   * messages are sent allocates nothing per batch.
   */
  encodeEncoded(batch: EncodedRecords, memory: (bytes: number) => Buffer = Buffer.allocUnsafe): Buffer[] {
    this.plan(batch.templateId);
    const n = batch.count;
    const ends = batch.ends;
    const room = this.maxMessageSize - IPFIX_HEADER_LENGTH - SET_HEADER_LENGTH;
    // First where each message ends (a record index), then the bytes.
    const cuts: number[] = [];
    for (let i = 0; i < n; ) {
      const from = i === 0 ? 0 : ends[i - 1];
      let j = i;
      while (j < n && ends[j] - from <= room) j++;
      if (j === i) {
        throw new IpfixError(
          'IPFIX_ERR_RECORD_TOO_LARGE',
          `record ${i} (${ends[i] - from} bytes) does not fit a ${this.maxMessageSize}-byte message (${room} bytes for records)`,
        );
      }
      cuts.push(j);
      i = j;
    }
    const headers = IPFIX_HEADER_LENGTH + SET_HEADER_LENGTH;
    const b = memory((n === 0 ? 0 : ends[n - 1]) + cuts.length * headers);
    const out: Buffer[] = [];
    const exportTime = this.exportTime();
    let seq = this.seq;
    let at = 0;
    for (let k = 0, i = 0; k < cuts.length; k++) {
      const j = cuts[k];
      const from = i === 0 ? 0 : ends[i - 1];
      const length = headers + ends[j - 1] - from;
      const m = b.subarray(at, at + length);
      batch.bytes.copy(m, headers, from, ends[j - 1]);
      this.writeHeader(m, length, exportTime, seq);
      m.writeUInt16BE(batch.templateId, IPFIX_HEADER_LENGTH);
      m.writeUInt16BE(length - IPFIX_HEADER_LENGTH, IPFIX_HEADER_LENGTH + 2);
      out.push(m);
      seq = (seq + (j - i)) % TWO_32;
      at += length;
      i = j;
    }
    this.seq = seq;
    return out;
  }

  private plan(templateId: number): EncodePlan {
    const plan = this.plans.get(templateId);
    if (plan === undefined) {
      throw new IpfixError('IPFIX_ERR_UNKNOWN_TEMPLATE', `template ${templateId} was not added to this writer (call addTemplate first)`);
    }
    return plan;
  }

  private encodeWith(plan: EncodePlan, templateId: number, records: readonly unknown[]): Buffer[] {
    const n = records.length;
    if (n === 0) return [];
    const limit = this.maxMessageSize;
    const first = IPFIX_HEADER_LENGTH + SET_HEADER_LENGTH;
    const out: Buffer[] = [];
    const exportTime = this.exportTime();
    let seq = this.seq;
    let b = this.takeBuffer();
    let dv = new DataView(b.buffer, b.byteOffset, b.length);
    let p = first;
    let opened = 0; // index of the first record of the open message
    for (let i = 0; i < n; i++) {
      const end = plan.write(b, p, records[i], limit, dv);
      if (end >= 0) {
        p = end;
        continue;
      }
      if (i === opened) {
        // Not even an empty message holds it; the sizer names a bad value before the size.
        const size = plan.fixedLength + plan.sizeVariable(records[i]);
        throw new IpfixError(
          'IPFIX_ERR_RECORD_TOO_LARGE',
          `record ${i} (${size} bytes) does not fit a ${limit}-byte message (${limit - first} bytes for records)`,
        );
      }
      out.push(this.closeMessage(b, p, templateId, exportTime, seq));
      seq = (seq + (i - opened)) % TWO_32;
      b = this.takeBuffer();
      dv = new DataView(b.buffer, b.byteOffset, b.length);
      p = first;
      opened = i;
      i--; // write record i again, at the start of the new message
    }
    out.push(this.closeMessage(b, p, templateId, exportTime, seq));
    this.seq = (seq + (n - opened)) % TWO_32;
    return out;
  }

  private takeBuffer(): Buffer {
    const b = this.spare ?? Buffer.allocUnsafeSlow(this.maxMessageSize);
    this.spare = null;
    return b;
  }

  /**
   * Backfills the headers of the message in b[0, length) and returns it. A message that fills
   * at least half the buffer keeps it (a view); a smaller one is copied out, and the buffer is
   * kept for the next message, so no message pins more than twice its size.
   */
  private closeMessage(b: Buffer, length: number, templateId: number, exportTime: number, seq: number): Buffer {
    this.writeHeader(b, length, exportTime, seq);
    b.writeUInt16BE(templateId, IPFIX_HEADER_LENGTH);
    b.writeUInt16BE(length - IPFIX_HEADER_LENGTH, IPFIX_HEADER_LENGTH + 2);
    if (length * 2 >= b.length) return b.subarray(0, length);
    const copy = Buffer.allocUnsafe(length);
    b.copy(copy, 0, 0, length);
    this.spare = b;
    return copy;
  }

  private exportTime(): number {
    return Math.floor(this.clock.now() / 1000) % TWO_32;
  }

  private writeHeader(b: Buffer, length: number, exportTime: number, seq: number): void {
    b.writeUInt16BE(IPFIX_VERSION, 0);
    b.writeUInt16BE(length, 2);
    b.writeUInt32BE(exportTime, 4);
    b.writeUInt32BE(seq, 8);
    b.writeUInt32BE(this.observationDomainId, 12);
  }

  /** Packs set records into messages: consecutive records of one set ID share a set. */
  private packSets(items: readonly SetItem[]): Buffer[] {
    const out: Buffer[] = [];
    const exportTime = this.exportTime();
    for (let i = 0; i < items.length; ) {
      // Choose the records of this message, sizing sets as they open.
      let length = IPFIX_HEADER_LENGTH;
      let j = i;
      let lastSet = -1;
      while (j < items.length) {
        const extra = items[j].bytes.length + (items[j].setId !== lastSet ? SET_HEADER_LENGTH : 0);
        if (length + extra > this.maxMessageSize) break;
        length += extra;
        lastSet = items[j].setId;
        j++;
      }
      if (j === i) {
        throw new IpfixError('IPFIX_ERR_RECORD_TOO_LARGE', `a ${items[i].bytes.length}-byte template record does not fit a ${this.maxMessageSize}-byte message`);
      }
      const b = Buffer.allocUnsafe(length);
      this.writeHeader(b, length, exportTime, this.seq);
      let p = IPFIX_HEADER_LENGTH;
      let setStart = -1;
      for (let k = i; k < j; k++) {
        if (k === i || items[k].setId !== items[k - 1].setId) {
          if (setStart >= 0) b.writeUInt16BE(p - setStart, setStart + 2);
          setStart = p;
          b.writeUInt16BE(items[k].setId, p);
          p += SET_HEADER_LENGTH;
        }
        items[k].bytes.copy(b, p);
        p += items[k].bytes.length;
      }
      b.writeUInt16BE(p - setStart, setStart + 2);
      out.push(b);
      i = j;
    }
    return out;
  }
}

interface SetItem {
  setId: number;
  bytes: Buffer;
}
