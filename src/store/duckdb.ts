// The embedded engine: DuckDB in a directory (<dir>/flows.duckdb), no server. Chosen over SQLite
// by benchmark (docs/store.md): the dashboard queries are scans and group-bys over millions of
// rows, which a columnar engine answers in milliseconds.
//
// Inserts: a batch is encoded column by column and read by DuckDB through a table function
// (duckdb-batch.ts) in one INSERT ... SELECT, with its rollup rows (rollup-batch.ts) in the same
// transaction: all or nothing. Reads run on a small pool of connections to the one database
// instance, so a dashboard's queries run side by side.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { BatchSource, encodeBatch } from './duckdb-batch.js';
import type { AggregatedFlowRecord } from '../flow/record.js';
import { StoreError } from './errors.js';
import { currentVersion, DUCKDB_MIGRATIONS, migrate, type MigrationTarget } from './migrations.js';
import type { Dialect } from './query.js';
import type { FlowRepository, OpenOptions, RetentionResult } from './repository.js';
import { rollupBatch } from './rollup-batch.js';
import { DUCKDB_ROLLUP_COLUMNS, duckdbRollupCompaction, duckdbRollupInsert, GRAINS, LARGEST_TIER } from './rollups.js';
import { COLUMN_NAMES, COLUMNS, type Column, type CounterSnapshot } from './schema.js';

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

function toJs(row: Record<string, unknown>): Record<string, unknown> {
  for (const k of Object.keys(row)) if (typeof row[k] === 'bigint') row[k] = Number(row[k]);
  return row;
}

export class DuckDbRepository implements FlowRepository {
  readonly engine = 'duckdb' as const;
  /**
   * Two whole row groups (2 x 122,880 rows): full row groups are written straight to blocks, not
   * through the WAL (optimistic writes), and leave no partial row group for the next checkpoint
   * to merge and rewrite. Measured against 150,000-row inserts (one row group and a 27,120-row
   * rest), 1.47M rows, default settings: the COMMITs' CPU per row 10.7 -> 4.7 µs, 37,000 ->
   * 51,000 rows per CPU-second (docs/store.md, Figures, session 4).
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

  private constructor(
    readonly location: string,
    private readonly instance: DuckDBInstance,
    private readonly writer: DuckDBConnection,
    private readonly readers: readonly DuckDBConnection[],
  ) {
    this.idle = [...readers];
    this.batches.register(writer);
    this.rollupBatches.register(writer);
  }

  static async open(dir: string, options: OpenOptions = {}): Promise<DuckDbRepository> {
    let path = ':memory:';
    let location = ':memory:';
    if (dir !== ':memory:') {
      location = resolve(dir);
      try {
        mkdirSync(location, { recursive: true });
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
    const repo = new DuckDbRepository(location, instance, await instance.connect(), readers);
    if (options.migrate !== false && !options.readOnly) await repo.migrateTo(DUCKDB_MIGRATIONS[DUCKDB_MIGRATIONS.length - 1].version);
    else await repo.refreshRollups();
    return repo;
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
    try {
      const reader = await connection.runAndReadAll(sql);
      return reader.getRowObjectsJS().map((r) => toJs(r as Record<string, unknown>));
    } catch (err) {
      throw new StoreError('STORE_ERR_UNAVAILABLE', `embedded store query failed: ${(err as Error).message}`, { cause: err });
    } finally {
      const next = this.waiting.shift();
      if (next) next(connection);
      else this.idle.push(connection);
    }
  }

  insertFlows(records: readonly AggregatedFlowRecord[], insertedAtSeconds: number): Promise<void> {
    this.checkOpen();
    if (records.length === 0) return Promise.resolve();
    const batch = encodeBatch(records, insertedAtSeconds, this.columns);
    const names = this.columns.map((c) => c.name);
    const rollups = this.rollups ? rollupBatch(batch) : null;
    const ends = batch.columns[COLUMN_NAMES.indexOf('flowEndSeconds')];
    let earliest = Infinity;
    if (ends.kind === 'number') for (const t of ends.values) if (t < earliest) earliest = t;
    return this.exclusive(async () => {
      await this.exec('BEGIN TRANSACTION');
      try {
        await this.batches.with(batch, (source) => this.exec(`INSERT INTO flows (${names.join(', ')}) SELECT * FROM ${source}`));
        if (rollups) await this.rollupBatches.with(rollups, (source) => this.exec(`INSERT INTO rollups (${DUCKDB_ROLLUP_COLUMNS.join(', ')}) SELECT * FROM ${source}`));
        await this.exec('COMMIT');
      } catch (err) {
        await this.exec('ROLLBACK').catch(() => undefined);
        throw new StoreError('STORE_ERR_UNAVAILABLE', `embedded store insert failed: ${(err as Error).message}`, { cause: err });
      }
      if (!rollups) return;
      this.compactFrom = Math.min(this.compactFrom, earliest);
      if (++this.insertsSinceCompaction >= COMPACT_EVERY) await this.compactRollups();
    });
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
      for (const sql of duckdbRollupCompaction(from)) await this.exec(sql);
      await this.exec('COMMIT');
      this.compactFrom = Infinity;
      this.insertsSinceCompaction = 0;
    } catch {
      await this.exec('ROLLBACK').catch(() => undefined);
    }
  }

  /** Recomputes the rollups from the stored rows (after rows were written by SQL, e.g. benchmark data). */
  rebuildRollups(): Promise<void> {
    this.checkOpen();
    return this.exclusive(async () => {
      await this.exec('BEGIN TRANSACTION');
      try {
        await this.exec('DELETE FROM rollups');
        await this.exec(duckdbRollupInsert('flows'));
        await this.exec('COMMIT');
      } catch (err) {
        await this.exec('ROLLBACK').catch(() => undefined);
        throw new StoreError('STORE_ERR_UNAVAILABLE', `rebuilding the rollups failed: ${(err as Error).message}`, { cause: err });
      }
    });
  }

  /** Runs the rollup compaction now (benchmarks and tests; inserts run it every few batches). */
  compact(): Promise<void> {
    this.checkOpen();
    return this.exclusive(() => this.compactRollups());
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

  /** Retention cuts at a multiple of the largest rollup bucket (6 h), so no rollup bucket is half deleted. */
  retain(cutoffSeconds: number): Promise<RetentionResult> {
    this.checkOpen();
    const cutoff = Math.floor(cutoffSeconds / LARGEST_TIER) * LARGEST_TIER;
    return this.exclusive(async () => {
      const reader = await this.writer.runAndReadAll(`DELETE FROM flows WHERE flowEndSeconds < ${cutoff}`);
      const deleted = Number((reader.getRows()[0]?.[0] as bigint | number | undefined) ?? 0);
      await this.exec(`DELETE FROM rollups WHERE bucket < ${cutoff}`);
      await this.exec(`DELETE FROM counter_snapshots WHERE takenAt < ${cutoff}`);
      // Compaction: a checkpoint writes the remaining row groups and frees the deleted blocks.
      await this.exec('CHECKPOINT');
      return { deletedFlows: deleted, droppedPartitions: [] };
    });
  }

  private migrationTarget(): MigrationTarget {
    return {
      migrations: DUCKDB_MIGRATIONS,
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
    try {
      return await this.exclusive(() => migrate(this.migrationTarget(), Date.now() / 1000, version));
    } finally {
      await this.refreshRollups();
    }
  }

  private async refreshRollups(): Promise<void> {
    // Schema 3's rollups have no address networks: only schema 4's answer queries.
    const [r] = await this.select("SELECT CAST(count(*) AS DOUBLE) AS n FROM information_schema.columns WHERE table_name = 'rollups' AND column_name = 'sourceIPNet'");
    this.rollups = Number(r.n) > 0;
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
    this.writer.closeSync();
    for (const r of this.readers) r.closeSync();
    this.instance.closeSync();
  }

  private checkOpen(): void {
    if (this.closed) throw new StoreError('STORE_ERR_UNAVAILABLE', `the embedded store ${this.location} is closed`);
  }
}
