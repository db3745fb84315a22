// Transport hot paths, on the Flow Exporter's IPv4 template with realistic Pod names:
//   transport.deframe       the TCP deframer alone, over a stream cut into 64 KiB chunks
//   transport.tcp.loopback  ExportingProcess -> CollectingProcess over 127.0.0.1 TCP in ONE
//                           process (encode, kernel, deframe and decode share one thread), so
//                           it is a lower bound for the two-process collector.tcp benchmark
//   transport.udp.loopback  the same over UDP (1400-byte messages), with its loss
//
// Sample (npm run bench -- transport, Node v20.20.2, Intel(R) Xeon(R) Processor, 2 cores):
//   SAMPLE_PLACEHOLDER
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

export const benchmarks: Benchmark[] = [
  { name: 'transport.deframe', run: deframe },
  { name: 'transport.tcp.loopback', run: () => loopback('tcp', 1_000_000) },
  { name: 'transport.udp.loopback', run: () => loopback('udp', 300_000) },
];
