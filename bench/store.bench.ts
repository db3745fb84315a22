// Flow store benchmarks.
//   store.ingest.embedded    rows/s into the embedded store (DuckDB) from one process, through the
//                            product's path: producer -> SinkPump -> StoreSink (default commit
//                            interval, the repository's insertBatch: 245,760 rows, 2 inserts in
//                            flight) -> repository, until every row is committed
//   store.ingest.clickhouse  the same into ClickHouse (FLOWVIS_BENCH_CLICKHOUSE, default
//                            http://127.0.0.1:8123; batches of 50,000); also the repository called
//                            directly, one insert at a time (direct_rows_per_s), and the server's
//                            query-thread CPU per row (system.events); Theia documents about 4,000/s
//   store.segment.write      one 245,760-row segment (schema 5's row storage): the main thread's
//                            read of the records' columns and the segment thread's work (derived
//                            columns, rollup grouping, the segment's and (schema 6) its rollup
//                            rows' Parquet files, fsync), CPU per row of each; bytes
//                            per row of our segment, a compacted segment and the DuckDB table
//   store.query.p95          each dashboard query over 10,000,000 flows in the embedded store
//                            (generated in-database with SQL and stored as ten segments in the form
//                            compaction writes; the time it took is reported)
//   store.choice             the engine decision: DuckDB against SQLite (better-sqlite3@12, from
//                            FLOWVIS_BENCH_SQLITE_MODULE or node_modules) on the same rows
//   knobs: FLOWVIS_BENCH_INSERTS_IN_FLIGHT, FLOWVIS_BENCH_INGEST_BATCH, FLOWVIS_BENCH_INGEST_PASSES (2 x 600,000 rows)
//
// Session 8 (2026-11-27, Node v20.20.2, 2-core Intel Xeon VM; probe = node scripts/machine-probe.mjs,
// random read ns / register loop ns: fast phases 150-210 / 1.3-1.5, slow ones 260-680 / 1.7-2.7):
//   ClickHouse inserts are Native blocks with their rows in the tables' ORDER BY order (H-NAT);
//   the shared encoding writes address dictionaries as bytes and remembers a Pod's namespace and
//   Node per name, and rollupBatch groups small keys by direct index (H-GRP). store.segment.write
//   now reads into pooled arrays, as the product does. Final runs, machine otherwise idle, 13:09-13:16 UTC:
//   {"name":"store.ingest.clickhouse","value":167651,"rows_per_cpu_second":246345,"client_cpu_us_per_row":4.06,"server_cpu_us_per_row":3.69,"load":1.9}  (probe 202 / 1.70)
//   {"name":"store.ingest.clickhouse","value":190840,"rows_per_cpu_second":261734,"client_cpu_us_per_row":3.82,"server_cpu_us_per_row":2.29,"load":2}  (probe 188 / 1.81)
//   {"name":"store.ingest.embedded","value":449785,"unit":"rows/s","rows_per_cpu_second":292007,"rows_per_s_inserting":481377,"load":1.9}  (probe 194 / 1.84)
//   {"name":"store.ingest.embedded","value":429332,"unit":"rows/s","rows_per_cpu_second":315558,"rows_per_s_inserting":501936,"load":2}  (probe 193 / 1.35)
//   {"name":"store.segment.write","value":338656,"unit":"rows per CPU-s","main_thread_us_per_row":1.44,"segment_thread_us_per_row":1.51,"load":2}  (probe 201 / 1.43)
//   All six ClickHouse runs: 139,260-225,749 rows/s; the three embedded ones 427,900-449,785.
//   Alternating with the session's starting build at load 4-8: ClickHouse 97,257-125,826 against
//   45,704-71,118 (client + server 6.20-6.72 against 9.64-11.75 us a row); embedded 321,062 and
//   226,281 against 185,022 and 179,691.
//   History of every figure: docs/store.md, "Figures", and store-clickhouse.md.
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createClient } from '@clickhouse/client';
import type { Benchmark, BenchResult } from './harness.js';
import type { AggregatedFlowRecord } from '../src/flow/record.js';
import { ClickHouseRepository, parseClickHouseUrl } from '../src/store/clickhouse.js';
import { DuckDbRepository } from '../src/store/duckdb.js';
import { FlowQueries, parseFlowQuery, type FlowQuery } from '../src/store/query.js';
import type { FlowRepository } from '../src/store/repository.js';
import { COLUMNS, type StoredFlow } from '../src/store/schema.js';
import { ArrayPool, encodeRows } from '../src/store/columnar.js';
import { SegmentWriter } from '../src/store/parquet/segment-writer.js';
import { FAN_IN } from '../src/store/segments.js';
import { statSync } from 'node:fs';
import { SinkPump } from '../src/sinks/sink.js';
import { DEFAULT_INSERTS_IN_FLIGHT, DEFAULT_STORE_BATCH, DEFAULT_STORE_BUFFER, StoreSink } from '../src/sinks/store-sink.js';
import { flow } from '../test/unit/store/fixtures.js';

const T0 = 1_700_000_040;
const DAY = 86400;
const PODS = 2000;
const NAMESPACES = 20;
const NODES = 50;
const POLICIES = 100;
const PEERS = 8;

const log = (m: string) => process.stderr.write(`[store.bench] ${m}\n`);

/**
 * Realistic rows: 2,000 Pods in 20 namespaces on 50 Nodes, 8 peers each (16,000 edges), a third
 * with a policy. Flow ends spread evenly over `spanSeconds` from T0.
 */
export function syntheticRecords(n: number, seed = 1, spanSeconds = DAY): AggregatedFlowRecord[] {
  const out: AggregatedFlowRecord[] = new Array(n);
  // Plain objects, as the aggregator builds them (one literal per record): the test fixture's
  // spread-built records read about ten times slower (about 50 us a record for the 52 columns
  // here), which is not what the sink is given, so each is rebuilt by JSON.parse (and the
  // spread-built one is young garbage at once: keeping 600,000 of them took the heap to 2.6 GB
  // and this setup to 100 s of collections). Their strings are shared as the aggregator's
  // are: its records take every name from its string table (flow-table.ts getString) and IPv4
  // addresses from a cache (ipfix/values.ts ipv4Text), so records that name one Pod hold one
  // string, not a copy each (a copy per record costs the sink a cache miss per string value).
  const shared = new Map<string, string>();
  const reviver = (_key: string, value: unknown) => {
    if (typeof value !== 'string') return value;
    const known = shared.get(value);
    if (known !== undefined) return known;
    shared.set(value, value);
    return value;
  };
  let x = seed >>> 0;
  const rnd = () => {
    x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    return x;
  };
  for (let i = 0; i < n; i++) {
    const s = rnd() % PODS;
    // Each Pod talks to a handful of peers (8), as Deployments talk to their dependencies.
    const d = (s * 7 + (rnd() % PEERS)) % PODS;
    const pol = i % 3 === 0 ? `policy-${rnd() % POLICIES}` : '';
    const built = flow({
      sourcePodNamespace: `ns-${s % NAMESPACES}`,
      sourcePodName: `app-${s}-7f9c8d5b4-x2k9p`,
      sourceNodeName: `node-${s % NODES}`,
      destinationPodNamespace: `ns-${d % NAMESPACES}`,
      destinationPodName: `app-${d}-7f9c8d5b4-x2k9p`,
      destinationNodeName: `node-${d % NODES}`,
      sourceAddress: `10.${(s >> 8) & 255}.${s & 255}.${1 + (i % 250)}`,
      destinationAddress: `10.${(d >> 8) & 255}.${d & 255}.7`,
      sourceTransportPort: 1024 + (rnd() % 60000),
      destinationTransportPort: [80, 443, 5432, 6379, 8080][i % 5],
      flowEndSeconds: T0 + Math.floor((i * spanSeconds) / n),
      flowType: s % NODES === d % NODES ? 1 : 2,
      ingressNetworkPolicyNamespace: pol ? `ns-${d % NAMESPACES}` : '',
      ingressNetworkPolicyName: pol,
      ingressNetworkPolicyRuleAction: pol ? 1 : 0,
      octetDeltaCount: rnd() % 100_000,
      packetDeltaCount: rnd() % 100,
      reverseOctetDeltaCount: rnd() % 100_000,
      reversePacketDeltaCount: rnd() % 100,
      tcpState: 'ESTABLISHED',
    });
    out[i] = JSON.parse(JSON.stringify(built), reviver) as AggregatedFlowRecord;
  }
  return out;
}

async function ingest(repo: FlowRepository, rows: AggregatedFlowRecord[], batch = repo.insertBatch ?? DEFAULT_STORE_BATCH): Promise<number> {
  return (await timedIngest(repo, rows, batch)).wall;
}

/** Wall seconds and this process's CPU seconds (every thread, DuckDB's included) for inserting `rows`. */
async function timedIngest(repo: FlowRepository, rows: AggregatedFlowRecord[], batch = repo.insertBatch ?? DEFAULT_STORE_BATCH): Promise<{ wall: number; cpu: number }> {
  const cpu0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  for (let off = 0; off < rows.length; off += batch) await repo.insertFlows(rows.slice(off, off + batch), T0);
  const cpu = process.cpuUsage(cpu0);
  return { wall: Number(process.hrtime.bigint() - start) / 1e9, cpu: (cpu.user + cpu.system) / 1e6 };
}

/**
 * Ingest rows: flow ends spread over FLOWVIS_BENCH_INGEST_SPAN seconds (default 10, so that a
 * 50,000-row batch holds about one second of flows, as the sink's batches do at that rate;
 * 86400 spreads them over a day as the first figures did).
 */
function ingestRows(): { rows: AggregatedFlowRecord[]; span: number } {
  const span = Number(process.env.FLOWVIS_BENCH_INGEST_SPAN ?? 10);
  return { rows: syntheticRecords(600_000, 1, span), span };
}

/** The aggregator's default sink buffer (aggregator config sinkBufferSize) and the pump's batches. */
const PUMP_CAPACITY = 100_000;
/** Records the producer offers per turn of the event loop, as aggregation exports them between I/O. */
const PRODUCER_CHUNK = 10_000;

interface SinkIngest {
  wall: number;
  cpu: number;
  /** Seconds from the first insert's start to the last one's end: the sink's rate while it works. */
  inserting: number;
  written: number;
  dropped: number;
}

/**
 * Rows through the product's path: a producer offers records to a SinkPump (as aggregation does)
 * in front of a StoreSink with its default commit interval, batch size and inserts in flight;
 * the producer offers only while the pump and the sink have room (as fast as the sink accepts),
 * and the clock stops when the sink has committed every row. `passes` offers the rows that many
 * times (the same objects), so a run lasts several commit intervals. The clock starts after a
 * warm-up through the same sink, at whatever point of its commit interval that ends: `wall`
 * includes the wait for the first commit (up to one interval), `inserting` does not.
 */
async function sinkIngest(open: () => Promise<FlowRepository>, rows: AggregatedFlowRecord[], passes: number, repoOut: { repo: FlowRepository | null }): Promise<SinkIngest> {
  const timing = { first: 0n, last: 0n };
  const insertsInFlight = process.env.FLOWVIS_BENCH_INSERTS_IN_FLIGHT ? Number(process.env.FLOWVIS_BENCH_INSERTS_IN_FLIGHT) : undefined;
  // The repository as opened, with each insert's start and end noted (nothing else changes).
  const timed = async (): Promise<FlowRepository> => {
    const repo = await open();
    repoOut.repo = repo;
    return Object.assign(Object.create(repo) as FlowRepository, {
      insertFlows: async (records: readonly AggregatedFlowRecord[], at: number) => {
        if (timing.first === 0n) timing.first = process.hrtime.bigint();
        await repo.insertFlows(records, at);
        timing.last = process.hrtime.bigint();
      },
      close: () => repo.close(),
    });
  };
  const batchSize = process.env.FLOWVIS_BENCH_INGEST_BATCH ? Number(process.env.FLOWVIS_BENCH_INGEST_BATCH) : undefined;
  const sink = new StoreSink({ open: timed, ...(insertsInFlight ? { insertsInFlight } : {}), ...(batchSize ? { batchSize } : {}) });
  const pump = new SinkPump(sink, { capacity: PUMP_CAPACITY });
  pump.start();
  // The sink's backlog is held to a few inserts' worth (in flight, plus two more batches queued),
  // so that it never runs dry, as a sink that keeps up holds about one commit interval of
  // records; not to its capacity (1,000,000), whose arrays would only add old-generation garbage.
  // Never beyond the sink's capacity (less what the pump holds): the sink would drop the excess
  // and the wait for every row to be written would never end (K = 3 at 245,760 rows a batch).
  const backlog = () =>
    Math.min(DEFAULT_STORE_BUFFER - PUMP_CAPACITY, ((insertsInFlight ?? DEFAULT_INSERTS_IN_FLIGHT) + 2) * (batchSize ?? repoOut.repo?.insertBatch ?? DEFAULT_STORE_BATCH));
  const feed = async (total: number): Promise<void> => {
    const base = sink.stats().written;
    let offered = 0;
    while (offered < total) {
      const room = Math.min(PUMP_CAPACITY - pump.stats().buffered, backlog() - sink.stats().pending - pump.stats().buffered, PRODUCER_CHUNK, total - offered);
      for (let i = 0; i < room; i++) pump.offer(rows[(offered + i) % rows.length]);
      offered += Math.max(0, room);
      // No room: wait a little instead of spinning on setImmediate, which would burn this
      // process's CPU (counted in rows_per_cpu_second) and allocate a promise per turn.
      if (room > 0) await new Promise((resolve) => setImmediate(resolve));
      else await new Promise((resolve) => setTimeout(resolve, 2));
    }
    while (sink.stats().written - base < total) await new Promise((resolve) => setTimeout(resolve, 5));
  };
  // The setup's garbage (building the records leaves about 1 GB in the old generation) is
  // collected first: otherwise whether its full collection lands in the measured window (about
  // a second of marking, counted as the sink's) decides the figure.
  collectGarbage();
  // Warm-up through the same sink, as a long-running aggregator's sink is: its repository open,
  // the encoders compiled, the insert memory (one scratch per insert in flight) allocated.
  await feed(WARM_UP_ROWS);
  timing.first = 0n;
  const written0 = sink.stats().written;
  const cpu0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  await feed(rows.length * passes);
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const s = sink.stats();
  await pump.close();
  return { wall, cpu: (cpu.user + cpu.system) / 1e6, inserting: Number(timing.last - timing.first) / 1e9, written: s.written - written0, dropped: s.dropped + pump.stats().droppedBufferFull };
}

/** A full collection now (V8's gc(), exposed at run time for this). */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** Rows written through the sink before the clock starts. */
const WARM_UP_ROWS = 300_000;

/** Times the rows are offered to the sink in store.ingest (FLOWVIS_BENCH_INGEST_PASSES; 600,000 rows a pass). */
const INGEST_PASSES = Number(process.env.FLOWVIS_BENCH_INGEST_PASSES ?? 2);

/** The sink's insert size in store.ingest: FLOWVIS_BENCH_INGEST_BATCH, else the repository's, else the sink's default. */
function ingestBatch(repo: FlowRepository | null): number {
  return Number(process.env.FLOWVIS_BENCH_INGEST_BATCH ?? repo?.insertBatch ?? DEFAULT_STORE_BATCH);
}

function sinkIngestResult(name: string, t: SinkIngest, span: number, batch: number, extra: Record<string, unknown> = {}): BenchResult {
  if (t.dropped > 0) throw new Error(`${name}: the sink dropped ${t.dropped} records; the producer should offer only what it has room for`);
  return {
    name,
    value: Math.round(t.written / t.wall),
    unit: 'rows/s',
    rows_per_cpu_second: Math.round(t.written / t.cpu),
    rows_per_s_inserting: Math.round(t.written / t.inserting),
    rows: t.written,
    batch,
    inserts_in_flight: Number(process.env.FLOWVIS_BENCH_INSERTS_IN_FLIGHT ?? DEFAULT_INSERTS_IN_FLIGHT),
    span_s: span,
    load: Number(loadavg()[0].toFixed(1)),
    ...extra,
  };
}

/**
 * The server's query threads' CPU seconds so far (system.events; background merges not
 * included), so that a figure can say what a row costs the server too.
 */
async function serverCpuSeconds(serverUrl: string): Promise<number> {
  const c = createClient({ url: parseClickHouseUrl(serverUrl).url });
  try {
    const rs = await c.query({ query: "SELECT toFloat64(sum(value)) AS us FROM system.events WHERE event IN ('UserTimeMicroseconds', 'SystemTimeMicroseconds')", format: 'JSONEachRow' });
    const [r] = await rs.json<{ us: number }>();
    return Number(r.us) / 1e6;
  } finally {
    await c.close();
  }
}

/**
 * The 10M-row table, generated by DuckDB itself: the same distributions as syntheticRecords.
 * Strings are not formatted per row: each row joins small tables of the Pods' names, namespaces,
 * Nodes and address prefixes (2,000 rows) and of hex digits (256 rows), so a row costs a few
 * hash probes and concatenations instead of a dozen number-to-text conversions and a printf.
 */
export const GENERATION_TABLES = [
  `CREATE OR REPLACE TEMP TABLE gen_pods AS SELECT p, 'app-' || p || '-7f9c8d5b4-x2k9p' AS name, 'ns-' || (p % ${NAMESPACES}) AS ns, ` +
    `'node-' || (p % ${NODES}) AS node, p % ${NODES} AS nodeIndex, '10.' || ((p >> 8) & 255) || '.' || (p & 255) || '.' AS ipPrefix, ` +
    `'00000000000000000000ffff0a' || printf('%02x%02x', (p >> 8) & 255, p & 255) AS keyPrefix, ` +
    // ipNet (ip-key.ts): the /24 of 10.(p >> 8).(p & 255).x
    `10 * 65536 + ((p >> 8) & 255) * 256 + (p & 255) AS net FROM range(${PODS}) t(p)`,
  `CREATE OR REPLACE TEMP TABLE gen_octets AS SELECT o, CAST(o AS VARCHAR) AS text, printf('%02x', o) AS hex FROM range(256) t(o)`,
  `CREATE OR REPLACE TEMP TABLE gen_policies AS SELECT k, 'policy-' || k AS name FROM range(${POLICIES}) t(k)`,
];

export function generationSql(n: number, from: number, to: number): string {
  const has = `(i % 3 = 0)`;
  const expr: Partial<Record<keyof StoredFlow, string>> = {
    timeInserted: `${T0} + (i * ${DAY}) // ${n}`,
    flowStartSeconds: `${T0} + (i * ${DAY}) // ${n} - 30`,
    flowEndSeconds: `${T0} + (i * ${DAY}) // ${n}`,
    flowEndReason: '2',
    sourceIP: `s.ipPrefix || so.text`,
    destinationIP: `d.ipPrefix || '7'`,
    sourceTransportPort: `1024 + hash(i + 3) % 60000`,
    destinationTransportPort: `[80, 443, 5432, 6379, 8080][1 + i % 5]`,
    protocolIdentifier: '6',
    packetDeltaCount: 'hash(i + 11) % 100',
    octetDeltaCount: 'hash(i + 13) % 100000',
    reversePacketDeltaCount: 'hash(i + 17) % 100',
    reverseOctetDeltaCount: 'hash(i + 19) % 100000',
    sourcePodName: 's.name',
    sourcePodNamespace: 's.ns',
    sourceNodeName: 's.node',
    destinationPodName: 'd.name',
    destinationPodNamespace: 'd.ns',
    destinationNodeName: 'd.node',
    ingressNetworkPolicyName: `CASE WHEN ${has} THEN pol.name ELSE '' END`,
    ingressNetworkPolicyNamespace: `CASE WHEN ${has} THEN d.ns ELSE '' END`,
    ingressNetworkPolicyRuleAction: `CASE WHEN ${has} THEN 1 ELSE 0 END`,
    tcpState: `'ESTABLISHED'`,
    flowType: `CASE WHEN s.nodeIndex = d.nodeIndex THEN 1 ELSE 2 END`,
    ipVersion: '4',
    sourceIPKey: `s.keyPrefix || so.hex`,
    destinationIPKey: `d.keyPrefix || '07'`,
    correlated: '1',
    sourceIPNet: 's.net',
    destinationIPNet: 'd.net',
  };
  const cols = COLUMNS.map((c) => expr[c.name] ?? (c.kind === 'string' ? "''" : '0'));
  // The per-row numbers first (source Pod, peer, source address octet, policy), then the joins.
  const rows =
    `SELECT i, hash(i) % ${PODS} AS sp, ((hash(i) % ${PODS}) * 7 + hash(i + 7) % ${PEERS}) % ${PODS} AS dp, ` +
    `1 + i % 250 AS octet, hash(i + 23) % ${POLICIES} AS pk FROM range(${from}, ${to}) t(i)`;
  return (
    `SELECT ${cols.join(', ')} FROM (${rows}) r ` +
    `JOIN gen_pods s ON s.p = r.sp JOIN gen_pods d ON d.p = r.dp JOIN gen_octets so ON so.o = r.octet JOIN gen_policies pol ON pol.k = r.pk ` +
    // Rows in time order, as the sink writes them: the row groups' min/max on flowEndSeconds let a time range skip the rest.
    `ORDER BY i`
  );
}

const DASHBOARD: [string, Record<string, string>, (q: FlowQueries, query: FlowQuery) => Promise<unknown>][] = [
  ['flows', {}, (q, x) => q.flows(x)],
  ['flows.namespace', { namespace: 'ns-3' }, (q, x) => q.flows(x)],
  ['top.bytes', { limit: '10' }, (q, x) => q.top(x)],
  ['top.packets', { limit: '10', by: 'packets' }, (q, x) => q.top(x)],
  ['pod-edges', { limit: '100' }, (q, x) => q.podEdges(x)],
  ['node-matrix', { limit: '10000' }, (q, x) => q.nodeMatrix(x)],
  ['policy-edges', { limit: '100' }, (q, x) => q.policyEdges(x)],
  ['throughput', {}, (q, x) => q.throughput(x)],
  ['top.bytes.cidr', { limit: '10', ip: '10.3.0.0/16' }, (q, x) => q.top(x)],
];

/** Bytes per row of FAN_IN inserts of `rows` merged into one compacted segment, and in the DuckDB table of schema 4. */
async function sizesOnDisk(dir: string, rows: AggregatedFlowRecord[]): Promise<Record<string, number>> {
  const segmented = await DuckDbRepository.open(join(dir, 'segments'));
  for (let i = 0; i < FAN_IN; i++) await segmented.insertFlows(rows, T0 + i);
  await segmented.settle();
  const merged = segmented.segmentList().find((s) => s.level === 1);
  await segmented.close();
  const table = await DuckDbRepository.open(join(dir, 'table'), { migrate: false });
  await table.migrateTo(4);
  await table.execute('CHECKPOINT');
  const empty = statSync(join(dir, 'table', 'flows.duckdb')).size;
  for (let i = 0; i < FAN_IN; i++) await table.insertFlows(rows, T0 + i);
  await table.execute('CHECKPOINT');
  const full = statSync(join(dir, 'table', 'flows.duckdb')).size;
  await table.close();
  return {
    compacted_segment_bytes_per_row: merged ? Number((merged.bytes / merged.rows).toFixed(1)) : -1,
    table_bytes_per_row: Number(((full - empty) / (FAN_IN * rows.length)).toFixed(1)),
  };
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

async function dashboardTimes(repo: FlowRepository, ranges: [string, Record<string, string>][], iterations: number): Promise<BenchResult[]> {
  const q = new FlowQueries(repo);
  const results: BenchResult[] = [];
  for (const [rangeName, range] of ranges) {
    for (const [name, params, run] of DASHBOARD) {
      const query = parseFlowQuery({ ...range, ...params }, T0 + DAY);
      await run(q, query); // warm-up
      const times: number[] = [];
      for (let i = 0; i < iterations; i++) {
        const t = process.hrtime.bigint();
        await run(q, query);
        times.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
      const p95 = percentile(times, 95);
      log(`${rangeName} ${name}: p50 ${percentile(times, 50).toFixed(1)} ms, p95 ${p95.toFixed(1)} ms`);
      results.push({ name: `store.query.p95.${rangeName}.${name}`, value: Number(p95.toFixed(1)), unit: 'ms', p50: Number(percentile(times, 50).toFixed(1)), iterations });
    }
  }
  return results;
}

/** Rows per CPU-second of `us` microseconds a row. */
const perCpuSecond = (us: number) => Math.round(1e6 / us);

export const benchmarks: Benchmark[] = [
  {
    // One insert's segment on its own: the main thread reading a 245,760-row batch's columns
    // (encodeRows, into arrays from the pool, as the product does), then the segment thread
    // completing it, grouping its rollup rows and writing the Parquet file (fsync, rename). Then
    // the same rows' size on disk three ways: our segments, a compacted segment (DuckDB snappy,
    // FAN_IN inserts merged), the DuckDB table (schema 4's path, after a CHECKPOINT).
    name: 'store.segment.write',
    async run() {
      const n = 245_760;
      const rows = syntheticRecords(n, 1, 10);
      const dir = mkdtempSync(join(tmpdir(), 'flowvis-bench-'));
      // The arrays come from a pool and go back to it when the thread is done, as in duckdb.ts:
      // fresh arrays cost the main thread 1.8-3.5 µs a row against 0.9-1.2 (H-GRP, session 8).
      const pool = new ArrayPool();
      const writer = new SegmentWriter(undefined, pool);
      try {
        const runs: { main: number; total: number; wall: number; bytes: number }[] = [];
        for (let k = 0; k < 9; k++) {
          const cpu0 = process.cpuUsage();
          const t0 = process.hrtime.bigint();
          const raw = encodeRows(rows, T0, COLUMNS, pool.source());
          const main = process.cpuUsage(cpu0);
          const { stats } = await writer.write(raw, dir, `s${k}.parquet`, `.s${k}.tmp`, true);
          const total = process.cpuUsage(cpu0);
          const wall = Number(process.hrtime.bigint() - t0) / 1e9;
          rmSync(join(dir, `s${k}.parquet`));
          // The first two warm the JIT and the thread.
          if (k >= 2) runs.push({ main: (main.user + main.system) / n, total: (total.user + total.system) / n, wall, bytes: stats.bytes / n });
        }
        const med = (f: (r: (typeof runs)[number]) => number) => percentile(runs.map(f), 50);
        const mainUs = med((r) => r.main);
        const totalUs = med((r) => r.total);
        const sizes = await sizesOnDisk(join(dir, 'sizes'), rows);
        return {
          name: 'store.segment.write',
          value: perCpuSecond(totalUs),
          unit: 'rows per CPU-s',
          main_thread_us_per_row: Number(mainUs.toFixed(2)),
          segment_thread_us_per_row: Number((totalUs - mainUs).toFixed(2)),
          main_thread_rows_per_cpu_second: perCpuSecond(mainUs),
          segment_thread_rows_per_cpu_second: perCpuSecond(totalUs - mainUs),
          wall_rows_per_s: Math.round(n / med((r) => r.wall)),
          rows: n,
          runs: runs.length,
          segment_bytes_per_row: Number(med((r) => r.bytes).toFixed(1)),
          ...sizes,
          load: Number(loadavg()[0].toFixed(1)),
        };
      } finally {
        await writer.close();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  },
  {
    name: 'store.ingest.embedded',
    async run() {
      const dir = mkdtempSync(join(tmpdir(), 'flowvis-bench-'));
      try {
        const { rows, span } = ingestRows();
        const out: { repo: FlowRepository | null } = { repo: null };
        const t = await sinkIngest(() => DuckDbRepository.open(join(dir, 'store')), rows, INGEST_PASSES, out);
        return sinkIngestResult('store.ingest.embedded', t, span, ingestBatch(out.repo));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  },
  {
    name: 'store.ingest.clickhouse',
    async run() {
      const base = process.env.FLOWVIS_BENCH_CLICKHOUSE ?? 'http://127.0.0.1:8123';
      const url = `${base.replace(/\/+$/, '')}/flowvis_bench_${process.pid}`;
      const { rows, span } = ingestRows();
      const direct = await ClickHouseRepository.open(url);
      try {
        await ingest(direct, rows.slice(0, 150_000)); // warm-up
        // The earlier figure: the repository called directly, one insert after another.
        const d = await timedIngest(direct, rows);
        await direct.close();
        const out: { repo: FlowRepository | null } = { repo: null };
        const server0 = await serverCpuSeconds(base);
        const t = await sinkIngest(() => ClickHouseRepository.open(url), rows, INGEST_PASSES, out);
        const serverCpu = (await serverCpuSeconds(base)) - server0;
        // rows_per_cpu_second counts this process only; the server works on the same cores
        // (server_cpu_us_per_row: its query threads, from system.events).
        return sinkIngestResult('store.ingest.clickhouse', t, span, ingestBatch(out.repo), {
          client_cpu_us_per_row: Number(((t.cpu * 1e6) / t.written).toFixed(2)),
          server_cpu_us_per_row: Number(((serverCpu * 1e6) / t.written).toFixed(2)),
          direct_rows_per_s: Math.round(rows.length / d.wall),
          direct_rows_per_cpu_second: Math.round(rows.length / d.cpu),
          server: base,
        });
      } finally {
        await direct.close();
        const t = parseClickHouseUrl(url);
        const c = createClient({ url: t.url });
        await c.command({ query: `DROP DATABASE IF EXISTS ${t.database}` });
        await c.close();
      }
    },
  },
  {
    name: 'store.query.p95',
    async run() {
      const n = Number(process.env.FLOWVIS_BENCH_ROWS ?? 10_000_000);
      const dir = mkdtempSync(join(tmpdir(), 'flowvis-bench-'));
      try {
        const repo = await DuckDbRepository.open(join(dir, 'store'));
        log(`generating ${n} flows in-database...`);
        const t = process.hrtime.bigint();
        // In slices, so progress shows and memory stays flat; each slice is stored as one segment
        // in the form compaction writes (DuckDB's snappy Parquet), as a long-running store holds
        // its rows after compaction (level 2: 64 one-second inserts; docs/store.md).
        for (const sql of GENERATION_TABLES) await repo.execute(sql);
        const slice = 1_000_000;
        for (let off = 0; off < n; off += slice) {
          await repo.storeRowsOf(generationSql(n, off, Math.min(n, off + slice)), 2);
          log(`  ${Math.min(n, off + slice)} / ${n} (${(Number(process.hrtime.bigint() - t) / 1e9).toFixed(1)} s)`);
        }
        const genSeconds = Number(process.hrtime.bigint() - t) / 1e9;
        // The rows were written by SQL, not through insertFlows: compute their rollups once.
        const r = process.hrtime.bigint();
        await repo.rebuildRollups();
        await repo.execute('CHECKPOINT');
        const rollupSeconds = Number(process.hrtime.bigint() - r) / 1e9;
        const [rollupRows] = await repo.select('SELECT CAST(count(*) AS DOUBLE) AS n FROM rollups');
        log(`generated ${await repo.countFlows()} flows in ${genSeconds.toFixed(1)} s; rollups (${rollupRows.n} rows) in ${rollupSeconds.toFixed(1)} s`);
        const results = await dashboardTimes(
          repo,
          [
            ['24h', { from: String(T0), to: String(T0 + DAY) }],
            ['1h', { from: String(T0 + DAY - 3600), to: String(T0 + DAY) }],
          ],
          Number(process.env.FLOWVIS_BENCH_ITERATIONS ?? 10),
        );
        await repo.close();
        return [
          { name: 'store.query.generate', value: Number(genSeconds.toFixed(1)), unit: 's', rows: n },
          { name: 'store.query.rollups', value: Number(rollupSeconds.toFixed(1)), unit: 's', rollupRows: rollupRows.n },
          ...results,
        ];
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  },
  {
    name: 'store.choice',
    async run() {
      const modulePath = process.env.FLOWVIS_BENCH_SQLITE_MODULE ?? 'better-sqlite3';
      let Database: new (path: string) => {
        pragma(s: string): unknown;
        exec(s: string): void;
        prepare(s: string): { run(...a: unknown[]): unknown; all(): unknown[] };
        transaction(fn: () => void): () => void;
        close(): void;
      };
      try {
        Database = ((await import(modulePath)) as { default: typeof Database }).default;
      } catch (err) {
        throw new Error(`better-sqlite3 is not installed (${(err as Error).message}); set FLOWVIS_BENCH_SQLITE_MODULE to its path (docs/store.md, "Choosing the embedded engine")`);
      }
      const n = Number(process.env.FLOWVIS_BENCH_CHOICE_ROWS ?? 1_000_000);
      const dir = mkdtempSync(join(tmpdir(), 'flowvis-bench-'));
      const results: BenchResult[] = [];
      try {
        const rows = syntheticRecords(n);
        // DuckDB
        const duck = await DuckDbRepository.open(join(dir, 'duck'));
        const duckS = await ingest(duck, rows);
        results.push({ name: 'store.choice.duckdb.ingest', value: Math.round(n / duckS), unit: 'rows/s', rows: n });
        // SQLite: the same columns, WAL, one prepared INSERT per row in a transaction per batch.
        const db = new Database(join(dir, 'flows.sqlite'));
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = NORMAL');
        db.exec(`CREATE TABLE flows (${COLUMNS.map((c) => `${c.name} ${c.kind === 'string' ? 'TEXT' : 'INTEGER'} NOT NULL`).join(', ')})`);
        db.exec('CREATE INDEX flows_end ON flows (flowEndSeconds)');
        const insert = db.prepare(`INSERT INTO flows VALUES (${COLUMNS.map(() => '?').join(', ')})`);
        const t = process.hrtime.bigint();
        for (let off = 0; off < n; off += 50_000) {
          const batch = rows.slice(off, off + 50_000);
          db.transaction(() => {
            for (const r of batch) insert.run(...COLUMNS.map((c) => c.value(r, T0)));
          })();
        }
        const sqliteS = Number(process.hrtime.bigint() - t) / 1e9;
        results.push({ name: 'store.choice.sqlite.ingest', value: Math.round(n / sqliteS), unit: 'rows/s', rows: n });
        // The same dashboard SQL on both (SQLite spells the bucket with / and CAST).
        const sqliteRunner = {
          dialect: { ...duck.dialect, bucket: (c: string, s: number) => `(${c} / ${s}) * ${s}` },
          select: async (sql: string) => db.prepare(sql).all() as Record<string, unknown>[],
        };
        db.exec('CREATE TABLE counter_snapshots (takenAt INTEGER, instance TEXT, recordsDropped INTEGER, recordsLost INTEGER, storeDropped INTEGER)');
        const query = parseFlowQuery({ from: String(T0), to: String(T0 + DAY) }, T0 + DAY);
        for (const [name, params, run] of DASHBOARD) {
          const x = { ...query, ...parseFlowQuery({ from: String(T0), to: String(T0 + DAY), ...params }, T0 + DAY) };
          for (const [engine, runner] of [['duckdb', duck], ['sqlite', sqliteRunner]] as const) {
            const qs = new FlowQueries(runner);
            await run(qs, x);
            const times: number[] = [];
            for (let i = 0; i < 5; i++) {
              const t1 = process.hrtime.bigint();
              await run(qs, x);
              times.push(Number(process.hrtime.bigint() - t1) / 1e6);
            }
            const med = percentile(times, 50);
            log(`choice ${engine} ${name}: median ${med.toFixed(1)} ms over ${n} rows`);
            results.push({ name: `store.choice.${engine}.${name}`, value: Number(med.toFixed(1)), unit: 'ms (median)', rows: n });
          }
        }
        db.close();
        await duck.close();
        return results;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  },
];

