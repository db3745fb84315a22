// A ClusterMetadata for exporter unit tests: fixed Pods, Services and CIDRs, and a policy
// verdict per destination port. The policy semantics have their own tests in test/unit/policy.
import type {
  ClusterMetadata,
  MetadataStats,
  NodeInfo,
  PodInfo,
  PolicyQuery,
  PolicyVerdict,
  ServicePortInfo,
} from '../../../src/exporter/k8s/metadata.js';
import { PolicyType, RuleAction } from '../../../src/flow/record.js';

export function pod(namespace: string, name: string, nodeName: string, ip: string, startMs = 0, endMs?: number): PodInfo {
  return { namespace, name, uid: `${namespace}-${name}`, nodeName, ips: [ip], labels: {}, hostNetwork: false, containerPorts: [], startMs, endMs };
}

export function service(namespace: string, name: string, portName: string, port: number, protocol = 6): ServicePortInfo {
  return { namespace, name, portName, port, protocol, servicePortName: portName ? `${namespace}/${name}:${portName}` : `${namespace}/${name}` };
}

const NONE = { name: '', namespace: '', type: PolicyType.none, ruleName: '', action: RuleAction.none };

export class FakeMetadata implements ClusterMetadata {
  readonly queries: PolicyQuery[] = [];
  constructor(
    readonly pods: PodInfo[],
    readonly services: Map<string, ServicePortInfo> = new Map(),
    readonly cidrs: string[] = [],
    readonly verdictByPort: Map<number, PolicyVerdict> = new Map(),
  ) {}
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  ready(): boolean {
    return true;
  }
  async waitUntilReady(): Promise<void> {}
  podByIp(ip: string, atMs: number): PodInfo | undefined {
    return this.pods.find((p) => p.ips.includes(ip) && p.startMs <= atMs && (p.endMs === undefined || atMs < p.endMs));
  }
  serviceByClusterIp(ip: string, port: number, protocol: number): ServicePortInfo | undefined {
    const s = this.services.get(`${ip}:${port}`);
    return s && s.protocol === protocol ? s : undefined;
  }
  serviceByEndpoint(): ServicePortInfo | undefined {
    return undefined;
  }
  nodeByName(): NodeInfo | undefined {
    return undefined;
  }
  nodeByIp(): NodeInfo | undefined {
    return undefined;
  }
  podCidrs(): readonly string[] {
    return this.cidrs;
  }
  evaluatePolicies(q: PolicyQuery): PolicyVerdict {
    this.queries.push(q);
    return this.verdictByPort.get(q.destinationPort) ?? { ingress: NONE, egress: NONE };
  }
  stats(): MetadataStats {
    return { objectsRejected: 0, watchErrors: 0, inventoryReloads: 0, inventoryReloadFailures: 0, pods: this.pods.length, services: this.services.size, nodes: 0, namespaces: 0, networkPolicies: 0 };
  }
}
