import { after } from 'node:test';
import { createClient } from '@clickhouse/client';
import { ClickHouseRepository, parseClickHouseUrl } from '../../../src/store/clickhouse.js';
import { CLICKHOUSE_MIGRATIONS } from '../../../src/store/clickhouse-migrations.js';
import { repositoryContract } from '../../unit/store/contract.js';
import { clickhouseSkipReason, testDatabaseUrl } from './clickhouse-env.js';

const skip = await clickhouseSkipReason();
const url = testDatabaseUrl('contract');

after(async () => {
  if (skip) return;
  const t = parseClickHouseUrl(url);
  const c = createClient({ url: t.url });
  await c.command({ query: `DROP DATABASE IF EXISTS ${t.database}` });
  await c.close();
});

repositoryContract('ClickHouse', { open: () => ClickHouseRepository.open(url), migrations: CLICKHOUSE_MIGRATIONS, skip });
