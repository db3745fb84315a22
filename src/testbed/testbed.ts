// `flowvis testbed up|down|status|run` as a programmatic API. The testbed is a small cluster made
// of network namespaces (see plan.ts for the picture). State lives in a state directory:
//
//   state.json            prefix, namespaces, topology, and the PIDs of the processes started
//   inventory.yaml        the cluster as Kubernetes manifests (the exporters' metadata source)
//   exporter-<node>.yaml  one exporter config per Node        aggregator.yaml   the aggregator's
//   servers/<ns>.jsonl    events of each Pod's traffic server (agent.ts)
//   logs/                 stderr of every process            flows.jsonl       the aggregator's log sink
//
// Cleanup is exact: every namespace is named "<prefix>-..." and nothing is created in the root
// namespace, so `down` stops the recorded processes, kills whatever else runs in those
// namespaces, and deletes them; links and iptables rules go with them. `up` runs `down` first,
// so a crashed run leaves nothing behind for long.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseHostPort } from '../util/address.js';
import { TestbedError } from './errors.js';
import { componentFiles, planTestbed, namesOf, type TestbedNames, type TestbedPlan } from './plan.js';
import { commandLine, listNamespaces, namespacePids, prerequisiteProblem, run, signal, waitForExit } from './system.js';
import { parseTopology, type Topology } from './topology.js';

export type ProcessRole = 'server' | 'aggregator' | 'exporter';

export interface TestbedProcess {
  readonly role: ProcessRole;
  /** Node name, Pod "namespace/name", "external" or "aggregator". */
  readonly name: string;
  readonly namespace: string;
  readonly pid: number;
  /** A path on its command line: it must still be there before we signal that PID (PID reuse). */
  readonly marker: string;
  readonly log: string;
}

interface StateFile {
  version: 1;
  prefix: string;
  phase: 'creating' | 'up';
  createdMs: number;
  namespaces: string[];
  processes: TestbedProcess[];
  topology: Record<string, unknown>;
}

export interface TestbedPaths {
  readonly stateDir: string;
  readonly stateFile: string;
  readonly inventoryFile: string;
  readonly aggregatorConfig: string;
  readonly certDir: string;
  readonly flowLogFile: string;
  readonly logDir: string;
  readonly serverDir: string;
  exporterConfig(node: string): string;
  serverEvents(namespace: string): string;
}

export interface UpOptions {
  /** Default: /run/flowvis-testbed/<prefix>. */
  readonly stateDir?: string;
  /** Also start the aggregator and one exporter per Node. */
  readonly run?: boolean;
  /** Progress lines. */
  readonly log?: (line: string) => void;
}

export interface DownReport {
  readonly namespacesRemoved: readonly string[];
  readonly processesStopped: number;
}

export interface TestbedStatus {
  readonly prefix: string;
  readonly stateDir: string;
  readonly phase: 'creating' | 'up';
  readonly namespaces: readonly { readonly name: string; readonly exists: boolean }[];
  readonly processes: readonly (TestbedProcess & { readonly alive: boolean })[];
}

const AGENT = fileURLToPath(new URL('./agent.js', import.meta.url));
const FLOWVIS_BIN = fileURLToPath(new URL('../../../bin/flowvis.js', import.meta.url));
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

export function defaultStateDir(prefix: string): string {
  return `/run/flowvis-testbed/${prefix}`;
}

export function pathsOf(stateDir: string): TestbedPaths {
  const dir = resolve(stateDir);
  return {
    stateDir: dir,
    stateFile: join(dir, 'state.json'),
    inventoryFile: join(dir, 'inventory.yaml'),
    aggregatorConfig: join(dir, 'aggregator.yaml'),
    certDir: join(dir, 'certs'),
    flowLogFile: join(dir, 'flows.jsonl'),
    logDir: join(dir, 'logs'),
    serverDir: join(dir, 'servers'),
    exporterConfig: (node) => join(dir, `exporter-${node}.yaml`),
    serverEvents: (ns) => join(dir, 'servers', `${ns}.jsonl`),
  };
}

function readState(paths: TestbedPaths): StateFile | null {
  if (!existsSync(paths.stateFile)) return null;
  let state: StateFile;
  try {
    state = JSON.parse(readFileSync(paths.stateFile, 'utf8')) as StateFile;
  } catch (err) {
    throw new TestbedError('TESTBED_ERR_BAD_STATE', `${paths.stateFile}: ${(err as Error).message}; remove it and run "flowvis testbed down --prefix <prefix>"`, { cause: err });
  }
  if (state.version !== 1 || typeof state.prefix !== 'string' || !Array.isArray(state.namespaces) || !Array.isArray(state.processes)) {
    throw new TestbedError('TESTBED_ERR_BAD_STATE', `${paths.stateFile} does not describe a testbed; remove it and run "flowvis testbed down --prefix <prefix>"`);
  }
  return state;
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no output)';
  }
}

async function waitForFile(file: string, test: (text: string) => boolean, pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      // not written yet
    }
    if (test(text)) return true;
    if (commandLine(pid) === null || Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

export class Testbed {
  readonly names: TestbedNames;
  readonly paths: TestbedPaths;

  private constructor(
    readonly topology: Topology,
    private state: StateFile,
    stateDir: string,
    private readonly log: (line: string) => void,
  ) {
    this.names = namesOf(topology);
    this.paths = pathsOf(stateDir);
  }

  get processes(): readonly TestbedProcess[] {
    return this.state.processes;
  }

  get createdMs(): number {
    return this.state.createdMs;
  }

  /** Builds the testbed. On any failure, everything created so far is removed and the error rethrown. */
  static async up(topology: Topology, options: UpOptions = {}): Promise<Testbed> {
    const problem = prerequisiteProblem();
    if (problem) throw problem;
    const log = options.log ?? (() => {});
    const stateDir = options.stateDir ?? defaultStateDir(topology.prefix);
    const paths = pathsOf(stateDir);
    const leftovers = await Testbed.down({ prefix: topology.prefix, stateDir });
    if (leftovers.namespacesRemoved.length > 0) log(`removed ${leftovers.namespacesRemoved.length} namespaces left by an earlier run`);

    const plan: TestbedPlan = planTestbed(topology);
    const createdMs = Date.now();
    const files = componentFiles(topology, paths, createdMs);
    for (const d of [paths.stateDir, paths.logDir, paths.serverDir, paths.certDir]) mkdirSync(d, { recursive: true });
    const state: StateFile = { version: 1, prefix: topology.prefix, phase: 'creating', createdMs, namespaces: [...plan.names.all], processes: [], topology: topology.document as Record<string, unknown> };
    const tb = new Testbed(topology, state, stateDir, log);
    tb.save();
    try {
      log(`creating ${plan.names.all.length} namespaces (${plan.commands.length} commands)`);
      for (const cmd of plan.commands) await run(cmd.argv);
      for (const ipt of plan.iptables) {
        await run(['ip', 'netns', 'exec', ipt.namespace, ipt.family === 4 ? 'iptables-restore' : 'ip6tables-restore', '-w'], ipt.rules);
      }
      writeFileSync(paths.inventoryFile, files.inventory);
      for (const [node, text] of Object.entries(files.exporterConfigs)) writeFileSync(paths.exporterConfig(node), text);
      writeFileSync(paths.aggregatorConfig, files.aggregatorConfig);
      log('starting the traffic servers of the Pods and the External host');
      await tb.startServers();
      state.phase = 'up';
      tb.save();
      if (options.run) await tb.startComponents();
    } catch (err) {
      log(`up failed, cleaning up: ${(err as Error).message}`);
      await Testbed.down({ prefix: topology.prefix, stateDir }).catch(() => undefined);
      throw err;
    }
    return tb;
  }

  /** The testbed described by a state directory. */
  static attach(stateDir: string, log: (line: string) => void = () => {}): Testbed {
    const paths = pathsOf(stateDir);
    const state = readState(paths);
    if (!state) throw new TestbedError('TESTBED_ERR_NO_STATE', `no testbed state in ${paths.stateDir}; run "flowvis testbed up" first (or pass --state-dir)`);
    let topology: Topology;
    try {
      topology = parseTopology(state.topology, { baseDir: paths.stateDir });
    } catch (err) {
      throw new TestbedError('TESTBED_ERR_BAD_STATE', `${paths.stateFile}: the recorded topology is invalid: ${(err as Error).message}`, { cause: err });
    }
    return new Testbed(topology, state, stateDir, log);
  }

  /**
   * Removes a testbed: stops its recorded processes (exporters first, with SIGTERM, so that they
   * export their last records), kills anything else in its namespaces, deletes every namespace
   * named "<prefix>-...". Works without a state file, and when nothing is left.
   */
  static async down(options: { prefix: string; stateDir?: string }): Promise<DownReport> {
    const paths = pathsOf(options.stateDir ?? defaultStateDir(options.prefix));
    let state: StateFile | null = null;
    try {
      state = readState(paths);
    } catch {
      state = null; // a broken state file does not stop the cleanup by prefix
    }
    let stopped = state ? await stopProcesses(state.processes) : 0;
    const mine = (ns: string) => ns.startsWith(`${options.prefix}-`);
    const namespaces = listNamespaces().filter((ns) => mine(ns) || (state !== null && state.prefix === options.prefix && state.namespaces.includes(ns)));
    const stragglers = namespaces.flatMap(namespacePids);
    for (const pid of stragglers) if (signal(pid, 'SIGKILL')) stopped++;
    await waitForExit(stragglers, STOP_TIMEOUT_MS);
    const removed: string[] = [];
    for (const ns of namespaces) {
      try {
        await run(['ip', 'netns', 'del', ns]);
        removed.push(ns);
      } catch (err) {
        if (listNamespaces().includes(ns)) throw err;
      }
    }
    rmSync(paths.stateFile, { force: true });
    return { namespacesRemoved: removed, processesStopped: stopped };
  }

  status(): TestbedStatus {
    const existing = new Set(listNamespaces());
    return {
      prefix: this.topology.prefix,
      stateDir: this.paths.stateDir,
      phase: this.state.phase,
      namespaces: this.state.namespaces.map((name) => ({ name, exists: existing.has(name) })),
      processes: this.state.processes.map((p) => ({ ...p, alive: ownsPid(p) })),
    };
  }

  /** Runs a command in one of the testbed's namespaces. */
  exec(namespace: string, argv: readonly string[], input?: string): Promise<string> {
    if (!this.state.namespaces.includes(namespace)) throw new TestbedError('TESTBED_ERR_COMMAND', `"${namespace}" is not a namespace of testbed ${this.topology.prefix}`);
    return run(['ip', 'netns', 'exec', namespace, ...argv], input);
  }

  /** Starts the aggregator, then one exporter per Node; resolves once each says it is up. */
  async startComponents(): Promise<void> {
    if (this.state.processes.some((p) => p.role !== 'server' && ownsPid(p))) {
      throw new TestbedError('TESTBED_ERR_PROCESS', 'the exporters or the aggregator are already running; run "flowvis testbed stop" first');
    }
    this.state.processes = this.state.processes.filter((p) => p.role === 'server');
    const aggConfig = readFileSync(this.paths.aggregatorConfig, 'utf8');
    const apiOn = !/^apiAddress:\s*(""|'')\s*$/m.test(aggConfig);
    this.log('starting the aggregator');
    const agg = this.spawnDetached('aggregator', 'aggregator', this.names.aggregator, [process.execPath, FLOWVIS_BIN, 'aggregator', '--config', this.paths.aggregatorConfig], this.paths.aggregatorConfig);
    const aggReady = apiOn
      ? await waitForFile(agg.log, (t) => t.includes('API listening'), agg.pid, START_TIMEOUT_MS)
      : await waitForFile(agg.log, () => false, agg.pid, 1000).then(() => ownsPid(agg));
    if (!aggReady) throw new TestbedError('TESTBED_ERR_PROCESS', `the aggregator did not start; its log (${agg.log}):\n${tail(agg.log)}`);
    for (const node of this.topology.nodes) {
      this.log(`starting the exporter of ${node.name}`);
      const file = this.paths.exporterConfig(node.name);
      const p = this.spawnDetached('exporter', node.name, this.names.nodes[node.name], [process.execPath, FLOWVIS_BIN, 'exporter', '--config', file], file);
      if (!(await waitForFile(p.log, (t) => t.includes('flow exporter started'), p.pid, START_TIMEOUT_MS))) {
        throw new TestbedError('TESTBED_ERR_PROCESS', `the exporter of ${node.name} did not start; its log (${p.log}):\n${tail(p.log)}`);
      }
    }
  }

  /** Stops the exporters (SIGTERM: they export every connection with forced end), then the aggregator. */
  async stopComponents(): Promise<number> {
    const components = this.state.processes.filter((p) => p.role !== 'server');
    const n = await stopProcesses(components);
    this.state.processes = this.state.processes.filter((p) => p.role === 'server');
    this.save();
    return n;
  }

  /** The aggregator's API address as seen from inside the testbed (its namespace or the Nodes). */
  aggregatorApi(): { host: string; port: number } | null {
    const m = /^apiAddress:\s*(.*)$/m.exec(readFileSync(this.paths.aggregatorConfig, 'utf8'));
    const text = m ? m[1].trim().replace(/^["']|["']$/g, '') : '';
    const hp = text === '' ? undefined : parseHostPort(text);
    if (!hp) return null;
    return { host: this.topology.aggregatorIps[4] ?? this.topology.aggregatorIps[6]!, port: hp.port };
  }

  private async startServers(): Promise<void> {
    const started: TestbedProcess[] = [];
    for (const pod of this.topology.pods) {
      const ns = this.names.pods[pod.id];
      const cfg = {
        tcp: pod.ports.filter((p) => p.protocol === 'TCP').map((p) => p.containerPort),
        udp: pod.ports.filter((p) => p.protocol === 'UDP').map((p) => p.containerPort),
      };
      started.push(this.spawnServer(pod.id, ns, cfg));
    }
    const ext = this.topology.external;
    started.push(this.spawnServer('external', this.names.external, {
      tcp: ext.ports.filter((p) => p.protocol === 'TCP').map((p) => p.port),
      udp: ext.ports.filter((p) => p.protocol === 'UDP').map((p) => p.port),
    }));
    for (const p of started) {
      const events = this.paths.serverEvents(p.namespace);
      if (!(await waitForFile(events, (t) => t.includes('"ready":true'), p.pid, START_TIMEOUT_MS))) {
        throw new TestbedError('TESTBED_ERR_PROCESS', `the traffic server of ${p.name} did not start: ${tail(events)}\n${tail(p.log)}`);
      }
    }
  }

  private spawnServer(name: string, namespace: string, cfg: { tcp: number[]; udp: number[] }): TestbedProcess {
    const events = this.paths.serverEvents(namespace);
    rmSync(events, { force: true });
    return this.spawnDetached('server', name, namespace, [process.execPath, AGENT, 'serve', JSON.stringify(cfg)], AGENT, events);
  }

  private spawnDetached(role: ProcessRole, name: string, namespace: string, argv: string[], marker: string, stdoutFile?: string): TestbedProcess {
    const log = join(this.paths.logDir, `${role}-${name.replace('/', '.')}.log`);
    const errFd = openSync(log, 'w');
    const outFd = stdoutFile ? openSync(stdoutFile, 'a') : errFd;
    let pid: number | undefined;
    try {
      const child = spawn('ip', ['netns', 'exec', namespace, ...argv], { detached: true, stdio: ['ignore', outFd, errFd] });
      child.on('error', () => undefined);
      child.unref();
      pid = child.pid;
    } finally {
      closeSync(errFd);
      if (outFd !== errFd) closeSync(outFd);
    }
    if (pid === undefined) throw new TestbedError('TESTBED_ERR_PROCESS', `could not start ${role} ${name} in ${namespace}`);
    const p: TestbedProcess = { role, name, namespace, pid, marker, log };
    this.state.processes.push(p);
    this.save();
    return p;
  }

  private save(): void {
    writeFileSync(this.paths.stateFile, `${JSON.stringify(this.state, null, 2)}\n`);
  }
}

function ownsPid(p: TestbedProcess): boolean {
  const cmd = commandLine(p.pid);
  return cmd !== null && cmd.includes(p.marker);
}

/** Exporters, then the aggregator, with SIGTERM and a grace period; then SIGKILL. */
async function stopProcesses(processes: readonly TestbedProcess[]): Promise<number> {
  let stopped = 0;
  for (const roles of [['exporter'], ['aggregator'], ['server']] as const) {
    const group = processes.filter((p) => (roles as readonly string[]).includes(p.role) && ownsPid(p));
    for (const p of group) if (signal(p.pid, 'SIGTERM')) stopped++;
    const left = await waitForExit(group.map((p) => p.pid), roles[0] === 'server' ? 2000 : STOP_TIMEOUT_MS);
    for (const pid of left) signal(pid, 'SIGKILL');
    await waitForExit(left, 2000);
  }
  return stopped;
}
