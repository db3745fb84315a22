// `flowvis demo --testbed` (root): the same demo on the real network-namespace testbed
// (docs/testbed.md): real Pods, conntrack, iptables Services and policies, the real exporters.
// What it adds to `flowvis testbed up --run`:
//   - the aggregator keeps its records in the embedded store (<data-dir>/testbed/store), so the
//     API and UI have data;
//   - the UI is reachable from this machine: the aggregator's namespace has no link to the root
//     namespace, so a relay runs in it and the demo forwards 127.0.0.1:10348 to it through a
//     Unix socket (src/demo/relay.ts);
//   - the topology's traffic plan runs over and over, more often at the busy hours of the day.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import type { Server } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultTopology } from '../testbed/default-topology.js';
import { Testbed } from '../testbed/testbed.js';
import { parseTopology } from '../testbed/topology.js';
import { TrafficGenerator } from '../testbed/traffic.js';
import { DemoError } from './errors.js';
import { relayTcpToUnix } from './relay.js';
import { shapeAt } from './traffic.js';

export interface TestbedDemoOptions {
  /** Where the UI is served on this machine; default 127.0.0.1:10348. */
  listen: string;
  dataDir: string;
  /** Multiplies how often the traffic plan runs. */
  rate: number;
  say: (line: string) => void;
}

/** The testbed's namespace prefix for the demo (docs/testbed.md: `prefix`). */
export const TESTBED_DEMO_PREFIX = 'fvdemo';

export async function runTestbedDemo(o: TestbedDemoOptions): Promise<void> {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) {
    throw new DemoError('DEMO_ERR_TESTBED', 'flowvis demo --testbed builds network namespaces and needs root on Linux; run "sudo node bin/flowvis.js demo --testbed", or "npm start" for the simulated demo');
  }
  const m = /^([0-9.]+|localhost):(\d{1,5})$/.exec(o.listen);
  if (!m) throw new DemoError('DEMO_ERR_INVALID_OPTION', `--listen "${o.listen}" is not IPv4:PORT; write e.g. 127.0.0.1:10348`);
  if (!(o.rate > 0 && o.rate <= 100)) throw new DemoError('DEMO_ERR_INVALID_OPTION', `--rate must be above 0 and at most 100, got ${o.rate}`);
  const dir = resolve(o.dataDir, 'testbed');
  mkdirSync(dir, { recursive: true });
  const base = defaultTopology();
  const doc = base.document as Record<string, unknown>;
  const aggregator = (doc.aggregator ?? {}) as Record<string, unknown>;
  const topology = parseTopology(
    {
      ...doc,
      prefix: TESTBED_DEMO_PREFIX,
      aggregator: {
        ...aggregator,
        config: { ...((aggregator.config ?? {}) as Record<string, unknown>), flowExportInterval: '5s', inactiveFlowRecordTimeout: '15s', correlationWait: '5s', store: { url: join(dir, 'store'), retention: '168h' } },
      },
    },
    { baseDir: process.cwd() },
  );
  const stateDir = join(dir, 'state');
  const socketPath = join(dir, 'ui.sock');
  let stopping = false;
  let relayChild: ChildProcess | null = null;
  let relayServer: Server | null = null;
  let wake: (() => void) | null = null;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    o.say(`flowvis demo --testbed: ${signal}: stopping`);
    wake?.();
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));

  o.say(`flowvis demo --testbed: building the testbed "${TESTBED_DEMO_PREFIX}" (real namespaces, exporters and aggregator)`);
  let tb: Testbed | null = null;
  try {
    tb = await Testbed.up(topology, { stateDir, run: true, log: (l) => o.say(`  testbed: ${l}`) });
    const api = tb.aggregatorApi();
    if (!api) throw new DemoError('DEMO_ERR_TESTBED', 'the testbed aggregator has no API address');
    const relayScript = join(dirname(fileURLToPath(import.meta.url)), 'relay.js');
    rmSync(socketPath, { force: true });
    relayChild = spawn('ip', ['netns', 'exec', tb.names.aggregator, process.execPath, relayScript, socketPath, api.host, String(api.port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((res, rej) => {
      relayChild!.once('exit', (code) => rej(new DemoError('DEMO_ERR_TESTBED', `the UI relay in ${tb!.names.aggregator} exited with ${code}`)));
      relayChild!.stdout!.once('data', () => res());
    });
    relayServer = await relayTcpToUnix(m[1] === 'localhost' ? '127.0.0.1' : m[1], Number(m[2]), socketPath);
    o.say(`flowvis demo --testbed: UI at http://${m[1]}:${m[2]}/ui/  (the testbed aggregator's API, relayed); Ctrl-C stops and removes the testbed`);

    const traffic = new TrafficGenerator(tb);
    let cycle = 0;
    while (!stopping) {
      const results = await traffic.runPlan();
      cycle++;
      const unexpected = results.filter((r) => !r.asExpected).map((r) => r.spec.name);
      o.say(`  traffic cycle ${cycle}: ${results.length} conversations${unexpected.length ? `, not as expected: ${unexpected.join(', ')}` : ''}`);
      const hour = new Date().getHours() + new Date().getMinutes() / 60;
      const pauseMs = Math.min(60_000, 5000 / (o.rate * shapeAt('web', hour)));
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, pauseMs).unref();
      });
      wake = null;
    }
  } finally {
    relayServer?.close();
    relayChild?.kill('SIGTERM');
    const report = await Testbed.down({ prefix: TESTBED_DEMO_PREFIX, stateDir });
    o.say(`flowvis demo --testbed: removed ${report.namespacesRemoved.length} namespaces`);
  }
}
