// Where aggregated flow records go: the seam between the aggregator and storage. The IPFIX
// sink, the JSON-lines log sink and the storage issue's database sink implement Sink; each
// runs behind its own SinkPump, so a slow or failing sink delays or drops only its own records.
import type { AggregatedFlowRecord } from '../flow/record.js';
import { RecordBuffer } from './record-buffer.js';

export interface Sink {
  /** Short name for metrics and logs, e.g. "ipfix", "log". */
  readonly name: string;
  /** Writes a batch. A rejection means the batch was not written; the pump counts it as failed. */
  write(records: readonly AggregatedFlowRecord[]): Promise<void>;
  /** Flushes and releases resources. */
  close(): Promise<void>;
}

export interface SinkStats {
  sink: string;
  /** Records accepted into the buffer. */
  accepted: number;
  /** Records refused because the buffer was full. */
  droppedBufferFull: number;
  /** Records in batches the sink failed to write. */
  failed: number;
  written: number;
  buffered: number;
}

export interface SinkLogger {
  warn(message: string): void;
}

export interface SinkPumpOptions {
  /** Records held while the sink is busy; beyond it new records are dropped and counted. */
  capacity: number;
  /** Largest batch handed to Sink.write. */
  batchSize?: number;
  logger?: SinkLogger;
}

/** Feeds one sink from a bounded buffer; offer() never waits. */
export class SinkPump {
  private readonly buffer: RecordBuffer<AggregatedFlowRecord>;
  private readonly batchSize: number;
  private readonly logger: SinkLogger | undefined;
  private written = 0;
  private failed = 0;
  private closing = false;
  private loop: Promise<void> | undefined;
  private lastError = '';

  constructor(
    readonly sink: Sink,
    options: SinkPumpOptions,
  ) {
    this.buffer = new RecordBuffer(options.capacity);
    this.batchSize = options.batchSize ?? 1000;
    this.logger = options.logger;
  }

  /** Queues a record for the sink; false when the buffer is full (the record is counted as dropped). */
  offer(record: AggregatedFlowRecord): boolean {
    return this.buffer.push(record);
  }

  start(): void {
    if (this.loop) return;
    this.loop = this.run();
  }

  /** Stops taking records, writes what is buffered, and closes the sink. */
  async close(): Promise<void> {
    this.closing = true;
    this.buffer.wake();
    this.start();
    await this.loop;
    await this.sink.close();
  }

  stats(): SinkStats {
    const b = this.buffer.stats();
    return {
      sink: this.sink.name,
      accepted: b.accepted,
      droppedBufferFull: b.dropped,
      failed: this.failed,
      written: this.written,
      buffered: b.length,
    };
  }

  private async run(): Promise<void> {
    for (;;) {
      if (this.buffer.length === 0) {
        if (this.closing) return;
        await this.buffer.waitForRecords();
        continue;
      }
      const batch = this.buffer.take(this.batchSize);
      try {
        await this.sink.write(batch);
        this.written += batch.length;
        this.lastError = '';
      } catch (err) {
        this.failed += batch.length;
        const message = err instanceof Error ? err.message : String(err);
        // Log a failure once until the sink recovers, not once per batch.
        if (message !== this.lastError) this.logger?.warn(`sink ${this.sink.name}: ${batch.length} records not written: ${message}`);
        this.lastError = message;
      }
    }
  }
}

/** Hands every record to each pump. */
export class SinkFanout {
  constructor(readonly pumps: readonly SinkPump[]) {}

  offer(record: AggregatedFlowRecord): void {
    for (const pump of this.pumps) pump.offer(record);
  }

  start(): void {
    for (const pump of this.pumps) pump.start();
  }

  async close(): Promise<void> {
    await Promise.all(this.pumps.map((p) => p.close()));
  }

  stats(): SinkStats[] {
    return this.pumps.map((p) => p.stats());
  }
}
