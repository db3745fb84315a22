// Flow Aggregator benchmarks.
//
// aggregator.throughput: the whole aggregator (collecting process over loopback TCP, IPFIX
//   decode, correlation, aggregation, IPFIX export to a loopback collector that discards) in this
//   process; EXPORTERS child processes stand for the nodes. Each encodes all its messages first
//   (MessageWriter), connects, and on "go" writes them as fast as TCP takes them, so the
//   exporters are neither the bottleneck nor part of the figure. Half of the flows are
//   inter-node: their source half comes from one exporter and their destination half from the
//   next; every flow is reported ROUNDS times with growing counters, as exporters re-export
//   active flows. value = records per second of this process's CPU time (user + system) from
//   "go" until every record is in and every flow exported (stop flushes them all), i.e. per
//   core; wallRate, userSeconds, systemSeconds, minorPageFaults and contextSwitches are also
//   reported.
// aggregator.memory: bytes per tracked flow (heap + array buffers) with 1,000,000 flows
//   tracked, half inter-node, Pod names of 20-40 characters from a pool of 20,000 Pods.
// aggregator.pipeline: the aggregator's own work on the same messages without sockets, best
//   of 5: decode (into reused records, as the service's collecting process does), ingest, then
//   flush every flow as the service does with the IPFIX sink alone (encoded from its slot) and
//   frame the records into messages as the sink does; CPU ns per stage.
//
// Final runs of session 7 (lead, 10:59-11:30 UTC, idle machine, fast phase: probes 147-235 ns /
// 1.31-2.05 ns): 13 runs of node dist/bench/run.js aggregator.throughput gave 314,003-614,544
// records/s/core, median 478,296; aggregator.memory 393 bytes/flow; aggregator.pipeline 783,995
// (best of 5; median 671,582).
// Session 7 (H-AGG, cf36c17..; 2026-11-27 09:22-11:15 UTC; Node v20.20.2, Intel Xeon, 2 vCPUs; the
// other helpers' and the lead's benchmarks beside it all session, load 3.7-9.2):
// - Plain TCP sessions read into one 64 KiB buffer that every session of the collecting process
//   reuses (readIntoReusedBuffer in src/transport/collecting-process.ts), not a fresh Buffer per
//   read: ~760 MB less external memory per run (every ~64 MB of it forced a scavenge, then a
//   full mark), fewer fresh pages. A server reading 760 MB from 4 loopback clients: 0.36-0.37 s
//   of CPU against 0.59-0.73 s. (1 MiB reads were slower in fast phases: the chunk left the cache
//   before it was decoded.)
// - Generated decoders read 2/4-byte fields with one DataView read; StringTable.idOf's hash
//   multiplies its four words independently. In-process decode alone 1,342 against 1,498 ns per
//   record (median of 6, ahead in 5); decode + ingest + flush 3,535 against 3,655 (ahead in 6 of 6).
// - The shutdown flush then got slower in this bench: V8 counts external memory allocated since
//   the last full collection against the old generation's limit, and the ingest no longer leaves
//   that baseline high, so the flush's external allocations (the exporting process's message
//   Buffers, ~240 MB, and the discarding collector's 64 KiB reads, another ~240 MB) set off
//   ~14-20 full collections in 1-3 s (one --trace-gc run each: none in the flush before). The
//   discarding collector is a stand-in for another host that runs in this process, so it now
//   reads into a reused buffer too (readIntoReusedBuffer): flush 0.96-1.09 s against 1.81 s with
//   'data' reads (same build, one run each, back to back, load 5.0-5.3). The lead then made the
//   exporting process frame encoded batches into reused memory (912d6fa): one --trace-gc run each,
//   6 collections started by external memory in this process against 15; flush CPU within the
//   noise (1.19-1.40 s against 0.99-1.48 in 3 alternating pairs, fast phase, load 1.3-2.5).
// node dist/bench/run.js aggregator.throughput, alternating with a worktree build of 8c4f2ef (the
// session's start); value / ingest,flush CPU s / probe core ns / probe memory ns / load (1 min).
// With this bench before the discarding collector changed (both builds the same bench), slow
// phase; pairs 1-3 with 1 MiB reads and without the decoder change:
//   after 199,426 5.77,3.25 2.77,2.20 507,523 4.9   before 208,414 6.79,1.84 2.41,2.83 474,325 5.9
//   after 242,307 4.97,2.46 2.51,2.18 431,575 6.0   before 183,261 7.29,2.54 2.33,1.88 493,423 5.9
//   after 221,116 5.20,2.94 2.37,2.27 493,537 9.0   before 237,258 5.85,1.74 2.45,1.97 458,396 9.2
//   after 286,229 3.71,2.58 2.47,2.22 503,472 5.5   before 214,624 6.50,1.89 2.10,2.02 653,679 5.7
//   after 247,394 4.62,2.65 2.10,2.08 633,551 6.0   before 208,127 6.71,1.94 2.34,1.99 542,530 5.7
//   after 278,238 4.61,1.86 1.91,1.93 541,420 5.7   before 286,894 5.04,1.23 1.89,1.90 396,512 5.0
//   after 270,209 5.04,1.62 2.00,1.84 305,588 4.7   before 195,338 7.37,1.84 1.99,1.89 646,461 5.0
//   median after 247,394, before 208,414 (after ahead in 4 of 7); ingest CPU median 4.97 against
//   6.71 s, flush 2.58 against 1.84 s. In a fast phase (64 KiB reads, load 3.7-5.6):
//   after 453,535 2.41,1.56 1.37,1.36 191,169 4.0   before 541,695 2.62,0.70 1.42,1.90 183,227 3.8
//   after 449,849 2.52,1.48 1.43,1.76 183,233 4.6   before 505,381 2.81,0.75 1.45,1.38 245,193 3.7
//   i.e. ingest faster, flush twice as long: before ahead.
// With the discarding collector reading into a reused buffer (after) against the session's start
// with its own bench (before):
//   after 428,401 2.98,1.22 1.36,1.40 181,174 6.0   before 469,229 2.91,0.92 1.70,1.38 191,176 6.1
//   after 481,445 2.72,1.02 1.48,1.52 215,221 5.9   before 335,134 3.78,1.59 1.43,1.54 178,190 6.1
//   after 490,515 2.44,1.22 1.73,2.13 230,207 7.1   before 472,396 3.12,0.69 2.02,1.39 244,186 7.3
//   after 528,736 2.47,0.93 1.58,1.43 184,161 6.2   before 510,246 2.62,0.90 1.44,1.38 195,191 6.9
//   after 488,698 2.60,1.09 2.00,2.02 190,249 9.3   before 309,496 4.60,1.22 1.67,1.93 217,260 8.1
//   after 635,831 2.21,0.62 1.43,1.70 161,184 7.0   before 344,964 4.09,1.13 1.56,1.92 182,214 8.0
//   after 461,836 2.81,1.09 1.38,1.47 168,170 4.0   before 459,773 2.85,1.07 1.52,1.94 185,241 3.8
//   after 532,708 2.34,1.04 1.36,2.02 202,258 4.7   before 419,007 3.38,0.92 1.40,1.46 214,186 4.4
//   median after 489,607, before 439,390 records/s/core, after ahead in 7 of 8 (fast phase: memory
//   160-260 ns); ingest CPU 2.21-2.98 against 2.62-4.60 s, flush 0.62-1.22 against 0.69-1.59. No
//   slow-phase pair with this bench: the machine stayed fast after 10:20.
// In-process (the helper above), fast phase (probe 1.35 ns / 185 ns), load ~6, 6 runs each:
//   ingest 1,041 against 1,152 ns per record, all stages 1,442 against 1,581 (ahead in 6 of 6).
// node dist/bench/run.js aggregator.pipeline, alternating, load 5.9-6.7, fast phase: after
//   735,803 / 572,180 (medians 537,057 / 505,445), before 757,537 / 629,046 (706,336 / 611,566):
//   decode 457-491 against 476-515 ns; its aggregate stage (decode + ingest minus decode) swings
//   248-647 ns run to run, within which the in-process figures above say after is ahead.
// node dist/bench/run.js aggregator.memory: 393 bytes/flow (before: 389), load 6.6-7.0.
// Tried and dropped this session: a prefetch pass per data set (the records' index entries, then
// their slots, before ingesting them): in-process, with and without, same build, 6 runs each:
// median 2,445 against 2,421 ns per record, ahead in 1 of 6.
// Session 6 (HA, ac36c47..c0e1c31): exported flows written straight from their slots into
// encoded batches (no AggregatedFlowRecord) when the IPFIX sink is the only sink; records decoded
// into reused objects. In-process all stages 2,780 -> 2,051 ns per record; throughput 11
// alternating pairs: median 326,066 against 248,024 (after ahead in 9), fast phases up to
// 502,626, slow-memory phases 189,091-284,266. Tried and dropped: name bytes at their index
// position, reading the next record's flow ahead. Profile then (decode + ingest): StringTable.idOf
// ~40%, flow index probe ~15%, generated decoder ~13%, merge + addCounters ~16%.
// Session 5 (HA + lead, 1a93b64..70cdc5a): the writer copied names four ASCII characters per
// DataView store without a Map-keyed name cache; merge/build read and wrote slots through
// slotBases; 14 names went in through one putIds call. 12 alternating pairs at load 4.8-8.3:
// median ~285,600 against ~244,800 records/s/core; end-of-session runs in a slow phase
// 215,860-247,669.
// Session 4 (HB): the machine's speed varies (scripts/machine-probe.mjs, taken by this bench before
// and after each run): a register-only loop takes 1.32-1.49 ns in fast phases, 1.5-2.7 ns in
// slow ones; a dependent random read 150-185 ns against 200-560 ns. Every hot function is evenly
// 1.4-1.9x slower in slow phases (same JIT state, same socket reads): compare builds only in
// alternating runs whose probes agree. Session 4 (HA): the flow table grows without copying its
// slots (reserved address space); earlier sessions: numeric IPv4 keys, one 344-byte record per
// slot, names decoded into string-table ids, a shape-based writer (details: git history of this
// file). Tried and dropped over the sessions: a prefetch pass over each message's index entries
// and slots, names as spans compared with the flow's ids, name bytes inline in the index entry,
// a per-field last id, the discarding collector in a child process, exported records made by
// constructors.
import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { MessageDecoder, MessageWriter } from '../src/ipfix/index.js';
import type { EncodedRecords } from '../src/ipfix/writer.js';
import {
  AGGREGATOR_TEMPLATES,
  EXPORTER_TEMPLATES,
  exporterTemplateId,
  flowRecordToDataRecord,
} from '../src/flow/ie-mapping.js';
import { FlowEndReason, FlowType, PolicyType, RuleAction, type AggregatedFlowRecord, type FlowRecord } from '../src/flow/record.js';
import { AggregationProcess } from '../src/aggregator/aggregation.js';
import { parseAggregatorConfig } from '../src/aggregator/config.js';
import { FlowAggregator } from '../src/aggregator/service.js';
import { readIntoReusedBuffer } from '../src/transport/collecting-process.js';
import { StringTable } from '../src/aggregator/string-table.js';
import { wireFlowRecordShape } from '../src/aggregator/wire-record.js';
import type { DataRecord } from '../src/ipfix/api.js';
import type { Benchmark, BenchResult } from './harness.js';

const EXPORTERS = 4;
const FLOWS_PER_EXPORTER = 100_000;
/** Each flow is reported this many times with growing counters, as exporters re-export active flows. */
const ROUNDS = 3;
const MEMORY_FLOWS = 1_000_000;
const T0 = 1_700_000_000;

const NAMESPACES = Array.from({ length: 50 }, (_, i) => `team-${i}-namespace`);
const PODS = Array.from({ length: 20_000 }, (_, i) => `service-${i % 997}-deployment-7d9c8b6f5-${(i * 7919).toString(36).padStart(5, 'x')}`);
const NODES = Array.from({ length: 100 }, (_, i) => `worker-node-${i}.cluster.local`);

function podIp(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

/**
 * The record `side` of flow k owned by exporter `owner`: even k are intra-node flows (one
 * record), odd k are inter-node (a source half and a destination half).
 */
function flowHalf(owner: number, k: number, side: 'source' | 'destination' | 'both', round = 0): FlowRecord {
  const client = (owner * 7919 + k) % PODS.length;
  const server = (client * 31 + 17) % PODS.length;
  const interNode = side !== 'both';
  const src = side !== 'destination';
  const dst = side !== 'source';
  return {
    sourceAddress: podIp(client + 1),
    destinationAddress: podIp(server + 1),
    sourceTransportPort: 10_000 + ((owner * FLOWS_PER_EXPORTER + k) % 50_000),
    destinationTransportPort: 8080 + (k % 4),
    protocolIdentifier: 6,
    ipVersion: 4,
    flowStartSeconds: T0,
    flowEndSeconds: T0 + 10 + round * 5,
    flowEndReason: FlowEndReason.activeTimeout,
    packetTotalCount: 100 + k + round * 100,
    octetTotalCount: 10_000 + k + round * 10_000,
    packetDeltaCount: 100 + k,
    octetDeltaCount: 10_000 + k,
    reversePacketTotalCount: 80,
    reverseOctetTotalCount: 50_000,
    reversePacketDeltaCount: 80,
    reverseOctetDeltaCount: 50_000,
    sourcePodNamespace: src ? NAMESPACES[client % NAMESPACES.length] : '',
    sourcePodName: src ? PODS[client] : '',
    destinationPodNamespace: dst ? NAMESPACES[server % NAMESPACES.length] : '',
    destinationPodName: dst ? PODS[server] : '',
    sourceNodeName: src ? NODES[client % NODES.length] : '',
    destinationNodeName: dst ? NODES[server % NODES.length] : '',
    destinationClusterIP: src && k % 3 === 0 ? '10.96.0.10' : '',
    destinationServicePort: src && k % 3 === 0 ? 80 : 0,
    destinationServicePortName: src && k % 3 === 0 ? `${NAMESPACES[server % NAMESPACES.length]}/backend:http` : '',
    ingressNetworkPolicyName: dst ? 'allow-frontend-ingress' : '',
    ingressNetworkPolicyNamespace: dst ? NAMESPACES[server % NAMESPACES.length] : '',
    ingressNetworkPolicyType: dst ? PolicyType.k8sNetworkPolicy : PolicyType.none,
    ingressNetworkPolicyRuleName: '',
    ingressNetworkPolicyRuleAction: dst ? RuleAction.allow : RuleAction.none,
    egressNetworkPolicyName: src ? 'allow-egress-dns' : '',
    egressNetworkPolicyNamespace: src ? NAMESPACES[client % NAMESPACES.length] : '',
    egressNetworkPolicyType: src ? PolicyType.antreaNetworkPolicy : PolicyType.none,
    egressNetworkPolicyRuleName: src ? 'rule-0' : '',
    egressNetworkPolicyRuleAction: src ? RuleAction.allow : RuleAction.none,
    tcpState: 'ESTABLISHED',
    flowType: interNode ? FlowType.interNode : FlowType.intraNode,
  };
}

/** Records that exporter `me` sends: its intra-node flows, its source halves, the previous exporter's destination halves. */
function recordsOfExporter(): number {
  return ROUNDS * (FLOWS_PER_EXPORTER + FLOWS_PER_EXPORTER / 2);
}

/**
 * One exporter process: encodes all its IPFIX messages first (MessageWriter, the exporting
 * process's encoder), connects, reports ready, and on "go" writes them over TCP as fast as the
 * socket takes them. Encoding before the clock starts keeps the exporters from being the
 * bottleneck (4 of them share 2 cores with the aggregator) and from feeding the aggregator in
 * dribbles.
 */
/** Every IPFIX message exporter `me` sends (templates first), and how many records they hold. */
export function exporterMessages(me: number): { messages: Buffer[]; records: number } {
  const writer = new MessageWriter({ observationDomainId: me + 1 });
  for (const t of EXPORTER_TEMPLATES) writer.addTemplate(t);
  const messages: Buffer[] = [...writer.templateMessages()];
  const previous = (me + EXPORTERS - 1) % EXPORTERS;
  const batch: DataRecord[] = [];
  let records = 0;
  const flushBatch = () => {
    records += batch.length;
    messages.push(...writer.encodeRecords(exporterTemplateId(4), batch.splice(0)));
  };
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < FLOWS_PER_EXPORTER; k++) {
      if (k % 2 === 0) {
        batch.push(flowRecordToDataRecord(flowHalf(me, k, 'both', round)));
      } else {
        batch.push(flowRecordToDataRecord(flowHalf(me, k, 'source', round)));
        batch.push(flowRecordToDataRecord(flowHalf(previous, k, 'destination', round)));
      }
      if (batch.length >= 1000) flushBatch();
    }
  }
  flushBatch();
  return { messages, records };
}

async function exporterChild(me: number, port: number): Promise<void> {
  const { messages, records } = exporterMessages(me);
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  await new Promise<void>((resolve) => {
    process.once('message', () => resolve());
    process.send?.({ ready: true });
  });
  for (const m of messages) {
    if (!socket.write(m)) await new Promise((r) => socket.once('drain', r));
  }
  await new Promise<void>((resolve) => socket.end(resolve));
  process.send?.({ sent: records, dropped: 0 });
}

/**
 * The machine's speed at this moment, measured in a child process (so that this process's heap
 * and counters are untouched) by scripts/machine-probe.mjs: ns per dependent random read over
 * 256 MB (memory latency: the aggregator's flow index, slots and name index are far larger than
 * the caches) and ns per step of a loop that stays in registers (core speed). Taken just before
 * and just after the measured run, it tells a slow run caused by the machine from one caused by
 * the code.
 */
const PROBE_SCRIPT = [new URL('../../scripts/machine-probe.mjs', import.meta.url), new URL('../scripts/machine-probe.mjs', import.meta.url)]
  .map((u) => fileURLToPath(u))
  .find((path) => existsSync(path));

async function probeMachine(): Promise<{ memoryNs: number; coreNs: number }> {
  if (PROBE_SCRIPT === undefined) throw new Error('scripts/machine-probe.mjs not found beside the bench');
  const child = fork(PROBE_SCRIPT, [], { stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m as { memoryNs: number; coreNs: number }));
    child.once('error', reject);
    child.once('close', (code) => reject(new Error(`machine probe exited with ${code} before reporting`)));
  });
}

async function throughput(): Promise<BenchResult> {
  const probeBefore = await probeMachine();
  // The external collector: a loopback TCP server that discards what it gets. It stands for
  // another host but runs in this process, so its reads count in the figure: it reads into one
  // reused buffer, as the product's collecting process does (readIntoReusedBuffer), so that
  // its ~240 MB of fresh 64 KiB read Buffers (external memory) do not set off full collections
  // of this process's heap during the shutdown flush (see the session 7 notes above).
  const discardBuffer = Buffer.allocUnsafe(64 * 1024);
  const discard = net.createServer({ pauseOnConnect: true }, (socket) => {
    if (!readIntoReusedBuffer(socket, discardBuffer, () => true)) socket.on('data', () => {});
    socket.resume();
  });
  await new Promise<void>((resolve) => discard.listen(0, '127.0.0.1', resolve));
  const discardPort = (discard.address() as net.AddressInfo).port;
  const config = parseAggregatorConfig({
    sinks: ['ipfix'],
    externalFlowCollectorAddr: `127.0.0.1:${discardPort}:tcp`,
    aggregatorTransportProtocol: 'tcp',
    listenAddress: '127.0.0.1',
    listenPort: 0,
    // The reference's default: exporters report each active flow several times per export.
    flowExportInterval: '60s',
    apiAddress: '',
    sinkBufferSize: 2_000_000,
  });
  const aggregator = new FlowAggregator(config, { tickMs: 100 });
  await aggregator.start();
  const port = aggregator.collectorAddress().port;
  const total = EXPORTERS * recordsOfExporter();
  const self = fileURLToPath(import.meta.url);
  const children = Array.from({ length: EXPORTERS }, (_, i) => fork(self, ['--aggregator-exporter', String(i), String(port)], { stdio: 'inherit' }));
  const message = (child: ReturnType<typeof fork>) =>
    new Promise<{ ready?: boolean; sent: number; dropped: number }>((resolve, reject) => {
      child.once('message', (m) => resolve(m as { sent: number; dropped: number }));
      child.once('error', reject);
      // 'close', not 'exit': a child's last IPC message can arrive after its 'exit' event.
      child.once('close', (code) => reject(new Error(`exporter process exited with ${code} before reporting`)));
    });
  await Promise.all(children.map(message));
  // Every exporter has encoded its messages and connected: the clock starts now.
  const cpu0 = process.cpuUsage();
  const usage0 = process.resourceUsage();
  const t0 = process.hrtime.bigint();
  const done = children.map(message);
  for (const child of children) child.send('go');
  const sent = await Promise.all(done);
  // Every exporter has sent all of its records: wait until the aggregator has counted them, but
  // not forever. A count that stops moving for 30 s is a failure that prints where records went.
  let seen = -1;
  let still = 0;
  for (let m = aggregator.metrics(); m.recordsReceived < total; m = aggregator.metrics()) {
    if (m.recordsReceived !== seen) [seen, still] = [m.recordsReceived, 0];
    else if (++still * 5 >= 30_000) {
      const { aggregation, collector } = m;
      await aggregator.stop();
      discard.close();
      throw new Error(`the aggregator counted ${m.recordsReceived} of ${total} records and stopped counting: ${JSON.stringify({ aggregation, collector })}`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  // Every record is in (the ingest phase, while the exporters send); stop() is the shutdown flush.
  const ingestCpu = process.cpuUsage(cpu0);
  await aggregator.stop();
  discard.close();
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  const usage = process.resourceUsage();
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const m = aggregator.metrics();
  const probeAfter = await probeMachine();
  return {
    name: 'aggregator.throughput',
    value: Math.round(total / cpuSeconds),
    unit: 'records/s/core',
    wallRate: Math.round(total / (wallMs / 1000)),
    records: total,
    exporters: EXPORTERS,
    sentByExporters: sent.reduce((n, s) => n + s.sent, 0),
    droppedByExporters: sent.reduce((n, s) => n + s.dropped, 0),
    correlated: m.flowsCorrelated,
    exported: m.recordsExported,
    dropped: m.recordsDropped,
    cpuSeconds: Number(cpuSeconds.toFixed(2)),
    userSeconds: Number((cpu.user / 1e6).toFixed(2)),
    systemSeconds: Number((cpu.system / 1e6).toFixed(2)),
    /** Page faults and context switches of this process while measured. */
    minorPageFaults: usage.minorPageFault - usage0.minorPageFault,
    contextSwitches: usage.voluntaryContextSwitches - usage0.voluntaryContextSwitches + usage.involuntaryContextSwitches - usage0.involuntaryContextSwitches,
    /** User + system CPU seconds until every record was received, and of the shutdown flush. */
    ingestCpuSeconds: Number(((ingestCpu.user + ingestCpu.system) / 1e6).toFixed(2)),
    flushCpuSeconds: Number((cpuSeconds - (ingestCpu.user + ingestCpu.system) / 1e6).toFixed(2)),
    /** The machine just before and after (probeMachine): memory latency and core speed, ns. */
    probeMemoryNs: [probeBefore.memoryNs, probeAfter.memoryNs],
    probeCoreNs: [probeBefore.coreNs, probeAfter.coreNs],
    goal: 300_000,
  };
}

function cpuMs(since: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(since);
  return (c.user + c.system) / 1000;
}

/**
 * The aggregator's own work without sockets, best of PIPELINE_RUNS: the same messages as the
 * throughput bench, interleaved across exporters, decoded into FlowRecords (as the service's
 * collecting process does, into reused record objects), ingested, then every flow exported and encoded with the aggregator
 * template (as the IPFIX sink does). CPU time per stage; on a shared machine the best run is
 * the one least disturbed by the neighbours.
 */
const PIPELINE_RUNS = 5;
async function pipeline(): Promise<BenchResult> {
  const perExporter = Array.from({ length: EXPORTERS }, (_, i) => exporterMessages(i));
  const total = perExporter.reduce((n, e) => n + e.records, 0);
  const interleaved: { me: number; message: Buffer }[] = [];
  const longest = Math.max(...perExporter.map((e) => e.messages.length));
  for (let k = 0; k < longest; k++) {
    for (let me = 0; me < EXPORTERS; me++) {
      const m = perExporter[me].messages[k];
      if (m !== undefined) interleaved.push({ me, message: m });
    }
  }
  const runs: { decode: number; aggregate: number; export: number; flush: number; exported: number }[] = [];
  for (let run = 0; run < PIPELINE_RUNS; run++) {
    collectGarbage();
    // Decode alone (names interned into a string table of their own).
    let decoders = perExporter.map(() => new MessageDecoder());
    const decodeShape = wireFlowRecordShape(new StringTable());
    let c0 = process.cpuUsage();
    let n = 0;
    for (const { me, message } of interleaved) for (const set of decoders[me].decodeAsReusing(message, decodeShape).dataSets) n += set.records.length;
    const decodeMs = cpuMs(c0);
    if (n !== total) throw new Error(`decoded ${n} of ${total} records`);
    // Decode and aggregate. Exported flows leave as the service sends them when the IPFIX sink
    // is its only sink: encoded straight from their slots (onExportEncoded), framed into
    // messages by the sink's writer (encodeEncoded); anything the IPv4 template cannot carry
    // would come as an object (none here: every flow is IPv4).
    decoders = perExporter.map(() => new MessageDecoder());
    const batches: EncodedRecords[] = [];
    const objects: AggregatedFlowRecord[] = [];
    const agg = new AggregationProcess({
      clock: { now: () => 0 },
      activeTimeoutMs: 60_000,
      inactiveTimeoutMs: 90_000,
      correlationWaitMs: 10_000,
      maxFlows: 1_000_000,
      onExport: (r) => objects.push(r),
      onExportEncoded: (b) => batches.push(b),
    });
    const sessions = perExporter.map((_, me) => ({ address: `192.168.0.${me + 1}`, observationDomainId: me + 1 }));
    collectGarbage();
    c0 = process.cpuUsage();
    for (const { me, message } of interleaved) {
      for (const set of decoders[me].decodeAsReusing(message, agg.wireShape).dataSets) for (const r of set.records) agg.ingestWire(r, sessions[me]);
      agg.sweep();
    }
    const aggregateMs = cpuMs(c0);
    // Export every flow and frame it as the IPFIX sink does.
    const writer = new MessageWriter({ observationDomainId: 0 });
    for (const t of AGGREGATOR_TEMPLATES) writer.addTemplate(t);
    collectGarbage();
    c0 = process.cpuUsage();
    agg.flush();
    const flushMs = cpuMs(c0);
    let bytes = 0;
    let exported = 0;
    for (const batch of batches) {
      exported += batch.count;
      for (const m of writer.encodeEncoded(batch)) bytes += m.length;
    }
    const exportMs = cpuMs(c0);
    if (bytes === 0 || objects.length !== 0 || agg.stats().recordsInvalid !== 0) throw new Error('nothing exported, records refused, or records left as objects');
    runs.push({ decode: decodeMs, aggregate: aggregateMs - decodeMs, export: exportMs, flush: flushMs, exported });
  }
  const best = (k: 'decode' | 'aggregate' | 'export' | 'flush') => Math.min(...runs.map((r) => r[k]));
  const bestTotal = Math.min(...runs.map((r) => r.decode + r.aggregate + r.export));
  const medianTotal = runs.map((r) => r.decode + r.aggregate + r.export).sort((a, b) => a - b)[runs.length >> 1];
  const ns = (ms: number) => Math.round((ms * 1e6) / total);
  return {
    name: 'aggregator.pipeline',
    value: Math.round(total / (bestTotal / 1000)),
    unit: 'records/s/core',
    basis: `cpu-time, best of ${PIPELINE_RUNS}, no sockets`,
    medianRate: Math.round(total / (medianTotal / 1000)),
    records: total,
    exported: runs[0].exported,
    decodeNsPerRecord: ns(best('decode')),
    aggregateNsPerRecord: ns(best('aggregate')),
    exportNsPerReceivedRecord: ns(best('export')),
    exportNsPerExportedRecord: Math.round((best('export') * 1e6) / runs[0].exported),
    /** Of which encoding the records from their slots and freeing the slots (AggregationProcess.flush). */
    flushNsPerExportedRecord: Math.round((best('flush') * 1e6) / runs[0].exported),
  };
}

function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

function usedBytes(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

async function memory(): Promise<BenchResult> {
  collectGarbage();
  const before = usedBytes();
  let exported = 0;
  const agg = new AggregationProcess({
    clock: { now: () => 0 },
    activeTimeoutMs: 3_600_000,
    inactiveTimeoutMs: 3_600_000,
    correlationWaitMs: 60_000,
    maxFlows: MEMORY_FLOWS,
    onExport: () => exported++,
  });
  const from = { address: '192.168.0.10', observationDomainId: 1 };
  const owners = MEMORY_FLOWS / FLOWS_PER_EXPORTER;
  for (let owner = 0; owner < owners; owner++) {
    for (let k = 0; k < FLOWS_PER_EXPORTER; k++) {
      if (k % 2 === 0) agg.ingest(flowHalf(owner, k, 'both'), from);
      else {
        agg.ingest(flowHalf(owner, k, 'source'), from);
        agg.ingest(flowHalf(owner, k, 'destination'), from);
      }
    }
  }
  collectGarbage();
  const after = usedBytes();
  const flows = agg.stats().flowsTracked;
  return {
    name: 'aggregator.memory',
    value: Math.round((after - before) / flows),
    unit: 'bytes/flow',
    flows,
    structureBytesPerFlow: Math.round(agg.structureBytes() / flows),
    evicted: exported,
    goal: 512,
  };
}

export const benchmarks: Benchmark[] = [
  { name: 'aggregator.throughput', run: throughput },
  { name: 'aggregator.memory', run: memory },
  { name: 'aggregator.pipeline', run: pipeline },
];

if (process.argv[2] === '--aggregator-exporter') {
  await exporterChild(Number(process.argv[3]), Number(process.argv[4]));
  process.exit(0);
}
