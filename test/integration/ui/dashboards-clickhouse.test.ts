// The dashboard queries on ClickHouse answer exactly as on the embedded store: every page, the
// edges' addresses, and the hashed two-pass rankings (cityHash64 there, DuckDB's hash here),
// also with ties across the limit.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@clickhouse/client';
import { ClickHouseRepository, parseClickHouseUrl } from '../../../src/store/clickhouse.js';
import { DashboardQueries, DASHBOARD_PAGES, type EdgePage } from '../../../src/store/dashboard-queries.js';
import { DuckDbRepository } from '../../../src/store/duckdb.js';
import { parseFlowQuery } from '../../../src/store/query.js';
import type { EdgesData } from '../../../src/ui/api/types.js';
import { A, B, C, D, E, SNAPSHOTS, T0, flow } from '../../unit/store/fixtures.js';
import { clickhouseSkipReason, testDatabaseUrl } from '../store/clickhouse-env.js';

const skip = await clickhouseSkipReason();
const url = testDatabaseUrl('dashboards');

/** The store's fixture flows, and 60 Pod pairs whose bytes tie in twos across any limit. */
const records = [
  A, B, C, D, E,
  ...Array.from({ length: 240 }, (_, i) => {
    const pair = i % 60;
    return flow({
      sourcePodNamespace: `ns-${pair % 3}`, sourcePodName: `web-${pair}`, destinationPodNamespace: 'shop', destinationPodName: `db-${pair % 7}`,
      sourceAddress: `10.1.0.${pair}`, destinationAddress: `10.2.0.${pair % 7}`, sourceTransportPort: 40000 + i,
      octetDeltaCount: 100 * (pair % 30) + 1, reverseOctetDeltaCount: 10,
      ingressNetworkPolicyNamespace: pair % 2 === 0 ? 'shop' : '', ingressNetworkPolicyName: pair % 2 === 0 ? `allow-${pair % 5}` : '',
      ingressNetworkPolicyRuleAction: pair % 2 === 0 ? (pair === 4 ? 2 : 1) : 0,
    });
  }),
];

describe('dashboard queries on ClickHouse', { skip: skip || false }, () => {
  let clickhouse: ClickHouseRepository;
  let embedded: DuckDbRepository;
  before(async () => {
    clickhouse = await ClickHouseRepository.open(url);
    embedded = await DuckDbRepository.open(':memory:');
    for (const repo of [clickhouse, embedded]) {
      await repo.insertFlows(records, T0 + 1000);
      await repo.insertSnapshots(SNAPSHOTS);
    }
  });
  after(async () => {
    await clickhouse?.close();
    await embedded?.close();
    const t = parseClickHouseUrl(url);
    const c = createClient({ url: t.url });
    await c.command({ query: `DROP DATABASE IF EXISTS ${t.database}` });
    await c.close();
  });

  const window = (extra: Record<string, string> = {}) => parseFlowQuery({ from: String(T0 - 60), to: String(T0 + 300), ...extra }, T0 + 3000);

  it('answers every page as the embedded store does', async () => {
    for (const limit of ['10', '29', '100']) {
      for (const [page, view] of Object.entries(DASHBOARD_PAGES)) {
        const q = window({ limit });
        assert.deepEqual(await view(new DashboardQueries(clickhouse), q), await view(new DashboardQueries(embedded), q), `${page} limit ${limit}`);
      }
    }
  });

  it('finds the same addresses behind the edges', async () => {
    for (const page of ['pod-to-pod', 'pod-to-external', 'pod-to-service'] as EdgePage[]) {
      const edges = ((await DASHBOARD_PAGES[page](new DashboardQueries(embedded), window())) as EdgesData).edges;
      assert.ok(edges.length > 0, page);
      const a = await new DashboardQueries(clickhouse).edgeAddresses(page, window(), edges);
      assert.deepEqual(a, await new DashboardQueries(embedded).edgeAddresses(page, window(), edges), page);
    }
  });
});
