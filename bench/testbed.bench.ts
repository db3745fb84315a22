// Testbed costs (root only): building and removing the default topology, and what one Pod's
// traffic agent pushes across Nodes (inter-node TCP: bridge, FORWARD with policy chains,
// conntrack, underlay, both Nodes).
//
// Sample (sudo npm run bench -- testbed; Node v20.20.2, 2 vCPU VM, kernel 6.18):
// (cpu "Intel(R) Xeon(R) Processor", 2 cores)
//   {"name":"testbed.up","value":1541,"unit":"ms","namespaces":11,"commands":127}
//   {"name":"testbed.down","value":236,"unit":"ms","namespacesRemoved":11}
//   {"name":"testbed.traffic.tcp.inter-node","value":552,"unit":"MB/s","bytes":200000000}
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Benchmark, BenchResult } from './harness.js';
import { defaultTopology } from '../src/testbed/default-topology.js';
import { Testbed } from '../src/testbed/testbed.js';
import { parseTopology } from '../src/testbed/topology.js';
import { planTestbed } from '../src/testbed/plan.js';
import { TrafficGenerator } from '../src/testbed/traffic.js';
import { prerequisiteProblem } from '../src/testbed/system.js';

const PREFIX = 'fvbench';

export const benchmarks: Benchmark[] = [
  {
    name: 'testbed.up',
    async run(): Promise<BenchResult[]> {
      const problem = prerequisiteProblem();
      if (problem) throw problem;
      const topology = parseTopology({ ...defaultTopology().document, prefix: PREFIX }, { baseDir: process.cwd() });
      const stateDir = mkdtempSync(join(tmpdir(), 'fv-testbed-bench-'));
      try {
        const t0 = performance.now();
        const tb = await Testbed.up(topology, { stateDir });
        const upMs = performance.now() - t0;
        const gen = new TrafficGenerator(tb);
        const bytes = 200_000_000;
        const [r] = await gen.run([gen.spec({ name: 'bulk', from: 'frontend/web-1', to: 'backend/api-2', port: 'http', requestBytes: bytes, responseBytes: 12 })]);
        const c = r.conversations[0];
        if (c.outcome !== 'ok') throw new Error(`bulk transfer failed: ${JSON.stringify(c)}`);
        const t1 = performance.now();
        const down = await Testbed.down({ prefix: PREFIX, stateDir });
        const downMs = performance.now() - t1;
        return [
          { name: 'testbed.up', value: Math.round(upMs), unit: 'ms', namespaces: tb.names.all.length, commands: planTestbed(topology).commands.length },
          { name: 'testbed.down', value: Math.round(downMs), unit: 'ms', namespacesRemoved: down.namespacesRemoved.length },
          { name: 'testbed.traffic.tcp.inter-node', value: Math.round(bytes / 1e6 / ((c.endMs - c.startMs) / 1000)), unit: 'MB/s', bytes },
        ];
      } finally {
        await Testbed.down({ prefix: PREFIX, stateDir }).catch(() => undefined);
        rmSync(stateDir, { recursive: true, force: true });
      }
    },
  },
];
