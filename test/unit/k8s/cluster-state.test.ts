import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterState } from '../../../src/exporter/k8s/cluster-state.js';
import { K8sError } from '../../../src/exporter/k8s/errors.js';
import { parseEndpointSlice, parseNode, parsePod, parseService } from '../../../src/exporter/k8s/objects.js';
import { ManualClock } from '../../../src/util/clock.js';
import { endpointSlice, node, pod, service } from '../../fixtures/k8s/builders.js';

const T0 = Date.parse('2024-06-01T10:00:00Z');
const MIN = 60_000;

function setup(options: { maxPodsPerIp?: number; endedPodRetentionMs?: number } = {}): { clock: ManualClock; state: ClusterState } {
  const clock = new ManualClock(T0);
  return { clock, state: new ClusterState({ clock, ...options }) };
}

describe('Pod lookup by IP under IP reuse', () => {
  it('attributes flows before and after an IP moved from a deleted Pod to a new one', () => {
    const { clock, state } = setup();
    state.upsertPod(parsePod(pod({ name: 'old', ips: ['10.244.1.5'], created: T0 - 10 * MIN }), clock.now()));
    clock.set(T0 + MIN);
    state.deletePod('default', 'old', clock.now()); // observed at T0+1m
    clock.set(T0 + 2 * MIN);
    state.upsertPod(parsePod(pod({ name: 'new', ips: ['10.244.1.5'], created: T0 + 2 * MIN }), clock.now()));

    assert.equal(state.podByIp('10.244.1.5', T0 - 5 * MIN)?.name, 'old', 'a flow that started while the old Pod lived');
    assert.equal(state.podByIp('10.244.1.5', T0 + MIN - 1)?.name, 'old', 'the last ms before the delete was observed');
    assert.equal(state.podByIp('10.244.1.5', T0 + 3 * MIN)?.name, 'new', 'a flow that started after the new Pod was created');
    assert.equal(state.podByIp('10.244.1.5', 0)?.name, 'new', 'an unknown start time means now');
    assert.equal(state.podByIp('10.244.1.5', T0 - 20 * MIN), undefined, 'before any Pod held the IP');
  });

  it('prefers the newer Pod when a new Pod appears before the old one\'s deletion is observed', () => {
    const { clock, state } = setup();
    state.upsertPod(parsePod(pod({ name: 'old', ips: ['10.244.1.6'], created: T0 - 10 * MIN }), clock.now()));
    clock.set(T0 + 2 * MIN);
    state.upsertPod(parsePod(pod({ name: 'new', ips: ['10.244.1.6'], created: T0 + MIN }), clock.now()));
    assert.equal(state.podByIp('10.244.1.6', T0 + 90_000)?.name, 'new');
    assert.equal(state.podByIp('10.244.1.6', T0)?.name, 'old');
    clock.set(T0 + 3 * MIN);
    state.deletePod('default', 'old', clock.now());
    assert.equal(state.podByIp('10.244.1.6', T0 + 2.5 * MIN)?.name, 'new');
  });

  it('ends a recreated Pod with the same name at the new incarnation\'s creation', () => {
    const { clock, state } = setup();
    state.upsertPod(parsePod(pod({ name: 'web-0', uid: 'a', ips: ['10.244.1.7'], created: T0 - 10 * MIN }), clock.now()));
    clock.set(T0 + 2 * MIN);
    state.upsertPod(parsePod(pod({ name: 'web-0', uid: 'b', ips: ['10.244.1.8'], created: T0 + MIN }), clock.now()));
    assert.equal(state.podByIp('10.244.1.7', T0)?.uid, 'a');
    assert.equal(state.podByIp('10.244.1.7', T0 + 90_000), undefined, 'the old incarnation no longer holds its IP');
    assert.equal(state.podByIp('10.244.1.8', T0 + 90_000)?.uid, 'b');
  });

  it('releases the IPs of a Pod that completed, at its containers\' finish time', () => {
    const { clock, state } = setup();
    const job = pod({ name: 'job', ips: ['10.244.1.9'], created: T0 - 10 * MIN, phase: 'Succeeded' });
    (job.status as Record<string, unknown>).containerStatuses = [{ name: 'main', state: { terminated: { finishedAt: new Date(T0 - 5 * MIN).toISOString() } } }];
    state.upsertPod(parsePod(job, clock.now()));
    assert.equal(state.podByIp('10.244.1.9', T0 - 6 * MIN)?.name, 'job');
    assert.equal(state.podByIp('10.244.1.9', T0 - 4 * MIN), undefined);
    assert.equal(state.podByIp('10.244.1.9', 0), undefined, 'a completed Pod is not live');
  });

  it('forgets ended Pods after the retention time and keeps at most maxPodsPerIp', () => {
    const { clock, state } = setup({ maxPodsPerIp: 3, endedPodRetentionMs: 10 * MIN });
    for (let i = 0; i < 5; i++) {
      state.upsertPod(parsePod(pod({ name: `p${i}`, ips: ['10.244.2.1'], created: clock.now() }), clock.now()));
      clock.advance(MIN);
      state.deletePod('default', `p${i}`, clock.now());
    }
    // p0 and p1 fell out of the bounded history; p2..p4 remain.
    assert.equal(state.podByIp('10.244.2.1', T0 + 30_000), undefined);
    assert.equal(state.podByIp('10.244.2.1', T0 + 2 * MIN + 30_000)?.name, 'p2');
    assert.equal(state.podByIp('10.244.2.1', T0 + 4 * MIN + 30_000)?.name, 'p4');
    clock.advance(20 * MIN);
    state.upsertPod(parsePod(pod({ name: 'unrelated', ips: ['10.244.9.9'] }), clock.now())); // a mutation prunes
    assert.equal(state.podByIp('10.244.2.1', T0 + 4 * MIN + 30_000), undefined, 'expired after retention');
  });

  it('accepts a flow stamped just before its Pod\'s creation (clock skew) only when no Pod covers it', () => {
    const { clock, state } = setup();
    state.upsertPod(parsePod(pod({ name: 'p', ips: ['10.244.3.1'], created: T0 }), clock.now()));
    assert.equal(state.podByIp('10.244.3.1', T0 - 1500)?.name, 'p');
    assert.equal(state.podByIp('10.244.3.1', T0 - 5000), undefined);
  });

  it('does not index host-network Pods (their IP is the Node\'s)', () => {
    const { clock, state } = setup();
    state.upsertPod(parsePod(pod({ name: 'h', ips: ['192.168.0.10'], hostNetwork: true }), clock.now()));
    assert.equal(state.podByIp('192.168.0.10', 0), undefined);
  });

  it('finds dual-stack Pods by either address, in any IPv6 spelling', () => {
    const { clock, state } = setup();
    state.upsertPod(parsePod(pod({ name: 'ds', ips: ['10.244.4.1', 'fd00:10:244:4::1'] }), clock.now()));
    assert.equal(state.podByIp('10.244.4.1', 0)?.name, 'ds');
    assert.equal(state.podByIp('FD00:10:244:4:0:0:0:1', 0)?.name, 'ds');
  });

  it('moves a Pod whose IP changes (assigned after scheduling)', () => {
    const { clock, state } = setup();
    state.upsertPod(parsePod(pod({ name: 'p', ips: [] }), clock.now()));
    state.upsertPod(parsePod(pod({ name: 'p', ips: ['10.244.5.1'] }), clock.now()));
    assert.equal(state.podByIp('10.244.5.1', 0)?.name, 'p');
    assert.equal(state.livePodCount(), 1);
  });
});

describe('Services, EndpointSlices and Nodes', () => {
  it('maps a ClusterIP, port and protocol to "namespace/name:portName"', () => {
    const { state } = setup();
    state.upsertService(parseService(service('shop', 'cart', ['10.96.0.10', 'fd00:96::10'], [{ name: 'http', port: 80 }, { name: 'dns', port: 53, protocol: 'UDP' }])));
    assert.equal(state.serviceByClusterIp('10.96.0.10', 80, 6)?.servicePortName, 'shop/cart:http');
    assert.equal(state.serviceByClusterIp('fd00:96:0:0::10', 53, 17)?.servicePortName, 'shop/cart:dns');
    assert.equal(state.serviceByClusterIp('10.96.0.10', 53, 6), undefined, 'protocol matters');
    state.deleteService('shop', 'cart');
    assert.equal(state.serviceByClusterIp('10.96.0.10', 80, 6), undefined);
  });

  it('writes an unnamed single port as "namespace/name"', () => {
    const { state } = setup();
    state.upsertService(parseService(service('shop', 'solo', ['10.96.0.11'], [{ port: 8080 }])));
    assert.equal(state.serviceByClusterIp('10.96.0.11', 8080, 6)?.servicePortName, 'shop/solo');
  });

  it('finds the Service of an endpoint through its EndpointSlices', () => {
    const { state } = setup();
    state.upsertEndpointSlice(parseEndpointSlice(endpointSlice('shop', 'cart-abc', 'cart', ['10.244.1.5', '10.244.2.5'], [{ name: 'http', port: 8080 }])));
    assert.equal(state.serviceByEndpoint('10.244.2.5', 8080, 6)?.servicePortName, 'shop/cart:http');
    state.deleteEndpointSlice('shop', 'cart-abc');
    assert.equal(state.serviceByEndpoint('10.244.2.5', 8080, 6), undefined);
  });

  it('collects Pod CIDRs of every Node and finds Nodes by address', () => {
    const { state } = setup();
    state.upsertNode(parseNode(node('node-b', ['10.244.2.0/24', 'fd00:10:244:2::/64'], ['192.168.0.12'])));
    state.upsertNode(parseNode(node('node-a', ['10.244.1.0/24'], ['192.168.0.11'])));
    assert.deepEqual(state.podCidrs(), ['10.244.1.0/24', '10.244.2.0/24', 'fd00:10:244:2::/64']);
    assert.equal(state.nodeByIp('192.168.0.12')?.name, 'node-b');
    state.deleteNode('node-b');
    assert.deepEqual(state.podCidrs(), ['10.244.1.0/24']);
    assert.equal(state.nodeByIp('192.168.0.12'), undefined);
  });
});

describe('object parsing errors', () => {
  const cases: [string, () => unknown, RegExp][] = [
    ['a Pod without a name', () => parsePod({ kind: 'Pod', metadata: {} }, 0), /Pod: metadata.name is missing/],
    ['a Pod with a bad IP', () => parsePod(pod({ name: 'x', ips: ['10.0.0.300'] }), 0), /Pod default\/x: status.podIPs\[0\].ip "10.0.0.300" is not an IPv4 or IPv6 address/],
    ['a Pod with a bad timestamp', () => parsePod(pod({ name: 'x', created: 'yesterday' }), 0), /metadata.creationTimestamp "yesterday" is not an RFC 3339 time/],
    ['a Pod with a bad container port', () => parsePod(pod({ name: 'x', ports: [{ containerPort: 70000 }] }), 0), /spec.containers\[0\].ports\[0\].containerPort must be a port number/],
    ['a Service with a bad protocol', () => parseService(service('a', 'b', ['10.96.0.1'], [{ port: 80, protocol: 'ICMP' }])), /Service a\/b: spec.ports\[0\].protocol "ICMP"/],
    ['a Node with a bad Pod CIDR', () => parseNode(node('n', ['10.244.0.0/99'])), /Node n: spec.podCIDRs\[0\]: invalid CIDR/],
  ];
  for (const [name, fn, msg] of cases) {
    it(`rejects ${name} with K8S_ERR_BAD_OBJECT`, () => {
      assert.throws(fn, (e: unknown) => e instanceof K8sError && e.code === 'K8S_ERR_BAD_OBJECT' && msg.test(e.message));
    });
  }
});
