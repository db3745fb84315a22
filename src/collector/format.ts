// Printing decoded records. JSON lines: one object per record, IE names as keys, addresses
// as text, counters as JSON numbers (a bigint counter above 2^53 is printed as its exact
// integer literal, which JSON allows and JSON.stringify cannot do), octetArray as lowercase
// hex. Text: one readable block per record, headed by its exporter, domain and template.
import type { DataRecord, IpfixValue } from '../ipfix/api.js';
import type { CollectedRecord } from './types.js';

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]];
  return s;
}

const quotedKeys = new Map<string, string>();

function quotedKey(key: string): string {
  let q = quotedKeys.get(key);
  if (q === undefined) {
    q = JSON.stringify(key) + ':';
    // IE names are a small, fixed set; the cap only guards against a peer inventing names.
    if (quotedKeys.size < 4096) quotedKeys.set(key, q);
  }
  return q;
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

/** A data record as one line of JSON (without the newline). */
export function recordToJson(record: DataRecord): string {
  let s = '{';
  let first = true;
  for (const key in record) {
    if (!first) s += ',';
    first = false;
    s += quotedKey(key) + jsonValue(record[key]);
  }
  return s + '}';
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

/** A record as a readable block, ending with a blank line. */
export function recordToText(entry: CollectedRecord): string {
  const exportTime = Number.isFinite(entry.exportTime * 1000)
    ? new Date(entry.exportTime * 1000).toISOString()
    : String(entry.exportTime);
  let s =
    `IPFIX record from ${entry.exporter}, observation domain ${entry.observationDomainId}, ` +
    `template ${entry.templateId}, exported ${exportTime}\n`;
  let width = 0;
  for (const key in entry.record) width = Math.max(width, key.length);
  for (const key in entry.record) {
    s += `  ${key.padEnd(width)}  ${textValue(entry.record[key])}\n`;
  }
  return s + '\n';
}
