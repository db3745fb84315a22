// Table-driven Kubernetes NetworkPolicy evaluation, on the examples of the Kubernetes
// documentation ("Network Policies" concept page) and the semantics around them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterState } from '../../../src/exporter/k8s/cluster-state.js';
import { parseInventory } from '../../../src/exporter/k8s/inventory.js';
import type { PolicyAttribution } from '../../../src/exporter/k8s/metadata.js';
import { ManualClock } from '../../../src/util/clock.js';
import { namespace, networkPolicy, pod, type K8sObject } from '../../fixtures/k8s/builders.js';

const TCP = 6;
const UDP = 17;
const SCTP = 132;
const ICMP = 1;

function cluster(objects: K8sObject[]): ClusterState {
  const clock = new ManualClock(Date.parse('2024-06-01T00:00:00Z'));
  const state = new ClusterState({ clock });
  state.replaceAll(parseInventory(JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }), 'test.yaml', clock.now()));
  return state;
}

/** [policy name, rule name, action] with namespace implied by the case, or 'none'. */
type Expect = 'none' | [name: string, ruleName: string, action: 'allow' | 'drop', namespace?: string];

function check(actual: PolicyAttribution, expected: Expect, defaultNs: string, what: string): void {
  if (expected === 'none') {
    assert.deepEqual(actual, { name: '', namespace: '', type: 0, ruleName: '', action: 0 }, `${what}: expected no policy`);
    return;
  }
  const [name, ruleName, action, ns] = expected;
  assert.deepEqual(
    actual,
    { name, namespace: ns ?? defaultNs, type: 1, ruleName, action: action === 'allow' ? 1 : 2 },
    `${what}: expected ${action} by ${name}/${ruleName}`,
  );
}

interface Case {
  name: string;
  src: string;
  dst: string;
  protocol?: number;
  port: number;
  ingress: Expect;
  egress: Expect;
  ns?: string;
}

function runTable(objects: K8sObject[], cases: Case[], defaultNs = 'default'): void {
  const state = cluster(objects);
  for (const c of cases) {
    it(c.name, () => {
      const v = state.evaluatePolicies({
        sourceAddress: c.src,
        destinationAddress: c.dst,
        protocol: c.protocol ?? TCP,
        destinationPort: c.port,
        atMs: Date.parse('2024-06-01T00:00:00Z'),
      });
      check(v.ingress, c.ingress, c.ns ?? defaultNs, 'ingress');
      check(v.egress, c.egress, c.ns ?? defaultNs, 'egress');
    });
  }
}

const basePods = [
  namespace('default'),
  namespace('myproject-ns', { project: 'myproject' }),
  namespace('other', { project: 'other' }),
  pod({ name: 'db', ips: ['10.244.1.10'], labels: { role: 'db' }, ports: [{ name: 'redis', containerPort: 6379 }] }),
  pod({ name: 'frontend', ips: ['10.244.1.11'], labels: { role: 'frontend' } }),
  pod({ name: 'backend', ips: ['10.244.1.12'], labels: { role: 'backend' } }),
  pod({ namespace: 'myproject-ns', name: 'client', ips: ['10.244.2.10'], labels: { app: 'client' } }),
  pod({ namespace: 'other', name: 'client', ips: ['10.244.2.11'], labels: { role: 'frontend' } }),
];

describe('the documentation example "test-network-policy" (ipBlock/except, namespaceSelector, podSelector, ports)', () => {
  runTable(
    [
      ...basePods,
      networkPolicy('default', 'test-network-policy', {
        podSelector: { matchLabels: { role: 'db' } },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [
          {
            from: [
              { ipBlock: { cidr: '172.17.0.0/16', except: ['172.17.1.0/24'] } },
              { namespaceSelector: { matchLabels: { project: 'myproject' } } },
              { podSelector: { matchLabels: { role: 'frontend' } } },
            ],
            ports: [{ protocol: 'TCP', port: 6379 }],
          },
        ],
        egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/24' } }], ports: [{ protocol: 'TCP', port: 5978 }] }],
      }),
    ],
    [
      { name: 'allows a same-namespace frontend Pod to db:6379', src: '10.244.1.11', dst: '10.244.1.10', port: 6379, ingress: ['test-network-policy', 'ingress-0', 'allow'], egress: 'none' },
      { name: 'drops a same-namespace Pod that is not a frontend, naming the one isolating policy', src: '10.244.1.12', dst: '10.244.1.10', port: 6379, ingress: ['test-network-policy', '', 'drop'], egress: 'none' },
      { name: 'allows any Pod of a namespace labelled project=myproject', src: '10.244.2.10', dst: '10.244.1.10', port: 6379, ingress: ['test-network-policy', 'ingress-0', 'allow'], egress: 'none' },
      { name: 'drops a role=frontend Pod of another namespace (podSelector alone is same-namespace)', src: '10.244.2.11', dst: '10.244.1.10', port: 6379, ingress: ['test-network-policy', '', 'drop'], egress: 'none' },
      { name: 'allows an address inside the ipBlock', src: '172.17.0.5', dst: '10.244.1.10', port: 6379, ingress: ['test-network-policy', 'ingress-0', 'allow'], egress: 'none' },
      { name: 'drops an address inside the ipBlock except range', src: '172.17.1.5', dst: '10.244.1.10', port: 6379, ingress: ['test-network-policy', '', 'drop'], egress: 'none' },
      { name: 'drops an address outside the ipBlock', src: '172.18.0.5', dst: '10.244.1.10', port: 6379, ingress: ['test-network-policy', '', 'drop'], egress: 'none' },
      { name: 'drops an allowed peer on another port', src: '10.244.1.11', dst: '10.244.1.10', port: 6380, ingress: ['test-network-policy', '', 'drop'], egress: 'none' },
      { name: 'drops an allowed peer on the right port number but UDP', src: '10.244.1.11', dst: '10.244.1.10', protocol: UDP, port: 6379, ingress: ['test-network-policy', '', 'drop'], egress: 'none' },
      { name: 'allows db egress to 10.0.0.0/24 on TCP 5978', src: '10.244.1.10', dst: '10.0.0.7', port: 5978, ingress: 'none', egress: ['test-network-policy', 'egress-0', 'allow'] },
      { name: 'drops db egress outside 10.0.0.0/24', src: '10.244.1.10', dst: '10.0.1.7', port: 5978, ingress: 'none', egress: ['test-network-policy', '', 'drop'] },
      { name: 'drops db egress to the allowed block on another port', src: '10.244.1.10', dst: '10.0.0.7', port: 80, ingress: 'none', egress: ['test-network-policy', '', 'drop'] },
      { name: 'evaluates both ends of an intra-cluster connection from db to frontend', src: '10.244.1.10', dst: '10.244.1.11', port: 8080, ingress: 'none', egress: ['test-network-policy', '', 'drop'] },
      { name: 'leaves Pods no policy selects alone', src: '10.244.1.11', dst: '10.244.1.12', port: 80, ingress: 'none', egress: 'none' },
      { name: 'reports nothing for two addresses outside the cluster', src: '192.0.2.1', dst: '198.51.100.1', port: 80, ingress: 'none', egress: 'none' },
    ],
  );
});

const andOrPods = [
  namespace('web'),
  namespace('alice-ns', { user: 'alice' }),
  namespace('bob-ns', { user: 'bob' }),
  pod({ namespace: 'web', name: 'server', ips: ['10.244.3.1'], labels: { app: 'web' } }),
  pod({ namespace: 'web', name: 'client', ips: ['10.244.3.2'], labels: { role: 'client' } }),
  pod({ namespace: 'alice-ns', name: 'client', ips: ['10.244.4.1'], labels: { role: 'client' } }),
  pod({ namespace: 'alice-ns', name: 'other', ips: ['10.244.4.2'], labels: { role: 'other' } }),
  pod({ namespace: 'bob-ns', name: 'client', ips: ['10.244.5.1'], labels: { role: 'client' } }),
];

describe('namespaceSelector AND podSelector in one peer', () => {
  runTable(
    [
      ...andOrPods,
      networkPolicy('web', 'and', {
        podSelector: { matchLabels: { app: 'web' } },
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { user: 'alice' } }, podSelector: { matchLabels: { role: 'client' } } }] }],
      }),
    ],
    [
      { name: 'allows a role=client Pod in a user=alice namespace', src: '10.244.4.1', dst: '10.244.3.1', port: 80, ingress: ['and', 'ingress-0', 'allow'], egress: 'none' },
      { name: 'drops another Pod of the user=alice namespace', src: '10.244.4.2', dst: '10.244.3.1', port: 80, ingress: ['and', '', 'drop'], egress: 'none' },
      { name: 'drops a role=client Pod in a user=bob namespace', src: '10.244.5.1', dst: '10.244.3.1', port: 80, ingress: ['and', '', 'drop'], egress: 'none' },
      { name: 'drops a role=client Pod in the policy namespace', src: '10.244.3.2', dst: '10.244.3.1', port: 80, ingress: ['and', '', 'drop'], egress: 'none' },
    ],
    'web',
  );
});

describe('namespaceSelector OR podSelector as two peers', () => {
  runTable(
    [
      ...andOrPods,
      networkPolicy('web', 'or', {
        podSelector: { matchLabels: { app: 'web' } },
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { user: 'alice' } } }, { podSelector: { matchLabels: { role: 'client' } } }] }],
      }),
    ],
    [
      { name: 'allows a role=client Pod in a user=alice namespace', src: '10.244.4.1', dst: '10.244.3.1', port: 80, ingress: ['or', 'ingress-0', 'allow'], egress: 'none' },
      { name: 'allows any Pod of the user=alice namespace', src: '10.244.4.2', dst: '10.244.3.1', port: 80, ingress: ['or', 'ingress-0', 'allow'], egress: 'none' },
      { name: 'drops a role=client Pod of a user=bob namespace', src: '10.244.5.1', dst: '10.244.3.1', port: 80, ingress: ['or', '', 'drop'], egress: 'none' },
      { name: 'allows a role=client Pod of the policy namespace', src: '10.244.3.2', dst: '10.244.3.1', port: 80, ingress: ['or', 'ingress-0', 'allow'], egress: 'none' },
      { name: 'drops an address outside the cluster (no ipBlock)', src: '192.0.2.9', dst: '10.244.3.1', port: 80, ingress: ['or', '', 'drop'], egress: 'none' },
    ],
    'web',
  );
});

describe('default policies from the documentation', () => {
  describe('default deny all ingress', () => {
    runTable(
      [...basePods, networkPolicy('default', 'default-deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] })],
      [
        { name: 'drops every connection into the namespace', src: '10.244.2.10', dst: '10.244.1.12', port: 80, ingress: ['default-deny-ingress', '', 'drop'], egress: 'none' },
        { name: 'drops connections inside the namespace', src: '10.244.1.11', dst: '10.244.1.10', port: 6379, ingress: ['default-deny-ingress', '', 'drop'], egress: 'none' },
        { name: 'does not touch egress', src: '10.244.1.11', dst: '10.244.2.10', port: 80, ingress: 'none', egress: 'none' },
      ],
    );
  });
  describe('allow all ingress', () => {
    runTable(
      [...basePods, networkPolicy('default', 'allow-all-ingress', { podSelector: {}, ingress: [{}] })],
      [
        { name: 'allows any peer with rule ingress-0', src: '192.0.2.1', dst: '10.244.1.12', port: 80, ingress: ['allow-all-ingress', 'ingress-0', 'allow'], egress: 'none' },
        { name: 'allows ICMP too (a rule without ports matches every protocol)', src: '10.244.2.11', dst: '10.244.1.12', protocol: ICMP, port: 0, ingress: ['allow-all-ingress', 'ingress-0', 'allow'], egress: 'none' },
      ],
    );
  });
  describe('default deny all egress', () => {
    runTable(
      [...basePods, networkPolicy('default', 'default-deny-egress', { podSelector: {}, policyTypes: ['Egress'] })],
      [
        { name: 'drops every connection out of the namespace', src: '10.244.1.11', dst: '8.8.8.8', protocol: UDP, port: 53, ingress: 'none', egress: ['default-deny-egress', '', 'drop'] },
        { name: 'does not touch ingress', src: '10.244.2.10', dst: '10.244.1.11', port: 80, ingress: 'none', egress: 'none' },
      ],
    );
  });
  describe('allow all egress', () => {
    runTable(
      [...basePods, networkPolicy('default', 'allow-all-egress', { podSelector: {}, egress: [{}], policyTypes: ['Egress'] })],
      [{ name: 'allows any destination with rule egress-0', src: '10.244.1.11', dst: '8.8.8.8', protocol: UDP, port: 53, ingress: 'none', egress: ['allow-all-egress', 'egress-0', 'allow'] }],
    );
  });
  describe('default deny all ingress and all egress', () => {
    runTable(
      [...basePods, networkPolicy('default', 'default-deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] })],
      [
        { name: 'drops both directions inside the namespace', src: '10.244.1.11', dst: '10.244.1.10', port: 6379, ingress: ['default-deny-all', '', 'drop'], egress: ['default-deny-all', '', 'drop'] },
        { name: 'drops only the isolated end of a cross-namespace connection', src: '10.244.2.10', dst: '10.244.1.10', port: 6379, ingress: ['default-deny-all', '', 'drop'], egress: 'none' },
      ],
    );
  });
});

describe('ports: endPort ranges, named ports, protocols', () => {
  runTable(
    [
      ...basePods,
      pod({ name: 'sctp', ips: ['10.244.1.20'], labels: { role: 'sctp' } }),
      networkPolicy('default', 'multi-port-egress', {
        podSelector: { matchLabels: { role: 'db' } },
        policyTypes: ['Egress'],
        egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/24' } }], ports: [{ protocol: 'TCP', port: 32000, endPort: 32768 }] }],
      }),
      networkPolicy('default', 'named-port', {
        podSelector: { matchLabels: { role: 'db' } },
        ingress: [{ ports: [{ port: 'redis' }] }],
      }),
      networkPolicy('default', 'sctp-only', {
        podSelector: { matchLabels: { role: 'sctp' } },
        ingress: [{ ports: [{ protocol: 'SCTP' }] }],
      }),
    ],
    [
      { name: 'allows the first port of an endPort range', src: '10.244.1.10', dst: '10.0.0.1', port: 32000, ingress: 'none', egress: ['multi-port-egress', 'egress-0', 'allow'] },
      { name: 'allows the last port of an endPort range', src: '10.244.1.10', dst: '10.0.0.1', port: 32768, ingress: 'none', egress: ['multi-port-egress', 'egress-0', 'allow'] },
      { name: 'drops the port below an endPort range', src: '10.244.1.10', dst: '10.0.0.1', port: 31999, ingress: 'none', egress: ['multi-port-egress', '', 'drop'] },
      { name: 'drops the port above an endPort range', src: '10.244.1.10', dst: '10.0.0.1', port: 32769, ingress: 'none', egress: ['multi-port-egress', '', 'drop'] },
      { name: 'resolves a named port against the destination Pod', src: '10.244.1.11', dst: '10.244.1.10', port: 6379, ingress: ['named-port', 'ingress-0', 'allow'], egress: 'none' },
      { name: 'does not match a named port on another port number', src: '10.244.1.11', dst: '10.244.1.10', port: 6380, ingress: ['named-port', '', 'drop'], egress: 'none' },
      { name: 'does not match a TCP named port for UDP', src: '10.244.1.11', dst: '10.244.1.10', protocol: UDP, port: 6379, ingress: ['named-port', '', 'drop'], egress: 'none' },
      { name: 'allows any SCTP port for a protocol-only port entry', src: '10.244.1.11', dst: '10.244.1.20', protocol: SCTP, port: 9999, ingress: ['sctp-only', 'ingress-0', 'allow'], egress: 'none' },
      { name: 'drops TCP for an SCTP-only port entry', src: '10.244.1.11', dst: '10.244.1.20', port: 9999, ingress: ['sctp-only', '', 'drop'], egress: 'none' },
    ],
  );
});

describe('policy types, several policies, selectors with expressions', () => {
  runTable(
    [
      ...basePods,
      // No policyTypes and only egress rules: affects Ingress (always implied) and Egress.
      networkPolicy('default', 'implied-types', {
        podSelector: { matchLabels: { role: 'backend' } },
        egress: [{ to: [{ podSelector: { matchLabels: { role: 'db' } } }] }],
      }),
      // Ingress rules only, no policyTypes: egress of frontend is not isolated.
      networkPolicy('default', 'a-deny-frontend', { podSelector: { matchLabels: { role: 'frontend' } }, ingress: [] }),
      networkPolicy('default', 'b-allow-frontend-from-db', {
        podSelector: { matchExpressions: [{ key: 'role', operator: 'In', values: ['frontend', 'nothing'] }] },
        ingress: [
          { from: [{ podSelector: { matchExpressions: [{ key: 'role', operator: 'NotIn', values: ['frontend', 'backend'] }, { key: 'role', operator: 'Exists' }] } }] },
          { from: [{ podSelector: { matchExpressions: [{ key: 'role', operator: 'DoesNotExist' }] }, namespaceSelector: {} }] },
        ],
      }),
      networkPolicy('default', 'c-also-isolates-frontend', { podSelector: { matchLabels: { role: 'frontend' } }, policyTypes: ['Ingress'] }),
    ],
    [
      { name: 'implied Ingress type isolates a Pod whose policy has only egress rules', src: '10.244.1.11', dst: '10.244.1.12', port: 80, ingress: ['implied-types', '', 'drop'], egress: 'none' },
      { name: 'implied Egress type allows egress to a matching Pod', src: '10.244.1.12', dst: '10.244.1.10', port: 6379, ingress: 'none', egress: ['implied-types', 'egress-0', 'allow'] },
      { name: 'implied Egress type drops egress elsewhere', src: '10.244.1.12', dst: '10.244.1.11', port: 80, ingress: ['', '', 'drop'], egress: ['implied-types', '', 'drop'] },
      { name: 'the union of policies allows what one allows (NotIn + Exists)', src: '10.244.1.10', dst: '10.244.1.11', port: 80, ingress: ['b-allow-frontend-from-db', 'ingress-0', 'allow'], egress: 'none' },
      { name: 'names the second rule that allows (DoesNotExist, any namespace)', src: '10.244.2.10', dst: '10.244.1.11', port: 80, ingress: ['b-allow-frontend-from-db', 'ingress-1', 'allow'], egress: 'none' },
      { name: 'a drop under several isolating policies names none of them', src: '10.244.2.11', dst: '10.244.1.11', port: 80, ingress: ['', '', 'drop'], egress: 'none' },
    ],
  );
});

describe('IPv6 ipBlocks', () => {
  runTable(
    [
      namespace('v6'),
      pod({ namespace: 'v6', name: 'server', ips: ['10.244.6.1', 'fd00:10:244:6::1'], labels: { app: 'server' } }),
      pod({ namespace: 'v6', name: 'peer', ips: ['fd00:10:244:6::2'], labels: { app: 'peer' } }),
      networkPolicy('v6', 'v6-blocks', {
        podSelector: { matchLabels: { app: 'server' } },
        ingress: [{ from: [{ ipBlock: { cidr: '2001:db8::/32', except: ['2001:db8:bad::/48'] } }, { ipBlock: { cidr: '192.0.2.0/24' } }] }],
      }),
    ],
    [
      { name: 'allows an IPv6 source inside the block', src: '2001:db8:1::5', dst: 'fd00:10:244:6::1', port: 443, ingress: ['v6-blocks', 'ingress-0', 'allow'], egress: 'none' },
      { name: 'drops an IPv6 source inside the except range', src: '2001:db8:bad:1::5', dst: 'fd00:10:244:6::1', port: 443, ingress: ['v6-blocks', '', 'drop'], egress: 'none' },
      { name: 'drops an IPv6 source outside the block', src: '2001:db9::5', dst: 'fd00:10:244:6::1', port: 443, ingress: ['v6-blocks', '', 'drop'], egress: 'none' },
      { name: 'finds a dual-stack Pod by its IPv6 address written uncompressed', src: '2001:0db8:0001:0000:0000:0000:0000:0005', dst: 'fd00:10:244:6:0:0:0:1', port: 443, ingress: ['v6-blocks', 'ingress-0', 'allow'], egress: 'none' },
      { name: 'does not match an IPv4 block against an IPv6 peer', src: 'fd00:10:244:6::2', dst: 'fd00:10:244:6::1', port: 443, ingress: ['v6-blocks', '', 'drop'], egress: 'none' },
      { name: 'allows the same Pod over IPv4 from the IPv4 block', src: '192.0.2.77', dst: '10.244.6.1', port: 443, ingress: ['v6-blocks', 'ingress-0', 'allow'], egress: 'none' },
    ],
    'v6',
  );
});

describe('local Node filter', () => {
  const state = cluster([
    namespace('default'),
    pod({ name: 'a', ips: ['10.244.1.1'], labels: { app: 'a' }, node: 'node-a' }),
    pod({ name: 'b', ips: ['10.244.2.1'], labels: { app: 'b' }, node: 'node-b' }),
    networkPolicy('default', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }),
  ]);
  const q = { sourceAddress: '10.244.1.1', destinationAddress: '10.244.2.1', protocol: TCP, destinationPort: 80, atMs: Date.parse('2024-06-01T00:00:00Z') };
  it('reports only egress on the source Pod\'s Node', () => {
    const v = state.evaluatePolicies({ ...q, localNodeName: 'node-a' });
    check(v.egress, ['deny-all', '', 'drop'], 'default', 'egress');
    check(v.ingress, 'none', 'default', 'ingress');
  });
  it('reports only ingress on the destination Pod\'s Node', () => {
    const v = state.evaluatePolicies({ ...q, localNodeName: 'node-b' });
    check(v.egress, 'none', 'default', 'egress');
    check(v.ingress, ['deny-all', '', 'drop'], 'default', 'ingress');
  });
  it('reports both without a Node filter', () => {
    const v = state.evaluatePolicies(q);
    check(v.egress, ['deny-all', '', 'drop'], 'default', 'egress');
    check(v.ingress, ['deny-all', '', 'drop'], 'default', 'ingress');
  });
});
