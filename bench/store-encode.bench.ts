// The encoding and rollup grouping both store engines share, step by step, in CPU ns a row
// (process.cpuUsage, medians of 8 batches after 2 of warm-up), on the store bench's rows
// (bench/store.bench.ts syntheticRecords, flow ends over 10 s, as the ingest benches make them).
//   store.encode.embedded    a 245,760-row batch as the embedded store handles it: encodeRows into
//                            pooled arrays (its main thread), then completeBatch, rollupBatch and
//                            the Parquet pages of the segment and of its rollup rows (its segment
//                            thread, run here on the main thread)
//   store.encode.clickhouse  50,000-row batches as the ClickHouse client handles them: encodeRows
//                            and completeBatch into an EncodeScratch, rollupBatch (RollupScratch)
// In-process A/B of two builds of these steps: scripts/encode-ab.mjs.
//
// Session 8 (2026-11-27, Node v20.20.2, 2-core Intel Xeon VM; probe = node scripts/machine-probe.mjs
// random read ns / register loop ns). `node dist/bench/run.js store.encode`, load 3.7, probe 165 / 1.43
// before and 160 / 1.33 after:
//   {"name":"store.encode.embedded","value":1967,"unit":"CPU ns/row","encodeRows_ns_per_row":1078,"completeBatch_ns_per_row":291,"rollupBatch_ns_per_row":390,"parquet_ns_per_row":302,"main_thread_ns_per_row":1078,"segment_thread_ns_per_row":1072,"rows":245760,"runs":8}
//   {"name":"store.encode.clickhouse","value":1797,"unit":"CPU ns/row","encodeRows_ns_per_row":1139,"completeBatch_ns_per_row":384,"rollupBatch_ns_per_row":356,"rows":50000,"runs":8}
// Against the session's starting build (1c78403), alternating in one process (scripts/encode-ab.mjs
// /tmp/grp-base /work/main 6 2, rounds 1-5, load 5.6-6.4, probe 240 / 1.95 before, 205 / 1.5 after),
// ns a row: embedded segment steps 710-784 against 1,060-1,535 (completeBatch 250-288 against
// 393-531, Parquet 292-342 against 557-919), encodeRows 1,073-1,314 against 1,163-1,616;
// ClickHouse completeBatch 349-391 against 504-561. encodeRows alone (medians of 10, load 5):
// 821 against 976.
import { loadavg } from 'node:os';
import type { Benchmark, BenchResult } from './harness.js';
import { ArrayPool, completeBatch, EncodeScratch, encodeRows, rawBuffers } from '../src/store/columnar.js';
import { parquetFile, WriteArena } from '../src/store/parquet/writer.js';
import { rollupBatch, RollupScratch } from '../src/store/rollup-batch.js';
import { DUCKDB_ROLLUP_COLUMNS, DUCKDB_ROLLUP_KINDS } from '../src/store/rollups.js';
import { COLUMNS } from '../src/store/schema.js';
import { syntheticRecords } from './store.bench.js';

const BATCH = 245_760;
const CH_BATCH = 50_000;
const RUNS = 8;
const WARM_UP = 2;
const AT = 1_700_000_000;

const cpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** Per step: the median of its ns a row over the runs, and their sum (the median of the sums). */
function summary(name: string, runs: Record<string, number>[], extra: Record<string, unknown>): BenchResult {
  const steps = Object.keys(runs[0]);
  const total = median(runs.map((r) => steps.reduce((t, k) => t + r[k], 0)));
  return {
    name,
    value: Math.round(total),
    unit: 'CPU ns/row',
    ...Object.fromEntries(steps.map((k) => [`${k}_ns_per_row`, Math.round(median(runs.map((r) => r[k])))])),
    ...extra,
    runs: runs.length,
    load: Number(loadavg()[0].toFixed(1)),
  };
}

export const benchmarks: Benchmark[] = [
  {
    name: 'store.encode',
    async run() {
      const records = syntheticRecords(2 * BATCH, 1, 10);
      const halves = [records.slice(0, BATCH), records.slice(BATCH)];
      const pool = new ArrayPool();
      const arena = new WriteArena();
      const grouping = new RollupScratch();
      const embedded: Record<string, number>[] = [];
      for (let k = 0; k < WARM_UP + RUNS; k++) {
        const t: Record<string, number> = {};
        let c0 = cpuUs();
        const step = (name: string) => {
          const c1 = cpuUs();
          t[name] = ((c1 - c0) * 1000) / BATCH;
          c0 = c1;
        };
        const raw = encodeRows(halves[k % 2], AT, COLUMNS, pool.source());
        step('encodeRows');
        const batch = completeBatch(raw, COLUMNS, { dictionariesOnly: true, wideIndexes: true, repeatedValues: true });
        step('completeBatch');
        const rolled = rollupBatch(batch, grouping);
        step('rollupBatch');
        parquetFile(batch.rows, COLUMNS.map((c, i) => ({ name: c.name, kind: c.kind, data: batch.columns[i] })), 'flowvis', arena);
        parquetFile(rolled.rows, DUCKDB_ROLLUP_COLUMNS.map((name, i) => ({ name, kind: DUCKDB_ROLLUP_KINDS[i], data: rolled.columns[i] })), 'flowvis', arena);
        step('parquet');
        pool.give(rawBuffers(raw));
        if (k >= WARM_UP) embedded.push(t);
      }
      const scratch = new EncodeScratch();
      const chGrouping = new RollupScratch();
      const clickhouse: Record<string, number>[] = [];
      for (let k = 0; k < WARM_UP + RUNS; k++) {
        const t: Record<string, number> = { encodeRows: 0, completeBatch: 0, rollupBatch: 0 };
        const half = halves[k % 2];
        let rows = 0;
        for (let off = 0; off + CH_BATCH <= half.length; off += CH_BATCH) {
          const part = half.slice(off, off + CH_BATCH);
          let c0 = cpuUs();
          const raw = encodeRows(part, AT, COLUMNS, scratch);
          let c1 = cpuUs();
          t.encodeRows += c1 - c0;
          c0 = c1;
          const batch = completeBatch(raw, COLUMNS, { dictionariesOnly: true, scratch, repeatedValues: true });
          c1 = cpuUs();
          t.completeBatch += c1 - c0;
          c0 = c1;
          rollupBatch(batch, chGrouping);
          t.rollupBatch += cpuUs() - c0;
          rows += CH_BATCH;
        }
        for (const key of Object.keys(t)) t[key] = (t[key] * 1000) / rows;
        if (k >= WARM_UP) clickhouse.push(t);
      }
      return [
        summary('store.encode.embedded', embedded, {
          main_thread_ns_per_row: Math.round(median(embedded.map((r) => r.encodeRows))),
          segment_thread_ns_per_row: Math.round(median(embedded.map((r) => r.completeBatch + r.rollupBatch + r.parquet))),
          rows: BATCH,
        }),
        summary('store.encode.clickhouse', clickhouse, { rows: CH_BATCH }),
      ];
    },
  },
];
