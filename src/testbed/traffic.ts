// The testbed's traffic generator: runs conversations from Pod namespaces (agent.ts client) to
// Pods, Services and the External host, and reports what happened with the byte counts and the
// tuples, so that tests can compare them with the flow records. For a Service it also says which
// endpoint answered, and for the External host which source address it saw after SNAT, both read
// from the servers' event files.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ClientJob, ClientResult, Outcome } from './agent.js';
import { TestbedError } from './errors.js';
import type { Testbed } from './testbed.js';
import { parseTrafficSpec, type Family, type TrafficSpec } from './topology.js';

const AGENT = fileURLToPath(new URL('./agent.js', import.meta.url));

export type { Outcome } from './agent.js';

export interface Conversation {
  readonly outcome: Outcome;
  readonly protocol: 'TCP' | 'UDP';
  readonly family: Family;
  /** The client's end. */
  readonly sourcePod: string;
  readonly sourceAddress: string;
  readonly sourcePort: number;
  /** The destination the client dialled (a ClusterIP for a Service). */
  readonly destinationAddress: string;
  readonly destinationPort: number;
  /** Application bytes (TCP payload, UDP datagram sizes) the client sent and received. */
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly datagramsSent: number;
  readonly datagramsReceived: number;
  /** Who answered: the endpoint Pod ("namespace/name"), "external", or null when nobody did (or not seen). */
  readonly servedBy: string | null;
  /** The address and port the server saw (after DNAT at the destination, after SNAT for the External host). */
  readonly servedAddress: string | null;
  readonly servedPort: number | null;
  readonly peerSeenAs: { readonly address: string; readonly port: number } | null;
  readonly startMs: number;
  readonly endMs: number;
  readonly error?: string;
}

export interface TrafficResult {
  readonly spec: TrafficSpec;
  readonly conversations: readonly Conversation[];
  /** 'allow' when every conversation succeeded, 'reject' when refused, 'drop' when unanswered, else 'mixed'. */
  readonly verdict: 'allow' | 'drop' | 'reject' | 'mixed';
  /** spec.expect matched the verdict (true when nothing was expected). */
  readonly asExpected: boolean;
}

export interface TrafficOptions {
  /** A TCP SYN without an answer for this long counts as dropped. Default 2000 ms. */
  readonly connectTimeoutMs?: number;
  /** UDP: wait this long after the last datagram for the replies. Default 1000 ms. */
  readonly replyTimeoutMs?: number;
  /** Conversations run at most this many at a time. Default 8. */
  readonly concurrency?: number;
  /** How long to wait for a server's event line after the client finished. Default 3000 ms. */
  readonly serverEventTimeoutMs?: number;
}

interface ServerEvent {
  event?: 'tcp' | 'udp';
  port?: number;
  peer?: string;
  peerPort?: number;
  local?: string;
}

export class TrafficGenerator {
  constructor(
    private readonly testbed: Testbed,
    private readonly options: TrafficOptions = {},
  ) {}

  /** A spec from its YAML form (as in the topology's traffic list), checked against the topology. */
  spec(raw: Parameters<typeof parseTrafficSpec>[0]): TrafficSpec {
    return parseTrafficSpec(raw, `traffic "${raw.name}"`, this.testbed.topology);
  }

  /** Runs specs concurrently (bounded) and returns one result per spec, in order. */
  async run(specs: readonly TrafficSpec[]): Promise<TrafficResult[]> {
    const limit = this.options.concurrency ?? 8;
    const results: TrafficResult[] = new Array(specs.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < specs.length) {
        const i = next++;
        results[i] = await this.runOne(specs[i]);
      }
    };
    await Promise.all(Array.from({ length: Math.min(limit, specs.length) }, worker));
    return results;
  }

  /** Runs the named conversations of the topology's traffic plan (all when names is empty). */
  async runPlan(names: readonly string[] = []): Promise<TrafficResult[]> {
    const plan = this.testbed.topology.traffic;
    for (const n of names) {
      if (!plan.some((t) => t.name === n)) throw new TestbedError('TESTBED_ERR_TRAFFIC', `"${n}" is not in the topology's traffic plan; one of ${plan.map((t) => t.name).join(', ')}`);
    }
    return this.run(names.length === 0 ? plan : plan.filter((t) => names.includes(t.name)));
  }

  async runOne(spec: TrafficSpec): Promise<TrafficResult> {
    const { topology, names } = this.testbed;
    const family = spec.family;
    const proto = spec.protocol;
    const from = topology.pods.find((p) => p.id === spec.from)!;
    if (from.ips[family] === undefined) throw new TestbedError('TESTBED_ERR_TRAFFIC', `${spec.name}: Pod ${from.id} has no IPv${family} address`);
    let host: string | undefined;
    let port: number;
    let candidates: { id: string; namespace: string }[];
    if (spec.to.kind === 'external') {
      host = topology.external.ips[family];
      port = spec.port as number;
      candidates = [{ id: 'external', namespace: names.external }];
    } else if (spec.to.kind === 'service') {
      const id = spec.to.id;
      const svc = topology.services.find((s) => s.id === id)!;
      host = svc.clusterIPs[family];
      const sp = svc.ports.find((p) => (p.port === spec.port || p.name === spec.port) && p.protocol === proto)!;
      port = sp.port;
      candidates = topology.pods
        .filter((p) => p.namespace === svc.namespace && Object.entries(svc.selector).every(([k, v]) => p.labels[k] === v))
        .map((p) => ({ id: p.id, namespace: names.pods[p.id] }));
    } else {
      const id = spec.to.id;
      const pod = topology.pods.find((p) => p.id === id)!;
      host = pod.ips[family];
      port = pod.ports.find((p) => (p.containerPort === spec.port || p.name === spec.port) && p.protocol === proto)!.containerPort;
      candidates = [{ id: pod.id, namespace: names.pods[pod.id] }];
    }
    if (host === undefined) throw new TestbedError('TESTBED_ERR_TRAFFIC', `${spec.name}: the destination has no IPv${family} address`);
    const job: ClientJob = {
      protocol: proto,
      host,
      port,
      requestBytes: spec.requestBytes,
      responseBytes: spec.responseBytes,
      connections: spec.connections,
      datagrams: spec.datagrams,
      durationMs: spec.durationMs,
      connectTimeoutMs: this.options.connectTimeoutMs ?? 2000,
      replyTimeoutMs: this.options.replyTimeoutMs ?? 1000,
    };
    const clientResults = await this.client(names.pods[from.id], job, spec.name);
    const conversations: Conversation[] = [];
    for (const r of clientResults) {
      const served = r.outcome === 'ok' || r.outcome === 'partial' ? await this.findServer(candidates, proto, port, r, spec.to.kind) : null;
      conversations.push({
        outcome: r.outcome,
        protocol: proto,
        family,
        sourcePod: from.id,
        sourceAddress: r.localAddress || from.ips[family]!,
        sourcePort: r.localPort,
        destinationAddress: host,
        destinationPort: port,
        bytesSent: r.bytesSent,
        bytesReceived: r.bytesReceived,
        datagramsSent: r.datagramsSent,
        datagramsReceived: r.datagramsReceived,
        servedBy: served?.id ?? null,
        servedAddress: served?.local || null,
        servedPort: served?.port ?? null,
        peerSeenAs: served ? { address: served.peer, port: served.peerPort } : null,
        startMs: r.startMs,
        endMs: r.endMs,
        ...(r.error ? { error: r.error } : {}),
      });
    }
    const verdict = verdictOf(conversations);
    return { spec, conversations, verdict, asExpected: spec.expect === null || spec.expect === verdict };
  }

  private client(namespace: string, job: ClientJob, name: string): Promise<ClientResult[]> {
    return new Promise((resolve, reject) => {
      const child = spawn('ip', ['netns', 'exec', namespace, process.execPath, AGENT, 'client', JSON.stringify(job)], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      child.on('error', (e) => reject(new TestbedError('TESTBED_ERR_PROCESS', `${name}: cannot start the traffic client: ${e.message}`)));
      child.on('close', (code) => {
        const line = out.trim().split('\n').pop() ?? '';
        try {
          const parsed = JSON.parse(line) as { results?: ClientResult[]; error?: string };
          if (parsed.results) return resolve(parsed.results);
          reject(new TestbedError('TESTBED_ERR_PROCESS', `${name}: the traffic client failed: ${parsed.error ?? line}`));
        } catch {
          reject(new TestbedError('TESTBED_ERR_PROCESS', `${name}: the traffic client exited with ${String(code)}: ${err.trim() || out.trim()}`));
        }
      });
    });
  }

  /** The server event of this conversation: same peer port, and the same peer address unless NAT rewrote it. */
  private async findServer(
    candidates: readonly { id: string; namespace: string }[],
    proto: 'TCP' | 'UDP',
    port: number,
    r: ClientResult,
    kind: 'pod' | 'service' | 'external',
  ): Promise<{ id: string; local: string; port: number; peer: string; peerPort: number } | null> {
    const deadline = Date.now() + (this.options.serverEventTimeoutMs ?? 3000);
    const event = proto === 'TCP' ? 'tcp' : 'udp';
    for (;;) {
      for (const c of candidates) {
        let text = '';
        try {
          text = readFileSync(this.testbed.paths.serverEvents(c.namespace), 'utf8');
        } catch {
          continue;
        }
        for (const line of text.split('\n')) {
          if (!line.includes(`"peerPort":${r.localPort},`)) continue;
          let e: ServerEvent;
          try {
            e = JSON.parse(line) as ServerEvent;
          } catch {
            continue;
          }
          if (e.event !== event || e.peerPort !== r.localPort) continue;
          if (kind !== 'external' && e.peer !== r.localAddress) continue;
          if (kind !== 'service' && e.port !== port) continue;
          return { id: c.id, local: e.local ?? '', port: e.port ?? 0, peer: e.peer ?? '', peerPort: e.peerPort };
        }
      }
      if (Date.now() > deadline) return null;
      await new Promise((res) => setTimeout(res, 50));
    }
  }
}

function verdictOf(cs: readonly Conversation[]): TrafficResult['verdict'] {
  if (cs.length > 0 && cs.every((c) => c.outcome === 'ok')) return 'allow';
  if (cs.length > 0 && cs.every((c) => c.outcome === 'refused')) return 'reject';
  if (cs.length > 0 && cs.every((c) => c.outcome === 'timeout' || c.outcome === 'no-reply')) return 'drop';
  return 'mixed';
}
