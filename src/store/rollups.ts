// Pre-aggregated rollups, written with the raw rows, so that the dashboards' group-bys over days
// of flows read thousands of rows instead of millions. Each rollup keeps, per time bucket and
// per key, the sums of the four delta counters and the number of records:
//
//   rollup     keys                                                 filters it can apply
//   pods       source/destination Pod namespace and name, and the   namespace, pod
//              IP of an endpoint without a Pod ('' otherwise)
//   nodes      source and destination Node, flowType                node, flowType
//   policies   egress and ingress policy namespace, name, action    policy, ingressPolicy, egressPolicy, action
//   totals     (none)                                               (none)
//
// Buckets ("tiers") are 6 h, 1 h and 10 min (totals: 1 h and 1 min). A query over [from, to)
// reads the whole 6 h buckets inside the range from the 6 h tier, the whole hours left at either
// end from the 1 h tier, then whole 10 minutes, and the rest from the raw rows (planSegments). Sums and
// counts add up, so the answer is the raw rows' answer exactly. A query whose filters are not
// all among the rollup's keys, or that asks for records inserted after a time, reads raw rows.
//
// Storage: the embedded store keeps every tier of every rollup in `rollups`, told apart by
// `grain`: from schema 6 a view over the table rollup_rows and one Parquet file per batch
// (segments.ts), folded into the table every few batches; ClickHouse has one SummingMergeTree table
// per rollup and tier (clickhouse-rollups.ts), filled from schema 6 with the rows the client
// groups per batch (rollup-batch.ts), through a Null table whose views route them by tier.
import type { FlowFilter } from './query.js';

export type RollupName = 'pods' | 'nodes' | 'policies' | 'totals';

export interface RollupKey {
  /** The column name, the same as the raw column it comes from. */
  readonly name: string;
  /** The raw-row expression that fills it. */
  readonly expr: string;
  readonly kind: 'string' | 'u8' | 'i64';
}

export interface RollupSpec {
  readonly name: RollupName;
  readonly keys: readonly RollupKey[];
  readonly filters: readonly (keyof FlowFilter)[];
  /** Bucket sizes in seconds, largest first; each divides the one before. */
  readonly tiers: readonly number[];
}

const str = (name: string, expr = name): RollupKey => ({ name, expr, kind: 'string' });
const u8 = (name: string): RollupKey => ({ name, expr: name, kind: 'u8' });
const i64 = (name: string): RollupKey => ({ name, expr: name, kind: 'i64' });
const endpointIp = (side: 'source' | 'destination'): RollupKey => str(`${side}IP`, `CASE WHEN ${side}PodName = '' THEN ${side}IP ELSE '' END`);

export const ROLLUPS: readonly RollupSpec[] = Object.freeze([
  {
    name: 'pods',
    // The address networks (ip-key.ts ipNet: a Pod's /24 or /48, from its Node's Pod CIDR) add
    // almost no groups and let an `ip` filter on whole networks read the rollup.
    keys: [
      str('sourcePodNamespace'),
      str('sourcePodName'),
      endpointIp('source'),
      i64('sourceIPNet'),
      str('destinationPodNamespace'),
      str('destinationPodName'),
      endpointIp('destination'),
      i64('destinationIPNet'),
    ],
    filters: ['namespace', 'pod', 'ip'],
    tiers: [21600, 3600, 600],
  },
  { name: 'nodes', keys: [str('sourceNodeName'), str('destinationNodeName'), u8('flowType')], filters: ['node', 'flowType'], tiers: [21600, 3600, 600] },
  {
    name: 'policies',
    keys: [
      str('egressNetworkPolicyNamespace'),
      str('egressNetworkPolicyName'),
      u8('egressNetworkPolicyRuleAction'),
      str('ingressNetworkPolicyNamespace'),
      str('ingressNetworkPolicyName'),
      u8('ingressNetworkPolicyRuleAction'),
    ],
    filters: ['policy', 'ingressPolicy', 'egressPolicy', 'action'],
    tiers: [21600, 3600, 600],
  },
  { name: 'totals', keys: [], filters: [], tiers: [3600, 60] },
] satisfies RollupSpec[]);

/** The rollups as schema version 3 created them (migrations.ts): before the address networks. */
export const ROLLUPS_V3: readonly RollupSpec[] = Object.freeze(
  ROLLUPS.map((r) => ({ ...r, keys: r.keys.filter((k) => k.kind !== 'i64'), filters: r.filters.filter((f) => f !== 'ip') })),
);

export const ROLLUP_MEASURES = ['octetDeltaCount', 'reverseOctetDeltaCount', 'packetDeltaCount', 'reversePacketDeltaCount'] as const;

/** The largest tier: retention cuts at a multiple of it, so that no bucket is half deleted. */
export const LARGEST_TIER = Math.max(...ROLLUPS.flatMap((r) => r.tiers));

export function rollup(name: RollupName): RollupSpec {
  return ROLLUPS.find((r) => r.name === name)!;
}

/** Every (rollup, tier) pair, numbered: the embedded store's `grain` column. */
export function grainsOf(specs: readonly RollupSpec[]): readonly { readonly spec: RollupSpec; readonly tier: number; readonly grain: number }[] {
  return Object.freeze(specs.flatMap((spec) => spec.tiers.map((tier) => ({ spec, tier }))).map((g, grain) => Object.freeze({ ...g, grain })));
}
export const GRAINS = grainsOf(ROLLUPS);

/** The distinct key columns of all rollups, in a fixed order (the embedded store's table). */
function keysOf(specs: readonly RollupSpec[]): readonly RollupKey[] {
  return Object.freeze(specs.flatMap((r) => r.keys).filter((k, i, all) => all.findIndex((x) => x.name === k.name) === i));
}
export const ALL_KEYS = keysOf(ROLLUPS);

export interface Segment {
  /** 0: raw rows; otherwise the tier in seconds. */
  readonly tier: number;
  readonly from: number;
  readonly to: number;
}

/**
 * Covers [from, to) with whole buckets of the largest tier that fits, then the next tier at
 * either end, then raw rows. Tiers that do not pass `usable` are skipped.
 */
export function planSegments(from: number, to: number, tiers: readonly number[], usable: (tier: number) => boolean = () => true): Segment[] {
  const list = tiers.filter(usable);
  const out: Segment[] = [];
  const cover = (a: number, b: number, i: number): void => {
    if (a >= b) return;
    if (i >= list.length) {
      out.push({ tier: 0, from: a, to: b });
      return;
    }
    const t = list[i];
    const lo = Math.ceil(a / t) * t;
    const hi = Math.floor(b / t) * t;
    if (lo >= hi) {
      cover(a, b, i + 1);
      return;
    }
    cover(a, lo, i + 1);
    out.push({ tier: t, from: lo, to: hi });
    cover(hi, b, i + 1);
  };
  cover(from, to, 0);
  return out;
}

/** Whether a rollup can answer a query with these filters. */
export function rollupCanFilter(spec: RollupSpec, filter: FlowFilter, insertedAfter: number | null): boolean {
  if (insertedAfter !== null) return false;
  // An address filter reads the networks: only a block of whole networks (ip-key.ts ipNetRange).
  if (filter.ip !== undefined && !filter.ip.net) return false;
  return (Object.keys(filter) as (keyof FlowFilter)[]).every((k) => filter[k] === undefined || spec.filters.includes(k));
}

// ---- Embedded store (DuckDB): one table, every grain -----------------------------------------

/** Columns of the embedded store's `rollups` table, in order. */
function rollupColumns(specs: readonly RollupSpec[]): readonly string[] {
  return Object.freeze(['grain', 'bucket', ...keysOf(specs).map((k) => k.name), ...ROLLUP_MEASURES, 'flows']);
}
export const DUCKDB_ROLLUP_COLUMNS = rollupColumns(ROLLUPS);

/** The kinds (schema.ts) of DUCKDB_ROLLUP_COLUMNS, as the `rollups` table types them: a rollup file's columns. */
export const DUCKDB_ROLLUP_KINDS: readonly ('u16' | 'i64' | 'u8' | 'u64' | 'string')[] = Object.freeze([
  'u16',
  'i64',
  ...ALL_KEYS.map((k) => k.kind),
  ...ROLLUP_MEASURES.map(() => 'u64' as const),
  'u64',
]);

const DUCKDB_KEY_TYPES = { string: 'VARCHAR', u8: 'UTINYINT', i64: 'BIGINT' } as const;
/** A key's value in the rows of a grain without that key. */
const NO_KEY = { string: "''", u8: 'CAST(0 AS UTINYINT)', i64: 'CAST(-1 AS BIGINT)' } as const;

/** The embedded store's `rollups` table (`specs`: ROLLUPS_V3 for schema version 3). */
export function duckdbRollupTable(specs: readonly RollupSpec[] = ROLLUPS): string {
  return `CREATE TABLE rollups (
  grain USMALLINT NOT NULL,
  bucket BIGINT NOT NULL,
${keysOf(specs).map((k) => `  ${k.name} ${DUCKDB_KEY_TYPES[k.kind]} NOT NULL,`).join('\n')}
${ROLLUP_MEASURES.map((m) => `  ${m} UBIGINT NOT NULL,`).join('\n')}
  flows UBIGINT NOT NULL
)`;
}

/**
 * One INSERT that adds every grain's groups of `source` (the flows table, or a staged batch) to
 * `rollups`: the source is read once (a materialized CTE), then grouped once per grain.
 */
export function duckdbRollupInsert(source: string, where = '', specs: readonly RollupSpec[] = ROLLUPS, table = 'rollups'): string {
  const allKeys = keysOf(specs);
  const needed = [...new Set(['flowEndSeconds', 'sourceIP', 'destinationIP', ...allKeys.map((k) => k.name), ...ROLLUP_MEASURES])];
  const selects = grainsOf(specs).map(({ spec, tier, grain }) => {
    const keys = allKeys.map((k) => {
      const own = spec.keys.find((x) => x.name === k.name);
      if (own) return `${own.expr} AS ${k.name}`;
      return `${NO_KEY[k.kind]} AS ${k.name}`;
    });
    const sums = ROLLUP_MEASURES.map((m) => `sum(${m}) AS ${m}`);
    return `SELECT ${grain} AS grain, (flowEndSeconds // ${tier}) * ${tier} AS bucket, ${[...keys, ...sums].join(', ')}, count(*) AS flows FROM b GROUP BY ALL`;
  });
  return (
    `INSERT INTO ${table} (${rollupColumns(specs).join(', ')}) ` +
    `WITH b AS MATERIALIZED (SELECT ${needed.join(', ')} FROM ${source}${where === '' ? '' : ` WHERE ${where}`}) ${selects.join(' UNION ALL ')}`
  );
}

/**
 * Re-aggregates the rollup rows of buckets from `fromSeconds` on (each batch adds its own groups)
 * in `table` (schema 6 and later: rollup_rows, under the `rollups` view).
 */
export function duckdbRollupCompaction(fromSeconds: number, table = 'rollups'): string[] {
  const keys = ['grain', 'bucket', ...ALL_KEYS.map((k) => k.name)];
  const sums = [...ROLLUP_MEASURES, 'flows'].map((m) => `CAST(sum(${m}) AS UBIGINT) AS ${m}`);
  const at = Math.floor(fromSeconds);
  return [
    `CREATE OR REPLACE TEMP TABLE rollup_compaction AS SELECT ${[...keys, ...sums].join(', ')} FROM ${table} WHERE bucket >= ${at} GROUP BY ${keys.join(', ')}`,
    `DELETE FROM ${table} WHERE bucket >= ${at}`,
    `INSERT INTO ${table} (${DUCKDB_ROLLUP_COLUMNS.join(', ')}) SELECT ${DUCKDB_ROLLUP_COLUMNS.join(', ')} FROM rollup_compaction`,
    'DROP TABLE rollup_compaction',
  ];
}
