// The aggregator's HTTP API, like Antrea's flow-aggregator API (port 10348):
//   GET /flowrecords    tracked flows, filtered by 5-tuple fields, Pod, namespace, policy
//   GET /recordmetrics  records received, exported, dropped, correlated, pending; connections per exporter
//   GET /metrics        the same numbers for Prometheus, and the flow store's health (store/health.ts)
// Bad query parameters get 400 with a message that says what to write.
import Fastify, { type FastifyInstance } from 'fastify';
import { Counter, Gauge, Registry } from 'prom-client';
import { isIP } from 'node:net';
import type { AggregatedFlowRecord } from '../flow/record.js';
import type { StoreSinkStats } from '../sinks/store-sink.js';
import { STORE_JOBS, type StoreHealth } from '../store/health.js';
import type { FlowRepository } from '../store/repository.js';
import { AggregatorError } from './errors.js';
import type { RecordMetrics } from './service.js';

export const DEFAULT_RECORD_LIMIT = 1000;
export const MAX_RECORD_LIMIT = 100_000;

/** What the API needs from the aggregator (FlowAggregator implements it). */
export interface AggregatorQuerier {
  records(filter?: (r: AggregatedFlowRecord) => boolean, limit?: number): AggregatedFlowRecord[];
  metrics(): RecordMetrics;
  /** The flow store, once the storage sink has opened it (its health() feeds the flowvis_store_* metrics). */
  storeRepository?(): FlowRepository | null;
  /** The storage sink's own numbers (its pending buffer, drops, failed commits); null without a store. */
  storeSinkStats?(): StoreSinkStats | null;
}

/** A label value for an error text: its first line, at most this many characters. */
const ERROR_LABEL_CHARS = 200;

function errorLabel(message: string): string {
  const line = message.split('\n', 1)[0];
  return line.length > ERROR_LABEL_CHARS ? `${line.slice(0, ERROR_LABEL_CHARS - 3)}...` : line;
}

const PROTOCOLS = new Map<string, number>([
  ['icmp', 1],
  ['tcp', 6],
  ['udp', 17],
  ['icmpv6', 58],
  ['sctp', 132],
]);

/** Query parameter -> canonical filter name; the short names are Antrea's (antctl get flowrecords). */
const PARAMS: Record<string, string> = {
  sourceAddress: 'sourceAddress',
  srcIP: 'sourceAddress',
  destinationAddress: 'destinationAddress',
  dstIP: 'destinationAddress',
  destIP: 'destinationAddress',
  sourceTransportPort: 'sourceTransportPort',
  srcPort: 'sourceTransportPort',
  destinationTransportPort: 'destinationTransportPort',
  dstPort: 'destinationTransportPort',
  destPort: 'destinationTransportPort',
  protocolIdentifier: 'protocolIdentifier',
  protocol: 'protocolIdentifier',
  proto: 'protocolIdentifier',
  sourcePodName: 'sourcePodName',
  sourcePodNamespace: 'sourcePodNamespace',
  destinationPodName: 'destinationPodName',
  destinationPodNamespace: 'destinationPodNamespace',
  pod: 'pod',
  namespace: 'namespace',
  policy: 'policy',
  correlated: 'correlated',
  limit: 'limit',
};

export interface FlowRecordQuery {
  filter: (r: AggregatedFlowRecord) => boolean;
  limit: number;
}

function bad(message: string): never {
  throw new AggregatorError('AGG_ERR_INVALID_QUERY', message);
}

function port(name: string, v: string): number {
  if (!/^\d{1,5}$/.test(v) || Number(v) > 65535) bad(`${name}=${v} is not a port; write a number from 0 to 65535`);
  return Number(v);
}

/** "name" or "namespace/name". */
function splitRef(name: string, v: string): { namespace: string | null; name: string } {
  const parts = v.split('/');
  if (v === '' || parts.length > 2 || parts.some((p) => p === '')) bad(`${name}=${v} is not valid; write a name or namespace/name, e.g. ${name}=web or ${name}=shop/web`);
  return parts.length === 2 ? { namespace: parts[0], name: parts[1] } : { namespace: null, name: parts[0] };
}

/** Parses /flowrecords query parameters into a predicate; throws AGG_ERR_INVALID_QUERY. */
export function parseFlowRecordQuery(query: Record<string, unknown>): FlowRecordQuery {
  const checks: ((r: AggregatedFlowRecord) => boolean)[] = [];
  let limit = DEFAULT_RECORD_LIMIT;
  for (const [param, raw] of Object.entries(query)) {
    const key = PARAMS[param];
    if (key === undefined) bad(`unknown query parameter "${param}"; use one of ${Object.keys(PARAMS).join(', ')}`);
    if (typeof raw !== 'string') bad(`query parameter "${param}" is given more than once; give it once`);
    const v = raw.trim();
    switch (key) {
      case 'sourceAddress':
      case 'destinationAddress': {
        if (isIP(v) === 0) bad(`${param}=${v} is not an IP address; write e.g. ${param}=10.10.0.5 or ${param}=fd00::5`);
        const field = key;
        checks.push((r) => r[field] === v);
        break;
      }
      case 'sourceTransportPort':
      case 'destinationTransportPort': {
        const p = port(param, v);
        const field = key;
        checks.push((r) => r[field] === p);
        break;
      }
      case 'protocolIdentifier': {
        const named = PROTOCOLS.get(v.toLowerCase());
        if (named === undefined && (!/^\d{1,3}$/.test(v) || Number(v) > 255)) {
          bad(`${param}=${v} is not a protocol; write a number from 0 to 255 or one of ${[...PROTOCOLS.keys()].join(', ')}`);
        }
        const p = named ?? Number(v);
        checks.push((r) => r.protocolIdentifier === p);
        break;
      }
      case 'sourcePodName':
      case 'sourcePodNamespace':
      case 'destinationPodName':
      case 'destinationPodNamespace': {
        if (v === '') bad(`${param} is empty; write a name`);
        const field = key;
        checks.push((r) => r[field] === v);
        break;
      }
      case 'pod': {
        const ref = splitRef(param, v);
        checks.push(
          (r) =>
            (r.sourcePodName === ref.name && (ref.namespace === null || r.sourcePodNamespace === ref.namespace)) ||
            (r.destinationPodName === ref.name && (ref.namespace === null || r.destinationPodNamespace === ref.namespace)),
        );
        break;
      }
      case 'namespace': {
        if (v === '' || v.includes('/')) bad(`${param}=${v} is not a namespace; write e.g. namespace=shop`);
        checks.push((r) => r.sourcePodNamespace === v || r.destinationPodNamespace === v);
        break;
      }
      case 'policy': {
        const ref = splitRef(param, v);
        checks.push(
          (r) =>
            (r.ingressNetworkPolicyName === ref.name && (ref.namespace === null || r.ingressNetworkPolicyNamespace === ref.namespace)) ||
            (r.egressNetworkPolicyName === ref.name && (ref.namespace === null || r.egressNetworkPolicyNamespace === ref.namespace)),
        );
        break;
      }
      case 'correlated': {
        if (v !== 'true' && v !== 'false') bad(`${param}=${v} is not valid; write correlated=true or correlated=false`);
        const want = v === 'true';
        checks.push((r) => r.correlated === want);
        break;
      }
      case 'limit': {
        if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > MAX_RECORD_LIMIT) bad(`limit=${v} is not valid; write a number from 1 to ${MAX_RECORD_LIMIT}`);
        limit = Number(v);
        break;
      }
    }
  }
  return { filter: (r) => checks.every((c) => c(r)), limit };
}

/** A Prometheus registry whose values are read from the aggregator at scrape time. */
export function aggregatorRegistry(querier: AggregatorQuerier): Registry {
  const registry = new Registry();
  let snapshot: RecordMetrics | undefined;
  const read = () => (snapshot ??= querier.metrics());
  let health: StoreHealthOf | null = null;
  let storeSink: StoreSinkStats | null = null;
  const total = (name: string, help: string, value: (m: RecordMetrics) => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(value(read()));
      },
    });
  const gauge = (name: string, help: string, value: (m: RecordMetrics) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(value(read()));
      },
    });
  // The first collector takes a fresh snapshot; all read the same one.
  new Gauge({
    name: 'flowvis_aggregator_up',
    help: 'Always 1 while the aggregator serves metrics.',
    registers: [registry],
    collect() {
      snapshot = querier.metrics();
      const repo = querier.storeRepository?.() ?? null;
      health = repo?.health ? { store: repo.location, health: repo.health() } : null;
      storeSink = querier.storeSinkStats?.() ?? null;
      this.set(1);
    },
  });
  total('flowvis_aggregator_records_received_total', 'Flow records received from exporters.', (m) => m.recordsReceived);
  total('flowvis_aggregator_records_exported_total', 'Aggregated records exported to the sinks.', (m) => m.recordsExported);
  total('flowvis_aggregator_records_dropped_total', 'Records lost: invalid, collecting queue full, sink buffer full/failed, or dropped by the IPFIX exporting process.', (m) => m.recordsDropped);
  total('flowvis_aggregator_flows_correlated_total', 'Inter-node flows whose two halves were correlated.', (m) => m.flowsCorrelated);
  total('flowvis_aggregator_uncorrelated_exported_total', 'Exports of an inter-node half without its partner.', (m) => m.uncorrelatedExported);
  total('flowvis_aggregator_evictions_total', 'Flows exported and evicted because the table was full.', (m) => m.evictions);
  total('flowvis_aggregator_counter_resets_total', 'Tracked 5-tuples whose totals went down with a new start: a new connection.', (m) => m.aggregation?.counterResets ?? 0);
  total('flowvis_aggregator_stale_records_total', 'Records with totals below the tracked ones and the same start (restarted exporter): not re-counted.', (m) => m.aggregation?.staleRecords ?? 0);
  gauge('flowvis_aggregator_pending_correlation', 'Inter-node halves waiting for their partner.', (m) => m.pendingCorrelation);
  gauge('flowvis_aggregator_flows_tracked', 'Flows in the aggregation table.', (m) => m.flowsTracked);
  const perExporter = new Gauge({
    name: 'flowvis_aggregator_exporter_connections',
    help: 'Open transport sessions per exporter address.',
    labelNames: ['exporter'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [exporter, n] of Object.entries(read().connectionsPerExporter)) this.set({ exporter }, n);
    },
  });
  void perExporter;
  const sinkDropped = new Counter({
    name: 'flowvis_aggregator_sink_records_dropped_total',
    help: 'Records a sink lost: its buffer was full or a write failed.',
    labelNames: ['sink'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of read().sinks) this.inc({ sink: s.sink }, s.droppedBufferFull + s.failed);
    },
  });
  void sinkDropped;
  storeMetrics(registry, () => health, () => storeSink);
  return registry;
}

/** A repository's health and where the store is (the `store` label of the flowvis_store_* series). */
interface StoreHealthOf {
  store: string;
  health: StoreHealth;
}

/**
 * The flow store's metrics: the storage sink's buffer and the repository's background jobs
 * (docs/store.md, "Health and metrics"). Series appear once the store is open; an engine without
 * health() (ClickHouse) shows the sink's only.
 */
function storeMetrics(registry: Registry, read: () => StoreHealthOf | null, sink: () => StoreSinkStats | null): void {
  const sinkTotal = (name: string, help: string, value: (s: StoreSinkStats) => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        const s = sink();
        if (s) this.inc(value(s));
      },
    });
  sinkTotal('flowvis_aggregator_store_records_dropped_total', 'Records the storage sink dropped because its pending buffer (store.bufferSize) was full.', (s) => s.dropped);
  sinkTotal('flowvis_aggregator_store_failed_commits_total', 'Storage sink commits that failed (their records stayed pending and were retried).', (s) => s.failedCommits);
  sinkTotal('flowvis_aggregator_store_retained_flows_total', 'Flow rows retention deleted from the store (they ended before now minus store.retention).', (s) => s.retainedFlows);
  new Gauge({
    name: 'flowvis_aggregator_store_records_pending',
    help: 'Records the storage sink holds: queued, or in inserts not yet answered.',
    registers: [registry],
    collect() {
      this.reset();
      const s = sink();
      if (s) this.set(s.pending);
    },
  });
  new Counter({
    name: 'flowvis_store_job_failures_total',
    help: 'Failed runs of the store\'s background jobs since it opened (fold: rollup files into rollup_rows; compaction: segments merged; rollupCompaction: rollup rows re-aggregated). Nothing is lost; the job is retried after the next insert.',
    labelNames: ['store', 'job'],
    registers: [registry],
    collect() {
      this.reset();
      const h = read();
      if (h) for (const job of STORE_JOBS) this.inc({ store: h.store, job }, h.health.jobs[job].failures);
    },
  });
  /** A gauge of the repository's health, labelled with the store; absent until the store is open. */
  const healthGauge = (name: string, help: string, labelNames: string[], fill: (g: Gauge<string>, h: StoreHealthOf) => void) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        const h = read();
        if (h) fill(this, h);
      },
    });
  healthGauge('flowvis_store_job_consecutive_failures', 'Failed runs of a background job since its last success: 0 while it works.', ['store', 'job'], (g, h) => {
    for (const job of STORE_JOBS) g.set({ store: h.store, job }, h.health.jobs[job].consecutiveFailures);
  });
  healthGauge(
    'flowvis_store_job_last_error',
    'Always 1, present while a background job fails; the error label has the last error (first line, 200 characters at most).',
    ['store', 'job', 'error'],
    (g, h) => {
      for (const job of STORE_JOBS) if (h.health.jobs[job].lastError !== '') g.set({ store: h.store, job, error: errorLabel(h.health.jobs[job].lastError) }, 1);
    },
  );
  healthGauge('flowvis_store_rollup_files_waiting', 'Rollup files committed by inserts and not folded into rollup_rows yet (a fold starts at 8).', ['store'], (g, h) =>
    g.set({ store: h.store }, h.health.rollupFilesWaiting),
  );
  healthGauge('flowvis_store_segments', 'Committed Parquet segments per compaction level (8 of a level are merged into one of the next).', ['store', 'level'], (g, h) =>
    h.health.segmentsPerLevel.forEach((n, level) => g.set({ store: h.store, level: String(level) }, n)),
  );
  healthGauge('flowvis_store_file_bytes', 'Bytes of the committed segments and rollup files.', ['store'], (g, h) => g.set({ store: h.store }, h.health.fileBytes));
}

/** Builds (does not listen) the Fastify app. */
export function buildAggregatorApi(querier: AggregatorQuerier): FastifyInstance {
  const app = Fastify({ logger: false });
  const registry = aggregatorRegistry(querier);
  app.setErrorHandler((err, _req, reply) => {
    if (err instanceof AggregatorError && err.code === 'AGG_ERR_INVALID_QUERY') {
      void reply.code(400).send({ error: err.code, message: err.message });
      return;
    }
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    void reply.code(status).send({ error: status >= 500 ? "internal" : "bad_request", message: err instanceof Error ? err.message : String(err) });
  });
  app.get('/flowrecords', async (req) => {
    const q = parseFlowRecordQuery(req.query as Record<string, unknown>);
    const flowRecords = querier.records(q.filter, q.limit);
    return { count: flowRecords.length, flowRecords };
  });
  app.get('/recordmetrics', async () => querier.metrics());
  app.get('/metrics', async (_req, reply) => {
    const body = await registry.metrics();
    void reply.header('content-type', registry.contentType);
    return body;
  });
  return app;
}
