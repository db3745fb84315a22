// The seam between the exporter loop and Kubernetes. The loop depends on ClusterMetadata only;
// two implementations feed the same in-memory ClusterState (cluster-state.ts):
//   - KubernetesApiMetadata (api-metadata.ts): list + watch through @kubernetes/client-node;
//   - InventoryMetadata (inventory-metadata.ts): a YAML file of manifests, reloaded on change.
// Every lookup is synchronous and reads memory only, so it can run per connection.
import type { PolicyVerdict } from '../policy/engine.js';

export type { PolicyAttribution, PolicyVerdict } from '../policy/engine.js';

/** A container port (spec.containers[].ports[]); `protocol` is the IANA number (6, 17, 132). */
export interface ContainerPort {
  readonly name: string;
  readonly port: number;
  readonly protocol: number;
}

export interface PodInfo {
  readonly namespace: string;
  readonly name: string;
  /** metadata.uid; '' for an inventory Pod written without one. */
  readonly uid: string;
  /** spec.nodeName; '' while unscheduled. */
  readonly nodeName: string;
  /** status.podIPs (or status.podIP), canonical text. */
  readonly ips: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly hostNetwork: boolean;
  /** Named and unnamed ports of every container (named ports resolve NetworkPolicy ports). */
  readonly containerPorts: readonly ContainerPort[];
  /** Start of the Pod's claim on its IPs, ms since the epoch: metadata.creationTimestamp (0 if absent). */
  readonly startMs: number;
  /**
   * End of the claim: when the Pod's deletion was observed, metadata.deletionTimestamp in an
   * inventory, or when it reached phase Succeeded/Failed. Undefined while the Pod is live.
   */
  readonly endMs: number | undefined;
}

export interface ServicePortInfo {
  readonly namespace: string;
  readonly name: string;
  /** spec.ports[].name; '' for a single unnamed port. */
  readonly portName: string;
  readonly port: number;
  readonly protocol: number;
  /** "namespace/name:portName" as Antrea fills destinationServicePortName ("namespace/name" when unnamed). */
  readonly servicePortName: string;
}

export interface NodeInfo {
  readonly name: string;
  /** spec.podCIDRs (or spec.podCIDR), canonical. */
  readonly podCidrs: readonly string[];
  /** status.addresses of type InternalIP and ExternalIP, canonical. */
  readonly addresses: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
}

/** A connection as the policy evaluation needs it. */
export interface PolicyQuery {
  readonly sourceAddress: string;
  /** The post-DNAT destination: for a Service connection, the endpoint Pod (the reply tuple's source). */
  readonly destinationAddress: string;
  /** IANA protocol number. */
  readonly protocol: number;
  /** The post-DNAT destination port. */
  readonly destinationPort: number;
  /** Connection start, ms since the epoch; picks the Pod that held each IP then (<= 0: now). */
  readonly atMs: number;
  /**
   * When set, egress is evaluated only for a source Pod on this Node and ingress only for a
   * destination Pod on it, as an Antrea agent reports only its local Pods' policies.
   */
  readonly localNodeName?: string;
}

export interface MetadataStats {
  /** Objects (from the API or the inventory) that were rejected as malformed, in total. */
  readonly objectsRejected: number;
  /** List or watch failures of the Kubernetes API, each followed by a retry with backoff. */
  readonly watchErrors: number;
  /** Successful (re)loads of the inventory file. */
  readonly inventoryReloads: number;
  /** Inventory loads that failed and kept the previous inventory. */
  readonly inventoryReloadFailures: number;
  readonly pods: number;
  readonly services: number;
  readonly nodes: number;
  readonly namespaces: number;
  readonly networkPolicies: number;
}

export interface ClusterMetadata {
  /** Loads the first state and starts following changes. Resolves once started, ready or not. */
  start(): Promise<void>;
  /** Stops watches, timers and file watchers. Lookups keep answering from the last state. */
  stop(): Promise<void>;
  /** True once every resource has been listed (API) or the inventory has loaded once. */
  ready(): boolean;
  /** Resolves when ready(), or rejects after `timeoutMs`. */
  waitUntilReady(timeoutMs: number): Promise<void>;

  /** The Pod that held `ip` at `atMs` (<= 0 or NaN: now); host-network Pods are not indexed. */
  podByIp(ip: string, atMs: number): PodInfo | undefined;
  /** The Service port behind a ClusterIP (or external IP) destination, for DNAT-ed connections. */
  serviceByClusterIp(ip: string, port: number, protocol: number): ServicePortInfo | undefined;
  /** The Service port whose EndpointSlices list `ip`:`port` (the endpoint side of a connection). */
  serviceByEndpoint(ip: string, port: number, protocol: number): ServicePortInfo | undefined;
  nodeByName(name: string): NodeInfo | undefined;
  /** The Node whose InternalIP/ExternalIP is `ip` (host-network traffic). */
  nodeByIp(ip: string): NodeInfo | undefined;
  /** Every Node's Pod CIDRs, canonical and sorted; for the flowType decision. */
  podCidrs(): readonly string[];
  /** K8s NetworkPolicy attribution for both directions of one connection. */
  evaluatePolicies(flow: PolicyQuery): PolicyVerdict;
  stats(): MetadataStats;
}

/** The minimal logger the sources use; a pino logger fits. */
export interface MetadataLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}
