// The ClickHouse engine (@clickhouse/client over HTTP), for clusters that outgrow one machine.
// The flows table has Antrea Theia's column names and types where they overlap, so Theia-style
// queries run unchanged. It works with Debian's clickhouse-server 18.16: no query parameters
// (values are validated, then escaped into literals by the dialect), no TTL (retention drops
// daily partitions). Inserts are Native blocks (native.ts, clickhouse-native.ts): per batch, the
// flows into `flows`, then (schema 6) the batch's rollup rows, grouped here as the embedded store
// groups them, into the Null table `rollup_input` whose views route them to the rollup tables
// (docs/store-clickhouse.md).
// Several inserts may be in flight, each encoded once the flows body before it has been sent.
//
// --store forms: http://[user:password@]host:8123[/database], https://..., clickhouse://host:8123/db
// (clickhouse:// means http://). The database is created when missing; default "default".
import { Readable } from 'node:stream';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import type { AggregatedFlowRecord } from '../flow/record.js';
import { StoreError } from './errors.js';
import { CLICKHOUSE_MIGRATIONS } from './clickhouse-migrations.js';
import { currentVersion, latestVersion, migrate, type MigrationTarget } from './migrations.js';
import type { Dialect } from './query.js';
import type { FlowRepository, OpenOptions, RetentionResult } from './repository.js';
import { completeBatch, encodeRows, EncodeScratch } from './columnar.js';
import { flowsBody, flowsInsert, ROLLUP_INSERT, rollupBody, type Ordering } from './clickhouse-native.js';
import { OrderScratch } from './native-order.js';
import { CLICKHOUSE_ROLLUP_INPUT, clickhouseRollupTable } from './clickhouse-rollups.js';
import { RollupScratch } from './rollup-batch.js';
import { GRAINS, LARGEST_TIER, type RollupName } from './rollups.js';
import { COLUMNS, type Column, type CounterSnapshot } from './schema.js';

export const clickhouseDialect: Dialect = Object.freeze({
  str: (v: string) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`,
  time: (s: number) => `toDateTime(${Math.floor(s)})`,
  readTime: (c: string) => `toUInt32(${c})`,
  bucket: (c: string, s: number) => `intDiv(toUInt32(${c}), ${s}) * ${s}`,
  num: (e: string) => `toFloat64(${e})`,
  count: () => 'toFloat64(count())',
  one: () => 'toUInt64(1)',
  rollup: (name: RollupName, tier: number) => ({ table: clickhouseRollupTable(name, tier), where: '' }),
});

export interface ClickHouseTarget {
  url: string;
  username: string;
  password: string;
  database: string;
  /** The URL without credentials, for logs and `location`. */
  display: string;
}

/** Parses a --store ClickHouse URL. */
export function parseClickHouseUrl(text: string): ClickHouseTarget {
  let u: URL;
  try {
    u = new URL(text.replace(/^clickhouse:\/\//i, 'http://'));
  } catch {
    throw new StoreError('STORE_ERR_INVALID_OPTION', `--store ${text} is not a URL; write e.g. http://localhost:8123/flowvis`);
  }
  const database = decodeURIComponent(u.pathname.replace(/^\/+|\/+$/g, '')) || 'default';
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(database)) {
    throw new StoreError('STORE_ERR_INVALID_OPTION', `--store ${u.origin}/${database}: the database name must be letters, digits and _, e.g. http://localhost:8123/flowvis`);
  }
  const port = u.port || (u.protocol === 'https:' ? '8443' : '8123');
  const origin = `${u.protocol}//${u.hostname}:${port}`;
  return {
    url: origin,
    username: decodeURIComponent(u.username) || 'default',
    password: decodeURIComponent(u.password),
    database,
    display: `${origin}/${database}`,
  };
}

/** ClickHouse's default rows per inserted block; a larger body is inserted as one block all the same (see insertInput). */
const DEFAULT_INSERT_BLOCK = 1_048_576;

/** Views of the body handed to the HTTP request (see bodyChunks). */
const BODY_CHUNK = 256 * 1024;
/** Scratches kept for the next inserts (one per insert in flight; more are left to the GC). */
const MAX_SPARE_SCRATCHES = 4;

/**
 * The body in views of BODY_CHUNK bytes (no copies). The request takes the next one only when
 * the socket has drained the last, so when it asks past the end, all but the last chunk has
 * reached the kernel: `sent` is called then, and the next insert may block the event loop to
 * encode without holding back more than one chunk of this body.
 */
function* bodyChunks(body: Buffer, sent: () => void): Generator<Buffer> {
  for (let off = 0; off < body.length; off += BODY_CHUNK) yield body.subarray(off, Math.min(body.length, off + BODY_CHUNK));
  sent();
}

function isStaleSocket(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EPIPE' || code === 'ECONNRESET';
}

function unavailable(what: string, err: unknown): StoreError {
  return new StoreError('STORE_ERR_UNAVAILABLE', `ClickHouse ${what} failed: ${(err as Error).message || String(err)}`, { cause: err });
}

export class ClickHouseRepository implements FlowRepository {
  readonly engine = 'clickhouse' as const;
  /** 150,000-row bodies cost the client more per row than 50,000 (docs/store.md, Figures). */
  readonly insertBatch = 50_000;
  /** Whether the rollup tables exist (schema 3; a store opened without migrations may be older). */
  rollups = false;
  /**
   * Whether inserts go into the staging table with their rollup rows (schema 6) rather than into
   * `flows`, whose views group them (schemas 3-5).
   */
  private input = false;
  /** Whether `input`, `rollups` and `columns` have been read from the server since the schema last changed. */
  private known = false;
  /** The rollup grouping's memory, kept from one insert to the next (encoding is one insert at a time). */
  private readonly rollupGrouping = new RollupScratch();
  /**
   * How rows are put in their tables' order before they are written (clickhouse-native.ts): a
   * sorted block saves the server its sort. The hour boundary is the server's (refreshRollups).
   */
  private ordering: Ordering = { scratch: new OrderScratch(), hourStart: 0 };
  /** Memory of the rollup bodies, as `scratches` for the flows. */
  private readonly rollupScratches: EncodeScratch[] = [];
  /**
   * Records whose flows are stored but whose rollup rows are not (an insert failed between its
   * two requests), with the number of such copies: their retry sends only the rollup rows. Weak:
   * a batch the sink gave up on (its buffer full) is never retried, and its records must not stay
   * here; once any insert failed that way, every batch is checked (a lookup per record).
   */
  private readonly flowsWithoutRollups = new WeakMap<AggregatedFlowRecord, number>();
  private rollupsEverFailed = false;
  /** The flows table's columns (a store at an older schema, opened without migrating, has fewer). */
  private columns: readonly Column[] = COLUMNS;
  readonly dialect = clickhouseDialect;
  private closed = false;
  /** Memory reused from one insert to the next (columnar.ts, EncodeScratch); an insert in flight holds one. */
  private readonly scratches: EncodeScratch[] = [];
  /** Resolves when the latest insert's body has left the process (or that insert has ended). */
  private lastBodySent: Promise<void> = Promise.resolve();

  private constructor(
    readonly location: string,
    private readonly client: ClickHouseClient,
  ) {}

  static async open(store: string, options: OpenOptions = {}): Promise<ClickHouseRepository> {
    const t = parseClickHouseUrl(store);
    const common = {
      url: t.url,
      username: t.username,
      password: t.password,
      request_timeout: options.requestTimeoutMs ?? 30_000,
      clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
      // Failures reach the caller as STORE_ERR_UNAVAILABLE; the client need not log them too.
      log: { level: ClickHouseLogLevel.OFF },
    } as const;
    if (t.database !== 'default' && !options.readOnly) {
      const boot = createClient(common);
      try {
        await boot.command({ query: `CREATE DATABASE IF NOT EXISTS ${t.database}` });
      } catch (err) {
        throw unavailable(`connection to ${t.display}`, err);
      } finally {
        await boot.close();
      }
    }
    const repo = new ClickHouseRepository(t.display, createClient({ ...common, database: t.database }));
    try {
      await repo.ping();
      if (options.migrate !== false && !options.readOnly) await repo.migrateTo(latestVersion(CLICKHOUSE_MIGRATIONS));
      else await repo.refreshRollups();
    } catch (err) {
      await repo.close();
      throw err;
    }
    return repo;
  }

  private async exec(sql: string): Promise<void> {
    this.checkOpen();
    try {
      await this.client.command({ query: sql });
    } catch (err) {
      throw unavailable('statement', err);
    }
  }

  async select(sql: string): Promise<Record<string, unknown>[]> {
    this.checkOpen();
    try {
      const rs = await this.client.query({ query: sql, format: 'JSONEachRow' });
      return await rs.json<Record<string, unknown>>();
    } catch (err) {
      throw unavailable('query', err);
    }
  }

  /**
   * INSERT ... FORMAT Native of the flows, then of their rollup rows (schema 6; before it,
   * the views on `flows` group them). Inserts may overlap (the store sink keeps up to K going):
   * each waits until the body before it has left the process before encoding its own, so that
   * the server reads the earlier body while Node encodes the next one, instead of the encode
   * (which blocks the event loop) holding back the earlier body's last megabytes.
   */
  async insertFlows(records: readonly AggregatedFlowRecord[], insertedAtSeconds: number): Promise<void> {
    this.checkOpen();
    if (records.length === 0) return;
    const previous = this.lastBodySent;
    let bodySent!: () => void;
    this.lastBodySent = new Promise<void>((resolve) => (bodySent = resolve));
    let scratch: EncodeScratch | undefined;
    let rollupScratch: EncodeScratch | undefined;
    let sent = false;
    try {
      await previous;
      this.checkOpen();
      // Without knowing the schema, rows could go where no view rolls them up.
      if (!this.known) await this.refreshRollups();
      // Native from a columnar batch: strings encoded once per distinct value, one buffer, in
      // memory reused from an earlier insert (one scratch per insert in flight).
      const columns = this.columns;
      scratch = this.scratches.pop() ?? new EncodeScratch();
      // Native writes each row's value, so a derived column's dictionary may repeat values (two
      // addresses with one key): its source's indexes serve as they are, instead of a map of
      // 50,000 derived keys a batch to make them distinct (about 5% of the client's CPU).
      const batch = completeBatch(encodeRows(records, insertedAtSeconds, columns, scratch), columns, { dictionariesOnly: true, scratch, repeatedValues: true });
      if (!this.input) {
        await this.send(flowsInsert(columns), flowsBody(batch, columns, scratch, this.ordering), bodySent, batch.rows);
      } else {
        // The flows first, then the rollup rows (schema 6). Records whose flows went in while
        // their rollup rows did not (an earlier call failed between the two) are not sent again:
        // the sink retries the whole batch, perhaps regrouped with other records.
        let stored = this.rollupsEverFailed ? this.alreadyStored(records) : null;
        if (stored !== null && stored.used.size === 0) stored = null;
        const rollups = rollupBody(batch, this.rollupGrouping, (rollupScratch = this.rollupScratches.pop() ?? new EncodeScratch()), this.ordering);
        if (stored === null) {
          // The next insert may encode once this body has left: the rollup body is a tenth of it.
          await this.send(flowsInsert(columns), flowsBody(batch, columns, scratch, this.ordering), bodySent, batch.rows);
        } else if (stored.fresh.length > 0) {
          const fresh = completeBatch(encodeRows(stored.fresh, insertedAtSeconds, columns), columns, { dictionariesOnly: true, repeatedValues: true });
          await this.send(flowsInsert(columns), flowsBody(fresh, columns, undefined, this.ordering), bodySent, fresh.rows);
        }
        try {
          await this.send(ROLLUP_INSERT, rollups.body, bodySent, rollups.rows);
        } catch (err) {
          // Every record of this batch now has its flow stored and lacks its rollup rows.
          for (const r of stored?.fresh ?? records) this.flowsWithoutRollups.set(r, (this.flowsWithoutRollups.get(r) ?? 0) + 1);
          this.rollupsEverFailed = true;
          throw err;
        }
        if (stored) for (const [r, n] of stored.used) this.forget(r, n);
      }
      sent = true;
    } finally {
      bodySent();
      // A failed insert's scratch is left to the GC: a request the client gave up on may still
      // hold its body.
      if (scratch && sent && this.scratches.length < MAX_SPARE_SCRATCHES) this.scratches.push(scratch);
      if (rollupScratch && sent && this.rollupScratches.length < MAX_SPARE_SCRATCHES) this.rollupScratches.push(rollupScratch);
    }
  }

  /**
   * Splits a batch into the records whose flows are to be sent and, per record, how many of its
   * copies had their flows stored without their rollup rows (those copies' flows are not sent
   * again). A record object may legitimately come more than once; each copy counts.
   */
  private alreadyStored(records: readonly AggregatedFlowRecord[]): { fresh: AggregatedFlowRecord[]; used: Map<AggregatedFlowRecord, number> } {
    const fresh: AggregatedFlowRecord[] = [];
    const used = new Map<AggregatedFlowRecord, number>();
    for (const r of records) {
      const waiting = this.flowsWithoutRollups.get(r) ?? 0;
      const taken = used.get(r) ?? 0;
      if (taken < waiting) used.set(r, taken + 1);
      else fresh.push(r);
    }
    return { fresh, used };
  }

  private forget(record: AggregatedFlowRecord, copies: number): void {
    const left = (this.flowsWithoutRollups.get(record) ?? 0) - copies;
    if (left > 0) this.flowsWithoutRollups.set(record, left);
    else this.flowsWithoutRollups.delete(record);
  }

  /**
   * Sends one body (one Native block). A body of more rows than ClickHouse's default block is still read
   * as one block (max_insert_block_size), so that the server writes all of it or none: a failed
   * request never leaves part of a batch stored, and the sink's retry of the whole batch does not
   * store rows twice. (A batch's flows and its rollup rows are two bodies from schema 6 on;
   * insertFlows keeps track of a batch whose second failed.)
   */
  private async send(query: string, body: Buffer, bodySent: () => void, rows: number): Promise<void> {
    const settings = rows > DEFAULT_INSERT_BLOCK ? { max_insert_block_size: String(rows) } : undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await this.client.exec({
          query,
          values: Readable.from(bodyChunks(body, bodySent), { objectMode: false }),
          ...(settings ? { clickhouse_settings: settings as Record<string, string> } : {}),
        });
        result.stream.resume();
        return;
      } catch (err) {
        // Encoding a large batch can block the event loop past the server's keep-alive timeout
        // (18.16: 3 s) before the client's idle-socket timer runs; the client then writes to a
        // socket the server has closed. The server received nothing of this request, so one
        // retry on a new connection is safe.
        if (attempt === 0 && isStaleSocket(err)) continue;
        throw unavailable('insert', err);
      }
    }
  }

  async insertSnapshots(snapshots: readonly CounterSnapshot[]): Promise<void> {
    this.checkOpen();
    if (snapshots.length === 0) return;
    const d = this.dialect;
    const values = snapshots
      .map((s) => `(${d.time(s.at)}, ${d.str(s.instance)}, ${Math.floor(s.recordsDropped)}, ${Math.floor(s.recordsLost)}, ${Math.floor(s.storeDropped)})`)
      .join(', ');
    await this.exec(`INSERT INTO counter_snapshots (takenAt, instance, recordsDropped, recordsLost, storeDropped) VALUES ${values}`);
  }

  async countFlows(): Promise<number> {
    const [r] = await this.select('SELECT toFloat64(count()) AS n FROM flows');
    return Number(r.n);
  }

  /**
   * Drops the daily partitions whose newest flow ended before the cutoff, then merges parts.
   * Rows of the day that holds the cutoff stay until their whole day is older (day granularity).
   * The cutoff is rounded down to a multiple of the largest rollup bucket (6 h) and a rollup day
   * goes when its last bucket ends by then, so flows and rollups always cover the same days.
   */
  async retain(cutoffSeconds: number): Promise<RetentionResult> {
    const cutoff = Math.floor(cutoffSeconds / LARGEST_TIER) * LARGEST_TIER;
    const droppedPartitions: string[] = [];
    let deletedFlows = 0;
    const tables: [string, string][] = [
      ['flows', 'toUInt32(max(flowEndSeconds))'],
      ['counter_snapshots', 'toUInt32(max(takenAt))'],
      ...GRAINS.map((g): [string, string] => [clickhouseRollupTable(g.spec.name, g.tier), `toUInt32(max(bucket)) + ${g.tier - 1}`]),
    ];
    for (const [table, newest] of tables) {
      const timeCol = table === 'flows' ? 'flowEndSeconds' : table === 'counter_snapshots' ? 'takenAt' : 'bucket';
      const parts = await this.select(`SELECT toString(toDate(${timeCol})) AS day, ${newest} AS newest, toFloat64(count()) AS n FROM ${table} GROUP BY day ORDER BY day`);
      for (const p of parts) {
        if (Number(p.newest) >= cutoff) continue;
        const day = String(p.day);
        if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) continue;
        await this.exec(`ALTER TABLE ${table} DROP PARTITION '${day}'`);
        if (table === 'flows') {
          droppedPartitions.push(day);
          deletedFlows += Number(p.n);
        }
      }
    }
    await this.exec('OPTIMIZE TABLE flows');
    return { deletedFlows, droppedPartitions };
  }

  private migrationTarget(): MigrationTarget {
    return {
      migrations: CLICKHOUSE_MIGRATIONS,
      exec: (sql) => this.exec(sql),
      ensureLog: () => this.exec('CREATE TABLE IF NOT EXISTS flowvis_migrations (version UInt32, name String, step Int8, appliedAt DateTime) ENGINE = TinyLog'),
      readLog: async () => {
        const rows = await this.select('SELECT version, toInt32(sum(step)) AS s FROM flowvis_migrations GROUP BY version');
        return new Map(rows.map((r) => [Number(r.version), Number(r.s)]));
      },
      appendLog: (version, name, step, at) =>
        this.exec(`INSERT INTO flowvis_migrations (version, name, step, appliedAt) VALUES (${version}, ${this.dialect.str(name)}, ${step}, ${this.dialect.time(at)})`),
    };
  }

  schemaVersion(): Promise<number> {
    return currentVersion(this.migrationTarget());
  }

  async migrateTo(version: number): Promise<number[]> {
    try {
      return await migrate(this.migrationTarget(), Date.now() / 1000, version);
    } finally {
      await this.refreshRollups().catch(() => undefined);
    }
  }

  private async refreshRollups(): Promise<void> {
    this.known = false;
    const tables = GRAINS.map((g) => this.dialect.str(clickhouseRollupTable(g.spec.name, g.tier))).join(', ');
    const [r] = await this.select(`SELECT toFloat64(count()) AS n FROM system.tables WHERE database = currentDatabase() AND name IN (${tables})`);
    // Schema 3's Pod rollup has no address networks: only schema 4's rollups answer queries.
    const [net] = await this.select(
      `SELECT toFloat64(count()) AS n FROM system.columns WHERE database = currentDatabase() AND table = ${this.dialect.str(clickhouseRollupTable('pods', GRAINS[0].tier))} AND name = 'sourceIPNet'`,
    );
    this.rollups = Number(r.n) === GRAINS.length && Number(net.n) === 1;
    const present = new Set((await this.select("SELECT name FROM system.columns WHERE database = currentDatabase() AND table = 'flows'")).map((x) => String(x.name)));
    this.columns = present.size === 0 ? COLUMNS : COLUMNS.filter((c) => present.has(c.name));
    const [input] = await this.select(`SELECT toFloat64(count()) AS n FROM system.tables WHERE database = currentDatabase() AND name = ${this.dialect.str(CLICKHOUSE_ROLLUP_INPUT)}`);
    this.input = Number(input.n) === 1 && this.rollups && this.columns.length === COLUMNS.length;
    // Where the server's hours start (toStartOfHour in its time zone), for the flows' order.
    const [zone] = await this.select('SELECT toUInt32(toStartOfHour(toDateTime(1700000000))) % 3600 AS s');
    this.ordering = { scratch: this.ordering.scratch, hourStart: Number(zone.s) };
    this.known = true;
  }

  async ping(): Promise<void> {
    await this.select('SELECT 1 AS one');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.close();
  }

  private checkOpen(): void {
    if (this.closed) throw new StoreError('STORE_ERR_UNAVAILABLE', `the ClickHouse store ${this.location} is closed`);
  }
}
