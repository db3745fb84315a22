// Overlapping inserts into a real ClickHouse server (the store sink keeps up to K going): each
// insert encodes once the body before it has been sent; every row lands once, in memory reused
// across inserts, and a failed insert does not hold back the ones behind it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createClient } from '@clickhouse/client';
import type { AggregatedFlowRecord } from '../../../src/flow/record.js';
import { StoreSink } from '../../../src/sinks/store-sink.js';
import { ClickHouseRepository, parseClickHouseUrl } from '../../../src/store/clickhouse.js';
import { ManualClock } from '../../../src/util/clock.js';
import { flow, T0 } from '../../unit/store/fixtures.js';
import { CLICKHOUSE_URL, clickhouseSkipReason, testDatabaseUrl } from './clickhouse-env.js';

const skip = await clickhouseSkipReason();

/** Records with distinct ports and long names, so that a 3,000-row body spans several 256 KiB chunks. */
const records = (n: number, from: number): AggregatedFlowRecord[] =>
  Array.from({ length: n }, (_, i) =>
    flow({
      sourceTransportPort: from + i,
      sourcePodName: `client-${(from + i) % 97}-${'x'.repeat(200)}`,
      destinationPodName: `server-${(from + i) % 13}`,
      flowEndSeconds: T0 + ((from + i) % 600),
      octetDeltaCount: from + i,
    }),
  );

async function ports(repo: ClickHouseRepository): Promise<number[]> {
  return (await repo.select('SELECT toUInt32(sourceTransportPort) AS p FROM flows ORDER BY p')).map((r) => Number(r.p));
}

describe('ClickHouse: inserts in flight', { skip }, () => {
  const url = testDatabaseUrl('inflight');
  const database = parseClickHouseUrl(url).database;
  after(async () => {
    const c = createClient({ url: CLICKHOUSE_URL });
    await c.command({ query: `DROP DATABASE IF EXISTS ${database}` });
    await c.close();
  });

  it('stores every row of three overlapping inserts once, and the rollups agree with the rows', async () => {
    const repo = await ClickHouseRepository.open(url);
    try {
      await Promise.all([repo.insertFlows(records(3000, 0), T0), repo.insertFlows(records(3000, 3000), T0), repo.insertFlows(records(3000, 6000), T0)]);
      // Reused memory: later inserts write over the scratch of the earlier ones.
      await Promise.all([repo.insertFlows(records(3000, 9000), T0), repo.insertFlows(records(1000, 12000), T0)]);
      assert.deepEqual(await ports(repo), Array.from({ length: 13000 }, (_, i) => i));
      const [raw] = await repo.select('SELECT toFloat64(sum(octetDeltaCount)) AS b, toFloat64(count()) AS n FROM flows');
      const [rolled] = await repo.select('SELECT toFloat64(sum(octetDeltaCount)) AS b, toFloat64(sum(flows)) AS n FROM rollup_totals_60');
      assert.deepEqual(rolled, raw);
      assert.deepEqual(raw, { b: (13000 * 12999) / 2, n: 13000 });
    } finally {
      await repo.close();
    }
  });

  it('a store sink with two inserts in flight writes every batch once', async () => {
    const sinkUrl = testDatabaseUrl('inflight_sink');
    try {
      const sink = new StoreSink({ open: () => ClickHouseRepository.open(sinkUrl), commitIntervalMs: 0, batchSize: 2000, insertsInFlight: 2, clock: new ManualClock(T0 * 1000) });
      for (let i = 0; i < 10; i++) await sink.write(records(1000, i * 1000));
      assert.deepEqual(await sink.flush(), { written: 10000, pending: 0, error: null });
      const check = await ClickHouseRepository.open(sinkUrl);
      assert.deepEqual(await ports(check), Array.from({ length: 10000 }, (_, i) => i));
      await check.close();
      await sink.close();
    } finally {
      const c = createClient({ url: CLICKHOUSE_URL });
      await c.command({ query: `DROP DATABASE IF EXISTS ${parseClickHouseUrl(sinkUrl).database}` });
      await c.close();
    }
  });

  describe('behind a proxy that goes down', () => {
    const target = new URL(CLICKHOUSE_URL);
    let server: net.Server | null = null;
    const sockets = new Set<net.Socket>();
    let port = 0;
    const up = async () => {
      const s = net.createServer((client) => {
        const upstream = net.connect({ host: target.hostname, port: Number(target.port || 8123) });
        for (const x of [client, upstream]) {
          sockets.add(x);
          x.on('close', () => sockets.delete(x));
          x.on('error', () => undefined);
        }
        client.pipe(upstream).pipe(client);
      });
      await new Promise<void>((resolve) => s.listen(port, '127.0.0.1', resolve));
      port = (s.address() as net.AddressInfo).port;
      server = s;
    };
    const down = async () => {
      const s = server;
      server = null;
      for (const x of sockets) x.destroy();
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    };
    before(up);
    after(down);

    it('rejects each overlapping insert while the server is unreachable, and inserts again when it answers', async () => {
      const proxied = testDatabaseUrl('inflight_outage');
      const repo = await ClickHouseRepository.open(`http://127.0.0.1:${port}/${parseClickHouseUrl(proxied).database}`, { requestTimeoutMs: 5000 });
      try {
        await down();
        const outcomes = await Promise.allSettled([repo.insertFlows(records(3000, 0), T0), repo.insertFlows(records(3000, 3000), T0), repo.insertFlows(records(10, 6000), T0)]);
        for (const o of outcomes) {
          assert.equal(o.status, 'rejected');
          assert.equal((o as PromiseRejectedResult).reason.code, 'STORE_ERR_UNAVAILABLE');
        }
        await up();
        await Promise.all([repo.insertFlows(records(3000, 20000), T0), repo.insertFlows(records(10, 30000), T0)]);
        assert.deepEqual(await ports(repo), [...Array.from({ length: 3000 }, (_, i) => 20000 + i), ...Array.from({ length: 10 }, (_, i) => 30000 + i)]);
      } finally {
        await repo.close();
        const c = createClient({ url: CLICKHOUSE_URL });
        await c.command({ query: `DROP DATABASE IF EXISTS ${parseClickHouseUrl(proxied).database}` });
        await c.close();
      }
    });
  });
});
