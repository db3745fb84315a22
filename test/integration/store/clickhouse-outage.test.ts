// The database goes down: a TCP proxy in front of the real ClickHouse server stops listening
// (connections refused), then listens again on the same port. The store sink keeps what it was
// given within its bound and writes all of it when the server answers again.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createClient } from '@clickhouse/client';
import { StoreSink } from '../../../src/sinks/store-sink.js';
import { ClickHouseRepository, parseClickHouseUrl } from '../../../src/store/clickhouse.js';
import { ManualClock } from '../../../src/util/clock.js';
import { flow, T0 } from '../../unit/store/fixtures.js';
import { CLICKHOUSE_URL, clickhouseSkipReason, testDatabaseUrl } from './clickhouse-env.js';

const skip = await clickhouseSkipReason();

class Proxy {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  constructor(private readonly target: { host: string; port: number }) {}

  async up(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.target);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  async down(): Promise<void> {
    const s = this.server;
    this.server = null;
    for (const sock of this.sockets) sock.destroy();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

const records = (n: number, from: number) => Array.from({ length: n }, (_, i) => flow({ sourceTransportPort: 1000 + from + i, flowEndSeconds: T0 + 1, octetDeltaCount: 1 }));

describe('store sink over ClickHouse that goes down and comes back', { skip }, () => {
  const target = new URL(CLICKHOUSE_URL);
  const proxy = new Proxy({ host: target.hostname, port: Number(target.port || 8123) });
  const database = parseClickHouseUrl(testDatabaseUrl('outage')).database;

  before(async () => {
    await proxy.up();
  });
  after(async () => {
    await proxy.down();
    const c = createClient({ url: CLICKHOUSE_URL });
    await c.command({ query: `DROP DATABASE IF EXISTS ${database}` });
    await c.close();
  });

  it('buffers while connections are refused, then flushes everything within the bound', async () => {
    const url = `http://127.0.0.1:${proxy.port}/${database}`;
    const sink = new StoreSink({ open: () => ClickHouseRepository.open(url, { requestTimeoutMs: 5000 }), commitIntervalMs: 0, capacity: 100, clock: new ManualClock(T0 * 1000) });
    await sink.write(records(10, 0));
    assert.equal((await sink.flush()).written, 10);

    await proxy.down();
    await sink.write(records(60, 10));
    await sink.write(records(60, 70));
    const failed = await sink.flush();
    assert.notEqual(failed.error, null);
    assert.equal(failed.pending, 100);
    assert.equal(sink.stats().dropped, 20);

    await proxy.up();
    const ok = await sink.flush();
    assert.deepEqual(ok, { written: 100, pending: 0, error: null });
    const check = await ClickHouseRepository.open(url);
    const rows = await check.select('SELECT sourceTransportPort AS p FROM flows ORDER BY p');
    assert.deepEqual(rows.map((r) => Number(r.p)), Array.from({ length: 110 }, (_, i) => 1000 + i));
    await check.close();
    await sink.close();
  });
});
