import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { BoundedLineWriter } from '../../../src/collector/output.js';

/** A stream that takes chunks only when the test releases them. */
class SlowSink extends Writable {
  chunks: string[] = [];
  private pending: (() => void)[] = [];
  constructor(highWaterMark = 16) {
    super({ highWaterMark, decodeStrings: false });
  }
  override _write(chunk: string, _enc: BufferEncoding, done: () => void): void {
    this.chunks.push(String(chunk));
    this.pending.push(done);
  }
  release(): void {
    const p = this.pending;
    this.pending = [];
    for (const done of p) done();
  }
  get text(): string {
    return this.chunks.join('');
  }
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('BoundedLineWriter', () => {
  it('batches the lines of one turn into one write', async () => {
    const sink = new SlowSink();
    const w = new BoundedLineWriter(sink, 1024);
    w.write('a\n');
    w.write('b\n');
    await turn();
    assert.deepEqual(sink.chunks, ['a\nb\n']);
    assert.equal(w.stats().linesWritten, 2);
  });

  it('holds at most maxPendingBytes while the stream pushes back, and counts the rest as dropped', async () => {
    const sink = new SlowSink(4);
    const w = new BoundedLineWriter(sink, 10);
    w.write('012345678\n'); // 10 bytes: above the stream's high-water mark of 4
    await turn();
    assert.equal(sink.chunks.length, 1);
    // The stream is above its high-water mark: lines now wait in the writer.
    assert.equal(w.write('12345\n'), true);
    assert.equal(w.write('ab\n'), true);
    assert.equal(w.write('toolong\n'), false);
    await turn();
    assert.equal(sink.chunks.length, 1, 'nothing is written while the stream is full');
    assert.deepEqual(w.stats(), { linesWritten: 1, linesDropped: 1, pendingBytes: 9 });
    sink.release();
    await turn();
    await turn();
    assert.equal(sink.text, '012345678\n12345\nab\n');
    sink.release();
    await w.end();
    assert.deepEqual(w.stats(), { linesWritten: 3, linesDropped: 1, pendingBytes: 0 });
  });

  it('end() writes everything queued before it resolves', async () => {
    const sink = new SlowSink();
    const w = new BoundedLineWriter(sink, 1 << 20);
    for (let i = 0; i < 100; i++) w.write(`${i}\n`);
    const ended = w.end();
    const timer = setInterval(() => sink.release(), 1);
    await ended;
    clearInterval(timer);
    assert.equal(sink.text.split('\n').length - 1, 100);
    assert.equal(w.write('late\n'), false, 'lines after end() are dropped and counted');
    assert.equal(w.stats().linesDropped, 1);
  });

  it('keeps going when the stream fails (a closed pipe), counting every line as dropped', async () => {
    const sink = new Writable({
      write(_chunk, _enc, done) {
        done(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      },
    });
    const w = new BoundedLineWriter(sink, 1024);
    w.write('a\n');
    await turn();
    await turn();
    assert.match(String(w.error?.message), /EPIPE/);
    assert.equal(w.write('b\n'), false);
    await w.end();
    assert.equal(w.stats().linesDropped, 1);
  });
});
