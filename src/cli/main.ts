// `flowvis <command>`: one subcommand per stage of the data path.
import { Command, CommanderError } from 'commander';
import { aggregatorCommand } from './aggregator.js';
import { registerCollector } from './collector.js';
import { exporterCommand } from './exporter.js';
import { testbedCommand } from './testbed.js';
import { demoCommand } from './demo.js';
import { flowsCommand } from './flows.js';
import { topCommand } from './top.js';
import { importCommand } from './import.js';
import { exportCommand } from './export.js';
import { storeCommand } from './store.js';
import { uiCommand } from './ui.js';

export function buildProgram(): Command {
  const program = new Command('flowvis')
    .description('Network flow visibility for Kubernetes clusters')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)');
  program.addCommand(aggregatorCommand());
  program.addCommand(exporterCommand());
  registerCollector(program);
  program.addCommand(testbedCommand());
  program.addCommand(demoCommand());
  program.addCommand(flowsCommand());
  program.addCommand(topCommand());
  program.addCommand(importCommand());
  program.addCommand(exportCommand());
  program.addCommand(storeCommand());
  program.addCommand(uiCommand());
  return program;
}

export async function run(argv: string[]): Promise<void> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    process.stderr.write(`flowvis: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
