// What the collector keeps about each decoded data record: the record itself plus where it
// came from. Records hold copies (numbers, strings, Uint8Array copies), never views into a
// receive buffer, so keeping them in the ring is safe.
import type { DataRecord } from '../ipfix/api.js';

export interface CollectedRecord {
  /** The exporter's transport address, "ip:port" ("[v6]:port" for IPv6). */
  readonly exporter: string;
  readonly observationDomainId: number;
  readonly templateId: number;
  /** Export time from the message header, seconds since the Unix epoch. */
  readonly exportTime: number;
  readonly record: DataRecord;
}

/** The formats `flowvis collector --format` accepts; `none` prints nothing per record. */
export const OUTPUT_FORMATS = ['json', 'text', 'none'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];
