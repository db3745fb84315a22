// In-process A/B of the encoding and rollup grouping both store engines share (columnar.ts,
// rollup-batch.ts, parquet/writer.ts): two builds' modules loaded in one process, run alternately
// on the same records (bench/store.bench.ts syntheticRecords, as the ingest benches make them),
// CPU per row of each step (process.cpuUsage: this process, so also V8's GC helper threads).
//   embedded   a 245,760-row batch as duckdb.ts and the segment thread handle it: encodeRows into
//              pooled arrays (the main thread), then completeBatch, rollupBatch, parquetFile of
//              the segment and of its rollup rows (the segment thread, here on the main thread)
//   clickhouse a 50,000-row batch as clickhouse.ts handles it: encodeRows and completeBatch into
//              an EncodeScratch, rollupBatch with a RollupScratch (the client's main thread)
//   node scripts/encode-ab.mjs <dir of build A> <dir of build B> [rounds] [batches a round]
// e.g. node scripts/encode-ab.mjs /tmp/grp-base /work/main 6 4   (each dir holds dist/)
import { loadavg } from 'node:os';
import { join } from 'node:path';

const roots = [process.argv[2], process.argv[3]];
const rounds = Number(process.argv[4] ?? 6);
const batches = Number(process.argv[5] ?? 4);
const BATCH = 245_760;
const CH_BATCH = 50_000;

async function load(root) {
  const m = (p) => import(join(root, 'dist/src/store', p));
  const [columnar, rollup, writer, schema, rollups] = await Promise.all([m('columnar.js'), m('rollup-batch.js'), m('parquet/writer.js'), m('schema.js'), m('rollups.js')]);
  return {
    root,
    columnar,
    rollup,
    writer,
    schema,
    rollups,
    pool: new columnar.ArrayPool(),
    arena: new writer.WriteArena(),
    grouping: new rollup.RollupScratch(),
    chGrouping: new rollup.RollupScratch(),
    chScratch: new columnar.EncodeScratch(),
  };
}

const builds = await Promise.all(roots.map(load));
const { syntheticRecords } = await import(join(roots[1], 'dist/bench/store.bench.js'));
process.stderr.write('generating records...\n');
const records = syntheticRecords(2 * BATCH, 1, 10);
const halves = [records.slice(0, BATCH), records.slice(BATCH)];
const cpu = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

function embedded(b, recs) {
  const { columnar, rollup, writer, schema, rollups } = b;
  const COLUMNS = schema.COLUMNS;
  const t = { encodeRows: 0, completeBatch: 0, rollupBatch: 0, parquet: 0 };
  let c0 = cpu();
  const raw = columnar.encodeRows(recs, 1_700_000_000, COLUMNS, b.pool.source());
  let c1 = cpu();
  t.encodeRows += c1 - c0;
  c0 = c1;
  const batch = columnar.completeBatch(raw, COLUMNS, { dictionariesOnly: true, wideIndexes: true, repeatedValues: true });
  c1 = cpu();
  t.completeBatch += c1 - c0;
  c0 = c1;
  const rolled = rollup.rollupBatch(batch, b.grouping);
  c1 = cpu();
  t.rollupBatch += c1 - c0;
  c0 = c1;
  writer.parquetFile(batch.rows, COLUMNS.map((c, i) => ({ name: c.name, kind: c.kind, data: batch.columns[i] })), 'flowvis', b.arena);
  writer.parquetFile(rolled.rows, rollups.DUCKDB_ROLLUP_COLUMNS.map((name, i) => ({ name, kind: rollups.DUCKDB_ROLLUP_KINDS[i], data: rolled.columns[i] })), 'flowvis', b.arena);
  c1 = cpu();
  t.parquet += c1 - c0;
  b.pool.give(columnar.rawBuffers(raw));
  return t;
}

function clickhouse(b, recs) {
  const { columnar, rollup, schema } = b;
  const columns = schema.COLUMNS;
  const t = { encodeRows: 0, completeBatch: 0, rollupBatch: 0 };
  for (let off = 0; off + CH_BATCH <= recs.length; off += CH_BATCH) {
    const part = recs.slice(off, off + CH_BATCH);
    let c0 = cpu();
    const raw = columnar.encodeRows(part, 1_700_000_000, columns, b.chScratch);
    let c1 = cpu();
    t.encodeRows += c1 - c0;
    c0 = c1;
    const batch = columnar.completeBatch(raw, columns, { dictionariesOnly: true, scratch: b.chScratch, repeatedValues: true });
    c1 = cpu();
    t.completeBatch += c1 - c0;
    c0 = c1;
    rollup.rollupBatch(batch, b.chGrouping);
    c1 = cpu();
    t.rollupBatch += c1 - c0;
  }
  return t;
}

const perRow = (t, rows) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Number(((v * 1000) / rows).toFixed(0))]));
const sum = (t) => Object.values(t).reduce((a, v) => a + v, 0);

// Warm-up: the JIT, the pools, the tables.
for (const b of builds) {
  embedded(b, halves[0]);
  clickhouse(b, halves[1]);
}
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? builds : [...builds].reverse();
  for (const b of order) {
    const e = { encodeRows: 0, completeBatch: 0, rollupBatch: 0, parquet: 0 };
    const c = { encodeRows: 0, completeBatch: 0, rollupBatch: 0 };
    for (let i = 0; i < batches; i++) {
      const et = embedded(b, halves[i % 2]);
      for (const k in et) e[k] += et[k];
      const ct = clickhouse(b, halves[(i + 1) % 2]);
      for (const k in ct) c[k] += ct[k];
    }
    const rows = batches * BATCH;
    const chRows = batches * Math.floor(BATCH / CH_BATCH) * CH_BATCH;
    console.log(
      JSON.stringify({
        build: b.root,
        round: r,
        embedded_ns_per_row: { ...perRow(e, rows), main: Math.round((e.encodeRows * 1000) / rows), segment: Math.round(((sum(e) - e.encodeRows) * 1000) / rows) },
        clickhouse_ns_per_row: { ...perRow(c, chRows), total: Math.round((sum(c) * 1000) / chRows) },
        load: Number(loadavg()[0].toFixed(1)),
      }),
    );
  }
}
