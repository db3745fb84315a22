// Unsigned LEB128 of values below 2^32: seven bits a byte, low bits first, the high bit set on
// every byte but the last. ClickHouse's Native strings (their lengths) and Parquet's RLE/bit-packed
// run headers both use it.

/** The bytes `v` takes. */
export function uleb128Length(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v >>>= 7;
    n++;
  }
  return n;
}

/** Writes `v` at `off`; returns the offset past it. */
export function writeUleb128(out: Uint8Array, off: number, v: number): number {
  while (v >= 0x80) {
    out[off++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[off++] = v;
  return off;
}
