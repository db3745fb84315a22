// In-process A/B of the embedded store's insert path: two builds' DuckDbRepository loaded in one
// process, run alternately on the same records, CPU per row per thread (/proc/self/task/*/schedstat)
// while the inserts run (two in flight, as StoreSink does) and then for the rollup compaction /
// fold of those batches (compact() and settle()).
//   node scripts/roll-ab.mjs <dir of build A> <dir of build B> [rounds] [batches]
// e.g. node scripts/roll-ab.mjs /tmp/roll-base /work/main 3 16   (each dir holds dist/)
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

const [a, b] = [process.argv[2], process.argv[3]];
const rounds = Number(process.argv[4] ?? 3);
const batches = Number(process.argv[5] ?? 16);
const BATCH = 245_760;

const builds = await Promise.all(
  [a, b].map(async (root) => ({ root, repo: (await import(join(root, 'dist/src/store/duckdb.js'))).DuckDbRepository })),
);
const { syntheticRecords } = await import(join(b, 'dist/bench/store.bench.js'));
const records = syntheticRecords(2 * BATCH, 1, 10);
const halves = [records.slice(0, BATCH), records.slice(BATCH)];

/**
 * ns on CPU per kind of thread (schedstat's first field): `main`; `segment`, the threads that
 * appeared during the first insert (the segment writer's); `other` (DuckDB's, V8's, libuv's).
 * Every thread is named "node", hence telling them apart by when they appeared.
 */
let segmentTids = new Set();
function threadCpu() {
  const out = new Map();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const ns = Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      const name = tid === String(process.pid) ? 'main' : segmentTids.has(tid) ? 'segment' : 'other';
      out.set(name, (out.get(name) ?? 0) + ns);
    } catch {
      // the thread ended
    }
  }
  return out;
}
const diff = (x, y) => {
  const out = {};
  for (const [k, v] of y) {
    const d = v - (x.get(k) ?? 0);
    if (d > 0) out[k] = d;
  }
  return out;
};
const perRow = (ns, rows) => Object.fromEntries(Object.entries(ns).map(([k, v]) => [k, Number((v / rows / 1000).toFixed(2))]).filter(([, v]) => v >= 0.01));
const total = (o) => Object.values(o).reduce((t, v) => t + v, 0);

async function once(build) {
  const dir = mkdtempSync(join(tmpdir(), 'roll-ab-'));
  const repo = await build.repo.open(join(dir, 'store'));
  try {
    // Warm-up: the thread, the JIT, the pools.
    const before = new Set(readdirSync('/proc/self/task'));
    await Promise.all([repo.insertFlows(halves[0], 1_700_000_000), repo.insertFlows(halves[1], 1_700_000_000)]);
    segmentTids = new Set(readdirSync('/proc/self/task').filter((t) => !before.has(t)));
    await repo.settle();
    await repo.compact();
    const t0 = threadCpu();
    const w0 = process.hrtime.bigint();
    let inFlight = [];
    for (let i = 0; i < batches; i++) {
      inFlight.push(repo.insertFlows(halves[i % 2], 1_700_000_001 + i));
      if (inFlight.length === 2) {
        await inFlight.shift();
      }
    }
    await Promise.all(inFlight);
    const wall = Number(process.hrtime.bigint() - w0) / 1e9;
    const t1 = threadCpu();
    await repo.settle();
    const t15 = threadCpu();
    await repo.compact();
    const t2 = threadCpu();
    const rows = batches * BATCH;
    const insert = perRow(diff(t0, t1), rows);
    const fold = perRow(diff(t1, t2), rows);
    const settle = perRow(diff(t1, t15), rows);
    return {
      build: build.root,
      insert_us_per_row: Number(total(insert).toFixed(2)),
      insert_threads: insert,
      rows_per_cpu_second: Math.round(1e6 / total(insert)),
      wall_rows_per_s: Math.round(rows / wall),
      then_compact_us_per_row: Number(total(fold).toFixed(2)),
      compact_threads: fold,
      of_which_settle_us_per_row: Number(total(settle).toFixed(2)),
      rows_per_cpu_second_with_compaction: Math.round(1e6 / (total(insert) + total(fold))),
      segment_threads: segmentTids.size,
      load: Number(loadavg()[0].toFixed(1)),
    };
  } finally {
    await repo.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? builds : [...builds].reverse();
  for (const build of order) console.log(JSON.stringify(await once(build)));
}
