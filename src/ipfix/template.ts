// Templates compiled once into decode plans (RFC 7011 3.4.1, 3.4.2), and the template cache
// of one transport session, keyed by observation domain (RFC 7011 8).
//
// A compiled template decodes a data record with one generated function: straight-line reads
// at fixed offsets into a fixed-shape object literal, so V8 sees one hidden class per template
// and no per-field dispatch. Keys are JSON.stringify-escaped; values come from the helpers below.
import { VARIABLE_LENGTH } from './api.js';
import type { AbstractDataType, DataRecord, FieldSpecifier, InformationElement, TemplateDefinition } from './api.js';
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import { IpfixError } from './errors.js';
import { ieById, unknownIeName } from './registry.js';
import {
  dataViewOf, ipv4Text, readIpv4, readIpv6, readMac, readNtpMicroseconds, readNtpNanoseconds, readSigned64, readSignedN,
  readStringAt, readUnsigned64, readUnsignedN,
} from './values.js';

/** One field of a compiled template. */
export interface CompiledField {
  readonly spec: FieldSpecifier;
  /** The registry entry, or undefined for an element the registry does not know. */
  readonly ie: InformationElement | undefined;
  /** The record key: the IE name, `ie<enterprise>_<id>` when unknown, `name#2` for a repeat. */
  readonly key: string;
  /** The data type used on the wire: the IE's, or octetArray when unknown. */
  readonly dataType: AbstractDataType;
  /** Wire length, or VARIABLE_LENGTH. */
  readonly length: number;
}

/** Reads one record at o (dv is a DataView over b); sets cursor.off to the offset after it. */
export type RecordDecoder = (b: Buffer, o: number, end: number, cursor: { off: number }, dv: DataView, into?: unknown) => DataRecord;

/** Natural lengths, and the reduced sizes that RFC 7011 6.2 allows on top of them. */
const ALLOWED_LENGTHS: Partial<Record<AbstractDataType, readonly number[]>> = {
  unsigned8: [1], unsigned16: [1, 2], unsigned32: [1, 2, 3, 4], unsigned64: [1, 2, 3, 4, 5, 6, 7, 8],
  signed8: [1], signed16: [1, 2], signed32: [1, 2, 3, 4], signed64: [1, 2, 3, 4, 5, 6, 7, 8],
  float32: [4], float64: [4, 8],
  boolean: [1],
  macAddress: [6],
  dateTimeSeconds: [4], dateTimeMilliseconds: [8], dateTimeMicroseconds: [8], dateTimeNanoseconds: [8],
  ipv4Address: [4], ipv6Address: [16],
};

/** Types whose template length may be anything, including VARIABLE_LENGTH. */
const ANY_LENGTH = new Set<AbstractDataType>(['octetArray', 'string', 'basicList', 'subTemplateList', 'subTemplateMultiList']);

/** Finds the Information Element of a field specifier. */
export type IeLookup = (enterpriseId: number, elementId: number) => InformationElement | undefined;

/**
 * A lookup that knows extra elements (another vendor's, or types the registries lack) before the
 * generated registry. Extra elements must have a valid data type and natural length.
 */
export function ieLookupWith(extraElements: readonly InformationElement[] | undefined): IeLookup {
  if (extraElements === undefined || extraElements.length === 0) return ieById;
  const extra = new Map<number, InformationElement>();
  for (const ie of extraElements) {
    if (!(ie.dataType in ALLOWED_LENGTHS) && !ANY_LENGTH.has(ie.dataType)) {
      throw new IpfixError('IPFIX_ERR_BAD_OPTION', `extra element ${ie.name}: unknown data type ${ie.dataType}`);
    }
    extra.set(ie.enterpriseId * 0x10000 + ie.elementId, Object.freeze({ ...ie }));
  }
  return (enterpriseId, elementId) => extra.get(enterpriseId * 0x10000 + elementId) ?? ieById(enterpriseId, elementId);
}

/** Resolves and checks every field of a template definition; shared by decoder and writer. */
export function resolveFields(def: TemplateDefinition, lookup: IeLookup = ieById): CompiledField[] {
  const seen = new Map<string, number>();
  return def.fields.map((spec, i) => {
    const ie = lookup(spec.enterpriseId, spec.elementId);
    const dataType: AbstractDataType = ie ? ie.dataType : 'octetArray';
    const base = ie ? ie.name : unknownIeName(spec.enterpriseId, spec.elementId);
    const where = `template ${def.templateId} field ${i} (${base})`;
    if (!Number.isInteger(spec.length) || spec.length < 1 || spec.length > VARIABLE_LENGTH) {
      throw new IpfixError('IPFIX_ERR_BAD_FIELD_LENGTH', `${where}: length ${spec.length} is not 1-65535`);
    }
    if (!ANY_LENGTH.has(dataType)) {
      const allowed = ALLOWED_LENGTHS[dataType] ?? [];
      if (!allowed.includes(spec.length)) {
        throw new IpfixError(
          'IPFIX_ERR_BAD_FIELD_LENGTH',
          `${where}: length ${spec.length === VARIABLE_LENGTH ? 'variable' : spec.length} is not valid for ${dataType} (use ${allowed.join(' or ')})`,
        );
      }
    }
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    return { spec, ie, key: n === 1 ? base : `${base}#${n}`, dataType, length: spec.length };
  });
}

/** Checks the header fields of a template definition (IDs, scope count) and freezes a copy. */
export function checkDefinition(def: TemplateDefinition): TemplateDefinition {
  if (!Number.isInteger(def.templateId) || def.templateId < 256 || def.templateId > 0xffff) {
    throw new IpfixError('IPFIX_ERR_BAD_TEMPLATE', `template ID ${def.templateId} is not 256-65535`);
  }
  if (def.fields.length === 0 || def.fields.length > 0xffff) {
    throw new IpfixError('IPFIX_ERR_BAD_TEMPLATE', `template ${def.templateId} has ${def.fields.length} fields (1-65535 allowed)`);
  }
  if (!Number.isInteger(def.scopeFieldCount) || def.scopeFieldCount < 0 || def.scopeFieldCount > def.fields.length) {
    throw new IpfixError(
      'IPFIX_ERR_BAD_TEMPLATE',
      `template ${def.templateId}: scope field count ${def.scopeFieldCount} is not 0-${def.fields.length}`,
    );
  }
  for (const f of def.fields) {
    if (!Number.isInteger(f.enterpriseId) || f.enterpriseId < 0 || f.enterpriseId > 0xffffffff) {
      throw new IpfixError('IPFIX_ERR_BAD_TEMPLATE', `template ${def.templateId}: enterprise ${f.enterpriseId} is not a u32`);
    }
    if (!Number.isInteger(f.elementId) || f.elementId < 0 || f.elementId > 0x7fff) {
      throw new IpfixError('IPFIX_ERR_BAD_TEMPLATE', `template ${def.templateId}: element ID ${f.elementId} is not 0-32767`);
    }
  }
  return Object.freeze({
    templateId: def.templateId,
    scopeFieldCount: def.scopeFieldCount,
    fields: Object.freeze(
      def.fields.map((f) => Object.freeze({ enterpriseId: f.enterpriseId, elementId: f.elementId, length: f.length })),
    ),
  });
}

// ---- decode helpers, passed to the generated code as `h` ----------------------------------------

const decodeHelpers = {
  u64: readUnsigned64,
  s64: readSigned64,
  uN: readUnsignedN,
  sN: readSignedN,
  str: readStringAt,
  /** A fixed-length string field: trailing NUL padding is not part of the text. */
  strFixed(b: Buffer, dv: DataView, s: number, e: number): string {
    while (e > s && b[e - 1] === 0) e--;
    return readStringAt(b, dv, s, e);
  },
  bytes(b: Buffer, s: number, e: number): Uint8Array {
    return new Uint8Array(b.subarray(s, e));
  },
  ipv4: readIpv4,
  ipv4Text,
  ipv6: readIpv6,
  mac: readMac,
  bool(b: Buffer, o: number): boolean {
    // RFC 7011 6.1.5: 1 is true, 2 is false.
    const v = b[o];
    if (v === 1) return true;
    if (v === 2) return false;
    throw new IpfixError('IPFIX_ERR_BAD_VALUE', `boolean octet ${v} at ${o} is neither 1 (true) nor 2 (false)`);
  },
  ms(b: Buffer, o: number): number {
    const v = readUnsigned64(b, o);
    if (typeof v !== 'number') throw new IpfixError('IPFIX_ERR_BAD_VALUE', `dateTimeMilliseconds ${v} at ${o} is beyond 2^53 ms`);
    return v;
  },
  ntpUs: readNtpMicroseconds,
  ntpNs: readNtpNanoseconds,
  overrun(at: number, end: number, key: string): IpfixError {
    return new IpfixError('IPFIX_ERR_RECORD_OVERRUN', `field ${key} at ${at} runs past the end of its set at ${end}`);
  },
};

/** A JS expression that reads a fixed-length field at position expression `at`. */
function readExpression(f: CompiledField, at: string): string {
  const len = f.length;
  const byte = (i: number) => (i === 0 ? `b[${at}]` : `b[${at}+${i}]`);
  // Two and four bytes in one big-endian DataView read (dv: a view of b): one load where four
  // byte loads, shifts and ors would be.
  const unsignedUpTo4 = () => {
    if (len === 1) return byte(0);
    if (len === 2) return `dv.getUint16(${at})`;
    if (len === 4) return `dv.getUint32(${at})`;
    const parts: string[] = [];
    for (let i = 0; i < len; i++) parts.push(`${byte(i)}<<${8 * (len - 1 - i)}`);
    return `(${parts.join('|')})`;
  };
  // Two's complement of 1-4 bytes: shift the top byte into bit 31, then back with sign.
  const signedUpTo4 = () => {
    if (len === 4) return `dv.getInt32(${at})`;
    if (len === 2) return `dv.getInt16(${at})`;
    return `(${unsignedUpTo4()}<<${32 - 8 * len}>>${32 - 8 * len})`;
  };
  switch (f.dataType) {
    case 'unsigned8':
    case 'unsigned16':
    case 'unsigned32':
    case 'dateTimeSeconds':
      return unsignedUpTo4();
    case 'unsigned64':
      if (len === 8) return `h.u64(b,${at})`;
      if (len <= 4) return unsignedUpTo4();
      return `h.uN(b,${at},${len})`;
    case 'signed8':
    case 'signed16':
    case 'signed32':
      return signedUpTo4();
    case 'signed64':
      if (len === 8) return `h.s64(b,${at})`;
      if (len <= 4) return signedUpTo4();
      return `h.sN(b,${at},${len})`;
    case 'float32':
      return `b.readFloatBE(${at})`;
    case 'float64':
      return len === 8 ? `b.readDoubleBE(${at})` : `b.readFloatBE(${at})`;
    case 'boolean':
      return `h.bool(b,${at})`;
    case 'macAddress':
      return `h.mac(b,${at})`;
    case 'dateTimeMilliseconds':
      return `h.ms(b,${at})`;
    case 'dateTimeMicroseconds':
      return `h.ntpUs(b,${at})`;
    case 'dateTimeNanoseconds':
      return `h.ntpNs(b,${at})`;
    case 'ipv4Address':
      return `h.ipv4(b,${at})`;
    case 'ipv6Address':
      return `h.ipv6(b,${at})`;
    case 'string':
      return `h.strFixed(b,dv,${at},${at}+${len})`;
    default:
      return `h.bytes(b,${at},${at}+${len})`;
  }
}

// ---- record shapes: decoding straight into a caller's record type ------------------------------

/** How an output property takes its value from a decoded field (conversions as in src/flow/ie-mapping.ts). */
export type ShapeConversion =
  /** A number; a bigint (64-bit value beyond 2^53) becomes the nearest number; anything else 0. */
  | 'number'
  /** A string (text, address or MAC); anything else ''. */
  | 'text'
  /** Like text, but the all-zero address ("0.0.0.0", "::", Antrea's "none") reads as ''. */
  | 'address'
  /**
   * An ipv4Address field as its 32-bit value (0 to 2^32 - 1), without the dotted-quad text
   * (ipv4Text gives it when needed); -1 when the template has no such field or it is not an
   * ipv4Address.
   */
  | 'ipv4Number'
  /**
   * A string field as the shape's interner's id of its bytes (RecordShape.interner): no JS
   * string per record for a name the interner knows. 0 for an empty value or a missing key.
   */
  | 'id';

export type ShapeProperty =
  | { readonly name: string; readonly key: string; readonly as: ShapeConversion }
  | { readonly name: string; readonly value: number | string | boolean };

/**
 * A record type that a template decodes into directly, without a DataRecord in between. Once per
 * template, `properties` gets the record keys the template carries and lists the output
 * properties in order, each read from a key (a missing key gives 0 or '') or a constant. The
 * result equals building the DataRecord and mapping it with the same conversions.
 */
export interface RecordShape<T> {
  readonly name: string;
  properties(keys: ReadonlySet<string>): readonly ShapeProperty[];
  /** Gives the ids of 'id' properties; required when any property is read `as: 'id'`. */
  readonly interner?: NameInterner;
  /** Only for typing: never set. */
  readonly _type?: T;
}

/**
 * Turns names into numbers for a record shape's 'id' properties. The ids are the interner's
 * business (the aggregator's string table); 0 stands for ''.
 */
export interface NameInterner {
  /** The id of the UTF-8 text b[start, end), end > start; dv is a DataView over b's bytes. */
  idOf(b: Buffer, dv: DataView, start: number, end: number): number;
  /** The id of a non-empty text (for a fixed-length string field). */
  intern(text: string): number;
}

/** What a field's decoded value can be at run time, from its wire type. */
function valueKind(f: CompiledField): 'number' | 'maybeBigint' | 'string' | 'other' {
  switch (f.dataType) {
    case 'unsigned64':
    case 'signed64':
      return f.length <= 4 ? 'number' : 'maybeBigint';
    case 'dateTimeNanoseconds':
      return 'maybeBigint';
    case 'string':
    case 'ipv4Address':
    case 'ipv6Address':
    case 'macAddress':
      return 'string';
    case 'boolean':
    case 'octetArray':
    case 'basicList':
    case 'subTemplateList':
    case 'subTemplateMultiList':
      return 'other';
    default:
      return 'number';
  }
}

/** The shape's properties for these fields, and how each field's value is needed. */
interface ShapePlan {
  readonly properties: readonly ShapeProperty[];
  readonly index: ReadonlyMap<string, number>;
  /** ipv4Address fields read as numbers (locals u0..uN). */
  readonly asIpv4Number: ReadonlySet<number>;
  /** Fields whose decoded value (locals v0..vN) some property reads. */
  readonly asValue: ReadonlySet<number>;
  /** String fields read as interner ids (locals d0..dN). */
  readonly asId: ReadonlySet<number>;
}

function shapePlan(fields: readonly CompiledField[], shape: RecordShape<unknown>): ShapePlan {
  const index = new Map<string, number>();
  fields.forEach((f, i) => index.set(f.key, i));
  const properties = shape.properties(new Set(index.keys()));
  const asIpv4Number = new Set<number>();
  const asValue = new Set<number>();
  const asId = new Set<number>();
  for (const prop of properties) {
    if ('value' in prop) continue;
    if (prop.as === 'id' && shape.interner === undefined) {
      throw new IpfixError('IPFIX_ERR_BAD_OPTION', `record shape ${shape.name} reads ${prop.name} as an id but has no interner`);
    }
    const i = index.get(prop.key);
    if (i === undefined) continue;
    if (prop.as === 'ipv4Number') {
      if (fields[i].dataType === 'ipv4Address') asIpv4Number.add(i);
    } else if (prop.as === 'id') {
      if (fields[i].dataType !== 'string') continue;
      asId.add(i);
      // A fixed-length string is read as text first (its NUL padding is trimmed), then interned.
      if (fields[i].length !== VARIABLE_LENGTH) asValue.add(i);
    } else {
      asValue.add(i);
    }
  }
  return { properties, index, asIpv4Number, asValue, asId };
}

/** The `name: expression` parts of the shape's object literal, over the locals v0..vN and u0..uN. */
function shapeProperties(fields: readonly CompiledField[], plan: ShapePlan): string[] {
  const index = plan.index;
  return plan.properties.map((prop) => {
    const name = JSON.stringify(prop.name);
    if ('value' in prop) return `${name}: ${JSON.stringify(prop.value)}`;
    const i = index.get(prop.key);
    const kind = i === undefined ? 'missing' : valueKind(fields[i]);
    const v = `v${i}`;
    if (prop.as === 'ipv4Number') return `${name}: ${i !== undefined && plan.asIpv4Number.has(i) ? `u${i}` : '-1'}`;
    if (prop.as === 'id') return `${name}: ${i !== undefined && plan.asId.has(i) ? `d${i}` : '0'}`;
    if (prop.as === 'number') {
      if (kind === 'number') return `${name}: ${v}`;
      if (kind === 'maybeBigint') return `${name}: (typeof ${v} === 'bigint' ? Number(${v}) : ${v})`;
      return `${name}: 0`;
    }
    if (kind !== 'string') return `${name}: ''`;
    if (prop.as === 'text') return `${name}: ${v}`;
    return `${name}: (${v} === '0.0.0.0' || ${v} === '::' ? '' : ${v})`;
  });
}

/**
 * Generates the record decoder. Fixed-length fields between variable-length ones form segments
 * read at constant offsets from `p`; a variable-length field reads its 1- or 3-byte length
 * (RFC 7011 7) and checks it against the end of the set.
 */
function generateDecoder(fields: readonly CompiledField[], fixedLength: number | undefined, shape?: RecordShape<unknown>): RecordDecoder {
  const plan = shape === undefined ? undefined : shapePlan(fields, shape);
  const lines: string[] = ['var p = o;'];
  let k = 0; // offset of the next fixed field from p
  const flush = () => {
    if (k > 0) lines.push(`p += ${k};`);
    k = 0;
  };
  // Bounds of each fixed segment are checked once, before its first field.
  const segmentLength = (from: number) => {
    let n = 0;
    for (let j = from; j < fields.length && fields[j].length !== VARIABLE_LENGTH; j++) n += fields[j].length;
    return n;
  };
  fields.forEach((f, i) => {
    const key = JSON.stringify(f.key);
    if (f.length === VARIABLE_LENGTH) {
      flush();
      lines.push(
        `if (p >= end) throw h.overrun(p, end, ${key});`,
        `var n${i} = b[p++];`,
        `if (n${i} === 255) { if (end - p < 2) throw h.overrun(p, end, ${key}); n${i} = b[p] << 8 | b[p + 1]; p += 2; }`,
        `if (end - p < n${i}) throw h.overrun(p, end, ${key});`,
      );
      // An empty string (a field the exporter had no value for) costs no call. A shape reads
      // only the fields its properties name, as text or as interner ids.
      if (plan === undefined || plan.asValue.has(i)) {
        lines.push(f.dataType === 'string' ? `var v${i} = n${i} === 0 ? '' : h.str(b, dv, p, p + n${i});` : `var v${i} = h.bytes(b, p, p + n${i});`);
      }
      if (plan !== undefined && plan.asId.has(i)) lines.push(`var d${i} = n${i} === 0 ? 0 : x.idOf(b, dv, p, p + n${i});`);
      lines.push(`p += n${i};`);
      return;
    }
    if (fixedLength === undefined && k === 0 && (i === 0 || fields[i - 1].length === VARIABLE_LENGTH)) {
      lines.push(`if (end - p < ${segmentLength(i)}) throw h.overrun(p, end, ${key});`);
    }
    const at = k === 0 ? 'p' : `p+${k}`;
    if (plan !== undefined && plan.asIpv4Number.has(i)) {
      // The number without the text; the text only when some property also wants it.
      lines.push(`var u${i} = dv.getUint32(${at});`);
      if (plan.asValue.has(i)) lines.push(`var v${i} = h.ipv4Text(u${i});`);
    } else {
      if (f.dataType === 'unsigned64' && f.length === 8) {
        // Inline while the high word keeps the value a safe integer (as readUnsigned64 does).
        lines.push(`var v${i} = dv.getUint32(${at});`, `v${i} = v${i} < 2097152 ? v${i}*4294967296+dv.getUint32(${at}+4) : h.u64(b,${at});`);
      } else {
        lines.push(`var v${i} = ${readExpression(f, at)};`);
      }
      if (plan !== undefined && plan.asId.has(i)) lines.push(`var d${i} = v${i} === '' ? 0 : x.intern(v${i});`);
    }
    k += f.length;
  });
  flush();
  lines.push('c.off = p;');
  if (shape === undefined) {
    // A repeated key keeps its last value in an object literal; keys are unique by construction.
    lines.push(`return {${fields.map((f, i) => `${JSON.stringify(f.key)}: v${i}`).join(', ')}};`);
  } else {
    // A new object, or `into` (a record this decoder made before) overwritten property by
    // property in the same order, so that it keeps its hidden class (decodeSet's reuse).
    const props = shapeProperties(fields, plan as ShapePlan);
    lines.push(`if (into === undefined) return {${props.join(', ')}};`);
    for (const prop of props) {
      const colon = prop.indexOf(': ');
      lines.push(`into[${prop.slice(0, colon)}] = ${prop.slice(colon + 2)};`);
    }
    lines.push('return into;');
  }
  const body = `"use strict";\nreturn function decodeRecord(b, o, end, c, dv, into) {\n${lines.join('\n')}\n};`;
  return new Function('h', 'x', body)(decodeHelpers, shape?.interner) as RecordDecoder;
}

/** A template compiled once: its fields, record length bounds and generated record decoder. */
export class CompiledTemplate {
  readonly definition: TemplateDefinition;
  readonly templateId: number;
  readonly scopeFieldCount: number;
  readonly fields: readonly CompiledField[];
  /** The record length when every field is fixed-length; undefined otherwise. */
  readonly fixedLength: number | undefined;
  /** The shortest record (a variable-length field counts its 1-byte length). Always >= 1. */
  readonly minRecordLength: number;
  readonly decodeRecord: RecordDecoder;

  constructor(def: TemplateDefinition, lookup: IeLookup = ieById) {
    this.definition = checkDefinition(def);
    this.templateId = def.templateId;
    this.scopeFieldCount = def.scopeFieldCount;
    this.fields = Object.freeze(resolveFields(this.definition, lookup));
    let min = 0;
    let variable = false;
    for (const f of this.fields) {
      if (f.length === VARIABLE_LENGTH) {
        variable = true;
        min += 1;
      } else {
        min += f.length;
      }
    }
    this.minRecordLength = min;
    this.fixedLength = variable ? undefined : min;
    this.decodeRecord = generateDecoder(this.fields, this.fixedLength);
  }

  get isOptionsTemplate(): boolean {
    return this.scopeFieldCount > 0;
  }

  private readonly shapeDecoders = new Map<RecordShape<unknown>, RecordDecoder>();

  /** The generated decoder that builds records of the shape (compiled on first use). */
  decoderFor(shape: RecordShape<unknown>): RecordDecoder {
    let decode = this.shapeDecoders.get(shape);
    if (decode === undefined) {
      decode = generateDecoder(this.fields, this.fixedLength, shape);
      this.shapeDecoders.set(shape, decode);
    }
    return decode;
  }

  /** Records of a shape kept for reuse (decodeSet with a reuse epoch), by shape. */
  private readonly reused = new Map<RecordShape<unknown>, { records: unknown[]; epoch: number; next: number }>();

  /**
   * Decodes every record in data set bytes [off, end); trailing bytes shorter than a record are
   * padding. With a shape and a `reuseEpoch` >= 0 (MessageDecoder.decodeAsReusing: one epoch per
   * message), the records are this template's objects of earlier messages, overwritten: valid
   * only until a call with another epoch, for a consumer that is done with a message's records
   * before the next message is decoded. Sets of one message (one epoch) never share an object.
   * Otherwise every record is a new object.
   */
  decodeSet(b: Buffer, off: number, end: number, out: unknown[], shape?: RecordShape<unknown>, reuseEpoch = -1): void {
    const cursor = { off };
    const min = this.minRecordLength;
    const decode = shape === undefined ? this.decodeRecord : this.decoderFor(shape);
    const dv = dataViewOf(b);
    if (reuseEpoch < 0 || shape === undefined) {
      while (end - cursor.off >= min) out.push(decode(b, cursor.off, end, cursor, dv));
      return;
    }
    let pool = this.reused.get(shape);
    if (pool === undefined) {
      pool = { records: [], epoch: reuseEpoch, next: 0 };
      this.reused.set(shape, pool);
    }
    if (pool.epoch !== reuseEpoch) {
      pool.epoch = reuseEpoch;
      pool.next = 0;
    }
    const records = pool.records;
    let k = pool.next;
    for (; end - cursor.off >= min; k++) {
      if (k < records.length) {
        out.push(decode(b, cursor.off, end, cursor, dv, records[k]));
      } else {
        const r = decode(b, cursor.off, end, cursor, dv);
        records.push(r);
        out.push(r);
      }
    }
    pool.next = k;
  }
}

export interface TemplateCacheOptions {
  clock?: Clock;
  /** Undefined: templates never expire (TCP, TLS). UDP collectors pass 1_800_000 (RFC 7011 8.4). */
  templateLifetimeMs?: number;
  /** Elements known to this session beyond the generated registry (looked up first). */
  extraElements?: readonly InformationElement[];
}

interface CacheEntry {
  readonly template: CompiledTemplate;
  readonly domainId: number;
  expiresAt: number;
}

/** The templates of one transport session, keyed by (observation domain, template ID). */
export class TemplateCache {
  private readonly entries = new Map<number, CacheEntry>();
  private readonly clock: Clock;
  private readonly lifetimeMs: number | undefined;
  private readonly lookup: IeLookup;

  constructor(opts: TemplateCacheOptions = {}) {
    this.lookup = ieLookupWith(opts.extraElements);
    if (opts.templateLifetimeMs !== undefined && !(opts.templateLifetimeMs > 0)) {
      throw new IpfixError('IPFIX_ERR_BAD_OPTION', `templateLifetimeMs ${opts.templateLifetimeMs} must be > 0, or left out for no expiry`);
    }
    this.clock = opts.clock ?? systemClock;
    this.lifetimeMs = opts.templateLifetimeMs;
  }

  private static key(domainId: number, templateId: number): number {
    return domainId * 0x10000 + templateId;
  }

  /** Compiles and stores a template (replacing one with the same ID); returns the compiled form. */
  set(domainId: number, def: TemplateDefinition | CompiledTemplate): CompiledTemplate {
    const template = def instanceof CompiledTemplate ? def : new CompiledTemplate(def, this.lookup);
    this.entries.set(TemplateCache.key(domainId, template.templateId), {
      template,
      domainId,
      expiresAt: this.lifetimeMs === undefined ? Infinity : this.clock.now() + this.lifetimeMs,
    });
    return template;
  }

  /** The compiled template, or undefined when unknown, withdrawn or expired. */
  get(domainId: number, templateId: number): CompiledTemplate | undefined {
    const k = TemplateCache.key(domainId, templateId);
    const entry = this.entries.get(k);
    if (entry === undefined) return undefined;
    if (entry.expiresAt !== Infinity && this.clock.now() >= entry.expiresAt) {
      this.entries.delete(k);
      return undefined;
    }
    return entry.template;
  }

  withdraw(domainId: number, templateId: number): void {
    this.entries.delete(TemplateCache.key(domainId, templateId));
  }

  /**
   * Withdraws every template of a domain (RFC 7011 8.1: template ID 2 in a template set withdraws
   * all templates, 3 in an options template set all options templates). No kind: both.
   */
  withdrawAll(domainId: number, kind?: 'templates' | 'options'): void {
    for (const [k, entry] of this.entries) {
      if (entry.domainId !== domainId) continue;
      if (kind === 'templates' && entry.template.isOptionsTemplate) continue;
      if (kind === 'options' && !entry.template.isOptionsTemplate) continue;
      this.entries.delete(k);
    }
  }

  /** Drops expired templates; returns how many. (get() also drops them lazily.) */
  expire(): number {
    if (this.lifetimeMs === undefined) return 0;
    const now = this.clock.now();
    let n = 0;
    for (const [k, entry] of this.entries) {
      if (now >= entry.expiresAt) {
        this.entries.delete(k);
        n++;
      }
    }
    return n;
  }

  /** Live templates (expired ones are dropped first). */
  get size(): number {
    this.expire();
    return this.entries.size;
  }
}
