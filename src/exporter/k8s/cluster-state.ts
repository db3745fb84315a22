// The in-memory picture of the cluster that both metadata sources feed, and the lookups the
// exporter loop makes per connection.
//
// Pod IPs are reused. Each IP keeps a short history of the Pods that held it, each with the
// span of its claim [startMs, endMs). A lookup for a connection that started at t returns the
// Pod whose span covers t (the latest-started one when spans overlap, e.g. when a new Pod shows
// up before the old one's deletion is observed). Ended Pods are kept for `endedPodRetentionMs`
// and at most `maxPodsPerIp` per IP, so the history is bounded.
import type { Clock } from '../../util/clock.js';
import { NO_VERDICT, PolicyEngine, type PolicyVerdict } from '../policy/engine.js';
import { canonicalIp, parseIp } from '../policy/ip.js';
import type { CompiledPolicy } from '../policy/network-policy.js';
import type { MetadataStats, NodeInfo, PodInfo, PolicyQuery, ServicePortInfo } from './metadata.js';
import { implicitNamespaceLabels, type EndpointSliceInfo, type ServiceInfo } from './objects.js';

export interface ClusterStateOptions {
  readonly clock: Clock;
  /** Pods remembered per IP, live and ended (default 8). */
  readonly maxPodsPerIp?: number;
  /** How long an ended Pod still answers lookups for connections that started before its end (default 10 min). */
  readonly endedPodRetentionMs?: number;
  /**
   * Tolerance for a connection that appears to start just before its Pod's creationTimestamp
   * (API server and node clocks differ; the timestamp has 1 s resolution). Used only when no Pod's
   * span covers the start exactly (default 2 s).
   */
  readonly startSlackMs?: number;
}

/** Everything a full replacement (inventory reload) carries. */
export interface ClusterSnapshot {
  readonly pods: readonly PodInfo[];
  readonly services: readonly ServiceInfo[];
  readonly endpointSlices: readonly EndpointSliceInfo[];
  readonly nodes: readonly NodeInfo[];
  readonly namespaces: readonly { name: string; labels: Readonly<Record<string, string>> }[];
  readonly policies: readonly CompiledPolicy[];
}

interface Ended {
  readonly pod: PodInfo;
  readonly expireAtMs: number;
}

const svcKey = (ip: string, port: number, protocol: number): string => `${ip}|${port}|${protocol}`;

export class ClusterState {
  readonly clock: Clock;
  private readonly maxPodsPerIp: number;
  private readonly retentionMs: number;
  private readonly slackMs: number;

  private readonly livePods = new Map<string, PodInfo>();
  private readonly podsByIp = new Map<string, PodInfo[]>();
  private ended: Ended[] = [];
  private endedHead = 0;

  private readonly services = new Map<string, ServiceInfo>();
  private readonly frontends = new Map<string, ServicePortInfo>();
  private readonly slices = new Map<string, EndpointSliceInfo>();
  private readonly endpoints = new Map<string, Map<string, ServicePortInfo>>();
  private readonly nodes = new Map<string, NodeInfo>();
  private readonly nodeIps = new Map<string, NodeInfo>();
  private cidrCache: readonly string[] | undefined;
  private readonly namespaces = new Map<string, Readonly<Record<string, string>>>();
  readonly policies = new PolicyEngine();

  /** Counters the sources add to; stats() reports them. */
  objectsRejected = 0;
  watchErrors = 0;
  inventoryReloads = 0;
  inventoryReloadFailures = 0;

  constructor(options: ClusterStateOptions) {
    this.clock = options.clock;
    this.maxPodsPerIp = options.maxPodsPerIp ?? 8;
    this.retentionMs = options.endedPodRetentionMs ?? 600_000;
    this.slackMs = options.startSlackMs ?? 2000;
    if (!(this.maxPodsPerIp >= 1)) throw new RangeError('maxPodsPerIp must be at least 1');
  }

  // ---- Pods ----------------------------------------------------------------------------

  upsertPod(pod: PodInfo): void {
    const key = `${pod.namespace}/${pod.name}`;
    const prev = this.livePods.get(key);
    if (prev) {
      const sameIncarnation = prev.uid === pod.uid;
      if (sameIncarnation) {
        this.unindex(prev);
      } else if (prev.endMs === undefined) {
        // Same name, new uid (a StatefulSet Pod recreated): the old one ended when the new began.
        this.endPod(prev, pod.startMs > 0 ? pod.startMs : this.clock.now());
      }
    }
    this.livePods.set(key, pod);
    this.index(pod);
    if (pod.endMs !== undefined) this.pushEnded(pod);
    this.pruneEnded();
  }

  /** The Pod object is gone; its claim on its IPs ended at `observedMs` unless it had ended already. */
  deletePod(namespace: string, name: string, observedMs: number): void {
    const key = `${namespace}/${name}`;
    const prev = this.livePods.get(key);
    if (!prev) return;
    this.livePods.delete(key);
    if (prev.endMs === undefined) this.endPod(prev, observedMs);
    this.pruneEnded();
  }

  private endPod(pod: PodInfo, endMs: number): void {
    const ended: PodInfo = Object.freeze({ ...pod, endMs: Math.max(endMs, pod.startMs) });
    for (const ip of this.indexedIps(pod)) {
      const list = this.podsByIp.get(ip);
      const i = list ? list.indexOf(pod) : -1;
      if (i >= 0) list![i] = ended;
    }
    this.pushEnded(ended);
  }

  private indexedIps(pod: PodInfo): readonly string[] {
    return pod.hostNetwork ? [] : pod.ips;
  }

  private index(pod: PodInfo): void {
    for (const ip of this.indexedIps(pod)) {
      let list = this.podsByIp.get(ip);
      if (!list) this.podsByIp.set(ip, (list = []));
      list.push(pod);
      while (list.length > this.maxPodsPerIp) {
        // Forget the earliest-ended Pod first; a live Pod only when every entry is live.
        let victim = -1;
        for (let i = 0; i < list.length; i++) {
          const e = list[i].endMs;
          if (e !== undefined && (victim < 0 || e < (list[victim].endMs as number))) victim = i;
        }
        list.splice(victim < 0 ? 0 : victim, 1);
      }
    }
  }

  private unindex(pod: PodInfo): void {
    for (const ip of this.indexedIps(pod)) {
      const list = this.podsByIp.get(ip);
      if (!list) continue;
      const i = list.indexOf(pod);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.podsByIp.delete(ip);
    }
  }

  private pushEnded(pod: PodInfo): void {
    this.ended.push({ pod, expireAtMs: (pod.endMs as number) + this.retentionMs });
  }

  private pruneEnded(): void {
    const now = this.clock.now();
    while (this.endedHead < this.ended.length && this.ended[this.endedHead].expireAtMs <= now) {
      const { pod } = this.ended[this.endedHead++];
      // Only if the ended version is still what the index holds (a live re-add replaced nothing).
      if (this.livePods.get(`${pod.namespace}/${pod.name}`) === pod) continue;
      this.unindex(pod);
    }
    if (this.endedHead > 1024 && this.endedHead * 2 > this.ended.length) {
      this.ended = this.ended.slice(this.endedHead);
      this.endedHead = 0;
    }
  }

  podByIp(ip: string, atMs: number): PodInfo | undefined {
    const canon = canonicalIp(ip);
    if (canon === undefined) return undefined;
    const list = this.podsByIp.get(canon);
    if (!list) return undefined;
    if (!(atMs > 0)) {
      let live: PodInfo | undefined;
      for (const p of list) if (p.endMs === undefined && (!live || p.startMs >= live.startMs)) live = p;
      return live;
    }
    let best: PodInfo | undefined;
    for (const p of list) {
      if (atMs >= p.startMs && (p.endMs === undefined || atMs < p.endMs) && (!best || p.startMs >= best.startMs)) best = p;
    }
    if (best) return best;
    for (const p of list) {
      if (atMs >= p.startMs - this.slackMs && (p.endMs === undefined || atMs < p.endMs) && (!best || p.startMs >= best.startMs)) best = p;
    }
    return best;
  }

  livePodCount(): number {
    return this.livePods.size;
  }

  // ---- Services and EndpointSlices --------------------------------------------------------

  upsertService(svc: ServiceInfo): void {
    this.deleteService(svc.namespace, svc.name);
    this.services.set(`${svc.namespace}/${svc.name}`, svc);
    for (const ip of svc.frontendIps) for (const p of svc.ports) this.frontends.set(svcKey(ip, p.port, p.protocol), p);
  }

  deleteService(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const prev = this.services.get(key);
    if (!prev) return;
    this.services.delete(key);
    for (const ip of prev.frontendIps) {
      for (const p of prev.ports) {
        const k = svcKey(ip, p.port, p.protocol);
        if (this.frontends.get(k) === p) this.frontends.delete(k);
      }
    }
  }

  serviceByClusterIp(ip: string, port: number, protocol: number): ServicePortInfo | undefined {
    const canon = canonicalIp(ip);
    return canon === undefined ? undefined : this.frontends.get(svcKey(canon, port, protocol));
  }

  upsertEndpointSlice(slice: EndpointSliceInfo): void {
    this.deleteEndpointSlice(slice.namespace, slice.name);
    const sliceKey = `${slice.namespace}/${slice.name}`;
    this.slices.set(sliceKey, slice);
    if (slice.serviceName === '') return;
    for (const ip of slice.addresses) {
      for (const p of slice.ports) {
        const k = svcKey(ip, p.port, p.protocol);
        let m = this.endpoints.get(k);
        if (!m) this.endpoints.set(k, (m = new Map()));
        m.set(sliceKey, p);
      }
    }
  }

  deleteEndpointSlice(namespace: string, name: string): void {
    const sliceKey = `${namespace}/${name}`;
    const prev = this.slices.get(sliceKey);
    if (!prev) return;
    this.slices.delete(sliceKey);
    for (const ip of prev.addresses) {
      for (const p of prev.ports) {
        const k = svcKey(ip, p.port, p.protocol);
        const m = this.endpoints.get(k);
        if (!m) continue;
        m.delete(sliceKey);
        if (m.size === 0) this.endpoints.delete(k);
      }
    }
  }

  serviceByEndpoint(ip: string, port: number, protocol: number): ServicePortInfo | undefined {
    const canon = canonicalIp(ip);
    if (canon === undefined) return undefined;
    const m = this.endpoints.get(svcKey(canon, port, protocol));
    if (!m) return undefined;
    for (const p of m.values()) return p;
    return undefined;
  }

  // ---- Nodes and Namespaces ---------------------------------------------------------------

  upsertNode(node: NodeInfo): void {
    this.deleteNode(node.name);
    this.nodes.set(node.name, node);
    for (const ip of node.addresses) this.nodeIps.set(ip, node);
    this.cidrCache = undefined;
  }

  deleteNode(name: string): void {
    const prev = this.nodes.get(name);
    if (!prev) return;
    this.nodes.delete(name);
    for (const ip of prev.addresses) if (this.nodeIps.get(ip) === prev) this.nodeIps.delete(ip);
    this.cidrCache = undefined;
  }

  nodeByName(name: string): NodeInfo | undefined {
    return this.nodes.get(name);
  }

  nodeByIp(ip: string): NodeInfo | undefined {
    const canon = canonicalIp(ip);
    return canon === undefined ? undefined : this.nodeIps.get(canon);
  }

  podCidrs(): readonly string[] {
    if (!this.cidrCache) {
      const all = new Set<string>();
      for (const n of this.nodes.values()) for (const c of n.podCidrs) all.add(c);
      this.cidrCache = Object.freeze([...all].sort());
    }
    return this.cidrCache;
  }

  upsertNamespace(name: string, labels: Readonly<Record<string, string>>): void {
    this.namespaces.set(name, labels);
  }

  deleteNamespace(name: string): void {
    this.namespaces.delete(name);
  }

  namespaceLabels = (name: string): Readonly<Record<string, string>> => this.namespaces.get(name) ?? implicitNamespaceLabels(name);

  // ---- NetworkPolicies --------------------------------------------------------------------

  upsertPolicy(policy: CompiledPolicy): void {
    this.policies.upsert(policy);
  }

  deletePolicy(namespace: string, name: string): void {
    this.policies.delete(namespace, name);
  }

  evaluatePolicies(q: PolicyQuery): PolicyVerdict {
    const sourceIp = parseIp(q.sourceAddress);
    const destinationIp = parseIp(q.destinationAddress);
    if (!sourceIp || !destinationIp) return NO_VERDICT;
    const source = this.podByIp(q.sourceAddress, q.atMs);
    const destination = this.podByIp(q.destinationAddress, q.atMs);
    const local = q.localNodeName;
    const evaluateEgress = source !== undefined && (local === undefined || source.nodeName === local);
    const evaluateIngress = destination !== undefined && (local === undefined || destination.nodeName === local);
    if (!evaluateEgress && !evaluateIngress) return NO_VERDICT;
    return this.policies.evaluate({
      source,
      destination,
      sourceIp,
      destinationIp,
      protocol: q.protocol,
      destinationPort: q.destinationPort,
      namespaceLabels: this.namespaceLabels,
      evaluateEgress,
      evaluateIngress,
    });
  }

  // ---- Whole-state replacement (inventory reload) -----------------------------------------

  /** Replaces everything with `snap`; live Pods missing from it end at now. */
  replaceAll(snap: ClusterSnapshot): void {
    const now = this.clock.now();
    const keep = new Set(snap.pods.map((p) => `${p.namespace}/${p.name}`));
    for (const [key, pod] of [...this.livePods]) if (!keep.has(key)) this.deletePod(pod.namespace, pod.name, now);
    for (const pod of snap.pods) this.upsertPod(pod);
    for (const key of [...this.services.keys()]) {
      const [ns, name] = key.split('/');
      this.deleteService(ns, name);
    }
    for (const s of snap.services) this.upsertService(s);
    for (const key of [...this.slices.keys()]) {
      const [ns, name] = key.split('/');
      this.deleteEndpointSlice(ns, name);
    }
    for (const s of snap.endpointSlices) this.upsertEndpointSlice(s);
    for (const name of [...this.nodes.keys()]) this.deleteNode(name);
    for (const n of snap.nodes) this.upsertNode(n);
    this.namespaces.clear();
    for (const n of snap.namespaces) this.upsertNamespace(n.name, n.labels);
    this.policies.clear();
    for (const p of snap.policies) this.policies.upsert(p);
  }

  stats(): MetadataStats {
    return {
      objectsRejected: this.objectsRejected,
      watchErrors: this.watchErrors,
      inventoryReloads: this.inventoryReloads,
      inventoryReloadFailures: this.inventoryReloadFailures,
      pods: this.livePods.size,
      services: this.services.size,
      nodes: this.nodes.size,
      namespaces: this.namespaces.size,
      networkPolicies: this.policies.size,
    };
  }
}
