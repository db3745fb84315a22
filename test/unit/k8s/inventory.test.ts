import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { K8sError } from '../../../src/exporter/k8s/errors.js';
import { parseInventory } from '../../../src/exporter/k8s/inventory.js';
import { InventoryMetadata } from '../../../src/exporter/k8s/inventory-metadata.js';
import { createClusterMetadata } from '../../../src/exporter/k8s/index.js';
import type { MetadataLogger } from '../../../src/exporter/k8s/metadata.js';
import { ManualClock } from '../../../src/util/clock.js';
import { endpointSlice, namespace, networkPolicy, node, pod, service, type K8sObject } from '../../fixtures/k8s/builders.js';

const T0 = Date.parse('2024-06-01T10:00:00Z');

function manifests(objects: K8sObject[]): string {
  return objects.map((o) => stringify(o)).join('---\n');
}

class CapturingLogger implements MetadataLogger {
  readonly lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  info(obj: object, msg: string): void {
    this.lines.push({ level: 'info', obj: obj as Record<string, unknown>, msg });
  }
  warn(obj: object, msg: string): void {
    this.lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg });
  }
  error(obj: object, msg: string): void {
    this.lines.push({ level: 'error', obj: obj as Record<string, unknown>, msg });
  }
}

/** Resolves on the next load attempt for which `accept` holds; fails the test after 20 s. */
function nextLoad(meta: InventoryMetadata, accept: (ok: boolean, err?: Error) => boolean): Promise<Error | undefined> {
  return new Promise((resolve, reject) => {
    const guard = setTimeout(() => reject(new Error('no matching inventory load within 20 s')), 20_000);
    meta.onLoad((ok, err) => {
      if (accept(ok, err)) {
        clearTimeout(guard);
        resolve(err);
      }
    });
  });
}

/** Replaces the file atomically, as editors and `kubectl get -o yaml > tmp && mv` do. */
function replaceFile(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

describe('inventory file format', () => {
  it('reads multi-document YAML, kind: List and typed lists, and skips other kinds', () => {
    const text = [
      manifests([namespace('shop', { team: 'a' }), node('node-a', ['10.244.1.0/24'])]),
      stringify({ apiVersion: 'v1', kind: 'List', items: [pod({ namespace: 'shop', name: 'cart', ips: ['10.244.1.5'] }), { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' } }] }),
      stringify({ apiVersion: 'v1', kind: 'PodList', items: [{ ...pod({ namespace: 'shop', name: 'web', ips: ['10.244.1.6'] }), kind: undefined }] }),
      manifests([service('shop', 'cart', ['10.96.0.10'], [{ name: 'http', port: 80 }]), endpointSlice('shop', 'cart-1', 'cart', ['10.244.1.5'], [{ name: 'http', port: 8080 }])]),
      manifests([networkPolicy('shop', 'deny', { podSelector: {}, policyTypes: ['Ingress'] })]),
      '', // an empty document
    ].join('---\n');
    const inv = parseInventory(text, 'inv.yaml', T0);
    assert.deepEqual(inv.pods.map((p) => p.name).sort(), ['cart', 'web']);
    assert.equal(inv.namespaces[0].labels.team, 'a');
    assert.deepEqual(inv.nodes[0].podCidrs, ['10.244.1.0/24']);
    assert.equal(inv.services[0].ports[0].servicePortName, 'shop/cart:http');
    assert.equal(inv.endpointSlices[0].serviceName, 'cart');
    assert.equal(inv.policies[0].name, 'deny');
    assert.deepEqual(inv.skipped, { Deployment: 1 });
  });

  const bad: [string, string, RegExp][] = [
    ['YAML that does not parse', 'kind: Pod\nmetadata: {name: [\n', /^bad\.yaml: document 1 is not valid YAML/],
    ['a document without kind', 'metadata: {name: x}\n', /^bad\.yaml: document 1 is not a Kubernetes object \(no "kind"\)/],
    ['a Pod with a bad IP', manifests([namespace('a'), pod({ name: 'p', ips: ['10.1.1'] })]), /^bad\.yaml: document 2: Pod default\/p: status.podIPs\[0\].ip "10.1.1"/],
    ['a policy with a bad CIDR in a List', stringify({ kind: 'List', items: [networkPolicy('a', 'np', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/64' } }] }] })] }), /^bad\.yaml: document 1 item 0: NetworkPolicy a\/np: invalid CIDR/],
    ['the same Pod twice', manifests([pod({ name: 'p' }), pod({ name: 'p' })]), /^bad\.yaml: document 2: Pod default\/p is defined twice/],
  ];
  for (const [name, text, msg] of bad) {
    it(`rejects ${name} with K8S_ERR_INVENTORY naming the file and document`, () => {
      assert.throws(() => parseInventory(text, 'bad.yaml', T0), (e: unknown) => e instanceof K8sError && e.code === 'K8S_ERR_INVENTORY' && msg.test(e.message));
    });
  }

  it('ends a Pod at its deletionTimestamp, so an inventory can describe IP reuse', () => {
    const inv = parseInventory(
      manifests([
        pod({ name: 'old', ips: ['10.244.1.5'], created: T0 - 600_000, deleted: T0 - 60_000 }),
        pod({ name: 'new', ips: ['10.244.1.5'], created: T0 - 30_000 }),
      ]),
      'inv.yaml',
      T0,
    );
    assert.equal(inv.pods.find((p) => p.name === 'old')?.endMs, T0 - 60_000);
  });
});

describe('InventoryMetadata', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'flowvis-inventory-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads, answers lookups, reloads on change and keeps the previous inventory when the file goes bad', async () => {
    const path = join(dir, 'cluster.yaml');
    replaceFile(
      path,
      manifests([
        namespace('shop'),
        node('node-a', ['10.244.1.0/24']),
        pod({ namespace: 'shop', name: 'old', ips: ['10.244.1.5'], created: T0 - 600_000, deleted: T0 - 60_000 }),
        pod({ namespace: 'shop', name: 'cart', ips: ['10.244.1.5'], created: T0 - 30_000, labels: { app: 'cart' } }),
        service('shop', 'cart', ['10.96.0.10'], [{ name: 'http', port: 80 }]),
      ]),
    );
    const logger = new CapturingLogger();
    const meta = new InventoryMetadata({ path, clock: new ManualClock(T0), logger, pollIntervalMs: 50 });
    try {
      assert.equal(meta.ready(), false);
      await meta.start();
      assert.equal(meta.ready(), true);
      assert.equal(meta.podByIp('10.244.1.5', T0 - 120_000)?.name, 'old');
      assert.equal(meta.podByIp('10.244.1.5', T0)?.name, 'cart');
      assert.equal(meta.serviceByClusterIp('10.96.0.10', 80, 6)?.servicePortName, 'shop/cart:http');
      assert.deepEqual(meta.podCidrs(), ['10.244.1.0/24']);
      assert.equal(meta.evaluatePolicies({ sourceAddress: '10.244.1.9', destinationAddress: '10.244.1.5', protocol: 6, destinationPort: 80, atMs: T0 }).ingress.action, 0);

      // A policy appears: the reload applies it.
      let loaded = nextLoad(meta, (ok) => ok);
      replaceFile(
        path,
        manifests([
          namespace('shop'),
          node('node-a', ['10.244.1.0/24']),
          pod({ namespace: 'shop', name: 'cart', ips: ['10.244.1.5'], created: T0 - 30_000, labels: { app: 'cart' } }),
          networkPolicy('shop', 'deny-cart', { podSelector: { matchLabels: { app: 'cart' } }, policyTypes: ['Ingress'] }),
        ]),
      );
      await loaded;
      const v = meta.evaluatePolicies({ sourceAddress: '10.244.1.9', destinationAddress: '10.244.1.5', protocol: 6, destinationPort: 80, atMs: T0 });
      assert.deepEqual(v.ingress, { name: 'deny-cart', namespace: 'shop', type: 1, ruleName: '', action: 2 });
      assert.equal(meta.serviceByClusterIp('10.96.0.10', 80, 6), undefined, 'the removed Service is gone');
      assert.equal(meta.stats().inventoryReloads, 2);

      // A bad file: logged with the file name and the reason; the previous inventory stays.
      const failed = nextLoad(meta, (ok) => !ok);
      replaceFile(path, manifests([pod({ namespace: 'shop', name: 'cart', ips: ['10.244.1.500'] })]));
      const err = await failed;
      assert.ok(err instanceof K8sError && err.code === 'K8S_ERR_INVENTORY');
      const line = logger.lines.find((l) => l.level === 'error');
      assert.ok(line, 'an error line was logged');
      assert.equal(line.obj.file, path);
      assert.match(String(line.obj.err), /cluster\.yaml: document 1: Pod shop\/cart: status\.podIPs\[0\]\.ip "10\.244\.1\.500"/);
      assert.equal(meta.podByIp('10.244.1.5', T0)?.name, 'cart', 'previous inventory kept');
      assert.equal(meta.evaluatePolicies({ sourceAddress: '10.244.1.9', destinationAddress: '10.244.1.5', protocol: 6, destinationPort: 80, atMs: T0 }).ingress.action, 2);
      assert.equal(meta.stats().inventoryReloadFailures, 1);

      // Fixed again.
      loaded = nextLoad(meta, (ok) => ok);
      replaceFile(path, manifests([pod({ namespace: 'shop', name: 'cart2', ips: ['10.244.1.6'] })]));
      await loaded;
      assert.equal(meta.podByIp('10.244.1.6', 0)?.name, 'cart2');
      assert.equal(meta.podByIp('10.244.1.5', 0), undefined, 'a Pod removed from the file has ended');
      assert.equal(meta.podByIp('10.244.1.5', T0 - 1000)?.name, 'cart', 'but still answers for flows from before the reload');
    } finally {
      await meta.stop();
    }
  });

  it('notices changes by polling alone when fs.watch is off', async () => {
    const path = join(dir, 'polled.yaml');
    replaceFile(path, manifests([pod({ name: 'a', ips: ['10.244.7.1'] })]));
    const meta = new InventoryMetadata({ path, clock: new ManualClock(T0), logger: new CapturingLogger(), pollIntervalMs: 20, useFsWatch: false });
    try {
      await meta.start();
      const loaded = nextLoad(meta, (ok) => ok);
      replaceFile(path, manifests([pod({ name: 'b', ips: ['10.244.7.1'] })]));
      await loaded;
      assert.equal(meta.podByIp('10.244.7.1', 0)?.name, 'b');
    } finally {
      await meta.stop();
    }
  });

  it('is built from config by createClusterMetadata and reads JSON inventories', async () => {
    const path = join(dir, 'cluster.json');
    replaceFile(path, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [node('n1', ['10.244.8.0/24']), pod({ name: 'j', ips: ['10.244.8.1'], node: 'n1' })] }));
    const meta = createClusterMetadata({ source: 'inventory', path, pollIntervalMs: 0 }, { logger: new CapturingLogger() });
    try {
      await meta.start();
      await meta.waitUntilReady(1000);
      assert.equal(meta.podByIp('10.244.8.1', 0)?.nodeName, 'n1');
      assert.equal(meta.nodeByName('n1')?.podCidrs[0], '10.244.8.0/24');
    } finally {
      await meta.stop();
    }
  });

  it('refuses to start on a missing file with a coded error naming it', async () => {
    const path = join(dir, 'missing.yaml');
    const meta = new InventoryMetadata({ path, logger: new CapturingLogger(), pollIntervalMs: 0 });
    await assert.rejects(meta.start(), (e: unknown) => e instanceof K8sError && e.code === 'K8S_ERR_INVENTORY' && e.message.includes('missing.yaml') && e.message.includes('ENOENT'));
    assert.equal(meta.ready(), false);
    await meta.stop();
  });
});
