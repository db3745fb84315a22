// Which policy decides each direction of a simulated connection, in Antrea's order: Antrea-native
// policies (ClusterNetworkPolicy, then namespaced NetworkPolicy) first, each rule with its own
// name and action (Allow, Drop, Reject); then Kubernetes NetworkPolicies, evaluated by the
// exporter's own engine (src/exporter/policy), so a denial by isolation reads exactly as the
// real exporter reports it (action Drop, rule name '').
//
// The Antrea-native model is small on purpose: a rule matches source and destination by
// namespace and `app` label, or "outside the cluster", and a port. It covers what the demo's
// cluster needs, and every verdict it gives carries a policy name, a type and a rule name.
import { PolicyType, RuleAction } from '../flow/record.js';
import { compileNetworkPolicy } from '../exporter/policy/network-policy.js';
import { NO_POLICY, PolicyEngine, type PolicyAttribution, type PolicySubject } from '../exporter/policy/engine.js';
import { parseIp } from '../exporter/policy/ip.js';
import type { Protocol, SimCluster, SimPod } from './cluster.js';

/** One end of a connection as the policy model sees it. */
export interface Endpoint {
  /** Undefined: outside the cluster. */
  readonly pod?: SimPod;
  readonly ip: string;
}

export interface ConnectionSpec {
  readonly source: Endpoint;
  readonly destination: Endpoint;
  readonly protocol: Protocol;
  /** The post-DNAT destination port. */
  readonly destinationPort: number;
}

export interface Verdict {
  readonly ingress: PolicyAttribution;
  readonly egress: PolicyAttribution;
}

interface PeerMatch {
  readonly namespace?: string;
  readonly app?: string;
  /** Matches only endpoints outside the cluster. */
  readonly external?: boolean;
}

interface AntreaRule {
  readonly name: string;
  readonly direction: 'ingress' | 'egress';
  readonly action: RuleAction;
  /** The Pods the rule applies to (source for egress, destination for ingress). */
  readonly appliedTo: PeerMatch;
  readonly peer: PeerMatch;
  readonly port?: number;
  /** Narrows an external peer to these addresses. */
  readonly peerIps?: readonly string[];
}

interface AntreaPolicy {
  readonly name: string;
  /** '' for a ClusterNetworkPolicy. */
  readonly namespace: string;
  readonly type: PolicyType;
  readonly rules: readonly AntreaRule[];
}

/** Antrea-native policies, highest priority first. */
export const ANTREA_POLICIES: readonly AntreaPolicy[] = [
  {
    name: 'allow-kube-dns',
    namespace: '',
    type: PolicyType.antreaClusterNetworkPolicy,
    rules: [{ name: 'allow-dns-egress', direction: 'egress', action: RuleAction.allow, appliedTo: {}, peer: { namespace: 'kube-system', app: 'coredns' }, port: 53 }],
  },
  {
    name: 'isolate-dev',
    namespace: '',
    type: PolicyType.antreaClusterNetworkPolicy,
    rules: [
      { name: 'reject-internet-egress', direction: 'egress', action: RuleAction.reject, appliedTo: { namespace: 'dev' }, peer: { external: true } },
      { name: 'reject-shop-egress', direction: 'egress', action: RuleAction.reject, appliedTo: { namespace: 'dev' }, peer: { namespace: 'shop' } },
    ],
  },
  {
    name: 'payments-egress',
    namespace: 'shop',
    type: PolicyType.antreaNetworkPolicy,
    rules: [
      { name: 'allow-payment-gateway', direction: 'egress', action: RuleAction.allow, appliedTo: { namespace: 'shop', app: 'payments' }, peer: { external: true }, peerIps: ['203.0.113.10', '2001:db8:113::10'], port: 443 },
      { name: 'drop-other-external', direction: 'egress', action: RuleAction.drop, appliedTo: { namespace: 'shop', app: 'payments' }, peer: { external: true } },
    ],
  },
];

/** Kubernetes NetworkPolicies of the demo, as the API server would hold them. */
export function kubernetesPolicies(): object[] {
  const np = (namespace: string, name: string, spec: object) => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { namespace, name, uid: `demo-${namespace}-${name}` },
    spec,
  });
  const ns = (name: string) => ({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': name } } });
  return [
    np('data', 'postgres-clients', {
      podSelector: { matchLabels: { app: 'postgres' } },
      policyTypes: ['Ingress'],
      ingress: [
        { from: [{ ...ns('shop'), podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['catalog', 'checkout'] }] } }, ns('batch')], ports: [{ protocol: 'TCP', port: 'postgres' }] },
        { from: [ns('monitoring')], ports: [{ protocol: 'TCP', port: 'metrics' }] },
      ],
    }),
    np('data', 'redis-clients', {
      podSelector: { matchLabels: { app: 'redis' } },
      policyTypes: ['Ingress'],
      ingress: [{ from: [{ ...ns('shop'), podSelector: { matchLabels: { app: 'cart' } } }], ports: [{ protocol: 'TCP', port: 6379 }] }],
    }),
    np('shop', 'frontend-from-ingress', {
      podSelector: { matchLabels: { app: 'frontend' } },
      policyTypes: ['Ingress'],
      ingress: [{ from: [ns('ingress-nginx')], ports: [{ protocol: 'TCP', port: 'http' }] }, { from: [ns('monitoring')], ports: [{ protocol: 'TCP', port: 'metrics' }] }],
    }),
  ];
}

function matches(m: PeerMatch, e: Endpoint): boolean {
  if (m.external) return e.pod === undefined;
  if (e.pod === undefined) return false;
  if (m.namespace !== undefined && e.pod.namespace !== m.namespace) return false;
  if (m.app !== undefined && e.pod.labels.app !== m.app) return false;
  return true;
}

function subject(p: SimPod): PolicySubject {
  return { namespace: p.namespace, labels: p.labels, containerPorts: p.ports.map((x) => ({ name: x.name, port: x.port, protocol: x.protocol })) };
}

export class PolicyModel {
  private readonly engine = new PolicyEngine();
  private readonly namespaceLabels: Map<string, Readonly<Record<string, string>>>;

  constructor(cluster: SimCluster) {
    for (const obj of kubernetesPolicies()) this.engine.upsert(compileNetworkPolicy(obj));
    this.namespaceLabels = new Map(cluster.namespaces.map((n) => [n.name, n.labels]));
  }

  /** Both directions' attribution; a direction without a Pod to apply to is empty. */
  evaluate(c: ConnectionSpec): Verdict {
    const egress = c.source.pod ? (this.antrea('egress', c) ?? this.kubernetes('egress', c)) : NO_POLICY;
    const ingress = c.destination.pod ? (this.antrea('ingress', c) ?? this.kubernetes('ingress', c)) : NO_POLICY;
    return { ingress, egress };
  }

  private antrea(direction: 'ingress' | 'egress', c: ConnectionSpec): PolicyAttribution | undefined {
    const applied = direction === 'egress' ? c.source : c.destination;
    const peer = direction === 'egress' ? c.destination : c.source;
    for (const p of ANTREA_POLICIES) {
      for (const r of p.rules) {
        if (r.direction !== direction || !matches(r.appliedTo, applied) || !matches(r.peer, peer)) continue;
        if (r.port !== undefined && r.port !== c.destinationPort) continue;
        if (r.peerIps !== undefined && !r.peerIps.includes(peer.ip)) continue;
        return { name: p.name, namespace: p.namespace, type: p.type, ruleName: r.name, action: r.action };
      }
    }
    return undefined;
  }

  private kubernetes(direction: 'ingress' | 'egress', c: ConnectionSpec): PolicyAttribution {
    const sourceIp = parseIp(c.source.ip);
    const destinationIp = parseIp(c.destination.ip);
    if (!sourceIp || !destinationIp) return NO_POLICY;
    const v = this.engine.evaluate({
      source: c.source.pod ? subject(c.source.pod) : undefined,
      destination: c.destination.pod ? subject(c.destination.pod) : undefined,
      sourceIp,
      destinationIp,
      protocol: c.protocol,
      destinationPort: c.destinationPort,
      evaluateEgress: direction === 'egress',
      evaluateIngress: direction === 'ingress',
      namespaceLabels: (ns) => this.namespaceLabels.get(ns) ?? { 'kubernetes.io/metadata.name': ns },
    });
    return direction === 'egress' ? v.egress : v.ingress;
  }
}

/** True when a direction's verdict stops the connection. */
export function denies(a: PolicyAttribution): boolean {
  return a.action === RuleAction.drop || a.action === RuleAction.reject;
}
