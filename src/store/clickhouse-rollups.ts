// The ClickHouse rollups: one SummingMergeTree table per rollup and tier (rollups.ts names the
// rollups and their tiers). Schemas 3-5 fed them by materialized views on `flows` (GROUP BY on
// the server); schema 6 by rows the client groups, routed from one staging table
// (clickhouseRollupInput).
import { grainsOf, ROLLUP_MEASURES, ROLLUPS, type RollupName, type RollupSpec } from './rollups.js';

export function clickhouseRollupTable(name: RollupName, tier: number): string {
  return `rollup_${name}_${tier}`;
}

function clickhouseRollupSelect(spec: RollupSpec, tier: number): string {
  const keys = spec.keys.map((k) => `${k.expr} AS ${k.name}`);
  const sums = ROLLUP_MEASURES.map((m) => `sum(${m}) AS ${m}`);
  const groupBy = ['bucket', ...spec.keys.map((k) => k.name)].join(', ');
  return `SELECT toDateTime(intDiv(toUInt32(flowEndSeconds), ${tier}) * ${tier}) AS bucket, ${[...keys, ...sums].join(', ')}, count() AS flows FROM flows GROUP BY ${groupBy}`;
}

/**
 * A tier's rows summed from the blocks that the next finer tier's view inserts (`finer` divides
 * `tier`). The source is that view, not its table: a view's insert into its TO table does not
 * reach the table's own views (18.16), but it does reach the views that read the view.
 */
function clickhouseCascadeSelect(spec: RollupSpec, tier: number, finer: number): string {
  const keys = spec.keys.map((k) => k.name);
  const sums = [...ROLLUP_MEASURES, 'flows'].map((m) => `sum(${m}) AS ${m}`);
  return (
    `SELECT toDateTime(intDiv(toUInt32(bucket), ${tier}) * ${tier}) AS bucket, ${[...keys, ...sums].join(', ')} ` +
    `FROM ${clickhouseRollupTable(spec.name, finer)}_mv GROUP BY ${['bucket', ...keys].join(', ')}`
  );
}

/**
 * Re-points the views of every tier but the finest: each coarser tier's view reads the blocks
 * that the next finer tier's view inserts (already summed per key), not every inserted flow.
 * One 50,000-row insert then costs the server one grouping of its rows per rollup, not one per
 * rollup and tier (the views were about half of the server's CPU per row). Any writer's rows
 * still reach every tier, through the chain. The tables and their rows are unchanged. Down goes
 * coarsest first, so that no view is dropped while another still reads it.
 */
export function clickhouseRollupCascade(specs: readonly RollupSpec[] = ROLLUPS): { up: string[]; down: string[] } {
  const up: string[] = [];
  const down: string[] = [];
  for (const spec of specs) {
    const tiers = [...spec.tiers].sort((a, b) => a - b);
    for (let i = 1; i < tiers.length; i++) {
      const [finer, tier] = [tiers[i - 1], tiers[i]];
      if (tier % finer !== 0) throw new Error(`rollup ${spec.name}: tier ${tier} s is not a multiple of ${finer} s`);
      const view = `${clickhouseRollupTable(spec.name, tier)}_mv`;
      const to = clickhouseRollupTable(spec.name, tier);
      up.push(`DROP TABLE IF EXISTS ${view}`, `CREATE MATERIALIZED VIEW ${view} TO ${to} AS ${clickhouseCascadeSelect(spec, tier, finer)}`);
      down.unshift(`DROP TABLE IF EXISTS ${view}`, `CREATE MATERIALIZED VIEW ${view} TO ${to} AS ${clickhouseRollupSelect(spec, tier)}`);
    }
  }
  return { up, down };
}

/**
 * The migration steps that create, backfill and feed the ClickHouse rollup tables of `specs`
 * (up), and drop them (down); `only`: these rollups of them.
 */
export function clickhouseRollupMigration(specs: readonly RollupSpec[] = ROLLUPS, only?: readonly RollupName[]): { up: string[]; down: string[] } {
  const up: string[] = [];
  const down: string[] = [];
  for (const { spec, tier } of grainsOf(specs)) {
    if (only && !only.includes(spec.name)) continue;
    const table = clickhouseRollupTable(spec.name, tier);
    const columns = [
      'bucket DateTime',
      ...spec.keys.map((k) => `${k.name} ${CLICKHOUSE_KEY_TYPES[k.kind]}`),
      ...ROLLUP_MEASURES.map((m) => `${m} UInt64`),
      'flows UInt64',
    ];
    const order = ['bucket', ...spec.keys.map((k) => k.name)].join(', ');
    up.push(
      `CREATE TABLE IF NOT EXISTS ${table} (${columns.join(', ')}) ENGINE = SummingMergeTree() PARTITION BY toDate(bucket) ORDER BY (${order})`,
      // Rows already stored, then the view for every insert from now on.
      `INSERT INTO ${table} ${clickhouseRollupSelect(spec, tier)}`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS ${table}_mv TO ${table} AS ${clickhouseRollupSelect(spec, tier)}`,
    );
    down.push(`DROP TABLE IF EXISTS ${table}_mv`, `DROP TABLE IF EXISTS ${table}`);
  }
  return { up, down };
}

const CLICKHOUSE_KEY_TYPES = { string: 'String', u8: 'UInt8', i64: 'Int64' } as const;

/** The staging table of schema 6: each batch's rollup rows (Null engine: it keeps nothing, its views route). */
export const CLICKHOUSE_ROLLUP_INPUT = 'rollup_input';

/**
 * The staging table's columns, in the order the client writes them: which rollup a row belongs
 * to (its position in ROLLUPS + 1), the bucket of its finest tier, every rollup key (ALL_KEYS;
 * a rollup's own, zero or '' for the others), the sums, and the number of flows.
 */
export function clickhouseRollupInputColumns(specs: readonly RollupSpec[] = ROLLUPS): { name: string; type: string }[] {
  const keys = specs.flatMap((r) => r.keys).filter((k, i, all) => all.findIndex((x) => x.name === k.name) === i);
  return [
    { name: 'rollupOf', type: 'UInt8' },
    { name: 'bucket', type: 'DateTime' },
    ...keys.map((k) => ({ name: k.name, type: CLICKHOUSE_KEY_TYPES[k.kind] })),
    ...ROLLUP_MEASURES.map((m) => ({ name: m, type: 'UInt64' })),
    { name: 'flows', type: 'UInt64' },
  ];
}

/**
 * Schema 6: the client computes each batch's rollup rows (rollup-batch.ts, the embedded store's
 * grouping) and inserts them, right after the batch's flows, into a Null table whose views only
 * route rows, with no GROUP BY: each rollup's rows (summed per key and finest-tier bucket) to
 * every tier of that rollup, the bucket rounded down to the tier. A coarser tier may then hold a
 * key twice in one part when a batch spans one of its finer buckets' edges; SummingMergeTree sums
 * them at merge, and every query sums anyway.
 *
 * The views that fed the rollups from `flows` (schemas 3-5) go: rows written into `flows` by
 * anything but the repository no longer reach the rollups. Down restores schema 5's views (the
 * finest tier from `flows`, each coarser one from the finer tier's view). The rollup tables and
 * their rows are kept either way.
 */
export function clickhouseRollupInput(specs: readonly RollupSpec[] = ROLLUPS): { up: string[]; down: string[] } {
  const input = CLICKHOUSE_ROLLUP_INPUT;
  const schema5 = clickhouseRollupCascade(specs);
  const up: string[] = [];
  const down: string[] = [];
  // Coarsest first: no view is dropped while another still reads it.
  for (const { spec, tier } of [...grainsOf(specs)].sort((a, b) => b.tier - a.tier)) up.push(`DROP TABLE IF EXISTS ${clickhouseRollupTable(spec.name, tier)}_mv`);
  up.push(`CREATE TABLE IF NOT EXISTS ${input} (${clickhouseRollupInputColumns(specs).map((c) => `${c.name} ${c.type}`).join(', ')}) ENGINE = Null`);
  specs.forEach((spec, s) => {
    for (const tier of spec.tiers) {
      const table = clickhouseRollupTable(spec.name, tier);
      const select = [`toDateTime(intDiv(toUInt32(bucket), ${tier}) * ${tier}) AS bucket`, ...spec.keys.map((k) => k.name), ...ROLLUP_MEASURES, 'flows'];
      up.push(`CREATE MATERIALIZED VIEW ${table}_mv TO ${table} AS SELECT ${select.join(', ')} FROM ${input} WHERE rollupOf = ${s + 1}`);
    }
  });
  for (const { spec, tier } of grainsOf(specs)) down.push(`DROP TABLE IF EXISTS ${clickhouseRollupTable(spec.name, tier)}_mv`);
  down.push(`DROP TABLE IF EXISTS ${input}`);
  for (const spec of specs) {
    const finest = Math.min(...spec.tiers);
    const table = clickhouseRollupTable(spec.name, finest);
    down.push(`CREATE MATERIALIZED VIEW ${table}_mv TO ${table} AS ${clickhouseRollupSelect(spec, finest)}`);
  }
  down.push(...schema5.up);
  return { up, down };
}
