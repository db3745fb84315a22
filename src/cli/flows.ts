// `flowvis flows`: lists stored flow records with filters; --follow streams new ones.
// Also the options every store command shares (--store/--api and the query filters).
import { Command, Option } from 'commander';
import { apiSource, localSource, type QuerySource } from '../api/client.js';
import { StoreError } from '../store/errors.js';
import { csvHeader, csvRows, document, flowTableRow, FLOW_TABLE_HEADERS, OUTPUT_FORMATS, table, type OutputFormat } from '../store/format.js';
import { MAX_LIMIT } from '../store/query.js';
import { COLUMN_NAMES, type StoredFlow } from '../store/schema.js';

/** CLI option -> query parameter. */
const FILTERS: readonly [flag: string, param: string, help: string][] = [
  ['--from <time>', 'from', 'start: epoch seconds, RFC 3339, now-<duration> (default: 1h before --to)'],
  ['--to <time>', 'to', 'end (exclusive); default now'],
  ['--last <duration>', 'last', 'the range ending at --to, e.g. 15m, 24h'],
  ['--namespace <ns>', 'namespace', 'source or destination namespace'],
  ['--pod <[ns/]name>', 'pod', 'source or destination Pod'],
  ['--node <name>', 'node', 'source or destination Node'],
  ['--service <ns/name[:port]>', 'service', 'destination Service (port name optional)'],
  ['--policy <[ns/]name>', 'policy', 'ingress or egress NetworkPolicy'],
  ['--action <action>', 'action', 'rule action: allow, drop, reject'],
  ['--protocol <proto>', 'protocol', 'tcp, udp, icmp, icmpv6, sctp or a number'],
  ['--flow-type <type>', 'flowType', 'intraNode, interNode, toExternal, fromExternal'],
  ['--ip <ip|cidr>', 'ip', 'source or destination address or CIDR block'],
  ['--port <port>', 'port', 'source or destination port'],
  ['--limit <n>', 'limit', `rows per page (1-${MAX_LIMIT}, default 100)`],
  ['--offset <n>', 'offset', 'rows to skip (pagination)'],
];

export interface SourceOptions {
  store?: string;
  api?: string;
}

export function addSourceOptions(cmd: Command): Command {
  return cmd
    .option('--store <dir|clickhouse-url>', 'the store: a directory (embedded) or http://host:8123/database (ClickHouse)')
    .option('--api <url>', "query a running aggregator's HTTP API instead, e.g. http://localhost:10348");
}

export function addFilterOptions(cmd: Command): Command {
  for (const [flag, , help] of FILTERS) cmd.option(flag, help);
  return cmd;
}

/** The query parameters the filter options name. */
export function paramsFromOptions(opts: Record<string, unknown>): Record<string, string> {
  const params: Record<string, string> = {};
  for (const [flag, param] of FILTERS) {
    const key = flag.slice(2).split(' ')[0].replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
    if (opts[key] !== undefined) params[param] = String(opts[key]);
  }
  return params;
}

export async function openSource(opts: SourceOptions): Promise<QuerySource> {
  if (opts.store && opts.api) throw new StoreError('STORE_ERR_INVALID_OPTION', 'give either --store or --api, not both');
  if (opts.api) return apiSource(opts.api);
  if (opts.store) return localSource(opts.store);
  throw new StoreError('STORE_ERR_INVALID_OPTION', 'say where the flows are: --store <dir> (embedded), --store http://host:8123/db (ClickHouse) or --api http://aggregator:10348');
}

export function outputOption(): Option {
  return new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table');
}

function printFlows(items: StoredFlow[], format: OutputFormat, first: boolean, write: (s: string) => void): void {
  switch (format) {
    case 'table': {
      // Follow-up pages keep the first page's header (widths may differ; the columns stay in order).
      const text = table(FLOW_TABLE_HEADERS, items.map(flowTableRow));
      write(first ? text : text.slice(text.indexOf('\n') + 1));
      break;
    }
    case 'csv':
      write((first ? csvHeader(COLUMN_NAMES) : '') + csvRows(items as unknown as Record<string, unknown>[], COLUMN_NAMES));
      break;
    case 'json':
      for (const f of items) write(JSON.stringify(f) + '\n');
      break;
    case 'yaml':
      if (items.length > 0) write(document(items, 'yaml'));
      break;
  }
}

export function flowsCommand(): Command {
  const cmd = new Command('flows').description('List stored flow records, newest first, with filters; --follow streams records as they are stored.');
  addSourceOptions(cmd);
  addFilterOptions(cmd);
  cmd
    .addOption(outputOption())
    .option('-f, --follow', 'after the listing, print records as they are stored (polls every --interval)')
    .option('--interval <ms>', 'poll interval for --follow, in milliseconds', '1000')
    .action(async (opts: Record<string, unknown> & SourceOptions & { output: OutputFormat; follow?: boolean; interval: string }) => {
      const params = paramsFromOptions(opts);
      const source = await openSource(opts);
      const write = (s: string) => void process.stdout.write(s);
      try {
        const result = (await source.run('flows', params)) as { items: StoredFlow[] };
        if (!opts.follow) {
          if (opts.output === 'json' || opts.output === 'yaml') write(document(result, opts.output));
          else printFlows(result.items, opts.output, true, write);
          return;
        }
        printFlows([...result.items].reverse(), opts.output, true, write);
        let cursor = Math.max(Math.floor(Date.now() / 1000) - 1, ...result.items.map((f) => f.timeInserted));
        const interval = Math.max(100, Number(opts.interval) || 1000);
        let stop = false;
        process.once('SIGINT', () => (stop = true));
        process.once('SIGTERM', () => (stop = true));
        const followParams = { ...params };
        delete followParams.offset;
        while (!stop) {
          await new Promise((r) => setTimeout(r, interval));
          const now = Math.floor(Date.now() / 1000);
          const page = (await source.run('flows', {
            ...followParams,
            from: params.from ?? String(cursor - 86400),
            to: String(now + 3600),
            limit: String(MAX_LIMIT),
            insertedAfter: String(cursor),
          })) as { items: StoredFlow[] };
          if (page.items.length === 0) continue;
          printFlows(page.items, opts.output, false, write);
          cursor = Math.max(cursor, ...page.items.map((f) => f.timeInserted));
        }
      } finally {
        await source.close();
      }
    });
  return cmd;
}
