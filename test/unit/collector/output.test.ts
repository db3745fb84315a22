import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { BoundedLineWriter, OUTPUT_CHUNK_BYTES } from '../../../src/collector/output.js';

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
  it('copies byte lines, so the caller may reuse its buffer at once', async () => {
    const sink = new SlowSink(1 << 20);
    const w = new BoundedLineWriter(sink, 1 << 20);
    const scratch = Buffer.alloc(16);
    for (const text of ['one\n', 'two\n', 'three\n']) {
      const n = scratch.write(text);
      assert.equal(w.writeBytes(scratch, 0, n), true);
      scratch.fill(0x58);
    }
    await turn();
    assert.equal(sink.text, 'one\ntwo\nthree\n');
    assert.equal(w.stats().linesWritten, 3);
  });

  it('writes a full chunk at once, splits lines across chunks, and reuses chunks only after the stream took them', async () => {
    const sink = new SlowSink(1 << 30);
    const w = new BoundedLineWriter(sink, 1 << 30);
    const lines: string[] = [];
    for (let i = 0; lines.join('').length < 3 * OUTPUT_CHUNK_BYTES; i++) lines.push(`${String(i).padStart(6, '0')} ${'x'.repeat(i % 5000)}\n`);
    for (const line of lines) {
      const bytes = Buffer.from(line);
      assert.equal(w.writeBytes(bytes, 0, bytes.length), true);
    }
    assert.equal(sink.chunks.length, 1, 'full chunks go out before the turn ends');
    assert.ok(sink.writableLength > OUTPUT_CHUNK_BYTES);
    sink.release(); // the stream has taken the first: its buffer may be reused now
    for (const line of lines) w.write(line);
    const timer = setInterval(() => sink.release(), 1);
    await w.end();
    clearInterval(timer);
    assert.equal(sink.text, lines.join('') + lines.join(''));
    assert.deepEqual(w.stats(), { linesWritten: 2 * lines.length, linesDropped: 0, pendingBytes: 0 });
  });

  it('counts pending output in UTF-8 bytes, and drops a line of bytes that would go beyond the bound', async () => {
    const sink = new SlowSink(1);
    const w = new BoundedLineWriter(sink, 12);
    w.write('block\n');
    await turn(); // the stream is now above its high-water mark
    assert.equal(w.write('é✓\n'), true); // 2 + 3 + 1 bytes
    assert.equal(w.stats().pendingBytes, 6);
    const bytes = Buffer.from('1234567\n');
    assert.equal(w.writeBytes(bytes, 0, bytes.length), false);
    assert.equal(w.writeBytes(bytes, 2, bytes.length), true);
    assert.deepEqual(w.stats(), { linesWritten: 1, linesDropped: 1, pendingBytes: 12 });
    sink.release();
    await turn();
    sink.release();
    await w.end();
    assert.equal(sink.text, 'block\né✓\n34567\n');
  });
  it('loses nothing to a fast stream when one turn brings far more than maxPendingBytes', async () => {
    // One event-loop turn can hand the collector megabytes of records (many socket reads);
    // the writer must not hold them all until the turn ends.
    let written = 0;
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        written += chunk.length;
        done();
      },
    });
    const w = new BoundedLineWriter(sink, 2 * OUTPUT_CHUNK_BYTES);
    const line = Buffer.from(`${'r'.repeat(999)}\n`);
    let accepted = 0;
    for (let i = 0; i < 10_000; i++) if (w.writeBytes(line, 0, line.length)) accepted++;
    assert.equal(accepted, 10_000);
    await w.end();
    assert.equal(written, 10_000 * 1000);
    assert.deepEqual(w.stats(), { linesWritten: 10_000, linesDropped: 0, pendingBytes: 0 });
  });
});
