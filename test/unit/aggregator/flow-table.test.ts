import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FlowTable, STR } from '../../../src/aggregator/flow-table.js';
import { StringTable } from '../../../src/aggregator/string-table.js';

describe('FlowTable', () => {
  it('finds every inserted 5-tuple after any sequence of inserts and removals', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ op: fc.constantFrom('insert', 'remove'), a: fc.integer({ min: 0, max: 7 }), port: fc.integer({ min: 0, max: 40 }) }), { maxLength: 300 }),
        (ops) => {
          const table = new FlowTable(2, 1000);
          const model = new Map<string, number>();
          const find = (a: number, port: number) =>
            table.find(table.strings.peek(`10.0.0.${a}`), table.strings.peek('10.0.1.1'), port, 80, 6);
          for (const { op, a, port } of ops) {
            const key = `${a}:${port}`;
            if (op === 'insert' && !model.has(key)) {
              model.set(key, table.insert(`10.0.0.${a}`, '10.0.1.1', port, 80, 6));
            } else if (op === 'remove' && model.has(key)) {
              table.remove(model.get(key) as number);
              model.delete(key);
            }
          }
          assert.equal(table.size, model.size);
          for (let a = 0; a < 8; a++) {
            for (let port = 0; port <= 40; port++) {
              const expected = model.get(`${a}:${port}`);
              assert.equal(find(a, port), expected ?? -1);
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('releases interned strings when the last flow naming them is removed', () => {
    const table = new FlowTable(4, 10);
    const a = table.insert('10.0.0.1', '10.0.0.2', 1, 2, 6);
    const b = table.insert('10.0.0.1', '10.0.0.3', 1, 2, 6);
    table.setString(a, STR.sourcePodName, 'web-1');
    table.setString(b, STR.sourcePodName, 'web-1');
    assert.equal(table.strings.size, 4);
    table.remove(a);
    assert.equal(table.strings.peek('web-1') > 0, true);
    table.remove(b);
    assert.equal(table.strings.size, 0);
    assert.equal(table.strings.peek('web-1'), -1);
  });
});

describe('StringTable', () => {
  it('keeps one id per distinct string and reuses freed ids', () => {
    const st = new StringTable();
    const x = st.acquire('x');
    assert.equal(st.acquire('x'), x);
    assert.equal(st.acquire(''), 0);
    st.release(x);
    assert.equal(st.get(x), 'x');
    st.release(x);
    assert.equal(st.peek('x'), -1);
    assert.equal(st.acquire('y'), x);
    assert.equal(st.swap(x, 'y'), x);
  });
});
