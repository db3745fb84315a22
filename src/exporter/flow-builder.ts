// Builds the one internal FlowRecord from a store export and the cluster metadata.
//
// Addresses, as Antrea reports them: the source is the original tuple's source; the
// destination is the *post-DNAT* destination, i.e. the reply tuple's source (for a Service
// connection, the endpoint Pod, not the ClusterIP). When the original destination was
// DNAT-ed, it goes into destinationClusterIP / destinationServicePort, with
// destinationServicePortName "namespace/name:port" when the metadata knows the Service.
//
// Only what is local is known (reference, "Types of Flows"): Pod and Node names are filled
// for Pods on this Node only; the Flow Aggregator completes inter-node flows.
import type { FlowRecord } from '../flow/record.js';
import type { ClusterMetadata, PodInfo } from './k8s/metadata.js';
import type { ConntrackEntry } from './conntrack/types.js';
import type { ConnectionExport } from './connection-store.js';
import { flowTypeOf, PodCidrSet, type EndpointKind } from './flow-type.js';

export interface FlowBuilderOptions {
  nodeName: string;
  /** null when the exporter runs without Kubernetes metadata. */
  metadata: ClusterMetadata | null;
  /** When non-empty, used instead of the metadata's Pod CIDRs. */
  podCidrsOverride: readonly string[];
}

/**
 * The IPFIX observation domain ID of a Node: FNV-1a (32 bit) of its name, so it is the same
 * after every restart and differs between Nodes. 0 is avoided (RFC 7011 3.1: "0 ... SHOULD
 * NOT be used" unless the domain is unknown).
 */
export function observationDomainId(nodeName: string): number {
  let h = 0x811c9dc5;
  const bytes = Buffer.from(nodeName, 'utf8');
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h === 0 ? 1 : h;
}

/** The post-DNAT destination of a connection: the reply tuple's source. */
export function destinationOf(e: ConntrackEntry): { address: string; port: number } {
  return { address: e.reply.sourceAddress, port: e.reply.sourcePort };
}

/** True when the original destination was rewritten (a Service ClusterIP, NodePort, ...). */
export function wasDnated(e: ConntrackEntry): boolean {
  return e.original.destinationAddress !== e.reply.sourceAddress || e.original.destinationPort !== e.reply.sourcePort;
}

export class FlowBuilder {
  private readonly cidrs = new PodCidrSet();

  constructor(private readonly opts: FlowBuilderOptions) {
    if (opts.podCidrsOverride.length > 0) this.cidrs.update(opts.podCidrsOverride);
  }

  /** A Pod of this Node that held `ip` at `atMs`. */
  localPod(ip: string, atMs: number): PodInfo | undefined {
    const pod = this.opts.metadata?.podByIp(ip, atMs);
    return pod && pod.nodeName === this.opts.nodeName ? pod : undefined;
  }

  /** Whether either end of the connection is a Pod of this Node (Antrea exports only these). */
  touchesLocalPod(e: ConntrackEntry, atMs: number): boolean {
    return this.localPod(e.original.sourceAddress, atMs) !== undefined || this.localPod(e.reply.sourceAddress, atMs) !== undefined;
  }

  private kindOf(ip: string, atMs: number): { kind: EndpointKind; pod: PodInfo | undefined } {
    const pod = this.opts.metadata?.podByIp(ip, atMs);
    if (pod && pod.nodeName === this.opts.nodeName) return { kind: 'localPod', pod };
    if (pod || this.cidrs.has(ip)) return { kind: 'remotePod', pod: undefined };
    return { kind: 'external', pod: undefined };
  }

  build(x: ConnectionExport): FlowRecord {
    const e = x.entry;
    const md = this.opts.metadata;
    if (md && this.opts.podCidrsOverride.length === 0) this.cidrs.update(md.podCidrs());
    const atMs = x.flowStartMs;
    const dst = destinationOf(e);
    const source = this.kindOf(e.original.sourceAddress, atMs);
    const destination = this.kindOf(dst.address, atMs);

    let clusterIP = '';
    let servicePort = 0;
    let servicePortName = '';
    if (wasDnated(e)) {
      const svc = md?.serviceByClusterIp(e.original.destinationAddress, e.original.destinationPort, e.protocol);
      if (svc || destination.kind !== 'external') {
        clusterIP = e.original.destinationAddress;
        servicePort = e.original.destinationPort;
        servicePortName = svc?.servicePortName ?? '';
      }
    }

    const verdict = md?.evaluatePolicies({
      sourceAddress: e.original.sourceAddress,
      destinationAddress: dst.address,
      protocol: e.protocol,
      destinationPort: dst.port,
      atMs,
      localNodeName: this.opts.nodeName,
    });
    const ingress = verdict?.ingress;
    const egress = verdict?.egress;

    return {
      sourceAddress: e.original.sourceAddress,
      destinationAddress: dst.address,
      sourceTransportPort: e.original.sourcePort,
      destinationTransportPort: dst.port,
      protocolIdentifier: e.protocol,
      ipVersion: e.ipVersion,
      flowStartSeconds: Math.floor(x.flowStartMs / 1000),
      flowEndSeconds: Math.floor(x.flowEndMs / 1000),
      flowEndReason: x.flowEndReason,
      packetTotalCount: x.packetTotalCount,
      octetTotalCount: x.octetTotalCount,
      packetDeltaCount: x.packetDeltaCount,
      octetDeltaCount: x.octetDeltaCount,
      reversePacketTotalCount: x.reversePacketTotalCount,
      reverseOctetTotalCount: x.reverseOctetTotalCount,
      reversePacketDeltaCount: x.reversePacketDeltaCount,
      reverseOctetDeltaCount: x.reverseOctetDeltaCount,
      sourcePodNamespace: source.pod?.namespace ?? '',
      sourcePodName: source.pod?.name ?? '',
      destinationPodNamespace: destination.pod?.namespace ?? '',
      destinationPodName: destination.pod?.name ?? '',
      sourceNodeName: source.pod ? this.opts.nodeName : '',
      destinationNodeName: destination.pod ? this.opts.nodeName : '',
      destinationClusterIP: clusterIP,
      destinationServicePort: servicePort,
      destinationServicePortName: servicePortName,
      ingressNetworkPolicyName: ingress?.name ?? '',
      ingressNetworkPolicyNamespace: ingress?.namespace ?? '',
      ingressNetworkPolicyType: ingress?.type ?? 0,
      ingressNetworkPolicyRuleName: ingress?.ruleName ?? '',
      ingressNetworkPolicyRuleAction: ingress?.action ?? 0,
      egressNetworkPolicyName: egress?.name ?? '',
      egressNetworkPolicyNamespace: egress?.namespace ?? '',
      egressNetworkPolicyType: egress?.type ?? 0,
      egressNetworkPolicyRuleName: egress?.ruleName ?? '',
      egressNetworkPolicyRuleAction: egress?.action ?? 0,
      tcpState: e.protocol === 6 ? e.tcpState : '',
      flowType: flowTypeOf(source.kind, destination.kind),
    };
  }
}
