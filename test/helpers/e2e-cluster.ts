// The end-to-end suite's cluster: the testbed (src/testbed) with its exporters and aggregator,
// the aggregator exporting IPFIX to a collector of the test and storing every record in an
// embedded store in a temporary directory.
//
//   test process (root namespace)                 <prefix>-agg namespace
//   ┌──────────────┐  stdin: GET requests  ┌───────────────────────────────────────┐
//   │ E2eCluster   │ ────────────────────▶ │ e2e-agent.js ── HTTP ──▶ aggregator API│
//   │  .ipfix[]    │ ◀──────────────────── │ CollectingProcess 127.0.0.1:<port 0>   │
//   │  .storeFlows │  stdout: JSON lines   │        ▲ IPFIX tcp (ipfix sink)        │
//   └──────────────┘                       │  flowvis aggregator ── store ──▶ DuckDB │
//                                          └───────────────────────────────────────┘
//
// The testbed writes aggregator.yaml at `up`; the collector's port is known only once the agent
// runs in the aggregator's namespace, so the file is then rewritten with the ipfix sink added
// (externalFlowCollectorAddr 127.0.0.1:<port>:tcp) and checked by the aggregator's own loader
// before the components start. Short timeouts keep a scenario to seconds.
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify } from 'yaml';
import { loadAggregatorConfig } from '../../src/aggregator/config.js';
import { defaultTopology } from '../../src/testbed/default-topology.js';
import { prerequisiteProblem, commandLine, signal, waitForExit } from '../../src/testbed/system.js';
import { Testbed, type TestbedProcess } from '../../src/testbed/testbed.js';
import { parseTopology, type Topology } from '../../src/testbed/topology.js';
import { TrafficGenerator, type Conversation, type TrafficResult } from '../../src/testbed/traffic.js';
import { JsonLines } from '../integration/conntrack/lines.js';

const AGENT = fileURLToPath(new URL('./e2e-agent.js', import.meta.url));
const FLOWVIS_BIN = fileURLToPath(new URL('../../../bin/flowvis.js', import.meta.url));
/** Hang guards (not timing assertions): how long to wait for a record that should come. */
export const WAIT_MS = 45_000;

/**
 * Why the suite cannot run here, or false. Under CI=true a missing prerequisite throws: the
 * suite must run there.
 */
export function e2eSkipReason(): string | false {
  const problem = prerequisiteProblem();
  if (problem === null) return false;
  if (process.env.CI === 'true') throw new Error(`CI=true and the end-to-end suite cannot run: ${problem.message}`);
  return problem.message;
}

/** An IPFIX data record as the collector of the test decoded it. */
export interface IpfixRecord {
  templateId: number;
  exporterAddress: string;
  protocol: string;
  sessionId: number;
  receivedAt: number;
  record: Record<string, string | number | boolean>;
}

/** The 5-tuple the exporters report: the destination after DNAT (the endpoint for a Service). */
export interface FlowTuple {
  family: 4 | 6;
  sourceAddress: string;
  sourcePort: number;
  destinationAddress: string;
  destinationPort: number;
  protocol: number;
}

export function tupleOf(c: Conversation, topology: Topology): FlowTuple {
  // The answering endpoint's own address: the Pod behind a Service (DNAT), or the External host.
  const endpoint = c.servedBy === 'external' ? topology.external.ips[c.family] : topology.pods.find((p) => p.id === c.servedBy)?.ips[c.family];
  return {
    family: c.family,
    sourceAddress: c.sourceAddress,
    sourcePort: c.sourcePort,
    destinationAddress: endpoint ?? c.destinationAddress,
    destinationPort: c.servedPort ?? c.destinationPort,
    protocol: c.protocol === 'TCP' ? 6 : 17,
  };
}

export function ipfixMatches(r: IpfixRecord, t: FlowTuple): boolean {
  const d = r.record;
  const v = t.family === 4 ? 'IPv4' : 'IPv6';
  return (
    d[`source${v}Address`] === t.sourceAddress &&
    d[`destination${v}Address`] === t.destinationAddress &&
    d.sourceTransportPort === t.sourcePort &&
    d.destinationTransportPort === t.destinationPort &&
    d.protocolIdentifier === t.protocol
  );
}

/** A row of the store's /api/v1/flows. */
export type StoreRow = Record<string, string | number>;

export function storeMatches(r: StoreRow, t: FlowTuple): boolean {
  return (
    r.sourceIP === t.sourceAddress &&
    r.destinationIP === t.destinationAddress &&
    r.sourceTransportPort === t.sourcePort &&
    r.destinationTransportPort === t.destinationPort &&
    r.protocolIdentifier === t.protocol
  );
}

/**
 * What the IP and transport headers add to application bytes, per packet: IPv4 20 / IPv6 40
 * bytes, plus UDP 8, or TCP 20 to 60 (options: timestamps, SACK, window scale on SYNs).
 */
export function headerBytesPerPacket(family: 4 | 6, protocol: number): { min: number; max: number } {
  const ip = family === 4 ? 20 : 40;
  return protocol === 17 ? { min: ip + 8, max: ip + 8 } : { min: ip + 20, max: ip + 60 };
}

/** The largest TCP payload of one segment on the testbed's 1500-byte links. */
export function mss(family: 4 | 6): number {
  return 1500 - (family === 4 ? 20 : 40) - 20;
}

/**
 * Whether `octets` are `appBytes` plus one header per packet, within header tolerance. A TCP
 * sender may retransmit (a tail-loss probe on a loaded machine does); `retransmittedSegments`
 * (from the sending namespace's TcpRetransSegs) allows that many more payloads of one MSS.
 */
export function withinHeaderTolerance(octets: number, packets: number, appBytes: number, family: 4 | 6, protocol: number, retransmittedSegments = 0): boolean {
  const h = headerBytesPerPacket(family, protocol);
  const resent = protocol === 6 ? retransmittedSegments * mss(family) : 0;
  // Nothing sent that way (a denied connection's reverse direction): nothing counted.
  if (packets === 0) return appBytes === 0 && octets === 0;
  return octets >= appBytes + packets * h.min && octets <= appBytes + packets * h.max + resent;
}

export interface ClusterOptions {
  /** Name prefix of the testbed's namespaces (2-12 lowercase letters/digits; not "fv..."). */
  prefix: string;
  /** Exporter-to-aggregator transport; tls is the product's default. */
  transport: 'tls' | 'tcp';
}

/** Generated-config timeouts: short, so that a flow reaches the store seconds after it ends. */
export const EXPORTER_TIMEOUTS = { flowPollInterval: '1s', activeFlowExportTimeout: '3s', idleFlowExportTimeout: '2s' } as const;
export const AGGREGATOR_TIMEOUTS = { flowExportInterval: '1s', inactiveFlowRecordTimeout: '20s', correlationWait: '3s' } as const;

export class E2eCluster {
  readonly ipfix: IpfixRecord[] = [];
  readonly sessions: Record<string, unknown>[] = [];
  private agent: JsonLines | null = null;
  private seen = 0;
  private nextId = 1;
  /** Processes this helper started beside the testbed's own (restarted components). */
  private readonly own: TestbedProcess[] = [];
  /** TcpRetransSegs of every Pod namespace and the External host when the traffic began. */
  private retransBaseline = new Map<string, number>();

  private constructor(
    readonly tb: Testbed,
    readonly gen: TrafficGenerator,
    readonly workDir: string,
    readonly storeDir: string,
  ) {}

  get topology(): Topology {
    return this.tb.topology;
  }

  /**
   * Builds the testbed, starts the collector agent in the aggregator's namespace, points the
   * aggregator at it and at a store, and starts the aggregator and one exporter per Node.
   * On failure everything is removed before the error is rethrown.
   */
  static async start(options: ClusterOptions): Promise<E2eCluster> {
    const workDir = mkdtempSync(join(tmpdir(), `fv-e2e-${options.prefix}-`));
    const storeDir = join(workDir, 'store');
    const doc = { ...defaultTopology().document } as Record<string, unknown>;
    doc.prefix = options.prefix;
    doc.exporter = { config: { ...EXPORTER_TIMEOUTS } };
    doc.aggregator = {
      transport: options.transport,
      config: { ...AGGREGATOR_TIMEOUTS, sinks: ['log'], store: { url: storeDir, commitInterval: '1s' } },
    };
    const topology = parseTopology(doc, { baseDir: process.cwd() });
    const stateDir = join(workDir, 'testbed');
    let tb: Testbed | null = null;
    let cluster: E2eCluster | null = null;
    try {
      tb = await Testbed.up(topology, { stateDir });
      cluster = new E2eCluster(tb, new TrafficGenerator(tb, { connectTimeoutMs: 1500, replyTimeoutMs: 800 }), workDir, storeDir);
      const port = await cluster.startAgent();
      cluster.retransBaseline = await cluster.retransmissionCounters();
      const file = tb.paths.aggregatorConfig;
      const agg = parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown>;
      agg.sinks = ['ipfix', 'log'];
      agg.externalFlowCollectorAddr = `127.0.0.1:${port}:tcp`;
      writeFileSync(file, `# flowvis aggregator of the testbed, with the e2e suite's collector and store\n${stringify(agg)}`);
      loadAggregatorConfig(file);
      await tb.startComponents();
      return cluster;
    } catch (err) {
      if (cluster) await cluster.stop();
      else {
        await Testbed.down({ prefix: options.prefix, stateDir }).catch(() => undefined);
        rmSync(workDir, { recursive: true, force: true });
      }
      throw err;
    }
  }

  /** Stops everything and removes the testbed and the temporary directory; never throws. */
  async stop(): Promise<void> {
    this.agent?.child.kill('SIGKILL');
    await Testbed.down({ prefix: this.tb.topology.prefix, stateDir: this.tb.paths.stateDir }).catch(() => undefined);
    rmSync(this.workDir, { recursive: true, force: true });
  }

  private async startAgent(): Promise<number> {
    const child = spawn('ip', ['netns', 'exec', this.tb.names.aggregator, process.execPath, AGENT], { stdio: ['pipe', 'pipe', 'pipe'] });
    const agent = new JsonLines(child);
    this.agent = agent;
    const ready = await agent.waitFor('the agent ready line', (l) => l.kind === 'ready' || l.kind === 'error');
    if (ready.kind !== 'ready') throw new Error(`the e2e agent did not start: ${JSON.stringify(ready)}`);
    return ready.port as number;
  }

  /** Moves the agent's new lines into ipfix/sessions. */
  private drain(): void {
    const lines = this.agent!.seen;
    for (; this.seen < lines.length; this.seen++) {
      const l = lines[this.seen];
      if (l.kind === 'record') this.ipfix.push(l as unknown as IpfixRecord);
      else if (l.kind === 'session') this.sessions.push(l);
    }
  }

  /** TcpRetransSegs (/proc/net/snmp) per Pod id and 'external', read in each namespace. */
  async retransmissionCounters(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const namespaces: [string, string][] = [...this.topology.pods.map((p): [string, string] => [p.id, this.tb.names.pods[p.id]]), ['external', this.tb.names.external]];
    await Promise.all(
      namespaces.map(async ([id, ns]) => {
        const text = await this.tb.exec(ns, ['cat', '/proc/net/snmp']);
        const [names, values] = text.split('\n').filter((l) => l.startsWith('Tcp:')).map((l) => l.split(/\s+/));
        const i = names.indexOf('RetransSegs');
        if (i < 0 || values === undefined) throw new Error(`${ns}: no Tcp RetransSegs in /proc/net/snmp`);
        out.set(id, Number(values[i]));
      }),
    );
    return out;
  }

  /**
   * Segments the endpoints of a conversation retransmitted since the cluster started (each
   * endpoint's whole namespace: an upper bound for one of its connections).
   */
  async retransmissions(c: Conversation): Promise<{ forward: number; reverse: number }> {
    const now = await this.retransmissionCounters();
    const of = (id: string | null) => (id === null ? 0 : (now.get(id) ?? 0) - (this.retransBaseline.get(id) ?? 0));
    return { forward: of(c.sourcePod), reverse: of(c.servedBy) };
  }

  /** Runs traffic specs written as in the topology's traffic plan. */
  traffic(specs: Parameters<TrafficGenerator['spec']>[0][]): Promise<TrafficResult[]> {
    return this.gen.run(specs.map((s) => this.gen.spec(s)));
  }

  /** The IPFIX records of a flow, in arrival order. */
  ipfixOf(t: FlowTuple): IpfixRecord[] {
    this.drain();
    return this.ipfix.filter((r) => ipfixMatches(r, t));
  }

  /**
   * Waits until the IPFIX records of a flow satisfy `done`, and returns them. On the hang guard
   * it fails with every record of that flow it saw, so that a wrong value shows.
   */
  async waitForIpfix(what: string, t: FlowTuple, done: (records: IpfixRecord[]) => boolean | Promise<boolean>, limitMs = WAIT_MS): Promise<IpfixRecord[]> {
    const deadline = Date.now() + limitMs;
    for (;;) {
      const records = this.ipfixOf(t);
      if (await done(records)) return records;
      if (Date.now() > deadline) {
        throw new Error(`${what}: the collector did not get the expected records for ${JSON.stringify(t)} within ${limitMs} ms; got ${records.length}: ${JSON.stringify(records.map((r) => r.record), null, 1).slice(0, 6000)}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** GET on the aggregator's API, from inside its namespace. */
  async api(path: string): Promise<{ status: number; body: unknown }> {
    const id = this.nextId++;
    const agent = this.agent!;
    const from = agent.seen.length;
    const port = this.tb.aggregatorApi()?.port ?? 10348;
    agent.send(JSON.stringify({ id, url: `http://127.0.0.1:${port}${path}` }));
    const reply = await agent.waitFor(`the reply to GET ${path}`, (l) => l.kind === 'reply' && l.id === id, from, 15_000);
    return { status: reply.status as number, body: reply.body };
  }

  /** The store's rows of a flow (its /api/v1/flows, last hour), oldest first. */
  async storeFlows(t: FlowTuple): Promise<StoreRow[]> {
    const res = await this.api(`/api/v1/flows?last=1h&ip=${encodeURIComponent(t.sourceAddress)}&port=${t.sourcePort}&limit=10000`);
    if (res.status === 503) return [];
    if (res.status !== 200) throw new Error(`GET /api/v1/flows: ${res.status} ${JSON.stringify(res.body)}`);
    const rows = (res.body as { items: StoreRow[] }).items;
    return rows.filter((r) => storeMatches(r, t)).sort((a, b) => Number(a.timeInserted) - Number(b.timeInserted) || Number(a.flowEndSeconds) - Number(b.flowEndSeconds));
  }

  /** Waits until the store's rows of a flow satisfy `done`, and returns them. */
  async waitForStore(what: string, t: FlowTuple, done: (rows: StoreRow[]) => boolean, limitMs = WAIT_MS): Promise<StoreRow[]> {
    const deadline = Date.now() + limitMs;
    for (;;) {
      const rows = await this.storeFlows(t);
      if (done(rows)) return rows;
      if (Date.now() > deadline) {
        throw new Error(`${what}: the store did not hold the expected rows for ${JSON.stringify(t)} within ${limitMs} ms; got ${rows.length}: ${JSON.stringify(rows, null, 1).slice(0, 6000)}`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** The aggregator's /recordmetrics. */
  async recordMetrics(): Promise<Record<string, unknown>> {
    const res = await this.api('/recordmetrics');
    if (res.status !== 200) throw new Error(`GET /recordmetrics: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body as Record<string, unknown>;
  }

  /** The running exporter of a Node, or the aggregator. */
  component(role: 'exporter' | 'aggregator', name: string): TestbedProcess {
    const all = [...this.own, ...this.tb.processes].filter((p) => p.role === role && p.name === name && commandLine(p.pid)?.includes(p.marker));
    if (all.length === 0) throw new Error(`no running ${role} ${name}`);
    return all[0];
  }

  /**
   * Restarts a component as Kubernetes would: SIGTERM (the exporter exports what it holds, the
   * aggregator flushes its flows to the sinks), wait for the exit, start the same command again
   * in the same namespace, wait until its log says it is up.
   */
  async restart(role: 'exporter' | 'aggregator', name: string): Promise<void> {
    await this.stopComponent(role, name);
    await this.startComponent(role, name);
  }

  /** The first half of restart(): SIGTERM, and wait for the exit. */
  async stopComponent(role: 'exporter' | 'aggregator', name: string): Promise<void> {
    const p = this.component(role, name);
    signal(p.pid, 'SIGTERM');
    const left = await waitForExit([p.pid], 15_000);
    if (left.length > 0) throw new Error(`${role} ${name} (pid ${p.pid}) did not exit within 15 s of SIGTERM`);
    const idx = this.own.indexOf(p);
    if (idx >= 0) this.own.splice(idx, 1);
  }

  /** The second half of restart(): the same command again in the same namespace, until its log says it is up. */
  async startComponent(role: 'exporter' | 'aggregator', name: string): Promise<void> {
    const config = role === 'exporter' ? this.tb.paths.exporterConfig(name) : this.tb.paths.aggregatorConfig;
    const namespace = role === 'exporter' ? this.tb.names.nodes[name] : this.tb.names.aggregator;
    const log = join(this.tb.paths.logDir, `${role}-${name}-restarted-${Date.now()}.log`);
    const fd = openSync(log, 'w');
    let pid: number | undefined;
    try {
      const child = spawn('ip', ['netns', 'exec', namespace, process.execPath, FLOWVIS_BIN, role, '--config', config], { detached: true, stdio: ['ignore', fd, fd] });
      child.on('error', () => undefined);
      child.unref();
      pid = child.pid;
    } finally {
      closeSync(fd);
    }
    if (pid === undefined) throw new Error(`could not start ${role} ${name}`);
    this.own.push({ role, name, namespace, pid, marker: config, log });
    const ready = role === 'exporter' ? 'flow exporter started' : 'API listening';
    const deadline = Date.now() + 30_000;
    for (;;) {
      let text = '';
      try {
        text = readFileSync(log, 'utf8');
      } catch {
        // not yet
      }
      if (text.includes(ready)) return;
      if (commandLine(pid) === null || Date.now() > deadline) throw new Error(`${role} ${name} did not restart; its log (${log}):\n${text.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Log text of the running exporter of a Node (or of the aggregator). */
  logOf(role: 'exporter' | 'aggregator', name: string): string {
    return readFileSync(this.component(role, name).log, 'utf8');
  }
}
