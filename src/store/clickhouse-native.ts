// The ClickHouse repository's two insert bodies, as Native blocks (native.ts): a batch's flows
// into `flows`, and (schema 6) its rollup rows into the staging table `rollup_input`.
import type { EncodedBatch, EncodeScratch } from './columnar.js';
import { CLICKHOUSE_ROLLUP_INPUT, clickhouseRollupInputColumns } from './clickhouse-rollups.js';
import { NATIVE_TYPES, nativeBlock, type NativeColumn, type RowRange, type RowSource } from './native.js';
import { dictionaryRanks, FIRST_FREE_SLOT, numberRanks, OrderScratch, sortRows, type RankKey } from './native-order.js';
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

/** How to put rows in their tables' order: memory kept from one body to the next, and where the server's hours start. */
export interface Ordering {
  readonly scratch: OrderScratch;
  /** toStartOfHour's hour boundary in the server's time zone, in seconds past a UTC hour (0 in UTC, 1800 in UTC+05:30). */
  readonly hourStart: number;
}

/**
 * The flows' body: one Native block of every row, columns in `columns` order (the batch's); with
 * an ordering, the rows in the flows table's ORDER BY order (clickhouse-migrations.ts:
 * toStartOfHour(flowEndSeconds), sourcePodNamespace, destinationPodNamespace, flowEndSeconds).
 */
export function flowsBody(batch: EncodedBatch, columns: readonly Column[], scratch?: EncodeScratch, ordering?: Ordering): Buffer {
  const sources = columns.map((_, c) => c);
  const order = ordering ? flowsOrder(batch, columns, ordering) : undefined;
  return nativeBlock(columns, [{ batch, from: 0, to: batch.rows, sources, order }], scratch);
}

/** The flows' rows in the table's order; undefined when they are in it already. */
function flowsOrder(batch: EncodedBatch, columns: readonly Column[], { scratch, hourStart }: Ordering): Uint32Array | undefined {
  const n = batch.rows;
  const at = (name: string) => columns.findIndex((c) => c.name === name);
  const endAt = at('flowEndSeconds');
  const sourceAt = at('sourcePodNamespace');
  const destinationAt = at('destinationPodNamespace');
  if (endAt < 0 || sourceAt < 0 || destinationAt < 0) return undefined;
  const end = batch.columns[endAt];
  if (end.kind !== 'number') return undefined;
  // Each row's hour and seconds into it, of the value as written (DateTime: clamped, truncated).
  const hours = scratch.f64(FIRST_FREE_SLOT, n);
  const seconds = scratch.u32(FIRST_FREE_SLOT, n);
  const ends = end.values;
  for (let i = 0; i < n; i++) {
    const t = ends[i];
    const w = t > 0 ? (t < 4294967295 ? Math.trunc(t) : 4294967295) : 0;
    const h = Math.floor((w - hourStart) / 3600);
    hours[i] = h;
    seconds[i] = w - hourStart - h * 3600;
  }
  const keys: RankKey[] = [
    numberRanks(hours, 0, n, scratch.u32(FIRST_FREE_SLOT + 1, n)),
    stringRanks(batch, sourceAt, scratch.u32(FIRST_FREE_SLOT + 2, n)),
    stringRanks(batch, destinationAt, scratch.u32(FIRST_FREE_SLOT + 3, n)),
    { ranks: seconds, width: 3600 },
  ];
  const order = scratch.u32(FIRST_FREE_SLOT + 4, n);
  return sortRows(keys, 0, n, scratch, order) ? order : undefined;
}

/** A string column's rank per row (its entry's place in byte order), for every row of the batch. */
function stringRanks(batch: EncodedBatch, c: number, out: Uint32Array): RankKey {
  const col = batch.columns[c];
  if (col.kind === 'number') throw new Error(`column ${c} is not a string column`);
  const ranks = dictionaryRanks(col.dictionary);
  const idx = col.indexes;
  for (let i = 0; i < batch.rows; i++) out[i] = ranks[idx[i]];
  return { ranks: out, width: ranks.length };
}

/**
 * The rollup staging table's columns (schema 6) and where each takes its value in rollupBatch's
 * rows (grain, bucket, ALL_KEYS, the measures, flows): the same order, after rollupOf.
 */
const ROLLUP_INPUT_COLUMNS = clickhouseRollupInputColumns(ROLLUPS);
/** Each ClickHouse type's column kind: NATIVE_TYPES the other way round. */
const KINDS = Object.fromEntries(Object.entries(NATIVE_TYPES).map(([kind, type]) => [type, kind as ColumnKind])) as Record<string, ColumnKind>;
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
export function rollupBody(batch: EncodedBatch, grouping: RollupScratch, scratch?: EncodeScratch, ordering?: Ordering): { body: Buffer; rows: number } {
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
  const ranks = ordering ? rollupRanks(rolled) : null;
  for (const [s, { grain, sources }] of ROLLUP_INPUTS.entries()) {
    if (from[grain] < 0) continue;
    const order = ranks ? rollupOrder(rolled, s, from[grain], to[grain], ranks, ordering!.scratch, ranges.length) : undefined;
    ranges.push({ batch: rolled, from: from[grain], to: to[grain], sources, order });
    rows += to[grain] - from[grain];
  }
  return { body: nativeBlock(ROLLUP_INPUT_NATIVE, ranges, scratch), rows };
}

/** The rollup rows' columns whose ranks sort them: bucket and every key (ALL_KEYS), as in rollupBatch's rows. */
const ROLLUP_BUCKET = 1;
const keyColumn = (name: string) => 2 + ALL_KEYS.findIndex((k) => k.name === name);
/** Per rollup (ROLLUPS order): the rows' columns of its table's ORDER BY (bucket, then its keys). */
const ROLLUP_ORDER = ROLLUPS.map((spec) => [ROLLUP_BUCKET, ...spec.keys.map((k) => keyColumn(k.name))]);
/** OrderScratch slots: each sorted column's ranks, then each range's order. */
const RANK_SLOT = FIRST_FREE_SLOT;
const ORDER_SLOT = RANK_SLOT + 2 + ALL_KEYS.length;

/** Each string key's dictionary ranks (one per column of the rolled rows; numbers are ranked per range). */
function rollupRanks(rolled: EncodedBatch): (Uint32Array | null)[] {
  return rolled.columns.map((col, c) => (c >= 2 && c < 2 + ALL_KEYS.length && col.kind !== 'number' ? dictionaryRanks(col.dictionary) : null));
}

/** One rollup's rows [from, to) in its tier tables' ORDER BY order (bucket, keys); undefined when they are in it already. */
function rollupOrder(rolled: EncodedBatch, s: number, from: number, to: number, dictionaryRanksOf: (Uint32Array | null)[], scratch: OrderScratch, range: number): Uint32Array | undefined {
  const keys: RankKey[] = ROLLUP_ORDER[s].map((c) => {
    const col = rolled.columns[c];
    const out = scratch.u32(RANK_SLOT + c, rolled.rows);
    if (col.kind === 'number') return numberRanks(col.values, from, to, out);
    const ranks = dictionaryRanksOf[c]!;
    const idx = col.indexes;
    for (let i = from; i < to; i++) out[i] = ranks[idx[i]];
    return { ranks: out, width: ranks.length };
  });
  const order = scratch.u32(ORDER_SLOT + range, to - from);
  return sortRows(keys, from, to, scratch, order) ? order : undefined;
}
