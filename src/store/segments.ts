// The embedded store's row storage from schema version 5 on: Parquet segments.
//
//   <dir>/flows.duckdb          catalog (`segments`), rollups, counter snapshots, and the rows
//                               stored before version 5 (`flow_rows`)
//   <dir>/segments/seg-<id>.parquet   one per committed batch (parquet/writer.ts), or one per
//                               compaction of several (DuckDB COPY ... (COMPRESSION snappy))
//
//   flows          = flow_rows UNION ALL flow_segments          (views; every query reads `flows`)
//   flow_segments  = read_parquet([the catalog's files])        (replaced with each catalog change)
//
// A segment is written under a temporary name, fsynced and renamed, then recorded in the
// catalog in the same transaction as its rollup rows and the new flow_segments: a query sees the
// rows and their rollups together or neither. A file the catalog does not name (a crash between
// rename and commit, a temporary file, a file compaction or retention replaced) is deleted when
// the store opens.
//
// Compaction (tiered): when FAN_IN segments share a level, the oldest FAN_IN of them are merged
// into one of the next level off the insert path (DuckDB reads them and writes one snappy file on a
// connection of its own), then the catalog swaps them in one transaction. With inserts of one
// batch a second, a day leaves at most (FAN_IN - 1) files per level and log_FAN_IN(86,400)
// levels: about 40 files. Replaced files are deleted once no query that could still read them runs.
// Retention drops the segments that end before the cutoff, and rewrites the ones that straddle it.
//
// Rollup files (schema 6): the segment thread also writes each batch's rollup rows
// (rollup-batch.ts) as a Parquet file beside its segment, <dir>/segments/rollups-seg-<id>.parquet,
// recorded in `rollup_files` in the segment's transaction. So an insert's transaction holds two
// catalog rows and two views, not ~55,000 rollup rows fed through a table function on the main
// thread (whose COMMIT took 70-870 ms):
//
//   rollups          = rollup_rows UNION ALL rollup_file_rows      (views; every query reads `rollups`)
//   rollup_file_rows = read_parquet([the rollup files])            (replaced with each catalog change)
//
// Every few inserts a fold (duckdb.ts foldRollups) re-aggregates the files' rows with the table's
// rows of the buckets they touch into `rollup_rows`, drops the files from the catalog in the same
// transaction, and deletes them once no query reads them.
import { DUCKDB_ROLLUP_COLUMNS, GRAINS, ROLLUP_MEASURES } from './rollups.js';
import { COLUMNS } from './schema.js';

/** Segments of one level merged into one of the next. */
export const FAN_IN = 8;
/** Levels above this are not merged further (a level-4 segment holds 4,096 inserts). */
export const MAX_LEVEL = 4;

export const SEGMENTS_DIR = 'segments';

export interface Segment {
  readonly id: number;
  readonly file: string;
  readonly level: number;
  readonly rows: number;
  readonly bytes: number;
  readonly minEnd: number;
  readonly maxEnd: number;
}

export function segmentFile(id: number): string {
  return `seg-${String(id).padStart(10, '0')}.parquet`;
}

export function tempFile(id: number): string {
  return `.seg-${String(id).padStart(10, '0')}.parquet.tmp`;
}

const LIST = COLUMNS.map((c) => c.name).join(', ');

/** The rollup file written with segment `segmentName` (rollups-<segment name>), and its temporary name. */
export function rollupFileOf(segmentName: string): string {
  return `rollups-${segmentName}`;
}
export function rollupTempFileOf(segmentName: string): string {
  return `.rollups-${segmentName}.tmp`;
}

/** A committed rollup file: the rollup rows of the segment with the same id. */
export interface RollupFile {
  readonly id: number;
  readonly file: string;
  readonly rows: number;
  readonly bytes: number;
  /** flowEndSeconds range of the flows it sums (its segment's). */
  readonly minEnd: number;
  readonly maxEnd: number;
}

const quote = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** The flow_segments view over these files (absolute paths); the empty view when there are none. */
export function segmentsViewSql(paths: readonly string[]): string {
  if (paths.length === 0) return `CREATE OR REPLACE VIEW flow_segments AS SELECT ${LIST} FROM flow_rows WHERE false`;
  return `CREATE OR REPLACE VIEW flow_segments AS SELECT ${LIST} FROM read_parquet([${paths.map(quote).join(', ')}])`;
}

/** A COPY that writes a SELECT's rows as one compacted segment file. */
export function copySql(select: string, path: string): string {
  return `COPY (${select}) TO ${quote(path)} (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 122880)`;
}

/** A SELECT whose result columns are the flows columns in order, named by position (whatever its own names). */
export function namedSql(select: string): string {
  return `SELECT ${LIST} FROM (${select}) AS given(${LIST})`;
}

/** SELECT of every column from these files, optionally filtered. */
export function readSql(paths: readonly string[], where = ''): string {
  return `SELECT ${LIST} FROM read_parquet([${paths.map(quote).join(', ')}])${where ? ` WHERE ${where}` : ''}`;
}

export function insertSegmentSql(s: Segment, at: number): string {
  return `INSERT INTO segments VALUES (${s.id}, ${quote(s.file)}, ${s.level}, ${s.rows}, ${s.bytes}, ${Math.floor(s.minEnd)}, ${Math.floor(s.maxEnd)}, ${Math.floor(at)})`;
}

/** The segments to merge next: the oldest FAN_IN of the lowest level that has FAN_IN; null when none has. */
export function compactionPlan(segments: readonly Segment[]): Segment[] | null {
  for (let level = 0; level < MAX_LEVEL; level++) {
    const at = segments.filter((s) => s.level === level).sort((a, b) => a.id - b.id);
    if (at.length >= FAN_IN) return at.slice(0, FAN_IN);
  }
  return null;
}

const ROLLUP_LIST = DUCKDB_ROLLUP_COLUMNS.join(', ');

/** The rollup_file_rows view over these rollup files (absolute paths); the empty view when there are none. */
export function rollupFilesViewSql(paths: readonly string[]): string {
  if (paths.length === 0) return `CREATE OR REPLACE VIEW rollup_file_rows AS SELECT ${ROLLUP_LIST} FROM rollup_rows WHERE false`;
  return `CREATE OR REPLACE VIEW rollup_file_rows AS SELECT ${ROLLUP_LIST} FROM read_parquet([${paths.map(quote).join(', ')}])`;
}

export function insertRollupFileSql(f: RollupFile, at: number): string {
  return `INSERT INTO rollup_files VALUES (${f.id}, ${quote(f.file)}, ${f.rows}, ${f.bytes}, ${Math.floor(f.minEnd)}, ${Math.floor(f.maxEnd)}, ${Math.floor(at)})`;
}

/**
 * Per grain, the first bucket that flows ending at `minEnd` or later can touch: the rows of
 * rollup_rows a fold of files starting there must re-aggregate (a SQL CASE on grain).
 */
function firstBuckets(minEnd: number): string {
  const cases = GRAINS.map((g) => `WHEN ${g.grain} THEN ${Math.floor(minEnd / g.tier) * g.tier}`);
  return `CASE grain ${cases.join(' ')} END`;
}

/** The rollup_rows rows a fold of files whose flows end at `minEnd` or later rewrites. */
export function foldWhere(minEnd: number): string {
  const coarsest = Math.min(...GRAINS.map((g) => Math.floor(minEnd / g.tier) * g.tier));
  // The plain bound lets DuckDB skip row groups by their min/max; the CASE is the exact one.
  return `bucket >= ${coarsest} AND bucket >= ${firstBuckets(minEnd)}`;
}

/**
 * A fold's grouping, into temp table `target`: the files' rows and rollup_rows' rows of the
 * buckets they touch, one row per grain, bucket and key.
 */
export function foldGroupSql(target: string, paths: readonly string[], minEnd: number): string {
  const keys = DUCKDB_ROLLUP_COLUMNS.filter((c) => !(ROLLUP_MEASURES as readonly string[]).includes(c) && c !== 'flows');
  const sums = [...ROLLUP_MEASURES, 'flows'].map((m) => `CAST(sum(${m}) AS UBIGINT) AS ${m}`);
  return (
    `CREATE OR REPLACE TEMP TABLE ${target} AS SELECT ${[...keys, ...sums].join(', ')} FROM (` +
    `SELECT ${ROLLUP_LIST} FROM rollup_rows WHERE ${foldWhere(minEnd)} ` +
    `UNION ALL SELECT ${ROLLUP_LIST} FROM read_parquet([${paths.map(quote).join(', ')}])) GROUP BY ${keys.join(', ')}`
  );
}

/** Migration 6's steps: the rollups table becomes rollup_rows, `rollups` a view over it and the rollup files. */
export const ROLLUP_FILES_MIGRATION = {
  up: [
    'ALTER TABLE rollups RENAME TO rollup_rows',
    `CREATE TABLE rollup_files (
  id BIGINT NOT NULL PRIMARY KEY,
  file VARCHAR NOT NULL,
  rowCount BIGINT NOT NULL,
  bytes BIGINT NOT NULL,
  minEnd BIGINT NOT NULL,
  maxEnd BIGINT NOT NULL,
  createdAt BIGINT NOT NULL
)`,
    rollupFilesViewSql([]),
    `CREATE VIEW rollups AS SELECT ${ROLLUP_LIST} FROM rollup_rows UNION ALL SELECT ${ROLLUP_LIST} FROM rollup_file_rows`,
  ],
  // Down: the files' rows go into the table (as they are; a later compaction re-aggregates
  // them); the files are deleted at the next open.
  down: [
    'DROP VIEW rollups',
    `INSERT INTO rollup_rows (${ROLLUP_LIST}) SELECT ${ROLLUP_LIST} FROM rollup_file_rows`,
    'DROP VIEW rollup_file_rows',
    'DROP TABLE rollup_files',
    'ALTER TABLE rollup_rows RENAME TO rollups',
  ],
} as const;

/** Migration 5's steps: the table becomes flow_rows, `flows` a view over it and the segments. */
export const SEGMENTS_MIGRATION = {
  up: [
    'ALTER TABLE flows RENAME TO flow_rows',
    `CREATE TABLE segments (
  id BIGINT NOT NULL PRIMARY KEY,
  file VARCHAR NOT NULL,
  level INTEGER NOT NULL,
  rowCount BIGINT NOT NULL,
  bytes BIGINT NOT NULL,
  minEnd BIGINT NOT NULL,
  maxEnd BIGINT NOT NULL,
  createdAt BIGINT NOT NULL
)`,
    segmentsViewSql([]),
    `CREATE VIEW flows AS SELECT ${LIST} FROM flow_rows UNION ALL SELECT ${LIST} FROM flow_segments`,
  ],
  // Down: the segments' rows go back into the table (their files are deleted at the next open
  // at version 5, or stay unused below it).
  down: ['DROP VIEW flows', `INSERT INTO flow_rows (${LIST}) SELECT ${LIST} FROM flow_segments`, 'DROP VIEW flow_segments', 'DROP TABLE segments', 'ALTER TABLE flow_rows RENAME TO flows'],
} as const;
