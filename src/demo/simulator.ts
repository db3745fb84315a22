// The simulated Nodes' exporters, before the wire: at the end of every window each Node reports
// what its conntrack would hold and its Flow Exporter would send, as FlowRecords.
//
// Each Node knows only what is local to it (reference, "Types of Flows"):
//   - the Node of the source Pod reports the connection with the source Pod, the Service it
//     dialled (DNAT happens there) and the egress policy;
//   - the Node of the destination Pod reports it with the destination Pod and the ingress policy;
//   - both halves carry the same 5-tuple (source Pod IP -> endpoint Pod IP) and counters, and
//     the Flow Aggregator correlates them; a Pod-to-Pod flow within one Node is one record.
//   - A connection denied on egress never leaves its Node: only that Node reports it.
// A connection still open at a window's end is reported with flowEndReason activeTimeout and
// the bytes since its previous report as deltas; at its end with endOfFlow (TCP) or
// idleTimeout (UDP, and a dropped TCP attempt, whose conntrack entry times out).
import { FlowEndReason, RuleAction, type FlowRecord } from '../flow/record.js';
import type { SimCluster } from './cluster.js';
import { flowTypeFor, TrafficModel, type SimConnection, type TrafficOptions } from './traffic.js';

interface Open {
  readonly c: SimConnection;
  reported: [number, number, number, number];
}

export interface WindowReport {
  /** The window's end: the moment every Node exports. */
  readonly boundaryMs: number;
  readonly window: number;
  /** Records per Node name (every Node has an entry, maybe empty). */
  readonly records: ReadonlyMap<string, FlowRecord[]>;
  readonly connectionsOpened: number;
}

export interface SimulatorStats {
  windows: number;
  connectionsOpened: number;
  connectionsDenied: number;
  recordsPerNode: Record<string, number>;
  openConnections: number;
}

export class ClusterSimulator {
  readonly model: TrafficModel;
  private open: Open[] = [];
  private readonly stats_: SimulatorStats;

  constructor(
    readonly cluster: SimCluster,
    readonly options: TrafficOptions,
  ) {
    this.model = new TrafficModel(cluster, options);
    this.stats_ = { windows: 0, connectionsOpened: 0, connectionsDenied: 0, recordsPerNode: Object.fromEntries(cluster.nodes.map((n) => [n.name, 0])), openConnections: 0 };
  }

  get windowMs(): number {
    return this.options.windowMs;
  }

  /** The window that contains `ms`. */
  windowOf(ms: number): number {
    return Math.floor(ms / this.options.windowMs);
  }

  /**
   * Opens window `k`'s connections and returns what every Node exports at its end. Windows must
   * be run in increasing order. `reportActive` false skips the reports of connections that are
   * still open (they are reported later with the accumulated deltas): the backfill uses it to
   * export as a Node with a longer active timeout would.
   */
  runWindow(k: number, reportActive = true): WindowReport {
    const opened = this.model.window(k);
    for (const c of opened) {
      this.open.push({ c, reported: [0, 0, 0, 0] });
      if (c.deniedBy) this.stats_.connectionsDenied++;
    }
    this.stats_.connectionsOpened += opened.length;
    this.stats_.windows++;
    const boundaryMs = (k + 1) * this.options.windowMs;
    const records = new Map<string, FlowRecord[]>(this.cluster.nodes.map((n) => [n.name, []]));
    const still: Open[] = [];
    for (const o of this.open) {
      const c = o.c;
      const ended = c.endMs <= boundaryMs;
      if (!ended) still.push(o);
      if (c.startMs >= boundaryMs || (!ended && !reportActive)) continue;
      const totals = totalsAt(c, Math.min(boundaryMs, c.endMs));
      if (!ended && totals.every((v, i) => v === o.reported[i])) continue;
      for (const node of observers(c)) {
        const r = nodeRecord(c, node, totals, o.reported, ended, Math.min(boundaryMs, c.endMs));
        records.get(node)!.push(r);
        this.stats_.recordsPerNode[node]++;
      }
      o.reported = totals;
    }
    this.open = still;
    this.stats_.openConnections = still.length;
    return { boundaryMs, window: k, records, connectionsOpened: opened.length };
  }

  stats(): SimulatorStats {
    return { ...this.stats_, recordsPerNode: { ...this.stats_.recordsPerNode } };
  }
}

/** Packets and octets each way by `atMs`: linear over the connection's life, exact at its end. */
export function totalsAt(c: SimConnection, atMs: number): [number, number, number, number] {
  if (atMs >= c.endMs) return [c.packets, c.octets, c.reversePackets, c.reverseOctets];
  const f = Math.max(0, (atMs - c.startMs) / (c.endMs - c.startMs));
  // At least the first packet has gone once the connection exists.
  return [Math.max(1, Math.floor(c.packets * f)), Math.floor(c.octets * f), Math.floor(c.reversePackets * f), Math.floor(c.reverseOctets * f)];
}

/** The Nodes whose exporters see the connection. */
export function observers(c: SimConnection): string[] {
  const out: string[] = [];
  if (c.sourcePod) out.push(c.sourcePod.nodeName);
  if (c.destinationPod && c.deniedBy !== 'egress' && !out.includes(c.destinationPod.nodeName)) out.push(c.destinationPod.nodeName);
  return out;
}

function tcpStateOf(c: SimConnection, ended: boolean): string {
  if (c.protocol !== 6) return '';
  if (c.deniedAction === RuleAction.drop) return 'SYN_SENT';
  if (c.deniedAction === RuleAction.reject) return 'CLOSE';
  return ended ? 'TIME_WAIT' : 'ESTABLISHED';
}

function endReasonOf(c: SimConnection, ended: boolean): FlowEndReason {
  if (!ended) return FlowEndReason.activeTimeout;
  if (c.protocol !== 6 || c.deniedAction === RuleAction.drop) return FlowEndReason.idleTimeout;
  return FlowEndReason.endOfFlow;
}

/** What `node`'s Flow Exporter sends for the connection. */
export function nodeRecord(
  c: SimConnection,
  node: string,
  totals: readonly [number, number, number, number],
  previous: readonly [number, number, number, number],
  ended: boolean,
  atMs: number,
): FlowRecord {
  const sourceLocal = c.sourcePod !== undefined && c.sourcePod.nodeName === node;
  const destinationLocal = c.destinationPod !== undefined && c.destinationPod.nodeName === node;
  const egress = sourceLocal ? c.verdict.egress : undefined;
  const ingress = destinationLocal ? c.verdict.ingress : undefined;
  return {
    sourceAddress: c.sourceAddress,
    destinationAddress: c.destinationAddress,
    sourceTransportPort: c.sourcePort,
    destinationTransportPort: c.destinationPort,
    protocolIdentifier: c.protocol,
    ipVersion: c.ipVersion,
    flowStartSeconds: Math.floor(c.startMs / 1000),
    flowEndSeconds: Math.floor(atMs / 1000),
    flowEndReason: endReasonOf(c, ended),
    packetTotalCount: totals[0],
    octetTotalCount: totals[1],
    packetDeltaCount: totals[0] - previous[0],
    octetDeltaCount: totals[1] - previous[1],
    reversePacketTotalCount: totals[2],
    reverseOctetTotalCount: totals[3],
    reversePacketDeltaCount: totals[2] - previous[2],
    reverseOctetDeltaCount: totals[3] - previous[3],
    sourcePodNamespace: sourceLocal ? c.sourcePod!.namespace : '',
    sourcePodName: sourceLocal ? c.sourcePod!.name : '',
    destinationPodNamespace: destinationLocal ? c.destinationPod!.namespace : '',
    destinationPodName: destinationLocal ? c.destinationPod!.name : '',
    sourceNodeName: sourceLocal ? node : '',
    destinationNodeName: destinationLocal ? node : '',
    destinationClusterIP: sourceLocal && c.service ? c.service.clusterIP : '',
    destinationServicePort: sourceLocal && c.service ? c.service.port : 0,
    destinationServicePortName: sourceLocal && c.service ? c.service.portName : '',
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
    tcpState: tcpStateOf(c, ended),
    flowType: flowTypeFor(c, node),
  };
}
