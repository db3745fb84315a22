// JSON-lines log sink: one aggregated record per line, to a file (appended) or stdout.
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { AggregatedFlowRecord } from '../flow/record.js';
import type { Sink } from './sink.js';

export class LogSink implements Sink {
  readonly name = 'log';
  private readonly out: Writable;
  private readonly ownsStream: boolean;

  /** `path` "-" writes to stdout; any other path is opened for appending. A Writable is used as is. */
  constructor(target: string | Writable) {
    if (typeof target === 'string' && target !== '-') {
      this.out = createWriteStream(target, { flags: 'a' });
      this.ownsStream = true;
    } else {
      this.out = typeof target === 'string' ? process.stdout : target;
      this.ownsStream = false;
    }
  }

  async write(records: readonly AggregatedFlowRecord[]): Promise<void> {
    let text = '';
    for (const r of records) text += JSON.stringify(r) + '\n';
    const errored = (this.out as Writable & { errored?: Error | null }).errored;
    if (errored) throw errored;
    if (!this.out.write(text)) await once(this.out, 'drain');
  }

  async close(): Promise<void> {
    if (!this.ownsStream) return;
    const stream = this.out as WriteStream;
    await new Promise<void>((resolve) => stream.end(resolve));
  }
}
