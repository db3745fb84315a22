// The embedded store's rollup files (schema 6; segments.ts, duckdb.ts): each insert's rollup rows
// as a Parquet file beside its segment, the catalog and the `rollups` view over both, the fold
// into rollup_rows, files left by a crash, retention, rebuild, and the migration with files present.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DuckDbRepository, FOLD_FILES } from '../../../src/store/duckdb.js';
import { DUCKDB_ROLLUP_COLUMNS, ROLLUP_MEASURES } from '../../../src/store/rollups.js';
import { rollupRecords, H0 } from './rollup-contract.js';

const root = mkdtempSync(join(tmpdir(), 'flowvis-rollup-files-'));
after(() => rmSync(root, { recursive: true, force: true }));
let stores = 0;
const storeDir = () => join(root, `s${stores++}`);

const KEYS = DUCKDB_ROLLUP_COLUMNS.filter((c) => !(ROLLUP_MEASURES as readonly string[]).includes(c) && c !== 'flows');
const SUMS = [...ROLLUP_MEASURES, 'flows'].map((m) => `CAST(sum(${m}) AS DOUBLE) AS ${m}`);

/** The rollups as a query sees them, one row per grain, bucket and key. */
function snapshot(repo: DuckDbRepository): Promise<Record<string, unknown>[]> {
  return repo.select(`SELECT ${KEYS.join(', ')}, ${SUMS.join(', ')} FROM rollups GROUP BY ALL ORDER BY ALL`);
}

/** Inserts `batches` batches of 400 records, spread over 30 hours from H0 - 1800 with a different seed each. */
async function fill(repo: DuckDbRepository, batches: number, seed = 1): Promise<void> {
  for (let b = 0; b < batches; b++) await repo.insertFlows(rollupRecords(400, seed + b), H0 + b);
}

async function count(repo: DuckDbRepository, sql: string): Promise<number> {
  const [r] = await repo.select(sql);
  return Number(Object.values(r)[0]);
}

describe('embedded store rollup files', () => {
  it('writes each insert rollup rows as a file with the columns and types of rollup_rows, named in the catalog', async () => {
    const dir = storeDir();
    const repo = await DuckDbRepository.open(dir);
    try {
      await fill(repo, 2);
      const files = repo.rollupFileList();
      assert.deepEqual(files.map((f) => f.id), repo.segmentList().map((s) => s.id));
      for (const f of files) assert.ok(existsSync(join(dir, 'segments', f.file)), f.file);
      const path = join(dir, 'segments', files[0].file);
      const fileTypes = await repo.select(`SELECT column_name AS name, column_type AS type FROM (DESCRIBE SELECT * FROM read_parquet('${path}'))`);
      const tableTypes = await repo.select(`SELECT column_name AS name, column_type AS type FROM (DESCRIBE SELECT * FROM rollup_rows)`);
      assert.deepEqual(fileTypes, tableTypes);
      assert.equal(await count(repo, `SELECT CAST(count(*) AS DOUBLE) FROM read_parquet('${path}')`), files[0].rows);
      // Nothing in the table yet: every rollup row is in the files.
      assert.equal(await count(repo, 'SELECT CAST(count(*) AS DOUBLE) FROM rollup_rows'), 0);
      assert.equal(await count(repo, 'SELECT CAST(sum(flows) AS DOUBLE) FROM rollups WHERE grain = 0'), 800);
    } finally {
      await repo.close();
    }
  });

  it('holds the same rollups as the in-memory store, which inserts them into its table', async () => {
    const files = await DuckDbRepository.open(storeDir());
    const table = await DuckDbRepository.open(':memory:');
    try {
      await fill(files, 3, 40);
      await fill(table, 3, 40);
      assert.equal(files.rollupFileList().length, 3);
      assert.deepEqual(await snapshot(files), await snapshot(table));
    } finally {
      await files.close();
      await table.close();
    }
  });

  it('folds the files into rollup_rows: one row per grain, bucket and key, the same sums, the files deleted', async () => {
    const dir = storeDir();
    const repo = await DuckDbRepository.open(dir);
    try {
      await fill(repo, 3, 7);
      const before = await snapshot(repo);
      const names = repo.rollupFileList().map((f) => f.file);
      await repo.compact();
      assert.deepEqual(repo.rollupFileList(), []);
      for (const f of names) assert.ok(!existsSync(join(dir, 'segments', f)), `${f} deleted`);
      assert.deepEqual(await snapshot(repo), before);
      const rows = await count(repo, 'SELECT CAST(count(*) AS DOUBLE) FROM rollup_rows');
      assert.equal(rows, before.length, 'one table row per group');
      // Later batches into the same buckets: folded again, the table's rows of those buckets re-aggregated.
      await fill(repo, 2, 70);
      const more = await snapshot(repo);
      await repo.compact();
      assert.deepEqual(await snapshot(repo), more);
      assert.equal(await count(repo, 'SELECT CAST(count(*) AS DOUBLE) FROM rollup_rows'), more.length);
      assert.deepEqual(readdirSync(join(dir, 'segments')).filter((f) => f.startsWith('rollups-')), []);
    } finally {
      await repo.close();
    }
  });

  it(`folds in the background once ${FOLD_FILES} files wait, while inserts go on`, async () => {
    const repo = await DuckDbRepository.open(storeDir());
    try {
      const reference = await DuckDbRepository.open(':memory:');
      try {
        await fill(repo, FOLD_FILES + 2, 100);
        await fill(reference, FOLD_FILES + 2, 100);
        await repo.settle();
        assert.equal(repo.foldError, '');
        assert.ok(repo.rollupFileList().length < FOLD_FILES, `${repo.rollupFileList().length} files left`);
        assert.ok((await count(repo, 'SELECT CAST(count(*) AS DOUBLE) FROM rollup_rows')) > 0);
        assert.deepEqual(await snapshot(repo), await snapshot(reference));
      } finally {
        await reference.close();
      }
    } finally {
      await repo.close();
    }
  });

  it('keeps the committed files and their rollups across a reopen', async () => {
    const dir = storeDir();
    let repo = await DuckDbRepository.open(dir);
    await fill(repo, 2, 5);
    const before = await snapshot(repo);
    const files = repo.rollupFileList().map((f) => f.file);
    await repo.close();
    repo = await DuckDbRepository.open(dir);
    try {
      assert.deepEqual(repo.rollupFileList().map((f) => f.file), files);
      assert.deepEqual(await snapshot(repo), before);
    } finally {
      await repo.close();
    }
  });

  it('refuses to open a store whose catalog names a missing rollup file, naming it', async () => {
    const dir = storeDir();
    const repo = await DuckDbRepository.open(dir);
    await fill(repo, 1);
    const file = repo.rollupFileList()[0].file;
    await repo.close();
    rmSync(join(dir, 'segments', file));
    await assert.rejects(DuckDbRepository.open(dir), (err: Error) => (err as { code?: string }).code === 'STORE_ERR_UNAVAILABLE' && err.message.includes(file));
  });

  it('retention cuts the files rows too: no rollup row before the cutoff, the rest as the raw rows sum', async () => {
    const repo = await DuckDbRepository.open(storeDir());
    try {
      await fill(repo, 3, 9);
      const cutoff = Math.ceil(H0 / 21600) * 21600 + 21600;
      await repo.retain(cutoff);
      assert.deepEqual(repo.rollupFileList(), []);
      assert.equal(await count(repo, `SELECT CAST(count(*) AS DOUBLE) FROM rollups WHERE bucket < ${cutoff}`), 0);
      for (const grain of [0, 3, 6, 9, 10]) {
        const flows = await count(repo, `SELECT CAST(coalesce(sum(flows), 0) AS DOUBLE) FROM rollups WHERE grain = ${grain}`);
        assert.equal(flows, await repo.countFlows(), `grain ${grain}`);
      }
    } finally {
      await repo.close();
    }
  });

  it('rebuilds the rollups from the rows into the table and drops the files', async () => {
    const dir = storeDir();
    const repo = await DuckDbRepository.open(dir);
    try {
      await fill(repo, 2, 11);
      const before = await snapshot(repo);
      await repo.rebuildRollups();
      assert.deepEqual(repo.rollupFileList(), []);
      assert.deepEqual(await snapshot(repo), before);
      assert.deepEqual(readdirSync(join(dir, 'segments')).filter((f) => f.startsWith('rollups-')), []);
    } finally {
      await repo.close();
    }
  });

  it('migrates down to schema 5 with files present (their rows into the table) and up again', async () => {
    const dir = storeDir();
    const repo = await DuckDbRepository.open(dir);
    try {
      await fill(repo, 3, 13);
      const before = await snapshot(repo);
      assert.deepEqual(await repo.migrateTo(5), [6]);
      assert.equal(repo.rollups, true);
      assert.deepEqual(await snapshot(repo), before);
      assert.deepEqual(readdirSync(join(dir, 'segments')).filter((f) => f.startsWith('rollups-')), [], 'the folded files are deleted');
      // Schema 5 inserts rollup rows into its table.
      await fill(repo, 1, 30);
      const at5 = await snapshot(repo);
      assert.deepEqual(await repo.migrateTo(6), [6]);
      assert.deepEqual(await snapshot(repo), at5);
      await fill(repo, 1, 31);
      assert.equal(repo.rollupFileList().length, 1);
      await repo.compact();
      const reference = await DuckDbRepository.open(':memory:');
      try {
        for (const [batches, seed] of [[3, 13], [1, 30], [1, 31]]) await fill(reference, batches, seed);
        assert.deepEqual(await snapshot(repo), await snapshot(reference));
      } finally {
        await reference.close();
      }
    } finally {
      await repo.close();
    }
  });
});
