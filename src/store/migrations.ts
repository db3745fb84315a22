// Numbered up/down migrations, applied at start: the runner and the DuckDB steps here, the
// ClickHouse steps in clickhouse-migrations.ts. The applied versions live in an append-only log
// table (`flowvis_migrations`: one row per step, +1 up, -1 down), because ClickHouse 18 cannot
// delete a row synchronously; a version is applied when its steps sum to 1.
import { duckdbRollupInsert, duckdbRollupTable, ROLLUPS, ROLLUPS_V3 } from './rollups.js';
import { columnsAt, type ColumnKind } from './schema.js';
import { ROLLUP_FILES_MIGRATION, SEGMENTS_MIGRATION } from './segments.js';
import { StoreError } from './errors.js';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly up: readonly string[];
  readonly down: readonly string[];
  /** Run with its log row in one transaction, where the engine has them (a crash leaves it all or nothing). */
  readonly atomic?: boolean;
}

/** What the runner needs from an engine. */
export interface MigrationTarget {
  readonly migrations: readonly Migration[];
  exec(sql: string): Promise<void>;
  /** Creates the log table when missing. */
  ensureLog(): Promise<void>;
  /** Sum of steps per version. */
  readLog(): Promise<Map<number, number>>;
  appendLog(version: number, name: string, step: 1 | -1, atSeconds: number): Promise<void>;
  /** Whether exec takes BEGIN TRANSACTION / COMMIT / ROLLBACK (atomic migrations use them). */
  readonly transactions?: boolean;
}

const DUCKDB_TYPES: Record<ColumnKind, string> = {
  time: 'BIGINT',
  u8: 'UTINYINT',
  u16: 'USMALLINT',
  u32: 'UINTEGER',
  u64: 'UBIGINT',
  i64: 'BIGINT',
  string: 'VARCHAR',
};

const duckdbFlowColumns = columnsAt(1).map((c) => `  ${c.name} ${DUCKDB_TYPES[c.kind]} NOT NULL`).join(',\n');

export const DUCKDB_MIGRATIONS: readonly Migration[] = Object.freeze([
  {
    version: 1,
    name: 'flows',
    up: [`CREATE TABLE flows (\n${duckdbFlowColumns}\n)`],
    down: ['DROP TABLE flows'],
  },
  {
    version: 2,
    name: 'counter_snapshots',
    up: [
      `CREATE TABLE counter_snapshots (
  takenAt BIGINT NOT NULL,
  instance VARCHAR NOT NULL,
  recordsDropped UBIGINT NOT NULL,
  recordsLost UBIGINT NOT NULL,
  storeDropped UBIGINT NOT NULL
)`,
    ],
    down: ['DROP TABLE counter_snapshots'],
  },
  {
    version: 3,
    name: 'rollups',
    // Filled from the rows already stored; from then on each insert adds its batch (rollups.ts).
    up: [duckdbRollupTable(ROLLUPS_V3), duckdbRollupInsert('flows', '', ROLLUPS_V3)],
    down: ['DROP TABLE rollups'],
  },
  {
    version: 4,
    name: 'ip_networks',
    // The address networks (ip-key.ts ipNet), derived from the stored IP keys, and the Pod rollup
    // rebuilt with them, so that an IP filter on whole networks reads numbers and the rollup.
    up: [
      'ALTER TABLE flows ADD COLUMN sourceIPNet BIGINT DEFAULT -1',
      'ALTER TABLE flows ADD COLUMN destinationIPNet BIGINT DEFAULT -1',
      `UPDATE flows SET sourceIPNet = ${duckdbNetOfKey('sourceIPKey')}, destinationIPNet = ${duckdbNetOfKey('destinationIPKey')}`,
      'DROP TABLE rollups',
      duckdbRollupTable(ROLLUPS),
      duckdbRollupInsert('flows', '', ROLLUPS),
    ],
    down: [
      'DROP TABLE rollups',
      duckdbRollupTable(ROLLUPS_V3),
      duckdbRollupInsert('flows', '', ROLLUPS_V3),
      'ALTER TABLE flows DROP COLUMN sourceIPNet',
      'ALTER TABLE flows DROP COLUMN destinationIPNet',
    ],
  },
  {
    version: 5,
    name: 'segments',
    // Rows from now on go to Parquet segment files (segments.ts); `flows` becomes a view over the
    // rows stored so far (kept, as flow_rows) and the segments.
    up: SEGMENTS_MIGRATION.up,
    down: SEGMENTS_MIGRATION.down,
  },
  {
    version: 6,
    name: 'rollup_files',
    // Each batch's rollup rows go to a Parquet file beside its segment (segments.ts), folded into
    // the table (kept, as rollup_rows) every few batches; `rollups` becomes a view over both.
    up: ROLLUP_FILES_MIGRATION.up,
    down: ROLLUP_FILES_MIGRATION.down,
    atomic: true,
  },
]);

/** ipNet() in SQL, from a stored 32-hex-digit IP key (ip-key.ts): '' gives -1, ::ffff:a.b.c.d its /24, IPv6 2^24 + its first 48 bits. */
function duckdbNetOfKey(key: string): string {
  return (
    `CASE WHEN ${key} = '' THEN -1 WHEN substr(${key}, 1, 24) = '${'0'.repeat(20)}ffff' THEN CAST('0x' || substr(${key}, 25, 6) AS BIGINT) ` +
    `ELSE ${2 ** 24} + CAST('0x' || substr(${key}, 1, 12) AS BIGINT) END`
  );
}

export function latestVersion(migrations: readonly Migration[]): number {
  return migrations.reduce((v, m) => Math.max(v, m.version), 0);
}

/** The highest applied version (0: none). */
export async function currentVersion(target: MigrationTarget): Promise<number> {
  await target.ensureLog();
  const log = await target.readLog();
  let v = 0;
  for (const [version, sum] of log) if (sum > 0 && version > v) v = version;
  return v;
}

/**
 * Moves the schema to `to` (default: the latest), running up or down steps in order.
 * Returns the versions that ran. A database ahead of this build is an error, never downgraded.
 */
export async function migrate(target: MigrationTarget, atSeconds: number, to?: number): Promise<number[]> {
  const latest = latestVersion(target.migrations);
  const want = to ?? latest;
  if (!Number.isInteger(want) || want < 0 || want > latest) {
    throw new StoreError('STORE_ERR_MIGRATION', `cannot migrate to version ${want}: this build knows versions 0 to ${latest}`);
  }
  const from = await currentVersion(target);
  if (from > latest) {
    throw new StoreError('STORE_ERR_MIGRATION', `the store is at schema version ${from}, newer than this build (${latest}); upgrade flowvis`);
  }
  const ran: number[] = [];
  const ordered = [...target.migrations].sort((a, b) => a.version - b.version);
  const run = async (m: Migration, step: 1 | -1) => {
    const atomic = m.atomic === true && target.transactions === true;
    try {
      if (atomic) await target.exec('BEGIN TRANSACTION');
      for (const sql of step === 1 ? m.up : m.down) await target.exec(sql);
      if (atomic) {
        await target.appendLog(m.version, m.name, step, atSeconds);
        await target.exec('COMMIT');
      }
    } catch (err) {
      if (atomic) await target.exec('ROLLBACK').catch(() => undefined);
      throw new StoreError('STORE_ERR_MIGRATION', `migration ${m.version} (${m.name}) ${step === 1 ? 'up' : 'down'} failed: ${(err as Error).message}`, { cause: err });
    }
    if (!atomic) await target.appendLog(m.version, m.name, step, atSeconds);
    ran.push(m.version);
  };
  if (want >= from) {
    for (const m of ordered) if (m.version > from && m.version <= want) await run(m, 1);
  } else {
    for (const m of ordered.reverse()) if (m.version <= from && m.version > want) await run(m, -1);
  }
  return ran;
}
