// The embedded store's Parquet segments (src/store/segments.ts, duckdb.ts): the catalog, the
// flows view, files left by a crash, compaction, retention, and the migration from a table store.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { AggregatedFlowRecord } from '../../../src/flow/record.js';
import { DuckDbRepository } from '../../../src/store/duckdb.js';
import { compactionPlan, FAN_IN, rollupFileOf, rollupTempFileOf, type Segment } from '../../../src/store/segments.js';
import { COLUMN_NAMES } from '../../../src/store/schema.js';
import { flow, T0 } from './fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'flowvis-segments-'));
after(() => rmSync(root, { recursive: true, force: true }));
let stores = 0;
const storeDir = () => join(root, `s${stores++}`);

/** n records with distinct ports, ends spread over `span` seconds from `from`, one with UTF-8 and one IPv6. */
function records(n: number, from = T0, span = 60, seed = 0): AggregatedFlowRecord[] {
  return Array.from({ length: n }, (_, i) =>
    flow({
      sourceTransportPort: 1000 + ((i + seed) % 60000),
      sourcePodName: i % 7 === 0 ? `pöd-${i % 13}-日本` : `pod-${i % 13}`,
      sourcePodNamespace: `ns-${i % 3}`,
      sourceAddress: i % 5 === 0 ? `fd00:10:244::${(i % 200).toString(16)}` : `10.0.${i % 250}.${(i * 7) % 250}`,
      ipVersion: i % 5 === 0 ? 6 : 4,
      flowEndSeconds: from + Math.floor((i * span) / n),
      octetDeltaCount: 1000 + i,
      packetDeltaCount: 1 + (i % 9),
      reverseOctetDeltaCount: i % 11,
    }),
  );
}

const ORDER = `ORDER BY ${COLUMN_NAMES.join(', ')}`;

async function allRows(repo: DuckDbRepository): Promise<Record<string, unknown>[]> {
  return repo.select(`SELECT * FROM flows ${ORDER}`);
}

describe('embedded store segments', () => {
  it('stores every column exactly as the table path does (directory store vs in-memory store)', async () => {
    const segmented = await DuckDbRepository.open(storeDir());
    const table = await DuckDbRepository.open(':memory:');
    try {
      const batch = records(3000);
      await segmented.insertFlows(batch, T0 + 100);
      await table.insertFlows(batch, T0 + 100);
      assert.equal(segmented.segmentList().length, 1);
      const [a, b] = [await allRows(segmented), await allRows(table)];
      assert.equal(a.length, 3000);
      assert.deepEqual(a, b);
      // And the rollups each wrote with its rows.
      const sums = 'SELECT grain, bucket, CAST(sum(octetDeltaCount) AS DOUBLE) AS o, CAST(sum(flows) AS DOUBLE) AS f FROM rollups GROUP BY grain, bucket ORDER BY grain, bucket';
      assert.deepEqual(await segmented.select(sums), await table.select(sums));
    } finally {
      await segmented.close();
      await table.close();
    }
  });

  it('shows a new segment to queries as soon as its insert resolves', async () => {
    const repo = await DuckDbRepository.open(storeDir());
    try {
      for (let i = 1; i <= 3; i++) {
        await repo.insertFlows(records(100, T0, 60, i), T0 + i);
        assert.equal(await repo.countFlows(), 100 * i);
      }
    } finally {
      await repo.close();
    }
  });

  it('deletes files the catalog does not name when the store opens, and keeps the ones it names', async () => {
    const dir = storeDir();
    const repo = await DuckDbRepository.open(dir);
    await repo.insertFlows(records(50), T0 + 1);
    const kept = repo.segmentList()[0].file;
    await repo.close();
    const segs = join(dir, 'segments');
    // A crash mid-write (temporary file) and between rename and commit (a complete, unrecorded file).
    writeFileSync(join(segs, '.seg-0000000099.parquet.tmp'), 'partial');
    writeFileSync(join(segs, 'seg-0000000100.parquet'), 'not committed');
    // The same for a rollup file (schema 6): mid-write, and written but never committed.
    writeFileSync(join(segs, rollupTempFileOf('seg-0000000099.parquet')), 'partial');
    writeFileSync(join(segs, rollupFileOf('seg-0000000100.parquet')), 'not committed');
    const again = await DuckDbRepository.open(dir);
    try {
      assert.deepEqual(readdirSync(segs).sort(), [kept, rollupFileOf(kept)].sort());
      assert.deepEqual(again.rollupFileList().map((f) => f.file), [rollupFileOf(kept)]);
      assert.equal(await again.countFlows(), 50);
    } finally {
      await again.close();
    }
  });

  it('refuses to open a store whose catalog names a missing file, naming it', async () => {
    const dir = storeDir();
    const repo = await DuckDbRepository.open(dir);
    await repo.insertFlows(records(10), T0 + 1);
    const file = repo.segmentList()[0].file;
    await repo.close();
    rmSync(join(dir, 'segments', file));
    await assert.rejects(DuckDbRepository.open(dir), (err: Error) => (err as { code?: string }).code === 'STORE_ERR_UNAVAILABLE' && err.message.includes(file));
  });

  it(`merges ${FAN_IN} segments of a level into one of the next, same rows, old files deleted`, async () => {
    const dir = storeDir();
    const repo = await DuckDbRepository.open(dir);
    try {
      const inserted: AggregatedFlowRecord[] = [];
      for (let i = 0; i < FAN_IN + 1; i++) {
        const batch = records(200, T0 + i * 60, 60, i * 1000);
        inserted.push(...batch);
        await repo.insertFlows(batch, T0 + 1000 + i);
      }
      const before = await allRows(repo);
      await repo.settle();
      assert.equal(repo.compactionError, '');
      const levels = repo.segmentList().map((s) => s.level);
      assert.deepEqual([...levels].sort(), [0, 1]);
      assert.equal(repo.segmentList().find((s) => s.level === 1)!.rows, FAN_IN * 200);
      assert.deepEqual(await allRows(repo), before);
      assert.equal(before.length, inserted.length);
      const named = [...repo.segmentList().map((s) => s.file), ...repo.rollupFileList().map((f) => f.file)];
      assert.deepEqual(readdirSync(join(dir, 'segments')).sort(), named.sort());
    } finally {
      await repo.close();
    }
  });

  it('plans compaction for the lowest level that has enough segments, oldest first', () => {
    const seg = (id: number, level: number): Segment => ({ id, file: `f${id}`, level, rows: 1, bytes: 1, minEnd: 0, maxEnd: 0 });
    assert.equal(compactionPlan(Array.from({ length: FAN_IN - 1 }, (_, i) => seg(i, 0))), null);
    const mixed = [...Array.from({ length: FAN_IN }, (_, i) => seg(100 - i, 1)), ...Array.from({ length: FAN_IN + 2 }, (_, i) => seg(200 + i, 0))];
    assert.deepEqual(compactionPlan(mixed)!.map((s) => s.id), Array.from({ length: FAN_IN }, (_, i) => 200 + i));
    assert.deepEqual(compactionPlan(mixed.filter((s) => s.level === 1))!.map((s) => s.id), Array.from({ length: FAN_IN }, (_, i) => 93 + i));
  });

  it('retention drops segments that ended before the cutoff and rewrites the one that straddles it', async () => {
    const dir = storeDir();
    const repo = await DuckDbRepository.open(dir);
    try {
      const day = 86400;
      const base = Math.floor(T0 / 21600) * 21600;
      await repo.insertFlows(records(100, base - day, 3600), T0); // all before the cutoff
      await repo.insertFlows(records(100, base - 3600, 7200), T0); // straddles: 50 before, 50 after
      await repo.insertFlows(records(100, base + 60, 600), T0); // all after
      const before = repo.segmentList().map((s) => s.file);
      const r = await repo.retain(base);
      assert.equal(r.deletedFlows, 150);
      assert.equal(await repo.countFlows(), 150);
      const [{ n }] = await repo.select(`SELECT CAST(count(*) AS DOUBLE) AS n FROM flows WHERE flowEndSeconds < ${base}`);
      assert.equal(n, 0);
      const after = repo.segmentList();
      assert.equal(after.length, 2);
      assert.equal(after[0].file, before[2]);
      assert.ok(!before.includes(after[1].file), 'the straddling segment was rewritten to a new file');
      assert.ok(!existsSync(join(dir, 'segments', before[0])));
      const [{ f }] = await repo.select(`SELECT CAST(coalesce(sum(flows), 0) AS DOUBLE) AS f FROM rollups WHERE bucket < ${base}`);
      assert.equal(f, 0);
    } finally {
      await repo.close();
    }
  });

  it('keeps the rows of a table store (schema 4) when it moves to segments, and gives them back on the way down', async () => {
    const dir = storeDir();
    const repo = await DuckDbRepository.open(dir, { migrate: false });
    try {
      await repo.migrateTo(4);
      await repo.insertFlows(records(300, T0, 60, 1), T0);
      const old = await allRows(repo);
      assert.deepEqual(await repo.migrateTo(5), [5]);
      assert.deepEqual(await allRows(repo), old);
      await repo.insertFlows(records(200, T0, 60, 2), T0 + 5);
      assert.equal(repo.segmentList().length, 1);
      const both = await allRows(repo);
      assert.equal(both.length, 500);
      assert.deepEqual(await repo.migrateTo(4), [5]);
      assert.deepEqual(await allRows(repo), both);
      await repo.migrateTo(5);
      assert.deepEqual(await allRows(repo), both);
    } finally {
      await repo.close();
    }
  });
});
