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
            table.find(4, table.addressKey(4, `10.0.0.${a}`), table.addressKey(4, '10.0.1.1'), port, 80, 6);
          for (const { op, a, port } of ops) {
            const key = `${a}:${port}`;
            if (op === 'insert' && !model.has(key)) {
              model.set(key, table.insert(4, `10.0.0.${a}`, '10.0.1.1', port, 80, 6));
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

  // Internal representation (changed with IPv4 keys as numbers): IPv4 addresses are not interned,
  // IPv6 addresses and names are, and leave the string table with the last flow naming them.
  it('grows from its first slots to the cap with every flow, its fields and its strings intact, and reports the slots in use', () => {
    const max = 5000;
    const table = new FlowTable(4, max);
    const slots: number[] = [];
    for (let k = 0; k < max; k++) {
      const s = table.insertIpv4(0x0a000000 + k, 0x0a010000 + (k % 7), 1024 + (k % 50_000), 80, 6);
      table.setSec(s, 0, 1_700_000_000 + k);
      table.counters[table.counterIndex(s, 1, 5)] = k * 1000;
      table.setString(s, STR.sourcePodName, `pod-${k % 300}`);
      slots.push(s);
      // The bytes reported follow the flows, not the address space reserved for the cap.
      assert.ok(table.columnBytes() < (table.capacity + 1) * 400 + 64 * 1024, `${table.columnBytes()} bytes at ${k + 1} flows`);
    }
    assert.equal(table.size, max);
    assert.equal(table.capacity, max);
    for (let k = 0; k < max; k++) {
      const s = table.find(4, 0x0a000000 + k, 0x0a010000 + (k % 7), 1024 + (k % 50_000), 80, 6);
      assert.equal(s, slots[k]);
      assert.equal(table.getSec(s, 0), 1_700_000_000 + k);
      assert.equal(table.counters[table.counterIndex(s, 1, 5)], k * 1000);
      assert.equal(table.getString(s, STR.sourcePodName), `pod-${k % 300}`);
    }
    assert.throws(() => table.insertIpv4(1, 2, 3, 4, 6), /full at 5000 slots/);
  });

  it('gives a new flow a cleared slot, whether the slot is fresh, freed by remove() or left by clear()', () => {
    const table = new FlowTable(2, 64);
    const fill = (k: number) => {
      const s = table.insertIpv4(0x0a000000 + k, 0x0a000001, 1000 + k, 80, 6);
      for (let f = 0; f < 9; f++) table.setSec(s, f, 1_700_000_000 + k);
      for (let c = 0; c < 16; c++) table.counters[table.counterIndex(s, c >> 3, c & 7)] = 5 + k;
      table.setF64(s, 0, 1.5);
      table.setU8(s, 4, 3);
      return s;
    };
    const isCleared = (s: number) => {
      for (let f = 0; f < 9; f++) assert.equal(table.getSec(s, f), 0, `sec ${f} of slot ${s}`);
      for (let c = 0; c < 16; c++) assert.equal(table.counters[table.counterIndex(s, c >> 3, c & 7)], 0, `counter ${c} of slot ${s}`);
      assert.equal(table.getF64(s, 0), 0);
      assert.equal(table.getU8(s, 4), 0);
      assert.equal(table.getId(s, STR.sourcePodName), 0);
    };
    const first = Array.from({ length: 20 }, (_, k) => fill(k));
    table.remove(first[3]);
    isCleared(table.insertIpv4(0x0b000000, 0x0a000001, 1, 80, 6));
    table.clear();
    for (let k = 0; k < 30; k++) isCleared(table.insertIpv4(0x0c000000 + k, 0x0a000001, 1, 80, 6));
  });

  it('releases interned strings when the last flow naming them is removed', () => {
    const table = new FlowTable(4, 10);
    const a = table.insert(4, '10.0.0.1', '10.0.0.2', 1, 2, 6);
    const b = table.insert(6, 'fd00::1', 'fd00::3', 1, 2, 6);
    table.setString(a, STR.sourcePodName, 'web-1');
    table.setString(b, STR.sourcePodName, 'web-1');
    assert.equal(table.strings.size, 3, 'web-1 and the two IPv6 addresses');
    assert.equal(table.strings.peek('10.0.0.1'), -1);
    table.remove(a);
    assert.equal(table.strings.peek('web-1') > 0, true);
    table.remove(b);
    // Freed by the next sweep (between messages), not at once.
    assert.equal(table.strings.peek('web-1') > 0, true);
    table.strings.sweep();
    assert.equal(table.strings.size, 0);
    assert.equal(table.strings.peek('web-1'), -1);
    assert.equal(table.strings.peek('fd00::1'), -1);
  });

  it('keeps IPv4 and IPv6 flows apart even when their address keys are equal', () => {
    const table = new FlowTable(4, 10);
    const v6 = table.insert(6, 'fd00::1', 'fd00::2', 1, 2, 6);
    const v6src = table.addressKey(6, 'fd00::1');
    const v6dst = table.addressKey(6, 'fd00::2');
    // An IPv4 flow whose address values equal the IPv6 string ids.
    const text = (n: number) => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
    const v4 = table.insert(4, text(v6src), text(v6dst), 1, 2, 6);
    assert.notEqual(v4, v6);
    assert.equal(table.find(4, v6src, v6dst, 1, 2, 6), v4);
    assert.equal(table.find(6, v6src, v6dst, 1, 2, 6), v6);
    assert.equal(table.addressText(v4, table.sourceKey(v4)), text(v6src));
    assert.equal(table.addressText(v6, table.sourceKey(v6)), 'fd00::1');
    table.remove(v6);
    assert.equal(table.find(4, v6src, v6dst, 1, 2, 6), v4);
    assert.equal(table.find(6, v6src, v6dst, 1, 2, 6), -1);
  });

  it('reads an IPv4 key only from a canonical dotted quad', () => {
    const table = new FlowTable(4, 10);
    assert.equal(table.addressKey(4, '10.1.2.3'), 0x0a010203);
    assert.equal(table.addressKey(4, '255.255.255.255'), 0xffffffff);
    assert.equal(table.addressKey(4, '0.0.0.0'), 0);
    for (const bad of ['', '10.1.2', '10.1.2.3.4', '10.01.2.3', '256.1.2.3', '10.1.2.3 ', 'fd00::1', '1.2.3.-4', 'a.b.c.d']) {
      assert.equal(table.addressKey(4, bad), -1, bad);
    }
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
    assert.equal(st.peek('x'), x, 'kept until the next sweep');
    st.sweep();
    assert.equal(st.peek('x'), -1);
    assert.equal(st.acquire('y'), x);
    assert.equal(st.swap(x, 'y'), x);
  });

  it('takes the id of the string last acquired at a call site only while the id still holds it', () => {
    const st = new StringTable();
    const a = st.acquire('policy-a', 3);
    assert.equal(st.acquire('policy-a', 3), a);
    st.release(a);
    st.release(a);
    st.sweep();
    assert.equal(st.peek('policy-a'), -1);
    // The freed id now holds another string; the call site's memory of policy-a must not hand it out.
    const b = st.acquire('policy-b', 4);
    assert.equal(b, a);
    const a2 = st.acquire('policy-a', 3);
    assert.notEqual(a2, b);
    assert.equal(st.get(a2), 'policy-a');
    assert.equal(st.get(b), 'policy-b');
    st.release(b);
    st.sweep();
    assert.equal(st.get(b), '', 'policy-b had one reference');
    assert.equal(st.get(a2), 'policy-a');
    // Equal text in another string object finds the same id.
    assert.equal(st.acquire(['policy', 'a'].join('-'), 3), a2);
    st.clear();
    assert.equal(st.size, 0);
    assert.equal(st.acquire('policy-a', 3), 1);
  });
});
