// Cuts a TCP or TLS byte stream into whole IPFIX messages (RFC 7011 10.4: over a stream,
// messages follow each other with no delimiter; the header's Length field frames them).
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |       Version Number = 10     |            Length             |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                           Export Time                         |
//   |                       Sequence Number                         |
//   |                    Observation Domain ID                      |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Messages that lie whole inside one chunk are handed out as views of that chunk, without
// copying. Only a message that straddles chunks is copied, once, into a buffer of exactly
// its length (known from its first 4 bytes); there is no Buffer.concat per chunk. A view is
// valid while the caller's callback runs and as long as nobody writes into the chunk;
// decoders copy what they keep.
//
// The stream cannot be resynchronised after a bad header (there is no delimiter to search
// for), so bad framing throws a coded error and the session must be closed.
import { IpfixError } from './errors.js';

const IPFIX_VERSION_10 = 10;
const MIN_MESSAGE_LENGTH = 16;

export type MessageHandler = (message: Buffer) => void;

export class IpfixDeframer {
  /** The first bytes of a message whose length is not known yet (fewer than 4 bytes seen). */
  private readonly head = Buffer.allocUnsafe(4);
  private headFilled = 0;
  /** A message that straddles chunks, allocated at its full length. */
  private partial: Buffer | null = null;
  private partialFilled = 0;
  private failed: IpfixError | null = null;
  private offsetInStream = 0;

  /** Bytes held that belong to a message not yet complete. */
  get bufferedBytes(): number {
    return this.partial !== null ? this.partialFilled : this.headFilled;
  }

  /**
   * Feeds one chunk of the stream and calls onMessage for every message it completes, in
   * order. Throws IpfixError (IPFIX_ERR_BAD_VERSION or IPFIX_ERR_BAD_MESSAGE_LENGTH), and keeps throwing, once the stream is malformed.
   */
  push(chunk: Uint8Array, onMessage: MessageHandler): void {
    if (this.failed !== null) throw this.failed;
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const end = buf.length;
    let off = 0;

    if (this.headFilled > 0) {
      const take = Math.min(4 - this.headFilled, end);
      buf.copy(this.head, this.headFilled, 0, take);
      this.headFilled += take;
      off = take;
      if (this.headFilled < 4) return;
      const length = this.checkHeader(this.head, 0);
      this.partial = Buffer.allocUnsafe(length);
      this.head.copy(this.partial, 0, 0, 4);
      this.partialFilled = 4;
      this.headFilled = 0;
    }

    if (this.partial !== null) {
      const partial = this.partial;
      const take = Math.min(partial.length - this.partialFilled, end - off);
      buf.copy(partial, this.partialFilled, off, off + take);
      this.partialFilled += take;
      off += take;
      if (this.partialFilled < partial.length) return;
      this.partial = null;
      this.partialFilled = 0;
      this.offsetInStream += partial.length;
      onMessage(partial);
    }

    while (off < end) {
      if (end - off < 4) {
        buf.copy(this.head, 0, off, end);
        this.headFilled = end - off;
        return;
      }
      const length = this.checkHeader(buf, off);
      if (end - off < length) {
        const partial = Buffer.allocUnsafe(length);
        buf.copy(partial, 0, off, end);
        this.partial = partial;
        this.partialFilled = end - off;
        return;
      }
      this.offsetInStream += length;
      onMessage(buf.subarray(off, off + length));
      off += length;
    }
  }

  private checkHeader(buf: Buffer, off: number): number {
    const version = buf.readUInt16BE(off);
    if (version !== IPFIX_VERSION_10) {
      this.failed = new IpfixError('IPFIX_ERR_BAD_VERSION', `version ${version} at stream offset ${this.offsetInStream}, expected 10 (is the exporter sending NetFlow, or TLS to a TCP port?)`);
      throw this.failed;
    }
    const length = buf.readUInt16BE(off + 2);
    if (length < MIN_MESSAGE_LENGTH) {
      this.failed = new IpfixError('IPFIX_ERR_BAD_MESSAGE_LENGTH', `message length ${length} at stream offset ${this.offsetInStream} is below the 16-byte header`);
      throw this.failed;
    }
    return length;
  }
}
