// flowvis import: an IPFIX file, and pcaps of IPFIX over UDP and over TCP (split across
// segments, with a retransmission), built here byte by byte, load the same records.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageWriter } from '../../../src/ipfix/index.js';
import { aggregatedFlowRecordToDataRecord, aggregatorTemplateId, AGGREGATOR_TEMPLATES, EXPORTER_TEMPLATES, exporterTemplateId, flowRecordToDataRecord } from '../../../src/flow/ie-mapping.js';
import { DuckDbRepository } from '../../../src/store/duckdb.js';
import { importFile, type ImportProgress } from '../../../src/store/import.js';
import { FlowQueries, parseFlowQuery } from '../../../src/store/query.js';
import { ManualClock } from '../../../src/util/clock.js';
import { A, B, C, D, T0 } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'flowvis-import-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function aggregatorMessages(): Buffer[] {
  const w = new MessageWriter({ observationDomainId: 1, clock: new ManualClock(T0 * 1000) });
  for (const t of AGGREGATOR_TEMPLATES) w.addTemplate(t);
  const out = [...w.templateMessages()];
  out.push(...w.encodeRecords(aggregatorTemplateId(4), [A, B, C].map(aggregatedFlowRecordToDataRecord)));
  out.push(...w.encodeRecords(aggregatorTemplateId(6), [aggregatedFlowRecordToDataRecord(D)]));
  return out;
}

function pcap(frames: Buffer[]): Buffer {
  const g = Buffer.alloc(24);
  g.writeUInt32LE(0xa1b2c3d4, 0);
  g.writeUInt16LE(2, 4);
  g.writeUInt16LE(4, 6);
  g.writeUInt32LE(65535, 16);
  g.writeUInt32LE(1, 20); // Ethernet
  const parts: Buffer[] = [g];
  frames.forEach((f, i) => {
    const h = Buffer.alloc(16);
    h.writeUInt32LE(T0 + i, 0);
    h.writeUInt32LE(f.length, 8);
    h.writeUInt32LE(f.length, 12);
    parts.push(h, f);
  });
  return Buffer.concat(parts);
}

function ipv4(proto: number, l4: Buffer): Buffer {
  const eth = Buffer.alloc(14);
  eth.writeUInt16BE(0x0800, 12);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + l4.length, 2);
  ip[8] = 64;
  ip[9] = proto;
  Buffer.from([192, 168, 0, 10]).copy(ip, 12);
  Buffer.from([192, 168, 0, 20]).copy(ip, 16);
  return Buffer.concat([eth, ip, l4]);
}

function udp(payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(50000, 0);
  h.writeUInt16BE(4739, 2);
  h.writeUInt16BE(8 + payload.length, 4);
  return ipv4(17, Buffer.concat([h, payload]));
}

function tcp(seq: number, flags: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(50001, 0);
  h.writeUInt16BE(4739, 2);
  h.writeUInt32BE(seq >>> 0, 4);
  h[12] = 5 << 4;
  h[13] = flags;
  return ipv4(6, Buffer.concat([h, payload]));
}

async function load(file: string) {
  const repo = await DuckDbRepository.open(':memory:');
  const progress: ImportProgress[] = [];
  const stats = await importFile(file, repo, { onProgress: (p) => progress.push(p), insertedAtSeconds: T0 + 5000 });
  const r = await new FlowQueries(repo).flows(parseFlowQuery({ from: String(T0), to: String(T0 + 3600) }, T0));
  await repo.close();
  return { stats, items: r.items, progress };
}

describe('flowvis import', () => {
  it('loads an IPFIX file of aggregated records with every record and field', async () => {
    const file = join(dir, 'flows.ipfix');
    writeFileSync(file, Buffer.concat(aggregatorMessages()));
    const { stats, items, progress } = await load(file);
    assert.equal(stats.format, 'ipfix');
    assert.equal(stats.records, 4);
    assert.deepEqual(items.map((f) => f.flowEndSeconds), [D, C, B, A].map((f) => f.flowEndSeconds));
    assert.equal(items[0].sourceIP, 'fd00::5');
    assert.equal(items[0].ingressNetworkPolicyRuleName, "rule'x\\y\tz");
    assert.equal(items[0].throughput, D.throughput);
    assert.equal(items[3].originalExporterAddress, '192.168.0.10');
    assert.equal(progress.at(-1)?.bytesRead, progress.at(-1)?.totalBytes);
  });

  it('loads exporter records from a pcap of IPFIX over UDP, the sender as exporter address', async () => {
    const w = new MessageWriter({ observationDomainId: 9, clock: new ManualClock(T0 * 1000) });
    for (const t of EXPORTER_TEMPLATES) w.addTemplate(t);
    const msgs = [...w.templateMessages(), ...w.encodeRecords(exporterTemplateId(4), [A, C].map(flowRecordToDataRecord))];
    const file = join(dir, 'udp.pcap');
    writeFileSync(file, pcap([...msgs.map(udp), udp(Buffer.from('not ipfix at all'))]));
    const { stats, items } = await load(file);
    assert.equal(stats.format, 'pcap');
    assert.equal(stats.records, 2);
    assert.equal(stats.otherPackets, 1);
    assert.deepEqual(items.map((f) => [f.sourcePodName, f.originalExporterAddress, f.octetDeltaCount]), [
      ['web-2', '192.168.0.10', 300],
      ['web-1', '192.168.0.10', 1000],
    ]);
  });

  it('reassembles IPFIX over TCP split across segments, skipping a retransmission', async () => {
    const stream = Buffer.concat(aggregatorMessages());
    const isn = 0xfffffff0; // wraps around 2^32 mid-stream
    const frames = [tcp(isn, 0x02, Buffer.alloc(0))];
    let seq = isn + 1;
    const cuts = [0, 7, 100, 101, stream.length - 3, stream.length];
    for (let i = 0; i + 1 < cuts.length; i++) {
      const seg = stream.subarray(cuts[i], cuts[i + 1]);
      frames.push(tcp(seq, 0x18, seg));
      if (i === 1) frames.push(tcp(seq, 0x18, seg)); // retransmitted
      seq += seg.length;
    }
    const file = join(dir, 'tcp.pcap');
    writeFileSync(file, pcap(frames));
    const { stats, items } = await load(file);
    assert.equal(stats.records, 4);
    assert.equal(stats.badMessages, 0);
    assert.equal(items.length, 4);
  });

  it('counts the TCP packets of a stream after a bad message, and reads on from the next packet that starts a message', async () => {
    const [templates, ...data] = aggregatorMessages();
    const bad = Buffer.from(templates);
    bad.writeUInt16BE(2, 2); // a message length shorter than its header
    const junk = Buffer.from('tail of the broken message');
    const frames = [tcp(1000, 0x02, Buffer.alloc(0))];
    let seq = 1001;
    for (const seg of [templates, bad, junk, junk, ...data]) {
      frames.push(tcp(seq, 0x18, seg));
      seq += seg.length;
    }
    const file = join(dir, 'tcp-bad.pcap');
    writeFileSync(file, pcap(frames));
    const { stats, items } = await load(file);
    assert.equal(stats.badMessages, 1);
    assert.equal(stats.unreadPackets, 2, 'the two packets after the bad message');
    assert.equal(stats.records, 4, 'the messages after them are read');
    assert.equal(items.length, 4);
  });

  it('refuses a file that is neither IPFIX nor pcap with a coded error', async () => {
    const file = join(dir, 'junk.bin');
    writeFileSync(file, Buffer.from('hello, world'));
    const repo = await DuckDbRepository.open(':memory:');
    await assert.rejects(importFile(file, repo), { code: 'STORE_ERR_IMPORT_FORMAT', message: /neither IPFIX .* nor a pcap/ });
    await assert.rejects(importFile(join(dir, 'missing.pcap'), repo), { code: 'STORE_ERR_IMPORT_FORMAT' });
    await repo.close();
  });
});
