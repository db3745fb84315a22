// The aggregator's storage sink: records go to a flow repository (embedded DuckDB or ClickHouse)
// in batches, committed every interval (default 1 s).
//
//   SinkPump --write()--> queued (FIFO) --every commitInterval--> in flight (up to K inserts) --> repository
//                          |  queued + in flight > capacity:         | a failed batch goes back to the
//                          |  new records dropped and counted        | front of the queue, retried first
//
// write() only appends, so the pump (and collection behind it) never waits for the database.
// A commit keeps up to `insertsInFlight` inserts (K, default 2) going at once: while the database
// stores batch N, the client encodes batch N+1 (ClickHouse: the server writes the last Native
// block while Node builds the next one; DuckDB: its threads write while JS encodes the next
// batch). When an insert fails, no new one starts; those in flight finish,
// the ones that succeeded count as written, and the failed batches return to the front of the
// queue in their order (a later batch that succeeded is stored before an earlier one that failed).
// When the database is down, records wait in `pending` up to `capacity`; nothing within that
// bound is lost, and every record beyond it is counted in `dropped`. Each commit also writes a
// snapshot of the aggregator's loss counters, from which queries report their completeness.
// After each commit the sink looks at the repository's health (FlowRepository.health: failed
// background folds and compactions, files waiting) and logs what changed (store/health.ts).
import { randomUUID } from 'node:crypto';
import type { AggregatedFlowRecord } from '../flow/record.js';
import { HealthLog } from '../store/health.js';
import type { FlowRepository } from '../store/repository.js';
import type { CounterSnapshot } from '../store/schema.js';
import { systemClock, type Clock } from '../util/clock.js';
import type { Sink, SinkLogger } from './sink.js';

export const DEFAULT_COMMIT_INTERVAL_MS = 1000;
export const DEFAULT_STORE_BUFFER = 1_000_000;
/** Largest insert, unless the repository names its own (FlowRepository.insertBatch) or the options do. */
export const DEFAULT_STORE_BATCH = 50_000;
/** Inserts a commit keeps going at once (store.insertsInFlight). */
export const DEFAULT_INSERTS_IN_FLIGHT = 2;
/** Counter snapshots kept while the database is down (one per commit interval). */
const MAX_PENDING_SNAPSHOTS = 10_000;

export interface LossCounters {
  /** Records the aggregator dropped so far (cumulative). */
  recordsDropped: number;
  /** Records missing by sequence numbers so far (cumulative). */
  recordsLost: number;
}

export interface StoreSinkOptions {
  /** Opens the repository; called again after a failed open, at each commit. */
  open: () => Promise<FlowRepository>;
  /** 0: no timer; the owner calls flush(). */
  commitIntervalMs?: number;
  /** Records held while the database is down; beyond it new records are dropped and counted. */
  capacity?: number;
  /** Largest insert; default the repository's insertBatch, else DEFAULT_STORE_BATCH. */
  batchSize?: number;
  /** Inserts a commit keeps going at once; 1: one after another. Default DEFAULT_INSERTS_IN_FLIGHT. */
  insertsInFlight?: number;
  clock?: Clock;
  /** The aggregator's loss counters, snapshotted at each commit. */
  counters?: () => LossCounters;
  /** Names this run in the counter snapshots; default a random UUID. */
  instance?: string;
  logger?: SinkLogger;
  /** Records whose flow ended longer ago than this are deleted, then the store compacted; 0: never. */
  retentionMs?: number;
  /** How often retention runs (after a successful commit); default 1 h. */
  retentionCheckIntervalMs?: number;
}

export interface StoreSinkStats {
  /** Records held: queued, plus those in inserts not yet answered. */
  pending: number;
  written: number;
  /** Records dropped: `pending` was full, they came after close(), or they were still pending when close() gave up. */
  dropped: number;
  /** Commits that failed (the records stayed pending). */
  failedCommits: number;
  /** Flow rows deleted by retention. */
  retainedFlows: number;
  connected: boolean;
  lastError: string;
}

export interface FlushResult {
  written: number;
  pending: number;
  error: string | null;
}

export class StoreSink implements Sink {
  readonly name = 'store';
  private readonly capacity: number;
  private readonly batchSize: number | undefined;
  private readonly insertsInFlight: number;
  private readonly clock: Clock;
  private readonly instance: string;
  /** FIFO of batches as written, not yet handed to an insert; `head` skips the part of queue[0] already taken. */
  private queue: AggregatedFlowRecord[][] = [];
  private head = 0;
  private queuedCount = 0;
  /** Queued records plus those in inserts not yet answered: what `capacity` bounds. */
  private pendingCount = 0;
  private snapshots: CounterSnapshot[] = [];
  private repo: FlowRepository | null = null;
  private written = 0;
  private dropped = 0;
  private failedCommits = 0;
  private lastError = '';
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<FlushResult> | null = null;
  private closed = false;
  private lastRetentionMs = -Infinity;
  private retainedFlows = 0;
  /** Logs the repository's background job failures and recoveries; made with the repository. */
  private healthLog: HealthLog | null = null;

  constructor(private readonly options: StoreSinkOptions) {
    this.capacity = options.capacity ?? DEFAULT_STORE_BUFFER;
    this.batchSize = options.batchSize;
    if (!Number.isInteger(this.capacity) || this.capacity < 1) throw new RangeError(`store sink capacity ${this.capacity} must be a positive integer`);
    if (this.batchSize !== undefined && (!Number.isInteger(this.batchSize) || this.batchSize < 1)) throw new RangeError(`store sink batch size ${this.batchSize} must be a positive integer`);
    this.insertsInFlight = options.insertsInFlight ?? DEFAULT_INSERTS_IN_FLIGHT;
    if (!Number.isInteger(this.insertsInFlight) || this.insertsInFlight < 1) {
      throw new RangeError(`store sink inserts in flight ${this.insertsInFlight} must be a positive integer (1: one insert at a time)`);
    }
    this.clock = options.clock ?? systemClock;
    this.instance = options.instance ?? randomUUID();
    const interval = options.commitIntervalMs ?? DEFAULT_COMMIT_INTERVAL_MS;
    if (interval > 0) {
      this.timer = setInterval(() => void this.flush(), interval);
      this.timer.unref();
    }
  }

  /** Takes a batch into the pending buffer; never waits for the database. */
  async write(records: readonly AggregatedFlowRecord[]): Promise<void> {
    if (records.length === 0) return;
    if (this.closed) {
      // No commit will come for them.
      this.dropped += records.length;
      return;
    }
    const room = this.capacity - this.pendingCount;
    const take = Math.max(0, Math.min(room, records.length));
    this.dropped += records.length - take;
    if (take === 0) return;
    this.queue.push(take === records.length ? [...records] : records.slice(0, take));
    this.queuedCount += take;
    this.pendingCount += take;
  }

  /** Commits what is pending (in batches) and a counter snapshot; on failure keeps both. */
  flush(): Promise<FlushResult> {
    if (this.inFlight) return this.inFlight;
    this.inFlight = this.commit().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  private async commit(): Promise<FlushResult> {
    try {
      return await this.commitPending();
    } finally {
      this.logHealth();
    }
  }

  /** Logs what changed in the repository's health since the last look (nothing without a logger or health()). */
  private logHealth(): void {
    const repo = this.repo;
    if (!repo?.health || !this.options.logger) return;
    this.healthLog ??= new HealthLog(this.options.logger, `sink store: ${repo.engine} store ${repo.location}`);
    this.healthLog.observe(repo.health());
  }

  private async commitPending(): Promise<FlushResult> {
    const nowSeconds = Math.floor(this.clock.now() / 1000);
    const counters = this.options.counters?.() ?? { recordsDropped: 0, recordsLost: 0 };
    this.snapshots.push({ at: nowSeconds, instance: this.instance, recordsDropped: counters.recordsDropped, recordsLost: counters.recordsLost, storeDropped: this.dropped });
    if (this.snapshots.length > MAX_PENDING_SNAPSHOTS) this.snapshots.splice(0, this.snapshots.length - MAX_PENDING_SNAPSHOTS);
    const progress = { written: 0 };
    try {
      this.repo ??= await this.options.open();
      await this.insertQueued(this.repo, nowSeconds, progress);
      await this.repo.insertSnapshots(this.snapshots);
      this.snapshots = [];
      await this.retainIfDue();
      if (this.lastError !== '') this.options.logger?.warn(`sink store: the database answers again; ${progress.written} pending records written`);
      this.lastError = '';
      return { written: progress.written, pending: this.pendingCount, error: null };
    } catch (err) {
      this.failedCommits++;
      const message = err instanceof Error ? err.message : String(err);
      // Log once per outage, not once per interval.
      if (message !== this.lastError) this.options.logger?.warn(`sink store: commit failed, ${this.pendingCount} records kept for retry (bound ${this.capacity}): ${message}`);
      this.lastError = message;
      return { written: progress.written, pending: this.pendingCount, error: message };
    }
  }

  /**
   * Inserts what is queued (and what arrives meanwhile), up to `insertsInFlight` batches at a
   * time, answered in order. Rejects with the first failure once every insert started has
   * settled; the failed batches are queued again, in front.
   */
  private async insertQueued(repo: FlowRepository, nowSeconds: number, progress: { written: number }): Promise<void> {
    const size = this.batchSize ?? repo.insertBatch ?? DEFAULT_STORE_BATCH;
    const window: { batch: AggregatedFlowRecord[]; outcome: Promise<{ error: unknown } | null> }[] = [];
    const failed: AggregatedFlowRecord[][] = [];
    let failure: { error: unknown } | null = null;
    for (;;) {
      while (failure === null && window.length < this.insertsInFlight && this.queuedCount > 0) {
        const batch = this.take(size);
        // A repository that throws instead of rejecting fails this batch the same way.
        const started = (async () => repo.insertFlows(batch, nowSeconds))();
        window.push({ batch, outcome: started.then(() => null, (error: unknown) => ({ error })) });
      }
      const oldest = window.shift();
      if (oldest === undefined) break;
      const outcome = await oldest.outcome;
      if (outcome === null) {
        this.pendingCount -= oldest.batch.length;
        this.written += oldest.batch.length;
        progress.written += oldest.batch.length;
      } else {
        failure ??= outcome;
        failed.push(oldest.batch);
      }
    }
    if (failure === null) return;
    this.requeue(failed);
    throw failure.error;
  }
  private async retainIfDue(): Promise<void> {
    const retentionMs = this.options.retentionMs ?? 0;
    const now = this.clock.now();
    if (retentionMs <= 0 || !this.repo || now - this.lastRetentionMs < (this.options.retentionCheckIntervalMs ?? 3_600_000)) return;
    this.lastRetentionMs = now;
    const r = await this.repo.retain(Math.floor((now - retentionMs) / 1000));
    this.retainedFlows += r.deletedFlows;
  }

  /** Up to `max` queued records, oldest first, taken off the queue (still counted in pendingCount). */
  private take(max: number): AggregatedFlowRecord[] {
    const first = this.queue[0];
    let out: AggregatedFlowRecord[];
    if (this.head === 0 && first.length <= max && (first.length === max || this.queue.length === 1)) {
      out = first;
    } else if (first.length - this.head >= max || this.queue.length === 1) {
      out = first.slice(this.head, this.head + max);
    } else {
      out = [];
      let off = this.head;
      for (const chunk of this.queue) {
        for (let i = off; i < chunk.length && out.length < max; i++) out.push(chunk[i]);
        off = 0;
        if (out.length >= max) break;
      }
    }
    this.queuedCount -= out.length;
    let left = out.length;
    while (left > 0) {
      const avail = this.queue[0].length - this.head;
      if (left < avail) {
        this.head += left;
        break;
      }
      left -= avail;
      this.queue.shift();
      this.head = 0;
    }
    return out;
  }

  /** Puts batches whose insert failed back at the front of the queue, in their order. */
  private requeue(batches: AggregatedFlowRecord[][]): void {
    if (batches.length === 0) return;
    if (this.head > 0) {
      this.queue[0] = this.queue[0].slice(this.head);
      this.head = 0;
    }
    this.queue.unshift(...batches);
    for (const b of batches) this.queuedCount += b.length;
  }

  stats(): StoreSinkStats {
    return {
      pending: this.pendingCount,
      written: this.written,
      dropped: this.dropped,
      failedCommits: this.failedCommits,
      retainedFlows: this.retainedFlows,
      connected: this.repo !== null && this.lastError === '',
      lastError: this.lastError,
    };
  }

  /** The repository once opened (the API queries through it); null before the first commit. */
  repository(): FlowRepository | null {
    return this.repo;
  }

  /** Stops the timer, commits once more, and closes the repository. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.inFlight) await this.inFlight;
    const last = await this.flush();
    if (last.pending > 0) {
      // The process ends without them: dropped, and counted as such.
      this.options.logger?.warn(`sink store: closing with ${last.pending} records not written (counted as dropped): ${last.error ?? ''}`);
      this.dropped += last.pending;
      this.pendingCount = 0;
      this.queuedCount = 0;
      this.queue = [];
      this.head = 0;
    }
    await this.repo?.close();
    // The jobs the last commit started have ended (close waits for them): their outcome is logged too.
    this.logHealth();
    this.repo = null;
  }
}
