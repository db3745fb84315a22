// `flowvis top`: top talkers by bytes or packets over a time range.
import { Command, Option } from 'commander';
import { document, itemsTable, csvHeader, csvRows, type OutputFormat } from '../store/format.js';
import type { Talker } from '../store/query.js';
import { addFilterOptions, addSourceOptions, openSource, outputOption, paramsFromOptions, type SourceOptions } from './flows.js';

export function topCommand(): Command {
  const cmd = new Command('top').description('Show the top talkers (Pods, or IPs outside the cluster) by bytes or packets in both directions.');
  addSourceOptions(cmd);
  addFilterOptions(cmd);
  cmd
    .addOption(new Option('--by <metric>', 'rank by').choices(['bytes', 'packets']).default('bytes'))
    .addOption(new Option('--side <side>', 'rank sources or destinations').choices(['source', 'destination']).default('source'))
    .addOption(outputOption())
    .action(async (opts: Record<string, unknown> & SourceOptions & { output: OutputFormat; by: string; side: string }) => {
      const params: Record<string, string> = { ...paramsFromOptions(opts), by: opts.by, side: opts.side };
      if (params.limit === undefined) params.limit = '10';
      const source = await openSource(opts);
      try {
        const result = (await source.run('top', params)) as { items: Talker[]; completeness: { complete: boolean; recordsDropped: number; recordsLost: number; storeDropped: number; snapshots: number } };
        const rows = result.items.map((t) => ({ endpoint: t.endpoint, bytes: t.bytes, reverseBytes: t.reverseBytes, packets: t.packets, reversePackets: t.reversePackets, flows: t.flows }));
        switch (opts.output) {
          case 'json':
          case 'yaml':
            process.stdout.write(document(result, opts.output));
            break;
          case 'csv':
            process.stdout.write(csvHeader(Object.keys(rows[0] ?? { endpoint: '' })) + csvRows(rows, Object.keys(rows[0] ?? { endpoint: '' })));
            break;
          case 'table': {
            process.stdout.write(itemsTable(rows));
            const c = result.completeness;
            if (!c.complete) {
              process.stderr.write(
                c.snapshots === 0
                  ? 'completeness: unknown (no counter snapshots in this range)\n'
                  : `completeness: ${c.recordsDropped} records dropped, ${c.recordsLost} lost, ${c.storeDropped} dropped by the store in this range\n`,
              );
            }
            break;
          }
        }
      } finally {
        await source.close();
      }
    });
  return cmd;
}
