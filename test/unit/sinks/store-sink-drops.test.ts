// Every record the store sink does not store is counted (store-sink.ts `dropped`, shown as
// flowvis_aggregator_store_records_dropped_total and in the counter snapshots): beyond its
// buffer, still pending when close() gives up on a database that is down, and written after close.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StoreSink } from '../../../src/sinks/store-sink.js';
import { DuckDbRepository } from '../../../src/store/duckdb.js';
import { StoreError } from '../../../src/store/errors.js';
import type { FlowRepository } from '../../../src/store/repository.js';
import { ManualClock } from '../../../src/util/clock.js';
import { flow, T0 } from '../store/fixtures.js';

const records = (n: number, from = 0) => Array.from({ length: n }, (_, i) => flow({ sourceTransportPort: 1000 + from + i, flowEndSeconds: T0 + 1 }));

/** A real embedded repository whose inserts fail while `down` is set. */
async function outage(): Promise<{ repo: FlowRepository; real: DuckDbRepository; state: { down: boolean } }> {
  const real = await DuckDbRepository.open(':memory:');
  const state = { down: false };
  const fail = () => Promise.reject(new StoreError('STORE_ERR_UNAVAILABLE', 'connect ECONNREFUSED (test outage)'));
  const repo = Object.assign(Object.create(real) as FlowRepository, {
    insertFlows: (...a: Parameters<FlowRepository['insertFlows']>) => (state.down ? fail() : real.insertFlows(...a)),
    insertSnapshots: (...a: Parameters<FlowRepository['insertSnapshots']>) => (state.down ? fail() : real.insertSnapshots(...a)),
  });
  return { repo, real, state };
}

describe('store sink drops', () => {
  it('counts the records still pending when close() gives up on a database that is down, and says so once', async () => {
    const db = await outage();
    const warnings: string[] = [];
    const sink = new StoreSink({ open: async () => db.repo, commitIntervalMs: 0, capacity: 100, clock: new ManualClock(T0 * 1000), logger: { warn: (m) => warnings.push(m) } });
    await sink.write(records(10));
    await sink.flush();
    db.state.down = true;
    await sink.write(records(30, 10));
    await sink.write(records(80, 40));
    assert.equal(sink.stats().dropped, 10, 'beyond the buffer of 100 (30 + 70 of 80 taken)');
    await sink.close();
    const s = sink.stats();
    assert.equal(s.written, 10);
    assert.equal(s.dropped, 10 + 100, 'the 100 pending at close are dropped and counted');
    assert.equal(s.pending, 0);
    assert.equal(warnings.filter((w) => w.includes('closing with 100 records not written (counted as dropped)')).length, 1, warnings.join('\n'));
  });

  it('counts records written after close, which no commit would store', async () => {
    const db = await outage();
    const sink = new StoreSink({ open: async () => db.repo, commitIntervalMs: 0, clock: new ManualClock(T0 * 1000) });
    await sink.write(records(5));
    await sink.close();
    assert.deepEqual([sink.stats().written, sink.stats().dropped], [5, 0]);
    await sink.write(records(7, 5));
    assert.deepEqual([sink.stats().written, sink.stats().dropped, sink.stats().pending], [5, 7, 0]);
  });
});
