// The message decoder (RFC 7011 3): header, then every set in the message, in order.
//
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |       Version Number = 10     |            Length             |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                           Export Time                         |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                       Sequence Number                         |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                    Observation Domain ID                      |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |          Set ID               |          Set Length           |  repeated to Length:
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  2 = templates,
// |                 records ... padding                           |  3 = options templates,
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  >= 256 = data
import type { InformationElement, DecodedMessage, FieldSpecifier, MessageHeader, TemplateDefinition } from './api.js';
import type { Clock } from '../util/clock.js';
import { IpfixError } from './errors.js';
import { TemplateCache } from './template.js';
import type { RecordShape } from './template.js';

export const IPFIX_VERSION = 10;
export const IPFIX_HEADER_LENGTH = 16;
export const SET_HEADER_LENGTH = 4;
export const TEMPLATE_SET_ID = 2;
export const OPTIONS_TEMPLATE_SET_ID = 3;
export const MIN_DATA_SET_ID = 256;

/** A Buffer over the same memory (no copy), so that the reads below can use Buffer methods. */
export function asBuffer(buf: Uint8Array): Buffer {
  return Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
}

/**
 * The message length from the header at offset (bytes 2-3), validated (>= 16). Throws
 * IPFIX_ERR_SHORT_BUFFER when fewer than 4 bytes are there, IPFIX_ERR_BAD_VERSION when the
 * version is not 10, IPFIX_ERR_BAD_MESSAGE_LENGTH when the length is below 16.
 */
export function readMessageLength(buf: Uint8Array, offset = 0): number {
  if (buf.length - offset < 4) {
    throw new IpfixError('IPFIX_ERR_SHORT_BUFFER', `message header at ${offset}: ${Math.max(0, buf.length - offset)} of 4 bytes`);
  }
  const version = (buf[offset] << 8) | buf[offset + 1];
  if (version !== IPFIX_VERSION) {
    throw new IpfixError('IPFIX_ERR_BAD_VERSION', `message at ${offset}: version ${version}, expected 10 (IPFIX)`);
  }
  const length = (buf[offset + 2] << 8) | buf[offset + 3];
  if (length < IPFIX_HEADER_LENGTH) {
    throw new IpfixError('IPFIX_ERR_BAD_MESSAGE_LENGTH', `message at ${offset}: length ${length} is below the 16-byte header`);
  }
  return length;
}

export interface MessageDecoderOptions {
  /** The session's template cache; a new one when left out. */
  templates?: TemplateCache;
  clock?: Clock;
  /** For a new cache: undefined = templates never expire (TCP/TLS); UDP collectors pass 1_800_000. */
  templateLifetimeMs?: number;
  /** For a new cache: elements known beyond the generated registry. */
  extraElements?: readonly InformationElement[];
}

/** A data set decoded into a record shape (MessageDecoder.decodeAs). */
export interface DecodedDataSetOf<T> {
  readonly templateId: number;
  readonly records: T[];
}

/** A message whose data records were decoded into a record shape. */
export interface DecodedMessageOf<T> extends Omit<DecodedMessage, 'dataSets'> {
  readonly dataSets: DecodedDataSetOf<T>[];
}

/** Decodes whole messages of one transport session, keeping its templates. */
export class MessageDecoder {
  readonly templates: TemplateCache;
  private epoch = 0;

  constructor(opts: MessageDecoderOptions = {}) {
    this.templates = opts.templates ?? new TemplateCache({ clock: opts.clock, templateLifetimeMs: opts.templateLifetimeMs, extraElements: opts.extraElements });
  }

  /** Decodes the one whole message at offset (its length from the header; buf may hold more after it). */
  decode(buf: Uint8Array, offset = 0): DecodedMessage {
    return this.decodeMessage(buf, offset, undefined, false) as DecodedMessage;
  }

  /**
   * Like decode, but data records come out as the shape's records (e.g. FlowRecords), built by a
   * generated decoder per template: no DataRecord is made in between.
   */
  decodeAs<T>(buf: Uint8Array, shape: RecordShape<T>, offset = 0): DecodedMessageOf<T> {
    return this.decodeMessage(buf, offset, shape as RecordShape<unknown>, false) as DecodedMessageOf<T>;
  }

  /**
   * decodeAs for a consumer that is done with a message's records before this decoder decodes
   * the next message (the aggregator's synchronous ingest): the record objects of earlier
   * messages are overwritten instead of new ones made for every record (no young-generation
   * allocation per record). A record must not be kept past the next call.
   */
  decodeAsReusing<T>(buf: Uint8Array, shape: RecordShape<T>, offset = 0): DecodedMessageOf<T> {
    return this.decodeMessage(buf, offset, shape as RecordShape<unknown>, true) as DecodedMessageOf<T>;
  }

  private decodeMessage(buf: Uint8Array, offset: number, shape: RecordShape<unknown> | undefined, reuse = false): DecodedMessageOf<unknown> {
    const b = asBuffer(buf);
    // A new epoch per message: reused records are handed out afresh (decodeAsReusing).
    if (reuse) this.epoch = (this.epoch + 1) & 0x3fffffff;
    const length = readMessageLength(b, offset);
    if (b.length - offset < length) {
      throw new IpfixError('IPFIX_ERR_SHORT_BUFFER', `message at ${offset}: header says ${length} bytes, ${b.length - offset} present`);
    }
    if (length < IPFIX_HEADER_LENGTH) throw new IpfixError('IPFIX_ERR_BAD_MESSAGE_LENGTH', `length ${length}`);
    const header: MessageHeader = {
      version: IPFIX_VERSION,
      length,
      exportTime: b.readUInt32BE(offset + 4),
      sequenceNumber: b.readUInt32BE(offset + 8),
      observationDomainId: b.readUInt32BE(offset + 12),
    };
    const domainId = header.observationDomainId;
    const templates: TemplateDefinition[] = [];
    const withdrawals: number[] = [];
    const dataSets: DecodedDataSetOf<unknown>[] = [];
    let recordsWithoutTemplate = 0;
    let setsWithoutTemplate = 0;

    const end = offset + length;
    let off = offset + IPFIX_HEADER_LENGTH;
    while (off < end) {
      if (end - off < SET_HEADER_LENGTH) {
        throw new IpfixError('IPFIX_ERR_BAD_SET_LENGTH', `set header at ${off}: ${end - off} bytes left in the message, 4 needed`);
      }
      const setId = (b[off] << 8) | b[off + 1];
      const setLength = (b[off + 2] << 8) | b[off + 3];
      if (setLength < SET_HEADER_LENGTH || setLength > end - off) {
        throw new IpfixError('IPFIX_ERR_BAD_SET_LENGTH', `set ${setId} at ${off}: length ${setLength} is outside 4-${end - off}`);
      }
      const setEnd = off + setLength;
      const body = off + SET_HEADER_LENGTH;
      if (setId >= MIN_DATA_SET_ID) {
        const template = this.templates.get(domainId, setId);
        if (template === undefined) {
          // RFC 7011 8: without its template a data set cannot be read. How many records it holds
          // is unknowable; a set with any bytes holds at least one, so that is what is counted.
          setsWithoutTemplate++;
          if (setLength > SET_HEADER_LENGTH) recordsWithoutTemplate++;
        } else {
          const records: unknown[] = [];
          template.decodeSet(b, body, setEnd, records, shape, reuse ? this.epoch : -1);
          dataSets.push({ templateId: setId, records });
        }
      } else if (setId === TEMPLATE_SET_ID || setId === OPTIONS_TEMPLATE_SET_ID) {
        this.decodeTemplateSet(b, body, setEnd, setId, domainId, templates, withdrawals);
      } else {
        throw new IpfixError('IPFIX_ERR_BAD_SET_ID', `set at ${off}: set ID ${setId} is reserved (2, 3 or >= 256 expected)`);
      }
      off = setEnd;
    }
    return { header, templates, withdrawals, dataSets, recordsWithoutTemplate, setsWithoutTemplate };
  }

  /**
   * Template records (RFC 7011 3.4.1) and options template records (3.4.2):
   *   template ID (2) | field count (2) | [scope field count (2), set 3 only] | field specifiers
   * A field specifier is IE ID (2) | length (2), and with the enterprise bit (the IE ID's top
   * bit) set, an enterprise number (4) follows. A field count of 0 withdraws the template (8.1).
   */
  private decodeTemplateSet(
    b: Buffer, off: number, end: number, setId: number, domainId: number,
    templates: TemplateDefinition[], withdrawals: number[],
  ): void {
    const options = setId === OPTIONS_TEMPLATE_SET_ID;
    while (off < end) {
      // Padding: fewer bytes than any record, or zero bytes (template ID 0 is never valid).
      if (end - off < 4 || isZero(b, off, end)) return;
      const templateId = (b[off] << 8) | b[off + 1];
      const fieldCount = (b[off + 2] << 8) | b[off + 3];
      off += 4;
      if (fieldCount === 0) {
        if (templateId === setId) {
          this.templates.withdrawAll(domainId, options ? 'options' : 'templates');
        } else if (templateId >= MIN_DATA_SET_ID) {
          this.templates.withdraw(domainId, templateId);
        } else {
          throw new IpfixError('IPFIX_ERR_BAD_TEMPLATE', `withdrawal of template ID ${templateId} in set ${setId} (256-65535 or ${setId} expected)`);
        }
        withdrawals.push(templateId);
        continue;
      }
      let scopeFieldCount = 0;
      if (options) {
        if (end - off < 2) throw new IpfixError('IPFIX_ERR_BAD_TEMPLATE', `options template ${templateId}: no room for the scope field count`);
        scopeFieldCount = (b[off] << 8) | b[off + 1];
        off += 2;
        if (scopeFieldCount === 0) {
          throw new IpfixError('IPFIX_ERR_BAD_TEMPLATE', `options template ${templateId}: scope field count is 0 (RFC 7011 3.4.2.2: at least 1)`);
        }
      }
      const fields: FieldSpecifier[] = new Array(fieldCount);
      for (let i = 0; i < fieldCount; i++) {
        if (end - off < 4) {
          throw new IpfixError('IPFIX_ERR_BAD_TEMPLATE', `template ${templateId}: field ${i} of ${fieldCount} runs past the end of the set`);
        }
        const rawId = (b[off] << 8) | b[off + 1];
        const length = (b[off + 2] << 8) | b[off + 3];
        off += 4;
        let enterpriseId = 0;
        if (rawId & 0x8000) {
          if (end - off < 4) {
            throw new IpfixError('IPFIX_ERR_BAD_TEMPLATE', `template ${templateId}: enterprise number of field ${i} runs past the end of the set`);
          }
          enterpriseId = b.readUInt32BE(off);
          off += 4;
        }
        fields[i] = { enterpriseId, elementId: rawId & 0x7fff, length };
      }
      // Compiles (and checks) the template; a bad one throws before it reaches the cache.
      const compiled = this.templates.set(domainId, { templateId, fields, scopeFieldCount });
      templates.push(compiled.definition);
    }
  }
}

function isZero(b: Buffer, off: number, end: number): boolean {
  for (let i = off; i < end; i++) if (b[i] !== 0) return false;
  return true;
}
