// Transport hot paths, on the Flow Exporter's IPv4 template with realistic Pod names:
//   transport.deframe       the TCP deframer alone, over a stream cut into 64 KiB chunks
//   transport.tcp.loopback  ExportingProcess -> CollectingProcess over 127.0.0.1 TCP in ONE
//                           process (encode, kernel, deframe and decode share one thread), so
//                           it is a lower bound for the two-process collector.tcp benchmark
//   transport.udp.loopback  the same over UDP (1400-byte messages), with its loss
//   transport.tcp.receive   CollectingProcess alone: a child process replays pre-encoded
//                           messages over loopback TCP as fast as the socket takes them, so
//                           the figure is the receive path (deframe + decode + delivery)
//
// Sample (npm run bench -- transport, Node v20.20.2, Intel(R) Xeon(R) Processor, 2 cores):
//   (a shared machine, load average about 5 on 2 cores: compare recordsPerCpuSecond)
//   {"name":"transport.deframe","value":15122,"unit":"MB/s","messagesPerSec":233072,"recordsPerSec":44821618}
//   {"name":"transport.tcp.loopback","value":265982,"unit":"records/s","sent":1000000,"received":1000000,"lossPercent":0,"cpuSecondsPerSecond":1.1,"recordsPerCpuSecond":241404,"messages":5261}
//   {"name":"transport.udp.loopback","value":141294,"unit":"records/s","sent":300000,"received":300000,"lossPercent":0,"cpuSecondsPerSecond":1.07,"recordsPerCpuSecond":131940,"messages":84376}
//   {"name":"transport.tcp.receive","value":471992,"unit":"records/s","received":3000000,"recordsLost":0,"cpuSecondsPerSecond":0.94,"recordsPerCpuSecond":504677}
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Benchmark } from './harness.js';
import { MessageWriter } from '../src/ipfix/index.js';
import type { DataRecord } from '../src/ipfix/index.js';
import { IpfixDeframer } from '../src/ipfix/deframer.js';
import { CollectingProcess } from '../src/transport/collecting-process.js';
import { ExportingProcess } from '../src/transport/exporting-process.js';
import { EXPORTER_IPV4_TEMPLATE, EXPORTER_IPV4_TEMPLATE_ID, flowRecordToDataRecord } from '../src/flow/ie-mapping.js';
import { clusterFlows, rng } from '../test/fixtures/ipfix/flows.js';

function records(n: number): DataRecord[] {
  return clusterFlows(rng(7), n, { pods: 200 }).map(flowRecordToDataRecord);
}

async function deframe(): Promise<Record<string, unknown> & { name: string; value: number; unit: string }> {
  const writer = new MessageWriter({ observationDomainId: 1 });
  writer.addTemplate(EXPORTER_IPV4_TEMPLATE);
  const recs = records(20_000);
  const stream = Buffer.concat(writer.encodeRecords(EXPORTER_IPV4_TEMPLATE_ID, recs));
  const chunks: Buffer[] = [];
  for (let off = 0; off < stream.length; off += 65536) chunks.push(stream.subarray(off, off + 65536));
  let messages = 0;
  const onMessage = (): void => {
    messages++;
  };
  const t0 = process.hrtime.bigint();
  let bytes = 0;
  let rounds = 0;
  while (Number(process.hrtime.bigint() - t0) < 1e9) {
    const d = new IpfixDeframer();
    for (const c of chunks) d.push(c, onMessage);
    bytes += stream.length;
    rounds++;
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return {
    name: 'transport.deframe',
    value: Math.round(bytes / s / 1e6),
    unit: 'MB/s',
    messagesPerSec: Math.round(messages / s),
    recordsPerSec: Math.round((rounds * recs.length) / s),
  };
}

async function loopback(protocol: 'tcp' | 'udp', total: number): Promise<Record<string, unknown> & { name: string; value: number; unit: string }> {
  const collector = new CollectingProcess({ protocol, host: '127.0.0.1', port: 0, udpReceiveBufferSize: 32 * 1024 * 1024 });
  await collector.start();
  let received = 0;
  collector.onMessage((m) => {
    const sets = m.message.dataSets;
    for (let i = 0; i < sets.length; i++) received += sets[i].records.length;
  });
  const exporter = new ExportingProcess({
    host: '127.0.0.1', port: collector.address().port, protocol, observationDomainId: 1,
    templates: [EXPORTER_IPV4_TEMPLATE], maxQueuedRecords: 1 << 20,
  });
  exporter.start();
  await new Promise<void>((r) => exporter.once('connected', () => r()));
  const batch = records(1000);
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  // Feed 1000-record batches as fast as the queue takes them, as an exporter loop would.
  let sent = 0;
  while (sent < total) {
    while (sent < total && exporter.stats().recordsQueued < 50_000) {
      exporter.send(EXPORTER_IPV4_TEMPLATE_ID, batch);
      sent += batch.length;
    }
    await new Promise((r) => setImmediate(r));
  }
  await exporter.flush();
  const deadline = Date.now() + 10_000;
  let last = -1;
  let stableSince = Date.now();
  while (received < total && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 2));
    if (received !== last) {
      last = received;
      stableSince = Date.now();
    } else if (protocol === 'udp' && Date.now() - stableSince > 300) {
      break;
    }
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const stats = collector.stats();
  await exporter.close();
  await collector.close();
  return {
    name: `transport.${protocol}.loopback`,
    value: Math.round(received / s),
    unit: 'records/s',
    sent: total,
    received,
    lossPercent: +((100 * (total - received)) / total).toFixed(2),
    cpuSecondsPerSecond: +((cpu.user + cpu.system) / 1e6 / s).toFixed(2),
    // On a shared machine the wall-clock rate measures the neighbours too; this one does not.
    recordsPerCpuSecond: Math.round(received / ((cpu.user + cpu.system) / 1e6)),
    messages: stats.messagesReceived,
  };
}

/**
 * The replaying sender (CommonJS, run with node -e): writes the template messages once, then
 * the data messages round after round, moving each message's sequence number on by the
 * records of a round so that the collector sees an unbroken sequence (and would count loss).
 */
const REPLAY_SENDER = `
const net = require('node:net'); const fs = require('node:fs');
const [port, tplPath, dataPath, perRound, rounds] = process.argv.slice(1);
const tpl = fs.readFileSync(tplPath); const data = fs.readFileSync(dataPath);
const s = net.connect(Number(port), '127.0.0.1', async () => {
  s.write(tpl);
  for (let r = 0; r < Number(rounds); r++) {
    const b = Buffer.from(data);
    for (let o = 0; o < b.length; o += b.readUInt16BE(o + 2)) b.writeUInt32BE((b.readUInt32BE(o + 8) + r * Number(perRound)) >>> 0, o + 8);
    if (!s.write(b)) await new Promise((ok) => s.once('drain', ok));
  }
  s.end();
});`;

async function receive(rounds: number): Promise<Record<string, unknown> & { name: string; value: number; unit: string }> {
  const perRound = 20_000;
  const writer = new MessageWriter({ observationDomainId: 1 });
  writer.addTemplate(EXPORTER_IPV4_TEMPLATE);
  const dir = mkdtempSync(join(tmpdir(), 'flowvis-bench-'));
  const tplPath = join(dir, 'templates.bin');
  const dataPath = join(dir, 'data.bin');
  writeFileSync(tplPath, Buffer.concat(writer.templateMessages()));
  writeFileSync(dataPath, Buffer.concat(writer.encodeRecords(EXPORTER_IPV4_TEMPLATE_ID, records(perRound))));
  const total = perRound * rounds;
  const collector = new CollectingProcess({ protocol: 'tcp', host: '127.0.0.1', port: 0 });
  await collector.start();
  let received = 0;
  let t0 = 0n;
  let cpu0 = process.cpuUsage();
  const done = new Promise<void>((resolve) => {
    collector.onMessage((m) => {
      if (t0 === 0n) {
        t0 = process.hrtime.bigint();
        cpu0 = process.cpuUsage();
      }
      const sets = m.message.dataSets;
      for (let i = 0; i < sets.length; i++) received += sets[i].records.length;
      if (received >= total) resolve();
    });
  });
  const child = spawn(process.execPath, ['-e', REPLAY_SENDER, String(collector.address().port), tplPath, dataPath, String(perRound), String(rounds)], { stdio: 'inherit' });
  try {
    await done;
  } finally {
    child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const stats = collector.stats();
  await collector.close();
  return {
    name: 'transport.tcp.receive',
    value: Math.round(received / s),
    unit: 'records/s',
    received,
    recordsLost: stats.recordsLost,
    cpuSecondsPerSecond: +((cpu.user + cpu.system) / 1e6 / s).toFixed(2),
    recordsPerCpuSecond: Math.round(received / ((cpu.user + cpu.system) / 1e6)),
  };
}

export const benchmarks: Benchmark[] = [
  { name: 'transport.deframe', run: deframe },
  { name: 'transport.tcp.loopback', run: () => loopback('tcp', 1_000_000) },
  { name: 'transport.udp.loopback', run: () => loopback('udp', 300_000) },
  { name: 'transport.tcp.receive', run: () => receive(150) },
];
