// exporter.cpu.10k: CPU of the `flowvis exporter` process, as % of one core, with 10,000 live
// conntrack entries in its namespace, at the default flowPollInterval (5 s) and timeouts
// (60 s active, 15 s idle). Goal: <= 2 %. Needs root, `ip`, `conntrack`, `iptables`; without
// them it prints a result with `skipped` and the reason.
//
// Setup: a "node" and a "remote" namespace on a veth pair; 10,000 UDP flows (one datagram
// each, from 10,000 source ports, echoed by the remote) with the UDP conntrack timeouts raised
// to an hour so every entry stays for the whole run; an in-test collector in the remote
// namespace receives the records. After a 25 s warm-up (first dump, and the idle exports of all 10,000 at 15-20 s) CPU
// time (utime + stime from /proc/<pid>/stat) is measured over 30 s: 6 dumps of 10,000 entries.
//
// Sample results (`npm run bench -- exporter.cpu`, Node v20.20.2, 2-core "Intel(R) Xeon(R)
// Processor" VM), two runs:
//   {"name":"exporter.cpu.10k","value":0.833,"unit":"% of one core","goal":2,"conntrackEntries":10000,
//    "windowS":30,"userCpuSeconds":0.09,"systemCpuSeconds":0.16,"msPerPoll":41.6,"rssMB":142}
//   {"name":"exporter.cpu.10k","value":1.299,...,"userCpuSeconds":0.24,"systemCpuSeconds":0.15,"msPerPoll":65,"rssMB":125}
// System time is the kernel building the ctnetlink dump; it is charged to the exporter.
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import type { Benchmark, BenchResult } from './harness.js';
import { NetnsBed } from '../test/helpers/netns.js';
import { JsonLines } from '../test/integration/conntrack/lines.js';

const here = dirname(fileURLToPath(import.meta.url));
const FLOWVIS = join(here, '..', '..', 'bin', 'flowvis.js');
const PEER = join(here, '..', 'test', 'integration', 'conntrack', 'peer.js');
const COLLECTOR = join(here, '..', 'test', 'integration', 'exporter', 'collector-probe.js');

const FLOWS = 10_000;
const WARMUP_MS = 25_000;
const WINDOW_MS = 30_000;

function skipReason(): string | null {
  if (process.platform !== 'linux') return 'needs Linux network namespaces';
  if (process.getuid?.() !== 0) return 'needs root for network namespaces and conntrack';
  for (const tool of ['ip', 'conntrack', 'iptables', 'ip6tables', 'sysctl']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `missing tool: ${tool}`;
    }
  }
  return null;
}

/** User and system CPU time of a process, in seconds. */
function cpuSeconds(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields after "(comm)": state is index 0, so utime (field 14) is index 11, stime index 12.
  // CLK_TCK is 100 on Linux.
  return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Sends one datagram from each of source ports 20000 .. 20000+count-1 (distinct ports, so
// distinct conntrack entries), 500 sockets at a time, then prints {"done"}.
const FLOW_MAKER = `
const dgram = require('node:dgram');
const [host, port, count] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
let next = 0, open = 0;
function one() {
  if (next >= count) { if (open === 0) console.log(JSON.stringify({ done: true })); return; }
  const sport = 20000 + next++;
  open++;
  const s = dgram.createSocket('udp4');
  s.bind(sport, () => s.send(Buffer.alloc(32), port, host, () => { s.close(); open--; one(); }));
}
for (let i = 0; i < 500; i++) one();
`;
/** Extra node flags for the exporter process, e.g. BENCH_NODE_ARGS=--cpu-prof to profile it. */
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');

async function cpuTenK(): Promise<BenchResult> {
  const name = 'exporter.cpu.10k';
  const skipped = skipReason();
  if (skipped) return { name, value: NaN, unit: '% of one core', skipped };
  const bed = new NetnsBed('bx');
  const dir = mkdtempSync(join(tmpdir(), 'flowvis-bench-'));
  try {
    const node = await bed.namespace();
    const remote = await bed.namespace();
    const pods = await bed.link(node, remote);
    const wire = await bed.link(node, remote);
    await node.enableConntrack();
    await remote.enableConntrack();
    await node.exec('sysctl', ['-q', '-w', 'net.netfilter.nf_conntrack_udp_timeout=3600', 'net.netfilter.nf_conntrack_udp_timeout_stream=3600']);

    const collector = new JsonLines(remote.spawn(process.execPath, [COLLECTOR, wire.bIPv4]));
    const cport = (await collector.waitFor('port', (l) => typeof l.port === 'number')).port as number;
    collector.child.stdout?.resume();
    const echo = new JsonLines(remote.spawn(process.execPath, [PEER, 'udp-server', pods.bIPv4]));
    const eport = (await echo.waitFor('port', (l) => typeof l.port === 'number')).port as number;

    const maker = new JsonLines(node.spawn(process.execPath, ['-e', FLOW_MAKER, pods.bIPv4, String(eport), String(FLOWS)]));
    await maker.waitFor('done', (l) => l.done === true, 0, 120_000);
    const count = Number((await node.exec('conntrack', ['-C'])).stdout.trim());

    writeFileSync(
      join(dir, 'exporter.yaml'),
      `featureGates: {FlowExporter: true}
flowCollectorAddr: "${wire.bIPv4}:${cport}:tcp"
nodeName: node-a
connectionFilter: all
podCIDRs: ["10.231.0.0/24"]
metricsAddress: ""
stateFile: exporter-state.json
`,
    );
    const exporter = node.spawn(process.execPath, [...NODE_ARGS, FLOWVIS, 'exporter', '--config', join(dir, 'exporter.yaml'), '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    exporter.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const pid = exporter.pid as number;
    await sleep(WARMUP_MS);
    if (exporter.exitCode !== null) throw new Error(`exporter exited: ${stderr.slice(0, 2000)}`);
    const c0 = cpuSeconds(pid);
    const t0 = process.hrtime.bigint();
    await sleep(WINDOW_MS);
    const c1 = cpuSeconds(pid);
    const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
    const rssMB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
    const received = collector.seen.length;
    exporter.kill('SIGTERM');
    await new Promise((r) => exporter.once('exit', r));
    const user = c1.user - c0.user;
    const system = c1.system - c0.system;
    return {
      name,
      value: Number(((100 * (user + system)) / wallS).toFixed(3)),
      unit: '% of one core',
      goal: 2,
      conntrackEntries: count,
      pollIntervalS: 5,
      windowS: Number(wallS.toFixed(1)),
      userCpuSeconds: Number(user.toFixed(2)),
      systemCpuSeconds: Number(system.toFixed(2)),
      msPerPoll: Number(((1000 * (user + system)) / (wallS / 5)).toFixed(1)),
      rssMB: Number(rssMB.toFixed(1)),
      recordsAtCollectorBeforeStop: received,
    };
  } finally {
    await bed.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

export const benchmarks: Benchmark[] = [{ name: 'exporter.cpu.10k', run: cpuTenK }];
