// Thrift compact protocol, the writing half, as Parquet's page headers and footer use it
// (https://github.com/apache/thrift/blob/master/doc/specs/thrift-compact-protocol.md):
//
//   field header   one byte: (id delta 1..15) << 4 | type, or type then the id as a zigzag varint
//   i16/i32/i64    zigzag varint            binary   varint length, bytes
//   list           one byte: size << 4 | element type (size < 15), else 0xf0 | type, varint size
//   bool field     the value is the type: 1 true, 2 false           struct end   0x00
//
// Only what Parquet's metadata needs: no maps, no sets, no doubles.

export const T_TRUE = 1;
export const T_FALSE = 2;
export const T_BYTE = 3;
export const T_I16 = 4;
export const T_I32 = 5;
export const T_I64 = 6;
export const T_BINARY = 8;
export const T_LIST = 9;
export const T_STRUCT = 12;

/** A growable byte buffer with a field-id stack, for one Thrift struct tree. */
export class CompactWriter {
  private buf: Buffer;
  private off = 0;
  private lastId = 0;
  private readonly ids: number[] = [];

  constructor(size = 1024) {
    this.buf = Buffer.allocUnsafe(size);
  }

  get length(): number {
    return this.off;
  }

  /** The bytes written so far (a view; valid until the next write). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.off);
  }

  private room(n: number): void {
    if (this.off + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.off + n));
    this.buf.copy(next, 0, 0, this.off);
    this.buf = next;
  }

  private byte(b: number): void {
    this.room(1);
    this.buf[this.off++] = b;
  }

  /** Unsigned varint of a non-negative integer up to 2^53. */
  varint(v: number): void {
    this.room(10);
    while (v >= 0x80) {
      this.buf[this.off++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.off++] = v;
  }

  /** Zigzag varint of a safe integer. */
  zigzag(v: number): void {
    this.varint(v >= 0 ? v * 2 : -v * 2 - 1);
  }

  private header(id: number, type: number): void {
    const delta = id - this.lastId;
    if (delta > 0 && delta <= 15) this.byte((delta << 4) | type);
    else {
      this.byte(type);
      this.zigzag(id);
    }
    this.lastId = id;
  }

  i32(id: number, v: number): this {
    this.header(id, T_I32);
    this.zigzag(v);
    return this;
  }

  i64(id: number, v: number): this {
    this.header(id, T_I64);
    this.zigzag(v);
    return this;
  }

  bool(id: number, v: boolean): this {
    this.header(id, v ? T_TRUE : T_FALSE);
    return this;
  }

  byteField(id: number, v: number): this {
    this.header(id, T_BYTE);
    this.byte(v & 0xff);
    return this;
  }

  binary(id: number, v: Uint8Array | string): this {
    this.header(id, T_BINARY);
    this.rawBinary(v);
    return this;
  }

  private rawBinary(v: Uint8Array | string): void {
    const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
    this.varint(b.length);
    this.room(b.length);
    this.buf.set(b, this.off);
    this.off += b.length;
  }

  /** Opens a nested struct as field `id`; close it with end(). */
  struct(id: number, fill: (w: this) => void): this {
    this.header(id, T_STRUCT);
    this.beginStruct();
    fill(this);
    this.end();
    return this;
  }

  private beginStruct(): void {
    this.ids.push(this.lastId);
    this.lastId = 0;
  }

  /** Ends the current struct (the top-level one too). */
  end(): this {
    this.byte(0);
    this.lastId = this.ids.pop() ?? 0;
    return this;
  }

  private listHeader(id: number, size: number, type: number): void {
    this.header(id, T_LIST);
    if (size < 15) this.byte((size << 4) | type);
    else {
      this.byte(0xf0 | type);
      this.varint(size);
    }
  }

  listOfStructs<T>(id: number, items: readonly T[], fill: (w: this, item: T) => void): this {
    this.listHeader(id, items.length, T_STRUCT);
    for (const item of items) {
      this.beginStruct();
      fill(this, item);
      this.end();
    }
    return this;
  }

  listOfI32(id: number, items: readonly number[]): this {
    this.listHeader(id, items.length, T_I32);
    for (const v of items) this.zigzag(v);
    return this;
  }

  listOfStrings(id: number, items: readonly string[]): this {
    this.listHeader(id, items.length, T_BINARY);
    for (const v of items) this.rawBinary(v);
    return this;
  }
}
