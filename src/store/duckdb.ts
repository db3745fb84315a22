// The embedded engine: DuckDB in a directory (<dir>/flows.duckdb), no server. Chosen over SQLite
// by benchmark (docs/store.md): the dashboard queries are scans and group-bys over millions of
// rows, which a columnar engine answers in milliseconds.
//
// Inserts (a directory store, schema 6): the segment thread writes a batch's rows and its rollup
// rows (rollup-batch.ts) as two Parquet files, and one short transaction records both in the
// catalog (segments.ts); every few batches a fold moves the rollup files' rows into the table
// rollup_rows, off the insert path. In memory (and at schema 4 and older) a batch is encoded
// column by column and read by DuckDB through a table function (duckdb-batch.ts) in one
// INSERT ... SELECT, with its rollup rows in the same transaction: all or nothing. Reads run on
// a small pool of connections to the one database instance, so a dashboard's queries run side by side.
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { BatchSource, encodeBatch } from './duckdb-batch.js';
import { ArrayPool, encodeRows, type EncodedBatch } from './columnar.js';
import { SegmentWriter } from './parquet/segment-writer.js';
import {
  compactionPlan,
  copySql,
  foldGroupSql,
  foldWhere,
  insertRollupFileSql,
  insertSegmentSql,
  namedSql,
  readSql,
  type RollupFile,
  rollupFilesViewSql,
  type Segment,
  segmentFile,
  SEGMENTS_DIR,
  segmentsViewSql,
  tempFile,
} from './segments.js';
import type { AggregatedFlowRecord } from '../flow/record.js';
import { StoreError } from './errors.js';
import { currentVersion, DUCKDB_MIGRATIONS, migrate, type MigrationTarget } from './migrations.js';
import type { Dialect } from './query.js';
import type { FlowRepository, OpenOptions, RetentionResult } from './repository.js';
import { JobTracker, type StoreHealth } from './health.js';
import { rollupBatch } from './rollup-batch.js';
import { DUCKDB_ROLLUP_COLUMNS, duckdbRollupCompaction, duckdbRollupInsert, GRAINS, LARGEST_TIER, ROLLUPS } from './rollups.js';
import { clampedValues, COLUMN_NAMES, COLUMNS, KIND_RANGES, type Column, type CounterSnapshot } from './schema.js';

/** Read connections: a dashboard page runs up to this many queries at once. */
export const READERS = 4;

export const duckdbDialect: Dialect = Object.freeze({
  str: (v: string) => `'${v.replace(/'/g, "''")}'`,
  time: (s: number) => String(Math.floor(s)),
  readTime: (c: string) => c,
  bucket: (c: string, s: number) => `(${c} // ${s}) * ${s}`,
  num: (e: string) => `CAST(${e} AS DOUBLE)`,
  count: () => 'CAST(count(*) AS DOUBLE)',
  one: () => 'CAST(1 AS UBIGINT)',
  rollup: (name: string, tier: number) => ({ table: 'rollups', where: `grain = ${grainOf(name, tier)}` }),
});

function grainOf(name: string, tier: number): number {
  const g = GRAINS.find((x) => x.spec.name === name && x.tier === tier);
  if (!g) throw new StoreError('STORE_ERR_INVALID_QUERY', `no rollup ${name} with ${tier} s buckets`);
  return g.grain;
}

/** Rollup rows are re-aggregated after this many inserts (each insert adds its batch's groups). */
const COMPACT_EVERY = 30;
/** Rollup files are folded into rollup_rows when this many are waiting (docs/store.md: the fold's cost). */
export const FOLD_FILES = 8;

function toJs(row: Record<string, unknown>): Record<string, unknown> {
  for (const k of Object.keys(row)) if (typeof row[k] === 'bigint') row[k] = Number(row[k]);
  return row;
}

export class DuckDbRepository implements FlowRepository {
  readonly engine = 'duckdb' as const;
  /**
   * Two whole row groups of the table path (2 x 122,880 rows), kept for segments: a batch this
   * size is one segment of 60-70 MB of uncompressed Parquet (docs/store.md, Figures).
   */
  readonly insertBatch = 2 * 122_880;
  /** Whether the rollups table exists with the address networks (schema 4; a store opened read-only may be older). */
  rollups = false;
  /** The flows table's columns (a store at an older schema, opened without migrating, has fewer). */
  private columns: readonly Column[] = COLUMNS;
  readonly dialect = duckdbDialect;
  private closed = false;
  /** Serializes writes on the writer connection (the appender is not re-entrant). */
  private writeChain: Promise<unknown> = Promise.resolve();

  private readonly batches = new BatchSource();
  private readonly rollupBatches = new BatchSource(DUCKDB_ROLLUP_COLUMNS, 'flowvis_rollup_batch');
  /** Idle read connections; a query takes one, or waits for one. */
  private readonly idle: DuckDBConnection[];
  private readonly waiting: ((c: DuckDBConnection) => void)[] = [];
  /** The earliest flow end written since the last rollup compaction; Infinity: nothing to compact. */
  private compactFrom = Infinity;
  private insertsSinceCompaction = 0;

  /** Schema 5 and later: rows live in `flow_rows` (older rows) and Parquet segments, `flows` is a view. */
  private segmented = false;
  /** Schema 6 and later: rollup rows live in `rollup_rows` and rollup files, `rollups` is a view. */
  private rollupFilesOn = false;
  /** The rollup files as committed, in id order. */
  private rollupFiles: RollupFile[] = [];
  /** The running fold of rollup files into rollup_rows, if any. */
  private folding: Promise<void> | null = null;
  /** Each background job's failures (health.ts): what health() reports. */
  private readonly jobs = { fold: new JobTracker(), compaction: new JobTracker(), rollupCompaction: new JobTracker() };
  /** Bumped by whatever rewrites rollup_rows (a fold, retention, a rebuild, a migration): a fold's grouping made before is stale. */
  private rollupEpoch = 0;
  private foldTables = 0;
  /** <dir>/segments; null in memory (rows then go to flow_rows). */
  private readonly segmentsDir: string | null;
  /** The segment path's batch arrays: transferred to the segment thread and given back (columnar.ts ArrayPool). */
  private readonly arrays = new ArrayPool();
  private readonly segmentWriter = new SegmentWriter(undefined, this.arrays);
  /** The catalog as committed, in id order. */
  private segments: Segment[] = [];
  private nextSegmentId = 1;
  /** The running segment compaction, if any. */
  private compaction: Promise<void> | null = null;
  /** Queries running, per catalog generation they started in; replaced files wait for the older ones. */
  private generation = 0;
  private readonly running = new Map<number, number>();
  private readonly retired: { files: string[]; generation: number }[] = [];

  private constructor(
    readonly location: string,
    private readonly instance: DuckDBInstance,
    private readonly writer: DuckDBConnection,
    private readonly readers: readonly DuckDBConnection[],
    /** Runs the compaction's COPY, so that inserts go on meanwhile. */
    private readonly maintenance: DuckDBConnection,
    /** Groups the rollup files' rows for a fold, so that inserts go on meanwhile. */
    private readonly folder: DuckDBConnection,
  ) {
    this.idle = [...readers];
    this.batches.register(writer);
    this.rollupBatches.register(writer);
    this.segmentsDir = location === ':memory:' ? null : join(location, SEGMENTS_DIR);
  }

  static async open(dir: string, options: OpenOptions = {}): Promise<DuckDbRepository> {
    let path = ':memory:';
    let location = ':memory:';
    if (dir !== ':memory:') {
      location = resolve(dir);
      try {
        mkdirSync(location, { recursive: true });
        if (!options.readOnly) mkdirSync(join(location, SEGMENTS_DIR), { recursive: true });
      } catch (err) {
        throw new StoreError('STORE_ERR_INVALID_OPTION', `--store ${dir}: cannot create the directory: ${(err as Error).message}`);
      }
      path = join(location, 'flows.duckdb');
    }
    let instance: DuckDBInstance;
    try {
      instance = await DuckDBInstance.create(path, options.readOnly ? { access_mode: 'READ_ONLY' } : {});
    } catch (err) {
      throw new StoreError(
        'STORE_ERR_UNAVAILABLE',
        `cannot open the embedded store ${path}: ${(err as Error).message}` +
          (/lock/i.test((err as Error).message) ? ' (another process, e.g. the aggregator, has it open; query it through its HTTP API instead)' : ''),
        { cause: err },
      );
    }
    const readers: DuckDBConnection[] = [];
    for (let i = 0; i < READERS; i++) readers.push(await instance.connect());
    const repo = new DuckDbRepository(location, instance, await instance.connect(), readers, await instance.connect(), await instance.connect());
    // Segment footers are read by every query; the files never change under their names.
    await repo.exec('SET parquet_metadata_cache = true');
    if (options.migrate !== false && !options.readOnly) await repo.migrateTo(DUCKDB_MIGRATIONS[DUCKDB_MIGRATIONS.length - 1].version);
    else {
      await repo.refreshRollups();
      if (repo.segmented) await repo.loadSegments(!options.readOnly);
    }
    return repo;
  }

  /**
   * Reads the catalog; when writable, deletes the files it does not name (temporary files,
   * segments whose commit never happened, files compaction or retention replaced) and points
   * flow_segments at the files where the store now is (the directory may have moved).
   */
  private async loadSegments(writable: boolean): Promise<void> {
    const reader = await this.writer.runAndReadAll('SELECT id, file, level, rowCount, bytes, minEnd, maxEnd FROM segments ORDER BY id');
    this.segments = reader.getRows().map((r) => ({
      id: Number(r[0]),
      file: String(r[1]),
      level: Number(r[2]),
      rows: Number(r[3]),
      bytes: Number(r[4]),
      minEnd: Number(r[5]),
      maxEnd: Number(r[6]),
    }));
    const [max] = (await this.writer.runAndReadAll('SELECT CAST(coalesce(max(id), 0) AS BIGINT) FROM segments')).getRows();
    this.nextSegmentId = Number(max[0]) + 1;
    this.rollupFiles = [];
    if (this.rollupFilesOn) {
      const files = await this.writer.runAndReadAll('SELECT id, file, rowCount, bytes, minEnd, maxEnd FROM rollup_files ORDER BY id');
      this.rollupFiles = files.getRows().map((r) => ({ id: Number(r[0]), file: String(r[1]), rows: Number(r[2]), bytes: Number(r[3]), minEnd: Number(r[4]), maxEnd: Number(r[5]) }));
    }
    if (!writable || this.segmentsDir === null) return;
    const named = new Set([...this.segments.map((s) => s.file), ...this.rollupFiles.map((f) => f.file)]);
    for (const f of readdirSync(this.segmentsDir)) if (!named.has(f)) rmSync(join(this.segmentsDir, f), { force: true });
    const missing = [...named].filter((f) => !existsFile(join(this.segmentsDir!, f)));
    if (missing.length > 0) {
      throw new StoreError('STORE_ERR_UNAVAILABLE', `the embedded store ${this.location} is missing ${missing.length} file(s) its catalog names, e.g. ${join(this.segmentsDir, missing[0])}`);
    }
    await this.exec(this.viewSql(this.segments));
    if (this.rollupFilesOn) await this.exec(this.rollupViewSql(this.rollupFiles));
  }

  private rollupViewSql(files: readonly RollupFile[]): string {
    return rollupFilesViewSql(files.map((f) => join(this.segmentsDir!, f.file)));
  }

  /** The table rollup rows are inserted into and compacted in (under the `rollups` view from schema 6). */
  private get rollupTable(): string {
    return this.rollupFilesOn ? 'rollup_rows' : 'rollups';
  }

  private viewSql(segments: readonly Segment[]): string {
    return segmentsViewSql(segments.map((s) => join(this.segmentsDir!, s.file)));
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.writeChain.then(fn, fn);
    this.writeChain = next.catch(() => undefined);
    return next;
  }

  private async exec(sql: string): Promise<void> {
    await this.writer.run(sql);
  }

  /** Runs one statement on the writer connection (maintenance, and in-database data generation in benchmarks). */
  execute(sql: string): Promise<void> {
    this.checkOpen();
    return this.exclusive(() => this.exec(sql));
  }

  async select(sql: string): Promise<Record<string, unknown>[]> {
    this.checkOpen();
    const connection = this.idle.pop() ?? (await new Promise<DuckDBConnection>((resolve) => this.waiting.push(resolve)));
    const generation = this.generation;
    this.running.set(generation, (this.running.get(generation) ?? 0) + 1);
    try {
      const reader = await connection.runAndReadAll(sql);
      return reader.getRowObjectsJS().map((r) => toJs(r as Record<string, unknown>));
    } catch (err) {
      throw new StoreError('STORE_ERR_UNAVAILABLE', `embedded store query failed: ${(err as Error).message}`, { cause: err });
    } finally {
      const left = this.running.get(generation)! - 1;
      if (left === 0) this.running.delete(generation);
      else this.running.set(generation, left);
      const next = this.waiting.shift();
      if (next) next(connection);
      else this.idle.push(connection);
      this.deleteRetired();
    }
  }

  insertFlows(records: readonly AggregatedFlowRecord[], insertedAtSeconds: number): Promise<void> {
    this.checkOpen();
    if (records.length === 0) return Promise.resolve();
    if (this.segmented && this.segmentsDir !== null) return this.insertSegment(records, insertedAtSeconds);
    const batch = clampedBatch(encodeBatch(records, insertedAtSeconds, this.columns), this.columns);
    const names = this.columns.map((c) => c.name);
    const rollups = this.rollups ? rollupBatch(batch) : null;
    const ends = batch.columns[COLUMN_NAMES.indexOf('flowEndSeconds')];
    let earliest = Infinity;
    if (ends.kind === 'number') for (const t of ends.values) if (t < earliest) earliest = t;
    const table = this.segmented ? 'flow_rows' : 'flows';
    return this.exclusive(async () => {
      await this.exec('BEGIN TRANSACTION');
      try {
        await this.batches.with(batch, (source) => this.exec(`INSERT INTO ${table} (${names.join(', ')}) SELECT * FROM ${source}`));
        if (rollups) await this.insertRollups(rollups);
        await this.exec('COMMIT');
      } catch (err) {
        await this.exec('ROLLBACK').catch(() => undefined);
        throw new StoreError('STORE_ERR_UNAVAILABLE', `embedded store insert failed: ${(err as Error).message}`, { cause: err });
      }
      if (!rollups) return;
      await this.afterRollupInsert(earliest);
    });
  }

  private async afterRollupInsert(earliest: number): Promise<void> {
    this.compactFrom = Math.min(this.compactFrom, earliest);
    if (++this.insertsSinceCompaction >= COMPACT_EVERY) await this.compactRollups();
  }

  /**
   * The segment path: the records' columns are read here (the one step that needs them), the
   * segment thread writes the file and its rollup file, and one transaction records both and the
   * new views (schema 5: the segment, its rollup rows and the new flow_segments view).
   */
  private async insertSegment(records: readonly AggregatedFlowRecord[], insertedAtSeconds: number): Promise<void> {
    const raw = encodeRows(records, insertedAtSeconds, COLUMNS, this.arrays.source());
    const id = this.nextSegmentId++;
    const dir = this.segmentsDir!;
    const file = segmentFile(id);
    const written = await this.segmentWriter.write(raw, dir, file, tempFile(id), this.rollups, !this.rollupFilesOn);
    const segment: Segment = { id, file, level: 0, rows: written.stats.rows, bytes: written.stats.bytes, minEnd: written.stats.minEnd, maxEnd: written.stats.maxEnd };
    const rollupFile: RollupFile | null = written.rollupFile && { id, ...written.rollupFile, minEnd: segment.minEnd, maxEnd: segment.maxEnd };
    await this.exclusive(async () => {
      try {
        this.checkOpen();
        const rollups = written.rollups;
        await this.recordSegment(dir, segment, rollups ? () => this.insertRollups(rollups) : null, rollupFile);
      } catch (err) {
        if (rollupFile) rmSync(join(dir, rollupFile.file), { force: true });
        throw new StoreError('STORE_ERR_UNAVAILABLE', `embedded store insert failed: ${(err as Error).message}`, { cause: err });
      }
      if (written.rollups) await this.afterRollupInsert(segment.minEnd);
    });
    if (this.rollupFiles.length >= FOLD_FILES) this.startFold();
    // A failure is counted in compactSegments; the segments stay as they were (still correct, only more files) and it is retried after the next insert.
    this.compaction ??= this.compactSegments()
      .catch(() => undefined)
      .finally(() => {
        this.compaction = null;
      });
  }

  private async insertRollups(rollups: EncodedBatch): Promise<void> {
    await this.rollupBatches.with(rollups, (source) => this.exec(`INSERT INTO ${this.rollupTable} (${DUCKDB_ROLLUP_COLUMNS.join(', ')}) SELECT * FROM ${source}`));
  }

  /** Starts a fold of the waiting rollup files in the background, unless one runs. */
  private startFold(): void {
    // A failure is counted in foldRollups; the files stay (still correct, only more of them) and the fold is retried after the next insert.
    this.folding ??= this.foldRollups(false)
      .catch(() => undefined)
      .finally(() => {
        this.folding = null;
      });
  }

  /**
   * Folds the rollup files committed so far into rollup_rows: their rows and the table's rows
   * of the buckets they touch are grouped into one row per grain, bucket and key; then one
   * transaction replaces those table rows by the groups, drops the files from the catalog and
   * the view, and the files are deleted once no query reads them. In the background
   * (`inside` false) the grouping runs on a connection of its own while inserts go on, and only
   * the swap waits for the writer; `inside` runs it all on the writer, inside `exclusive`.
   * A failure leaves everything as it was.
   */
  private async foldRollups(inside: boolean): Promise<void> {
    const files = [...this.rollupFiles];
    if (files.length === 0 || this.closed) return;
    const dir = this.segmentsDir!;
    const minEnd = Math.min(...files.map((f) => f.minEnd));
    const epoch = this.rollupEpoch;
    const table = `rollup_fold_${++this.foldTables}`;
    const connection = inside ? this.writer : this.folder;
    const run = (sql: string) => connection.run(sql);
    try {
      await run(foldGroupSql(table, files.map((f) => join(dir, f.file)), minEnd));
      const swap = async () => {
        // Retention, a rebuild or a migration rewrote rollup_rows meanwhile: this grouping is stale.
        if (this.rollupEpoch !== epoch || this.closed) return;
        const gone = new Set(files.map((f) => f.id));
        const next = this.rollupFiles.filter((f) => !gone.has(f.id));
        await run('BEGIN TRANSACTION');
        try {
          await run(`DELETE FROM rollup_rows WHERE ${foldWhere(minEnd)}`);
          await run(`INSERT INTO rollup_rows (${DUCKDB_ROLLUP_COLUMNS.join(', ')}) SELECT ${DUCKDB_ROLLUP_COLUMNS.join(', ')} FROM ${table}`);
          await run(`DELETE FROM rollup_files WHERE id IN (${files.map((f) => f.id).join(', ')})`);
          await run(this.rollupViewSql(next));
          await run('COMMIT');
        } catch (err) {
          await run('ROLLBACK').catch(() => undefined);
          throw err;
        }
        this.rollupFiles = next;
        // A fold grouped from the table as it was before this one is stale now.
        this.rollupEpoch++;
        this.retired.push({ files: files.map((f) => join(dir, f.file)), generation: this.generation++ });
        this.deleteRetired();
      };
      if (inside) await swap();
      else await this.exclusive(swap);
      this.jobs.fold.succeeded();
    } catch (err) {
      if (this.closed) return;
      const failure = new StoreError('STORE_ERR_UNAVAILABLE', `folding the rollup files failed: ${(err as Error).message}`, { cause: err });
      this.jobs.fold.failed(failure);
      throw failure;
    } finally {
      await run(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    }
  }

  /** The rollup files waiting to be folded (tests, benchmarks). */
  rollupFileList(): readonly RollupFile[] {
    return this.rollupFiles;
  }

  /**
   * Merges segments while some level has FAN_IN of them (segments.ts), off the insert path:
   * DuckDB writes the merged file on the maintenance connection while inserts go on, then the
   * catalog swaps the files in one short transaction. A failure leaves the segments as they were.
   */
  private async compactSegments(): Promise<void> {
    for (;;) {
      if (this.closed) return;
      const plan = compactionPlan(this.segments);
      if (plan === null) return;
      const dir = this.segmentsDir!;
      const id = this.nextSegmentId++;
      const file = segmentFile(id);
      const temp = join(dir, tempFile(id));
      try {
        await this.maintenance.run(copySql(readSql(plan.map((s) => join(dir, s.file))), temp));
        syncFile(temp);
        renameSync(temp, join(dir, file));
        syncFile(dir);
        const merged: Segment = {
          id,
          file,
          level: Math.max(...plan.map((s) => s.level)) + 1,
          rows: plan.reduce((t, s) => t + s.rows, 0),
          bytes: statSync(join(dir, file)).size,
          minEnd: Math.min(...plan.map((s) => s.minEnd)),
          maxEnd: Math.max(...plan.map((s) => s.maxEnd)),
        };
        await this.swapSegments(plan, [merged]);
        this.jobs.compaction.succeeded();
      } catch (err) {
        removeQuietly(temp);
        removeQuietly(join(dir, file));
        if (this.closed) return;
        const failure = new StoreError('STORE_ERR_UNAVAILABLE', `segment compaction failed: ${(err as Error).message}`, { cause: err });
        this.jobs.compaction.failed(failure);
        throw failure;
      }
    }
  }

  /** Replaces segments by others in the catalog and the view, in one transaction; the old files are retired. */
  private swapSegments(old: readonly Segment[], replacements: readonly Segment[], extra: readonly string[] = []): Promise<void> {
    return this.exclusive(async () => {
      this.checkOpen();
      const gone = new Set(old.map((s) => s.id));
      const next = [...this.segments.filter((s) => !gone.has(s.id)), ...replacements].sort((a, b) => a.id - b.id);
      await this.exec('BEGIN TRANSACTION');
      try {
        if (old.length > 0) await this.exec(`DELETE FROM segments WHERE id IN (${old.map((s) => s.id).join(', ')})`);
        for (const s of replacements) await this.exec(insertSegmentSql(s, Date.now() / 1000));
        for (const sql of extra) await this.exec(sql);
        await this.exec(this.viewSql(next));
        await this.exec('COMMIT');
      } catch (err) {
        await this.exec('ROLLBACK').catch(() => undefined);
        throw err;
      }
      this.segments = next;
      this.retired.push({ files: old.map((s) => join(this.segmentsDir!, s.file)), generation: this.generation++ });
      this.deleteRetired();
    });
  }

  /** Deletes replaced files once no query that started before their replacement still runs. */
  private deleteRetired(): void {
    let oldest = Infinity;
    for (const g of this.running.keys()) if (g < oldest) oldest = g;
    while (this.retired.length > 0 && this.retired[0].generation < oldest) {
      for (const f of this.retired.shift()!.files) rmSync(f, { force: true });
    }
  }

  /** Waits for the running segment compaction and rollup fold (tests and benchmarks; inserts start them). */
  async settle(): Promise<void> {
    while (this.compaction || this.folding) {
      await this.compaction?.catch(() => undefined);
      await this.folding?.catch(() => undefined);
    }
  }

  /** The last rollup fold's failure; '' after one succeeds (health() has the counts). */
  get foldError(): string {
    return this.jobs.fold.lastError;
  }

  /** The last segment compaction's failure; '' after one succeeds (health() has the counts). */
  get compactionError(): string {
    return this.jobs.compaction.lastError;
  }

  /** The background jobs' failures and the files waiting for them (health.ts; /metrics, logs). */
  health(): StoreHealth {
    const segmentsPerLevel: number[] = [];
    let fileBytes = 0;
    for (const s of this.segments) {
      while (segmentsPerLevel.length <= s.level) segmentsPerLevel.push(0);
      segmentsPerLevel[s.level]++;
      fileBytes += s.bytes;
    }
    for (const f of this.rollupFiles) fileBytes += f.bytes;
    return {
      jobs: { fold: this.jobs.fold.snapshot(), compaction: this.jobs.compaction.snapshot(), rollupCompaction: this.jobs.rollupCompaction.snapshot() },
      rollupFilesWaiting: this.rollupFiles.length,
      segmentsPerLevel,
      fileBytes,
    };
  }

  /** The segments as the catalog has them (tests, benchmarks, `flowvis store` reports). */
  segmentList(): readonly Segment[] {
    return this.segments;
  }

  /**
   * Stores the rows a SELECT returns (the flows columns in order) as one segment of `level`, in the form compaction writes
   * (DuckDB's snappy Parquet); in memory, into flow_rows. Rollups are not touched: call
   * rebuildRollups after (benchmark data generated in-database).
   */
  storeRowsOf(select: string, level = 1): Promise<void> {
    this.checkOpen();
    if (!this.segmented) return this.execute(`INSERT INTO flows ${select}`);
    if (this.segmentsDir === null) return this.execute(`INSERT INTO flow_rows ${select}`);
    const dir = this.segmentsDir;
    return this.exclusive(async () => {
      const id = this.nextSegmentId++;
      const file = segmentFile(id);
      const temp = join(dir, tempFile(id));
      await this.exec(copySql(namedSql(select), temp));
      syncFile(temp);
      renameSync(temp, join(dir, file));
      syncFile(dir);
      const [r] = (await this.writer.runAndReadAll(`SELECT CAST(count(*) AS BIGINT), CAST(coalesce(min(flowEndSeconds), 0) AS BIGINT), CAST(coalesce(max(flowEndSeconds), 0) AS BIGINT) FROM read_parquet('${join(dir, file)}')`)).getRows();
      const segment: Segment = { id, file, level, rows: Number(r[0]), bytes: statSync(join(dir, file)).size, minEnd: Number(r[1]), maxEnd: Number(r[2]) };
      await this.recordSegment(dir, segment, null, null);
    });
  }

  /**
   * Makes a written segment file part of the store: in one transaction, `alongside` (schema 5:
   * the segment's rollup rows), its catalog row and the view over every segment, and its rollup
   * file's catalog row and view. On failure the file is deleted and nothing is recorded. Runs
   * inside `exclusive`.
   */
  private async recordSegment(dir: string, segment: Segment, alongside: (() => Promise<void>) | null, rollupFile: RollupFile | null): Promise<void> {
    const next = [...this.segments, segment];
    const nextFiles = rollupFile ? [...this.rollupFiles, rollupFile] : this.rollupFiles;
    await this.exec('BEGIN TRANSACTION');
    try {
      if (alongside) await alongside();
      await this.exec(insertSegmentSql(segment, Date.now() / 1000));
      await this.exec(this.viewSql(next));
      if (rollupFile) {
        await this.exec(insertRollupFileSql(rollupFile, Date.now() / 1000));
        await this.exec(this.rollupViewSql(nextFiles));
      }
      await this.exec('COMMIT');
    } catch (err) {
      await this.exec('ROLLBACK').catch(() => undefined);
      rmSync(join(dir, segment.file), { force: true });
      throw err;
    }
    this.segments = next;
    this.rollupFiles = nextFiles;
  }

  /**
   * Re-aggregates the rollup rows of the buckets written since the last compaction, so that a
   * bucket holds one row per key however many batches fed it. Failure leaves the rows as they
   * were (still correct, only more of them) and is retried after the next inserts.
   */
  private async compactRollups(): Promise<void> {
    if (this.compactFrom === Infinity) return;
    const from = Math.floor(this.compactFrom / LARGEST_TIER) * LARGEST_TIER;
    await this.exec('BEGIN TRANSACTION');
    try {
      for (const sql of duckdbRollupCompaction(from, this.rollupTable)) await this.exec(sql);
      await this.exec('COMMIT');
      this.compactFrom = Infinity;
      this.insertsSinceCompaction = 0;
      this.jobs.rollupCompaction.succeeded();
    } catch (err) {
      await this.exec('ROLLBACK').catch(() => undefined);
      this.jobs.rollupCompaction.failed(new StoreError('STORE_ERR_UNAVAILABLE', `rollup compaction failed: ${(err as Error).message}`, { cause: err }));
    }
  }

  /** Recomputes the rollups from the stored rows (after rows were written by SQL, e.g. benchmark data). */
  async rebuildRollups(): Promise<void> {
    this.checkOpen();
    // A fold reading the files this deletes would fail (harmlessly, but noisily).
    while (this.folding) await this.folding.catch(() => undefined);
    return this.exclusive(async () => {
      this.rollupEpoch++;
      const files = this.rollupFiles;
      await this.exec('BEGIN TRANSACTION');
      try {
        await this.exec(`DELETE FROM ${this.rollupTable}`);
        await this.exec(duckdbRollupInsert('flows', '', ROLLUPS, this.rollupTable));
        if (files.length > 0) {
          await this.exec('DELETE FROM rollup_files');
          await this.exec(this.rollupViewSql([]));
        }
        await this.exec('COMMIT');
      } catch (err) {
        await this.exec('ROLLBACK').catch(() => undefined);
        throw new StoreError('STORE_ERR_UNAVAILABLE', `rebuilding the rollups failed: ${(err as Error).message}`, { cause: err });
      }
      if (files.length > 0) {
        this.rollupFiles = [];
        this.retired.push({ files: files.map((f) => join(this.segmentsDir!, f.file)), generation: this.generation++ });
        this.deleteRetired();
      }
    });
  }

  /** Runs the rollup compaction (and the fold of the rollup files) now (benchmarks and tests; inserts run them every few batches). */
  async compact(): Promise<void> {
    this.checkOpen();
    while (this.folding) await this.folding.catch(() => undefined);
    return this.exclusive(async () => {
      await this.foldRollups(true);
      await this.compactRollups();
    });
  }

  insertSnapshots(snapshots: readonly CounterSnapshot[]): Promise<void> {
    this.checkOpen();
    if (snapshots.length === 0) return Promise.resolve();
    const d = this.dialect;
    const values = snapshots
      .map((s) => `(${Math.floor(s.at)}, ${d.str(s.instance)}, ${Math.floor(s.recordsDropped)}, ${Math.floor(s.recordsLost)}, ${Math.floor(s.storeDropped)})`)
      .join(', ');
    return this.exclusive(() => this.exec(`INSERT INTO counter_snapshots VALUES ${values}`));
  }

  async countFlows(): Promise<number> {
    const [r] = await this.select('SELECT CAST(count(*) AS DOUBLE) AS n FROM flows');
    return Number(r.n);
  }

  /**
   * Retention cuts at a multiple of the largest rollup bucket (6 h), so no rollup bucket is half
   * deleted. Segments that ended before the cutoff are dropped whole; one that straddles it is
   * rewritten without its older rows; the catalog, rollups and snapshots change in one transaction.
   */
  retain(cutoffSeconds: number): Promise<RetentionResult> {
    this.checkOpen();
    const cutoff = Math.floor(cutoffSeconds / LARGEST_TIER) * LARGEST_TIER;
    if (!this.segmented) {
      return this.exclusive(async () => {
        const reader = await this.writer.runAndReadAll(`DELETE FROM flows WHERE flowEndSeconds < ${cutoff}`);
        const deleted = Number((reader.getRows()[0]?.[0] as bigint | number | undefined) ?? 0);
        await this.exec(`DELETE FROM ${this.rollupTable} WHERE bucket < ${cutoff}`);
        await this.exec(`DELETE FROM counter_snapshots WHERE takenAt < ${cutoff}`);
        // Compaction: a checkpoint writes the remaining row groups and frees the deleted blocks.
        await this.exec('CHECKPOINT');
        return { deletedFlows: deleted, droppedPartitions: [] };
      });
    }
    return this.retainSegmented(cutoff);
  }

  private async retainSegmented(cutoff: number): Promise<RetentionResult> {
    // No compaction swaps segments meanwhile.
    await this.settle();
    return this.exclusive(async () => {
      this.checkOpen();
      // The rollup files' rows into rollup_rows first, where retention cuts them.
      await this.foldRollups(true);
      this.rollupEpoch++;
      const dir = this.segmentsDir;
      const dropped = this.segments.filter((s) => s.maxEnd < cutoff);
      const straddling = this.segments.filter((s) => s.minEnd < cutoff && s.maxEnd >= cutoff);
      const rewritten: Segment[] = [];
      let deleted = dropped.reduce((t, s) => t + s.rows, 0);
      try {
        for (const s of straddling) {
          const id = this.nextSegmentId++;
          const file = segmentFile(id);
          const temp = join(dir!, tempFile(id));
          const where = `flowEndSeconds >= ${cutoff}`;
          await this.exec(copySql(readSql([join(dir!, s.file)], where), temp));
          syncFile(temp);
          renameSync(temp, join(dir!, file));
          const [r] = (await this.writer.runAndReadAll(`SELECT CAST(count(*) AS BIGINT), CAST(coalesce(min(flowEndSeconds), 0) AS BIGINT) FROM read_parquet('${join(dir!, file)}')`)).getRows();
          const kept = Number(r[0]);
          deleted += s.rows - kept;
          rewritten.push({ id, file, level: s.level, rows: kept, bytes: statSync(join(dir!, file)).size, minEnd: Number(r[1]), maxEnd: s.maxEnd });
        }
        if (dir !== null && rewritten.length > 0) syncFile(dir);
      } catch (err) {
        for (const s of rewritten) rmSync(join(dir!, s.file), { force: true });
        throw new StoreError('STORE_ERR_UNAVAILABLE', `retention failed: ${(err as Error).message}`, { cause: err });
      }
      const old = [...dropped, ...straddling];
      const gone = new Set(old.map((s) => s.id));
      const next = [...this.segments.filter((s) => !gone.has(s.id)), ...rewritten].sort((a, b) => a.id - b.id);
      await this.exec('BEGIN TRANSACTION');
      try {
        const reader = await this.writer.runAndReadAll(`DELETE FROM flow_rows WHERE flowEndSeconds < ${cutoff}`);
        deleted += Number((reader.getRows()[0]?.[0] as bigint | number | undefined) ?? 0);
        if (old.length > 0) await this.exec(`DELETE FROM segments WHERE id IN (${old.map((s) => s.id).join(', ')})`);
        for (const s of rewritten) await this.exec(insertSegmentSql(s, Date.now() / 1000));
        await this.exec(`DELETE FROM ${this.rollupTable} WHERE bucket < ${cutoff}`);
        await this.exec(`DELETE FROM counter_snapshots WHERE takenAt < ${cutoff}`);
        if (dir !== null) await this.exec(this.viewSql(next));
        await this.exec('COMMIT');
      } catch (err) {
        await this.exec('ROLLBACK').catch(() => undefined);
        for (const s of rewritten) rmSync(join(dir!, s.file), { force: true });
        throw new StoreError('STORE_ERR_UNAVAILABLE', `retention failed: ${(err as Error).message}`, { cause: err });
      }
      this.segments = next;
      if (dir !== null) {
        this.retired.push({ files: old.map((s) => join(dir, s.file)), generation: this.generation++ });
        this.deleteRetired();
      }
      await this.exec('CHECKPOINT');
      return { deletedFlows: deleted, droppedPartitions: [] };
    });
  }

  private migrationTarget(): MigrationTarget {
    return {
      migrations: DUCKDB_MIGRATIONS,
      transactions: true,
      exec: (sql) => this.exec(sql),
      // Created only when absent, so that a store opened read-only can tell its version.
      ensureLog: async () => {
        const reader = await this.writer.runAndReadAll("SELECT count(*) FROM information_schema.tables WHERE table_name = 'flowvis_migrations'");
        if (Number(reader.getRows()[0][0]) > 0) return;
        await this.exec('CREATE TABLE flowvis_migrations (version INTEGER NOT NULL, name VARCHAR NOT NULL, step INTEGER NOT NULL, appliedAt BIGINT NOT NULL)');
      },
      readLog: async () => {
        const reader = await this.writer.runAndReadAll('SELECT version, CAST(sum(step) AS INTEGER) AS s FROM flowvis_migrations GROUP BY version');
        return new Map(reader.getRows().map((r) => [Number(r[0]), Number(r[1])]));
      },
      appendLog: (version, name, step, at) =>
        this.exec(`INSERT INTO flowvis_migrations VALUES (${version}, ${this.dialect.str(name)}, ${step}, ${Math.floor(at)})`),
    };
  }

  async schemaVersion(): Promise<number> {
    this.checkOpen();
    return this.exclusive(() => currentVersion(this.migrationTarget()));
  }

  async migrateTo(version: number): Promise<number[]> {
    this.checkOpen();
    await this.settle();
    try {
      return await this.exclusive(() => {
        this.rollupEpoch++;
        return migrate(this.migrationTarget(), Date.now() / 1000, version);
      });
    } finally {
      await this.refreshRollups();
      // Down from segments: their rows are in flow_rows now; the files go at the next open.
      if (this.segmented) await this.loadSegments(true);
      else {
        this.segments = [];
        this.rollupFiles = [];
      }
    }
  }

  private async refreshRollups(): Promise<void> {
    // Schema 3's rollups have no address networks: only schema 4's answer queries.
    const [r] = await this.select("SELECT CAST(count(*) AS DOUBLE) AS n FROM information_schema.columns WHERE table_name = 'rollups' AND column_name = 'sourceIPNet'");
    this.rollups = Number(r.n) > 0;
    const [g] = await this.select("SELECT CAST(count(*) AS DOUBLE) AS n FROM information_schema.tables WHERE table_name = 'segments'");
    this.segmented = Number(g.n) > 0;
    const [f] = await this.select("SELECT CAST(count(*) AS DOUBLE) AS n FROM information_schema.tables WHERE table_name = 'rollup_files'");
    this.rollupFilesOn = Number(f.n) > 0;
    const present = new Set((await this.select("SELECT column_name AS c FROM information_schema.columns WHERE table_name = 'flows'")).map((x) => String(x.c)));
    this.columns = present.size === 0 ? COLUMNS : COLUMNS.filter((c) => present.has(c.name));
  }

  async ping(): Promise<void> {
    await this.select('SELECT 1 AS one');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.writeChain;
    this.closed = true;
    await this.compaction?.catch(() => undefined);
    await this.folding?.catch(() => undefined);
    await this.writeChain;
    await this.segmentWriter.close();
    this.writer.closeSync();
    this.maintenance.closeSync();
    this.folder.closeSync();
    for (const r of this.readers) r.closeSync();
    this.instance.closeSync();
  }

  private checkOpen(): void {
    if (this.closed) throw new StoreError('STORE_ERR_UNAVAILABLE', `the embedded store ${this.location} is closed`);
  }
}

/** Deletes a file if it is there; a failure to delete (e.g. a directory in its place) must not hide the error being handled. */
function removeQuietly(path: string): void {
  try {
    rmSync(path, { force: true });
  } catch {
    // Not named by the catalog, so never read; the error being handled is the one to report.
  }
}

function existsFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** fsync of a file or directory by path. */
function syncFile(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * The batch with each number column's values clamped into its kind's range (schema.ts
 * KIND_RANGES), as the segment path's Parquet writer and the ClickHouse writer store them:
 * DuckDB's cast would fail the whole batch on one such value.
 */
function clampedBatch(batch: EncodedBatch, columns: readonly Column[]): EncodedBatch {
  const out = batch.columns.map((col, c) => {
    const kind = columns[c].kind;
    if (col.kind !== 'number' || kind === 'string') return col;
    const values = clampedValues(col.values, batch.rows, KIND_RANGES[kind].min, KIND_RANGES[kind].max);
    return values === col.values ? col : { kind: 'number' as const, values };
  });
  return out.every((col, c) => col === batch.columns[c]) ? batch : { ...batch, columns: out };
}
