import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoundedQueue } from '../../../src/transport/bounded-queue.js';

test('keeps FIFO order across the ring wrap-around', () => {
  const q = new BoundedQueue<number>(3);
  const out: number[] = [];
  for (let i = 0; i < 10; i++) {
    assert.equal(q.push(i), true);
    if (i % 2 === 1) {
      out.push(q.shift() as number);
      out.push(q.shift() as number);
    }
  }
  assert.deepEqual(out, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(q.shift(), undefined);
});

test('drops and counts items pushed while full, keeping the oldest', () => {
  const q = new BoundedQueue<string>(2);
  assert.equal(q.push('a'), true);
  assert.equal(q.push('b'), true);
  assert.equal(q.push('c'), false);
  assert.equal(q.push('d'), false);
  q.countDropped(5);
  assert.deepEqual(q.stats(), { length: 2, capacity: 2, enqueued: 2, dropped: 7, highWater: 2 });
  assert.equal(q.shift(), 'a');
  assert.equal(q.push('e'), true);
  assert.deepEqual([q.shift(), q.shift()], ['b', 'e']);
});

test('a slow async consumer sees every accepted item and memory stays at capacity', async () => {
  const q = new BoundedQueue<number>(4);
  const seen: number[] = [];
  const consumer = (async () => {
    for await (const n of q) seen.push(n);
  })();
  let accepted = 0;
  for (let i = 0; i < 1000; i++) if (q.push(i)) accepted++;
  assert.equal(q.stats().highWater, 4);
  await new Promise((r) => setImmediate(r));
  for (let i = 1000; i < 1003; i++) if (q.push(i)) accepted++;
  q.close();
  await consumer;
  assert.equal(seen.length, accepted);
  assert.deepEqual(seen.slice(0, 4), [0, 1, 2, 3]);
  assert.equal(q.stats().dropped, 1003 - accepted);
  assert.equal(q.push(5), false, 'a closed queue accepts nothing');
});

test('whenSpace resolves once the consumer has drained to half capacity', async () => {
  const q = new BoundedQueue<number>(4);
  for (let i = 0; i < 4; i++) q.push(i);
  let resolved = false;
  const p = q.whenSpace().then(() => {
    resolved = true;
  });
  q.shift();
  await Promise.resolve();
  assert.equal(resolved, false, 'three of four is not yet half');
  q.shift();
  await p;
  assert.equal(resolved, true);
});

test('onReadable fires when the queue becomes non-empty', () => {
  const q = new BoundedQueue<number>(2);
  let calls = 0;
  q.onReadable = () => calls++;
  q.push(1);
  q.push(2);
  assert.equal(calls, 1);
  q.shift();
  q.shift();
  q.push(3);
  assert.equal(calls, 2);
});

test('rejects a capacity that is not a positive integer', () => {
  assert.throws(() => new BoundedQueue(0), RangeError);
  assert.throws(() => new BoundedQueue(1.5), RangeError);
});
