// The traffic model: how many connections each conversation opens in a time window, between
// which Pods, on which ports, with how many bytes. Load follows the clock of the simulated
// cluster (see `load`), and every window draws from its own generator seeded by
// (seed, window index), so any window can be generated alone and always comes out the same.
import { FlowType, type RuleAction } from '../flow/record.js';
import { Prng, hash32, hashString } from './prng.js';
import { externalOf, podsOf, serviceOf, type Conversation, type LoadShape, type Protocol, type SimCluster, type SimPod } from './cluster.js';
import { denies, PolicyModel, type Verdict } from './policy.js';

/** One simulated connection, from its original direction, with its totals at its end. */
export interface SimConnection {
  /** `<window>.<n>`: unique and stable for a seed. */
  readonly id: string;
  readonly conversation: string;
  readonly ipVersion: 4 | 6;
  readonly protocol: Protocol;
  readonly sourceAddress: string;
  readonly sourcePort: number;
  /** The post-DNAT destination (the endpoint Pod for a Service). */
  readonly destinationAddress: string;
  readonly destinationPort: number;
  readonly sourcePod: SimPod | undefined;
  readonly destinationPod: SimPod | undefined;
  /** Set when the client dialled a Service ClusterIP. */
  readonly service: { readonly clusterIP: string; readonly port: number; readonly portName: string } | undefined;
  readonly startMs: number;
  readonly endMs: number;
  readonly packets: number;
  readonly octets: number;
  readonly reversePackets: number;
  readonly reverseOctets: number;
  readonly verdict: Verdict;
  /** Which direction's policy stopped it, if any. */
  readonly deniedBy: 'egress' | 'ingress' | undefined;
  readonly deniedAction: RuleAction | undefined;
}

/** A Node's view of how to classify the connection: the flowType its exporter would compute. */
export function flowTypeFor(c: SimConnection, observer: string): FlowType {
  const sourceLocal = c.sourcePod?.nodeName === observer;
  const destinationLocal = c.destinationPod?.nodeName === observer;
  if (sourceLocal && destinationLocal) return FlowType.intraNode;
  if (c.sourcePod && c.destinationPod) return FlowType.interNode;
  if (c.sourcePod) return FlowType.toExternal;
  if (c.destinationPod) return FlowType.fromExternal;
  return FlowType.unknown;
}

const HOUR_MS = 3_600_000;

function bump(hour: number, centre: number, width: number): number {
  let d = Math.abs(hour - centre);
  if (d > 12) d = 24 - d;
  return Math.exp(-0.5 * (d / width) ** 2);
}

/**
 * Load of a shape at a local hour of day, in (0, 1]: `web` is low at night (about 0.1 at 04:00),
 * rises through the morning to a late-morning peak and a higher evening peak (about 20:30);
 * `batch` is a nightly job around 02:30; `steady` is flat.
 */
export function shapeAt(shape: LoadShape, hour: number): number {
  if (shape === 'steady') return 1;
  if (shape === 'batch') return Math.min(1, 0.02 + bump(hour, 2.5, 0.8));
  return Math.min(1, 0.08 + 0.6 * bump(hour, 11.5, 2.8) + 0.9 * bump(hour, 20.5, 2.2));
}

/** Smooth noise in [-1, 1]: value noise over 10-minute knots, cosine-interpolated. */
function wander(seed: number, salt: number, ms: number): number {
  const knot = 600_000;
  const i = Math.floor(ms / knot);
  const f = (ms - i * knot) / knot;
  const a = (hash32(seed, salt, i) / 2 ** 32) * 2 - 1;
  const b = (hash32(seed, salt, i + 1) / 2 ** 32) * 2 - 1;
  const w = (1 - Math.cos(Math.PI * f)) / 2;
  return a * (1 - w) + b * w;
}

export interface TrafficOptions {
  seed: number;
  /** Multiplies every conversation's connection rate; default 1. */
  rate: number;
  /** The simulated cluster's time zone, as minutes east of UTC; the day's shape follows it. */
  utcOffsetMinutes: number;
  /** Window length in ms: the simulated exporters' active timeout. */
  windowMs: number;
}

/**
 * Connections from one Pod to one destination (address and port) per window, at most: a Pod's
 * ephemeral ports to a destination advance by this much every window (see `connection`), so a
 * 5-tuple comes back after EPHEMERAL_COUNT / slots windows. Eight leave room for twice the busiest
 * pair at the default rate; the room grows with the rate, and the time to reuse shrinks.
 */
export function portSlotsPerWindow(rate: number): number {
  return Math.max(8, Math.ceil(8 * rate));
}

/** Windows before a simulated 5-tuple can repeat, at `rate`. */
export function portCycleWindows(rate: number): number {
  return Math.floor(EPHEMERAL_COUNT / portSlotsPerWindow(rate));
}
const EPHEMERAL_FIRST = 32768;
const EPHEMERAL_COUNT = 60999 - 32768 + 1;
/** Connections per external-client conversation per window, at most. */
const MAX_CLIENT_CONNECTIONS_WINDOW = 256;
/** Longest connection the model makes, so that a table of open ones stays small. */
export const MAX_CONNECTION_MS = 600_000;

/** IP + TCP header with timestamps, and IP + UDP, per family. */
function headerBytes(protocol: Protocol, ipVersion: 4 | 6): number {
  return (ipVersion === 4 ? 20 : 40) + (protocol === 6 ? 32 : 8);
}

export class TrafficModel {
  readonly policy: PolicyModel;
  private readonly verdicts = new Map<string, Verdict>();
  private readonly conversationSalt: number[];

  constructor(
    readonly cluster: SimCluster,
    readonly options: TrafficOptions,
  ) {
    this.policy = new PolicyModel(cluster);
    this.conversationSalt = cluster.conversations.map((c) => hashString(c.name));
  }

  /** Relative load of a conversation at `ms`, with its noise: what multiplies its peak rate. */
  load(conversationIndex: number, ms: number): number {
    const c = this.cluster.conversations[conversationIndex];
    const localHour = ((((ms + this.options.utcOffsetMinutes * 60_000) % (24 * HOUR_MS)) + 24 * HOUR_MS) % (24 * HOUR_MS)) / HOUR_MS;
    const noise = 1 + 0.2 * wander(this.options.seed, this.conversationSalt[conversationIndex], ms);
    return shapeAt(c.shape, localHour) * noise;
  }

  /** The connections that open in window `k` ([k*windowMs, (k+1)*windowMs)), in a stable order. */
  window(k: number): SimConnection[] {
    const W = this.options.windowMs;
    const t0 = k * W;
    const out: SimConnection[] = [];
    const slots = new Map<string, number>();
    this.cluster.conversations.forEach((conv, ci) => {
      const rng = new Prng(hash32(this.options.seed, this.conversationSalt[ci], k));
      const mean = conv.peakPerSecond * this.options.rate * this.load(ci, t0 + W / 2) * (W / 1000);
      const n = rng.poisson(mean);
      for (let i = 0; i < n; i++) {
        const c = this.connection(conv, rng, k, i, t0, slots, `${k}.${out.length}`);
        if (c) out.push(c);
      }
    });
    return out;
  }

  private connection(conv: Conversation, rng: Prng, k: number, i: number, t0: number, slots: Map<string, number>, id: string): SimConnection | undefined {
    const cluster = this.cluster;
    const v6 = conv.family === 6;
    let sourcePod: SimPod | undefined;
    let sourceAddress: string;
    let sourcePort = 0;
    if ('externalClients' in conv.from) {
      // Clients take addresses and ports in turn, so that a 5-tuple comes back only after
      // 254 * 64512 connections of the conversation (weeks at the default rate).
      if (i >= MAX_CLIENT_CONNECTIONS_WINDOW) return undefined;
      const net = cluster.clientNetworks[conv.from.externalClients];
      const n = k * MAX_CLIENT_CONNECTIONS_WINDOW + i;
      const host = 1 + (n % 254);
      sourceAddress = v6 ? `${net.ipv6Prefix}${host.toString(16)}` : `${net.ipv4Prefix}${host}`;
      sourcePort = 1024 + (Math.floor(n / 254) % 64512);
    } else {
      const candidates = podsOf(cluster, conv.from.namespace, conv.from.app);
      sourcePod = rng.pick(candidates);
      sourceAddress = v6 ? sourcePod.ipv6 : sourcePod.ipv4;
    }

    let destinationPod: SimPod | undefined;
    let destinationAddress: string;
    let destinationPort: number;
    let protocol: Protocol;
    let service: SimConnection['service'];
    const to = conv.to;
    if (to.kind === 'external') {
      const ext = externalOf(cluster, to.name);
      if (!ext) throw new Error(`conversation ${conv.name}: no external endpoint ${to.name}`);
      destinationAddress = v6 ? ext.ipv6 : ext.ipv4;
      destinationPort = to.port;
      protocol = to.protocol;
    } else {
      let app: string;
      let portName: string;
      if (to.kind === 'service') {
        const s = serviceOf(cluster, to.namespace, to.name);
        const sp = s?.ports.find((p) => p.name === to.port);
        if (!s || !sp) throw new Error(`conversation ${conv.name}: no Service port ${to.namespace}/${to.name}:${to.port}`);
        app = s.app;
        portName = sp.targetPort;
        service = { clusterIP: v6 ? s.clusterIPv6 : s.clusterIPv4, port: sp.port, portName: `${s.namespace}/${s.name}:${sp.name}` };
      } else {
        app = to.app;
        portName = to.port;
      }
      destinationPod = rng.pick(podsOf(cluster, to.namespace, app));
      const cp = destinationPod.ports.find((p) => p.name === portName);
      if (!cp) throw new Error(`conversation ${conv.name}: Pod ${destinationPod.name} has no port ${portName}`);
      destinationAddress = v6 ? destinationPod.ipv6 : destinationPod.ipv4;
      destinationPort = cp.port;
      protocol = cp.protocol;
    }

    if (sourcePod) {
      // Like Linux, ports are taken per destination; here in turn, window after window.
      const key = `${sourceAddress}|${destinationAddress}|${destinationPort}|${protocol}`;
      const slot = slots.get(key) ?? 0;
      const perWindow = portSlotsPerWindow(this.options.rate);
      if (slot >= perWindow) return undefined;
      slots.set(key, slot + 1);
      sourcePort = EPHEMERAL_FIRST + ((k * perWindow + slot) % EPHEMERAL_COUNT);
    }
    const verdict = this.verdictFor(sourcePod, sourceAddress, destinationPod, destinationAddress, protocol, destinationPort);
    const deniedBy = denies(verdict.egress) ? 'egress' : denies(verdict.ingress) ? 'ingress' : undefined;
    const deniedAction = deniedBy === 'egress' ? verdict.egress.action : deniedBy === 'ingress' ? verdict.ingress.action : undefined;
    const startMs = t0 + rng.int(this.options.windowMs);
    const hdr = headerBytes(protocol, conv.family);
    let durationMs: number;
    let packets: number;
    let octets: number;
    let reversePackets: number;
    let reverseOctets: number;
    if (deniedBy !== undefined) {
      // Drop: the client retries its SYN (or datagram) and gives up; Reject: one reset back.
      const tries = deniedAction === 2 ? rng.range(1, 3) : 1;
      const attempt = protocol === 6 ? hdr + 8 : hdr + conv.requestBytes;
      durationMs = deniedAction === 2 ? 1000 * (2 ** tries - 1) : rng.range(1, 5);
      packets = tries;
      octets = tries * attempt;
      reversePackets = deniedAction === 2 ? 0 : 1;
      reverseOctets = deniedAction === 2 ? 0 : protocol === 6 ? hdr - 12 : (conv.family === 4 ? 56 : 48) + Math.min(attempt, 548);
    } else {
      durationMs = Math.min(MAX_CONNECTION_MS, Math.max(1, Math.round(rng.logNormal(conv.durationMs, 0.5))));
      const request = Math.max(1, Math.round(rng.logNormal(conv.requestBytes, 0.6)));
      const response = conv.responseBytes > 0 ? Math.max(1, Math.round(rng.logNormal(conv.responseBytes, 0.6))) : 0;
      if (protocol === 6) {
        // Handshake and teardown (3 + 4 packets, split 4 / 3), then full-size segments.
        packets = 4 + Math.ceil(request / 1400) + Math.ceil(response / 2800);
        reversePackets = 3 + Math.ceil(response / 1400) + Math.ceil(request / 2800);
      } else {
        packets = Math.max(1, Math.ceil(request / 1400));
        reversePackets = response > 0 ? Math.max(1, Math.ceil(response / 1400)) : 0;
      }
      octets = request + packets * hdr;
      reverseOctets = response + reversePackets * hdr;
    }
    return {
      id,
      conversation: conv.name,
      ipVersion: conv.family,
      protocol,
      sourceAddress,
      sourcePort,
      destinationAddress,
      destinationPort,
      sourcePod,
      destinationPod,
      service,
      startMs,
      endMs: startMs + durationMs,
      packets,
      octets,
      reversePackets,
      reverseOctets,
      verdict,
      deniedBy,
      deniedAction,
    };
  }

  private verdictFor(sourcePod: SimPod | undefined, sourceIp: string, destinationPod: SimPod | undefined, destinationIp: string, protocol: Protocol, port: number): Verdict {
    // Policies look at Pods, namespaces and (for external peers) addresses; clients from outside
    // are all alike to them, so one entry serves every client address.
    const key = `${sourcePod ? `${sourcePod.namespace}/${sourcePod.name}` : 'ext'}|${destinationPod ? `${destinationPod.namespace}/${destinationPod.name}` : destinationIp}|${protocol}|${port}`;
    let v = this.verdicts.get(key);
    if (!v) {
      v = this.policy.evaluate({ source: { pod: sourcePod, ip: sourceIp }, destination: { pod: destinationPod, ip: destinationIp }, protocol, destinationPort: port });
      this.verdicts.set(key, v);
    }
    return v;
  }
}
