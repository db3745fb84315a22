// `flowvis demo`: a SIMULATED cluster whose Node exporters send real IPFIX to a real aggregator,
// with the embedded store and the UI; no root, no system packages. `--testbed` runs the same
// demo on the network-namespace testbed instead (root). See docs/demo.md.
import { Command, Option } from 'commander';
import pino from 'pino';
import { DemoRunner } from '../demo/runner.js';
import { DemoError } from '../demo/errors.js';

interface DemoCliOptions {
  nodes: string;
  seed: string;
  dataDir: string;
  listen: string;
  collect: string;
  rate: string;
  backfill: string;
  window: string;
  testbed?: boolean;
  logLevel: string;
}

function wholeNumber(name: string, text: string): number {
  if (!/^\d+$/.test(text.trim())) throw new DemoError('DEMO_ERR_INVALID_OPTION', `--${name} "${text}" is not a whole number; write e.g. --${name} 3`);
  return Number(text);
}

export function demoCommand(): Command {
  return new Command('demo')
    .description(
      'Run the demo: a SIMULATED Kubernetes cluster (namespaces, Deployments, Services, NetworkPolicies, external endpoints, ' +
        'traffic that follows the day) whose simulated Node exporters send real IPFIX over loopback to a real Flow Aggregator, ' +
        'with the embedded store and the UI. Needs no root. Prints the UI URL; Ctrl-C stops everything.',
    )
    .option('--nodes <n>', 'simulated Nodes (2-16)', '3')
    .option('--seed <s>', 'seed of the simulated cluster and its traffic (same seed, same cluster and traffic)', '1')
    .option('--data-dir <dir>', 'where the store is kept', '.flowvis/demo')
    .option('--listen <host:port>', 'API and UI address', '127.0.0.1:10348')
    .option('--collect <host:port>', "the aggregator's IPFIX collecting address (TCP, loopback)", '127.0.0.1:4739')
    .option('--rate <x>', 'multiplies the simulated connection rate (e.g. 0.5, 4)', '1')
    .option('--backfill <duration>', 'history simulated at start so the dashboards have a past ("0" for none)', '3h')
    .option('--window <duration>', "simulated exporters' active timeout", '5s')
    .addOption(new Option('--testbed', 'run the demo on the network-namespace testbed instead (needs root; see docs/demo.md)'))
    .option('--log-level <level>', 'aggregator log level (trace, debug, info, warn, error)', 'warn')
    .action(async (o: DemoCliOptions) => {
      if (o.testbed) {
        const { runTestbedDemo } = await import('../demo/testbed-demo.js');
        await runTestbedDemo({ listen: o.listen, dataDir: o.dataDir, rate: Number(o.rate), say: (l) => process.stdout.write(`${l}\n`) });
        return;
      }
      const rate = Number(o.rate);
      if (!Number.isFinite(rate)) throw new DemoError('DEMO_ERR_INVALID_OPTION', `--rate "${o.rate}" is not a number; write e.g. --rate 2`);
      const logger = pino({ level: o.logLevel, name: 'flowvis-demo' }, pino.destination(2));
      const runner = new DemoRunner({
        nodes: wholeNumber('nodes', o.nodes),
        seed: wholeNumber('seed', o.seed),
        dataDir: o.dataDir,
        listen: o.listen,
        collect: o.collect,
        rate,
        backfill: o.backfill,
        window: o.window,
        logger,
      });
      const say = (line: string) => process.stdout.write(`${line}\n`);
      const c = runner.cluster;
      say(`flowvis demo: SIMULATED cluster (seed ${runner.options.seed}): ${c.nodes.length} Nodes, ${c.namespaces.length} namespaces, ${c.pods.length} Pods, ${c.services.length} Services`);
      say(`  simulated Node exporters send IPFIX over TCP to the aggregator on ${runner.options.collect.host}:${runner.options.collect.port}; store in ${runner.options.dataDir}`);
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        say(`flowvis demo: ${signal}: stopping (exporting what is tracked into the store)`);
        void runner.stop().then(
          () => say('flowvis demo: stopped'),
          (err: unknown) => {
            process.stderr.write(`flowvis demo: stop failed: ${err instanceof Error ? err.message : String(err)}\n`);
            process.exitCode = 1;
          },
        );
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
      if (runner.options.backfillMs > 0) say(`  backfilling the last ${o.backfill} of simulated traffic...`);
      const url = await runner.start((line) => say(`  ${line}`));
      if (stopping) return;
      const b = runner.status().backfill;
      if (b.windows > 0) say(`  backfilled ${b.records} records from ${new Date(b.fromMs).toISOString()} to ${new Date(b.toMs).toISOString()}`);
      const origin = new URL(url).origin;
      say(`flowvis demo: UI at ${url}  (API: ${origin}/api/v1/..., simulated inventory: ${origin}/api/v1/demo); Ctrl-C stops`);
    });
}
