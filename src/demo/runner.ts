// `flowvis demo`: the Flow Aggregator with its embedded store and HTTP API/UI, fed by simulated
// Node exporters that send real IPFIX over loopback TCP. Nothing here needs root.
//
//   ClusterSimulator --FlowRecords per Node, every window--> SimulatedNodeExporter (one per Node,
//   its own observation domain) --IPFIX/TCP 127.0.0.1:4739--> FlowAggregator (correlation,
//   aggregation) --> store sink (DuckDB in <dataDir>/store) --> /api/v1/... and the UI on :10348
//
// At start the last hours are backfilled quickly (windows from the backfill start, or from the
// newest stored flow when the data directory already holds a run, so history is not doubled);
// then one window is simulated and exported at the end of every real window.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { parseAggregatorConfig, type AggregatorConfig } from '../aggregator/config.js';
import { FlowAggregator, type AggregatorLogger } from '../aggregator/service.js';
import { buildAggregatorApi } from '../aggregator/api.js';
import { registerStoreRoutes } from '../api/store-api.js';
import { registerUiRoutes, UI_PREFIX } from '../api/ui-routes.js';
import { openRepository } from '../store/repository.js';
import type { FlowRecord } from '../flow/record.js';
import { systemClock, type Clock } from '../util/clock.js';
import { parseDuration } from '../util/duration.js';
import { buildCluster, MAX_NODES, MIN_NODES, type SimCluster } from './cluster.js';
import { DemoError } from './errors.js';
import { SimulatedNodeExporter } from './node-exporter.js';
import { ClusterSimulator, type SimulatorStats } from './simulator.js';
import { portCycleWindows } from './traffic.js';

export interface DemoOptions {
  /** Simulated Nodes; default 3. */
  nodes?: number;
  /** Seed of the cluster and its traffic; default 1. */
  seed?: number;
  /** Where the store lives; default ./.flowvis/demo. */
  dataDir?: string;
  /** API and UI address; default 127.0.0.1:10348 (port 0: any free port). */
  listen?: string;
  /** The aggregator's IPFIX collecting address (TCP); default 127.0.0.1:4739. */
  collect?: string;
  /** Multiplies the connection rate of every conversation; default 1. */
  rate?: number;
  /** How much history to backfill at start, e.g. "6h"; "0" for none; default 3h. */
  backfill?: string;
  /** Simulated exporters' active timeout (one window); default 5s. */
  window?: string;
  /** Time zone of the simulated cluster, minutes east of UTC; default this machine's. */
  utcOffsetMinutes?: number;
  clock?: Clock;
  logger?: AggregatorLogger;
}

export interface ResolvedDemoOptions {
  readonly nodes: number;
  readonly seed: number;
  readonly dataDir: string;
  readonly listen: { readonly host: string; readonly port: number };
  readonly collect: { readonly host: string; readonly port: number };
  readonly rate: number;
  readonly backfillMs: number;
  readonly windowMs: number;
  readonly utcOffsetMinutes: number;
}

/** Windows the live loop replays after a stall before it skips to now. */
const MAX_CATCH_UP_WINDOWS = 120;
/** Active records of the backfill are exported once a minute (12 windows of 5 s). */
const BACKFILL_ACTIVE_REPORT_MS = 60_000;

function invalid(message: string): never {
  throw new DemoError('DEMO_ERR_INVALID_OPTION', message);
}

function hostPort(name: string, text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+|localhost)):(\d{1,5})$/.exec(text.trim());
  if (!m || Number(m[3]) > 65535) invalid(`${name} "${text}" is not HOST:PORT; write e.g. "127.0.0.1:10348" or "[::1]:10348" (port 0 picks a free port)`);
  const host = m[1] ?? m[2];
  return { host: host === 'localhost' ? '127.0.0.1' : host, port: Number(m[3]) };
}

function durationOption(name: string, text: string, example: string): number {
  try {
    const ms = parseDuration(text);
    if (ms < 0) throw new Error('negative');
    return ms;
  } catch {
    invalid(`${name} "${text}" is not a duration; write e.g. "${example}"`);
  }
}

/** Checks the options once; the messages say what to write instead. */
export function resolveDemoOptions(o: DemoOptions = {}): ResolvedDemoOptions {
  const nodes = o.nodes ?? 3;
  if (!Number.isInteger(nodes) || nodes < MIN_NODES || nodes > MAX_NODES) invalid(`nodes must be a whole number from ${MIN_NODES} to ${MAX_NODES}, got ${String(o.nodes)}`);
  const seed = o.seed ?? 1;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) invalid(`seed must be a whole number from 0 to 4294967295, got ${String(o.seed)}`);
  const rate = o.rate ?? 1;
  if (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0 || rate > 100) invalid(`rate must be a number above 0 and at most 100 (a multiplier of the default traffic), got ${String(o.rate)}`);
  const windowMs = durationOption('window', o.window ?? '5s', '5s');
  if (windowMs < 1000 || windowMs > 60_000 || windowMs % 1000 !== 0) invalid(`window must be whole seconds from 1s to 60s, got "${o.window}"`);
  const backfillMs = durationOption('backfill', o.backfill ?? '3h', '6h');
  // The backfill reaches the aggregator within seconds, so its flows must not share 5-tuples.
  const cycleMs = portCycleWindows(rate) * windowMs;
  if (backfillMs > cycleMs) {
    invalid(`backfill "${o.backfill}" is longer than ${(cycleMs / 3_600_000).toFixed(1)}h: at rate ${rate} simulated Pods would reuse ephemeral ports within it; write a shorter duration, a longer window or a lower rate`);
  }
  const utcOffsetMinutes = o.utcOffsetMinutes ?? -new Date().getTimezoneOffset();
  if (!Number.isInteger(utcOffsetMinutes) || Math.abs(utcOffsetMinutes) > 14 * 60) invalid(`utcOffsetMinutes must be whole minutes within ±840, got ${String(o.utcOffsetMinutes)}`);
  return Object.freeze({
    nodes,
    seed,
    dataDir: resolve(o.dataDir ?? '.flowvis/demo'),
    listen: Object.freeze(hostPort('listen', o.listen ?? '127.0.0.1:10348')),
    collect: Object.freeze(hostPort('collect', o.collect ?? '127.0.0.1:4739')),
    rate,
    backfillMs,
    windowMs,
    utcOffsetMinutes,
  });
}

/** The aggregator of the demo: TCP on loopback, short timeouts so that the dashboards move, the store as sink. */
export function demoAggregatorConfig(o: ResolvedDemoOptions): AggregatorConfig {
  const parsed = parseAggregatorConfig({
    aggregatorTransportProtocol: 'tcp',
    listenAddress: o.collect.host,
    listenPort: o.collect.port,
    flowExportInterval: `${o.windowMs / 1000}s`,
    inactiveFlowRecordTimeout: `${(3 * o.windowMs) / 1000}s`,
    correlationWait: `${o.windowMs / 1000}s`,
    sinks: ['log'],
    apiAddress: '',
    store: { url: join(o.dataDir, 'store'), commitInterval: '1s', retention: '168h' },
  });
  // The store is the demo's only sink; the config file format insists on an export sink
  // (ipfix or log), which would only print or forward every record here.
  return Object.freeze({ ...parsed, sinks: Object.freeze([]) as AggregatorConfig['sinks'] });
}

export interface DemoStatus {
  readonly url: string;
  readonly collector: { address: string; port: number };
  readonly cluster: SimCluster;
  readonly backfill: { fromMs: number; toMs: number; windows: number; records: number };
  readonly simulator: SimulatorStats;
  readonly exporters: { node: string; observationDomainId: number; recordsAccepted: number; recordsSent: number; recordsDropped: number; connected: boolean }[];
}

export class DemoRunner {
  readonly options: ResolvedDemoOptions;
  readonly cluster: SimCluster;
  readonly simulator: ClusterSimulator;
  private readonly clock: Clock;
  private aggregator: FlowAggregator | null = null;
  private api: FastifyInstance | null = null;
  private exporters: SimulatedNodeExporter[] = [];
  private timer: NodeJS.Timeout | null = null;
  private nextWindow = 0;
  private stopping = false;
  private backfillInfo = { fromMs: 0, toMs: 0, windows: 0, records: 0 };
  private url = '';

  constructor(private readonly input: DemoOptions = {}) {
    this.options = resolveDemoOptions(input);
    this.clock = input.clock ?? systemClock;
    this.cluster = buildCluster({ seed: this.options.seed, nodes: this.options.nodes });
    this.simulator = new ClusterSimulator(this.cluster, {
      seed: this.options.seed,
      rate: this.options.rate,
      utcOffsetMinutes: this.options.utcOffsetMinutes,
      windowMs: this.options.windowMs,
    });
  }

  /** Starts the store, the aggregator, the API and UI and the exporters, backfills, then runs live. Returns the UI's URL. */
  async start(onProgress: (line: string) => void = () => {}): Promise<string> {
    const o = this.options;
    try {
      mkdirSync(o.dataDir, { recursive: true });
    } catch (err) {
      throw new DemoError('DEMO_ERR_START', `cannot create the data directory ${o.dataDir}: ${(err as Error).message}; pass --data-dir with a writable directory`, { cause: err });
    }
    const newestStored = await this.newestStoredSecond();
    const config = demoAggregatorConfig(o);
    const aggregator = new FlowAggregator(config, { clock: this.clock, ...(this.input.logger ? { logger: this.input.logger } : {}) });
    try {
      await aggregator.start();
    } catch (err) {
      await aggregator.stop().catch(() => {});
      throw new DemoError('DEMO_ERR_START', `the aggregator cannot listen on ${o.collect.host}:${o.collect.port}: ${(err as Error).message}; pass --collect with a free port`, { cause: err });
    }
    this.aggregator = aggregator;
    const api = buildAggregatorApi(aggregator);
    await registerStoreRoutes(api, { repository: () => aggregator.storeRepository(), clock: this.clock });
    await registerUiRoutes(api, { repository: () => aggregator.storeRepository(), clock: this.clock });
    api.get('/api/v1/demo', async () => this.describe());
    try {
      await api.listen({ host: o.listen.host, port: o.listen.port });
    } catch (err) {
      await this.stop();
      throw new DemoError('DEMO_ERR_START', `the API/UI server cannot listen on ${o.listen.host}:${o.listen.port}: ${(err as Error).message}; pass --listen with a free port`, { cause: err });
    }
    this.api = api;
    const address = api.server.address();
    const port = typeof address === 'object' && address ? address.port : o.listen.port;
    this.url = `http://${o.listen.host.includes(':') ? `[${o.listen.host}]` : o.listen.host}:${port}${UI_PREFIX}/`;

    const collector = aggregator.collectorAddress();
    this.exporters = this.cluster.nodes.map((n) => new SimulatedNodeExporter({ nodeName: n.name, host: o.collect.host, port: collector.port }));
    for (const e of this.exporters) e.start();

    const now = this.clock.now();
    let from = now - o.backfillMs;
    if (newestStored !== null) from = Math.max(from, (newestStored + 1) * 1000);
    this.nextWindow = this.simulator.windowOf(from);
    await this.backfill(this.simulator.windowOf(now), onProgress);
    if (!this.stopping) this.scheduleNext();
    return this.url;
  }

  /** Stops the exporters (their queued records leave first), then the aggregator (it exports what it tracks into the store) and the server. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await Promise.all(this.exporters.map((e) => e.close()));
    if (this.aggregator) {
      await this.waitForAggregator(5000);
      await this.aggregator.stop();
    }
    await this.api?.close();
    this.aggregator = null;
    this.api = null;
  }

  get aggregatorService(): FlowAggregator | null {
    return this.aggregator;
  }

  status(): DemoStatus {
    const collector = this.aggregator?.collectorAddress() ?? { address: this.options.collect.host, port: this.options.collect.port };
    return {
      url: this.url,
      collector: { address: collector.address, port: collector.port },
      cluster: this.cluster,
      backfill: { ...this.backfillInfo },
      simulator: this.simulator.stats(),
      exporters: this.exporters.map((e) => {
        const s = e.stats();
        return { node: e.nodeName, observationDomainId: e.observationDomainId, recordsAccepted: e.recordsAccepted, recordsSent: s.recordsSent, recordsDropped: s.recordsDropped, connected: s.connected };
      }),
    };
  }

  /** What /api/v1/demo answers: the simulated cluster's inventory and the simulator's counters. */
  describe(): object {
    const s = this.status();
    return {
      simulated: true,
      note: 'flowvis demo: a SIMULATED cluster; its Node exporters send real IPFIX to this aggregator',
      seed: this.options.seed,
      nodes: this.cluster.nodes,
      namespaces: this.cluster.namespaces.map((n) => n.name),
      pods: this.cluster.pods.map((p) => ({ namespace: p.namespace, name: p.name, node: p.nodeName, ips: [p.ipv4, p.ipv6], workload: p.workload })),
      services: this.cluster.services,
      externals: this.cluster.externals,
      backfill: s.backfill,
      simulator: s.simulator,
      exporters: s.exporters,
    };
  }

  private async newestStoredSecond(): Promise<number | null> {
    const dir = join(this.options.dataDir, 'store');
    try {
      const repo = await openRepository(dir);
      try {
        const rows = await repo.select(`SELECT ${repo.dialect.num(`max(${repo.dialect.readTime('flowEndSeconds')})`)} AS newest, ${repo.dialect.count()} AS n FROM flows`);
        const n = Number(rows[0]?.n ?? 0);
        const newest = Number(rows[0]?.newest ?? 0);
        return n > 0 && newest > 0 ? newest : null;
      } finally {
        await repo.close();
      }
    } catch (err) {
      throw new DemoError('DEMO_ERR_START', `cannot open the demo store in ${dir}: ${(err as Error).message}; is another demo running on this data directory? Pass --data-dir to use another`, { cause: err });
    }
  }

  /** Runs every window that ends before `untilWindow` as fast as the aggregator takes it. */
  private async backfill(untilWindow: number, onProgress: (line: string) => void): Promise<void> {
    const stride = Math.max(1, Math.round(BACKFILL_ACTIVE_REPORT_MS / this.options.windowMs));
    const first = this.nextWindow;
    this.backfillInfo = { fromMs: first * this.options.windowMs, toMs: untilWindow * this.options.windowMs, windows: Math.max(0, untilWindow - first), records: 0 };
    let lastReport = this.clock.now();
    while (this.nextWindow < untilWindow && !this.stopping) {
      const k = this.nextWindow++;
      this.backfillInfo.records += this.export(this.simulator.runWindow(k, k % stride === 0 || k === untilWindow - 1).records);
      // Pace by what the aggregator has taken, so neither the exporters' queues nor the
      // collecting process's queue overflow.
      if ((k - first) % 60 === 59) {
        await Promise.all(this.exporters.map((e) => e.flush()));
        await this.waitForAggregator(30_000);
        if (this.clock.now() - lastReport > 2000) {
          lastReport = this.clock.now();
          onProgress(`backfill: ${new Date((k + 1) * this.options.windowMs).toISOString()} (${this.backfillInfo.records} records)`);
        }
      }
    }
    await Promise.all(this.exporters.map((e) => e.flush()));
  }

  /** Resolves when the aggregator has taken (or counted as dropped) every record the exporters sent, or after `timeoutMs`. */
  private async waitForAggregator(timeoutMs: number): Promise<void> {
    const agg = this.aggregator;
    if (!agg) return;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const sent = this.exporters.reduce((n, e) => n + e.stats().recordsSent, 0);
      const m = agg.metrics();
      if (m.recordsReceived + (m.collector.recordsDropped ?? 0) >= sent || Date.now() >= deadline) return;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  private export(records: ReadonlyMap<string, readonly FlowRecord[]>): number {
    let n = 0;
    for (const e of this.exporters) {
      const rs = records.get(e.nodeName);
      if (rs && rs.length > 0) n += e.send(rs);
    }
    return n;
  }

  /** Live: each window is simulated and exported just after it ends. */
  private scheduleNext(): void {
    const boundary = (this.nextWindow + 1) * this.options.windowMs;
    const delay = Math.max(0, boundary - this.clock.now() + 100);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.stopping) return;
      const nowWindow = this.simulator.windowOf(this.clock.now());
      // Catch up when the event loop was held up: every ended window, in order. After a longer
      // gap (the machine slept) the simulation jumps to now: windows are independent, and a
      // flood of late records would only hold up the live ones.
      if (nowWindow - this.nextWindow > MAX_CATCH_UP_WINDOWS) {
        this.input.logger?.warn({ skippedWindows: nowWindow - this.nextWindow }, 'demo: the simulation fell behind real time; skipping to now');
        this.nextWindow = nowWindow;
      }
      while (this.nextWindow < nowWindow) {
        const k = this.nextWindow++;
        this.export(this.simulator.runWindow(k).records);
      }
      this.scheduleNext();
    }, delay);
  }
}
