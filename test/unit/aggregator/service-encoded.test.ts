// The service with the IPFIX sink alone exports IPv4 flows encoded, straight to the sink's
// exporting process; when they cannot leave (no collector), they are dropped and counted in the
// aggregator's recordsDropped, not lost silently.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAggregatorConfig } from '../../../src/aggregator/config.js';
import { FlowAggregator } from '../../../src/aggregator/service.js';
import { FlowType } from '../../../src/flow/record.js';
import { ManualClock } from '../../../src/util/clock.js';
import { NODE_A, flowRecord } from './fixtures.js';

describe('FlowAggregator with the IPFIX sink alone', () => {
  it('counts encoded records the exporting process could not send as dropped', async () => {
    // A port with nothing listening: the exporting process never connects.
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const dir = mkdtempSync(join(tmpdir(), 'flowvis-agg-encoded-'));
    try {
      const config = parseAggregatorConfig({
        sinks: ['ipfix'], externalFlowCollectorAddr: `127.0.0.1:${port}:tcp`, aggregatorTransportProtocol: 'tcp',
        listenAddress: '127.0.0.1', listenPort: 0, apiAddress: '',
      }, dir);
      const aggregator = new FlowAggregator(config, { clock: new ManualClock(), tickMs: 0 });
      await aggregator.start();
      for (let i = 0; i < 3; i++) {
        assert.equal(aggregator.aggregation.ingest(flowRecord({ sourceTransportPort: 1000 + i, flowType: FlowType.intraNode }), NODE_A), true);
      }
      await aggregator.stop();
      const m = aggregator.metrics();
      assert.equal(m.recordsExported, 3);
      assert.equal(m.recordsDropped, 3, 'queued in the exporting process when it closed, never sent');
      assert.deepEqual(m.sinks.map((s) => [s.sink, s.accepted]), [['ipfix', 0]], 'IPv4 records did not pass the sink buffer');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
