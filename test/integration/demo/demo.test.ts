// The demo end to end on loopback: simulated Node exporters -> real IPFIX over TCP -> the
// aggregator -> the embedded store -> the HTTP API and UI. Ports 0, a temporary data directory.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DemoRunner } from '../../../src/demo/runner.js';
import { FlowType } from '../../../src/flow/record.js';
import type { StoredFlow } from '../../../src/store/schema.js';

async function getJson<T>(url: string): Promise<{ status: number; body: T }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as T };
}

/** Polls until `probe` returns a value (not undefined); fails after `tries` attempts. */
async function until<T>(what: string, probe: () => Promise<T | undefined>, tries = 300): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

describe('flowvis demo on loopback', () => {
  let dir: string;
  let runner: DemoRunner;
  let origin: string;
  let uiUrl: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flowvis-demo-'));
    // 1 s windows: the aggregator exports every second; 10 minutes of backfill to start with.
    runner = new DemoRunner({ dataDir: dir, listen: '127.0.0.1:0', collect: '127.0.0.1:0', window: '1s', backfill: '10m', seed: 11, nodes: 3, rate: 2 });
    uiUrl = await runner.start();
    origin = new URL(uiUrl).origin;
  });

  after(async () => {
    await runner?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('prints the UI address, and the UI is served there', async () => {
    assert.match(uiUrl, /^http:\/\/127\.0\.0\.1:\d+\/ui\/$/);
    const res = await fetch(uiUrl);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    await res.arrayBuffer();
  });

  it('stores records whose Pods, Services and Nodes are the simulated cluster', async () => {
    const flows = await until('stored flows', async () => {
      const { status, body } = await getJson<{ items: StoredFlow[] }>(`${origin}/api/v1/flows?from=now-1h&limit=5000`);
      return status === 200 && body.items.length > 200 ? body.items : undefined;
    });
    const pods = new Set(runner.cluster.pods.map((p) => `${p.namespace}/${p.name}`));
    const nodes = new Set(runner.cluster.nodes.map((n) => n.name));
    const services = new Set(runner.cluster.services.flatMap((s) => s.ports.map((p) => `${s.namespace}/${s.name}:${p.name}`)));
    for (const f of flows) {
      if (f.sourcePodName !== '') assert.ok(pods.has(`${f.sourcePodNamespace}/${f.sourcePodName}`), f.sourcePodName);
      if (f.destinationPodName !== '') assert.ok(pods.has(`${f.destinationPodNamespace}/${f.destinationPodName}`), f.destinationPodName);
      for (const n of [f.sourceNodeName, f.destinationNodeName]) if (n !== '') assert.ok(nodes.has(n), n);
      if (f.destinationServicePortName !== '') assert.ok(services.has(f.destinationServicePortName), f.destinationServicePortName);
    }
    assert.ok(flows.some((f) => f.destinationServicePortName !== ''), 'some flows went through a Service');
    const observationDomains = new Set(flows.map((f) => f.originalObservationDomainId));
    assert.ok(observationDomains.size >= 2, 'records come from more than one Node exporter');
  });

  it('correlates inter-node flows from the two Node exporters into one record', async () => {
    const inter = await until('correlated inter-node flows', async () => {
      const { body } = await getJson<{ items: StoredFlow[] }>(`${origin}/api/v1/flows?from=now-1h&flowType=interNode&limit=2000`);
      const done = body.items.filter((f) => f.correlated === 1 && f.sourcePodName !== '' && f.destinationPodName !== '');
      return done.length > 20 ? done : undefined;
    });
    for (const f of inter) {
      assert.equal(f.flowType, FlowType.interNode);
      assert.notEqual(f.sourceNodeName, f.destinationNodeName);
      assert.ok(f.flowEndSecondsFromSourceNode > 0 && f.flowEndSecondsFromDestinationNode > 0, 'both Nodes reported');
    }
    const { body: matrix } = await getJson<{ items: { sourceNodeName: string; destinationNodeName: string; flows: number }[] }>(`${origin}/api/v1/node-matrix?from=now-1h`);
    assert.ok(matrix.items.some((e) => e.sourceNodeName !== e.destinationNodeName && e.sourceNodeName !== '' && e.destinationNodeName !== ''));
    const m = runner.aggregatorService!.metrics();
    assert.ok(m.flowsCorrelated > 0);
    assert.equal(m.recordsDropped, 0);
    assert.equal(Object.values(m.connectionsPerExporter).reduce((a, b) => a + b, 0), 3, 'one session per simulated Node');
  });

  it('answers the simulated inventory on /api/v1/demo', async () => {
    const { status, body } = await getJson<{ simulated: boolean; pods: { name: string; node: string }[]; nodes: { name: string }[]; services: { name: string }[] }>(`${origin}/api/v1/demo`);
    assert.equal(status, 200);
    assert.equal(body.simulated, true);
    assert.deepEqual(body.nodes.map((n) => n.name), ['node-1', 'node-2', 'node-3']);
    assert.equal(body.pods.length, runner.cluster.pods.length);
    assert.ok(body.services.some((s) => s.name === 'kube-dns'));
  });

  it('keeps the history it backfilled', async () => {
    const b = runner.status().backfill;
    assert.ok(b.windows >= 590 && b.records > 0, JSON.stringify(b));
    const { body } = await getJson<{ items: { t: number; bytes: number }[] }>(`${origin}/api/v1/throughput?from=now-15m&bucket=1m`);
    const withTraffic = body.items.filter((p) => p.bytes > 0).length;
    assert.ok(withTraffic >= 9, `${withTraffic} one-minute buckets with traffic`);
  });

  it('stops cleanly: every port closed, the store written', async () => {
    const api = Number(new URL(origin).port);
    const collector = runner.status().collector.port;
    await runner.stop();
    assert.ok(await refused(api), 'API port closed');
    assert.ok(await refused(collector), 'collector port closed');
    for (const e of runner.status().exporters) assert.equal(e.connected, false);
    // A second run on the same directory continues after the newest stored flow.
    const again = new DemoRunner({ dataDir: dir, listen: '127.0.0.1:0', collect: '127.0.0.1:0', window: '1s', backfill: '10m', seed: 11, nodes: 3 });
    try {
      await again.start();
      assert.ok(again.status().backfill.windows < 30, `resumed: ${again.status().backfill.windows} windows backfilled`);
    } finally {
      await again.stop();
    }
  });
});
