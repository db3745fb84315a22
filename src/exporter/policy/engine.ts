// Kubernetes NetworkPolicy attribution for one connection, per direction.
//
// Semantics (https://kubernetes.io/docs/concepts/services-networking/network-policies/):
// - A Pod is isolated for ingress (egress) when any policy in its namespace selects it with
//   podSelector and affects that direction (policyTypes, explicit or implied).
// - A connection to (from) an isolated Pod is allowed iff some rule of some selecting policy
//   allows it: a peer matches (or the rule has none) and a port matches (or the rule has none).
// - Not isolated: no policy applies, the attribution is empty (action 0).
//
// Attribution, as Antrea reports it for K8s NetworkPolicies (type 1):
// - allowed: the first allowing rule, policies taken in name order, rules in list order; rule
//   names are generated as "ingress-<i>" / "egress-<i>" (K8s rules have no names).
// - dropped by isolation: action Drop (2), rule name ''. Policy name and namespace are the
//   isolating policy's when exactly one isolates the Pod; when several do, the name is '' and the
//   namespace is the Pod's (every isolating policy lives there): no single policy is to blame.
import { PolicyType, RuleAction } from '../../flow/record.js';
import { cidrContains, type ParsedIp } from './ip.js';
import type { CompiledPeer, CompiledPolicy, CompiledPort, CompiledRule } from './network-policy.js';
import type { Labels } from './selector.js';

/** What the engine needs to know about a Pod at one end of a connection. */
export interface PolicySubject {
  readonly namespace: string;
  readonly labels: Labels;
  readonly containerPorts: readonly { readonly name: string; readonly port: number; readonly protocol: number }[];
}

/** One direction's attribution, in the Flow Record's terms (56506/110-142). */
export interface PolicyAttribution {
  readonly name: string;
  readonly namespace: string;
  readonly type: PolicyType;
  readonly ruleName: string;
  readonly action: RuleAction;
}

export interface PolicyVerdict {
  readonly ingress: PolicyAttribution;
  readonly egress: PolicyAttribution;
}

export const NO_POLICY: PolicyAttribution = Object.freeze({
  name: '',
  namespace: '',
  type: PolicyType.none,
  ruleName: '',
  action: RuleAction.none,
});

export const NO_VERDICT: PolicyVerdict = Object.freeze({ ingress: NO_POLICY, egress: NO_POLICY });

export interface EvaluationInput {
  /** The Pod that owns the source address, when known. Egress is evaluated for it. */
  readonly source?: PolicySubject;
  /** The Pod that owns the (post-DNAT) destination address. Ingress is evaluated for it. */
  readonly destination?: PolicySubject;
  readonly sourceIp: ParsedIp;
  readonly destinationIp: ParsedIp;
  readonly protocol: number;
  readonly destinationPort: number;
  /** False to skip a direction (e.g. the Pod is not local to this Node); default true. */
  readonly evaluateEgress?: boolean;
  readonly evaluateIngress?: boolean;
  /** Labels of a namespace (with kubernetes.io/metadata.name), for namespaceSelector peers. */
  namespaceLabels(namespace: string): Labels;
}

interface NamespacePolicies {
  all: Map<string, CompiledPolicy>;
  /** Sorted by name, rebuilt when the namespace's policies change. */
  ingress: CompiledPolicy[];
  egress: CompiledPolicy[];
  dirty: boolean;
}

export class PolicyEngine {
  private readonly byNamespace = new Map<string, NamespacePolicies>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  upsert(policy: CompiledPolicy): void {
    let ns = this.byNamespace.get(policy.namespace);
    if (!ns) {
      ns = { all: new Map(), ingress: [], egress: [], dirty: false };
      this.byNamespace.set(policy.namespace, ns);
    }
    if (!ns.all.has(policy.name)) this.count++;
    ns.all.set(policy.name, policy);
    ns.dirty = true;
  }

  delete(namespace: string, name: string): boolean {
    const ns = this.byNamespace.get(namespace);
    if (!ns || !ns.all.delete(name)) return false;
    this.count--;
    ns.dirty = true;
    if (ns.all.size === 0) this.byNamespace.delete(namespace);
    return true;
  }

  clear(): void {
    this.byNamespace.clear();
    this.count = 0;
  }

  list(): CompiledPolicy[] {
    const out: CompiledPolicy[] = [];
    for (const ns of this.byNamespace.values()) out.push(...ns.all.values());
    return out;
  }

  evaluate(input: EvaluationInput): PolicyVerdict {
    const egress = input.source && input.evaluateEgress !== false ? this.evaluateDirection('egress', input.source, input.destination, input.destinationIp, input) : NO_POLICY;
    const ingress = input.destination && input.evaluateIngress !== false ? this.evaluateDirection('ingress', input.destination, input.source, input.sourceIp, input) : NO_POLICY;
    if (egress === NO_POLICY && ingress === NO_POLICY) return NO_VERDICT;
    return { ingress, egress };
  }

  private policiesFor(namespace: string, dir: 'ingress' | 'egress'): CompiledPolicy[] | undefined {
    const ns = this.byNamespace.get(namespace);
    if (!ns) return undefined;
    if (ns.dirty) {
      const sorted = [...ns.all.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      ns.ingress = sorted.filter((p) => p.ingress !== undefined);
      ns.egress = sorted.filter((p) => p.egress !== undefined);
      ns.dirty = false;
    }
    return dir === 'ingress' ? ns.ingress : ns.egress;
  }

  /**
   * `subject` is the Pod whose isolation is tested (destination for ingress, source for egress);
   * `peer`/`peerIp` the other end. Named ports always resolve against the destination Pod.
   */
  private evaluateDirection(
    dir: 'ingress' | 'egress',
    subject: PolicySubject,
    peer: PolicySubject | undefined,
    peerIp: ParsedIp,
    input: EvaluationInput,
  ): PolicyAttribution {
    const policies = this.policiesFor(subject.namespace, dir);
    if (!policies || policies.length === 0) return NO_POLICY;
    let isolating: CompiledPolicy | undefined;
    let isolatingCount = 0;
    for (const policy of policies) {
      if (!policy.podSelector.matches(subject.labels)) continue;
      isolatingCount++;
      isolating ??= policy;
      const rules = (dir === 'ingress' ? policy.ingress : policy.egress) as readonly CompiledRule[];
      for (const rule of rules) {
        if (ruleAllows(rule, policy.namespace, peer, peerIp, input)) {
          return { name: policy.name, namespace: policy.namespace, type: PolicyType.k8sNetworkPolicy, ruleName: rule.name, action: RuleAction.allow };
        }
      }
    }
    if (isolatingCount === 0) return NO_POLICY;
    return {
      name: isolatingCount === 1 ? isolating!.name : '',
      namespace: subject.namespace,
      type: PolicyType.k8sNetworkPolicy,
      ruleName: '',
      action: RuleAction.drop,
    };
  }
}

function ruleAllows(
  rule: CompiledRule,
  policyNamespace: string,
  peer: PolicySubject | undefined,
  peerIp: ParsedIp,
  input: EvaluationInput,
): boolean {
  if (rule.ports && !rule.ports.some((p) => portMatches(p, input.protocol, input.destinationPort, input.destination))) return false;
  if (!rule.peers) return true;
  for (const p of rule.peers) if (peerMatches(p, policyNamespace, peer, peerIp, input)) return true;
  return false;
}

function peerMatches(
  p: CompiledPeer,
  policyNamespace: string,
  peer: PolicySubject | undefined,
  peerIp: ParsedIp,
  input: EvaluationInput,
): boolean {
  if (p.kind === 'ipBlock') {
    if (!cidrContains(p.cidr, peerIp)) return false;
    for (const e of p.except) if (cidrContains(e, peerIp)) return false;
    return true;
  }
  if (!peer) return false;
  if (p.namespaceSelector) {
    if (!p.namespaceSelector.matchesAll && !p.namespaceSelector.matches(input.namespaceLabels(peer.namespace))) return false;
  } else if (peer.namespace !== policyNamespace) {
    return false;
  }
  return !p.podSelector || p.podSelector.matches(peer.labels);
}

function portMatches(p: CompiledPort, protocol: number, port: number, destination: PolicySubject | undefined): boolean {
  if (p.protocol !== protocol) return false;
  if (p.name !== undefined) {
    if (!destination) return false;
    for (const cp of destination.containerPorts) {
      if (cp.name === p.name && cp.protocol === protocol && cp.port === port) return true;
    }
    return false;
  }
  if (p.port === undefined) return true;
  if (p.endPort !== undefined) return port >= p.port && port <= p.endPort;
  return port === p.port;
}
