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
