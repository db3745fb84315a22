import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StoreSink } from '../../../src/sinks/store-sink.js';
import { SinkPump } from '../../../src/sinks/sink.js';
import { DuckDbRepository } from '../../../src/store/duckdb.js';
import { StoreError } from '../../../src/store/errors.js';
import { FlowQueries, parseFlowQuery } from '../../../src/store/query.js';
import type { FlowRepository } from '../../../src/store/repository.js';
import { ManualClock } from '../../../src/util/clock.js';
import { flow, T0 } from './fixtures.js';

/** A real embedded repository whose inserts fail while `down` is set, as a dead server's would. */
function outage(repo: FlowRepository): { repo: FlowRepository; down: boolean } {
  const state = { down: false, repo: repo };
  const fail = () => Promise.reject(new StoreError('STORE_ERR_UNAVAILABLE', 'connect ECONNREFUSED (test outage)'));
  state.repo = Object.assign(Object.create(repo) as FlowRepository, {
    insertFlows: (...a: Parameters<FlowRepository['insertFlows']>) => (state.down ? fail() : repo.insertFlows(...a)),
    insertSnapshots: (...a: Parameters<FlowRepository['insertSnapshots']>) => (state.down ? fail() : repo.insertSnapshots(...a)),
  });
  return state;
}

const records = (n: number, from = 0) => Array.from({ length: n }, (_, i) => flow({ sourceTransportPort: 1000 + from + i, flowEndSeconds: T0 + 1, octetDeltaCount: 1 }));

describe('store sink', () => {
  it('commits records in batches and a counter snapshot at each commit', async () => {
    const repo = await DuckDbRepository.open(':memory:');
    const clock = new ManualClock(T0 * 1000);
    let dropped = 4;
    const sink = new StoreSink({ open: async () => repo, commitIntervalMs: 0, batchSize: 7, clock, counters: () => ({ recordsDropped: dropped, recordsLost: 1 }), instance: 'run-1' });
    await sink.write(records(20));
    const r = await sink.flush();
    assert.deepEqual(r, { written: 20, pending: 0, error: null });
    assert.equal(await repo.countFlows(), 20);
    clock.advance(5000);
    dropped = 9;
    await sink.flush();
    const c = await new FlowQueries(repo).completeness({ from: T0 + 2, to: T0 + 10 });
    assert.deepEqual(c, { recordsDropped: 5, recordsLost: 0, storeDropped: 0, snapshots: 1, complete: false });
    await sink.close();
  });

  it('keeps records while the database is down and writes them all when it returns', async () => {
    const real = await DuckDbRepository.open(':memory:');
    const db = outage(real);
    const warnings: string[] = [];
    const sink = new StoreSink({ open: async () => db.repo, commitIntervalMs: 0, capacity: 100, batchSize: 30, clock: new ManualClock(T0 * 1000), logger: { warn: (m) => warnings.push(m) } });
    await sink.write(records(10));
    await sink.flush();
    db.down = true;
    await sink.write(records(40, 10));
    await sink.write(records(40, 50));
    for (let i = 0; i < 3; i++) assert.match((await sink.flush()).error ?? '', /ECONNREFUSED/);
    assert.equal(sink.stats().pending, 80);
    assert.equal(sink.stats().connected, false);
    assert.equal(warnings.length, 1, 'one warning per outage');
    db.down = false;
    assert.deepEqual(await sink.flush(), { written: 80, pending: 0, error: null });
    const stored = await new FlowQueries(db.repo).flows(parseFlowQuery({ from: String(T0), to: String(T0 + 10), limit: '1000' }, T0));
    assert.deepEqual(stored.items.map((f) => f.sourceTransportPort).sort((a, b) => a - b), Array.from({ length: 90 }, (_, i) => 1000 + i));
    assert.equal(sink.stats().dropped, 0);
    await sink.close();
  });

  it('drops and counts what exceeds the bound while the database is down, and loses nothing within it', async () => {
    const real = await DuckDbRepository.open(':memory:');
    const db = outage(real);
    db.down = true;
    const sink = new StoreSink({ open: async () => db.repo, commitIntervalMs: 0, capacity: 50, clock: new ManualClock(T0 * 1000) });
    await sink.write(records(30));
    await sink.flush();
    await sink.write(records(30, 30));
    assert.deepEqual({ pending: sink.stats().pending, dropped: sink.stats().dropped }, { pending: 50, dropped: 10 });
    db.down = false;
    await sink.flush();
    assert.equal(await real.countFlows(), 50);
    const c = await new FlowQueries(real).completeness({ from: T0 - 10, to: T0 + 10 });
    assert.equal(c.storeDropped, 10);
    assert.equal(c.complete, false);
    await sink.close();
  });

  it('retries opening a store that cannot be opened yet', async () => {
    let attempts = 0;
    const repo = await DuckDbRepository.open(':memory:');
    const sink = new StoreSink({
      open: async () => {
        if (++attempts < 3) throw new StoreError('STORE_ERR_UNAVAILABLE', 'not yet');
        return repo;
      },
      commitIntervalMs: 0,
      clock: new ManualClock(T0 * 1000),
    });
    await sink.write(records(5));
    assert.equal((await sink.flush()).error, 'not yet');
    assert.equal((await sink.flush()).error, 'not yet');
    assert.equal((await sink.flush()).written, 5);
    await sink.close();
  });

  it('never makes its pump wait: a stalled database costs pending space, not pump time', async () => {
    const real = await DuckDbRepository.open(':memory:');
    const db = outage(real);
    db.down = true;
    const sink = new StoreSink({ open: async () => db.repo, commitIntervalMs: 0, capacity: 1000, clock: new ManualClock(T0 * 1000) });
    const pump = new SinkPump(sink, { capacity: 10, batchSize: 5 });
    pump.start();
    let refused = 0;
    for (const r of records(200)) {
      if (!pump.offer(r)) refused++;
      await Promise.resolve();
    }
    await pump.close().catch(() => undefined);
    const s = pump.stats();
    assert.equal(s.failed, 0);
    assert.equal(s.written + s.buffered, 200 - refused);
    assert.equal(sink.stats().pending + sink.stats().dropped, s.written);
  });
});
