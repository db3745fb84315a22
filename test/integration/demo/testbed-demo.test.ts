// `flowvis demo --testbed` for real, as root: the testbed is built with the demo's aggregator
// config (store on), the UI and API are relayed from the aggregator's namespace to loopback in
// the root namespace, the traffic loop fills the store with correlated inter-node flows, and
// stop() removes every namespace and closes the relay.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestbedDemo, type TestbedDemo } from '../../../src/demo/testbed-demo.js';
import { prerequisiteProblem } from '../../../src/testbed/system.js';
import { Testbed } from '../../../src/testbed/testbed.js';
import { FlowType } from '../../../src/flow/record.js';
import type { StoredFlow } from '../../../src/store/schema.js';

function skipReason(): string | false {
  const problem = prerequisiteProblem();
  if (problem === null) return false;
  if (process.env.CI === 'true') throw new Error(`CI=true and the testbed demo cannot run: ${problem.message}`);
  return problem.message;
}

const skip = skipReason();
const prefix = `fvd${process.pid % 1_000_000}`;

function namespacesWithPrefix(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => n.startsWith(`${prefix}-`));
}

describe('flowvis demo --testbed (network namespaces, as root)', { skip }, () => {
  let dir: string;
  let demo: TestbedDemo | null = null;
  let origin: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flowvis-tbdemo-'));
    demo = await startTestbedDemo({ listen: '127.0.0.1:0', dataDir: dir, rate: 20, prefix, say: () => {} });
    origin = new URL(demo.url).origin;
  });

  after(async () => {
    await demo?.stop();
    // Whatever happened above, nothing of this test stays behind.
    await Testbed.down({ prefix, stateDir: join(dir, 'testbed', 'state') }).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the testbed aggregator\'s UI and API on loopback in the root namespace', async () => {
    assert.match(demo!.url, /^http:\/\/127\.0\.0\.1:\d+\/ui\/$/);
    const ui = await fetch(demo!.url);
    assert.equal(ui.status, 200);
    await ui.arrayBuffer();
    const metrics = (await (await fetch(`${origin}/recordmetrics`)).json()) as { connectionsPerExporter: Record<string, number> };
    assert.equal(Object.keys(metrics.connectionsPerExporter).length, 2, 'one exporter per testbed Node');
  });

  it('stores correlated inter-node flows of the testbed\'s Pods', async () => {
    const pods = new Set(demo!.testbed.topology.pods.map((p) => p.name));
    let inter: StoredFlow[] = [];
    for (let i = 0; i < 120 && inter.length === 0; i++) {
      const res = await fetch(`${origin}/api/v1/flows?from=now-1h&flowType=interNode&limit=1000`);
      if (res.status === 200) {
        const body = (await res.json()) as { items: StoredFlow[] };
        inter = body.items.filter((f) => f.correlated === 1 && f.sourcePodName !== '' && f.destinationPodName !== '');
      } else await res.arrayBuffer();
      if (inter.length === 0) await new Promise((r) => setTimeout(r, 1000));
    }
    assert.ok(inter.length > 0, 'a correlated inter-node flow reached the store');
    for (const f of inter) {
      assert.equal(f.flowType, FlowType.interNode);
      assert.notEqual(f.sourceNodeName, f.destinationNodeName);
      assert.ok(pods.has(f.sourcePodName) && pods.has(f.destinationPodName), `${f.sourcePodName} -> ${f.destinationPodName}`);
    }
  });

  it('removes every namespace and closes the relay when stopped', async () => {
    const port = Number(new URL(origin).port);
    await demo!.stop();
    assert.deepEqual(namespacesWithPrefix(), []);
    const refused = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(false);
      });
      s.once('error', () => resolve(true));
    });
    assert.ok(refused, 'relay port closed');
  });
});
