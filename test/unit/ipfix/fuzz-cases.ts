// The fuzz properties of fuzz.test.ts (which runs them in a worker, to catch a hang). Inputs are random bytes, and mutations (byte flips, truncation, inserted
// bytes) of valid messages, which reach far deeper into the decoder than random bytes do.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { IpfixError, MessageDecoder, MessageWriter } from '../../../src/ipfix/index.js';
import { EXPORTER_IPV4_TEMPLATE, EXPORTER_IPV6_TEMPLATE, flowRecordToDataRecord } from '../../../src/flow/ie-mapping.js';
import { flowRecord, rng } from '../../fixtures/ipfix/flows.js';
import { message, optionsTemplateRecord, set, templateRecord, varField } from '../../fixtures/ipfix/build.js';

function seeds(): Buffer[] {
  const r = rng(7);
  const w = new MessageWriter({ observationDomainId: 1, maxMessageSize: 1400 });
  w.addTemplate(EXPORTER_IPV4_TEMPLATE);
  w.addTemplate(EXPORTER_IPV6_TEMPLATE);
  return [
    ...w.templateMessages(),
    ...w.encodeRecords(256, [flowRecordToDataRecord(flowRecord(r, 4)), flowRecordToDataRecord(flowRecord(r, 4))]),
    ...w.encodeRecords(257, [flowRecordToDataRecord(flowRecord(r, 6))]),
    message([
      set(2, [templateRecord(300, [{ id: 82, length: 0xffff }, { id: 1, length: 4 }, { id: 276, length: 1 }, { id: 7, length: 3, enterprise: 9 }])]),
      set(3, [optionsTemplateRecord(301, 1, [{ id: 149, length: 4 }, { id: 154, length: 8 }, { id: 156, length: 8 }])], { padding: 2 }),
      set(300, [Buffer.concat([varField('eth0', true), Buffer.from([0, 0, 0, 1, 1, 1, 2, 3])])]),
      set(301, [Buffer.alloc(20, 0x41)]),
    ]),
  ];
}

/** Decodes with a fresh decoder primed by every seed (so mutated data sets find templates). */
function decodeChecked(primers: readonly Buffer[], input: Uint8Array): void {
  const d = new MessageDecoder();
  for (const p of primers) {
    try {
      d.decode(p);
    } catch {
      // a primer may be the mutated one's original; it is valid, so this does not happen
    }
  }
  try {
    const m = d.decode(input);
    // Whatever decodes must be well-formed.
    assert.ok(m.header.length >= 16 && m.header.length <= input.length);
    for (const s of m.dataSets) assert.ok(Array.isArray(s.records));
  } catch (e) {
    if (!(e instanceof IpfixError)) throw e;
  }
}

const valid = seeds();

export function randomBytes(): void {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), (bytes) => {
      decodeChecked([], bytes);
      // also with a valid-looking header in front, to get past the version check
      const framed = Buffer.concat([Buffer.from([0, 10, (bytes.length + 16) >> 8, (bytes.length + 16) & 0xff]), Buffer.alloc(12), bytes]);
      decodeChecked(valid, framed);
    }),
    { numRuns: 3000, seed: 1 },
  );
}

export function mutatedMessages(): void {
  const mutation = fc.record({
    which: fc.nat({ max: valid.length - 1 }),
    flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
    cut: fc.option(fc.nat(), { nil: undefined }),
    insert: fc.option(fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 })), { nil: undefined }),
  });
  fc.assert(
    fc.property(mutation, ({ which, flips, cut, insert }) => {
      let b = Buffer.from(valid[which]);
      for (const [at, v] of flips) b[at % b.length] = v;
      if (insert) {
        const at = insert[0] % b.length;
        b = Buffer.concat([b.subarray(0, at), insert[1], b.subarray(at)]);
      }
      if (cut !== undefined) b = b.subarray(0, cut % (b.length + 1));
      decodeChecked(valid.filter((_, i) => i !== which), b);
      decodeChecked(valid, b);
    }),
    { numRuns: 3000, seed: 2 },
  );
}

export function boundedMemory(): void {
  const d = new MessageDecoder();
  for (const m of valid) d.decode(m);
  const r = rng(3);
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 20000; i++) {
    const b = Buffer.from(valid[i % valid.length]);
    b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
    try {
      d.decode(b);
    } catch (e) {
      if (!(e instanceof IpfixError)) throw e;
    }
  }
  // Templates are keyed by (domain, ID): mutated IDs add entries, but far fewer than the
  // mutations, and the heap does not run away.
  assert.ok(d.templates.size < 5000, `${d.templates.size} templates`);
  assert.ok(process.memoryUsage().heapUsed - before < 200 * 1024 * 1024);
}

export const FUZZ_CASES = { randomBytes, mutatedMessages, boundedMemory };
