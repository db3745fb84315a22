// Demo benchmarks.
//
// demo.simulate: the simulator alone (traffic model, policy attribution, per-Node records) over
//   one simulated evening hour (720 windows of 5 s, 3 Nodes, rate 1). value = simulated records
//   per second of wall time; also how many times faster than real time the hour runs.
// demo.backfill: `flowvis demo` start-up with a 1 h backfill (store in a temp directory, ports 0):
//   simulator -> 3 ExportingProcesses -> IPFIX/TCP -> FlowAggregator -> DuckDB store. value =
//   seconds from start() to the UI URL; records/s through the whole path is reported too.
//
// Sample (npm run bench -- demo, Node v20.20.2, Intel(R) Xeon(R) Processor, 2 cores):
//   {"name":"demo.simulate","value":185042,"unit":"records/s","records":202118,"connections":67530,"timesRealTime":3296}
//   {"name":"demo.backfill","value":4.18,"unit":"s","backfill":"1h","records":88637,"recordsPerSecond":21183,"received":88637,"dropped":0}
//   (the backfill ends at the moment it runs, so its record count follows the hour of the day; this
//   one ran in the evening.) The backfill is paced by the aggregator, not by the simulator.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCluster } from '../src/demo/cluster.js';
import { DemoRunner } from '../src/demo/runner.js';
import { ClusterSimulator } from '../src/demo/simulator.js';
import type { Benchmark } from './harness.js';

const EVENING = Date.UTC(2024, 0, 1, 19);

export const benchmarks: Benchmark[] = [
  {
    name: 'demo.simulate',
    async run() {
      const sim = new ClusterSimulator(buildCluster({ seed: 1, nodes: 3 }), { seed: 1, rate: 1, utcOffsetMinutes: 0, windowMs: 5000 });
      const k0 = sim.windowOf(EVENING);
      let records = 0;
      const start = process.hrtime.bigint();
      for (let k = k0; k < k0 + 720; k++) for (const rs of sim.runWindow(k).records.values()) records += rs.length;
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      return { name: 'demo.simulate', value: Math.round(records / seconds), unit: 'records/s', records, connections: sim.stats().connectionsOpened, timesRealTime: Math.round(3600 / seconds) };
    },
  },
  {
    name: 'demo.backfill',
    async run() {
      const dir = mkdtempSync(join(tmpdir(), 'flowvis-demo-bench-'));
      const runner = new DemoRunner({ dataDir: dir, listen: '127.0.0.1:0', collect: '127.0.0.1:0', backfill: '1h' });
      try {
        const start = process.hrtime.bigint();
        await runner.start();
        const seconds = Number(process.hrtime.bigint() - start) / 1e9;
        const b = runner.status().backfill;
        const m = runner.aggregatorService!.metrics();
        return { name: 'demo.backfill', value: Number(seconds.toFixed(2)), unit: 's', backfill: '1h', records: b.records, recordsPerSecond: Math.round(b.records / seconds), received: m.recordsReceived, dropped: m.recordsDropped };
      } finally {
        await runner.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  },
];
