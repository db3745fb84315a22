// Shared pieces of the transport integration tests: a small flow template, records built
// by a function, and a wait helper that fails with a message instead of hanging.
import assert from 'node:assert/strict';
import net from 'node:net';
import type { DataRecord, TemplateDefinition } from '../../../src/ipfix/api.js';
import type { CollectedMessage, CollectingProcess } from '../../../src/transport/collecting-process.js';
import { field } from '../../fixtures/ipfix/build.js';

export const FLOW_TEMPLATE_ID = 256;

export const flowTemplate: TemplateDefinition = {
  templateId: FLOW_TEMPLATE_ID,
  scopeFieldCount: 0,
  fields: [
    'sourceIPv4Address', 'destinationIPv4Address', 'sourceTransportPort', 'destinationTransportPort',
    'protocolIdentifier', 'packetDeltaCount', 'octetDeltaCount', 'flowStartSeconds', 'sourcePodName',
  ].map(field),
};

/** Record i of a deterministic series; the Pod name varies in length (0-39 characters). */
export function flowRecord(i: number): DataRecord {
  return {
    sourceIPv4Address: `10.0.${(i >> 8) & 0xff}.${i & 0xff}`,
    destinationIPv4Address: '10.96.0.10',
    sourceTransportPort: 1024 + (i % 60000),
    destinationTransportPort: 53,
    protocolIdentifier: 17,
    packetDeltaCount: i * 3,
    octetDeltaCount: 2 ** 40 + i,
    flowStartSeconds: 1_700_000_000 + i,
    sourcePodName: 'coredns-7db6d8ff4d-'.repeat(2).slice(0, i % 40),
  };
}

export function flowRecords(from: number, count: number): DataRecord[] {
  const out: DataRecord[] = [];
  for (let i = from; i < from + count; i++) out.push(flowRecord(i));
  return out;
}

/** Waits until cond() holds; fails with `what` after a generous guard (not a timing assertion). */
export async function waitFor(what: string, cond: () => boolean, guardMs = 15_000): Promise<void> {
  const deadline = Date.now() + guardMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Collects every data record a collector delivers, in order, with the messages they came in. */
export function recordSink(collector: CollectingProcess): { records: DataRecord[]; messages: CollectedMessage[] } {
  const sink = { records: [] as DataRecord[], messages: [] as CollectedMessage[] };
  collector.onMessage((m) => {
    sink.messages.push(m);
    for (const set of m.message.dataSets) for (const r of set.records) sink.records.push(r);
  });
  return sink;
}

/** A TCP port on 127.0.0.1 that nothing listens on (bound and released). */
export async function unusedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** True when the machine can bind ::1 (IPv6 loopback configured). */
export async function hasIpv6Loopback(): Promise<boolean> {
  const s = net.createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(0, '::1', () => resolve());
    });
    return true;
  } catch {
    return false;
  } finally {
    s.close();
  }
}
