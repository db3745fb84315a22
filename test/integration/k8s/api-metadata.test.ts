// KubernetesApiMetadata against an in-test API server that speaks list and watch JSON on
// loopback: initial lists, watch events, and recovery after closed watches, HTTP errors and
// 410 Gone.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubernetesApiMetadata } from '../../../src/exporter/k8s/api-metadata.js';
import { K8sError } from '../../../src/exporter/k8s/errors.js';
import type { MetadataLogger } from '../../../src/exporter/k8s/metadata.js';
import { ManualClock } from '../../../src/util/clock.js';
import { endpointSlice, namespace, networkPolicy, node, pod, service } from '../../fixtures/k8s/builders.js';
import { FakeApiServer } from '../../fixtures/k8s/fake-api-server.js';

const T0 = Date.parse('2024-06-01T10:00:00Z');

const quiet: MetadataLogger & { warnings: string[] } = {
  warnings: [],
  info: () => {},
  warn(obj: object, msg: string) {
    this.warnings.push(`${msg} ${JSON.stringify(obj)}`);
  },
  error(obj: object, msg: string) {
    this.warnings.push(`${msg} ${JSON.stringify(obj)}`);
  },
};

/** Waits for a condition driven by network events; fails after 15 s with `what`. */
async function eventually(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const dbPolicy = networkPolicy('shop', 'db-from-cart', {
  podSelector: { matchLabels: { app: 'db' } },
  ingress: [{ from: [{ podSelector: { matchLabels: { app: 'cart' } } }], ports: [{ port: 'pg' }] }],
});

describe('KubernetesApiMetadata with an in-test API server', () => {
  let dir: string;
  let server: FakeApiServer;
  let kubeconfig: string;
  let meta: KubernetesApiMetadata | undefined;
  let clock: ManualClock;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flowvis-k8s-api-'));
    server = new FakeApiServer();
    const url = await server.listen();
    kubeconfig = join(dir, 'kubeconfig');
    server.writeKubeconfig(kubeconfig, url);
    server.seed([
      namespace('shop', { team: 'web' }),
      node('node-a', ['10.244.1.0/24', 'fd00:10:244:1::/64'], ['192.168.10.11']),
      pod({ namespace: 'shop', name: 'db', ips: ['10.244.1.10'], labels: { app: 'db' }, ports: [{ name: 'pg', containerPort: 5432 }], created: T0 - 3_600_000 }),
      pod({ namespace: 'shop', name: 'cart', ips: ['10.244.1.11'], labels: { app: 'cart' }, created: T0 - 3_600_000 }),
      service('shop', 'db', ['10.96.0.20'], [{ name: 'pg', port: 5432, targetPort: 'pg' }]),
      endpointSlice('shop', 'db-x1', 'db', ['10.244.1.10'], [{ name: 'pg', port: 5432 }]),
      dbPolicy,
    ]);
    // The first Pod list fails twice: readiness waits for a successful retry.
    server.failNext('Pod', 'list', 500, 2);
    clock = new ManualClock(T0);
  });

  after(async () => {
    await meta?.stop();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('becomes ready after retrying failed lists, and answers from the lists', async () => {
    meta = new KubernetesApiMetadata({ connection: { kubeconfig }, clock, logger: quiet, initialBackoffMs: 10, maxBackoffMs: 50 });
    await meta.start();
    await meta.waitUntilReady(15_000);
    assert.ok(meta.stats().watchErrors >= 2, 'the failed lists were counted');
    assert.ok(server.counts('Pod').lists >= 1);
    assert.equal(meta.podByIp('10.244.1.10', T0)?.name, 'db');
    assert.deepEqual(meta.podByIp('10.244.1.10', T0)?.containerPorts, [{ name: 'pg', port: 5432, protocol: 6 }]);
    assert.equal(meta.serviceByClusterIp('10.96.0.20', 5432, 6)?.servicePortName, 'shop/db:pg');
    assert.equal(meta.serviceByEndpoint('10.244.1.10', 5432, 6)?.servicePortName, 'shop/db:pg');
    assert.deepEqual(meta.podCidrs(), ['10.244.1.0/24', 'fd00:10:244:1::/64']);
    assert.equal(meta.nodeByName('node-a')?.addresses[0], '192.168.10.11');
    const v = meta.evaluatePolicies({ sourceAddress: '10.244.1.11', destinationAddress: '10.244.1.10', protocol: 6, destinationPort: 5432, atMs: T0 });
    assert.deepEqual(v.ingress, { name: 'db-from-cart', namespace: 'shop', type: 1, ruleName: 'ingress-0', action: 1 });
  });

  it('applies ADDED, MODIFIED and DELETED watch events', async () => {
    const m = meta!;
    server.add(pod({ namespace: 'shop', name: 'web', ips: ['10.244.1.12'], labels: { app: 'web' }, created: T0 }));
    await eventually('the added Pod', () => m.podByIp('10.244.1.12', 0)?.name === 'web');

    // The policy now allows web instead of cart.
    server.modify(networkPolicy('shop', 'db-from-cart', { ...(dbPolicy.spec as object), ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }] }] }));
    const fromCart = { sourceAddress: '10.244.1.11', destinationAddress: '10.244.1.10', protocol: 6, destinationPort: 5432, atMs: T0 };
    await eventually('the modified policy', () => m.evaluatePolicies(fromCart).ingress.action === 2);

    // Labels change on a Pod: the namespaceSelector-free rule follows it.
    server.modify(pod({ namespace: 'shop', name: 'cart', ips: ['10.244.1.11'], labels: { app: 'web' }, created: T0 - 3_600_000 }));
    await eventually('the relabelled Pod', () => m.evaluatePolicies(fromCart).ingress.action === 1);

    clock.set(T0 + 60_000);
    server.delete(pod({ namespace: 'shop', name: 'web', ips: ['10.244.1.12'] }));
    await eventually('the deleted Pod', () => m.podByIp('10.244.1.12', 0) === undefined);
    assert.equal(m.podByIp('10.244.1.12', T0 + 1000)?.name, 'web', 'a flow that started before the delete keeps its Pod');

    server.add(pod({ namespace: 'shop', name: 'web2', ips: ['10.244.1.12'], labels: { app: 'web' }, created: T0 + 120_000 }));
    await eventually('the IP reused by a new Pod', () => m.podByIp('10.244.1.12', 0)?.name === 'web2');
    assert.equal(m.podByIp('10.244.1.12', T0 + 1000)?.name, 'web');
    assert.equal(m.podByIp('10.244.1.12', T0 + 130_000)?.name, 'web2');

    server.delete(service('shop', 'db', [], []));
    await eventually('the deleted Service', () => m.serviceByClusterIp('10.96.0.20', 5432, 6) === undefined);
  });

  it('re-watches from the last resourceVersion when the server closes the watch', async () => {
    const m = meta!;
    const before = server.counts('Node').watches;
    server.closeWatches();
    await eventually('a new Node watch', () => server.counts('Node').watches > before && server.counts('Node').openWatches > 0);
    const listsBefore = server.counts('Node').lists;
    server.add(node('node-b', ['10.244.2.0/24'], ['192.168.10.12']));
    await eventually('the Node added after the re-watch', () => m.nodeByName('node-b') !== undefined);
    assert.equal(server.counts('Node').lists, listsBefore, 'no relist was needed');
    const rewatch = server.requests.filter((r) => r.startsWith('GET /api/v1/nodes?') && r.includes('watch=true')).at(-1)!;
    assert.match(rewatch, /resourceVersion=\d+/);
    assert.ok(!/resourceVersion=(&|$)/.test(rewatch), 'the re-watch carried the last resourceVersion');
  });

  it('retries with backoff after the server answers a watch with an error', async () => {
    const m = meta!;
    const errors = m.stats().watchErrors;
    server.failNext('Namespace', 'watch', 500, 2);
    server.closeWatches('Namespace');
    await eventually('two failed watches counted', () => m.stats().watchErrors >= errors + 2);
    await eventually('a working Namespace watch again', () => server.counts('Namespace').openWatches > 0);
    server.add(namespace('payments', { team: 'pay' }));
    server.add(pod({ namespace: 'payments', name: 'api', ips: ['10.244.2.20'], labels: { app: 'api' }, node: 'node-b' }));
    server.modify(networkPolicy('shop', 'db-from-cart', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'pay' } } }] }] }));
    const fromApi = { sourceAddress: '10.244.2.20', destinationAddress: '10.244.1.10', protocol: 6, destinationPort: 5432, atMs: 0 };
    await eventually('the namespaceSelector sees the new Namespace', () => m.evaluatePolicies(fromApi).ingress.action === 1);
  });

  it('relists after 410 Gone and drops objects whose deletion it never saw', async () => {
    const m = meta!;
    const victim = pod({ namespace: 'shop', name: 'db', ips: ['10.244.1.10'] });
    const lists = server.counts('Pod').lists;
    server.removeSilently(victim);
    server.compact();
    server.closeWatches('Pod');
    await eventually('a relist of Pods', () => server.counts('Pod').lists > lists);
    await eventually('the silently removed Pod gone', () => m.podByIp('10.244.1.10', 0) === undefined);
    assert.equal(m.podByIp('10.244.1.11', 0)?.name, 'cart', 'the other Pods stay');
  });

  it('relists after an in-stream ERROR event with code 410', async () => {
    const m = meta!;
    const lists = server.counts('Service').lists;
    server.removeSilently(service('shop', 'gone', [], []));
    server.add(service('shop', 'cache', ['10.96.0.30'], [{ name: 'redis', port: 6379 }]));
    await eventually('the new Service', () => m.serviceByClusterIp('10.96.0.30', 6379, 6) !== undefined);
    server.removeSilently(service('shop', 'cache', [], []));
    server.compact();
    server.expireWatches('Service');
    await eventually('a relist of Services', () => server.counts('Service').lists > lists);
    await eventually('the Service removed without an event is gone', () => m.serviceByClusterIp('10.96.0.30', 6379, 6) === undefined);
  });

  it('rejects a malformed object with a count and a log line, and keeps serving', async () => {
    const m = meta!;
    const rejected = m.stats().objectsRejected;
    server.add(networkPolicy('shop', 'broken', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/99' } }] }] }));
    await eventually('the rejected policy counted', () => m.stats().objectsRejected === rejected + 1);
    assert.ok(quiet.warnings.some((w) => w.includes('K8S_ERR_BAD_POLICY') && w.includes('shop/broken')));
    server.add(pod({ namespace: 'shop', name: 'after', ips: ['10.244.1.30'] }));
    await eventually('a later Pod', () => m.podByIp('10.244.1.30', 0)?.name === 'after');
  });

  it('refuses a kubeconfig that cannot be loaded with K8S_ERR_CONFIG', () => {
    assert.throws(
      () => new KubernetesApiMetadata({ connection: { kubeconfig: join(dir, 'nope') }, logger: quiet }),
      (e: unknown) => e instanceof K8sError && e.code === 'K8S_ERR_CONFIG' && e.message.includes('nope'),
    );
  });
});
