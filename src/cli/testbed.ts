// `flowvis testbed up|down|status|run|stop|traffic|exec`: a small cluster of network namespaces
// (Nodes, Pods, Services, an External host, NetworkPolicies) with one exporter per Node and an
// aggregator. Needs root, except `up --dry-run`, which prints the plan. See docs/testbed.md.
import { spawnSync } from 'node:child_process';
import { Command, Option } from 'commander';
import { defaultTopology } from '../testbed/default-topology.js';
import { TestbedError } from '../testbed/errors.js';
import { planTestbed } from '../testbed/plan.js';
import { defaultStateDir, Testbed } from '../testbed/testbed.js';
import { loadTopology, parseTopology, type Topology } from '../testbed/topology.js';
import { TrafficGenerator, type TrafficResult } from '../testbed/traffic.js';

interface Common {
  stateDir?: string;
  prefix?: string;
}

function stateDirOf(o: Common): string {
  return o.stateDir ?? defaultStateDir(o.prefix ?? 'fvtb');
}

function topologyOf(o: { topology?: string; prefix?: string }): Topology {
  const base = o.topology ? loadTopology(o.topology) : defaultTopology();
  return o.prefix ? parseTopology({ ...base.document, prefix: o.prefix }, { baseDir: process.cwd() }) : base;
}

const say = (line: string): void => {
  process.stderr.write(`testbed: ${line}\n`);
};

function printResult(r: TrafficResult, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  const c0 = r.conversations[0];
  const bytes = r.conversations.reduce((a, c) => [a[0] + c.bytesSent, a[1] + c.bytesReceived], [0, 0]);
  const mark = r.asExpected ? '' : `  (expected ${r.spec.expect})`;
  process.stdout.write(
    `${r.spec.name.padEnd(26)} ${r.verdict.padEnd(6)} ${r.spec.protocol} IPv${r.spec.family} ${r.spec.from} ${c0 ? `${c0.sourceAddress}:${c0.sourcePort}` : ''} -> ${c0 ? `${c0.destinationAddress}:${c0.destinationPort}` : ''}` +
      `${c0?.servedBy ? ` (${c0.servedBy})` : ''} x${r.conversations.length} sent ${bytes[0]} B received ${bytes[1]} B${mark}\n`,
  );
}

export function testbedCommand(): Command {
  const cmd = new Command('testbed').description(
    'A Kubernetes-like cluster of network namespaces on this machine (needs root): Nodes with bridges and dual-stack Pod CIDRs, ' +
      'Pods, Services (iptables DNAT), an External host (SNAT), NetworkPolicies (iptables, NFLOG before drop/reject), ' +
      'one flowvis exporter per Node and a flowvis aggregator. See docs/testbed.md.',
  );
  const stateOpt = () => new Option('--state-dir <dir>', 'state directory (default /run/flowvis-testbed/<prefix>)');
  const prefixOpt = () => new Option('--prefix <name>', 'namespace name prefix (default: the topology\'s, "fvtb")');

  cmd
    .command('up')
    .description('Build the testbed (removing leftovers of an earlier run first); with --run also start the exporters and the aggregator')
    .option('-t, --topology <file>', 'topology YAML (default: the built-in one, test/fixtures/testbed/topology.yaml)')
    .addOption(stateOpt())
    .addOption(prefixOpt())
    .option('--run', 'start one exporter per Node and the aggregator as well')
    .option('--dry-run', 'print the commands and iptables rules instead of running them (no root needed)')
    .action(async (o: Common & { topology?: string; run?: boolean; dryRun?: boolean }) => {
      const topology = topologyOf(o);
      if (o.dryRun) {
        const plan = planTestbed(topology);
        for (const c of plan.commands) process.stdout.write(`${c.argv.join(' ')}\n`);
        for (const r of plan.iptables) process.stdout.write(`\n# ${r.family === 4 ? 'iptables' : 'ip6tables'}-restore in ${r.namespace}\n${r.rules}`);
        return;
      }
      const stateDir = o.stateDir ?? defaultStateDir(topology.prefix);
      const tb = await Testbed.up(topology, { stateDir, run: o.run, log: say });
      say(`up: ${tb.names.all.length} namespaces, state in ${tb.paths.stateDir}${o.run ? '; exporters and aggregator running' : '; start the exporters and the aggregator with "flowvis testbed run"'}`);
    });

  cmd
    .command('down')
    .description('Stop every testbed process and remove every namespace "<prefix>-*" (with their links and iptables rules)')
    .addOption(stateOpt())
    .addOption(prefixOpt())
    .action(async (o: Common) => {
      const prefix = o.prefix ?? (o.stateDir ? Testbed.attach(o.stateDir).topology.prefix : 'fvtb');
      const r = await Testbed.down({ prefix, stateDir: stateDirOf({ ...o, prefix }) });
      say(`down: removed ${r.namespacesRemoved.length} namespaces, stopped ${r.processesStopped} processes`);
    });

  cmd
    .command('status')
    .description('Print the namespaces and processes of the testbed as JSON')
    .addOption(stateOpt())
    .addOption(prefixOpt())
    .action((o: Common) => {
      process.stdout.write(`${JSON.stringify(Testbed.attach(stateDirOf(o)).status(), null, 2)}\n`);
    });

  cmd
    .command('run')
    .description('Start the aggregator and one exporter per Node namespace')
    .addOption(stateOpt())
    .addOption(prefixOpt())
    .action(async (o: Common) => {
      const tb = Testbed.attach(stateDirOf(o), say);
      await tb.startComponents();
      say(`running; aggregated flows go to ${tb.paths.flowLogFile}, logs to ${tb.paths.logDir}`);
    });

  cmd
    .command('stop')
    .description('Stop the exporters (they export every connection with flowEndReason 4) and the aggregator')
    .addOption(stateOpt())
    .addOption(prefixOpt())
    .action(async (o: Common) => {
      const n = await Testbed.attach(stateDirOf(o)).stopComponents();
      say(`stopped ${n} processes`);
    });

  cmd
    .command('traffic')
    .description('Run the topology\'s traffic plan (or the named entries of it), or one conversation given with --from/--to')
    .argument('[names...]', 'entries of the traffic plan (default: all)')
    .addOption(stateOpt())
    .addOption(prefixOpt())
    .option('--from <pod>', 'source Pod, namespace/name')
    .option('--to <target>', 'a Pod namespace/name, service:namespace/name, or external')
    .addOption(new Option('--protocol <p>', 'TCP or UDP').choices(['TCP', 'UDP']).default('TCP'))
    .option('--port <port>', 'port number or name')
    .addOption(new Option('--family <n>', '4 or 6').choices(['4', '6']).default('4'))
    .option('--request-bytes <n>', 'TCP: bytes per connection; UDP: bytes per datagram')
    .option('--response-bytes <n>', 'TCP: bytes answered per connection; UDP: bytes per reply')
    .option('--connections <n>', 'TCP: sequential connections')
    .option('--datagrams <n>', 'UDP: datagrams')
    .option('--duration <d>', 'spread the request over this long (e.g. 30s): a long-lived connection')
    .option('--json', 'print one JSON result per line')
    .action(async (names: string[], o: Common & Record<string, string | boolean | undefined>) => {
      const tb = Testbed.attach(stateDirOf(o));
      const gen = new TrafficGenerator(tb);
      let results: TrafficResult[];
      if (o.from !== undefined || o.to !== undefined) {
        if (o.from === undefined || o.to === undefined || o.port === undefined) throw new TestbedError('TESTBED_ERR_TRAFFIC', '--from, --to and --port go together, e.g. --from frontend/web-1 --to backend/api-1 --port http');
        const num = (v: unknown) => (v === undefined ? undefined : Number(v));
        const port = /^\d+$/.test(String(o.port)) ? Number(o.port) : String(o.port);
        const spec = gen.spec({
          name: 'cli',
          from: String(o.from),
          to: String(o.to),
          protocol: o.protocol as 'TCP' | 'UDP',
          port,
          family: Number(o.family) as 4 | 6,
          requestBytes: num(o.requestBytes),
          responseBytes: num(o.responseBytes),
          connections: num(o.connections),
          datagrams: num(o.datagrams),
          duration: o.duration as string | undefined,
        });
        results = await gen.run([spec]);
      } else {
        results = await gen.runPlan(names);
      }
      for (const r of results) printResult(r, o.json === true);
      if (results.some((r) => !r.asExpected)) process.exitCode = 3;
    });

  cmd
    .command('exec')
    .description('Run a command in a testbed namespace: a Node name, a Pod namespace/name, "external", "aggregator" or "underlay"')
    .argument('<target>')
    .argument('<command...>')
    .addOption(stateOpt())
    .addOption(prefixOpt())
    .action((target: string, command: string[], o: Common) => {
      const tb = Testbed.attach(stateDirOf(o));
      const ns =
        tb.names.nodes[target] ?? tb.names.pods[target] ?? ({ external: tb.names.external, aggregator: tb.names.aggregator, underlay: tb.names.underlay } as Record<string, string>)[target];
      if (!ns) throw new TestbedError('TESTBED_ERR_COMMAND', `"${target}" is not a Node, Pod, external, aggregator or underlay of this testbed`);
      const r = spawnSync('ip', ['netns', 'exec', ns, ...command], { stdio: 'inherit' });
      process.exitCode = r.status ?? 1;
    });
  return cmd;
}
