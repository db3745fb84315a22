// The embedded store's background jobs and how an operator sees them. Inserts start three jobs
// that run after the insert has answered (duckdb.ts):
//
//   fold              rollup files -> rollup_rows (schema 6), when FOLD_FILES files wait
//   compaction        FAN_IN segments of a level -> one of the next level (schema 5)
//   rollupCompaction  rollup_rows re-aggregated per bucket (the table path, and compact())
//
// A failed run loses nothing (the files or rows stay as they were, still correct, only more of
// them) and is retried after the next insert; but a store that keeps failing grows its file
// count without bound, and its queries slow down. So each job counts its failures, keeps its last
// error, and the repository reports them with the file gauges (FlowRepository.health); the
// aggregator's /metrics shows them (aggregator/api.ts), and HealthLog logs each change of state
// once: the first failure with its error, still failing at 10, 100, 1000 ... attempts, recovery.

export const STORE_JOBS = ['fold', 'compaction', 'rollupCompaction'] as const;
export type StoreJob = (typeof STORE_JOBS)[number];

/** What each job is called in log lines. */
const JOB_TITLES: Readonly<Record<StoreJob, string>> = {
  fold: 'rollup fold',
  compaction: 'segment compaction',
  rollupCompaction: 'rollup compaction',
};

export interface JobHealth {
  /** Runs that failed since the store was opened. */
  readonly failures: number;
  /** Runs that failed since the last one that succeeded: 0 while the job works. */
  readonly consecutiveFailures: number;
  /** Runs that succeeded since the store was opened. */
  readonly successes: number;
  /** The error of the last run while it fails; '' once a run succeeds (or none failed). */
  readonly lastError: string;
  /** The error of the last failed run, kept after a success (what a log line names on recovery). */
  readonly lastFailure: string;
}

export interface StoreHealth {
  readonly jobs: Readonly<Record<StoreJob, JobHealth>>;
  /** Rollup files committed by inserts and not folded yet (schema 6; FOLD_FILES start a fold). */
  readonly rollupFilesWaiting: number;
  /** Committed segments per level: index = level (schema 5; [] below it and in memory). */
  readonly segmentsPerLevel: readonly number[];
  /** Bytes of the committed segments and rollup files. */
  readonly fileBytes: number;
}

/** One job's outcomes; the repository calls failed() or succeeded() at the end of each run. */
export class JobTracker {
  private failureCount = 0;
  private consecutive = 0;
  private successCount = 0;
  private error = '';
  private failure = '';

  failed(err: unknown): void {
    this.failureCount++;
    this.consecutive++;
    this.error = this.failure = err instanceof Error ? err.message : String(err);
  }

  succeeded(): void {
    this.successCount++;
    this.consecutive = 0;
    this.error = '';
  }

  get lastError(): string {
    return this.error;
  }

  snapshot(): JobHealth {
    return { failures: this.failureCount, consecutiveFailures: this.consecutive, successes: this.successCount, lastError: this.error, lastFailure: this.failure };
  }
}

export interface HealthLogger {
  warn(message: string): void;
}

/** Whether n is 10, 100, 1000, ...: the attempts at which a job still failing is logged again. */
function isPowerOfTen(n: number): boolean {
  if (n < 10) return false;
  while (n % 10 === 0) n /= 10;
  return n === 1;
}

/**
 * Logs the changes in a store's health between two looks (the store sink looks after each
 * commit): a job that started failing, with its error; one still failing when its run of
 * failures reaches 10, 100, 1000 ...; one that works again, with the number of failed runs.
 * A retry that fails like the one before is not logged again.
 */
export class HealthLog {
  private last: StoreHealth | null = null;

  constructor(
    private readonly logger: HealthLogger,
    /** Names the store in each line, e.g. "store /var/lib/flowvis". */
    private readonly prefix: string,
  ) {}

  observe(now: StoreHealth): void {
    const before = this.last;
    this.last = now;
    for (const job of STORE_JOBS) {
      const was = before?.jobs[job].consecutiveFailures ?? 0;
      const is = now.jobs[job];
      const failedSince = is.failures - (before?.jobs[job].failures ?? 0);
      const title = JOB_TITLES[job];
      if (is.consecutiveFailures === 0) {
        if (was + failedSince === 0) continue;
        this.logger.warn(`${this.prefix}: ${title} works again after ${was + failedSince} failed attempt(s) (no rows lost); last error: ${is.lastFailure}`);
        continue;
      }
      const waiting = job === 'fold' ? `${now.rollupFilesWaiting} rollup files wait` : `${now.segmentsPerLevel.reduce((t, n) => t + n, 0)} segments`;
      // Not failing before, or a run succeeded in between: a new run of failures.
      if (was === 0 || is.consecutiveFailures !== was + failedSince) {
        this.logger.warn(`${this.prefix}: ${title} failed (retried after the next insert; no rows lost, ${waiting}): ${is.lastError}`);
        continue;
      }
      for (let n = was + 1; n <= is.consecutiveFailures; n++) {
        if (!isPowerOfTen(n)) continue;
        this.logger.warn(`${this.prefix}: ${title} still failing after ${n} attempts (${waiting}): ${is.lastError}`);
        break;
      }
    }
  }
}
