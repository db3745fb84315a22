// `flowvis export`: writes a query's whole result (every page) as CSV or JSON lines.
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { Command, Option } from 'commander';
import { VIEW_NAMES, type ViewName } from '../api/client.js';
import { csvHeader, csvRows } from '../store/format.js';
import { MAX_LIMIT } from '../store/query.js';
import { COLUMN_NAMES } from '../store/schema.js';
import { addFilterOptions, addSourceOptions, openSource, paramsFromOptions, type SourceOptions } from './flows.js';

export function exportCommand(): Command {
  const cmd = new Command('export').description('Write the result of a query (flow records by default) as CSV or JSON lines, following every page.');
  addSourceOptions(cmd);
  addFilterOptions(cmd);
  cmd
    .addOption(new Option('--view <view>', 'which query').choices(VIEW_NAMES.filter((v) => v !== 'completeness')).default('flows'))
    .addOption(new Option('--format <format>', 'file format').choices(['csv', 'jsonl']).default('csv'))
    .option('--out <file>', 'output file (default: stdout)')
    .action(async (opts: Record<string, unknown> & SourceOptions & { view: ViewName; format: 'csv' | 'jsonl'; out?: string }) => {
      const params = paramsFromOptions(opts);
      const source = await openSource(opts);
      const out: Writable = opts.out ? createWriteStream(opts.out) : process.stdout;
      const write = async (s: string) => {
        if (s !== '' && !out.write(s)) await once(out, 'drain');
      };
      let rows = 0;
      try {
        let offset = Number(params.offset ?? 0);
        const pageSize = params.limit ?? String(MAX_LIMIT);
        let keys: readonly string[] | null = opts.view === 'flows' ? COLUMN_NAMES : null;
        for (;;) {
          const page = (await source.run(opts.view, { ...params, limit: pageSize, offset: String(offset) })) as {
            items: Record<string, unknown>[];
            page: { nextOffset: number | null };
          };
          if (opts.format === 'csv') {
            if (keys === null) keys = Object.keys(page.items[0] ?? {});
            if (rows === 0) await write(csvHeader(keys));
            await write(csvRows(page.items, keys));
          } else {
            await write(page.items.map((it) => JSON.stringify(it) + '\n').join(''));
          }
          rows += page.items.length;
          if (page.page.nextOffset === null || params.limit !== undefined) break;
          offset = page.page.nextOffset;
        }
      } finally {
        await source.close();
        if (opts.out) await new Promise<void>((resolve) => out.end(resolve));
      }
      process.stderr.write(`exported ${rows} rows\n`);
    });
  return cmd;
}
