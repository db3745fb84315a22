// Bounded fuzzing: the decoder throws nothing but IpfixError on any input, never hangs, and
// keeps memory bounded. The decoder is synchronous, so each property runs in a worker thread
// that is terminated (and the test failed) if it does not finish within its deadline.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import type { FUZZ_CASES } from './fuzz-cases.js';

const DEADLINE_MS = 40_000;

function runInWorker(name: keyof typeof FUZZ_CASES): Promise<void> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./fuzz-worker.js', import.meta.url), { workerData: { name } });
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(new Error(`fuzz case ${name} did not finish within ${DEADLINE_MS} ms: the decoder hangs`));
    }, DEADLINE_MS);
    worker.once('message', (msg: { ok: boolean; error?: string }) => {
      clearTimeout(timer);
      void worker.terminate();
      if (msg.ok) resolve();
      else reject(new Error(msg.error));
    });
    worker.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

describe('decoder fuzzing (bounded)', () => {
  it('throws only IpfixError on random bytes', async () => {
    await assert.doesNotReject(runInWorker('randomBytes'));
  });

  it('throws only IpfixError on mutated valid messages', async () => {
    await assert.doesNotReject(runInWorker('mutatedMessages'));
  });

  it('keeps memory bounded over many mutated messages', async () => {
    await assert.doesNotReject(runInWorker('boundedMemory'));
  });
});
