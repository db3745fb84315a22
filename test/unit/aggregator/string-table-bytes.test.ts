// The string table's byte index (StringTable.idOf): a name found by its UTF-8 bytes has the same
// id as the same text found by text, in either order; lengths around every word boundary,
// non-ASCII and invalid UTF-8; ids freed late (sweep) and the index kept whole across removals
// and growth.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { StringTable } from '../../../src/aggregator/string-table.js';

/** The id of `bytes` placed at `at` inside a larger buffer (as names sit in a message). */
function idOfBytes(st: StringTable, bytes: Uint8Array, at = 3): number {
  const b = Buffer.alloc(at + bytes.length + 5, 0xee);
  b.set(bytes, at);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return st.idOf(b, dv, at, at + bytes.length);
}

const utf8 = (s: string) => Buffer.from(s, 'utf8');

describe('StringTable.idOf', () => {
  it('finds names of every length from 1 to 70 bytes by bytes and by text, to the same id', () => {
    const st = new StringTable();
    const names = Array.from({ length: 70 }, (_, i) => 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(2).slice(0, i + 1));
    // Every other name is first seen as text, the rest as bytes.
    const ids = names.map((n, i) => (i % 2 === 0 ? st.acquire(n) : idOfBytes(st, utf8(n), i % 5)));
    for (let i = 0; i < names.length; i++) {
      assert.equal(idOfBytes(st, utf8(names[i]), 7), ids[i], names[i]);
      assert.equal(st.intern(names[i]), ids[i]);
      assert.equal(st.get(ids[i]), names[i]);
    }
    assert.equal(new Set(ids).size, names.length);
    // Names of up to 64 bytes are indexed by their bytes; longer ones go by text.
    assert.equal(st.indexedNames, 64);
  });

  it('tells apart names that differ in one byte anywhere, including the bytes the hash skips', () => {
    const st = new StringTable();
    const base = 'service-12-deployment-7d9c8b6f5-abcde';
    const variants = [base];
    for (let i = 0; i < base.length; i++) variants.push(base.slice(0, i) + 'Z' + base.slice(i + 1));
    const ids = variants.map((v) => idOfBytes(st, utf8(v)));
    assert.equal(new Set(ids).size, variants.length);
    variants.forEach((v, i) => assert.equal(st.get(ids[i]), v));
    variants.forEach((v, i) => assert.equal(idOfBytes(st, utf8(v), 1), ids[i]));
  });

  it('decodes UTF-8 names, and gives invalid bytes the id of their decoded text every time', () => {
    const st = new StringTable();
    const ns = idOfBytes(st, utf8('équipe-données'));
    assert.equal(st.get(ns), 'équipe-données');
    assert.equal(st.intern('équipe-données'), ns);
    // 0xff and 0xfe are both invalid UTF-8: both decode to U+FFFD.
    const a = idOfBytes(st, Uint8Array.from([0x61, 0xff]));
    const b = idOfBytes(st, Uint8Array.from([0x61, 0xfe]));
    assert.equal(a, b);
    assert.equal(st.get(a), 'a\ufffd');
    assert.equal(idOfBytes(st, Uint8Array.from([0x61, 0xfe])), a);
    assert.equal(idOfBytes(st, Uint8Array.from([0x61, 0xff])), a);
  });

  it('keeps an id interned by bytes until the sweep after it, and frees it there unless a flow took it', () => {
    const st = new StringTable();
    const kept = idOfBytes(st, utf8('kept-pod'));
    const dropped = idOfBytes(st, utf8('dropped-pod'));
    st.acquireId(kept);
    assert.equal(st.get(dropped), 'dropped-pod', 'valid until the sweep');
    st.sweep();
    assert.equal(st.get(dropped), '');
    assert.equal(st.peek('dropped-pod'), -1);
    assert.equal(st.get(kept), 'kept-pod');
    assert.equal(idOfBytes(st, utf8('kept-pod')), kept);
    // The freed id is reused, and its old bytes no longer find it.
    const other = idOfBytes(st, utf8('another-pod'));
    assert.equal(other, dropped);
    assert.equal(st.get(other), 'another-pod');
    const again = idOfBytes(st, utf8('dropped-pod'));
    assert.notEqual(again, other);
    assert.equal(st.get(again), 'dropped-pod');
  });

  it('agrees with a model under any mix of lookups by bytes and text, references, releases and sweeps', () => {
    const alphabet = ['a', 'b', 'pod-', '-x', 'é', '0123456789'];
    const name = fc.array(fc.constantFrom(...alphabet), { minLength: 1, maxLength: 12 }).map((p) => p.join(''));
    const op = fc.oneof(
      fc.record({ kind: fc.constant('bytes' as const), name }),
      fc.record({ kind: fc.constant('text' as const), name }),
      fc.record({ kind: fc.constant('release' as const), k: fc.nat() }),
      fc.record({ kind: fc.constant('sweep' as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
        const st = new StringTable();
        const held: { id: number; text: string }[] = [];
        for (const o of ops) {
          if (o.kind === 'bytes' || o.kind === 'text') {
            const id = o.kind === 'bytes' ? idOfBytes(st, utf8(o.name)) : st.intern(o.name);
            assert.equal(st.get(id), o.name);
            st.acquireId(id);
            held.push({ id, text: o.name });
          } else if (o.kind === 'release' && held.length > 0) {
            const [h] = held.splice(o.k % held.length, 1);
            st.release(h.id);
          } else if (o.kind === 'sweep') {
            st.sweep();
          }
          for (const h of held) assert.equal(st.get(h.id), h.text);
        }
        st.sweep();
        // Exactly the held names remain, each found by bytes and by text.
        const texts = new Set(held.map((h) => h.text));
        assert.equal(st.size, texts.size);
        for (const h of held) {
          assert.equal(idOfBytes(st, utf8(h.text)), h.id);
          assert.equal(st.peek(h.text), h.id);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('finds every remaining name after the index grows and half the names are freed', () => {
    const st = new StringTable();
    const names = Array.from({ length: 5000 }, (_, i) => `ns-${i % 50}/pod-${(i * 7919).toString(36)}`);
    const ids = names.map((n) => idOfBytes(st, utf8(n)));
    ids.forEach((id, i) => i % 2 === 0 && st.acquireId(id));
    st.sweep();
    assert.equal(st.size, 2500);
    assert.equal(st.indexedNames, 2500);
    names.forEach((n, i) => {
      if (i % 2 === 0) assert.equal(idOfBytes(st, utf8(n)), ids[i]);
      else assert.equal(st.peek(n), -1);
    });
  });
});
