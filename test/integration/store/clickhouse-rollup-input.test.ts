// Schema 6 against a real ClickHouse server: the client groups each batch's rollup rows and
// inserts them, after the flows, into a Null staging table whose views route them (no GROUP BY
// on the server). Every rollup table must hold exactly what grouping the stored flows gives:
// across migrations up and down with data present, when a body is cut off midway (the server
// stores none of it), and when the rollup insert fails after the flows went in (the retry of
// the whole batch, regrouped with other records, sends only what is missing).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createClient } from '@clickhouse/client';
import type { AggregatedFlowRecord } from '../../../src/flow/record.js';
import { ClickHouseRepository, parseClickHouseUrl } from '../../../src/store/clickhouse.js';
import { clickhouseRollupTable } from '../../../src/store/clickhouse-rollups.js';
import { GRAINS, ROLLUP_MEASURES } from '../../../src/store/rollups.js';
import { H0, rollupRecords } from '../../unit/store/rollup-contract.js';
import { CLICKHOUSE_URL, clickhouseSkipReason, testDatabaseUrl } from './clickhouse-env.js';

const skip = await clickhouseSkipReason();
const databases: string[] = [];

after(async () => {
  if (skip) return;
  const c = createClient({ url: CLICKHOUSE_URL });
  for (const d of databases) await c.command({ query: `DROP DATABASE IF EXISTS ${d}` });
  await c.close();
});

function freshUrl(tag: string): string {
  const url = testDatabaseUrl(tag);
  databases.push(parseClickHouseUrl(url).database);
  return url;
}

/**
 * Every grain's rows as its table holds them, against the same grouping of the stored flows
 * (rollups.ts keys and expressions), both summed per bucket and key and listed in one order.
 */
async function assertRollupsMatchFlows(repo: ClickHouseRepository, label: string): Promise<void> {
  for (const { spec, tier } of GRAINS) {
    const keys = spec.keys.map((k) => k.name);
    const sums = [...ROLLUP_MEASURES, 'flows'].map((m) => `toFloat64(sum(${m})) AS ${m}`);
    const order = ['bucket', ...keys].join(', ');
    const stored = await repo.select(`SELECT toUInt32(bucket) AS bucket, ${[...keys, ...sums].join(', ')} FROM ${clickhouseRollupTable(spec.name, tier)} GROUP BY ${order} ORDER BY ${order}`);
    const fromFlows = await repo.select(
      `SELECT toUInt32(intDiv(toUInt32(flowEndSeconds), ${tier}) * ${tier}) AS bucket, ${[
        ...spec.keys.map((k) => `${k.expr} AS ${k.name}`),
        ...ROLLUP_MEASURES.map((m) => `toFloat64(sum(${m})) AS ${m}`),
        'toFloat64(count()) AS flows',
      ].join(', ')} FROM flows GROUP BY ${order} ORDER BY ${order}`,
    );
    assert.ok(fromFlows.length > 0, `${label}: ${spec.name} ${tier} s has rows`);
    assert.deepEqual(stored, fromFlows, `${label}: ${clickhouseRollupTable(spec.name, tier)}`);
  }
}

async function tablesOf(repo: ClickHouseRepository): Promise<string[]> {
  return (await repo.select('SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name')).map((r) => String(r.name));
}

async function flowCount(repo: ClickHouseRepository): Promise<number> {
  const [n] = await repo.select('SELECT toFloat64(count()) AS n FROM flows');
  return Number(n.n);
}

describe('ClickHouse rollup rows grouped by the client (schema 6)', { skip }, () => {
  it('keeps every rollup equal to the grouped flows through migrations 5 -> 6 -> 5 -> 6 with data present', async () => {
    const repo = await ClickHouseRepository.open(freshUrl('input_mig'), { migrate: false });
    try {
      await repo.migrateTo(5);
      await repo.insertFlows(rollupRecords(3000, 21), H0);
      await assertRollupsMatchFlows(repo, 'schema 5');
      assert.deepEqual(await repo.migrateTo(6), [6]);
      assert.ok((await tablesOf(repo)).includes('rollup_input'));
      // Rows already stored keep their rollups; new ones (a batch spanning many buckets of
      // every tier, so coarser tiers get rows of several finer buckets) add theirs.
      await repo.insertFlows(rollupRecords(2000, 22), H0 + 10);
      await repo.insertFlows(rollupRecords(1, 23), H0 + 11);
      await assertRollupsMatchFlows(repo, 'schema 6');
      assert.deepEqual(await repo.migrateTo(5), [6]);
      assert.ok(!(await tablesOf(repo)).includes('rollup_input'));
      await repo.insertFlows(rollupRecords(1500, 24), H0 + 20);
      await assertRollupsMatchFlows(repo, 'back at schema 5');
      await repo.migrateTo(6);
      await repo.insertFlows(rollupRecords(700, 25), H0 + 30);
      await assertRollupsMatchFlows(repo, 'schema 6 again');
      assert.equal(await flowCount(repo), 3000 + 2000 + 1 + 1500 + 700);
    } finally {
      await repo.close();
    }
  });

  it('rows written into flows by other means do not reach the rollups (only the repository writes them)', async () => {
    const repo = await ClickHouseRepository.open(freshUrl('input_direct'));
    try {
      await repo.insertFlows(rollupRecords(100, 31), H0);
      await repo.select('SELECT 1 AS one');
      const c = createClient({ url: CLICKHOUSE_URL });
      const database = databases[databases.length - 1];
      await c.command({ query: `INSERT INTO ${database}.flows (flowEndSeconds, octetDeltaCount) VALUES (${H0}, 5)` });
      await c.close();
      const [raw] = await repo.select('SELECT toFloat64(count()) AS n FROM flows');
      const [rolled] = await repo.select(`SELECT toFloat64(sum(flows)) AS n FROM ${clickhouseRollupTable('totals', 60)}`);
      assert.deepEqual([Number(raw.n), Number(rolled.n)], [101, 100]);
    } finally {
      await repo.close();
    }
  });

  describe('behind a proxy that cuts connections', () => {
    const target = new URL(CLICKHOUSE_URL);
    let server: net.Server | null = null;
    const sockets = new Set<net.Socket>();
    /** Request bytes still to forward before the connection that carries them is cut (0: not armed). */
    let cutAfter = 0;
    let cuts = 0;
    /** Requests into the rollup staging table still to cut, as soon as they start. */
    let rollupCuts = 0;
    after(async () => {
      for (const x of sockets) x.destroy();
      if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
    });

    const listen = async (): Promise<number> => {
      server = net.createServer((client) => {
        const upstream = net.connect({ host: target.hostname, port: Number(target.port || 8123) });
        for (const x of [client, upstream]) {
          sockets.add(x);
          x.on('close', () => sockets.delete(x));
          x.on('error', () => undefined);
        }
        client.on('data', (chunk: Buffer) => {
          if (rollupCuts > 0 && chunk.toString('latin1').includes('rollup_input')) {
            rollupCuts--;
            cuts++;
            upstream.destroy();
            client.destroy();
            return;
          }
          if (cutAfter > 0 && chunk.length >= cutAfter) {
            upstream.write(chunk.subarray(0, cutAfter));
            cutAfter = 0;
            cuts++;
            // Half a body reached the server: both ends go away at once.
            upstream.destroy();
            client.destroy();
            return;
          }
          if (cutAfter > 0) cutAfter -= chunk.length;
          upstream.write(chunk);
        });
        upstream.pipe(client);
      });
      await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
      return (server!.address() as net.AddressInfo).port;
    };

    let port = 0;
    before(async () => {
      port = await listen();
    });

    it('stores none of a body that was cut off, and each row once when the batch is sent again', async () => {
      cuts = 0;
      const database = parseClickHouseUrl(freshUrl('input_cut')).database;
      const repo = await ClickHouseRepository.open(`http://127.0.0.1:${port}/${database}`, { requestTimeoutMs: 10_000 });
      try {
        await repo.insertFlows(rollupRecords(500, 41), H0);
        // Long names: a body of several MB, cut 2 MB into it.
        const batch: AggregatedFlowRecord[] = rollupRecords(6000, 42).map((r, i) => ({ ...r, sourcePodName: `${r.sourcePodName}-${i % 50}-${'x'.repeat(300)}` }));
        cutAfter = 2_000_000;
        // The repository retries once on a new connection when a socket dies under a request;
        // if that is not how the cut shows, the caller (the store sink) sends the batch again.
        await repo.insertFlows(batch, H0 + 1).catch(async (err: { code?: string }) => {
          assert.equal(err.code, 'STORE_ERR_UNAVAILABLE');
          await repo.insertFlows(batch, H0 + 1);
        });
        assert.equal(cuts, 1, 'the proxy cut one request');
        assert.equal(await flowCount(repo), 6500);
        await assertRollupsMatchFlows(repo, 'after the cut');
      } finally {
        await repo.close();
      }
    });

    it('sends only the rollup rows of records whose flows went in when the rollup insert failed, also when the retry regroups them', async () => {
      cuts = 0;
      const database = parseClickHouseUrl(freshUrl('input_between')).database;
      const repo = await ClickHouseRepository.open(`http://127.0.0.1:${port}/${database}`, { requestTimeoutMs: 10_000 });
      try {
        const first = rollupRecords(1200, 51);
        const more = rollupRecords(800, 52);
        // Twice: the repository's one retry on a new connection fails too.
        rollupCuts = 2;
        await assert.rejects(repo.insertFlows(first, H0), { code: 'STORE_ERR_UNAVAILABLE' });
        assert.equal(cuts, 2);
        assert.equal(await flowCount(repo), 1200, 'the flows went in before the rollup insert failed');
        // The store sink sends failed batches again, possibly joined with records behind them;
        // one record object twice in a batch is two flows.
        const retry = [...first.slice(0, 700), more[0], ...first.slice(700), ...more.slice(1), more[5]];
        await repo.insertFlows(retry, H0 + 1);
        assert.equal(await flowCount(repo), 1200 + 800 + 1);
        await assertRollupsMatchFlows(repo, 'after the retry');
        // Nothing is remembered any more: the same records again are new flows.
        await repo.insertFlows(first.slice(0, 10), H0 + 2);
        assert.equal(await flowCount(repo), 2011);
        await assertRollupsMatchFlows(repo, 'after a second insert of the same records');
      } finally {
        await repo.close();
      }
    });
  });
});
