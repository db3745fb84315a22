// The ClickHouse repository's two insert bodies, as Native blocks (native.ts): a batch's flows
// into `flows`, and (schema 6) its rollup rows into the staging table `rollup_input`.
import type { EncodedBatch, EncodeScratch } from './columnar.js';
import { CLICKHOUSE_ROLLUP_INPUT, clickhouseRollupInputColumns } from './clickhouse-rollups.js';
import { nativeBlock, type NativeColumn, type RowRange, type RowSource } from './native.js';
import { rollupBatch, type RollupScratch } from './rollup-batch.js';
import { ALL_KEYS, GRAINS, ROLLUP_MEASURES, ROLLUPS } from './rollups.js';
import type { Column, ColumnKind } from './schema.js';

/** The flows insert for a column list (a store at an older schema has fewer columns). */
const flowsInserts = new WeakMap<readonly Column[], string>();
export function flowsInsert(columns: readonly Column[]): string {
  let q = flowsInserts.get(columns);
  if (q === undefined) flowsInserts.set(columns, (q = `INSERT INTO flows (${columns.map((c) => c.name).join(', ')}) FORMAT Native`));
  return q;
}

/** The flows' body: one Native block of every row, columns in `columns` order (the batch's). */
export function flowsBody(batch: EncodedBatch, columns: readonly Column[], scratch?: EncodeScratch): Buffer {
  const sources = columns.map((_, c) => c);
  return nativeBlock(columns, [{ batch, from: 0, to: batch.rows, sources }], scratch);
}

/**
 * The rollup staging table's columns (schema 6) and where each takes its value in rollupBatch's
 * rows (grain, bucket, ALL_KEYS, the measures, flows): the same order, after rollupOf.
 */
const ROLLUP_INPUT_COLUMNS = clickhouseRollupInputColumns(ROLLUPS);
const KINDS: Record<string, ColumnKind> = { String: 'string', UInt8: 'u8', Int64: 'i64', DateTime: 'time', UInt64: 'u64' };
export const ROLLUP_INPUT_NATIVE: readonly NativeColumn[] = ROLLUP_INPUT_COLUMNS.map((c) => ({ name: c.name, kind: KINDS[c.type] }));
export const ROLLUP_INSERT = `INSERT INTO ${CLICKHOUSE_ROLLUP_INPUT} (${ROLLUP_INPUT_COLUMNS.map((c) => c.name).join(', ')}) FORMAT Native`;
/** Per rollup (ROLLUPS order): its finest grain, and its rows' sources (rollupOf a constant, the rest rollupBatch's columns from bucket on). */
const ROLLUP_INPUTS = ROLLUPS.map((spec, s) => {
  const finest = Math.min(...spec.tiers);
  const sources: RowSource[] = ROLLUP_INPUT_COLUMNS.map((_, c) => (c === 0 ? { constant: s + 1 } : c));
  return { grain: GRAINS.find((g) => g.spec === spec && g.tier === finest)!.grain, sources };
});
if (ROLLUP_INPUT_COLUMNS.length !== 2 + ALL_KEYS.length + ROLLUP_MEASURES.length + 1) throw new Error('rollup staging columns out of step with rollupBatch');
if (ROLLUP_INPUT_COLUMNS.some((c) => KINDS[c.type] === undefined)) throw new Error('a rollup staging column of a type the Native writer does not write');

/**
 * The rollup staging table's body for a batch encoded with every column (schema 6): each
 * rollup's rows of its finest tier (rollupBatch groups every tier; the views derive the coarser
 * tiers' buckets from the finest, so the coarser rows are not sent).
 */
export function rollupBody(batch: EncodedBatch, grouping: RollupScratch, scratch?: EncodeScratch): { body: Buffer; rows: number } {
  const rolled = rollupBatch(batch, grouping);
  // rollupBatch writes each grain's rows together: find each grain's range.
  const grains = (rolled.columns[0] as { values: Float64Array }).values;
  const from = new Int32Array(GRAINS.length).fill(-1);
  const to = new Int32Array(GRAINS.length);
  for (let r = 0; r < rolled.rows; r++) {
    const g = grains[r];
    if (from[g] < 0) from[g] = r;
    to[g] = r + 1;
  }
  const ranges: RowRange[] = [];
  let rows = 0;
  for (const { grain, sources } of ROLLUP_INPUTS) {
    if (from[grain] < 0) continue;
    ranges.push({ batch: rolled, from: from[grain], to: to[grain], sources });
    rows += to[grain] - from[grain];
  }
  return { body: nativeBlock(ROLLUP_INPUT_NATIVE, ranges, scratch), rows };
}
