import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DeadlineHeap, type HeapItem } from '../../../src/exporter/deadline-heap.js';

interface Item extends HeapItem {
  name: number;
}

const item = (name: number, deadline: number): Item => ({ name, deadline, heapIndex: -1 });

test('pops items in deadline order', () => {
  const heap = new DeadlineHeap<Item>();
  for (const [n, d] of [[1, 50], [2, 10], [3, 30], [4, 20], [5, 40]] as const) heap.push(item(n, d));
  const order: number[] = [];
  for (let it = heap.pop(); it; it = heap.pop()) order.push(it.name);
  assert.deepEqual(order, [2, 4, 3, 5, 1]);
  assert.equal(heap.size, 0);
});

test('schedule moves an item earlier or later and remove takes it out from the middle', () => {
  const heap = new DeadlineHeap<Item>();
  const items = [item(1, 10), item(2, 20), item(3, 30), item(4, 40)];
  for (const it of items) heap.push(it);
  heap.schedule(items[3], 5);
  assert.equal(heap.peek()?.name, 4);
  heap.schedule(items[3], 35);
  assert.equal(heap.peek()?.name, 1);
  assert.equal(heap.remove(items[1]), true);
  assert.equal(heap.remove(items[1]), false);
  assert.equal(items[1].heapIndex, -1);
  assert.deepEqual([heap.pop()?.name, heap.pop()?.name, heap.pop()?.name, heap.pop()], [1, 3, 4, undefined]);
});

test('refuses to push an item twice', () => {
  const heap = new DeadlineHeap<Item>();
  const it = item(1, 1);
  heap.push(it);
  assert.throws(() => heap.push(it), /already in the heap/);
});

test('agrees with a sorted list under any mix of push, schedule, remove and pop', () => {
  type Op = { kind: 'push'; d: number } | { kind: 'schedule'; i: number; d: number } | { kind: 'remove'; i: number } | { kind: 'pop' };
  const op = fc.oneof(
    fc.record({ kind: fc.constant('push' as const), d: fc.integer({ min: 0, max: 1000 }) }),
    fc.record({ kind: fc.constant('schedule' as const), i: fc.nat(), d: fc.integer({ min: 0, max: 1000 }) }),
    fc.record({ kind: fc.constant('remove' as const), i: fc.nat() }),
    fc.record({ kind: fc.constant('pop' as const) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 200 }), (ops: Op[]) => {
      const heap = new DeadlineHeap<Item>();
      const model = new Set<Item>();
      const all: Item[] = [];
      for (const o of ops) {
        if (o.kind === 'push') {
          const it = item(all.length, o.d);
          all.push(it);
          heap.push(it);
          model.add(it);
        } else if (o.kind === 'schedule' && all.length > 0) {
          const it = all[o.i % all.length];
          heap.schedule(it, o.d);
          model.add(it);
        } else if (o.kind === 'remove' && all.length > 0) {
          const it = all[o.i % all.length];
          assert.equal(heap.remove(it), model.delete(it));
        } else if (o.kind === 'pop') {
          const min = Math.min(...[...model].map((m) => m.deadline));
          const got = heap.pop();
          if (model.size === 0) assert.equal(got, undefined);
          else {
            assert.equal(got?.deadline, min);
            model.delete(got as Item);
          }
        }
        assert.equal(heap.size, model.size);
      }
      const drained: number[] = [];
      for (let it = heap.pop(); it; it = heap.pop()) drained.push(it.deadline);
      assert.deepEqual(drained, [...model].map((m) => m.deadline).sort((a, b) => a - b));
    }),
    { seed: 42, numRuns: 300 },
  );
});
