// The embedded store's background jobs made visible (src/store/health.ts, duckdb.ts health(),
// the store sink's log lines, the aggregator's /metrics): a fold or a segment compaction that
// fails on a corrupt Parquet file is counted, named in one log line and in the metrics, retried
// after the next insert, and recovers once the file is whole again; so does the table path's
// rollup compaction.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { aggregatorRegistry, type AggregatorQuerier } from '../../../src/aggregator/api.js';
import { StoreSink } from '../../../src/sinks/store-sink.js';
import { DuckDbRepository, FOLD_FILES } from '../../../src/store/duckdb.js';
import { HealthLog, JobTracker, type StoreHealth } from '../../../src/store/health.js';
import { FAN_IN } from '../../../src/store/segments.js';
import { ManualClock } from '../../../src/util/clock.js';
import { zeroRecordMetrics } from '../../fixtures/record-metrics.js';
import { flow, T0 } from './fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'flowvis-store-health-'));
after(() => rmSync(root, { recursive: true, force: true }));
let stores = 0;
const storeDir = () => join(root, `s${stores++}`);

/** n records with distinct ports from `seed`, ending within the minute after T0. */
const records = (n: number, seed: number) =>
  Array.from({ length: n }, (_, i) => flow({ sourceTransportPort: 1000 + ((seed * n + i) % 60000), flowEndSeconds: T0 + (i % 60), octetDeltaCount: 1 + i }));

/** A store sink that inserts one segment per flush, with its warnings kept. */
async function sinkOn(dir: string): Promise<{ repo: DuckDbRepository; sink: StoreSink; warnings: string[]; insert: (seed: number) => Promise<void> }> {
  const repo = await DuckDbRepository.open(dir);
  const warnings: string[] = [];
  const sink = new StoreSink({ open: async () => repo, commitIntervalMs: 0, clock: new ManualClock(T0 * 1000), logger: { warn: (m) => warnings.push(m) } });
  const insert = async (seed: number) => {
    await sink.write(records(50, seed));
    const r = await sink.flush();
    assert.equal(r.error, null, 'the insert itself succeeds');
    // The job the insert started ends; the next flush logs its outcome.
    await repo.settle();
  };
  return { repo, sink, warnings, insert };
}

/** Replaces a file by bytes that are not Parquet; returns what puts it back. */
function corrupt(path: string): () => void {
  const whole = readFileSync(path);
  writeFileSync(path, Buffer.from('not a parquet file, but long enough to have a footer length'));
  return () => writeFileSync(path, whole);
}

/** The /metrics text the aggregator serves for this store and sink. */
async function metricsText(repo: DuckDbRepository, sink: StoreSink): Promise<string> {
  const querier: AggregatorQuerier = { records: () => [], metrics: zeroRecordMetrics, storeRepository: () => repo, storeSinkStats: () => sink.stats() };
  return aggregatorRegistry(querier).metrics();
}

/** The value of one series in Prometheus text, or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('embedded store health', () => {
  it('counts a segment compaction that fails on a corrupt segment, logs it once, shows it in /metrics, and recovers', async () => {
    const dir = storeDir();
    const { repo, sink, warnings, insert } = await sinkOn(dir);
    const store = JSON.stringify(repo.location).slice(1, -1);
    try {
      for (let i = 0; i < FAN_IN - 1; i++) await insert(i);
      // The second segment (not the first, whose columns the view is bound from) goes bad.
      const restore = corrupt(join(dir, 'segments', repo.segmentList()[1].file));
      await insert(FAN_IN - 1);
      let h = repo.health();
      assert.equal(h.jobs.compaction.failures, 1);
      assert.equal(h.jobs.compaction.consecutiveFailures, 1);
      assert.match(h.jobs.compaction.lastError, /^segment compaction failed: /);
      assert.equal(repo.compactionError, h.jobs.compaction.lastError);
      assert.deepEqual(h.segmentsPerLevel, [FAN_IN]);
      assert.equal(h.jobs.fold.failures, 0, 'the fold reads rollup files, which are whole');

      // Retried after each insert; the same failure is not logged again.
      await insert(100);
      await insert(101);
      await sink.flush();
      h = repo.health();
      assert.equal(h.jobs.compaction.failures, 3);
      assert.deepEqual(h.segmentsPerLevel, [FAN_IN + 2], 'the files pile up while compaction fails');
      const failing = warnings.filter((w) => w.includes('segment compaction'));
      assert.equal(failing.length, 1, warnings.join('\n'));
      assert.match(failing[0], new RegExp(`^sink store: duckdb store ${repo.location.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: segment compaction failed \\(retried after the next insert; no rows lost, \\d+ segments\\): segment compaction failed: `));

      let text = await metricsText(repo, sink);
      assert.equal(sample(text, `flowvis_store_job_failures_total{store="${store}",job="compaction"}`), 3);
      assert.equal(sample(text, `flowvis_store_job_failures_total{store="${store}",job="fold"}`), 0);
      assert.equal(sample(text, `flowvis_store_job_consecutive_failures{store="${store}",job="compaction"}`), 3);
      assert.match(text, new RegExp(`^flowvis_store_job_last_error\\{store="[^"]*",job="compaction",error="segment compaction failed: [^"]*"\\} 1$`, 'm'));
      assert.equal(sample(text, `flowvis_store_segments{store="${store}",level="0"}`), FAN_IN + 2);
      assert.ok(sample(text, `flowvis_store_file_bytes{store="${store}"}`)! > 0);

      // The file is whole again: the next insert's compaction merges, the error clears, the count stays.
      restore();
      await insert(102);
      await sink.flush();
      h = repo.health();
      assert.equal(h.jobs.compaction.failures, 3);
      assert.equal(h.jobs.compaction.consecutiveFailures, 0);
      assert.equal(h.jobs.compaction.lastError, '');
      assert.equal(repo.compactionError, '');
      assert.deepEqual(h.segmentsPerLevel, [FAN_IN + 3 - FAN_IN, 1]);
      assert.match(warnings.at(-1)!, /segment compaction works again after 3 failed attempt\(s\) \(no rows lost\); last error: segment compaction failed: /);
      assert.equal(warnings.filter((w) => w.includes('segment compaction')).length, 2);
      text = await metricsText(repo, sink);
      assert.equal(sample(text, `flowvis_store_job_failures_total{store="${store}",job="compaction"}`), 3);
      assert.equal(sample(text, `flowvis_store_job_consecutive_failures{store="${store}",job="compaction"}`), 0);
      assert.doesNotMatch(text, /^flowvis_store_job_last_error\{/m);
      assert.equal(sample(text, `flowvis_store_segments{store="${store}",level="1"}`), 1);
      assert.equal(await repo.countFlows(), 50 * (FAN_IN + 3), 'no row lost');
    } finally {
      await sink.close();
    }
  });

  it('counts a rollup fold that fails on a corrupt rollup file, while the files wait, and recovers', async () => {
    const dir = storeDir();
    const { repo, sink, warnings, insert } = await sinkOn(dir);
    const store = JSON.stringify(repo.location).slice(1, -1);
    try {
      for (let i = 0; i < FOLD_FILES - 1; i++) await insert(i);
      const restore = corrupt(join(dir, 'segments', repo.rollupFileList()[1].file));
      await insert(FOLD_FILES - 1);
      await insert(200);
      await sink.flush();
      let h = repo.health();
      assert.equal(h.jobs.fold.failures, 2);
      assert.equal(h.jobs.fold.consecutiveFailures, 2);
      assert.match(h.jobs.fold.lastError, /^folding the rollup files failed: /);
      assert.equal(repo.foldError, h.jobs.fold.lastError);
      assert.equal(h.rollupFilesWaiting, FOLD_FILES + 1, 'no file was folded');
      const failing = warnings.filter((w) => w.includes('rollup fold'));
      assert.equal(failing.length, 1, warnings.join('\n'));
      assert.match(failing[0], new RegExp(`rollup fold failed \\(retried after the next insert; no rows lost, \\d+ rollup files wait\\): folding the rollup files failed: `));
      let text = await metricsText(repo, sink);
      assert.equal(sample(text, `flowvis_store_job_failures_total{store="${store}",job="fold"}`), 2);
      assert.equal(sample(text, `flowvis_store_rollup_files_waiting{store="${store}"}`), FOLD_FILES + 1);
      assert.match(text, /^flowvis_store_job_last_error\{store="[^"]*",job="fold",error="folding the rollup files failed: [^"]*"\} 1$/m);

      restore();
      await insert(201);
      await sink.flush();
      h = repo.health();
      assert.equal(h.jobs.fold.failures, 2);
      assert.equal(h.jobs.fold.consecutiveFailures, 0);
      assert.equal(h.jobs.fold.lastError, '');
      assert.equal(h.rollupFilesWaiting, 0, 'every waiting file folded');
      assert.match(warnings.at(-1)!, /rollup fold works again after 2 failed attempt\(s\)/);
      text = await metricsText(repo, sink);
      assert.equal(sample(text, `flowvis_store_rollup_files_waiting{store="${store}"}`), 0);
      assert.doesNotMatch(text, /^flowvis_store_job_last_error\{/m);
      const [{ n }] = await repo.select('SELECT CAST(sum(flows) AS DOUBLE) AS n FROM rollups WHERE grain = 0');
      assert.equal(n, 50 * (FOLD_FILES + 2), 'every insert rollup rows kept');
    } finally {
      await sink.close();
    }
  });

  it('counts a rollup compaction (the table path) that fails, keeps the rows, and clears the error when one succeeds', async () => {
    const repo = await DuckDbRepository.open(':memory:');
    try {
      await repo.insertFlows(records(40, 1), T0 + 100);
      await repo.insertFlows(records(40, 1), T0 + 101);
      const sums = 'SELECT grain, bucket, CAST(sum(flows) AS DOUBLE) AS f FROM rollups GROUP BY ALL ORDER BY ALL';
      const before = await repo.select(sums);
      // An object in the compaction's way on the writer connection: its CREATE OR REPLACE TEMP TABLE fails.
      await repo.execute('CREATE TEMP VIEW rollup_compaction AS SELECT 1 AS x');
      await repo.compact();
      let h = repo.health();
      assert.equal(h.jobs.rollupCompaction.failures, 1);
      assert.match(h.jobs.rollupCompaction.lastError, /^rollup compaction failed: /);
      assert.deepEqual(await repo.select(sums), before, 'the rollup rows as they were');
      await repo.execute('DROP VIEW rollup_compaction');
      await repo.compact();
      h = repo.health();
      assert.deepEqual([h.jobs.rollupCompaction.failures, h.jobs.rollupCompaction.consecutiveFailures, h.jobs.rollupCompaction.lastError], [1, 0, '']);
      assert.equal(h.jobs.rollupCompaction.successes, 1);
      assert.deepEqual(await repo.select(sums), before);
      assert.deepEqual(h.segmentsPerLevel, [], 'no segments in memory');
    } finally {
      await repo.close();
    }
  });

  it('reports a healthy store: no failures, the segments per level and the files waiting', async () => {
    const repo = await DuckDbRepository.open(storeDir());
    try {
      const empty = repo.health();
      assert.deepEqual(empty.segmentsPerLevel, []);
      assert.equal(empty.rollupFilesWaiting, 0);
      assert.equal(empty.fileBytes, 0);
      for (let i = 0; i < 3; i++) await repo.insertFlows(records(20, i), T0 + 100);
      await repo.settle();
      const h = repo.health();
      assert.deepEqual(h.segmentsPerLevel, [3]);
      assert.equal(h.rollupFilesWaiting, 3);
      const bytes = [...repo.segmentList(), ...repo.rollupFileList()].reduce((t, f) => t + f.bytes, 0);
      assert.equal(h.fileBytes, bytes);
      for (const job of ['fold', 'compaction', 'rollupCompaction'] as const) assert.deepEqual(h.jobs[job], { failures: 0, consecutiveFailures: 0, successes: 0, lastError: '', lastFailure: '' });
    } finally {
      await repo.close();
    }
  });
});

describe('store health log', () => {
  const health = (failures: number, consecutiveFailures: number, lastError = consecutiveFailures > 0 ? 'disk on fire' : ''): StoreHealth => ({
    jobs: {
      fold: { failures: 0, consecutiveFailures: 0, successes: 0, lastError: '', lastFailure: '' },
      compaction: { failures, consecutiveFailures, successes: 0, lastError, lastFailure: failures > 0 ? 'disk on fire' : '' },
      rollupCompaction: { failures: 0, consecutiveFailures: 0, successes: 0, lastError: '', lastFailure: '' },
    },
    rollupFilesWaiting: 0,
    segmentsPerLevel: [9],
    fileBytes: 1,
  });

  it('logs the first failure, then again at 10, 100, 1000 attempts, and the recovery with the count', () => {
    const lines: string[] = [];
    const log = new HealthLog({ warn: (m) => lines.push(m) }, 'store x');
    log.observe(health(0, 0));
    assert.deepEqual(lines, []);
    log.observe(health(1, 1));
    for (let n = 2; n <= 120; n++) log.observe(health(n, n));
    log.observe(health(1500, 1500));
    log.observe(health(1500, 0));
    assert.deepEqual(lines, [
      'store x: segment compaction failed (retried after the next insert; no rows lost, 9 segments): disk on fire',
      'store x: segment compaction still failing after 10 attempts (9 segments): disk on fire',
      'store x: segment compaction still failing after 100 attempts (9 segments): disk on fire',
      'store x: segment compaction still failing after 1000 attempts (9 segments): disk on fire',
      'store x: segment compaction works again after 1500 failed attempt(s) (no rows lost); last error: disk on fire',
    ]);
  });

  it('logs a failure that recovered between two looks, and a new run of failures after a success in between', () => {
    const lines: string[] = [];
    const log = new HealthLog({ warn: (m) => lines.push(m) }, 'store x');
    log.observe(health(0, 0));
    log.observe(health(2, 0));
    log.observe(health(5, 3));
    log.observe(health(7, 1));
    assert.deepEqual(lines, [
      'store x: segment compaction works again after 2 failed attempt(s) (no rows lost); last error: disk on fire',
      'store x: segment compaction failed (retried after the next insert; no rows lost, 9 segments): disk on fire',
      'store x: segment compaction failed (retried after the next insert; no rows lost, 9 segments): disk on fire',
    ]);
  });

  it('keeps the last failure after a success, and clears only the current error', () => {
    const t = new JobTracker();
    t.failed(new Error('one'));
    t.failed('two');
    assert.deepEqual(t.snapshot(), { failures: 2, consecutiveFailures: 2, successes: 0, lastError: 'two', lastFailure: 'two' });
    t.succeeded();
    assert.deepEqual(t.snapshot(), { failures: 2, consecutiveFailures: 0, successes: 1, lastError: '', lastFailure: 'two' });
  });
});
