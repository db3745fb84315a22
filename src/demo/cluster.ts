// The simulated cluster: Nodes, Namespaces, workloads with their Pods, Services, external
// endpoints and the conversations between them. A fixed catalogue (an online shop with its data
// tier, ingress, DNS, monitoring, a nightly batch job and a sandbox that policies fence in)
// placed on N Nodes by a seeded generator: Pod names, Pod placement and ports are the seed's.
//
// Addresses are private or documentation ranges only (RFC 1918, RFC 4193, RFC 5737), so nothing
// in the demo can be mistaken for a real host:
//   Node i underlay   172.18.0.(10+i)          Pod CIDRs   10.10.i.0/24, fd00:10:i::/64
//   Service ClusterIPs 10.96.0.0/16, fd00:96::/108
//   External hosts and clients  192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 (and 2001:db8::/32)
import { Prng, hash32, kubeSuffix } from './prng.js';
import { DemoError } from './errors.js';

export type Protocol = 6 | 17;

export interface SimNode {
  readonly name: string;
  readonly index: number;
  readonly address: string;
  readonly podCidrs: readonly [string, string];
}

export interface SimPort {
  readonly name: string;
  readonly port: number;
  readonly protocol: Protocol;
}

export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet';

export interface SimWorkload {
  readonly namespace: string;
  readonly name: string;
  readonly kind: WorkloadKind;
  /** DaemonSets: ignored (one per Node). */
  readonly replicas: number;
  readonly ports: readonly SimPort[];
}

export interface SimPod {
  readonly namespace: string;
  readonly name: string;
  readonly workload: string;
  readonly nodeName: string;
  readonly ipv4: string;
  readonly ipv6: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly ports: readonly SimPort[];
}

export interface SimServicePort {
  readonly name: string;
  readonly port: number;
  /** The container port name it targets. */
  readonly targetPort: string;
  readonly protocol: Protocol;
}

export interface SimService {
  readonly namespace: string;
  readonly name: string;
  readonly clusterIPv4: string;
  readonly clusterIPv6: string;
  /** Selects the Pods whose `app` label is this. */
  readonly app: string;
  readonly ports: readonly SimServicePort[];
}

export interface SimExternal {
  readonly name: string;
  readonly ipv4: string;
  readonly ipv6: string;
}

/** Where a conversation goes. */
export type Target =
  | { readonly kind: 'service'; readonly namespace: string; readonly name: string; readonly port: string }
  | { readonly kind: 'pods'; readonly namespace: string; readonly app: string; readonly port: string }
  | { readonly kind: 'external'; readonly name: string; readonly port: number; readonly protocol: Protocol };

/**
 * How a conversation's load follows the clock: `web` follows the day (low at night, peaks late
 * morning and evening), `batch` runs at night, `steady` is flat (scrapes, heartbeats).
 */
export type LoadShape = 'web' | 'batch' | 'steady';

export interface Conversation {
  readonly name: string;
  /** Source workload, or the external clients (from outside the cluster). */
  readonly from: { readonly namespace: string; readonly app: string } | { readonly externalClients: string };
  readonly to: Target;
  readonly family: 4 | 6;
  readonly shape: LoadShape;
  /** New connections per second, cluster-wide, at the shape's peak, at rate 1. */
  readonly peakPerSecond: number;
  /** Median bytes the client sends and receives per connection (log-normal). */
  readonly requestBytes: number;
  readonly responseBytes: number;
  /** Median connection duration in ms; short-lived when a few hundred ms. */
  readonly durationMs: number;
}

export interface SimCluster {
  readonly seed: number;
  readonly nodes: readonly SimNode[];
  readonly namespaces: readonly { readonly name: string; readonly labels: Readonly<Record<string, string>> }[];
  readonly workloads: readonly SimWorkload[];
  readonly pods: readonly SimPod[];
  readonly services: readonly SimService[];
  readonly externals: readonly SimExternal[];
  /** External client networks for `externalClients` conversations: a /24 each. */
  readonly clientNetworks: Readonly<Record<string, { readonly ipv4Prefix: string; readonly ipv6Prefix: string }>>;
  readonly conversations: readonly Conversation[];
}

export const MIN_NODES = 2;
export const MAX_NODES = 16;

const tcp = (name: string, port: number): SimPort => ({ name, port, protocol: 6 });
const udp = (name: string, port: number): SimPort => ({ name, port, protocol: 17 });

const NAMESPACES = ['kube-system', 'ingress-nginx', 'shop', 'data', 'monitoring', 'batch', 'dev'] as const;

const WORKLOADS: readonly SimWorkload[] = [
  { namespace: 'kube-system', name: 'coredns', kind: 'Deployment', replicas: 2, ports: [udp('dns', 53), tcp('dns-tcp', 53), tcp('metrics', 9153)] },
  { namespace: 'ingress-nginx', name: 'ingress-nginx-controller', kind: 'Deployment', replicas: 2, ports: [tcp('http', 80), tcp('https', 443), tcp('metrics', 10254)] },
  { namespace: 'shop', name: 'frontend', kind: 'Deployment', replicas: 3, ports: [tcp('http', 8080), tcp('metrics', 9090)] },
  { namespace: 'shop', name: 'catalog', kind: 'Deployment', replicas: 2, ports: [tcp('http', 8080), tcp('metrics', 9090)] },
  { namespace: 'shop', name: 'cart', kind: 'Deployment', replicas: 2, ports: [tcp('http', 8080), tcp('metrics', 9090)] },
  { namespace: 'shop', name: 'checkout', kind: 'Deployment', replicas: 2, ports: [tcp('grpc', 50051), tcp('metrics', 9090)] },
  { namespace: 'shop', name: 'payments', kind: 'Deployment', replicas: 2, ports: [tcp('grpc', 50051), tcp('metrics', 9090)] },
  { namespace: 'shop', name: 'recommendations', kind: 'Deployment', replicas: 1, ports: [tcp('http', 8080), tcp('metrics', 9090)] },
  { namespace: 'data', name: 'postgres', kind: 'StatefulSet', replicas: 1, ports: [tcp('postgres', 5432), tcp('metrics', 9187)] },
  { namespace: 'data', name: 'redis', kind: 'StatefulSet', replicas: 1, ports: [tcp('redis', 6379), tcp('metrics', 9121)] },
  { namespace: 'data', name: 'kafka', kind: 'StatefulSet', replicas: 1, ports: [tcp('kafka', 9092), tcp('metrics', 9308)] },
  { namespace: 'monitoring', name: 'prometheus', kind: 'StatefulSet', replicas: 1, ports: [tcp('web', 9090)] },
  { namespace: 'monitoring', name: 'node-exporter', kind: 'DaemonSet', replicas: 0, ports: [tcp('metrics', 9100)] },
  { namespace: 'batch', name: 'report-generator', kind: 'Deployment', replicas: 1, ports: [tcp('metrics', 9090)] },
  { namespace: 'dev', name: 'sandbox', kind: 'Deployment', replicas: 1, ports: [tcp('http', 8080)] },
];

const SERVICES: readonly Omit<SimService, 'clusterIPv4' | 'clusterIPv6'>[] = [
  { namespace: 'kube-system', name: 'kube-dns', app: 'coredns', ports: [{ name: 'dns', port: 53, targetPort: 'dns', protocol: 17 }, { name: 'dns-tcp', port: 53, targetPort: 'dns-tcp', protocol: 6 }] },
  { namespace: 'ingress-nginx', name: 'ingress-nginx-controller', app: 'ingress-nginx-controller', ports: [{ name: 'https', port: 443, targetPort: 'https', protocol: 6 }] },
  { namespace: 'shop', name: 'frontend', app: 'frontend', ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 6 }] },
  { namespace: 'shop', name: 'catalog', app: 'catalog', ports: [{ name: 'http', port: 8080, targetPort: 'http', protocol: 6 }] },
  { namespace: 'shop', name: 'cart', app: 'cart', ports: [{ name: 'http', port: 8080, targetPort: 'http', protocol: 6 }] },
  { namespace: 'shop', name: 'checkout', app: 'checkout', ports: [{ name: 'grpc', port: 50051, targetPort: 'grpc', protocol: 6 }] },
  { namespace: 'shop', name: 'payments', app: 'payments', ports: [{ name: 'grpc', port: 50051, targetPort: 'grpc', protocol: 6 }] },
  { namespace: 'shop', name: 'recommendations', app: 'recommendations', ports: [{ name: 'http', port: 8080, targetPort: 'http', protocol: 6 }] },
  { namespace: 'data', name: 'postgres', app: 'postgres', ports: [{ name: 'postgres', port: 5432, targetPort: 'postgres', protocol: 6 }] },
  { namespace: 'data', name: 'redis', app: 'redis', ports: [{ name: 'redis', port: 6379, targetPort: 'redis', protocol: 6 }] },
  { namespace: 'data', name: 'kafka', app: 'kafka', ports: [{ name: 'kafka', port: 9092, targetPort: 'kafka', protocol: 6 }] },
];

const EXTERNALS: readonly SimExternal[] = [
  { name: 'payment-gateway', ipv4: '203.0.113.10', ipv6: '2001:db8:113::10' },
  { name: 'payment-webhook-legacy', ipv4: '203.0.113.99', ipv6: '2001:db8:113::99' },
  { name: 'object-storage', ipv4: '198.51.100.20', ipv6: '2001:db8:100::20' },
  { name: 'package-mirror', ipv4: '192.0.2.50', ipv6: '2001:db8:2::50' },
];

const svc = (namespace: string, name: string, port: string): Target => ({ kind: 'service', namespace, name, port });

/** The shop's traffic. Rates are per second at peak, cluster-wide, at --rate 1. */
const CONVERSATIONS: readonly Conversation[] = [
  { name: 'clients-to-ingress', from: { externalClients: 'internet' }, to: { kind: 'pods', namespace: 'ingress-nginx', app: 'ingress-nginx-controller', port: 'https' }, family: 4, shape: 'web', peakPerSecond: 6, requestBytes: 1800, responseBytes: 42_000, durationMs: 900 },
  { name: 'clients-to-ingress-v6', from: { externalClients: 'internet' }, to: { kind: 'pods', namespace: 'ingress-nginx', app: 'ingress-nginx-controller', port: 'https' }, family: 6, shape: 'web', peakPerSecond: 1.5, requestBytes: 1800, responseBytes: 42_000, durationMs: 900 },
  { name: 'ingress-to-frontend', from: { namespace: 'ingress-nginx', app: 'ingress-nginx-controller' }, to: svc('shop', 'frontend', 'http'), family: 4, shape: 'web', peakPerSecond: 4, requestBytes: 1500, responseBytes: 38_000, durationMs: 600 },
  { name: 'frontend-to-catalog', from: { namespace: 'shop', app: 'frontend' }, to: svc('shop', 'catalog', 'http'), family: 4, shape: 'web', peakPerSecond: 3, requestBytes: 600, responseBytes: 12_000, durationMs: 150 },
  { name: 'frontend-to-cart', from: { namespace: 'shop', app: 'frontend' }, to: svc('shop', 'cart', 'http'), family: 4, shape: 'web', peakPerSecond: 1.5, requestBytes: 700, responseBytes: 2_500, durationMs: 120 },
  { name: 'frontend-to-recommendations', from: { namespace: 'shop', app: 'frontend' }, to: svc('shop', 'recommendations', 'http'), family: 6, shape: 'web', peakPerSecond: 1, requestBytes: 500, responseBytes: 6_000, durationMs: 200 },
  { name: 'frontend-to-checkout', from: { namespace: 'shop', app: 'frontend' }, to: svc('shop', 'checkout', 'grpc'), family: 4, shape: 'web', peakPerSecond: 0.4, requestBytes: 2_000, responseBytes: 1_500, durationMs: 30_000 },
  { name: 'checkout-to-payments', from: { namespace: 'shop', app: 'checkout' }, to: svc('shop', 'payments', 'grpc'), family: 4, shape: 'web', peakPerSecond: 0.3, requestBytes: 1_500, responseBytes: 900, durationMs: 40_000 },
  { name: 'payments-to-gateway', from: { namespace: 'shop', app: 'payments' }, to: { kind: 'external', name: 'payment-gateway', port: 443, protocol: 6 }, family: 4, shape: 'web', peakPerSecond: 0.3, requestBytes: 3_000, responseBytes: 4_500, durationMs: 700 },
  { name: 'payments-to-legacy-webhook', from: { namespace: 'shop', app: 'payments' }, to: { kind: 'external', name: 'payment-webhook-legacy', port: 443, protocol: 6 }, family: 4, shape: 'web', peakPerSecond: 0.05, requestBytes: 60, responseBytes: 0, durationMs: 3_000 },
  { name: 'catalog-to-postgres', from: { namespace: 'shop', app: 'catalog' }, to: svc('data', 'postgres', 'postgres'), family: 4, shape: 'web', peakPerSecond: 0.2, requestBytes: 40_000, responseBytes: 900_000, durationMs: 120_000 },
  { name: 'checkout-to-postgres', from: { namespace: 'shop', app: 'checkout' }, to: svc('data', 'postgres', 'postgres'), family: 4, shape: 'web', peakPerSecond: 0.1, requestBytes: 30_000, responseBytes: 60_000, durationMs: 120_000 },
  { name: 'cart-to-redis', from: { namespace: 'shop', app: 'cart' }, to: svc('data', 'redis', 'redis'), family: 4, shape: 'web', peakPerSecond: 0.2, requestBytes: 20_000, responseBytes: 35_000, durationMs: 90_000 },
  { name: 'checkout-to-kafka', from: { namespace: 'shop', app: 'checkout' }, to: svc('data', 'kafka', 'kafka'), family: 4, shape: 'web', peakPerSecond: 0.05, requestBytes: 150_000, responseBytes: 8_000, durationMs: 240_000 },
  { name: 'dns-lookups', from: { namespace: 'shop', app: 'frontend' }, to: svc('kube-system', 'kube-dns', 'dns'), family: 4, shape: 'web', peakPerSecond: 1.5, requestBytes: 70, responseBytes: 140, durationMs: 20 },
  { name: 'payments-dns', from: { namespace: 'shop', app: 'payments' }, to: svc('kube-system', 'kube-dns', 'dns'), family: 4, shape: 'web', peakPerSecond: 0.3, requestBytes: 72, responseBytes: 160, durationMs: 20 },
  { name: 'prometheus-scrapes-shop', from: { namespace: 'monitoring', app: 'prometheus' }, to: { kind: 'pods', namespace: 'shop', app: 'frontend', port: 'metrics' }, family: 4, shape: 'steady', peakPerSecond: 0.2, requestBytes: 300, responseBytes: 28_000, durationMs: 60 },
  { name: 'prometheus-scrapes-nodes', from: { namespace: 'monitoring', app: 'prometheus' }, to: { kind: 'pods', namespace: 'monitoring', app: 'node-exporter', port: 'metrics' }, family: 4, shape: 'steady', peakPerSecond: 0.2, requestBytes: 300, responseBytes: 60_000, durationMs: 80 },
  { name: 'prometheus-scrapes-postgres', from: { namespace: 'monitoring', app: 'prometheus' }, to: { kind: 'pods', namespace: 'data', app: 'postgres', port: 'metrics' }, family: 4, shape: 'steady', peakPerSecond: 0.07, requestBytes: 300, responseBytes: 15_000, durationMs: 80 },
  { name: 'reports-from-postgres', from: { namespace: 'batch', app: 'report-generator' }, to: svc('data', 'postgres', 'postgres'), family: 4, shape: 'batch', peakPerSecond: 0.05, requestBytes: 20_000, responseBytes: 40_000_000, durationMs: 180_000 },
  { name: 'reports-to-object-storage', from: { namespace: 'batch', app: 'report-generator' }, to: { kind: 'external', name: 'object-storage', port: 443, protocol: 6 }, family: 4, shape: 'batch', peakPerSecond: 0.05, requestBytes: 25_000_000, responseBytes: 30_000, durationMs: 60_000 },
  { name: 'sandbox-to-postgres', from: { namespace: 'dev', app: 'sandbox' }, to: svc('data', 'postgres', 'postgres'), family: 4, shape: 'web', peakPerSecond: 0.05, requestBytes: 60, responseBytes: 0, durationMs: 3_000 },
  { name: 'sandbox-to-package-mirror', from: { namespace: 'dev', app: 'sandbox' }, to: { kind: 'external', name: 'package-mirror', port: 443, protocol: 6 }, family: 4, shape: 'web', peakPerSecond: 0.05, requestBytes: 60, responseBytes: 0, durationMs: 50 },
  { name: 'sandbox-to-cart', from: { namespace: 'dev', app: 'sandbox' }, to: svc('shop', 'cart', 'http'), family: 4, shape: 'web', peakPerSecond: 0.1, requestBytes: 700, responseBytes: 2_500, durationMs: 120 },
];

export interface ClusterOptions {
  seed: number;
  nodes: number;
}

function nodeName(i: number): string {
  return `node-${i + 1}`;
}

/** Builds the cluster of `nodes` Nodes for `seed`: the same inputs give the same cluster. */
export function buildCluster(options: ClusterOptions): SimCluster {
  const { seed, nodes: nodeCount } = options;
  if (!Number.isInteger(nodeCount) || nodeCount < MIN_NODES || nodeCount > MAX_NODES) {
    throw new DemoError('DEMO_ERR_INVALID_OPTION', `nodes must be a whole number from ${MIN_NODES} to ${MAX_NODES} (inter-node traffic needs two), got ${String(nodeCount)}`);
  }
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new DemoError('DEMO_ERR_INVALID_OPTION', `seed must be a whole number from 0 to 4294967295, got ${String(seed)}`);
  }
  const nodes: SimNode[] = [];
  for (let i = 0; i < nodeCount; i++) {
    nodes.push({ name: nodeName(i), index: i, address: `172.18.0.${10 + i + 1}`, podCidrs: [`10.10.${i + 1}.0/24`, `fd00:10:${i + 1}::/64`] });
  }
  const rng = new Prng(hash32(seed, 0xc1));
  const nextHost = new Array<number>(nodeCount).fill(10);
  const pods: SimPod[] = [];
  // Spread replicas the way the scheduler tends to: each workload starts on a random Node and
  // takes the following Nodes in turn.
  for (const w of WORKLOADS) {
    const replicaNodes: number[] = [];
    if (w.kind === 'DaemonSet') for (let i = 0; i < nodeCount; i++) replicaNodes.push(i);
    else {
      const first = rng.int(nodeCount);
      for (let r = 0; r < w.replicas; r++) replicaNodes.push((first + r) % nodeCount);
    }
    const templateHash = kubeSuffix(rng, 10);
    replicaNodes.forEach((n, r) => {
      let name: string;
      if (w.kind === 'StatefulSet') name = `${w.name}-${r}`;
      else if (w.kind === 'DaemonSet') name = `${w.name}-${kubeSuffix(rng, 5)}`;
      else name = `${w.name}-${templateHash}-${kubeSuffix(rng, 5)}`;
      const host = nextHost[n]++;
      pods.push({
        namespace: w.namespace,
        name,
        workload: w.name,
        nodeName: nodes[n].name,
        ipv4: `10.10.${n + 1}.${host}`,
        ipv6: `fd00:10:${n + 1}::${host.toString(16)}`,
        labels: { app: w.name },
        ports: w.ports,
      });
    });
  }
  const services: SimService[] = SERVICES.map((s, i) => {
    // kube-dns gets the conventional .10; the others follow in catalogue order.
    const host = s.name === 'kube-dns' ? 10 : 100 + i;
    return { ...s, clusterIPv4: `10.96.0.${host}`, clusterIPv6: `fd00:96::${host.toString(16)}` };
  });
  return {
    seed,
    nodes,
    namespaces: NAMESPACES.map((name) => ({ name, labels: { 'kubernetes.io/metadata.name': name } })),
    workloads: WORKLOADS,
    pods,
    services,
    externals: EXTERNALS,
    clientNetworks: { internet: { ipv4Prefix: '198.51.100.', ipv6Prefix: '2001:db8:100:1::' } },
    conversations: CONVERSATIONS,
  };
}

/** Pods of a workload (by its `app` label) in a namespace. */
export function podsOf(cluster: SimCluster, namespace: string, app: string): SimPod[] {
  return cluster.pods.filter((p) => p.namespace === namespace && p.labels.app === app);
}

export function serviceOf(cluster: SimCluster, namespace: string, name: string): SimService | undefined {
  return cluster.services.find((s) => s.namespace === namespace && s.name === name);
}

export function externalOf(cluster: SimCluster, name: string): SimExternal | undefined {
  return cluster.externals.find((e) => e.name === name);
}
