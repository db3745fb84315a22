// Rollup planning, and rollups against raw rows in the embedded store (ClickHouse:
// test/integration/store/clickhouse-rollups.test.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AggregatedFlowRecord } from '../../../src/flow/record.js';
import { DuckDbRepository } from '../../../src/store/duckdb.js';
import { planSegments, rollupCanFilter, rollup } from '../../../src/store/rollups.js';
import { rollupContract } from './rollup-contract.js';

describe('planSegments', () => {
  it('covers a range with whole hours, then whole 10 minutes at either end, then raw seconds', () => {
    assert.deepEqual(planSegments(3600 + 125, 5 * 3600 + 1999, [3600, 600]), [
      { tier: 0, from: 3725, to: 4200 },
      { tier: 600, from: 4200, to: 7200 },
      { tier: 3600, from: 7200, to: 18000 },
      { tier: 600, from: 18000, to: 19800 },
      { tier: 0, from: 19800, to: 19999 },
    ]);
  });

  it('uses raw rows alone when no whole bucket fits, and skips tiers a query cannot use', () => {
    assert.deepEqual(planSegments(100, 500, [3600, 600]), [{ tier: 0, from: 100, to: 500 }]);
    assert.deepEqual(planSegments(0, 7200, [3600, 60], (t) => 300 % t === 0), [{ tier: 60, from: 0, to: 7200 }]);
    assert.deepEqual(planSegments(0, 7200, [3600, 60]), [{ tier: 3600, from: 0, to: 7200 }]);
  });

  it('keeps every second of the range exactly once', () => {
    for (const [from, to] of [[1, 100_000], [3599, 3601], [7200, 7200 + 86400 * 2 + 17]]) {
      const segs = planSegments(from, to, [3600, 600]);
      assert.equal(segs[0].from, from);
      assert.equal(segs[segs.length - 1].to, to);
      for (let i = 1; i < segs.length; i++) assert.equal(segs[i].from, segs[i - 1].to);
      for (const s of segs) if (s.tier > 0) assert.equal(s.from % s.tier + (s.to % s.tier), 0);
    }
  });
});

describe('rollupCanFilter', () => {
  it('says yes only when every filter is among the rollup keys and no insert cursor is given', () => {
    assert.equal(rollupCanFilter(rollup('pods'), { namespace: 'a', pod: { namespace: null, name: 'b' } }, null), true);
    assert.equal(rollupCanFilter(rollup('pods'), { port: 53 }, null), false);
    assert.equal(rollupCanFilter(rollup('nodes'), { node: 'n', flowType: 2 }, null), true);
    assert.equal(rollupCanFilter(rollup('totals'), {}, 5), false);
  });
});

rollupContract('embedded (DuckDB)', {
  open: () => DuckDbRepository.open(':memory:'),
  compact: (repo) => (repo as DuckDbRepository).compact(),
});

describe('embedded store rollup rows', () => {
  it('numbers groups of key parts whose widths multiply past 2^32 without merging neighbours', async () => {
    const { RollupScratch } = await import('../../../src/store/rollup-batch.js');
    // (a, b) and (a, b + 1) for large a: packed into one 32-bit word they would collide.
    const width = 2 ** 30;
    const a = Uint32Array.from([width - 1, width - 1, width - 1, 5, width - 1]);
    const b = Uint32Array.from([7, 8, 7, 8, 9]);
    const c = Uint32Array.from([0, 0, 0, 0, 1]);
    const scratch = new RollupScratch();
    const g = scratch.group(
      [
        { kind: 'indexes', indexes: a, width },
        { kind: 'indexes', indexes: b, width },
        { kind: 'indexes', indexes: c, width: 2 },
      ],
      5,
      0,
    );
    assert.equal(g.count, 4);
    assert.deepEqual([...g.ids], [0, 1, 0, 2, 3]);
  });

  it('packs narrow parts into one word and still tells every combination apart, table reused between calls', async () => {
    const { RollupScratch } = await import('../../../src/store/rollup-batch.js');
    const scratch = new RollupScratch();
    // 7 x 300 x 256 values: one word; 5,000 rows with every combination seen in a known order.
    const n = 5000;
    const a = Uint32Array.from({ length: n }, (_, i) => i % 7);
    const b = Uint32Array.from({ length: n }, (_, i) => (i * 13) % 300);
    const c = Float64Array.from({ length: n }, (_, i) => (i * 31) % 256);
    const expected = new Map<string, number>();
    const want = Array.from({ length: n }, (_, i) => {
      const key = `${a[i]}/${b[i]}/${c[i]}`;
      if (!expected.has(key)) expected.set(key, expected.size);
      return expected.get(key)!;
    });
    for (let round = 0; round < 2; round++) {
      const g = scratch.group(
        [
          { kind: 'indexes', indexes: a, width: 7 },
          { kind: 'indexes', indexes: b, width: 300 },
          { kind: 'numbers', values: c, offset: 0, width: 256 },
        ],
        n,
        0,
      );
      assert.equal(g.count, expected.size);
      assert.deepEqual([...g.ids], want);
    }
  });

  it('grouped in JS from each batch equal the SQL grouping of the stored rows', async () => {
    const { rollupRecords, H0 } = await import('./rollup-contract.js');
    const { DUCKDB_ROLLUP_COLUMNS, ROLLUP_MEASURES } = await import('../../../src/store/rollups.js');
    const repo = await DuckDbRepository.open(':memory:');
    try {
      const records = rollupRecords(4000, 11);
      for (let off = 0; off < records.length; off += 700) await repo.insertFlows(records.slice(off, off + 700), H0);
      const keys = DUCKDB_ROLLUP_COLUMNS.filter((c) => !(ROLLUP_MEASURES as readonly string[]).includes(c) && c !== 'flows');
      const sums = [...ROLLUP_MEASURES, 'flows'].map((m) => `CAST(sum(${m}) AS DOUBLE) AS ${m}`);
      const snapshot = () => repo.select(`SELECT ${keys.join(', ')}, ${sums.join(', ')} FROM rollups GROUP BY ALL ORDER BY ALL`);
      const fromBatches = await snapshot();
      assert.ok(fromBatches.length > 100);
      await repo.rebuildRollups();
      assert.deepEqual(fromBatches, await snapshot());
    } finally {
      await repo.close();
    }
  });
  it('grouped in JS from one large batch equal the SQL grouping: thousands of groups, and key parts too wide to combine in one number', async () => {
    const { DUCKDB_ROLLUP_COLUMNS, ROLLUP_MEASURES } = await import('../../../src/store/rollups.js');
    const { flow, T0 } = await import('./fixtures.js');
    const repo = await DuckDbRepository.open(':memory:');
    try {
      // 30,000 distinct addresses a side in one /48 each; half the sources and a quarter of the
      // destinations without a Pod (their rollup key is the address): the Pod rollup's key parts
      // multiply past 2^53, and its groups outgrow the grouping table's first size.
      const records = Array.from({ length: 30_000 }, (_, i) =>
        flow({
          sourcePodNamespace: i % 2 ? `ns-${i % 3}` : '',
          sourcePodName: i % 2 ? `p-${i % 50}` : '',
          sourceAddress: `fd00::${i.toString(16)}`,
          destinationPodNamespace: i % 4 === 1 ? '' : `ns-${i % 4}`,
          destinationPodName: i % 4 === 1 ? '' : `q-${i % 20000}`,
          destinationAddress: `fd01::${i.toString(16)}`,
          sourceNodeName: `n-${i % 13}`,
          destinationNodeName: `n-${i % 11}`,
          flowType: (1 + (i % 3)) as AggregatedFlowRecord['flowType'],
          egressNetworkPolicyName: i % 5 ? '' : `pol-${i % 40}`,
          egressNetworkPolicyNamespace: i % 5 ? '' : 'ns-0',
          egressNetworkPolicyRuleAction: (i % 5 ? 0 : 1 + (i % 3)) as AggregatedFlowRecord['egressNetworkPolicyRuleAction'],
          flowEndSeconds: T0 + ((i * 7919) % (2 * 86400)),
          octetDeltaCount: i,
          packetDeltaCount: i % 17,
          reverseOctetDeltaCount: 3 * i,
          reversePacketDeltaCount: i % 5,
        }),
      );
      await repo.insertFlows(records, T0);
      const keys = DUCKDB_ROLLUP_COLUMNS.filter((c) => !(ROLLUP_MEASURES as readonly string[]).includes(c) && c !== 'flows');
      const sums = [...ROLLUP_MEASURES, 'flows'].map((m) => `CAST(sum(${m}) AS DOUBLE) AS ${m}`);
      const snapshot = () => repo.select(`SELECT ${keys.join(', ')}, ${sums.join(', ')} FROM rollups GROUP BY ALL ORDER BY ALL`);
      const fromBatch = await snapshot();
      assert.ok(fromBatch.length > 20_000, `${fromBatch.length} rollup rows`);
      await repo.rebuildRollups();
      assert.deepEqual(fromBatch, await snapshot());
    } finally {
      await repo.close();
    }
  });
});

describe('a store without rollups (schema 2)', () => {
  it('is written and read from raw rows, also when opened read-only; migrating up fills the rollups from the rows', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { FlowQueries, parseFlowQuery } = await import('../../../src/store/query.js');
    const { rollupRecords, H0 } = await import('./rollup-contract.js');
    const dir = mkdtempSync(join(tmpdir(), 'flowvis-rollups-'));
    const range = { from: String(H0), to: String(H0 + 6 * 3600) };
    try {
      let repo = await DuckDbRepository.open(join(dir, 'store'));
      await repo.migrateTo(2);
      assert.equal(repo.rollups, false);
      await repo.insertFlows(rollupRecords(2000, 3), H0);
      const want = (await new FlowQueries(repo).podEdges(parseFlowQuery({ ...range, insertedAfter: '0' }, H0))).items;
      await repo.close();
      repo = await DuckDbRepository.open(join(dir, 'store'), { readOnly: true });
      assert.equal(repo.rollups, false);
      assert.deepEqual((await new FlowQueries(repo).podEdges(parseFlowQuery(range, H0))).items, want);
      await repo.close();
      repo = await DuckDbRepository.open(join(dir, 'store'));
      assert.equal(repo.rollups, true);
      const [n] = await repo.select('SELECT CAST(count(*) AS DOUBLE) AS n FROM rollups');
      assert.ok(Number(n.n) > 0);
      assert.deepEqual((await new FlowQueries(repo).podEdges(parseFlowQuery(range, H0))).items, want);
      await repo.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('dashboard pages with rollups', () => {
  it('draw the same Overview and Pod-to-Pod data as from raw rows alone', async () => {
    const { DashboardQueries } = await import('../../../src/store/dashboard-queries.js');
    const { parseFlowQuery } = await import('../../../src/store/query.js');
    const { rollupRecords, H0 } = await import('./rollup-contract.js');
    const repo = await DuckDbRepository.open(':memory:');
    try {
      const records = rollupRecords(5000, 21);
      for (let off = 0; off < records.length; off += 1000) await repo.insertFlows(records.slice(off, off + 1000), H0);
      const rawOnly = { dialect: repo.dialect, select: (sql: string) => repo.select(sql) };
      for (const range of [{ from: String(H0), to: String(H0 + 3600) }, { from: String(H0 + 77), to: String(H0 + 9 * 3600 + 5) }, { from: String(H0), to: String(H0 + 3600), namespace: 'ns-1' }]) {
        const q = parseFlowQuery(range, H0);
        const withRollups = new DashboardQueries(repo);
        const raw = new DashboardQueries(rawOnly);
        assert.deepEqual(await withRollups.overview(q), await raw.overview(q));
        assert.deepEqual(await withRollups.podToPod(q), await raw.podToPod(q));
      }
    } finally {
      await repo.close();
    }
  });
});
