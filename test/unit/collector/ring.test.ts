import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Ring } from '../../../src/collector/ring.js';

describe('Ring', () => {
  it('keeps the newest items, oldest first, once it wraps', () => {
    const ring = new Ring<number>(3);
    for (let i = 1; i <= 5; i++) ring.push(i);
    assert.equal(ring.size, 3);
    assert.deepEqual(ring.last(10), [3, 4, 5]);
    assert.deepEqual(ring.last(2), [4, 5]);
    assert.deepEqual(ring.last(0), []);
  });

  it('returns what it has before it is full', () => {
    const ring = new Ring<string>(4);
    ring.push('a');
    ring.push('b');
    assert.deepEqual(ring.last(4), ['a', 'b']);
    assert.deepEqual(ring.last(1), ['b']);
  });

  it('keeps nothing with capacity 0', () => {
    const ring = new Ring<number>(0);
    ring.push(1);
    assert.equal(ring.size, 0);
    assert.deepEqual(ring.last(5), []);
  });

  it('wraps correctly at every fill level', () => {
    for (let cap = 1; cap <= 5; cap++) {
      const ring = new Ring<number>(cap);
      for (let n = 1; n <= 12; n++) {
        ring.push(n);
        const expected = Array.from({ length: Math.min(n, cap) }, (_, i) => n - Math.min(n, cap) + 1 + i);
        assert.deepEqual(ring.last(cap), expected, `cap ${cap} after ${n}`);
      }
    }
  });

  it('clears', () => {
    const ring = new Ring<number>(2);
    ring.push(1);
    ring.clear();
    assert.equal(ring.size, 0);
    ring.push(7);
    assert.deepEqual(ring.last(2), [7]);
  });

  it('refuses a negative or fractional capacity', () => {
    assert.throws(() => new Ring(-1), RangeError);
    assert.throws(() => new Ring(1.5), RangeError);
  });
});
