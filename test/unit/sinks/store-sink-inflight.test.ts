// The store sink keeps up to K inserts going at once (store-sink.ts). A real embedded
// repository stands behind a gate that holds each insert until the test lets it finish (or
// fail), so the tests see how many inserts are open, in which order they are answered, and
// where a failed batch goes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AggregatedFlowRecord } from '../../../src/flow/record.js';
import { DEFAULT_INSERTS_IN_FLIGHT, StoreSink } from '../../../src/sinks/store-sink.js';
import { DuckDbRepository } from '../../../src/store/duckdb.js';
import { StoreError } from '../../../src/store/errors.js';
import type { FlowRepository } from '../../../src/store/repository.js';
import { ManualClock } from '../../../src/util/clock.js';
import { flow, T0 } from '../store/fixtures.js';

interface HeldInsert {
  ports: number[];
  /** Stores the batch in the real repository, then answers. */
  pass(): Promise<void>;
  /** Answers with an outage error; nothing is stored. */
  fail(): void;
}

/** A real repository whose inserts wait in `held` until the test passes or fails each. */
async function gatedRepository(): Promise<{ repo: FlowRepository; real: DuckDbRepository; held: HeldInsert[]; maxOpen: () => number }> {
  const real = await DuckDbRepository.open(':memory:');
  const held: HeldInsert[] = [];
  let open = 0;
  let maxOpen = 0;
  const repo = Object.assign(Object.create(real) as FlowRepository, {
    insertFlows: (records: readonly AggregatedFlowRecord[], at: number) =>
      new Promise<void>((resolve, reject) => {
        open++;
        maxOpen = Math.max(maxOpen, open);
        const batch = [...records];
        held.push({
          ports: batch.map((r) => r.sourceTransportPort),
          pass: async () => {
            await real.insertFlows(batch, at);
            open--;
            resolve();
          },
          fail: () => {
            open--;
            reject(new StoreError('STORE_ERR_UNAVAILABLE', 'connect ECONNREFUSED (test outage)'));
          },
        });
      }),
  });
  return { repo, real, held, maxOpen: () => maxOpen };
}

const records = (n: number, from = 0) => Array.from({ length: n }, (_, i) => flow({ sourceTransportPort: 1000 + from + i, flowEndSeconds: T0 + 1, octetDeltaCount: 1 }));
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => 1000 + from + i);

/** Lets pending promise callbacks run (the sink starts the next insert after an answer). */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
}

async function storedPorts(repo: DuckDbRepository): Promise<number[]> {
  const rows = await repo.select('SELECT sourceTransportPort AS p FROM flows ORDER BY p');
  return rows.map((r) => Number(r.p));
}

describe('store sink: inserts in flight', () => {
  it('keeps two inserts going by default, and starts the third when the first is answered', async () => {
    const g = await gatedRepository();
    const sink = new StoreSink({ open: async () => g.repo, commitIntervalMs: 0, batchSize: 10, clock: new ManualClock(T0 * 1000) });
    assert.equal(DEFAULT_INSERTS_IN_FLIGHT, 2);
    await sink.write(records(35));
    const done = sink.flush();
    await settle();
    assert.deepEqual(g.held.map((h) => h.ports), [range(0, 10), range(10, 10)], 'two batches in flight, oldest first');
    await g.held[0].pass();
    await settle();
    assert.equal(g.held.length, 3);
    assert.deepEqual(g.held[2].ports, range(20, 10));
    assert.equal(sink.stats().pending, 25, 'in-flight records still count as pending');
    for (let i = 1; i < 4; i++) {
      await g.held[i].pass();
      await settle();
    }
    assert.deepEqual(await done, { written: 35, pending: 0, error: null });
    assert.equal(g.maxOpen(), 2);
    assert.deepEqual(await storedPorts(g.real), range(0, 35));
    await sink.close();
  });

  it('with insertsInFlight 1, starts each insert after the one before it is answered', async () => {
    const g = await gatedRepository();
    const sink = new StoreSink({ open: async () => g.repo, commitIntervalMs: 0, batchSize: 10, insertsInFlight: 1, clock: new ManualClock(T0 * 1000) });
    await sink.write(records(30));
    const done = sink.flush();
    for (let i = 0; i < 3; i++) {
      await settle();
      assert.equal(g.held.length, i + 1);
      await g.held[i].pass();
    }
    assert.equal((await done).written, 30);
    assert.equal(g.maxOpen(), 1);
    await sink.close();
  });

  it('keeps up to K inserts going with a larger K', async () => {
    const g = await gatedRepository();
    const sink = new StoreSink({ open: async () => g.repo, commitIntervalMs: 0, batchSize: 5, insertsInFlight: 4, clock: new ManualClock(T0 * 1000) });
    await sink.write(records(40));
    const done = sink.flush();
    await settle();
    assert.equal(g.held.length, 4);
    for (let i = 0; i < 8; i++) {
      await g.held[i].pass();
      await settle();
    }
    assert.equal((await done).written, 40);
    assert.equal(g.maxOpen(), 4);
    await sink.close();
  });

  it('when the first of two inserts fails, counts the second as written and retries the first before newer records', async () => {
    const g = await gatedRepository();
    const warnings: string[] = [];
    const sink = new StoreSink({ open: async () => g.repo, commitIntervalMs: 0, batchSize: 10, clock: new ManualClock(T0 * 1000), logger: { warn: (m) => warnings.push(m) } });
    await sink.write(records(30));
    const first = sink.flush();
    await settle();
    g.held[0].fail();
    await settle();
    assert.equal(g.held.length, 2, 'no new insert starts after a failure');
    await g.held[1].pass();
    const r = await first;
    assert.deepEqual(r, { written: 10, pending: 20, error: 'connect ECONNREFUSED (test outage)' });
    assert.deepEqual({ written: sink.stats().written, failedCommits: sink.stats().failedCommits }, { written: 10, failedCommits: 1 });
    assert.equal(warnings.length, 1);
    // Newer records arrive; the retry sends the failed batch first, then what was queued behind it.
    await sink.write(records(5, 30));
    const second = sink.flush();
    await settle();
    assert.deepEqual(g.held.slice(2).map((h) => h.ports), [range(0, 10), [...range(20, 10)]]);
    await g.held[2].pass();
    await settle();
    await g.held[3].pass();
    await settle();
    assert.deepEqual(g.held[4].ports, range(30, 5));
    await g.held[4].pass();
    assert.deepEqual(await second, { written: 25, pending: 0, error: null });
    assert.deepEqual(await storedPorts(g.real), range(0, 35), 'every record stored once');
    assert.equal(sink.stats().dropped, 0);
    await sink.close();
  });

  it('when both inserts in flight fail, queues both again in their order', async () => {
    const g = await gatedRepository();
    const sink = new StoreSink({ open: async () => g.repo, commitIntervalMs: 0, batchSize: 10, clock: new ManualClock(T0 * 1000) });
    await sink.write(records(25));
    const first = sink.flush();
    await settle();
    g.held[1].fail();
    g.held[0].fail();
    assert.deepEqual(await first, { written: 0, pending: 25, error: 'connect ECONNREFUSED (test outage)' });
    const second = sink.flush();
    await settle();
    assert.deepEqual(g.held.slice(2).map((h) => h.ports), [range(0, 10), range(10, 10)]);
    await g.held[2].pass();
    await settle();
    await g.held[3].pass();
    await settle();
    assert.deepEqual(g.held[4].ports, range(20, 5));
    await g.held[4].pass();
    assert.deepEqual(await second, { written: 25, pending: 0, error: null });
    assert.deepEqual(await storedPorts(g.real), range(0, 25));
    await sink.close();
  });

  it('bounds queued plus in-flight records by its capacity, and counts what it drops', async () => {
    const g = await gatedRepository();
    const sink = new StoreSink({ open: async () => g.repo, commitIntervalMs: 0, batchSize: 10, capacity: 30, clock: new ManualClock(T0 * 1000) });
    await sink.write(records(20));
    const done = sink.flush();
    await settle();
    assert.equal(g.held.length, 2);
    await sink.write(records(15, 20));
    assert.deepEqual({ pending: sink.stats().pending, dropped: sink.stats().dropped }, { pending: 30, dropped: 5 });
    await g.held[0].pass();
    await settle();
    await g.held[1].pass();
    await settle();
    await g.held[2].pass();
    assert.deepEqual(await done, { written: 30, pending: 0, error: null });
    await sink.close();
  });

  it('refuses an insertsInFlight that is not a positive integer, and says what to write', () => {
    for (const k of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => new StoreSink({ open: () => DuckDbRepository.open(':memory:'), commitIntervalMs: 0, insertsInFlight: k }), /inserts in flight .* must be a positive integer \(1: one insert at a time\)/);
    }
  });
});
