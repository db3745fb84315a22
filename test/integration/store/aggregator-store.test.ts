// The aggregator with `store` configured: flushed records land in the embedded store, with a
// counter snapshot, and a bad store key is refused with the key's name.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAggregatorConfig } from '../../../src/aggregator/config.js';
import { FlowAggregator } from '../../../src/aggregator/service.js';
import { FlowType } from '../../../src/flow/record.js';
import { DuckDbRepository } from '../../../src/store/duckdb.js';
import { FlowQueries, parseFlowQuery } from '../../../src/store/query.js';
import { ManualClock } from '../../../src/util/clock.js';
import { A, C, T0 } from '../../unit/store/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'flowvis-agg-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('aggregator storage sink', () => {
  it('writes what the aggregator exports into the store named by the config', async () => {
    const config = parseAggregatorConfig({ sinks: [], aggregatorTransportProtocol: 'tcp', listenAddress: '127.0.0.1', listenPort: 0, apiAddress: '', store: { url: 'store', commitInterval: '1h' } }, dir);
    assert.equal(config.store?.url, join(dir, 'store'));
    const aggregator = new FlowAggregator(config, { clock: new ManualClock((T0 + 10) * 1000), tickMs: 0 });
    await aggregator.start();
    const from = { address: '192.168.0.10', observationDomainId: 1 };
    assert.ok(aggregator.aggregation.ingest({ ...A, flowType: FlowType.intraNode }, from));
    assert.ok(aggregator.aggregation.ingest(C, from));
    await aggregator.stop();

    const repo = await DuckDbRepository.open(join(dir, 'store'));
    const q = new FlowQueries(repo);
    const flows = await q.flows(parseFlowQuery({ from: String(T0 - 60), to: String(T0 + 3600) }, T0));
    assert.deepEqual(flows.items.map((f) => f.sourcePodName).sort(), ['web-1', 'web-2']);
    assert.equal(flows.completeness.snapshots, 1);
    assert.equal(flows.completeness.recordsDropped, 0);
    await repo.close();
  });

  it('refuses a store map without url, naming the key', () => {
    assert.throws(() => parseAggregatorConfig({ store: { commitInterval: '1s' } }, dir), { code: 'AGG_ERR_INVALID_CONFIG', message: /store/ });
  });
});
