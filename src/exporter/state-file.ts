// The exporter's state file: what it last exported of each connection, so that a restarted
// exporter continues the deltas of a connection that is still open instead of sending its whole
// total again. Only an aggregator that kept the earlier totals could undo such a repeat; one
// restarted at the same time could not, and would count the bytes twice (docs/exporter.md,
// "Restarts").
//
// Written at shutdown (after the forced-end records, with the totals they carried) and every
// stateSaveInterval (bounded cost: one JSON text of the held connections, written to a temporary
// file and renamed over the old one, so a crash mid-write leaves the previous file whole). Read
// once at start. The file is ours and the host's, never a peer's, but it can be truncated,
// hand-edited, from another version or another boot: any of those gives a clear log line and a
// fresh start, never a crash.
//
//   {"format":"flowvis-exporter-state","version":1,"nodeName":"worker-1","bootId":"…",
//    "savedAtMs":1700000000000,
//    "connections":[[key, kernelId, startMs, flowStartMs, packets, bytes, rPackets, rBytes, done], …]}
//
// key is the connection store's key (zone/protocol/source/port/destination/port[/icmp/…]);
// kernelId the CTA_ID and startMs the conntrack start timestamp, which together tell the same
// kernel connection from a new one on the same 5-tuple; flowStartMs the flowStartSeconds the
// records carried (the conntrack start, else when the exporter first saw it); the four counters
// are the totals of the last export; done marks a connection whose end (reason 3) was exported.
import { readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export const STATE_FORMAT = 'flowvis-exporter-state';
export const STATE_VERSION = 1;

/** What the exporter last exported of one connection. */
export interface SavedConnection {
  readonly key: string;
  /** CTA_ID; 0 when the source had none. */
  readonly id: number;
  /** The conntrack start timestamp in ms; 0 when nf_conntrack_timestamp was off. */
  readonly startMs: number;
  /** The start its records carried (flowStartSeconds × 1000 before rounding). */
  readonly flowStartMs: number;
  readonly packets: number;
  readonly bytes: number;
  readonly reversePackets: number;
  readonly reverseBytes: number;
  /** Its end of flow was exported (a TIME_WAIT tombstone): nothing more to report. */
  readonly done: boolean;
}

export interface ExporterState {
  readonly nodeName: string;
  /** /proc/sys/kernel/random/boot_id of the host that saved it ('' when unreadable). */
  readonly bootId: string;
  readonly savedAtMs: number;
  readonly connections: readonly SavedConnection[];
}

/** The outcome of reading the state file at start. */
export type StateLoad =
  | { readonly kind: 'loaded'; readonly state: ExporterState }
  /** No file: a first start, or persistence was off before. */
  | { readonly kind: 'absent' }
  /** Not ours to use: another format version, Node or boot. */
  | { readonly kind: 'old'; readonly why: string }
  /** Unreadable or malformed. */
  | { readonly kind: 'corrupt'; readonly why: string };

/** The host's boot id, or '' where there is none (conntrack does not survive a reboot). */
export function readBootId(path = '/proc/sys/kernel/random/boot_id'): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

export function encodeState(state: ExporterState): string {
  const rows = state.connections.map((c) => [c.key, c.id, c.startMs, c.flowStartMs, c.packets, c.bytes, c.reversePackets, c.reverseBytes, c.done ? 1 : 0]);
  return JSON.stringify({
    format: STATE_FORMAT,
    version: STATE_VERSION,
    nodeName: state.nodeName,
    bootId: state.bootId,
    savedAtMs: state.savedAtMs,
    connections: rows,
  });
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** A time in ms: compared for equality, so any finite value a source gave is kept as it was. */
function isTime(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}

/**
 * Parses a state file's text. `expect` is this process's Node and boot: a file saved for another
 * Node, or before a reboot (when both boot ids are known), is 'old'.
 */
export function decodeState(text: string, expect: { nodeName: string; bootId: string }): StateLoad {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return { kind: 'corrupt', why: `not JSON (${(err as Error).message})` };
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return { kind: 'corrupt', why: 'not a JSON object' };
  const d = doc as Record<string, unknown>;
  if (d.format !== STATE_FORMAT) return { kind: 'corrupt', why: `"format" is ${JSON.stringify(d.format)}, not "${STATE_FORMAT}"` };
  if (d.version !== STATE_VERSION) return { kind: 'old', why: `format version ${JSON.stringify(d.version)}; this exporter reads version ${STATE_VERSION}` };
  if (typeof d.nodeName !== 'string' || typeof d.bootId !== 'string' || !isCount(d.savedAtMs) || !Array.isArray(d.connections)) {
    return { kind: 'corrupt', why: 'nodeName, bootId, savedAtMs or connections missing or of the wrong type' };
  }
  if (d.nodeName !== expect.nodeName) return { kind: 'old', why: `saved by Node "${d.nodeName}", this is "${expect.nodeName}"` };
  if (d.bootId !== '' && expect.bootId !== '' && d.bootId !== expect.bootId) {
    return { kind: 'old', why: 'saved before the host rebooted (another boot id): conntrack starts empty' };
  }
  const connections: SavedConnection[] = [];
  for (let i = 0; i < d.connections.length; i++) {
    const row = d.connections[i] as unknown;
    if (
      !Array.isArray(row) || row.length !== 9 || typeof row[0] !== 'string' || row[0] === '' ||
      !isCount(row[1]) || row[1] > 0xffffffff || !isTime(row[2]) || !isTime(row[3]) ||
      !isCount(row[4]) || !isCount(row[5]) || !isCount(row[6]) || !isCount(row[7]) || (row[8] !== 0 && row[8] !== 1)
    ) {
      return { kind: 'corrupt', why: `connection ${i} is not [key, id, startMs, flowStartMs, packets, bytes, reversePackets, reverseBytes, done]` };
    }
    connections.push({
      key: row[0], id: row[1], startMs: row[2], flowStartMs: row[3],
      packets: row[4], bytes: row[5], reversePackets: row[6], reverseBytes: row[7], done: row[8] === 1,
    });
  }
  return { kind: 'loaded', state: { nodeName: d.nodeName, bootId: d.bootId, savedAtMs: d.savedAtMs, connections } };
}

/** Reads the state file; never throws. */
export function loadStateFile(path: string, expect: { nodeName: string; bootId: string }): StateLoad {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    return { kind: 'corrupt', why: `cannot read it: ${(err as Error).message}` };
  }
  return decodeState(text, expect);
}

/** Writes the text next to the file, then renames it over: readers see the old or the new file whole. */
export async function writeStateFile(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await mkdir(dirname(path), { recursive: true });
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, path);
}

