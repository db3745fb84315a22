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
//   of 5: decode into FlowRecords, ingest, then flush and encode every flow as the IPFIX sink
//   does; CPU ns per stage.
//
// End of session 5 (lead, 2026-11-27 06:15-06:32 UTC, nothing else running, load 0.9-2.2, but the VM in
// a slow phase throughout: scripts/machine-probe.mjs and this bench's probes 1.64-2.69 ns / 212-428 ns):
// node dist/bench/run.js aggregator.throughput, 6 runs: 233,098 247,669 224,404 233,927 220,696 215,860
// (user 6.4-7.4 s, ingest CPU 4.2-5.2 s, flush 2.9-3.3 s). aggregator.pipeline 384,084 (median 306,348),
// aggregator.memory 393 B/flow.
// Session 5 (HA, 1a93b64..70cdc5a, 2026-11-27 04:26-05:27 UTC): fewer instructions per record on
// the ingest and export paths; the floor is still not met in the machine's slow phases.
// - writer: names are copied from their strings, four ASCII characters per DataView store,
//   without the Map-keyed name cache (its lookups missed the caches 100-200 ns each with 20,000
//   Pod names; in the profile Map.get was 66% of varStrTo and varStrTo the top function of the
//   shutdown flush).
// - merge and build read and write the slot through the table's views from one set of block
//   bases (slotBases) instead of ~75 accessor calls per record (V8 stopped inlining them in
//   these large functions); the 14 names go in through one FlowTable.putIds call.
// In-process comparison (the bench's 1,800,000 records decoded and ingested without sockets,
// then flushed in chunks of 4,096 and encoded, both builds' modules loaded in one process and
// run alternately, 6 runs each; /tmp helper, not part of the product), load 6.5-7.2, probe core
// 2.2 ns (slow phase), medians before -> after:
//   ingest without decode 961 -> 621 ns per record; flush (build) 3,071 -> 1,967 and encode
//   3,757 -> 2,133 ns per exported record; all stages 3,433 -> 2,289 ns per received record.
// node dist/bench/run.js aggregator.throughput, alternating with a worktree build of c52a0b2
// (the session's start), 12 pairs, load average (1 min) 4.8-8.3 throughout (the other engineers'
// store benchmarks ran beside it: four busy processes on 2 vCPUs), value / user s / probe core ns
// before,after / load:
//   pair  after                              before
//     1  199,559  7.96  1.72,2.45  7.82    187,687  8.42  1.99,2.30  8.04
//     2  301,618  5.28  2.16,1.59  7.55    177,140  9.16  2.63,2.42  8.32
//     3  221,551  7.23  1.50,2.45  8.20    213,910  7.50  1.72,2.15  7.07
//     4  316,931  5.08  2.06,2.29  6.27    262,951  6.15  2.25,1.66  6.80
//     5  253,976  5.91  1.80,1.72  6.27    185,054  8.77  1.71,2.23  6.98
//     6  296,896  5.16  2.23,1.63  7.95    269,561  5.90  2.17,2.06  7.20
//     7  296,953  5.22  2.10,1.68  6.95    275,253  5.91  1.86,2.27  7.20
//     8  354,354  4.38  1.35,1.38  7.38    383,742  4.14  1.34,1.33  7.88
//     9  274,396  6.02  1.35,1.70  8.25    352,013  4.55  1.35,1.82  8.16
//    10  304,605  5.23  1.51,1.60  8.05    226,688  7.24  1.55,1.69  7.19
//    11  230,859  7.04  1.51,1.83  5.18    224,561  7.18  1.88,1.45  4.83
//    12  240,139  6.61  1.50,2.09  6.48    288,339  5.51  1.83,1.50  6.09
//   median after ~285,600, before ~244,800 records/s/core (+17%); after ahead in 9 of 12 pairs,
//   all 7 pairs 1-7 (a slow probe on both sides); in the pairs with a fast probe the builds
//   split (the fast phase came with the heaviest neighbours, load 7.4-8.2). Probe core
//   1.35-2.63 ns throughout: no quiet fast phase was available for a clean fast-phase figure.
//   Flush CPU (shutdown export) 1.79-2.54 s after against 1.93-3.59 s before.
// node dist/bench/run.js aggregator.pipeline, alternating (load 6.9-8.2; best of 5 / median):
//   after 361,988 / 341,054, 463,266 / 443,767, 572,830 / 519,612 (decode 548-807, aggregate
//   284-484, export 3,394-5,274 ns per exported record, flush 1,970-3,049)
//   before 420,809 / 324,648, 431,741 / 345,831, 463,583 / 439,264 (decode 647-737, aggregate
//   243-499, export 4,369-4,760, flush 2,308-2,425); after ahead in 2 of 3 (the pipeline keeps
//   all 400,000 exported records alive, so its flush is mostly allocation).
// node dist/bench/run.js aggregator.memory: 389 bytes/flow (goal <= 512; slot layout unchanged).
// Tried and dropped this session (in-process, alternating): a prefetch pass over each data set
// before ingesting it (every record's index entry, then the slot it finds, so that the misses
// of many records overlap): it cost 144-163 ns per record and saved 40-100 in ingest; the
// same create/isNewConnection rewrite through slotBases as merge: 482 against 484 ns.
// What is left (throughput --cpu-prof after, ingest phase): StringTable.idOf 24% (two cache
// misses per Pod name: index entry and bytes), the generated decoder 17%, FlowTable.find 10%
// (74% of it the index entry's miss), merge 9%; shutdown flush: build 20% (half of it allocating
// the exported record and its two counter objects), varStrTo 20% (reading the name strings),
// the generated writer 15%, GC 10%.
// Session 4, HB (2026-11-27 03:43-04:10 UTC): what puts a run in the slow mode. The machine, not
// the code: the throughput bench now measures the machine in a child process just before and
// just after the run (probeMachine: ns per dependent random read over 256 MB, ns per step of a
// loop that stays in registers; no flowvis code) and splits the CPU time into the ingest phase
// (until every record is in) and the shutdown flush. On this Firecracker VM (2 vCPUs, no steal
// reported: 0-2 ticks per run) the register-only loop itself takes 1.32-1.45 ns in most probes
// and 1.5-2.3 ns in others, and the memory read 150-185 ns against 200-295 ns, with nothing
// else running (ps: only an idle clickhouse-server). 24 runs of
// `node dist/bench/run.js aggregator.throughput`, load average (1 min) 1.2-2.8 (our own runs),
// value / user s / probe core ns before,after / probe memory ns before,after:
//   284,845 5.60 1.45,1.35 185,178    347,195 4.66 1.37,1.37 180,171    379,340 4.12 1.32,1.34 168,167
//   374,204 4.28 1.79,1.41 175,164    313,122 4.97 1.49,1.40 186,203    238,305 6.69 2.10,1.76 256,250
//   356,437 4.49 2.04,1.35 282,159    337,262 4.71 1.36,1.46 217,165    321,241 4.91 1.72,1.39 257,160
//   343,369 4.66 1.37,1.42 171,159    414,898 3.79 1.80,1.38 173,160    372,555 4.31 1.40,1.34 163,149
//   372,328 4.34 1.35,1.76 162,207    340,745 4.67 1.39,2.32 175,228    263,468 6.13 2.24,1.99 269,295
//   271,366 5.89 2.09,1.67 212,205    211,553 7.72 1.94,2.07 259,239    263,161 6.17 1.56,1.59 236,203
//   222,567 7.23 1.74,1.55 212,252    266,796 6.01 1.54,1.51 268,184    268,538 5.95 1.49,1.95 187,267
//   218,998 7.42 1.99,1.95 296,291    331,897 4.76 2.06,1.55 223,180    208,641 7.82 1.64,2.06 208,278
// Both probes slow (core >= 1.5 ns): 9 runs, all 9 below 300,000 (208,641-271,366). Both fast
// (<= 1.49 ns): 7 runs, 6 at 313,122-379,340 and one at 284,845 (the first run after a build).
// One slow, one fast: 8 runs, 7 at 321,241-414,898. In the run whose after-probe alone was slow
// (340,745: 1.39 -> 2.32 ns) the ingest phase took its usual 2.7 s and the flush 2.58 s instead
// of 1.7-2.0: the phase that coincides with the slow machine is the one that slows.
// The CPU profiles agree: over 10 --cpu-prof runs split at 5.4 user s, every hot
// function of the ingest phase took 1.4-1.9x its self time in the slow runs (idOf 738 -> 1,021 ms,
// the generated decodeRecord 415 -> 671, merge 205 -> 363, putId 137 -> 208, addCounters
// 108 -> 166), the work evenly slower, not one function. Ruled out in this session:
// - JIT state: --trace-opt/--trace-deopt on 12 runs: the same 39-45 dependency deopts and the
//   same optimizations in fast and slow runs; the one that differs (idOf deoptimized once,
//   "insufficient type feedback" on its miss path, in 6 of 12 runs) is in the fastest run
//   (4.13 s) as well as in slow ones.
// - socket reads: 13,747-14,576 'data' events of 52-55 kB on average (758 MB in all, 64 kB
//   reads) in fast and slow runs alike.
// - a small young generation (--max-semi-space-size=1, 6 runs): 287,885-386,373, still bimodal.
// So no change in src/: with the machine fast on at least one side the runs give 313,122-414,898
// records/s/core (one 284,845 of 15); the floor is
// missed when the VM's vCPU runs slowly (a busy host sibling or throttling), which no change of
// the aggregator removes. To see which it was, read probeCoreNs / probeMemoryNs of the run; compare
// builds only between runs whose probes agree.
// Session 4 (HA, 6a5830b..8689885): the flow table grows without copying its slots (past its first
// 4096 slots it takes one buffer for maxFlows slots, reserved address space that the kernel
// backs page by page as slots are written; doubling copied every slot at each step, 180 MB of
// copies and page faults to reach 400,000 flows), and a fresh slot skips its clearing fill. The
// bench now also prints the process's page faults and context switches. Same machine, Node
// v20.20.2, 2 cores shared with two other engineers' benchmarks; before = a worktree build of
// 381e215, alternating after/before, load average (1 min) 3.8-5.9 throughout:
//   node dist/bench/run.js aggregator.throughput   (12 pairs)
//     after  384,465  381,676  296,151  261,830  385,938  267,992  362,999  387,064
//            407,704  406,225  387,933  382,424          median 383,445 records/s/core
//     before 334,773  329,796  304,567  275,540  329,408  358,055  313,321  379,971
//            371,297  363,364  380,930  398,900          median 346,414 records/s/core
//     after ahead in 8 of 12 pairs (+11% median); system time 0.53-0.77 s against 0.63-0.81 s;
//     page faults of the process 170,000-181,000 (the grow copies were 18% of them before).
//     Both builds are bimodal: runs near 265,000-300,000 take 5.2-6.1 s of user CPU, runs near
//     380,000-410,000 take 3.8-4.2 s, with the same deopts, page faults and context switches:
//     the neighbours' load (shared caches, SMT), not the code. Three runs of 12 on the after
//     side fell below 300,000 (two of 12 before): the floor is not met reliably under this load.
//   node dist/bench/run.js aggregator.pipeline (best of 5, load 4.4 / 4.2)
//     after 456,593 records/s/core (decode 607, aggregate 404, export 4,168 ns per exported
//     record); before 492,078 (619, 515, 3,897): within the noise (the table's growth is a small
//     part of the pipeline's aggregate stage).
//   node dist/bench/run.js aggregator.memory   389 bytes/flow on both (goal <= 512).
//   Where the process's page faults come from (perf record -e page-faults with --perf-basic-prof,
//   after): build/sideCounters during the shutdown flush 41% (the exported records' memory),
//   first writes to new slots (insertKey, create) 16%, socket reads (copy_to_iter) 7%, decode
//   3%; before, the grow copy (memmove into the new buffer) was 18%.
//   Tried and dropped this session, each measured in one process alternating the two builds'
//   modules (decode + ingest of the bench's 1,800,000 records without sockets, best of 6):
//   - names as spans (where their bytes are in the message), turned into ids only once the flow
//     is found, comparing with the id the flow holds before any hash or probe: decode 707 ->
//     314 ns but ingest +450 ns (the compare of the bytes costs what the probe did, plus calls);
//     decode + ingest 1,483-1,635 against 1,332-1,393 ns/record: slower.
//   - the byte index with each name's bytes inline in its 64-byte entry (one cache line per
//     lookup instead of the entry and the id's words): 1,329 against 1,279 ns/record.
//   - a per-field last id in idOf (compare with the field's previous name before hashing):
//     1,160 / 1,202 against 1,168 / 1,206 ns/record.
//   - shutdown flush chunks of 1,024 or 256 instead of 4,096, the discarding collector in a
//     child process, and (diagnosis only) V8's --min-semi-space-size=16, --no-page-promotion and
//     --no-allocation-site-pretenuring: page faults and figures within the run-to-run spread.
//   - exported records and their counters made by constructors (prototype Object.prototype)
//     instead of object literals, so that V8 never pretenures them: in the throughput bench the
//     export phase's 130-170 MB heap swings went, page faults 70,000-146,000 against
//     160,000-180,000 and system time 0.35-0.60 s against 0.57-0.84 s, but user time did not
//     fall (pairs ahead in 4 of 7), and aggregator.pipeline, which keeps all 400,000 exported
//     records, paid for copying them: flush 3,580-3,689 against 1,993-2,127 ns per exported
//     record (value 423,419-443,961 against 503,054-534,005). Dropped (8689885).
//   After the last changes (the shutdown flush also waits for the IPFIX exporting queue), 3
//   more pairs at load 4.0-5.1: after 417,385 / 327,441 / 402,807, before 373,995 / 374,752 /
//   377,446; aggregator.pipeline 534,005 (flush 1,993 ns); aggregator.memory 389. One run of
//   the before build (381e215) hung at load 2 with every exporter done. Cause (found after, 1 run
//   in 12): the bench took an exporter child's 'exit' before its last IPC message ("exited with 0
//   before reporting"), failed, and the aggregator it left running kept the process alive. No
//   record was lost: the child's report is now awaited until 'close', the runner exits after its
//   benchmarks, and a received count that stops short for 30 s fails with the collector's and
//   aggregation's counters.
//   What is left per record (profile of decode + ingest): idOf ~37% (hash, probe and compare of
//   ~8.5 names), the generated decoder ~20%, the flow index probe and merge ~25%; per exported
//   record about 1.7 us to build it and 2 us to encode it.
// End of session 4 (2026-11-27 03:26-03:32 UTC, nothing else running, load 0.2-2.9 rising with the
//   runs), 23 runs of `node dist/bench/run.js aggregator.throughput`: 328,787 402,849 380,908 342,663
//   379,503 338,717 324,073 261,308 264,532 316,549 376,015 339,569 351,080 368,819 354,670 309,615
//   318,882 263,599 289,852 315,885 288,548 216,501 278,319: median ~324,000, 7 of 23 below 300,000.
//   aggregator.memory 393 B/flow, aggregator.pipeline 493,552 (load 1.9).
// End of the session on the idle machine (2026-11-27 01:17-01:23 UTC, load 1.1-1.8), six runs of
//   `node dist/bench/run.js aggregator.throughput`: 220,852 (right after the build), 297,253,
//   271,821, 277,114, 333,315, 332,053 records/s/core (cpuSeconds 5.4-8.15); at the start of the
//   session, before the changes below, 274,404 (load 0.5). Idle runs spread more than loaded ones,
//   and are not faster: the goal is not met reliably. aggregator.memory 389 B/flow.
// Earlier sessions (details in git history of this file): session 3 decoded names straight into
// string-table ids (StringTable.idOf) and gave the index entries the key hash: 312,055 ->
// 380,987 median at load 7-10; round 4 kept the exported totals per slot (memory 354 -> 386
// B/flow); round 3 made IPv4 keys numeric and the flow table one 312-byte record per slot
// (260,000 -> 278,000); round 2 encoded AggregatedFlowRecords with a shape-based writer; round 1
// started at 145,000-158,000 records/s/core. Tried and dropped then: a direct-mapped id cache in
// front of the string table's Map, a prefetch pass over each message's index entries and slots
// (no difference beyond the noise, 3 pairs), copying names of up to 24 characters instead of
// the writer's name cache (1.45-1.6 against 1.2-1.4 us per record then; session 5 measured the
// reverse with 20,000 Pods and the word-wise copy).
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
  // The external collector: a loopback TCP server that discards what it gets.
  const discard = net.createServer((socket) => socket.resume());
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
