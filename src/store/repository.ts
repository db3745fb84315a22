// The flow repository: where aggregated flow records are kept and queried. Two engines:
//   duckdb.ts      embedded, the default: a directory, no server
//   clickhouse.ts  a ClickHouse server, for clusters that outgrow one machine
// Both take numbered up/down migrations (migrations.ts) at open, and answer the same SQL built
// by query.ts through their Dialect.
import type { AggregatedFlowRecord } from '../flow/record.js';
import type { Dialect, SqlRunner } from './query.js';
import type { CounterSnapshot } from './schema.js';
import type { StoreHealth } from './health.js';

export type { JobHealth, StoreHealth, StoreJob } from './health.js';

export type EngineName = 'duckdb' | 'clickhouse';

export interface RetentionResult {
  /** Flow rows deleted (for ClickHouse: rows in the dropped daily partitions). */
  deletedFlows: number;
  /** ClickHouse: the partitions (days) dropped. */
  droppedPartitions: string[];
}

export interface FlowRepository extends SqlRunner {
  readonly engine: EngineName;
  /** The insert size this engine writes best (the store sink's batches); absent: the sink's default. */
  readonly insertBatch?: number;
  readonly dialect: Dialect;
  /** Where the data is: a directory, ':memory:', or the server URL without credentials. */
  readonly location: string;
  /** Writes one batch in one statement (or one appender run); all or nothing for the caller. */
  insertFlows(records: readonly AggregatedFlowRecord[], insertedAtSeconds: number): Promise<void>;
  insertSnapshots(snapshots: readonly CounterSnapshot[]): Promise<void>;
  /** Number of stored flow rows. */
  countFlows(): Promise<number>;
  /** Deletes flows (and counter snapshots) that ended before `cutoffSeconds`, then compacts. */
  retain(cutoffSeconds: number): Promise<RetentionResult>;
  /** The applied schema version. */
  schemaVersion(): Promise<number>;
  /** Runs up or down migrations to reach `version`; returns the versions that ran. */
  migrateTo(version: number): Promise<number[]>;
  /** Resolves when the database answers. */
  ping(): Promise<void>;
  /**
   * The background jobs' failures and the file gauges (health.ts), for /metrics, logs and
   * `flowvis store info`; engines without background jobs of their own leave it out.
   */
  health?(): StoreHealth;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Apply migrations up to the latest at open; default true. */
  migrate?: boolean;
  /** Open without writing (queries only); embedded engine only. */
  readOnly?: boolean;
  /** ClickHouse request timeout; default 30 s. */
  requestTimeoutMs?: number;
}

/** Whether a --store value names a ClickHouse server (http://, https:// or clickhouse://). */
export function isClickHouseUrl(store: string): boolean {
  return /^(https?|clickhouse):\/\//i.test(store);
}

/** Opens the engine a --store value names: a ClickHouse URL, or else a directory (or ':memory:'). */
export async function openRepository(store: string, options: OpenOptions = {}): Promise<FlowRepository> {
  if (isClickHouseUrl(store)) {
    const { ClickHouseRepository } = await import('./clickhouse.js');
    return ClickHouseRepository.open(store, options);
  }
  const { DuckDbRepository } = await import('./duckdb.js');
  return DuckDbRepository.open(store, options);
}
