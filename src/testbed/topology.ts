// The testbed topology: a YAML file that describes a small cluster (Nodes with Pod CIDRs, Pods,
// Services, an External host, NetworkPolicies, a traffic plan). Validated once here, with a
// JSON schema (ajv) and cross-field rules; every message names its key and says what to write
// instead. NetworkPolicies are ordinary Kubernetes objects, compiled by the exporter's own
// compiler (src/exporter/policy/network-policy.ts), so the testbed enforces exactly what the
// exporter evaluates. The result is typed and deep-frozen.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { compileNetworkPolicy, PolicyProtocol, type CompiledPolicy } from '../exporter/policy/network-policy.js';
import { formatDenyPrefix, type DenyAction } from '../exporter/nflog/prefix.js';
import { parseDuration } from '../util/duration.js';
import { deepFreeze } from '../util/freeze.js';
import { TestbedError } from './errors.js';
import { addressAt, canonicalAddress, formatPrefix, parseAddress, parsePrefix, prefixContains, prefixesOverlap, prefixSize, type Prefix } from './ipam.js';

/** The annotation that makes a NetworkPolicy's isolation REJECT instead of DROP (K8s has no such field). */
export const DENY_ACTION_ANNOTATION = 'testbed.flowvis.io/deny-action';

export type Family = 4 | 6;
export type ProtocolName = 'TCP' | 'UDP' | 'SCTP';

export interface TopologyNode {
  readonly name: string;
  readonly index: number;
  /** One per family, in the order written. */
  readonly podCIDRs: readonly Prefix[];
  readonly labels: Readonly<Record<string, string>>;
  /** Gateway (the bridge's address) per family: the first address of each Pod CIDR. */
  readonly gateways: Readonly<Partial<Record<Family, string>>>;
  /** The Node's address on the underlay, per family. */
  readonly underlayIps: Readonly<Partial<Record<Family, string>>>;
}

export interface TopologyPort {
  readonly name: string;
  readonly containerPort: number;
  readonly protocol: ProtocolName;
}

export interface TopologyPod {
  readonly namespace: string;
  readonly name: string;
  /** "namespace/name". */
  readonly id: string;
  readonly node: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly ports: readonly TopologyPort[];
  /** Canonical, per family. */
  readonly ips: Readonly<Partial<Record<Family, string>>>;
}

export interface TopologyServicePort {
  readonly name: string;
  readonly port: number;
  /** A number, or the name of a container port of the endpoints. */
  readonly targetPort: number | string;
  readonly protocol: ProtocolName;
}

export interface TopologyService {
  readonly namespace: string;
  readonly name: string;
  readonly id: string;
  readonly clusterIPs: Readonly<Partial<Record<Family, string>>>;
  readonly selector: Readonly<Record<string, string>>;
  readonly ports: readonly TopologyServicePort[];
}

export interface TopologyExternal {
  readonly name: string;
  readonly ips: Readonly<Partial<Record<Family, string>>>;
  readonly ports: readonly { readonly port: number; readonly protocol: ProtocolName }[];
}

export interface TopologyPolicy {
  /** The object as written (it goes into the inventory unchanged). */
  readonly object: Readonly<Record<string, unknown>>;
  readonly compiled: CompiledPolicy;
  readonly denyAction: DenyAction;
}

export type TrafficTarget =
  | { readonly kind: 'pod'; readonly id: string }
  | { readonly kind: 'service'; readonly id: string }
  | { readonly kind: 'external' };

export interface TrafficSpec {
  readonly name: string;
  /** Source Pod, "namespace/name". */
  readonly from: string;
  readonly to: TrafficTarget;
  readonly protocol: 'TCP' | 'UDP';
  /** A number, or a port name (container port of the Pod, or Service port name). */
  readonly port: number | string;
  readonly family: Family;
  /** TCP: application bytes the client sends per connection; UDP: size of each datagram. */
  readonly requestBytes: number;
  /** TCP: bytes the server answers per connection; UDP: size of each reply datagram. */
  readonly responseBytes: number;
  /** TCP: sequential connections (short-lived when > 1). */
  readonly connections: number;
  /** UDP: datagrams sent. */
  readonly datagrams: number;
  /** The request is spread over this many ms (a long-lived connection); 0: sent at once. */
  readonly durationMs: number;
  /** What the policies should do to it, when the plan says. */
  readonly expect: 'allow' | 'drop' | 'reject' | null;
}

export interface Topology {
  readonly prefix: string;
  readonly nflogGroup: number;
  readonly families: readonly Family[];
  readonly underlay: readonly Prefix[];
  readonly nodes: readonly TopologyNode[];
  readonly namespaces: readonly { readonly name: string; readonly labels: Readonly<Record<string, string>> }[];
  readonly pods: readonly TopologyPod[];
  readonly services: readonly TopologyService[];
  readonly external: TopologyExternal;
  /** Underlay addresses of the aggregator's namespace. */
  readonly aggregatorIps: Readonly<Partial<Record<Family, string>>>;
  readonly serviceLoadBalancing: 'random' | 'roundRobin';
  readonly policies: readonly TopologyPolicy[];
  readonly exporter: { readonly config: Readonly<Record<string, unknown>> };
  readonly aggregator: { readonly transport: 'tcp' | 'tls' | 'udp'; readonly config: Readonly<Record<string, unknown>> };
  readonly traffic: readonly TrafficSpec[];
  /** The document this was parsed from, with networkPolicyFiles read into networkPolicies (JSON). */
  readonly document: Readonly<Record<string, unknown>>;
}

/** Underlay host indexes: Nodes from NODE_HOST_BASE, the External host and the aggregator fixed. */
export const NODE_HOST_BASE = 11;
export const EXTERNAL_HOST = 200;
export const AGGREGATOR_HOST = 250;
/** Pods without explicit IPs get host indexes from here, in the order they are written per Node. */
export const POD_HOST_BASE = 10;

const DNS_LABEL = '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$';
const DNS_SUBDOMAIN = '^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$';
const labels = { type: 'object', additionalProperties: { type: 'string' } } as const;
const protocol = { enum: ['TCP', 'UDP', 'SCTP'] } as const;
const port = { type: 'integer', minimum: 1, maximum: 65535 } as const;
const portOrName = { anyOf: [port, { type: 'string', pattern: '^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$' }] } as const;

const SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['nodes'],
  properties: {
    prefix: { type: 'string', pattern: '^[a-z][a-z0-9]{1,11}$' },
    nflogGroup: { type: 'integer', minimum: 0, maximum: 65535 },
    underlay: {
      type: 'object',
      additionalProperties: false,
      properties: { ipv4: { type: 'string' }, ipv6: { type: 'string' } },
    },
    nodes: {
      type: 'array',
      minItems: 1,
      maxItems: 16,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'podCIDRs'],
        properties: {
          name: { type: 'string', pattern: DNS_LABEL },
          podCIDRs: { type: 'array', minItems: 1, maxItems: 2, items: { type: 'string' } },
          labels,
        },
      },
    },
    namespaces: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name'],
        properties: { name: { type: 'string', pattern: DNS_LABEL }, labels },
      },
    },
    pods: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['namespace', 'name', 'node'],
        properties: {
          namespace: { type: 'string', pattern: DNS_LABEL },
          name: { type: 'string', pattern: DNS_SUBDOMAIN },
          node: { type: 'string' },
          labels,
          ports: {
            type: 'array',
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['containerPort'],
              properties: { name: { type: 'string', pattern: '^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$' }, containerPort: port, protocol },
            },
          },
          ips: { type: 'array', maxItems: 2, items: { type: 'string' } },
        },
      },
    },
    services: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['namespace', 'name', 'clusterIPs', 'selector', 'ports'],
        properties: {
          namespace: { type: 'string', pattern: DNS_LABEL },
          name: { type: 'string', pattern: DNS_LABEL },
          clusterIPs: { type: 'array', minItems: 1, maxItems: 2, items: { type: 'string' } },
          selector: labels,
          ports: {
            type: 'array',
            minItems: 1,
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['port'],
              properties: { name: { type: 'string' }, port, targetPort: portOrName, protocol },
            },
          },
        },
      },
    },
    external: {
      type: 'object',
      additionalProperties: false,
      properties: {
        name: { type: 'string', pattern: DNS_LABEL },
        ports: {
          type: 'array',
          items: { type: 'object', additionalProperties: false, required: ['port'], properties: { port, protocol } },
        },
      },
    },
    serviceLoadBalancing: { enum: ['random', 'roundRobin'] },
    networkPolicies: { type: 'array', items: { type: 'object' } },
    networkPolicyFiles: { type: 'array', items: { type: 'string', minLength: 1 } },
    exporter: { type: 'object', additionalProperties: false, properties: { config: { type: 'object' } } },
    aggregator: {
      type: 'object',
      additionalProperties: false,
      properties: { transport: { enum: ['tcp', 'tls', 'udp'] }, config: { type: 'object' } },
    },
    traffic: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'from', 'to', 'port'],
        properties: {
          name: { type: 'string', pattern: '^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$' },
          from: { type: 'string' },
          to: { type: 'string' },
          protocol: { enum: ['TCP', 'UDP'] },
          port: portOrName,
          family: { enum: [4, 6] },
          requestBytes: { type: 'integer', minimum: 0, maximum: 1_073_741_824 },
          responseBytes: { type: 'integer', minimum: 0, maximum: 1_073_741_824 },
          connections: { type: 'integer', minimum: 1, maximum: 10_000 },
          datagrams: { type: 'integer', minimum: 1, maximum: 100_000 },
          duration: { type: 'string' },
          expect: { enum: ['allow', 'drop', 'reject'] },
        },
      },
    },
  },
} as const;

const HINTS: Record<string, string> = {
  prefix: 'a short lowercase name (2-12 letters/digits, starting with a letter), e.g. "fvtb"; every namespace of the testbed starts with "<prefix>-"',
  nflogGroup: 'an NFLOG group number 0-65535, e.g. 5 (the exporters are configured with the same group)',
  underlay: 'a map with ipv4 and/or ipv6 CIDRs, e.g. {ipv4: 10.255.0.0/24, ipv6: "fd00:ff::/64"}',
  nodes: 'a list of 1-16 Nodes, e.g. [{name: node-1, podCIDRs: [10.10.1.0/24, "fd00:10:1::/64"]}]',
  'nodes.name': 'a DNS label, e.g. "node-1"',
  'nodes.podCIDRs': 'one CIDR per family, e.g. [10.10.1.0/24, "fd00:10:1::/64"]',
  namespaces: 'a list of {name, labels}',
  pods: 'a list of {namespace, name, node, labels, ports, ips}',
  'pods.name': 'a DNS subdomain, e.g. "web-1"',
  'pods.namespace': 'a DNS label, e.g. "frontend"',
  'pods.ports': 'a list of container ports, e.g. [{name: http, containerPort: 8080, protocol: TCP}]',
  services: 'a list of {namespace, name, clusterIPs, selector, ports}',
  'services.ports': 'a list of {name, port, targetPort, protocol}, e.g. [{name: http, port: 80, targetPort: http}]',
  external: 'a map {name, ports}, e.g. {name: external, ports: [{port: 443, protocol: TCP}]}',
  serviceLoadBalancing: 'random (iptables statistic random, as kube-proxy) or roundRobin (statistic nth)',
  networkPolicies: 'a list of networking.k8s.io/v1 NetworkPolicy objects',
  networkPolicyFiles: 'a list of YAML files of NetworkPolicy objects, relative to the topology file',
  exporter: 'a map {config: {...}} whose keys are merged into every generated exporter config',
  aggregator: 'a map {transport: tcp|tls|udp, config: {...}}',
  traffic: 'a list of {name, from, to, protocol, port, family, requestBytes, responseBytes, connections, datagrams, duration, expect}',
  'traffic.to': 'a Pod "namespace/name", a Service "service:namespace/name", or "external"',
  'traffic.duration': 'a duration string, e.g. "10s"',
};

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const validate = ajv.compile(SCHEMA);

function fail(key: string, why: string, hint: string | undefined = HINTS[key.replace(/\[\d+\]/g, '')]): never {
  throw new TestbedError('TESTBED_ERR_TOPOLOGY', `topology key "${key}": ${why}${hint ? `; write ${hint}` : ''}`);
}

function keyOf(err: ErrorObject): string {
  const parts = err.instancePath.split('/').slice(1);
  let key = '';
  for (const p of parts) key += /^\d+$/.test(p) ? `[${p}]` : key === '' ? p : `.${p}`;
  if (err.keyword === 'additionalProperties') {
    const extra = String((err.params as { additionalProperty: string }).additionalProperty);
    return key === '' ? extra : `${key}.${extra}`;
  }
  return key;
}

function schemaError(errors: ErrorObject[]): never {
  // anyOf failures are reported once, by their parent; the most specific other error wins.
  const err = errors.find((e) => e.keyword !== 'anyOf' && !errors.some((o) => o.keyword === 'anyOf' && e.instancePath === o.instancePath)) ?? errors[0];
  const key = keyOf(err);
  if (err.keyword === 'additionalProperties') fail(key, 'is not a known key', undefined);
  if (key === '') fail('(top level)', err.message ?? 'is invalid', 'a YAML map with at least "nodes"');
  fail(key, err.message ?? 'is invalid');
}

interface RawPort { name?: string; containerPort: number; protocol?: ProtocolName }
interface RawPod { namespace: string; name: string; node: string; labels?: Record<string, string>; ports?: RawPort[]; ips?: string[] }
interface RawService {
  namespace: string; name: string; clusterIPs: string[]; selector: Record<string, string>;
  ports: { name?: string; port: number; targetPort?: number | string; protocol?: ProtocolName }[];
}
interface RawTraffic {
  name: string; from: string; to: string; protocol?: 'TCP' | 'UDP'; port: number | string; family?: Family;
  requestBytes?: number; responseBytes?: number; connections?: number; datagrams?: number; duration?: string;
  expect?: 'allow' | 'drop' | 'reject';
}

export interface TopologyContext {
  /** networkPolicyFiles are read relative to this directory. */
  readonly baseDir: string;
}

/** Validates an already-parsed topology document. */
export function parseTopology(doc: unknown, ctx: TopologyContext): Topology {
  if (!validate(doc)) schemaError(validate.errors ?? []);
  const raw = doc as unknown as Record<string, unknown>;
  const prefix = (raw.prefix as string | undefined) ?? 'fvtb';
  if (prefix === 'fv') fail('prefix', '"fv" is taken by the integration test helpers (fv-<label>-...)');

  // Underlay: the link between Nodes, the External host and the aggregator.
  const ul = (raw.underlay ?? { ipv4: '10.255.0.0/24', ipv6: 'fd00:ff::/64' }) as { ipv4?: string; ipv6?: string };
  const underlay: Prefix[] = [];
  for (const [key, family] of [['ipv4', 4], ['ipv6', 6]] as const) {
    const text = ul[key];
    if (text === undefined) continue;
    const p = parsePrefix(text);
    if (!p || p.family !== family) fail(`underlay.${key}`, `"${text}" is not an IPv${family} CIDR`);
    if (prefixSize(p) <= BigInt(AGGREGATOR_HOST + 1)) fail(`underlay.${key}`, `"${text}" is too small: the testbed uses host addresses up to .${AGGREGATOR_HOST}`, 'a /24 or larger (IPv6: /64)');
    underlay.push(p);
  }
  if (underlay.length === 0) fail('underlay', 'has neither ipv4 nor ipv6');
  const underlayOf = (f: Family) => underlay.find((p) => p.family === f);

  // Nodes and their Pod CIDRs; every Node has the same families.
  const rawNodes = raw.nodes as { name: string; podCIDRs: string[]; labels?: Record<string, string> }[];
  const seenNodes = new Set<string>();
  let families: Family[] | undefined;
  const allCidrs: { key: string; prefix: Prefix }[] = underlay.map((p) => ({ key: 'underlay', prefix: p }));
  const nodes: TopologyNode[] = rawNodes.map((n, i) => {
    const at = `nodes[${i}]`;
    if (seenNodes.has(n.name)) fail(`${at}.name`, `Node "${n.name}" is defined twice`);
    seenNodes.add(n.name);
    const cidrs = n.podCIDRs.map((text, j) => {
      const p = parsePrefix(text);
      if (!p) fail(`${at}.podCIDRs[${j}]`, `"${text}" is not a CIDR`, HINTS['nodes.podCIDRs']);
      if (prefixSize(p) < 4n) fail(`${at}.podCIDRs[${j}]`, `"${text}" is too small for a gateway and Pods`, 'a /29 or larger (IPv6: /125 or larger)');
      for (const other of allCidrs) {
        if (prefixesOverlap(other.prefix, p)) fail(`${at}.podCIDRs[${j}]`, `"${text}" overlaps ${other.key} ${formatPrefix(other.prefix)}`, 'a CIDR of its own');
      }
      allCidrs.push({ key: `${at}.podCIDRs[${j}]`, prefix: p });
      return p;
    });
    const fams = cidrs.map((c) => c.family);
    if (new Set(fams).size !== fams.length) fail(`${at}.podCIDRs`, 'has two CIDRs of the same family', HINTS['nodes.podCIDRs']);
    const sorted = [...fams].sort() as Family[];
    if (families === undefined) families = sorted;
    else if (families.join() !== sorted.join()) fail(`${at}.podCIDRs`, `has families ${sorted.join('+')} but nodes[0] has ${families.join('+')}`, 'the same IP families on every Node');
    const gateways: Partial<Record<Family, string>> = {};
    const underlayIps: Partial<Record<Family, string>> = {};
    for (const c of cidrs) {
      gateways[c.family] = addressAt(c, 1)!;
      const u = underlayOf(c.family);
      if (!u) fail('underlay', `has no IPv${c.family} CIDR but ${at} has an IPv${c.family} Pod CIDR`);
      underlayIps[c.family] = addressAt(u, NODE_HOST_BASE + i)!;
    }
    return { name: n.name, index: i, podCIDRs: cidrs, labels: { ...(n.labels ?? {}) }, gateways, underlayIps };
  });
  const fams = families!;
  const hostIps = (index: number): Partial<Record<Family, string>> => {
    const out: Partial<Record<Family, string>> = {};
    for (const f of fams) out[f] = addressAt(underlayOf(f)!, index)!;
    return out;
  };

  // Pods: IPs explicit or allocated in order from POD_HOST_BASE in their Node's CIDRs.
  const namespaces = new Map<string, Record<string, string>>();
  for (const [i, ns] of ((raw.namespaces as { name: string; labels?: Record<string, string> }[] | undefined) ?? []).entries()) {
    if (namespaces.has(ns.name)) fail(`namespaces[${i}].name`, `Namespace "${ns.name}" is defined twice`);
    namespaces.set(ns.name, { ...(ns.labels ?? {}) });
  }
  const nextHost = new Map<string, number>();
  const usedIps = new Map<string, string>();
  const seenPods = new Set<string>();
  const pods: TopologyPod[] = ((raw.pods as RawPod[] | undefined) ?? []).map((p, i) => {
    const at = `pods[${i}]`;
    const id = `${p.namespace}/${p.name}`;
    if (seenPods.has(id)) fail(`${at}.name`, `Pod ${id} is defined twice`);
    seenPods.add(id);
    const node = nodes.find((n) => n.name === p.node) ?? fail(`${at}.node`, `"${p.node}" is not a Node of this topology`, `one of ${nodes.map((n) => n.name).join(', ')}`);
    if (!namespaces.has(p.namespace)) namespaces.set(p.namespace, {});
    const ports: TopologyPort[] = (p.ports ?? []).map((cp) => ({ name: cp.name ?? '', containerPort: cp.containerPort, protocol: cp.protocol ?? 'TCP' }));
    const seenPort = new Set<string>();
    ports.forEach((cp, j) => {
      const k = `${cp.protocol}/${cp.containerPort}`;
      if (seenPort.has(k) || (cp.name !== '' && seenPort.has(cp.name))) fail(`${at}.ports[${j}]`, `port ${cp.name || k} is listed twice`);
      seenPort.add(k);
      if (cp.name !== '') seenPort.add(cp.name);
      if (cp.protocol === 'SCTP') fail(`${at}.ports[${j}].protocol`, 'SCTP is not served by the testbed traffic servers', 'TCP or UDP');
    });
    const ips: Partial<Record<Family, string>> = {};
    (p.ips ?? []).forEach((text, j) => {
      const a = parseAddress(text);
      const cidr = a && node.podCIDRs.find((c) => c.family === a.family);
      if (!a || !cidr || !prefixContains(cidr, a.family, a.value)) {
        fail(`${at}.ips[${j}]`, `"${text}" is not an address in Node ${node.name}'s Pod CIDRs (${node.podCIDRs.map(formatPrefix).join(', ')})`, undefined);
      }
      if (ips[a.family] !== undefined) fail(`${at}.ips[${j}]`, `a second IPv${a.family} address`, 'at most one address per family');
      ips[a.family] = canonicalAddress(text)!;
    });
    for (const c of node.podCIDRs) {
      if (ips[c.family] !== undefined) continue;
      let host = nextHost.get(`${node.name}/${c.family}`) ?? POD_HOST_BASE;
      let ip = addressAt(c, host);
      while (ip !== undefined && usedIps.has(ip)) ip = addressAt(c, ++host);
      if (ip === undefined || BigInt(host) >= prefixSize(c) - 1n) fail(`${at}`, `Node ${node.name}'s Pod CIDR ${formatPrefix(c)} has no free address left`, 'a larger Pod CIDR');
      nextHost.set(`${node.name}/${c.family}`, host + 1);
      ips[c.family] = ip;
    }
    for (const ip of Object.values(ips)) {
      if (usedIps.has(ip!)) fail(`${at}.ips`, `${ip} is already Pod ${usedIps.get(ip!)}'s`);
      usedIps.set(ip!, id);
    }
    return { namespace: p.namespace, name: p.name, id, node: node.name, labels: { ...(p.labels ?? {}) }, ports, ips };
  });

  // Services.
  const seenSvc = new Set<string>();
  const services: TopologyService[] = ((raw.services as RawService[] | undefined) ?? []).map((s, i) => {
    const at = `services[${i}]`;
    const id = `${s.namespace}/${s.name}`;
    if (seenSvc.has(id)) fail(`${at}.name`, `Service ${id} is defined twice`);
    seenSvc.add(id);
    if (!namespaces.has(s.namespace)) namespaces.set(s.namespace, {});
    const clusterIPs: Partial<Record<Family, string>> = {};
    s.clusterIPs.forEach((text, j) => {
      const a = parseAddress(text);
      if (!a) fail(`${at}.clusterIPs[${j}]`, `"${text}" is not an IP address`, 'e.g. 10.96.0.10 or "fd00:96::10"');
      if (!fams.includes(a.family)) fail(`${at}.clusterIPs[${j}]`, `the Nodes have no IPv${a.family} Pod CIDR`, undefined);
      if (clusterIPs[a.family] !== undefined) fail(`${at}.clusterIPs[${j}]`, `a second IPv${a.family} address`, 'at most one ClusterIP per family');
      for (const c of allCidrs) if (prefixContains(c.prefix, a.family, a.value)) fail(`${at}.clusterIPs[${j}]`, `${text} lies in ${c.key} ${formatPrefix(c.prefix)}`, 'an address outside the Pod CIDRs and the underlay, e.g. in 10.96.0.0/16');
      const canon = canonicalAddress(text)!;
      if (usedIps.has(canon)) fail(`${at}.clusterIPs[${j}]`, `${canon} is already used by ${usedIps.get(canon)}`, undefined);
      usedIps.set(canon, `Service ${id}`);
      clusterIPs[a.family] = canon;
    });
    const seenNames = new Set<string>();
    const ports = s.ports.map((p, j) => {
      const name = p.name ?? '';
      if (s.ports.length > 1 && name === '') fail(`${at}.ports[${j}].name`, 'is required when a Service has several ports', 'a port name, e.g. "http"');
      if (seenNames.has(name)) fail(`${at}.ports[${j}].name`, `"${name}" is used twice`, undefined);
      seenNames.add(name);
      return { name, port: p.port, targetPort: p.targetPort ?? p.port, protocol: p.protocol ?? 'TCP' };
    });
    return { namespace: s.namespace, name: s.name, id, clusterIPs, selector: { ...s.selector }, ports };
  });

  const ext = (raw.external ?? {}) as { name?: string; ports?: { port: number; protocol?: ProtocolName }[] };
  const external: TopologyExternal = {
    name: ext.name ?? 'external',
    ips: hostIps(EXTERNAL_HOST),
    ports: (ext.ports ?? [{ port: 443 }, { port: 53, protocol: 'UDP' }]).map((p) => ({ port: p.port, protocol: p.protocol ?? 'TCP' })),
  };

  // NetworkPolicies: inline objects and files, compiled by the exporter's compiler.
  const policyObjects: { obj: unknown; where: string }[] = ((raw.networkPolicies as unknown[] | undefined) ?? []).map((obj, i) => ({ obj, where: `networkPolicies[${i}]` }));
  ((raw.networkPolicyFiles as string[] | undefined) ?? []).forEach((file, i) => {
    const path = resolve(ctx.baseDir, file);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      fail(`networkPolicyFiles[${i}]`, `cannot read "${path}": ${(err as Error).message}`);
    }
    parseAllDocuments(text).forEach((d, j) => {
      if (!('errors' in d) || d.errors.length > 0) fail(`networkPolicyFiles[${i}]`, `document ${j + 1} of "${path}" is not valid YAML`);
      const obj = d.toJS() as unknown;
      if (obj !== null && obj !== undefined) policyObjects.push({ obj, where: `networkPolicyFiles[${i}] (${file}) document ${j + 1}` });
    });
  });
  const seenPolicies = new Set<string>();
  const policies: TopologyPolicy[] = policyObjects.map(({ obj, where }) => {
    const o = obj as Record<string, unknown>;
    if (o.kind !== 'NetworkPolicy') fail(where, `kind is "${String(o.kind)}"`, 'kind: NetworkPolicy (apiVersion: networking.k8s.io/v1)');
    let compiled: CompiledPolicy;
    try {
      compiled = compileNetworkPolicy(obj);
    } catch (err) {
      fail(where, (err as Error).message, undefined);
    }
    const id = `${compiled.namespace}/${compiled.name}`;
    if (seenPolicies.has(id)) fail(where, `NetworkPolicy ${id} is defined twice`, undefined);
    seenPolicies.add(id);
    const annotations = ((o.metadata as Record<string, unknown>).annotations ?? {}) as Record<string, unknown>;
    const actionText = annotations[DENY_ACTION_ANNOTATION] ?? 'Drop';
    if (actionText !== 'Drop' && actionText !== 'Reject') fail(`${where} metadata.annotations["${DENY_ACTION_ANNOTATION}"]`, `"${String(actionText)}" is not Drop or Reject`, 'Drop (the default) or Reject');
    const denyAction: DenyAction = actionText === 'Reject' ? 'reject' : 'drop';
    try {
      formatDenyPrefix({ action: denyAction, direction: 'ingress', policy: id });
    } catch (err) {
      fail(where, (err as Error).message, 'a shorter namespace/name (the NFLOG prefix keeps 63 bytes)');
    }
    if (!namespaces.has(compiled.namespace)) namespaces.set(compiled.namespace, {});
    return { object: obj as Record<string, unknown>, compiled, denyAction };
  });

  const exporterRaw = (raw.exporter ?? {}) as { config?: Record<string, unknown> };
  const aggregatorRaw = (raw.aggregator ?? {}) as { transport?: 'tcp' | 'tls' | 'udp'; config?: Record<string, unknown> };

  const partial = { pods, services, external };
  const traffic = ((raw.traffic as RawTraffic[] | undefined) ?? []).map((t, i) => parseTrafficSpec(t, `traffic[${i}]`, partial));
  const seenTraffic = new Set<string>();
  traffic.forEach((t, i) => {
    if (seenTraffic.has(t.name)) fail(`traffic[${i}].name`, `"${t.name}" is used twice`, undefined);
    seenTraffic.add(t.name);
  });

  return deepFreeze({
    prefix,
    nflogGroup: (raw.nflogGroup as number | undefined) ?? 5,
    families: fams,
    underlay,
    nodes,
    namespaces: [...namespaces].map(([name, l]) => ({ name, labels: l })),
    pods,
    services,
    external,
    aggregatorIps: hostIps(AGGREGATOR_HOST),
    serviceLoadBalancing: (raw.serviceLoadBalancing as 'random' | 'roundRobin' | undefined) ?? 'random',
    policies,
    exporter: { config: { ...(exporterRaw.config ?? {}) } },
    aggregator: { transport: aggregatorRaw.transport ?? 'tcp', config: { ...(aggregatorRaw.config ?? {}) } },
    traffic,
    document: JSON.parse(JSON.stringify({ ...raw, networkPolicyFiles: undefined, networkPolicies: policyObjects.map((o) => o.obj) })) as Record<string, unknown>,
  });
}

/** Resolves one traffic spec against the topology's Pods, Services and External host. */
export function parseTrafficSpec(
  t: RawTraffic,
  at: string,
  topo: Pick<Topology, 'pods' | 'services' | 'external'>,
): TrafficSpec {
  const bad = (key: string, why: string, hint?: string): never => {
    throw new TestbedError('TESTBED_ERR_TRAFFIC', `${at}.${key}: ${why}${hint ? `; write ${hint}` : ''}`);
  };
  if (!topo.pods.some((p) => p.id === t.from)) bad('from', `"${t.from}" is not a Pod of the topology`, `one of ${topo.pods.map((p) => p.id).join(', ')}`);
  let to: TrafficTarget;
  const protocol = t.protocol ?? 'TCP';
  if (t.to === 'external') {
    to = { kind: 'external' };
    if (typeof t.port !== 'number' || !topo.external.ports.some((p) => p.port === t.port && p.protocol === protocol)) {
      bad('port', `the External host does not serve ${protocol} ${String(t.port)}`, `one of ${topo.external.ports.map((p) => `${p.protocol} ${p.port}`).join(', ')}`);
    }
  } else if (t.to.startsWith('service:')) {
    const id = t.to.slice('service:'.length);
    const svc = topo.services.find((s) => s.id === id) ?? bad('to', `"${id}" is not a Service of the topology`, `one of ${topo.services.map((s) => `service:${s.id}`).join(', ') || '(none)'}`);
    if (!svc.ports.some((p) => (p.port === t.port || (p.name !== '' && p.name === t.port)) && p.protocol === protocol)) {
      bad('port', `Service ${id} has no ${protocol} port ${String(t.port)}`, `one of ${svc.ports.map((p) => `${p.protocol} ${p.port}${p.name ? ` (${p.name})` : ''}`).join(', ')}`);
    }
    to = { kind: 'service', id };
  } else {
    const pod = topo.pods.find((p) => p.id === t.to) ?? bad('to', `"${t.to}" is not a Pod of the topology`, HINTS['traffic.to']);
    if (!pod.ports.some((p) => (p.containerPort === t.port || (p.name !== '' && p.name === t.port)) && p.protocol === protocol)) {
      bad('port', `Pod ${pod.id} has no ${protocol} container port ${String(t.port)}`, `one of ${pod.ports.map((p) => `${p.protocol} ${p.containerPort}${p.name ? ` (${p.name})` : ''}`).join(', ') || '(none)'}`);
    }
    to = { kind: 'pod', id: pod.id };
  }
  const family = t.family ?? 4;
  let durationMs = 0;
  if (t.duration !== undefined) {
    try {
      durationMs = parseDuration(t.duration);
    } catch (err) {
      bad('duration', (err as Error).message, HINTS['traffic.duration']);
    }
    if (durationMs < 0 || durationMs > 3_600_000) bad('duration', `"${t.duration}" is not between 0 and 1h`);
  }
  const minBytes = protocol === 'UDP' ? UDP_HEADER_BYTES : TCP_HEADER_BYTES;
  const requestBytes = t.requestBytes ?? (protocol === 'UDP' ? 100 : 1000);
  const responseBytes = t.responseBytes ?? (protocol === 'UDP' ? 100 : 1000);
  if (requestBytes < minBytes) bad('requestBytes', `${requestBytes} is below the ${minBytes}-byte ${protocol} request header`, `at least ${minBytes}`);
  if (protocol === 'UDP' && (requestBytes > 65_000 || responseBytes > 65_000)) bad('requestBytes', 'a UDP datagram holds at most 65000 bytes here');
  if (protocol === 'UDP' && responseBytes < UDP_HEADER_BYTES) bad('responseBytes', `${responseBytes} is below the ${UDP_HEADER_BYTES}-byte reply header`, `at least ${UDP_HEADER_BYTES}`);
  if (protocol === 'TCP' && t.datagrams !== undefined) bad('datagrams', 'is for UDP', 'connections for TCP');
  if (protocol === 'UDP' && t.connections !== undefined) bad('connections', 'is for TCP', 'datagrams for UDP');
  return {
    name: t.name,
    from: t.from,
    to,
    protocol,
    port: t.port,
    family,
    requestBytes,
    responseBytes,
    connections: t.connections ?? 1,
    datagrams: t.datagrams ?? 1,
    durationMs,
    expect: t.expect ?? null,
  };
}

/** The TCP request header: "FVT1", u32 request bytes, u32 response bytes (agent.ts). */
export const TCP_HEADER_BYTES = 12;
/** The UDP datagram header: "FVU1", u32 sequence, u32 reply bytes (agent.ts). */
export const UDP_HEADER_BYTES = 12;

/** Parses YAML text. */
export function parseTopologyText(text: string, ctx: TopologyContext): Topology {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new TestbedError('TESTBED_ERR_TOPOLOGY_FILE', `the topology is not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  return parseTopology(doc, ctx);
}

/** Reads and validates a topology file; networkPolicyFiles are taken from its directory. */
export function loadTopology(file: string): Topology {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new TestbedError('TESTBED_ERR_TOPOLOGY_FILE', `cannot read topology file "${file}": ${(err as Error).message}`, { cause: err });
  }
  return parseTopologyText(text, { baseDir: dirname(resolve(file)) });
}

/** IANA protocol number of a protocol name. */
export function protocolNumber(p: ProtocolName): number {
  return PolicyProtocol[p];
}
