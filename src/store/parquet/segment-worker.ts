// The segment writer's thread (segment-writer.ts is the main thread's side). Given a batch's
// direct columns (columnar.ts RawBatch, its typed arrays shared or transferred, not copied), it derives the
// rest, groups the rollup rows (rollup-batch.ts), builds the Parquet file (writer.ts) and writes
// it: to a temporary name, fsync, rename, fsync of the directory. From schema 6 the rollup rows
// are written the same way, as a second Parquet file beside the segment (segments.ts
// rollupFileOf), with the columns and types of the `rollups` table. The main thread then records
// the segment and its rollup file in one DuckDB transaction (schema 5: the segment and the rollup
// rows, sent back to it); a file that never got there is deleted when the store next opens.
import { closeSync, fsyncSync, openSync, renameSync, writevSync } from 'node:fs';
import { join } from 'node:path';
import { parentPort } from 'node:worker_threads';
import { completeBatch, rawBuffers, transferable, type EncodedBatch, type RawBatch } from '../columnar.js';
import { rollupBatch } from '../rollup-batch.js';
import { DUCKDB_ROLLUP_COLUMNS, DUCKDB_ROLLUP_KINDS } from '../rollups.js';
import { COLUMN_NAMES, COLUMNS } from '../schema.js';
import { rollupFileOf, rollupTempFileOf } from '../segments.js';
import { parquetFile, WriteArena } from './writer.js';

export interface SegmentRequest {
  readonly seq: number;
  readonly raw: RawBatch;
  /** The segments directory, the file's final name, and the temporary name it is written under. */
  readonly dir: string;
  readonly name: string;
  readonly tempName: string;
  /** Whether to group the batch's rollup rows: written as a file beside the segment, or sent back with the reply (rollupRows). */
  readonly rollups: boolean;
  readonly rollupRows: boolean;
}

/** The rollup file written beside a segment (segments.ts rollupFileOf). */
export interface RollupFileStats {
  readonly file: string;
  readonly rows: number;
  readonly bytes: number;
}

/** What a request produced: the segment, and its rollup rows as a file or as columns. */
export interface SegmentResult {
  readonly stats: SegmentStats;
  readonly rollups: EncodedBatch | null;
  readonly rollupFile: RollupFileStats | null;
}

export interface SegmentStats {
  readonly rows: number;
  readonly bytes: number;
  /** flowEndSeconds and timeInserted ranges of the rows (0 when there are none). */
  readonly minEnd: number;
  readonly maxEnd: number;
  readonly minInserted: number;
  readonly maxInserted: number;
}

/** `returned`: the request's array buffers, given back for the main thread's next batch (columnar.ts ArrayPool). */
export type SegmentReply =
  | ({ readonly seq: number; readonly ok: true; readonly returned: ArrayBufferLike[] } & SegmentResult)
  | { readonly seq: number; readonly ok: false; readonly message: string; readonly returned: ArrayBufferLike[] };

const END = COLUMN_NAMES.indexOf('flowEndSeconds');
const INSERTED = COLUMN_NAMES.indexOf('timeInserted');

function range(values: Float64Array): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return values.length === 0 ? [0, 0] : [Math.floor(lo), Math.ceil(hi)];
}

/** The thread's page memory: each file is written out before the next one is built. */
const arena = new WriteArena();

/** Writes `buffers` to <dir>/<temp> and fsyncs it; returns the bytes written. */
function writeFileSynced(dir: string, temp: string, buffers: readonly Buffer[]): number {
  const fd = openSync(join(dir, temp), 'w', 0o644);
  let bytes = 0;
  try {
    // writev takes at most IOV_MAX (1024) buffers a call.
    for (let i = 0; i < buffers.length; i += 512) bytes += writevSync(fd, buffers.slice(i, i + 512));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return bytes;
}

/** Writes one segment file (and its rollup file); returns their statistics, or the batch's rollup rows. */
export function writeSegment(request: SegmentRequest): SegmentResult {
  const batch = completeBatch(request.raw, COLUMNS, { dictionariesOnly: true, wideIndexes: true, repeatedValues: true });
  const rollups = request.rollups ? rollupBatch(batch) : null;
  const buffers = parquetFile(
    batch.rows,
    COLUMNS.map((c, i) => ({ name: c.name, kind: c.kind, data: batch.columns[i] })),
    'flowvis',
    arena,
  );
  const dir = request.dir;
  const bytes = writeFileSynced(dir, request.tempName, buffers);
  let rollupFile: RollupFileStats | null = null;
  if (rollups && !request.rollupRows) {
    // The segment's pages are written out: the arena's memory serves the rollup file's.
    const pages = parquetFile(
      rollups.rows,
      DUCKDB_ROLLUP_COLUMNS.map((name, i) => ({ name, kind: DUCKDB_ROLLUP_KINDS[i], data: rollups.columns[i] })),
      'flowvis',
      arena,
    );
    const file = rollupFileOf(request.name);
    const rollupBytes = writeFileSynced(dir, rollupTempFileOf(request.name), pages);
    renameSync(join(dir, rollupTempFileOf(request.name)), join(dir, file));
    rollupFile = { file, rows: rollups.rows, bytes: rollupBytes };
  }
  renameSync(join(dir, request.tempName), join(dir, request.name));
  const dirFd = openSync(dir, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
  const [minEnd, maxEnd] = range((batch.columns[END] as { values: Float64Array }).values);
  const [minInserted, maxInserted] = range((batch.columns[INSERTED] as { values: Float64Array }).values);
  return { stats: { rows: batch.rows, bytes, minEnd, maxEnd, minInserted, maxInserted }, rollups: request.rollupRows ? rollups : null, rollupFile };
}

/** The typed arrays' buffers of a batch, to transfer instead of copying. */
export function buffersOf(batch: EncodedBatch): ArrayBufferLike[] {
  const out = new Set<ArrayBufferLike>();
  for (const c of batch.columns) out.add((c.kind === 'number' ? c.values : c.indexes).buffer);
  return [...out];
}

if (parentPort) {
  const port = parentPort;
  port.on('message', (request: SegmentRequest) => {
    let reply: SegmentReply;
    let keep: ArrayBufferLike[] = [];
    let returned: ArrayBufferLike[];
    try {
      const result = writeSegment(request);
      if (result.rollups) keep = buffersOf(result.rollups);
      // The batch's arrays are done with: back to the main thread's pool (not those the rollup
      // rows still use, which go with them).
      const taken = new Set(keep);
      returned = rawBuffers(request.raw).filter((b) => !taken.has(b));
      reply = { seq: request.seq, ok: true, ...result, returned };
    } catch (err) {
      returned = rawBuffers(request.raw);
      reply = { seq: request.seq, ok: false, message: (err as Error).message, returned };
    }
    port.postMessage(reply, transferable([...keep, ...returned]));
  });
}
