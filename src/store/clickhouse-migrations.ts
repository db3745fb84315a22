// The ClickHouse engine's numbered migrations (migrations.ts runs them).
import { clickhouseRollupCascade, clickhouseRollupInput, clickhouseRollupMigration } from './clickhouse-rollups.js';
import type { Migration } from './migrations.js';
import { ROLLUPS, ROLLUPS_V3 } from './rollups.js';
import { NATIVE_TYPES } from './native.js';
import { columnsAt } from './schema.js';

const clickhouseFlowColumns = columnsAt(1).map((c) => `  ${c.name} ${NATIVE_TYPES[c.kind]}${c.name === 'timeInserted' ? ' DEFAULT now()' : ''}`).join(',\n');

// MergeTree ordered by (hour, namespaces, end time): every dashboard query filters on a time
// range first and often on a namespace. One partition per day, so retention drops whole days
// (Debian's ClickHouse 18.16 has no TTL).
export const CLICKHOUSE_MIGRATIONS: readonly Migration[] = Object.freeze([
  {
    version: 1,
    name: 'flows',
    up: [
      `CREATE TABLE IF NOT EXISTS flows (\n${clickhouseFlowColumns}\n) ENGINE = MergeTree()
PARTITION BY toDate(flowEndSeconds)
ORDER BY (toStartOfHour(flowEndSeconds), sourcePodNamespace, destinationPodNamespace, flowEndSeconds)`,
    ],
    down: ['DROP TABLE IF EXISTS flows'],
  },
  {
    version: 2,
    name: 'counter_snapshots',
    up: [
      `CREATE TABLE IF NOT EXISTS counter_snapshots (
  takenAt DateTime,
  instance String,
  recordsDropped UInt64,
  recordsLost UInt64,
  storeDropped UInt64
) ENGINE = MergeTree() PARTITION BY toDate(takenAt) ORDER BY (takenAt, instance)`,
    ],
    down: ['DROP TABLE IF EXISTS counter_snapshots'],
  },
  {
    version: 3,
    name: 'rollups',
    // SummingMergeTree per rollup and tier, backfilled, then fed by a materialized view on flows.
    ...clickhouseRollupMigration(ROLLUPS_V3),
  },
  {
    version: 4,
    name: 'ip_networks',
    // Parts written before compute the networks from the IP keys when read (the DEFAULT); new
    // inserts carry them. The Pod rollup tables are rebuilt with them.
    up: [
      `ALTER TABLE flows ADD COLUMN sourceIPNet Int64 DEFAULT ${clickhouseNetOfKey('sourceIPKey')}, ADD COLUMN destinationIPNet Int64 DEFAULT ${clickhouseNetOfKey('destinationIPKey')}`,
      ...clickhouseRollupMigration(ROLLUPS_V3, ['pods']).down,
      ...clickhouseRollupMigration(ROLLUPS, ['pods']).up,
    ],
    down: [
      ...clickhouseRollupMigration(ROLLUPS, ['pods']).down,
      ...clickhouseRollupMigration(ROLLUPS_V3, ['pods']).up,
      'ALTER TABLE flows DROP COLUMN sourceIPNet, DROP COLUMN destinationIPNet',
    ],
  },
  {
    version: 5,
    name: 'rollup_cascade',
    // Each coarser tier's view reads the next finer tier's inserted blocks instead of the flows.
    ...clickhouseRollupCascade(ROLLUPS),
  },
  {
    version: 6,
    name: 'rollup_input',
    // The client groups each batch's rollup rows and inserts them, after the flows, into a Null
    // table whose views only route rows (no GROUP BY on the server).
    ...clickhouseRollupInput(ROLLUPS),
  },
]);

function clickhouseNetOfKey(key: string): string {
  // unhex gives big-endian bytes; reinterpretAsUInt* reads little-endian, hence reverse.
  return (
    `if(${key} = '', toInt64(-1), if(substring(${key}, 1, 24) = '${'0'.repeat(20)}ffff', toInt64(reinterpretAsUInt32(reverse(unhex(substring(${key}, 25, 6))))), ` +
    `toInt64(${2 ** 24} + reinterpretAsUInt64(reverse(unhex(substring(${key}, 1, 12)))))))`
  );
}
