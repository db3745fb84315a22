import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { RecordBuffer } from '../../../src/sinks/record-buffer.js';
import { SinkPump, type Sink } from '../../../src/sinks/sink.js';
import { LogSink } from '../../../src/sinks/log-sink.js';
import type { AggregatedFlowRecord } from '../../../src/flow/record.js';
import { AggregationProcess } from '../../../src/aggregator/aggregation.js';
import { ManualClock } from '../../../src/util/clock.js';
import { NODE_A, flowRecord } from './fixtures.js';

function aggregated(count: number): AggregatedFlowRecord[] {
  const out: AggregatedFlowRecord[] = [];
  const agg = new AggregationProcess({
    clock: new ManualClock(),
    activeTimeoutMs: 1000,
    inactiveTimeoutMs: 2000,
    correlationWaitMs: 1000,
    maxFlows: count + 1,
    onExport: (r) => out.push(r),
  });
  for (let i = 0; i < count; i++) agg.ingest(flowRecord({ flowType: 1, sourceTransportPort: i }), NODE_A);
  agg.flush();
  return out;
}

/** A sink that holds each write until release() is called. */
class GatedSink implements Sink {
  readonly name = 'gated';
  readonly batches: AggregatedFlowRecord[][] = [];
  private gate: (() => void)[] = [];
  fail = false;
  write(records: readonly AggregatedFlowRecord[]): Promise<void> {
    this.batches.push([...records]);
    return new Promise((resolve, reject) => this.gate.push(() => (this.fail ? reject(new Error('down')) : resolve())));
  }
  release(): void {
    const g = this.gate;
    this.gate = [];
    for (const f of g) f();
  }
  async close(): Promise<void> {}
}

const turn = () => new Promise((r) => setImmediate(r));

describe('RecordBuffer', () => {
  it('refuses and counts records beyond its capacity, and keeps FIFO order', () => {
    const b = new RecordBuffer<number>(3);
    assert.deepEqual([1, 2, 3, 4, 5].map((n) => b.push(n)), [true, true, true, false, false]);
    assert.deepEqual(b.stats(), { capacity: 3, length: 3, accepted: 3, dropped: 2 });
    assert.deepEqual(b.take(2), [1, 2]);
    assert.equal(b.push(6), true);
    assert.deepEqual(b.take(10), [3, 6]);
    assert.equal(b.length, 0);
  });
});

describe('SinkPump', () => {
  it('never blocks the producer: a stalled sink costs counted drops, not waiting', async () => {
    const sink = new GatedSink();
    const pump = new SinkPump(sink, { capacity: 4, batchSize: 2 });
    pump.start();
    const records = aggregated(10);
    const accepted = records.map((r) => pump.offer(r));
    assert.equal(accepted.filter(Boolean).length, 4);
    await turn();
    // The first batch of 2 is in the sink, so 2 more fit.
    assert.equal(pump.offer(records[0]), true);
    let st = pump.stats();
    assert.equal(st.droppedBufferFull, 6);
    sink.release();
    await turn();
    sink.release();
    await turn();
    sink.release();
    await turn();
    st = pump.stats();
    assert.equal(st.written, 5);
    assert.equal(st.buffered, 0);
  });

  it('counts records of failed writes and goes on with the next batch', async () => {
    const sink = new GatedSink();
    const pump = new SinkPump(sink, { capacity: 10, batchSize: 3 });
    pump.start();
    const warnings: string[] = [];
    const records = aggregated(5);
    for (const r of records) pump.offer(r);
    await turn();
    sink.fail = true;
    sink.release();
    await turn();
    sink.fail = false;
    sink.release();
    await turn();
    assert.deepEqual([pump.stats().failed, pump.stats().written], [3, 2]);
    void warnings;
  });
});

describe('LogSink', () => {
  it('writes one JSON object per line', async () => {
    const out = new PassThrough();
    const chunks: string[] = [];
    out.on('data', (c: Buffer) => chunks.push(c.toString()));
    const sink = new LogSink(out);
    const records = aggregated(2);
    await sink.write(records);
    const lines = chunks.join('').trimEnd().split('\n');
    assert.equal(lines.length, 2);
    const first = JSON.parse(lines[0]) as AggregatedFlowRecord;
    assert.equal(first.sourceTransportPort, records[0].sourceTransportPort);
    assert.equal(first.fromSourceNode.packetTotalCount, 100);
  });
});
