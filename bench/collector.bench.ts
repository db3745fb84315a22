// `flowvis collector` measured as a whole process: the real command (bin/flowvis.js collector,
// --keep 0) receives records from one exporter process over loopback, and we count what it
// decoded (and printed) through its GET /stats.
//
//   collector.format.json / .text  printing alone, in-process, on records as the decoder makes
//                  them: JsonLineEncoder / TextBlockEncoder, in rounds alternating with
//                  JSON.stringify + UTF-8 write of the same records; best round of each.
//   collector.tcp  --format none: the exporter process writes as fast as TCP takes it; rate =
//                  records the collector decoded / time from the first data byte to the last
//                  record counted. Zero loss is checked: received == sent, lost == 0, dropped == 0.
//   collector.tcp.json / .text  the same with --format json / text and stdout to /dev/null, until
//                  every record is printed: the cost of printing.
//   collector.udp  the exporter process sends at a paced offered rate (FLOWVIS_BENCH_UDP_RATE,
//                  default 200,000 records/s); rate = records decoded / send time, with loss.
// The whole-process runs also report the collector's CPU seconds (from /proc) and records per
// CPU second, and the load average: on a shared machine the wall-clock rate says more about the
// neighbours than about the collector.
//
// Records: the reference's Flow Exporter IPv4 template (34 IEs) with realistic names (Pod names of
// 20-40 characters, test/fixtures/ipfix/flows.ts). This file is also the exporter process: run as
// `node dist/bench/collector.bench.js sender <json>` it sends and reports on stdout.
//
// Sample (npm run bench -- collector, Node v20.20.2, Intel(R) Xeon(R) Processor, 2 vCPUs shared
// with the other engineers' builds and tests, load average 6-9 during the run; the collector got
// 25-45% of a core, so compare recordsPerCpuSecond):
//   {"name":"collector.format.json","value":259421,"recordsPerCpuSecond":326487,"cpuMicrosecondsPerRecord":3.06,
//    "bytesPerRecord":1288,"jsonStringify":{"value":204761,"recordsPerCpuSecond":205650}}
//   {"name":"collector.format.text","value":267522,"recordsPerCpuSecond":268187,"bytesPerRecord":1753}
//   {"name":"collector.tcp","value":135287,"collectorCpuSeconds":6.71,"recordsPerCpuSecond":447094,
//    "loadAverage":[6.11,7.42],"records":3000000,"received":3000000,"zeroLoss":true,"format":"none"}
//   {"name":"collector.tcp.json","value":49890,"collectorCpuSeconds":6.47,"recordsPerCpuSecond":154560,
//    "loadAverage":[7.42,8.38],"records":1000000,"received":1000000,"zeroLoss":true,"format":"json"}
//   {"name":"collector.tcp.text","value":58493,"collectorCpuSeconds":5.85,"recordsPerCpuSecond":170940,
//    "loadAverage":[8.38,8.61],"records":1000000,"received":1000000,"zeroLoss":true,"format":"text"}
//   {"name":"collector.udp","value":119479,"offeredRate":119746,"records":1000000,"received":997770,
//    "lossPercent":0.22,"recordsPerDatagram":3.6}
// A later run at load average 5 (FLOWVIS_BENCH_TCP_RECORDS=900000, after d30b78e):
//   collector.tcp 311,419 records/s (608,108 per CPU second); collector.tcp.json 145,349 (188,679);
//   collector.tcp.text 129,814 (170,455); collector.format.json 348,426 (2.49 CPU us per record;
//   JSON.stringify + UTF-8 write 188,454); collector.format.text 349,431. All zero loss.
// Before the collector printed by writing bytes (commit 5873cce), on the same machine and load
// (FLOWVIS_BENCH_TCP_RECORDS=900000): collector.tcp.json 11,112 records/s, 25,042 per CPU second;
// collector.tcp.text 20,617 records/s, 33,632 per CPU second (in another run the old writer
// dropped 20% of the text records to /dev/null: it held a whole event-loop turn of lines, and one
// turn can bring more than --output-buffer). Its profile: 48% garbage collection, 13% joining
// line strings, 10% building value strings.
// Profile of collector.tcp.json now: printing (encode + copy) ~50% of the collector's CPU, the
// codec's decode (string reads, record objects) ~25%. The codec's decode alone allows ~450,000
// records per CPU second; printing 1.3 KB of JSON per record takes ~2.5-4.5 us more.
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { opsPerSecond, type Benchmark, type BenchResult } from './harness.js';
import { MessageDecoder, MessageWriter, ieByName } from '../src/ipfix/index.js';
import { JsonLineEncoder, TextBlockEncoder } from '../src/collector/format.js';
import type { CollectedRecord } from '../src/collector/types.js';
import type { DataRecord, TemplateDefinition } from '../src/ipfix/api.js';
import { EXPORTER_IPV4_TEMPLATE, flowRecordToDataRecord } from '../src/flow/ie-mapping.js';
import { clusterFlows, rng } from '../test/fixtures/ipfix/flows.js';
import { startCollectorProcess, type CollectorProcess } from '../test/integration/collector/spawn.js';

const SELF = fileURLToPath(import.meta.url);

// ---- records ---------------------------------------------------------------------------------

/** The IANA part of the exporter template: the fields nfcapd understands. */
export const IANA_TEMPLATE: TemplateDefinition = {
  templateId: 256,
  scopeFieldCount: 0,
  fields: [
    'flowStartSeconds', 'flowEndSeconds', 'flowEndReason', 'sourceIPv4Address', 'destinationIPv4Address',
    'sourceTransportPort', 'destinationTransportPort', 'protocolIdentifier',
    'packetTotalCount', 'octetTotalCount', 'packetDeltaCount', 'octetDeltaCount',
  ].map((name) => {
    const ie = ieByName(name);
    if (ie === undefined) throw new Error(`${name} is not registered`);
    return { enterpriseId: ie.enterpriseId, elementId: ie.elementId, length: ie.length };
  }),
};

export type RecordKind = 'exporter' | 'iana';

function recordPool(kind: RecordKind, size = 8192): { template: TemplateDefinition; records: DataRecord[] } {
  const flows = clusterFlows(rng(42), size).map(flowRecordToDataRecord);
  if (kind === 'exporter') return { template: EXPORTER_IPV4_TEMPLATE, records: flows };
  const names = ['flowStartSeconds', 'flowEndSeconds', 'flowEndReason', 'sourceIPv4Address', 'destinationIPv4Address',
    'sourceTransportPort', 'destinationTransportPort', 'protocolIdentifier',
    'packetTotalCount', 'octetTotalCount', 'packetDeltaCount', 'octetDeltaCount'];
  return {
    template: IANA_TEMPLATE,
    records: flows.map((r) => Object.fromEntries(names.map((n) => [n, r[n]]))),
  };
}

// ---- the exporter process ------------------------------------------------------------------------

export interface SenderConfig {
  protocol: 'tcp' | 'udp';
  host: string;
  port: number;
  kind: RecordKind;
  records: number;
  /** Offered records per second for UDP; 0 = as fast as possible. */
  rate: number;
}

export interface SenderReport {
  records: number;
  messages: number;
  bytes: number;
  /** Date.now() at the first data message and after the last one was handed to the kernel. */
  startMs: number;
  endMs: number;
}

async function runSender(cfg: SenderConfig): Promise<SenderReport> {
  const { template, records: pool } = recordPool(cfg.kind);
  const writer = new MessageWriter({ observationDomainId: 1, maxMessageSize: cfg.protocol === 'udp' ? 1400 : 65535 });
  writer.addTemplate(template);
  let sent = 0;
  let messages = 0;
  let bytes = 0;
  let offset = 0;
  const nextBatch = (n: number): Buffer[] => {
    const count = Math.min(n, cfg.records - sent, pool.length - offset);
    const out = writer.encodeRecords(template.templateId, pool.slice(offset, offset + count));
    offset = (offset + count) % pool.length;
    sent += count;
    messages += out.length;
    for (const m of out) bytes += m.length;
    return out;
  };

  if (cfg.protocol === 'tcp') {
    const socket = net.connect({ host: cfg.host, port: cfg.port });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.setNoDelay(true);
    for (const m of writer.templateMessages()) socket.write(m);
    const startMs = Date.now();
    while (sent < cfg.records) {
      let ok = true;
      for (const m of nextBatch(1024)) ok = socket.write(m);
      if (!ok) await new Promise((r) => socket.once('drain', r));
    }
    await new Promise<void>((resolve) => socket.end(resolve));
    return { records: sent, messages, bytes, startMs, endMs: Date.now() };
  }

  const socket = dgram.createSocket('udp4');
  socket.connect(cfg.port, cfg.host);
  await new Promise((r) => socket.once('connect', r));
  let inFlight = 0;
  const send = (m: Buffer): Promise<void> | null => {
    inFlight++;
    const done = (): void => {
      inFlight--;
    };
    socket.send(m, (err) => {
      done();
      if (err && (err as NodeJS.ErrnoException).code !== 'ENOBUFS') throw err;
    });
    return inFlight > 256 ? new Promise((r) => setImmediate(r)) : null;
  };
  for (const m of writer.templateMessages()) await send(m);
  const startMs = Date.now();
  const start = process.hrtime.bigint();
  // Paced: whenever a whole batch is due at the offered rate, encode and send it. Batches are
  // large enough that every datagram but the batch's last is full, whatever the rate, so both
  // receivers of a comparison get the same datagrams.
  const BATCH = 1024;
  while (sent < cfg.records) {
    const elapsedS = Number(process.hrtime.bigint() - start) / 1e9;
    const due = cfg.rate > 0 ? Math.min(cfg.records, Math.floor(elapsedS * cfg.rate)) : cfg.records;
    while (due - sent >= BATCH || (due === cfg.records && sent < due)) {
      for (const m of nextBatch(BATCH)) {
        const wait = send(m);
        if (wait) await wait;
      }
    }
    if (cfg.rate > 0) await new Promise((r) => setImmediate(r));
  }
  while (inFlight > 0) await new Promise((r) => setImmediate(r));
  const endMs = Date.now();
  socket.close();
  return { records: sent, messages, bytes, startMs, endMs };
}

/** Runs the exporter as its own process and returns its report. */
export function senderProcess(cfg: SenderConfig): Promise<SenderReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SELF, 'sender', JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`sender exited with ${code}`));
      else resolve(JSON.parse(out) as SenderReport);
    });
  });
}

// ---- measuring the collector ----------------------------------------------------------------------

interface CollectorCounters {
  recordsReceived: number;
  recordsLost: number;
  recordsDropped: number;
  recordsPrinted: number;
  badMessages: number;
}

async function counters(c: CollectorProcess): Promise<CollectorCounters> {
  return (await (await fetch(`${c.httpUrl}/stats`)).json()) as CollectorCounters;
}

export async function waitQuiet(get: () => Promise<number>, quietMs = 500, guardMs = 120_000): Promise<number> {
  const deadline = Date.now() + guardMs;
  let last = await get();
  let since = Date.now();
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    const now = await get();
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return now;
    }
  }
  return last;
}

type PrintFormat = 'none' | 'json' | 'text';

/** CPU seconds (user + system) a process has used so far, from /proc; null where there is no /proc. */
function cpuSeconds(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    // Fields after the command name (which may hold spaces): state is the 3rd; utime and stime the 14th and 15th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

const loadAverage = (): number => Number(os.loadavg()[0].toFixed(2));

async function startCollector(transport: 'tcp' | 'udp', format: PrintFormat): Promise<CollectorProcess> {
  return startCollectorProcess(
    ['--address', '127.0.0.1:0', '--transport', transport, '--format', format, '--keep', '0', '--http', '127.0.0.1:0'],
    { captureStdout: false },
  );
}

async function tcpRun(name: string, format: PrintFormat, records: number): Promise<BenchResult> {
  const c = await startCollector('tcp', format);
  try {
    const cpuBefore = cpuSeconds(c.child.pid);
    const loadBefore = loadAverage();
    const senderDone = senderProcess({ protocol: 'tcp', host: '127.0.0.1', port: c.port, kind: 'exporter', records, rate: 0 });
    let doneAt = 0;
    let report: SenderReport | null = null;
    void senderDone.then((r) => (report = r));
    // Poll the collector's counters until every record has been decoded.
    for (;;) {
      const s = await counters(c);
      // Printing is part of the work: with a format, wait until every record was printed too.
      if (s.recordsReceived >= records && (format === 'none' || s.recordsPrinted + s.recordsDropped >= records)) {
        doneAt = Date.now();
        break;
      }
      if (report !== null && s.recordsReceived < records) {
        // The sender is done; wait for the rest, or stop when nothing more arrives.
        const final = await waitQuiet(async () => (await counters(c)).recordsReceived, 1000);
        if (final < records) break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    const cpuAfter = cpuSeconds(c.child.pid);
    const sender = await senderDone;
    const s = await counters(c);
    const seconds = ((doneAt || Date.now()) - sender.startMs) / 1000;
    const cpu = cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore;
    return {
      name,
      value: Math.round(s.recordsReceived / seconds),
      unit: 'records/s',
      // The machine may be shared: records per second of the collector's own CPU time as well.
      collectorCpuSeconds: cpu === null ? null : Number(cpu.toFixed(2)),
      recordsPerCpuSecond: cpu === null || cpu === 0 ? null : Math.round(s.recordsReceived / cpu),
      loadAverage: [loadBefore, loadAverage()],
      records: sender.records,
      received: s.recordsReceived,
      lost: s.recordsLost,
      dropped: s.recordsDropped,
      badMessages: s.badMessages,
      zeroLoss: s.recordsReceived === sender.records && s.recordsLost === 0 && s.recordsDropped === 0,
      seconds: Number(seconds.toFixed(3)),
      bytesPerRecord: Math.round(sender.bytes / sender.records),
      format,
    };
  } finally {
    await c.stop('SIGTERM');
  }
}

export async function udpRun(name: string, kind: RecordKind, rate: number, seconds: number): Promise<BenchResult> {
  const c = await startCollector('udp', 'none');
  try {
    const sender = await senderProcess({ protocol: 'udp', host: '127.0.0.1', port: c.port, kind, records: Math.round(rate * seconds), rate });
    const received = await waitQuiet(async () => (await counters(c)).recordsReceived);
    const s = await counters(c);
    const sendSeconds = (sender.endMs - sender.startMs) / 1000;
    return {
      name,
      value: Math.round(received / sendSeconds),
      unit: 'records/s',
      offeredRate: Math.round(sender.records / sendSeconds),
      records: sender.records,
      received,
      lossPercent: Number((100 * (1 - received / sender.records)).toFixed(2)),
      lostBySequence: s.recordsLost,
      dropped: s.recordsDropped,
      datagrams: sender.messages,
      recordsPerDatagram: Number((sender.records / sender.messages).toFixed(1)),
      seconds: Number(sendSeconds.toFixed(3)),
      kind,
    };
  } finally {
    await c.stop('SIGTERM');
  }
}

const TCP_RECORDS = Number(process.env.FLOWVIS_BENCH_TCP_RECORDS ?? 3_000_000);
const UDP_RATE = Number(process.env.FLOWVIS_BENCH_UDP_RATE ?? 200_000);
const UDP_SECONDS = Number(process.env.FLOWVIS_BENCH_UDP_SECONDS ?? 5);

// ---- printing in-process ---------------------------------------------------------------------------

/** The record pool as the collector gets it: encoded and decoded again, so values have the decoder's types. */
function decodedPool(): DataRecord[] {
  const { template, records } = recordPool('exporter');
  const writer = new MessageWriter({ observationDomainId: 1, maxMessageSize: 65535 });
  writer.addTemplate(template);
  const decoder = new MessageDecoder();
  for (const m of writer.templateMessages()) decoder.decode(m);
  const out: DataRecord[] = [];
  for (const m of writer.encodeRecords(template.templateId, records)) {
    for (const set of decoder.decode(m).dataSets) out.push(...set.records);
  }
  return out;
}

interface Rates {
  /** Best of the rounds: records per second of wall time, and per second of this process's CPU time. */
  wall: number;
  cpu: number;
}

/** Runs fn over records i = 0, 1, 2, ... for about ms milliseconds; fn returns the bytes it printed. */
function measure(fn: (i: number) => number, ms: number, totals: { records: number; bytes: number }): Rates {
  const BATCH = 1024;
  let i = 0;
  const cpu0 = process.cpuUsage();
  const r = opsPerSecond(() => {
    for (let k = 0; k < BATCH; k++) totals.bytes += fn(i++);
    return BATCH;
  }, ms);
  const cpu = process.cpuUsage(cpu0);
  totals.records += r.ops;
  return { wall: r.opsPerSec, cpu: r.ops / ((cpu.user + cpu.system) / 1e6) };
}

/**
 * Records printed per second on one core, by wall and by CPU time. The machine may be shared, so
 * fn and the baseline run in alternating rounds and each keeps its best round.
 */
function printRate(name: string, fn: (i: number) => number, baseline?: (i: number) => number): BenchResult {
  const ROUNDS = 6;
  const ROUND_MS = 400;
  const ours = { records: 0, bytes: 0 };
  const theirs = { records: 0, bytes: 0 };
  const best: Rates = { wall: 0, cpu: 0 };
  const bestBaseline: Rates = { wall: 0, cpu: 0 };
  for (let round = 0; round < ROUNDS; round++) {
    const r = measure(fn, ROUND_MS, ours);
    best.wall = Math.max(best.wall, r.wall);
    best.cpu = Math.max(best.cpu, r.cpu);
    if (baseline === undefined) continue;
    const b = measure(baseline, ROUND_MS, theirs);
    bestBaseline.wall = Math.max(bestBaseline.wall, b.wall);
    bestBaseline.cpu = Math.max(bestBaseline.cpu, b.cpu);
  }
  const result: BenchResult = {
    name,
    value: Math.round(best.wall),
    unit: 'records/s',
    recordsPerCpuSecond: Math.round(best.cpu),
    cpuMicrosecondsPerRecord: Number((1e6 / best.cpu).toFixed(2)),
    bytesPerRecord: Math.round(ours.bytes / ours.records),
    loadAverage: loadAverage(),
  };
  if (baseline !== undefined) {
    result.jsonStringify = { value: Math.round(bestBaseline.wall), recordsPerCpuSecond: Math.round(bestBaseline.cpu) };
  }
  return result;
}

async function formatRuns(): Promise<BenchResult[]> {
  const pool = decodedPool();
  const mask = pool.length - 1;
  if ((pool.length & mask) !== 0) throw new Error(`the record pool (${pool.length}) must be a power of two`);
  const json = new JsonLineEncoder();
  const text = new TextBlockEncoder();
  const scratch = Buffer.allocUnsafe(64 * 1024);
  const entries: CollectedRecord[] = pool.map((record) => ({
    exporter: '10.0.0.1:40000',
    observationDomainId: 1,
    templateId: 256,
    exportTime: 1_700_000_000,
    record,
  }));
  return [
    // Beside it, JSON.stringify of the same records (which could not print bigints or octets)
    // and the UTF-8 write into a buffer that printing its string needs.
    printRate('collector.format.json', (i) => json.encode(pool[i & mask]), (i) => scratch.write(JSON.stringify(pool[i & mask]), 0, 'utf8')),
    printRate('collector.format.text', (i) => text.encode(entries[i & mask])),
  ];
}

export const benchmarks: Benchmark[] = [
  { name: 'collector.format', run: formatRuns },
  { name: 'collector.tcp', run: () => tcpRun('collector.tcp', 'none', TCP_RECORDS) },
  { name: 'collector.tcp.json', run: () => tcpRun('collector.tcp.json', 'json', Math.round(TCP_RECORDS / 3)) },
  { name: 'collector.tcp.text', run: () => tcpRun('collector.tcp.text', 'text', Math.round(TCP_RECORDS / 3)) },
  { name: 'collector.udp', run: () => udpRun('collector.udp', 'exporter', UDP_RATE, UDP_SECONDS) },
];

if (process.argv[1] === SELF && process.argv[2] === 'sender') {
  const report = await runSender(JSON.parse(process.argv[3]) as SenderConfig);
  process.stdout.write(JSON.stringify(report));
}
