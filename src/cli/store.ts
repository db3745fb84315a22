// `flowvis store <migrate|retain|serve|info>`: store maintenance and the standalone query API.
import { Command } from 'commander';
import { buildStoreApi } from '../api/store-api.js';
import { parseHostPort } from '../util/address.js';
import { StoreError } from '../store/errors.js';
import { openRepository } from '../store/repository.js';
import { parseDuration } from '../util/duration.js';

function need(store: string | undefined): string {
  if (!store) throw new StoreError('STORE_ERR_INVALID_OPTION', 'say which store: --store <dir> (embedded) or --store http://host:8123/database (ClickHouse)');
  return store;
}

export function storeCommand(): Command {
  const cmd = new Command('store').description('Flow store maintenance: schema migrations, retention, and the query API on its own.');
  cmd
    .command('migrate')
    .description('Move the schema to a version (default: the latest); down migrations drop data.')
    .option('--store <dir|clickhouse-url>', 'the store')
    .option('--to <version>', 'target schema version')
    .action(async (opts: { store?: string; to?: string }) => {
      const repo = await openRepository(need(opts.store), { migrate: opts.to === undefined });
      try {
        if (opts.to !== undefined) {
          if (!/^\d+$/.test(opts.to)) throw new StoreError('STORE_ERR_INVALID_OPTION', `--to ${opts.to} is not a version number; write e.g. --to 2`);
          const ran = await repo.migrateTo(Number(opts.to));
          process.stdout.write(`ran migrations ${ran.join(', ') || '(none)'}\n`);
        }
        process.stdout.write(`schema version ${await repo.schemaVersion()}\n`);
      } finally {
        await repo.close();
      }
    });
  cmd
    .command('retain')
    .description('Delete records whose flow ended longer ago than --older-than, then compact the store.')
    .option('--store <dir|clickhouse-url>', 'the store')
    .requiredOption('--older-than <duration>', 'age, e.g. 168h')
    .action(async (opts: { store?: string; olderThan: string }) => {
      let ms: number;
      try {
        ms = parseDuration(opts.olderThan);
      } catch {
        throw new StoreError('STORE_ERR_INVALID_OPTION', `--older-than ${opts.olderThan} is not a duration; write e.g. --older-than 168h`);
      }
      if (!(ms > 0)) throw new StoreError('STORE_ERR_INVALID_OPTION', `--older-than ${opts.olderThan} must be positive`);
      const repo = await openRepository(need(opts.store));
      try {
        const r = await repo.retain(Math.floor((Date.now() - ms) / 1000));
        process.stdout.write(`deleted ${r.deletedFlows} flow records${r.droppedPartitions.length ? ` (partitions ${r.droppedPartitions.join(', ')})` : ''}; ${await repo.countFlows()} remain\n`);
      } finally {
        await repo.close();
      }
    });
  cmd
    .command('info')
    .description('Engine, location, schema version, row count and (embedded) the health of its background jobs.')
    .option('--store <dir|clickhouse-url>', 'the store')
    .action(async (opts: { store?: string }) => {
      const repo = await openRepository(need(opts.store));
      try {
        const info = { engine: repo.engine, location: repo.location, schemaVersion: await repo.schemaVersion(), flows: await repo.countFlows() };
        // The embedded store's background jobs and files (store/health.ts); ClickHouse has none.
        process.stdout.write(JSON.stringify(repo.health ? { ...info, health: repo.health() } : info, null, 2) + '\n');
      } finally {
        await repo.close();
      }
    });
  cmd
    .command('serve')
    .description('Serve the query API (/api/v1/...) for a store, without an aggregator.')
    .option('--store <dir|clickhouse-url>', 'the store')
    .option('--listen <host:port>', 'address to listen on', '127.0.0.1:10349')
    .action(async (opts: { store?: string; listen: string }) => {
      const at = parseHostPort(opts.listen);
      if (!at) throw new StoreError('STORE_ERR_INVALID_OPTION', `--listen ${opts.listen} is not HOST:PORT; write e.g. 127.0.0.1:10349`);
      const repo = await openRepository(need(opts.store));
      const app = await buildStoreApi({ repository: () => repo });
      await app.listen({ host: at.host, port: at.port });
      process.stderr.write(`store API for ${repo.engine} ${repo.location} on ${JSON.stringify(app.server.address())}\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      await app.close();
      await repo.close();
    });
  return cmd;
}
