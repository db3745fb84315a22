// `flowvis ui --store <dir|clickhouse-url>`: the dashboards and the store API for a store, without
// an aggregator (the aggregator serves the same on its API address when it has a store).
import { Command } from 'commander';
import Fastify from 'fastify';
import { parseHostPort } from '../util/address.js';
import { registerStoreRoutes } from '../api/store-api.js';
import { registerUiRoutes, UI_PREFIX } from '../api/ui-routes.js';
import { StoreError } from '../store/errors.js';
import { DUCKDB_MIGRATIONS, latestVersion } from '../store/migrations.js';
import { isClickHouseUrl, openRepository } from '../store/repository.js';

export const DEFAULT_UI_LISTEN = '127.0.0.1:10350';

export function uiCommand(): Command {
  return new Command('ui')
    .description('Serve the web dashboards (/ui/) and the store query API (/api/v1/...) for a store.')
    .option('--store <dir|clickhouse-url>', 'the store: a directory (embedded) or http://host:8123/database (ClickHouse)')
    .option('--listen <host:port>', 'address to listen on', DEFAULT_UI_LISTEN)
    .action(async (opts: { store?: string; listen: string }) => {
      if (!opts.store) throw new StoreError('STORE_ERR_INVALID_OPTION', 'say which store: --store <dir> (embedded) or --store http://host:8123/database (ClickHouse)');
      const at = parseHostPort(opts.listen);
      if (!at) throw new StoreError('STORE_ERR_INVALID_OPTION', `--listen ${opts.listen} is not HOST:PORT; write e.g. ${DEFAULT_UI_LISTEN}`);
      // The dashboards only read: the embedded store is opened read-only.
      const repo = await openRepository(opts.store, isClickHouseUrl(opts.store) ? {} : { readOnly: true });
      // Read-only, it cannot be migrated here, and the pages read the latest schema's columns.
      if (repo.engine === 'duckdb') {
        const at = await repo.schemaVersion();
        const latest = latestVersion(DUCKDB_MIGRATIONS);
        if (at !== latest) {
          await repo.close();
          throw new StoreError(
            'STORE_ERR_MIGRATION',
            `the store ${repo.location} is at schema ${at} and this flowvis reads schema ${latest}: ` +
              `run \`flowvis store migrate --store ${opts.store}\` (or start the aggregator on it) first`,
          );
        }
      }
      const app = Fastify({ logger: false });
      await registerStoreRoutes(app, { repository: () => repo });
      await registerUiRoutes(app, { repository: () => repo });
      try {
        await app.listen({ host: at.host, port: at.port });
      } catch (err) {
        await repo.close();
        throw err;
      }
      const address = app.server.address();
      const shown = typeof address === 'object' && address ? `${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}` : String(address);
      process.stderr.write(`dashboards for ${repo.engine} ${repo.location} on http://${shown}${UI_PREFIX}/\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      await app.close();
      await repo.close();
    });
}
