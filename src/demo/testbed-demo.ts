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
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultTopology } from '../testbed/default-topology.js';
import { Testbed } from '../testbed/testbed.js';
import { parseTopology } from '../testbed/topology.js';
import { TrafficGenerator } from '../testbed/traffic.js';
import { DemoError } from './errors.js';
import { relayTcpToUnix, type Relay } from './relay.js';
import { shapeAt } from './traffic.js';

export interface TestbedDemoOptions {
  /** Where the UI is served on this machine; default 127.0.0.1:10348. */
  listen: string;
  dataDir: string;
  /** Multiplies how often the traffic plan runs. */
  rate: number;
  say: (line: string) => void;
  /** Namespace prefix; default TESTBED_DEMO_PREFIX. */
  prefix?: string;
}

export interface TestbedDemo {
  /** The UI on this machine. */
  readonly url: string;
  readonly testbed: Testbed;
  /** Traffic cycles run so far. */
  readonly cycles: number;
  /** Stops the traffic, the relay, and removes the testbed. */
  stop(): Promise<void>;
}

/** The testbed's namespace prefix for the demo (docs/testbed.md: `prefix`). */
export const TESTBED_DEMO_PREFIX = 'fvdemo';

/** Builds the testbed with the demo's aggregator config, relays its UI, and starts the traffic loop. */
export async function startTestbedDemo(o: TestbedDemoOptions): Promise<TestbedDemo> {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) {
    throw new DemoError('DEMO_ERR_TESTBED', 'flowvis demo --testbed builds network namespaces and needs root on Linux; run "sudo node bin/flowvis.js demo --testbed", or "npm start" for the simulated demo');
  }
  const m = /^([0-9.]+|localhost):(\d{1,5})$/.exec(o.listen);
  if (!m || Number(m[2]) > 65535) throw new DemoError('DEMO_ERR_INVALID_OPTION', `--listen "${o.listen}" is not IPv4:PORT; write e.g. 127.0.0.1:10348`);
  if (!(o.rate > 0 && o.rate <= 100)) throw new DemoError('DEMO_ERR_INVALID_OPTION', `--rate must be above 0 and at most 100, got ${o.rate}`);
  const prefix = o.prefix ?? TESTBED_DEMO_PREFIX;
  const dir = resolve(o.dataDir, 'testbed');
  mkdirSync(dir, { recursive: true });
  const doc = defaultTopology().document as Record<string, unknown>;
  const aggregator = (doc.aggregator ?? {}) as Record<string, unknown>;
  const topology = parseTopology(
    {
      ...doc,
      prefix,
      aggregator: {
        ...aggregator,
        config: { ...((aggregator.config ?? {}) as Record<string, unknown>), flowExportInterval: '5s', inactiveFlowRecordTimeout: '15s', correlationWait: '5s', store: { url: join(dir, 'store'), retention: '168h' } },
      },
    },
    { baseDir: process.cwd() },
  );
  const stateDir = join(dir, 'state');
  const socketPath = join(dir, 'ui.sock');
  let relayChild: ChildProcess | null = null;
  let relayServer: Relay | null = null;

  const teardown = async (): Promise<void> => {
    await relayServer?.close();
    if (relayChild && relayChild.exitCode === null) {
      const child = relayChild;
      await new Promise<void>((r) => {
        child.once('exit', () => r());
        child.kill('SIGTERM');
      });
    }
    rmSync(socketPath, { force: true });
    const report = await Testbed.down({ prefix, stateDir });
    o.say(`flowvis demo --testbed: removed ${report.namespacesRemoved.length} namespaces`);
  };

  o.say(`flowvis demo --testbed: building the testbed "${prefix}" (real namespaces, exporters and aggregator)`);
  let tb: Testbed;
  let url: string;
  try {
    tb = await Testbed.up(topology, { stateDir, run: true, log: (l) => o.say(`  testbed: ${l}`) });
    const api = tb.aggregatorApi();
    if (!api) throw new DemoError('DEMO_ERR_TESTBED', 'the testbed aggregator has no API address');
    const relayScript = join(dirname(fileURLToPath(import.meta.url)), 'relay.js');
    rmSync(socketPath, { force: true });
    const child = spawn('ip', ['netns', 'exec', tb.names.aggregator, process.execPath, relayScript, socketPath, api.host, String(api.port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    relayChild = child;
    await new Promise<void>((res, rej) => {
      child.once('exit', (code) => rej(new DemoError('DEMO_ERR_TESTBED', `the UI relay in ${tb.names.aggregator} exited with ${code}`)));
      child.stdout!.once('data', () => res());
    });
    child.stdout!.resume();
    const host = m[1] === 'localhost' ? '127.0.0.1' : m[1];
    relayServer = await relayTcpToUnix(host, Number(m[2]), socketPath);
    const address = relayServer.server.address();
    url = `http://${host}:${typeof address === 'object' && address ? address.port : m[2]}/ui/`;
  } catch (err) {
    await teardown().catch(() => undefined);
    throw err;
  }

  let stopping = false;
  let cycles = 0;
  let wake: (() => void) | null = null;
  const traffic = new TrafficGenerator(tb);
  const loop = (async () => {
    while (!stopping) {
      const results = await traffic.runPlan();
      cycles++;
      const unexpected = results.filter((r) => !r.asExpected).map((r) => r.spec.name);
      if (stopping) break;
      o.say(`  traffic cycle ${cycles}: ${results.length} conversations${unexpected.length ? `, not as expected: ${unexpected.join(', ')}` : ''}`);
      const now = new Date();
      const pauseMs = Math.min(60_000, 5000 / (o.rate * shapeAt('web', now.getHours() + now.getMinutes() / 60)));
      await new Promise<void>((r) => {
        const t = setTimeout(r, pauseMs);
        wake = () => {
          clearTimeout(t);
          r();
        };
      });
      wake = null;
    }
  })().catch((err: unknown) => o.say(`  traffic stopped: ${err instanceof Error ? err.message : String(err)}`));

  let stopped: Promise<void> | null = null;
  return {
    url,
    testbed: tb,
    get cycles() {
      return cycles;
    },
    stop() {
      stopped ??= (async () => {
        stopping = true;
        (wake as (() => void) | null)?.();
        // Removing the testbed ends the conversations in flight (their clients run in its
        // namespaces), so the loop finishes at once instead of after its longest conversation.
        await teardown();
        await loop;
      })();
      return stopped;
    },
  };
}

/** `flowvis demo --testbed`: runs until SIGINT or SIGTERM. */
export async function runTestbedDemo(o: TestbedDemoOptions): Promise<void> {
  const demo = await startTestbedDemo(o);
  o.say(`flowvis demo --testbed: UI at ${demo.url}  (the testbed aggregator's API, relayed); Ctrl-C stops and removes the testbed`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      o.say(`flowvis demo --testbed: ${signal}: stopping`);
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  await demo.stop();
}
