// The aggregator's /metrics with a flow store: the real FlowAggregator hands its storage sink's
// repository to the metrics (AggregatorQuerier.storeRepository), so the embedded store's health
// (store/health.ts) is served once the store is open; a querier without a store serves none.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { aggregatorRegistry, buildAggregatorApi } from '../../../src/aggregator/api.js';
import { parseAggregatorConfig } from '../../../src/aggregator/config.js';
import { FlowAggregator } from '../../../src/aggregator/service.js';
import { ManualClock } from '../../../src/util/clock.js';
import { zeroRecordMetrics } from '../../fixtures/record-metrics.js';

const dir = mkdtempSync(join(tmpdir(), 'flowvis-agg-store-metrics-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('aggregator /metrics with a flow store', () => {
  it("serves the embedded store's job counters and file gauges, labelled with the store's directory", async () => {
    const store = join(dir, 'store');
    const config = parseAggregatorConfig({ sinks: [], store: { url: store, commitInterval: '50ms' }, aggregatorTransportProtocol: 'tcp' }, dir);
    const aggregator = new FlowAggregator(config, { clock: new ManualClock(), tickMs: 0 });
    const app = buildAggregatorApi(aggregator);
    try {
      // The storage sink opens the store at its first commit (its own timer); wait for it, bounded.
      for (let i = 0; i < 400 && aggregator.storeRepository() === null; i++) await sleep(50);
      assert.notEqual(aggregator.storeRepository(), null, 'the storage sink opened the store');
      const res = await app.inject({ method: 'GET', url: '/metrics' });
      assert.equal(res.statusCode, 200);
      for (const job of ['fold', 'compaction', 'rollupCompaction']) {
        assert.match(res.body, new RegExp(`^flowvis_store_job_failures_total\\{store="${store}",job="${job}"\\} 0$`, 'm'));
        assert.match(res.body, new RegExp(`^flowvis_store_job_consecutive_failures\\{store="${store}",job="${job}"\\} 0$`, 'm'));
      }
      assert.match(res.body, new RegExp(`^flowvis_store_rollup_files_waiting\\{store="${store}"\\} 0$`, 'm'));
      assert.match(res.body, new RegExp(`^flowvis_store_file_bytes\\{store="${store}"\\} 0$`, 'm'));
      assert.match(res.body, /^# TYPE flowvis_store_segments gauge$/m);
      assert.doesNotMatch(res.body, /^flowvis_store_job_last_error\{/m);
      // The storage sink's own counters, from the real aggregator (FlowAggregator.storeSinkStats).
      const sink = aggregator.storeSinkStats();
      assert.ok(sink !== null, 'the aggregator reports its storage sink');
      assert.equal(sink.dropped, 0);
      assert.match(res.body, /^flowvis_aggregator_store_records_dropped_total 0$/m);
      assert.match(res.body, /^flowvis_aggregator_store_failed_commits_total 0$/m);
    } finally {
      await app.close();
      await aggregator.stop();
    }
  });

  it('serves no store series without a store, and the store sink numbers when the querier has them', async () => {
    const none = await aggregatorRegistry({ records: () => [], metrics: zeroRecordMetrics, storeRepository: () => null }).metrics();
    assert.doesNotMatch(none, /^flowvis_store_\w+\{/m);
    const sink = { pending: 7, written: 10, dropped: 3, failedCommits: 2, retainedFlows: 11, connected: false, lastError: 'down' };
    const text = await aggregatorRegistry({ records: () => [], metrics: zeroRecordMetrics, storeSinkStats: () => sink }).metrics();
    assert.match(text, /^flowvis_aggregator_store_records_dropped_total 3$/m);
    assert.match(text, /^flowvis_aggregator_store_failed_commits_total 2$/m);
    assert.match(text, /^flowvis_aggregator_store_records_pending 7$/m);
    assert.match(text, /^flowvis_aggregator_store_retained_flows_total 11$/m);
  });
});
