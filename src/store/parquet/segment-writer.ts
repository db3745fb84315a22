// The main thread's side of the segment writer: hands a batch's direct columns (columnar.ts
// encodeRows) to a worker thread (segment-worker.ts), which completes the batch, groups its
// rollup rows, and writes the Parquet segment; the answer carries the segment's statistics and
// the rollup rows. Reading the records is the only part of an insert that must run on the main
// thread (they live in its heap); the rest runs on the other core, while the main thread reads
// the next batch.
import { Worker } from 'node:worker_threads';
import { rawBuffers, transferable, type RawBatch } from '../columnar.js';
import { StoreError } from '../errors.js';
import type { SegmentReply, SegmentRequest, SegmentResult } from './segment-worker.js';

export type { RollupFileStats, SegmentResult, SegmentStats } from './segment-worker.js';

interface Waiter {
  resolve: (r: SegmentResult) => void;
  reject: (err: Error) => void;
}

/** Where a request's array buffers go when the thread gives them back (columnar.ts ArrayPool). */
export interface BufferSink {
  give(buffers: readonly ArrayBufferLike[]): void;
}

export class SegmentWriter {
  private worker: Worker | null = null;
  private seq = 0;
  private readonly waiting = new Map<number, Waiter>();

  constructor(
    private readonly script: URL = new URL('./segment-worker.js', import.meta.url),
    private readonly buffers: BufferSink | null = null,
  ) {}

  /**
   * Writes `raw` as <dir>/<name> (under <dir>/<tempName> until complete) and, with `rollups`, its
   * rollup rows as <dir>/rollups-<name> (segments.ts rollupFileOf), or, with `rollupRows` too,
   * sends them back instead (schema 5's stores insert them). The raw batch's arrays are the
   * thread's until it answers: its ArrayBuffers are transferred (unusable after), its
   * SharedArrayBuffers shared.
   */
  write(raw: RawBatch, dir: string, name: string, tempName: string, rollups: boolean, rollupRows = false): Promise<SegmentResult> {
    const worker = this.worker ?? this.spawn();
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      this.waiting.set(seq, { resolve, reject });
      if (this.waiting.size === 1) worker.ref();
      worker.postMessage({ seq, raw, dir, name, tempName, rollups, rollupRows } satisfies SegmentRequest, transferable(rawBuffers(raw)));
    });
  }

  private spawn(): Worker {
    const worker = new Worker(this.script);
    worker.unref();
    worker.on('message', (reply: SegmentReply) => {
      const w = this.waiting.get(reply.seq);
      if (!w) return;
      this.waiting.delete(reply.seq);
      if (this.waiting.size === 0) worker.unref();
      this.buffers?.give(reply.returned);
      if (reply.ok) w.resolve({ stats: reply.stats, rollups: reply.rollups, rollupFile: reply.rollupFile });
      else w.reject(new StoreError('STORE_ERR_UNAVAILABLE', `writing a segment failed: ${reply.message}`));
    });
    const fail = (err: Error) => {
      if (this.worker === worker) this.worker = null;
      for (const w of this.waiting.values()) w.reject(new StoreError('STORE_ERR_UNAVAILABLE', `the segment writer thread stopped: ${err.message}`, { cause: err }));
      this.waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
    this.worker = worker;
    return worker;
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}
