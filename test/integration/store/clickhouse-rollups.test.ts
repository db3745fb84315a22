// ClickHouse rollups (SummingMergeTree tables per rollup and tier; from schema 6 filled with the
// rows the client groups) answer as raw rows do.
import { after } from 'node:test';
import { createClient } from '@clickhouse/client';
import { ClickHouseRepository, parseClickHouseUrl } from '../../../src/store/clickhouse.js';
import { ipNetContract } from '../../unit/store/ip-net-contract.js';
import { rollupContract } from '../../unit/store/rollup-contract.js';
import { clickhouseSkipReason, testDatabaseUrl } from './clickhouse-env.js';

const skip = await clickhouseSkipReason();
const url = testDatabaseUrl('rollups');
const netsUrl = testDatabaseUrl('nets');

after(async () => {
  if (skip) return;
  const t = parseClickHouseUrl(url);
  const c = createClient({ url: t.url });
  await c.command({ query: `DROP DATABASE IF EXISTS ${t.database}` });
  await c.command({ query: `DROP DATABASE IF EXISTS ${parseClickHouseUrl(netsUrl).database}` });
  await c.close();
});

rollupContract('ClickHouse', {
  open: () => ClickHouseRepository.open(url),
  // Merges sum the rows of a key; queries sum anyway, so before and after must agree.
  compact: async (repo) => {
    await (repo as ClickHouseRepository).select('SELECT 1 AS one');
  },
  skip,
});

ipNetContract('ClickHouse', { open: () => ClickHouseRepository.open(netsUrl), skip });
