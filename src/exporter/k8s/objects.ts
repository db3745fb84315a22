// Kubernetes objects (the API's JSON, the client's typed objects, or inventory YAML) turned into
// the small frozen records that the lookups return. Each parser checks what it reads and throws
// K8S_ERR_BAD_OBJECT naming the object and the field.
import { canonicalIp, parseCidr } from '../policy/ip.js';
import { PolicyProtocol } from '../policy/network-policy.js';
import { K8sError } from './errors.js';
import type { ContainerPort, NodeInfo, PodInfo, ServicePortInfo } from './metadata.js';

type Obj = Record<string, unknown>;

function isRecord(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface ObjectRef {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

class Reader {
  constructor(readonly ident: string) {}
  fail(why: string): never {
    throw new K8sError('K8S_ERR_BAD_OBJECT', `${this.ident}: ${why}`);
  }
  record(v: unknown, where: string): Obj {
    if (v === undefined || v === null) return {};
    if (!isRecord(v)) this.fail(`${where} must be an object`);
    return v as Obj;
  }
  list(v: unknown, where: string): unknown[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) this.fail(`${where} must be a list`);
    return v as unknown[];
  }
  string(v: unknown, where: string): string {
    if (v === undefined || v === null) return '';
    if (typeof v !== 'string') this.fail(`${where} must be a string`);
    return v as string;
  }
  labels(v: unknown, where: string): Readonly<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(this.record(v, where))) {
      if (typeof val !== 'string') this.fail(`${where}["${k}"] must be a string`);
      out[k] = val as string;
    }
    return Object.freeze(out);
  }
  ip(v: unknown, where: string): string {
    const text = this.string(v, where);
    const canon = canonicalIp(text);
    if (canon === undefined) this.fail(`${where} "${text}" is not an IPv4 or IPv6 address`);
    return canon!;
  }
  /** metav1.Time: RFC 3339 text in JSON, a Date in the client's typed objects. */
  time(v: unknown, where: string): number | undefined {
    if (v === undefined || v === null || v === '') return undefined;
    const ms = v instanceof Date ? v.getTime() : typeof v === 'string' ? Date.parse(v) : NaN;
    if (!Number.isFinite(ms)) this.fail(`${where} "${String(v)}" is not an RFC 3339 time`);
    return ms;
  }
  protocol(v: unknown, where: string): number {
    const text = v === undefined || v === null || v === '' ? 'TCP' : v;
    if (typeof text !== 'string' || !(text in PolicyProtocol)) this.fail(`${where} "${String(v)}" is not TCP, UDP or SCTP`);
    return PolicyProtocol[text as keyof typeof PolicyProtocol];
  }
  port(v: unknown, where: string): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) this.fail(`${where} must be a port number 1-65535`);
    return v as number;
  }
}

/** Reads metadata.namespace/name; `namespaced` false for Nodes and Namespaces. */
export function objectRef(obj: unknown, kind: string, namespaced: boolean): ObjectRef {
  const r = new Reader(kind);
  if (!isRecord(obj)) r.fail('not an object');
  const meta = r.record((obj as Obj).metadata, 'metadata');
  const name = r.string(meta.name, 'metadata.name');
  if (name === '') r.fail('metadata.name is missing');
  const namespace = namespaced ? r.string(meta.namespace, 'metadata.namespace') || 'default' : '';
  return { kind, namespace, name };
}

function identOf(ref: ObjectRef): string {
  return ref.namespace ? `${ref.kind} ${ref.namespace}/${ref.name}` : `${ref.kind} ${ref.name}`;
}

const TERMINAL_PHASES = new Set(['Succeeded', 'Failed']);

/**
 * Parses a Pod. `observedMs` is when this version was seen: a Pod that reached a terminal
 * phase releases its IPs then (or when its last container finished, if the status says).
 */
export function parsePod(obj: unknown, observedMs: number): PodInfo {
  const ref = objectRef(obj, 'Pod', true);
  const r = new Reader(identOf(ref));
  const o = obj as Obj;
  const meta = r.record(o.metadata, 'metadata');
  const spec = r.record(o.spec, 'spec');
  const status = r.record(o.status, 'status');
  const ips: string[] = [];
  const podIps = r.list(status.podIPs, 'status.podIPs');
  podIps.forEach((p, i) => {
    const ip = r.ip(r.record(p, `status.podIPs[${i}]`).ip, `status.podIPs[${i}].ip`);
    if (!ips.includes(ip)) ips.push(ip);
  });
  if (ips.length === 0 && status.podIP !== undefined && status.podIP !== null && status.podIP !== '') {
    ips.push(r.ip(status.podIP, 'status.podIP'));
  }
  const containerPorts: ContainerPort[] = [];
  for (const field of ['containers', 'initContainers'] as const) {
    r.list(spec[field], `spec.${field}`).forEach((c, i) => {
      const container = r.record(c, `spec.${field}[${i}]`);
      r.list(container.ports, `spec.${field}[${i}].ports`).forEach((p, j) => {
        const at = `spec.${field}[${i}].ports[${j}]`;
        const port = r.record(p, at);
        containerPorts.push(
          Object.freeze({
            name: r.string(port.name, `${at}.name`),
            port: r.port(port.containerPort, `${at}.containerPort`),
            protocol: r.protocol(port.protocol, `${at}.protocol`),
          }),
        );
      });
    });
  }
  const hostNetwork = spec.hostNetwork === true;
  const startMs = r.time(meta.creationTimestamp, 'metadata.creationTimestamp') ?? 0;
  let endMs = r.time(meta.deletionTimestamp, 'metadata.deletionTimestamp');
  // An API Pod with a deletionTimestamp is terminating, not gone: callers pass the observed
  // deletion instead (see ClusterState.deletePod); the inventory keeps it as the end.
  const phase = r.string(status.phase, 'status.phase');
  if (TERMINAL_PHASES.has(phase)) {
    let finished: number | undefined;
    r.list(status.containerStatuses, 'status.containerStatuses').forEach((cs, i) => {
      const state = r.record(r.record(cs, `status.containerStatuses[${i}]`).state, `status.containerStatuses[${i}].state`);
      const t = r.time(r.record(state.terminated, 'state.terminated').finishedAt, `status.containerStatuses[${i}].state.terminated.finishedAt`);
      if (t !== undefined && (finished === undefined || t > finished)) finished = t;
    });
    const ended = finished ?? observedMs;
    endMs = endMs === undefined ? ended : Math.min(endMs, ended);
  }
  return Object.freeze({
    namespace: ref.namespace,
    name: ref.name,
    uid: r.string(meta.uid, 'metadata.uid'),
    nodeName: r.string(spec.nodeName, 'spec.nodeName'),
    ips: Object.freeze(ips),
    labels: r.labels(meta.labels, 'metadata.labels'),
    hostNetwork,
    containerPorts: Object.freeze(containerPorts),
    startMs,
    endMs,
  });
}

export interface ServiceInfo {
  readonly namespace: string;
  readonly name: string;
  /** spec.clusterIPs (or clusterIP), spec.externalIPs and status.loadBalancer.ingress[].ip; "None" skipped. */
  readonly frontendIps: readonly string[];
  readonly ports: readonly ServicePortInfo[];
}

function servicePortName(namespace: string, name: string, portName: string): string {
  return portName === '' ? `${namespace}/${name}` : `${namespace}/${name}:${portName}`;
}

export function parseService(obj: unknown): ServiceInfo {
  const ref = objectRef(obj, 'Service', true);
  const r = new Reader(identOf(ref));
  const o = obj as Obj;
  const spec = r.record(o.spec, 'spec');
  const status = r.record(o.status, 'status');
  const ips: string[] = [];
  const add = (v: unknown, where: string): void => {
    if (v === 'None' || v === '' || v === undefined || v === null) return;
    const ip = r.ip(v, where);
    if (!ips.includes(ip)) ips.push(ip);
  };
  const clusterIps = r.list(spec.clusterIPs, 'spec.clusterIPs');
  clusterIps.forEach((v, i) => add(v, `spec.clusterIPs[${i}]`));
  if (clusterIps.length === 0) add(spec.clusterIP, 'spec.clusterIP');
  r.list(spec.externalIPs, 'spec.externalIPs').forEach((v, i) => add(v, `spec.externalIPs[${i}]`));
  r.list(r.record(status.loadBalancer, 'status.loadBalancer').ingress, 'status.loadBalancer.ingress').forEach((v, i) => {
    const ing = r.record(v, `status.loadBalancer.ingress[${i}]`);
    if (ing.ip !== undefined) add(ing.ip, `status.loadBalancer.ingress[${i}].ip`);
  });
  const ports = r.list(spec.ports, 'spec.ports').map((p, i) => {
    const at = `spec.ports[${i}]`;
    const port = r.record(p, at);
    const portName = r.string(port.name, `${at}.name`);
    return Object.freeze({
      namespace: ref.namespace,
      name: ref.name,
      portName,
      port: r.port(port.port, `${at}.port`),
      protocol: r.protocol(port.protocol, `${at}.protocol`),
      servicePortName: servicePortName(ref.namespace, ref.name, portName),
    });
  });
  return Object.freeze({ namespace: ref.namespace, name: ref.name, frontendIps: Object.freeze(ips), ports: Object.freeze(ports) });
}

export interface EndpointSliceInfo {
  readonly namespace: string;
  readonly name: string;
  readonly serviceName: string;
  readonly addresses: readonly string[];
  readonly ports: readonly ServicePortInfo[];
}

/** Parses a discovery.k8s.io/v1 EndpointSlice; its Service is the kubernetes.io/service-name label. */
export function parseEndpointSlice(obj: unknown): EndpointSliceInfo {
  const ref = objectRef(obj, 'EndpointSlice', true);
  const r = new Reader(identOf(ref));
  const o = obj as Obj;
  const labels = r.labels(r.record(o.metadata, 'metadata').labels, 'metadata.labels');
  const serviceName = labels['kubernetes.io/service-name'] ?? '';
  const addressType = r.string(o.addressType, 'addressType');
  if (addressType !== '' && addressType !== 'IPv4' && addressType !== 'IPv6' && addressType !== 'FQDN') {
    r.fail(`addressType "${addressType}" is not IPv4, IPv6 or FQDN`);
  }
  const addresses: string[] = [];
  if (addressType !== 'FQDN') {
    r.list(o.endpoints, 'endpoints').forEach((e, i) => {
      const ep = r.record(e, `endpoints[${i}]`);
      r.list(ep.addresses, `endpoints[${i}].addresses`).forEach((a, j) => addresses.push(r.ip(a, `endpoints[${i}].addresses[${j}]`)));
    });
  }
  const ports = r.list(o.ports, 'ports').flatMap((p, i) => {
    const port = r.record(p, `ports[${i}]`);
    if (port.port === undefined || port.port === null) return [];
    const portName = r.string(port.name, `ports[${i}].name`);
    return [
      Object.freeze({
        namespace: ref.namespace,
        name: serviceName,
        portName,
        port: r.port(port.port, `ports[${i}].port`),
        protocol: r.protocol(port.protocol, `ports[${i}].protocol`),
        servicePortName: servicePortName(ref.namespace, serviceName, portName),
      }),
    ];
  });
  return Object.freeze({ namespace: ref.namespace, name: ref.name, serviceName, addresses: Object.freeze(addresses), ports: Object.freeze(ports) });
}

export function parseNode(obj: unknown): NodeInfo {
  const ref = objectRef(obj, 'Node', false);
  const r = new Reader(identOf(ref));
  const o = obj as Obj;
  const spec = r.record(o.spec, 'spec');
  const status = r.record(o.status, 'status');
  const cidrs: string[] = [];
  const addCidr = (v: unknown, where: string): void => {
    const text = r.string(v, where);
    if (text === '') return;
    try {
      const c = parseCidr(text).text;
      if (!cidrs.includes(c)) cidrs.push(c);
    } catch (err) {
      r.fail(`${where}: ${(err as Error).message}`);
    }
  };
  const list = r.list(spec.podCIDRs, 'spec.podCIDRs');
  list.forEach((v, i) => addCidr(v, `spec.podCIDRs[${i}]`));
  if (list.length === 0) addCidr(spec.podCIDR, 'spec.podCIDR');
  const addresses: string[] = [];
  r.list(status.addresses, 'status.addresses').forEach((a, i) => {
    const addr = r.record(a, `status.addresses[${i}]`);
    if (addr.type !== 'InternalIP' && addr.type !== 'ExternalIP') return;
    const ip = r.ip(addr.address, `status.addresses[${i}].address`);
    if (!addresses.includes(ip)) addresses.push(ip);
  });
  return Object.freeze({
    name: ref.name,
    podCidrs: Object.freeze(cidrs),
    addresses: Object.freeze(addresses),
    labels: r.labels(r.record(o.metadata, 'metadata').labels, 'metadata.labels'),
  });
}

/** A Namespace's labels, with kubernetes.io/metadata.name set as the API server sets it. */
export function parseNamespace(obj: unknown): { name: string; labels: Readonly<Record<string, string>> } {
  const ref = objectRef(obj, 'Namespace', false);
  const r = new Reader(identOf(ref));
  const labels = { ...r.labels(r.record((obj as Obj).metadata, 'metadata').labels, 'metadata.labels') };
  labels['kubernetes.io/metadata.name'] = ref.name;
  return { name: ref.name, labels: Object.freeze(labels) };
}

/** Labels of a namespace that no Namespace object describes (an inventory may omit them). */
export function implicitNamespaceLabels(name: string): Readonly<Record<string, string>> {
  return Object.freeze({ 'kubernetes.io/metadata.name': name });
}
