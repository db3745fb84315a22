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
// copying. Only a message that straddles chunks is copied, once, into a scratch buffer that
// is reused for the next straddling message (its length is known from its first 4 bytes and
// is at most 65535); there is no Buffer.concat per chunk and no allocation per message. So a
// message is valid only while the callback runs: decoders copy what they keep.
//
// A chunk pushed as `transient` lives in memory that the caller reuses once push returns (a
// socket that reads into one buffer again and again): what the deframer must keep of it (the
// rest of the chunk when the consumer pauses, chunks pushed while paused) is copied, and only
// then.
//
// The stream cannot be resynchronised after a bad header (there is no delimiter to search
// for), so bad framing throws a coded error and the session must be closed.
import { IpfixError } from './errors.js';

const IPFIX_VERSION_10 = 10;
const MIN_MESSAGE_LENGTH = 16;

/** Receives one whole message; returning false pauses the deframer after this message. */
export type MessageHandler = (message: Buffer) => boolean | void;

export class IpfixDeframer {
  /** The first bytes of a message whose length is not known yet (fewer than 4 bytes seen). */
  private readonly head = Buffer.allocUnsafe(4);
  private headFilled = 0;
  /** A message that straddles chunks: a view of `scratch` at its full length. */
  private partial: Buffer | null = null;
  private scratch: Buffer | null = null;
  private partialFilled = 0;
  /** Chunks not yet looked at because the consumer paused us; the first from heldOffset. */
  private held: Buffer[] = [];
  private heldOffset = 0;
  private failed: IpfixError | null = null;
  /** The chunk being consumed is reused by the caller after push returns (push's `transient`). */
  private transient = false;
  private offsetInStream = 0;

  /** Bytes held that belong to a message not yet complete. */
  get bufferedBytes(): number {
    return this.partial !== null ? this.partialFilled : this.headFilled;
  }

  /** True after a handler returned false, until resume() has handed out everything held. */
  get isPaused(): boolean {
    return this.held.length > 0;
  }

  /**
   * Feeds one chunk of the stream and calls onMessage for every message it completes, in
   * order. When onMessage returns false, the rest of the chunk is held (as a view, not a
   * copy) and push returns false; call resume() when the consumer has room again. Throws
   * IpfixError (IPFIX_ERR_BAD_VERSION or IPFIX_ERR_BAD_MESSAGE_LENGTH), and keeps throwing,
   * once the stream is malformed. `transient`: the chunk's memory is reused after push returns,
   * so whatever is held of it is copied.
   */
  push(chunk: Uint8Array, onMessage: MessageHandler, transient = false): boolean {
    if (this.failed !== null) throw this.failed;
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.held.length > 0) {
      this.held.push(transient ? Buffer.from(buf) : buf);
      return false;
    }
    this.transient = transient;
    return this.consume(buf, 0, onMessage);
  }

  /** Hands out held messages after a pause; returns false if the handler paused again. */
  resume(onMessage: MessageHandler): boolean {
    if (this.failed !== null) throw this.failed;
    // Held chunks are the deframer's own (copies of transient ones, or chunks left to it).
    this.transient = false;
    while (this.held.length > 0) {
      const buf = this.held.shift() as Buffer;
      const off = this.heldOffset;
      this.heldOffset = 0;
      if (!this.consume(buf, off, onMessage)) return false;
    }
    return true;
  }

  private consume(buf: Buffer, start: number, onMessage: MessageHandler): boolean {
    const end = buf.length;
    let off = start;

    if (this.headFilled > 0) {
      const take = Math.min(4 - this.headFilled, end - off);
      buf.copy(this.head, this.headFilled, off, off + take);
      this.headFilled += take;
      off += take;
      if (this.headFilled < 4) return true;
      const length = this.checkHeader(this.head, 0);
      this.partial = this.scratchOf(length);
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
      if (this.partialFilled < partial.length) return true;
      this.partial = null;
      this.partialFilled = 0;
      this.offsetInStream += partial.length;
      if (onMessage(partial) === false) return this.hold(buf, off);
    }

    while (off < end) {
      if (end - off < 4) {
        buf.copy(this.head, 0, off, end);
        this.headFilled = end - off;
        return true;
      }
      const length = this.checkHeader(buf, off);
      if (end - off < length) {
        const partial = this.scratchOf(length);
        buf.copy(partial, 0, off, end);
        this.partial = partial;
        this.partialFilled = end - off;
        return true;
      }
      this.offsetInStream += length;
      const message = buf.subarray(off, off + length);
      off += length;
      if (onMessage(message) === false) return this.hold(buf, off);
    }
    return true;
  }

  /** Keeps the unread rest of buf in front of any chunks held already. */
  private hold(buf: Buffer, off: number): false {
    if (off < buf.length) {
      if (this.transient) {
        this.held.unshift(Buffer.from(buf.subarray(off)));
        this.heldOffset = 0;
      } else {
        this.held.unshift(buf);
        this.heldOffset = off;
      }
    } else if (this.held.length === 0) {
      // Nothing left of this chunk, but the pause must still be visible to the caller.
      this.held.push(EMPTY);
      this.heldOffset = 0;
    }
    return false;
  }

  private scratchOf(length: number): Buffer {
    if (this.scratch === null || this.scratch.length < length) this.scratch = Buffer.allocUnsafe(Math.max(length, 4096));
    return this.scratch.subarray(0, length);
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

const EMPTY = Buffer.alloc(0);
