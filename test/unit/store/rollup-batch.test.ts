// rollupBatch (rollup-batch.ts) against the plainest grouping there is: one Map per grain, keyed
// by the key values' text. Batches are made to reach every path of the grouping: keys of one word
// with a small range (grouped by index), keys of several words (hashed), tiers whose batch spans
// one bucket (the groups are the keys) or many, endpoint keys of rows without a Pod (the IP is
// the key) next to rows with one, '' as a value and as "no such key", and rule actions beyond 0-1.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AggregatedFlowRecord, FlowType, RuleAction } from '../../../src/flow/record.js';
import { completeBatch, encodeRows, type EncodedBatch } from '../../../src/store/columnar.js';
import { rollupBatch, RollupScratch } from '../../../src/store/rollup-batch.js';
import { ALL_KEYS, DUCKDB_ROLLUP_COLUMNS, GRAINS, ROLLUP_MEASURES } from '../../../src/store/rollups.js';
import { COLUMNS } from '../../../src/store/schema.js';
import { ipNet } from '../../../src/store/ip-key.js';
import { flow, T0 } from './fixtures.js';

/** The value of a key of a raw record as the rollup's SQL computes it (rollups.ts expr). */
function keyValue(r: AggregatedFlowRecord, name: string, expr: string): string | number {
  if (name === 'sourceIPNet') return ipNet(r.sourceAddress);
  if (name === 'destinationIPNet') return ipNet(r.destinationAddress);
  if (name === 'sourceIP') return expr === name ? r.sourceAddress : r.sourcePodName === '' ? r.sourceAddress : '';
  if (name === 'destinationIP') return expr === name ? r.destinationAddress : r.destinationPodName === '' ? r.destinationAddress : '';
  return (r as unknown as Record<string, string | number>)[name];
}

/** Every rollup row of `records`, as text, sorted: grain, bucket, every key ('' / 0 / -1 when the grain has none), sums, flows. */
function expectedRows(records: readonly AggregatedFlowRecord[]): string[] {
  const out: string[] = [];
  GRAINS.forEach((g, grain) => {
    const groups = new Map<string, { keys: (string | number)[]; sums: number[]; flows: number }>();
    for (const r of records) {
      const bucket = Math.floor(r.flowEndSeconds / g.tier) * g.tier;
      const keys = ALL_KEYS.map((k) => {
        const own = g.spec.keys.find((x) => x.name === k.name);
        if (own) return keyValue(r, own.name, own.expr);
        return k.kind === 'string' ? '' : k.kind === 'i64' ? -1 : 0;
      });
      const id = JSON.stringify([bucket, keys]);
      let group = groups.get(id);
      if (!group) groups.set(id, (group = { keys: [grain, bucket, ...keys], sums: ROLLUP_MEASURES.map(() => 0), flows: 0 }));
      ROLLUP_MEASURES.forEach((m, i) => (group.sums[i] += r[m]));
      group.flows++;
    }
    for (const group of groups.values()) out.push(JSON.stringify([...group.keys, ...group.sums, group.flows]));
  });
  return out.sort();
}

/** rollupBatch's rows as text, sorted, with its column order checked against the table's. */
function actualRows(rolled: EncodedBatch): string[] {
  assert.equal(rolled.columns.length, DUCKDB_ROLLUP_COLUMNS.length);
  const out: string[] = [];
  for (let row = 0; row < rolled.rows; row++) {
    out.push(JSON.stringify(rolled.columns.map((c) => (c.kind === 'number' ? c.values[row] : c.dictionary[c.indexes[row]]))));
  }
  return out.sort();
}

function records(n: number, seed: number, span: number, podless: number): AggregatedFlowRecord[] {
  let x = seed;
  const rnd = (m: number) => {
    x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    return x % m;
  };
  return Array.from({ length: n }, (_, i) => {
    const s = rnd(300);
    const d = rnd(300);
    const pol = rnd(4);
    return flow({
      sourcePodNamespace: `ns-${s % 7}`,
      sourcePodName: rnd(100) < podless ? '' : `src-${s}`,
      sourceAddress: rnd(50) === 0 ? `fd00::${s.toString(16)}` : `10.${s % 3}.${s % 11}.${rnd(40)}`,
      sourceNodeName: `node-${s % 5}`,
      destinationPodNamespace: d % 9 === 0 ? '' : `ns-${d % 7}`,
      destinationPodName: rnd(100) < podless ? '' : `dst-${d}`,
      destinationAddress: rnd(30) === 0 ? '' : `192.168.${d % 13}.${d % 17}`,
      destinationNodeName: `node-${d % 5}`,
      flowType: (1 + rnd(4)) as FlowType,
      ingressNetworkPolicyNamespace: pol === 0 ? '' : `ns-${pol}`,
      ingressNetworkPolicyName: pol === 0 ? '' : `policy-${rnd(20)}`,
      ingressNetworkPolicyRuleAction: (pol === 0 ? 0 : rnd(4)) as RuleAction,
      egressNetworkPolicyName: pol === 3 ? `egress-${rnd(3)}` : '',
      egressNetworkPolicyNamespace: pol === 3 ? 'ns-e' : '',
      egressNetworkPolicyRuleAction: (pol === 3 ? 1 + rnd(3) : 0) as RuleAction,
      flowEndSeconds: T0 + Math.floor((i * span) / n),
      octetDeltaCount: rnd(100_000),
      packetDeltaCount: rnd(100),
      reverseOctetDeltaCount: rnd(100_000),
      reversePacketDeltaCount: rnd(100),
    });
  });
}

describe('rollupBatch', () => {
  const scratch = new RollupScratch();
  const cases: [string, AggregatedFlowRecord[]][] = [
    ['a batch of 10 seconds (one bucket of every tier but the minute), every Pod named', records(4000, 1, 10, 0)],
    ['a batch of 10 seconds, a third of the endpoints without a Pod', records(4000, 2, 10, 33)],
    ['a batch of a day (many buckets of every tier), some endpoints without a Pod', records(6000, 3, 86_400, 10)],
    ['a batch of one row', records(1, 4, 1, 100)],
  ];
  for (const [name, batch] of cases) {
    it(`groups ${name} as the rows' plain grouping does`, () => {
      for (const options of [{ repeatedValues: true, wideIndexes: true }, {}]) {
        const encoded = completeBatch(encodeRows(batch, T0), COLUMNS, { dictionariesOnly: true, ...options });
        assert.deepEqual(actualRows(rollupBatch(encoded, scratch)), expectedRows(batch));
      }
    });
  }

  it('keeps one "" per key column whether it comes from a value or from a grain without the key', () => {
    const rolled = rollupBatch(completeBatch(encodeRows(records(3000, 5, 600, 20), T0), COLUMNS, { dictionariesOnly: true }), scratch);
    for (const column of rolled.columns) {
      if (column.kind === 'number') continue;
      assert.equal(new Set(column.dictionary).size, column.dictionary.length);
      assert.ok(column.dictionary.includes(''));
    }
  });
});
