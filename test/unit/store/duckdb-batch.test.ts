// The embedded store's columnar insert path: encodeBatch and the flowvis_batch table function.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeBatch } from '../../../src/store/columnar.js';
import { DuckDbRepository } from '../../../src/store/duckdb.js';
import { FlowQueries, parseFlowQuery } from '../../../src/store/query.js';
import { COLUMNS, COLUMN_NAMES } from '../../../src/store/schema.js';
import { ipKey } from '../../../src/store/ip-key.js';
import { flow, T0 } from './fixtures.js';

describe('encodeBatch', () => {
  it('keeps numbers as doubles and low-cardinality strings as a dictionary with narrow indexes', () => {
    const records = [flow({ sourcePodName: 'a', octetDeltaCount: 7 }), flow({ sourcePodName: 'b' }), flow({ sourcePodName: 'a' })];
    const b = encodeBatch(records, T0);
    assert.equal(b.rows, 3);
    const pod = b.columns[COLUMN_NAMES.indexOf('sourcePodName')];
    assert.equal(pod.kind, 'dictionary');
    if (pod.kind !== 'dictionary') return;
    assert.deepEqual(pod.dictionary, ['a', 'b']);
    assert.ok(pod.indexes instanceof Uint8Array);
    assert.deepEqual([...pod.indexes], [0, 1, 0]);
    const octets = b.columns[COLUMN_NAMES.indexOf('octetDeltaCount')];
    assert.equal(octets.kind, 'number');
    if (octets.kind === 'number') assert.deepEqual([...octets.values], [7, 0, 0]);
    const inserted = b.columns[COLUMN_NAMES.indexOf('timeInserted')];
    if (inserted.kind === 'number') assert.deepEqual([...inserted.values], [T0, T0, T0]);
  });

  it('derives the IP keys once per distinct address, on the address column\'s indexes', () => {
    const records = [flow({ sourceAddress: '10.0.0.1' }), flow({ sourceAddress: 'fd00::5' }), flow({ sourceAddress: '10.0.0.1' })];
    const b = encodeBatch(records, T0);
    const key = b.columns[COLUMN_NAMES.indexOf('sourceIPKey')];
    assert.equal(key.kind, 'dictionary');
    if (key.kind !== 'dictionary') return;
    assert.deepEqual(key.dictionary, [ipKey('10.0.0.1'), ipKey('fd00::5')]);
    assert.deepEqual([...key.indexes], [0, 1, 0]);
  });

  it('sends mostly-distinct string columns value by value, and widens indexes past 255 members', () => {
    const n = 70_000;
    const records = Array.from({ length: n }, (_, i) => flow({ sourceAddress: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, sourcePodName: `p-${i % 300}` }));
    const b = encodeBatch(records, T0);
    const ip = b.columns[COLUMN_NAMES.indexOf('sourceIP')];
    assert.equal(ip.kind, 'strings');
    if (ip.kind === 'strings') assert.equal(ip.dictionary[ip.indexes[n - 1]], `10.1.17.111`);
    const pod = b.columns[COLUMN_NAMES.indexOf('sourcePodName')];
    assert.ok(pod.kind === 'dictionary' && pod.indexes instanceof Uint16Array);
    const only = encodeBatch(records.slice(0, 1000), T0, COLUMNS.filter((c) => c.name === 'sourceIP'));
    assert.equal(only.columns.length, 1);
    assert.equal(only.columns[0].kind, 'dictionary', 'a batch of at most one chunk keeps its dictionary');
  });
});

describe('embedded store insert through flowvis_batch', () => {
  let repo: DuckDbRepository;
  before(async () => {
    repo = await DuckDbRepository.open(':memory:');
  });
  after(async () => {
    await repo.close();
  });

  it('stores every row of a large batch with its strings, dictionary and value-by-value columns alike', async () => {
    const n = 10_000;
    const records = Array.from({ length: n }, (_, i) =>
      flow({
        sourceAddress: `10.1.${(i >> 8) & 255}.${i & 255}`,
        sourcePodNamespace: 'shop',
        sourcePodName: `web-${i % 3}`,
        ingressNetworkPolicyRuleName: i === 5 ? "rule'x\\y\tz ü" : '',
        flowEndSeconds: T0 + (i % 3600),
        octetDeltaCount: i,
      }),
    );
    await repo.insertFlows(records, T0 + 5);
    assert.equal(await repo.countFlows(), n);
    const [r] = await repo.select(
      "SELECT CAST(sum(octetDeltaCount) AS DOUBLE) AS s, count(DISTINCT sourceIP) AS ips, count(DISTINCT sourceIPKey) AS keys, max(timeInserted) AS t FROM flows",
    );
    assert.deepEqual(r, { s: (n * (n - 1)) / 2, ips: n, keys: n, t: T0 + 5 });
    const [k] = await repo.select("SELECT sourceIPKey AS k FROM flows WHERE sourceIP = '10.1.39.15'");
    assert.equal(k.k, ipKey('10.1.39.15'));
    const [rule] = await repo.select("SELECT ingressNetworkPolicyRuleName AS n FROM flows WHERE ingressNetworkPolicyRuleName != ''");
    assert.equal(rule.n, "rule'x\\y\tz ü");
    const top = await new FlowQueries(repo).top(parseFlowQuery({ from: String(T0), to: String(T0 + 3600) }, T0));
    assert.deepEqual(top.items.map((t) => t.endpoint), ['shop/web-0', 'shop/web-2', 'shop/web-1']);
  });

  it('leaves nothing behind when a batch fails', async () => {
    const before = await repo.countFlows();
    // The flows go in, then the batch's rollup rows fail (their table is away): the whole
    // transaction rolls back. (An out-of-range value no longer fails a batch: it is clamped.)
    await repo.execute('ALTER TABLE rollup_rows RENAME TO rollup_rows_away');
    try {
      await assert.rejects(repo.insertFlows([flow({}), flow({ flowEndReason: 300 as never })], T0), { code: 'STORE_ERR_UNAVAILABLE' });
    } finally {
      await repo.execute('ALTER TABLE rollup_rows_away RENAME TO rollup_rows');
    }
    assert.equal(await repo.countFlows(), before);
    await repo.insertFlows([flow({ flowEndReason: 300 as never })], T0);
    assert.equal(await repo.countFlows(), before + 1, 'the store takes batches again');
  });
});

describe('encodeBatch with derived keys that coincide', () => {
  it('keeps a derived dictionary distinct when two addresses have one key, and stores both rows', async () => {
    const records = [flow({ sourceAddress: 'fd00::1' }), flow({ sourceAddress: 'fd00:0::1' }), flow({ sourceAddress: 'not-an-ip' }), flow({ sourceAddress: '' })];
    const b = encodeBatch(records, T0);
    const key = b.columns[COLUMN_NAMES.indexOf('sourceIPKey')];
    assert.ok(key.kind === 'dictionary');
    if (key.kind !== 'dictionary') return;
    assert.deepEqual(key.dictionary, [ipKey('fd00::1'), '']);
    assert.deepEqual([...key.indexes], [0, 0, 1, 1]);
    const repo = await DuckDbRepository.open(':memory:');
    try {
      await repo.insertFlows(records, T0);
      const rows = await repo.select('SELECT sourceIP, sourceIPKey FROM flows ORDER BY sourceIP');
      assert.deepEqual(rows, [
        { sourceIP: '', sourceIPKey: '' },
        { sourceIP: 'fd00:0::1', sourceIPKey: ipKey('fd00::1') },
        { sourceIP: 'fd00::1', sourceIPKey: ipKey('fd00::1') },
        { sourceIP: 'not-an-ip', sourceIPKey: '' },
      ]);
    } finally {
      await repo.close();
    }
  });
});
