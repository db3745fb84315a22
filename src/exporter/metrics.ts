// Prometheus metrics of the Flow Exporter, on their own registry (never prom-client's global
// one), served as text at GET /metrics. The reference's four connection metrics keep their
// Antrea names; the rest are ours, prefixed flowvis_exporter_.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ExporterError } from './errors.js';

/** Values the metrics read at scrape time. Each returns undefined when it is not known. */
export interface MetricsSources {
  /** Connections in the whole conntrack table (nf_conntrack_count). */
  conntrackTotal(): number | undefined;
  /** Connections the exporter considers (after the zone filter), as of the last dump. */
  conntrackConsidered(): number | undefined;
  /** nf_conntrack_max. */
  conntrackMax(): number | undefined;
  storeConnections(): number;
  /** Cumulative counters of the exporting process; undefined before it exists. */
  exportingProcess():
    | { recordsSent: number; recordsDropped: number; recordsQueued: number; reconnects: number; connected: boolean }
    | undefined;
  /** The state file (restarts): connections continued from it and saved ones dropped as stale; writes that failed. */
  state?(): { restored: number; discarded: number; writeErrors: number } | undefined;
}

/** Reads one integer from a procfs file, or undefined (no conntrack module, no permission). */
export function readProcInteger(path: string): number | undefined {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isSafeInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** An unknown value is exported as NaN (the text format's "no value"), never as an invented 0. */
function setFrom(g: Gauge, v: number | undefined): void {
  g.set(v ?? NaN);
}

/** A counter whose value is a cumulative count kept elsewhere. */
function mirrorCounter(registry: Registry, name: string, help: string, read: () => number | undefined): Counter {
  return new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const v = read();
      this.reset();
      if (v !== undefined && v > 0) this.inc(v);
    },
  });
}

export class ExporterMetrics {
  readonly registry = new Registry();
  readonly pollDuration: Histogram;
  readonly pollErrors: Counter;
  readonly recordsExported: Counter<'flowEndReason'>;
  /** Records lost before the exporting process: bad entries, unbuildable records. */
  readonly recordsDropped: Counter<'cause'>;
  readonly evictions: Counter;
  readonly eventOverflows: Counter;
  readonly deniedConnections: Gauge;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    new Gauge({
      name: 'antrea_agent_conntrack_total_connection_count',
      help: 'Number of connections in the conntrack table.',
      registers,
      collect() {
        setFrom(this, sources.conntrackTotal());
      },
    });
    new Gauge({
      name: 'antrea_agent_conntrack_antrea_connection_count',
      help: 'Number of connections in the conntrack table that the exporter considers (zone filter applied).',
      registers,
      collect() {
        setFrom(this, sources.conntrackConsidered());
      },
    });
    this.deniedConnections = new Gauge({
      name: 'antrea_agent_denied_connection_count',
      help: 'Number of denied connections detected by the exporter (NFLOG), since start.',
      registers,
    });
    new Gauge({
      name: 'antrea_agent_conntrack_max_connection_count',
      help: 'Size of the conntrack table (nf_conntrack_max).',
      registers,
      collect() {
        setFrom(this, sources.conntrackMax());
      },
    });
    new Gauge({
      name: 'flowvis_exporter_store_connections',
      help: 'Connections in the connection store, tombstones included.',
      registers,
      collect() {
        this.set(sources.storeConnections());
      },
    });
    new Gauge({
      name: 'flowvis_exporter_collector_connected',
      help: '1 while the exporting process is connected to the collector.',
      registers,
      collect() {
        setFrom(this, (() => {
          const s = sources.exportingProcess();
          return s === undefined ? undefined : Number(s.connected);
        })());
      },
    });
    new Gauge({
      name: 'flowvis_exporter_records_queued',
      help: 'Records waiting in the exporting process queue.',
      registers,
      collect() {
        setFrom(this, sources.exportingProcess()?.recordsQueued);
      },
    });
    mirrorCounter(this.registry, 'flowvis_exporter_records_sent_total', 'Records handed to the collector connection.', () => sources.exportingProcess()?.recordsSent);
    mirrorCounter(
      this.registry,
      'flowvis_exporter_records_lost_total',
      'Records the exporting process dropped: queue full while the collector was unreachable, or not encodable.',
      () => sources.exportingProcess()?.recordsDropped,
    );
    mirrorCounter(this.registry, 'flowvis_exporter_reconnections_total', 'Reconnections to the collector.', () => sources.exportingProcess()?.reconnects);
    mirrorCounter(this.registry, 'flowvis_exporter_state_restored_total', 'Open connections that continued their deltas from the state file at start.', () => sources.state?.()?.restored);
    mirrorCounter(
      this.registry,
      'flowvis_exporter_state_discarded_total',
      'Saved connections not used at start: ended meanwhile, or their tuple now belongs to another kernel connection.',
      () => sources.state?.()?.discarded,
    );
    mirrorCounter(this.registry, 'flowvis_exporter_state_write_errors_total', 'State file writes that failed.', () => sources.state?.()?.writeErrors);
    this.pollDuration = new Histogram({
      name: 'flowvis_exporter_poll_duration_seconds',
      help: 'Duration of one conntrack poll: dump, store update, expiry and record building.',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.pollErrors = new Counter({ name: 'flowvis_exporter_poll_errors_total', help: 'Conntrack polls that failed.', registers });
    this.recordsExported = new Counter({
      name: 'flowvis_exporter_records_exported_total',
      help: 'Flow records handed to the exporting process, by flowEndReason (1 idle, 2 active, 3 end of flow, 4 forced end, 5 lack of resources).',
      labelNames: ['flowEndReason'],
      registers,
    });
    this.recordsDropped = new Counter({
      name: 'flowvis_exporter_records_dropped_total',
      help: 'Conntrack entries or records dropped before export, by cause.',
      labelNames: ['cause'],
      registers,
    });
    this.evictions = new Counter({
      name: 'flowvis_exporter_evictions_total',
      help: 'Connections evicted from the full store (exported with flowEndReason 5).',
      registers,
    });
    this.eventOverflows = new Counter({
      name: 'flowvis_exporter_event_overflows_total',
      help: 'Conntrack event overflows (ENOBUFS); the next dump repairs the store.',
      registers,
    });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

/** Serves GET /metrics (Prometheus text) and GET /healthz. Resolves once listening. */
export async function serveMetrics(metrics: ExporterMetrics, host: string, port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; try /metrics\n');
      return;
    }
    metrics.text().then(
      (body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(new ExporterError('EXPORTER_ERR_METRICS_LISTEN', `metrics endpoint ${host}:${port}: ${err.message}`, { cause: err }));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  return server;
}

export function serverPort(server: http.Server): number {
  return (server.address() as AddressInfo).port;
}
