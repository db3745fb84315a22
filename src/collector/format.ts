// Printing decoded records. JSON lines: one object per record, IE names as keys, addresses
// as text, counters as JSON numbers (a bigint counter above 2^53 is printed as its exact
// integer literal, which JSON allows and JSON.stringify cannot do), octetArray as lowercase
// hex. Text: one readable block per record, headed by its exporter, domain and template.
//
// Printing is the collector's hot loop (one line per record, hundreds of thousands a second),
// so the encoders below write bytes straight into one reused Buffer: no string per field, no
// string per record, next to nothing for the garbage collector. Building each line by string
// concatenation instead made ~100 short-lived strings and ropes per record that had to be
// flattened again on the way out; the collector spent over half its time collecting garbage.
import type { DataRecord, IpfixValue } from '../ipfix/api.js';
import type { CollectedRecord } from './types.js';

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
/** HEX as bytes: the two ASCII digits of byte b at 2b and 2b+1. */
const HEX_BYTES = asciiBytes(HEX.join(''));

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const NEWLINE = 0x0a;
const DIGIT_0 = 0x30;
const MINUS = 0x2d;
const TRUE_BYTES = asciiBytes('true');
const FALSE_BYTES = asciiBytes('false');
const EMPTY_OCTETS_BYTES = asciiBytes('(empty)');
/** The longest text String(number) gives for a number: "-1.7976931348623157e+308". */
const MAX_NUMBER_TEXT = 24;
/** IE names are a small, fixed set; the cap only guards against a peer inventing names. */
const MAX_CACHED_KEYS = 4096;

function asciiBytes(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]];
  return s;
}

/** One value as a JSON literal. Non-finite floats have no JSON number form and print as strings. */
export function jsonValue(value: IpfixValue): string {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) ? String(value) : `"${String(value)}"`;
    case 'bigint':
      return value.toString();
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return JSON.stringify(value);
    default:
      return `"${toHex(value)}"`;
  }
}

/** One value for a reader: strings as they are, octets as 0x-prefixed hex. */
export function textValue(value: IpfixValue): string {
  switch (typeof value) {
    case 'number':
    case 'bigint':
    case 'boolean':
      return String(value);
    case 'string':
      return value;
    default:
      return value.length === 0 ? '(empty)' : `0x${toHex(value)}`;
  }
}

/** Decimal digits of 0 <= v < 2^31. */
function decimalDigits(v: number): number {
  if (v < 100_000) {
    if (v < 100) return v < 10 ? 1 : 2;
    if (v < 1000) return 3;
    return v < 10_000 ? 4 : 5;
  }
  if (v < 10_000_000) return v < 1_000_000 ? 6 : 7;
  if (v < 100_000_000) return 8;
  return v < 1_000_000_000 ? 9 : 10;
}

/** Writes 0 <= v < 2^31 in decimal at off; returns the offset after it. The caller made room. */
function writeUint31(buf: Buffer, off: number, v: number): number {
  const end = off + decimalDigits(v);
  let at = end;
  // Kept in int32 so that the division by 10 compiles to a multiply.
  let t = v | 0;
  do {
    const q = (t / 10) | 0;
    buf[--at] = DIGIT_0 + (t - q * 10);
    t = q;
  } while (t !== 0);
  return end;
}

/** Writes 0 <= v < 10^9 as exactly 9 decimal digits (leading zeros) at off. The caller made room. */
function writeUint31Padded9(buf: Buffer, off: number, v: number): void {
  let t = v | 0;
  for (let at = off + 8; at >= off; at--) {
    const q = (t / 10) | 0;
    buf[at] = DIGIT_0 + (t - q * 10);
    t = q;
  }
}

/** A Buffer that grows, written at an offset: what both encoders write their output into. */
class ByteOutput {
  protected buf: Buffer;
  protected off = 0;

  constructor(initialBytes: number) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  /** The buffer the last encode() wrote into; its bytes are valid until the next encode(). */
  get buffer(): Buffer {
    return this.buf;
  }

  protected ensure(bytes: number): void {
    if (this.buf.length - this.off >= bytes) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.off + bytes + 1024));
    this.buf.copy(grown, 0, 0, this.off);
    this.buf = grown;
  }

  protected byte(b: number): void {
    this.ensure(1);
    this.buf[this.off++] = b;
  }

  protected bytes(b: Uint8Array): void {
    this.ensure(b.length);
    // TypedArray set is a memmove: several times faster than a byte loop for IE names.
    this.buf.set(b, this.off);
    this.off += b.length;
  }

  /** An integer or float as String(v) gives it: digits written in place for 31-bit integers. */
  protected number(v: number): void {
    this.ensure(MAX_NUMBER_TEXT);
    if (v >= 0 && v <= 0x7fffffff && (v | 0) === v) {
      this.off = writeUint31(this.buf, this.off, v);
    } else if (Number.isSafeInteger(v)) {
      // 64-bit counters, millisecond timestamps: up to 2^53 as (v / 1e9) and 9 more digits.
      let u = v;
      if (v < 0) {
        this.buf[this.off++] = MINUS;
        u = -v;
      }
      const high = Math.floor(u / 1e9);
      if (high === 0) {
        this.off = writeUint31(this.buf, this.off, u);
      } else {
        this.off = writeUint31(this.buf, this.off, high);
        writeUint31Padded9(this.buf, this.off, u - high * 1e9);
        this.off += 9;
      }
    } else {
      this.ascii(String(v));
    }
  }

  /** s holds ASCII only (number text, hex). */
  protected ascii(s: string): void {
    this.ensure(s.length);
    const buf = this.buf;
    const off = this.off;
    for (let i = 0; i < s.length; i++) buf[off + i] = s.charCodeAt(i);
    this.off = off + s.length;
  }

  /** Any string, as UTF-8. */
  protected utf8(s: string): void {
    const len = s.length;
    this.ensure(len);
    const buf = this.buf;
    const off = this.off;
    for (let i = 0; i < len; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) {
        this.ensure(Buffer.byteLength(s, 'utf8'));
        this.off += this.buf.write(s, this.off, 'utf8');
        return;
      }
      buf[off + i] = c;
    }
    this.off = off + len;
  }

  protected hexDigits(bytes: Uint8Array): void {
    const n = bytes.length;
    this.ensure(2 * n);
    const buf = this.buf;
    let off = this.off;
    for (let i = 0; i < n; i++) {
      const b = bytes[i] << 1;
      buf[off++] = HEX_BYTES[b];
      buf[off++] = HEX_BYTES[b + 1];
    }
    this.off = off;
  }
}

/** A key's bytes in a JSON line: `{"key":` when it comes first, `,"key":` after another. */
interface JsonKeyBytes {
  readonly first: Uint8Array;
  readonly next: Uint8Array;
}

const jsonKeyCache = new Map<string, JsonKeyBytes>();

function jsonKeyBytes(key: string): JsonKeyBytes {
  let bytes = jsonKeyCache.get(key);
  if (bytes === undefined) {
    const quoted = JSON.stringify(key) + ':';
    bytes = { first: Buffer.from('{' + quoted, 'utf8'), next: Buffer.from(',' + quoted, 'utf8') };
    if (jsonKeyCache.size < MAX_CACHED_KEYS) jsonKeyCache.set(key, bytes);
  }
  return bytes;
}

/**
 * Writes data records as JSON lines into one reused Buffer. Each line is the record's keys in
 * their order with the values jsonValue gives, so a record of strings, booleans and finite
 * numbers prints exactly as JSON.stringify prints it.
 */
export class JsonLineEncoder extends ByteOutput {
  /** Keys (and their bytes) of the records seen last, by position: records of one template share them. */
  private readonly shapeKeys: string[] = [];
  private readonly shapeBytes: Uint8Array[] = [];

  constructor(initialBytes = 16 * 1024) {
    super(initialBytes);
  }

  /** Encodes one record as a JSON line ending in "\n" at the start of `buffer`; returns its length in bytes. */
  encode(record: DataRecord): number {
    this.off = 0;
    const shapeKeys = this.shapeKeys;
    const shapeBytes = this.shapeBytes;
    let i = 0;
    for (const key in record) {
      let kb: Uint8Array;
      if (i < shapeKeys.length && shapeKeys[i] === key) {
        kb = shapeBytes[i];
      } else {
        const both = jsonKeyBytes(key);
        kb = i === 0 ? both.first : both.next;
        shapeKeys[i] = key;
        shapeBytes[i] = kb;
      }
      this.bytes(kb);
      this.value(record[key]);
      i++;
    }
    if (i === 0) this.byte(OPEN_BRACE);
    this.byte(CLOSE_BRACE);
    this.byte(NEWLINE);
    return this.off;
  }

  private value(value: IpfixValue): void {
    switch (typeof value) {
      case 'number':
        if (Number.isFinite(value)) {
          this.number(value);
        } else {
          // Non-finite floats have no JSON number form and print as strings.
          this.byte(QUOTE);
          this.ascii(String(value));
          this.byte(QUOTE);
        }
        return;
      case 'string':
        this.string(value);
        return;
      case 'bigint':
        this.ascii(value.toString());
        return;
      case 'boolean':
        this.bytes(value ? TRUE_BYTES : FALSE_BYTES);
        return;
      default:
        this.byte(QUOTE);
        this.hexDigits(value);
        this.byte(QUOTE);
    }
  }

  /** A JSON string literal: printable ASCII copied as it is, anything else the way JSON.stringify writes it. */
  private string(s: string): void {
    const len = s.length;
    this.ensure(len + 2);
    const buf = this.buf;
    const start = this.off;
    buf[start] = QUOTE;
    for (let i = 0; i < len; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c === QUOTE || c === BACKSLASH || c > 0x7e) {
        // Escapes or non-ASCII: JSON.stringify has every rule (lone surrogates included). The
        // offset is still at the opening quote, so this overwrites the partial copy.
        this.utf8(JSON.stringify(s));
        return;
      }
      buf[start + 1 + i] = c;
    }
    buf[start + 1 + len] = QUOTE;
    this.off = start + len + 2;
  }
}

const sharedJson = new JsonLineEncoder();

/** A data record as one line of JSON (without the newline). */
export function recordToJson(record: DataRecord): string {
  const length = sharedJson.encode(record);
  return sharedJson.buffer.toString('utf8', 0, length - 1);
}

/** The line that heads a text block. */
function textHeader(entry: CollectedRecord): string {
  const exportTime = Number.isFinite(entry.exportTime * 1000)
    ? new Date(entry.exportTime * 1000).toISOString()
    : String(entry.exportTime);
  return (
    `IPFIX record from ${entry.exporter}, observation domain ${entry.observationDomainId}, ` +
    `template ${entry.templateId}, exported ${exportTime}\n`
  );
}

/**
 * Writes records as readable blocks into one reused Buffer: a heading line, one line per field
 * with the names padded to the longest one, and a blank line.
 */
export class TextBlockEncoder extends ByteOutput {
  /** The heading of the last record: records of one message share it. */
  private headerOf: { exporter: string; observationDomainId: number; templateId: number; exportTime: number } | null = null;
  private headerBytes: Uint8Array = new Uint8Array(0);
  /** `  <key padded>  ` per key of the last record's shape. */
  private readonly shapeKeys: string[] = [];
  private readonly shapeBytes: Uint8Array[] = [];

  constructor(initialBytes = 16 * 1024) {
    super(initialBytes);
  }

  /** Encodes one record as a text block (ending in a blank line) at the start of `buffer`; returns its length in bytes. */
  encode(entry: CollectedRecord): number {
    this.off = 0;
    this.bytes(this.header(entry));
    const record = entry.record;
    const shapeKeys = this.shapeKeys;
    let count = 0;
    let sameShape = true;
    for (const key in record) {
      if (sameShape && !(count < shapeKeys.length && shapeKeys[count] === key)) sameShape = false;
      count++;
    }
    if (!sameShape || count !== shapeKeys.length) this.reshape(record, count);
    const shapeBytes = this.shapeBytes;
    let i = 0;
    for (const key in record) {
      this.bytes(shapeBytes[i++]);
      this.value(record[key]);
      this.byte(NEWLINE);
    }
    this.byte(NEWLINE);
    return this.off;
  }

  private header(entry: CollectedRecord): Uint8Array {
    const last = this.headerOf;
    if (
      last === null ||
      last.exporter !== entry.exporter ||
      last.observationDomainId !== entry.observationDomainId ||
      last.templateId !== entry.templateId ||
      last.exportTime !== entry.exportTime
    ) {
      this.headerBytes = Buffer.from(textHeader(entry), 'utf8');
      this.headerOf = {
        exporter: entry.exporter,
        observationDomainId: entry.observationDomainId,
        templateId: entry.templateId,
        exportTime: entry.exportTime,
      };
    }
    return this.headerBytes;
  }

  private reshape(record: DataRecord, count: number): void {
    let width = 0;
    for (const key in record) width = Math.max(width, key.length);
    this.shapeKeys.length = count;
    this.shapeBytes.length = count;
    let i = 0;
    for (const key in record) {
      this.shapeKeys[i] = key;
      this.shapeBytes[i] = Buffer.from(`  ${key.padEnd(width)}  `, 'utf8');
      i++;
    }
  }

  private value(value: IpfixValue): void {
    switch (typeof value) {
      case 'number':
        this.number(value);
        return;
      case 'string':
        this.utf8(value);
        return;
      case 'bigint':
        this.ascii(value.toString());
        return;
      case 'boolean':
        this.bytes(value ? TRUE_BYTES : FALSE_BYTES);
        return;
      default:
        if (value.length === 0) {
          this.bytes(EMPTY_OCTETS_BYTES);
        } else {
          this.ascii('0x');
          this.hexDigits(value);
        }
    }
  }
}

const sharedText = new TextBlockEncoder();

/** A record as a readable block, ending with a blank line. */
export function recordToText(entry: CollectedRecord): string {
  const length = sharedText.encode(entry);
  return sharedText.buffer.toString('utf8', 0, length);
}
