// A Kubernetes NetworkPolicy (networking.k8s.io/v1) compiled once into matchers, so that the
// per-connection evaluation in engine.ts does no parsing. Validation follows the API server's
// rules closely enough that a policy the cluster accepted compiles, and a hand-written
// inventory with a typo fails with a message that names the field.
import { K8sError } from '../k8s/errors.js';
import { parseCidr, cidrContains, type Cidr } from './ip.js';
import { compileSelector, type LabelMatcher } from './selector.js';

/** IANA protocol numbers of the protocols a NetworkPolicy port can name. */
export const PolicyProtocol = { TCP: 6, UDP: 17, SCTP: 132 } as const;

export interface CompiledPort {
  readonly protocol: number;
  /** A numeric port (with `endPort`, the first of a range); undefined with `name` or for all ports. */
  readonly port?: number;
  readonly endPort?: number;
  /** A named port, resolved per flow against the destination Pod's container ports. */
  readonly name?: string;
}

export type CompiledPeer =
  | {
      readonly kind: 'pods';
      /** Undefined: every Pod of the selected namespaces. */
      readonly podSelector?: LabelMatcher;
      /** Undefined: the policy's own namespace only. */
      readonly namespaceSelector?: LabelMatcher;
    }
  | { readonly kind: 'ipBlock'; readonly cidr: Cidr; readonly except: readonly Cidr[] };

export interface CompiledRule {
  /** Generated, stable: "ingress-<index>" or "egress-<index>" in the policy's rule list. */
  readonly name: string;
  /** Undefined when the rule has no from/to peers: every peer matches. */
  readonly peers?: readonly CompiledPeer[];
  /** Undefined when the rule has no ports: every port and protocol matches. */
  readonly ports?: readonly CompiledPort[];
}

export interface CompiledPolicy {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly podSelector: LabelMatcher;
  /** Present when the policy affects ingress (policyTypes, explicit or implied). */
  readonly ingress?: readonly CompiledRule[];
  /** Present when the policy affects egress. */
  readonly egress?: readonly CompiledRule[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optionalList(v: unknown, where: string, fail: (why: string) => never): unknown[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) fail(`${where} must be a list`);
  return v as unknown[];
}

/** Compiles a NetworkPolicy object (the API's JSON, or the client's typed object). */
export function compileNetworkPolicy(obj: unknown): CompiledPolicy {
  const meta = isRecord(obj) && isRecord(obj.metadata) ? obj.metadata : undefined;
  const ident = meta ? `NetworkPolicy ${String(meta.namespace ?? '?')}/${String(meta.name ?? '?')}` : 'NetworkPolicy';
  const fail = (why: string): never => {
    throw new K8sError('K8S_ERR_BAD_POLICY', `${ident}: ${why}`);
  };
  if (!meta) fail('metadata is missing');
  const name = meta!.name;
  const namespace = meta!.namespace ?? 'default';
  if (typeof name !== 'string' || name === '') fail('metadata.name must be a non-empty string');
  if (typeof namespace !== 'string' || namespace === '') fail('metadata.namespace must be a non-empty string');
  const spec = (obj as Record<string, unknown>).spec;
  if (!isRecord(spec)) fail('spec is missing');
  const s = spec as Record<string, unknown>;

  const wrap = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof K8sError && err.code !== 'K8S_ERR_BAD_POLICY') fail(err.message);
      throw err;
    }
  };
  const podSelector = wrap(() => compileSelector(s.podSelector, 'spec.podSelector'));

  const ingressRaw = optionalList(s.ingress, 'spec.ingress', fail);
  const egressRaw = optionalList(s.egress, 'spec.egress', fail);
  const typesRaw = optionalList(s.policyTypes, 'spec.policyTypes', fail);
  let affectsIngress: boolean;
  let affectsEgress: boolean;
  if (typesRaw !== undefined && typesRaw.length > 0) {
    for (const t of typesRaw) if (t !== 'Ingress' && t !== 'Egress') fail(`spec.policyTypes: "${String(t)}" is not Ingress or Egress`);
    affectsIngress = typesRaw.includes('Ingress');
    affectsEgress = typesRaw.includes('Egress');
  } else {
    // Implied policyTypes (API defaulting): Ingress always; Egress when there are egress rules.
    affectsIngress = true;
    affectsEgress = egressRaw !== undefined && egressRaw.length > 0;
  }

  const compileRules = (raw: unknown[] | undefined, dir: 'ingress' | 'egress'): CompiledRule[] =>
    (raw ?? []).map((rule, i) => {
      const at = `spec.${dir}[${i}]`;
      if (!isRecord(rule)) fail(`${at} must be an object`);
      const r = rule as Record<string, unknown>;
      const peerKey = dir === 'ingress' ? 'from' : 'to';
      const peersRaw = optionalList(r[peerKey], `${at}.${peerKey}`, fail);
      const portsRaw = optionalList(r.ports, `${at}.ports`, fail);
      const peers = peersRaw && peersRaw.length > 0 ? peersRaw.map((p, j) => wrap(() => compilePeer(p, `${at}.${peerKey}[${j}]`, fail))) : undefined;
      const ports = portsRaw && portsRaw.length > 0 ? portsRaw.map((p, j) => compilePort(p, `${at}.ports[${j}]`, fail)) : undefined;
      return { name: `${dir}-${i}`, peers, ports };
    });

  return {
    namespace: namespace as string,
    name: name as string,
    uid: typeof meta!.uid === 'string' ? meta!.uid : '',
    podSelector,
    ingress: affectsIngress ? compileRules(ingressRaw, 'ingress') : undefined,
    egress: affectsEgress ? compileRules(egressRaw, 'egress') : undefined,
  };
}

function compilePeer(raw: unknown, at: string, fail: (why: string) => never): CompiledPeer {
  if (!isRecord(raw)) fail(`${at} must be an object`);
  const p = raw as Record<string, unknown>;
  const hasPods = p.podSelector !== undefined && p.podSelector !== null;
  const hasNs = p.namespaceSelector !== undefined && p.namespaceSelector !== null;
  const hasIp = p.ipBlock !== undefined && p.ipBlock !== null;
  if (hasIp && (hasPods || hasNs)) fail(`${at}: ipBlock cannot be combined with podSelector or namespaceSelector`);
  if (hasIp) {
    if (!isRecord(p.ipBlock) || typeof p.ipBlock.cidr !== 'string') fail(`${at}.ipBlock.cidr must be a CIDR string`);
    const block = p.ipBlock as Record<string, unknown>;
    const cidr = parseCidr(block.cidr as string);
    const exceptRaw = optionalList(block.except, `${at}.ipBlock.except`, fail) ?? [];
    const except = exceptRaw.map((e, k) => {
      if (typeof e !== 'string') fail(`${at}.ipBlock.except[${k}] must be a CIDR string`);
      const c = parseCidr(e as string);
      if (c.family !== cidr.family || c.prefix < cidr.prefix || !cidrContains(cidr, { family: c.family, words: c.words })) {
        fail(`${at}.ipBlock.except[${k}] "${e as string}" must lie inside cidr "${cidr.text}"`);
      }
      return c;
    });
    return { kind: 'ipBlock', cidr, except };
  }
  if (!hasPods && !hasNs) fail(`${at} must set podSelector, namespaceSelector or ipBlock`);
  return {
    kind: 'pods',
    podSelector: hasPods ? compileSelector(p.podSelector, `${at}.podSelector`) : undefined,
    namespaceSelector: hasNs ? compileSelector(p.namespaceSelector, `${at}.namespaceSelector`) : undefined,
  };
}

function compilePort(raw: unknown, at: string, fail: (why: string) => never): CompiledPort {
  if (!isRecord(raw)) fail(`${at} must be an object`);
  const p = raw as Record<string, unknown>;
  const protoText = p.protocol ?? 'TCP';
  if (typeof protoText !== 'string' || !(protoText in PolicyProtocol)) fail(`${at}.protocol "${String(protoText)}" is not TCP, UDP or SCTP`);
  const protocol = PolicyProtocol[protoText as keyof typeof PolicyProtocol];
  const port = p.port;
  const endPort = p.endPort;
  if (port === undefined || port === null) {
    if (endPort !== undefined && endPort !== null) fail(`${at}.endPort needs a numeric port`);
    return { protocol };
  }
  const numeric = typeof port === 'number' ? port : typeof port === 'string' && /^\d+$/.test(port) ? Number(port) : undefined;
  if (numeric === undefined) {
    if (typeof port !== 'string' || !/^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/.test(port) || !/[a-z]/.test(port)) {
      fail(`${at}.port "${String(port)}" is neither a port number 1-65535 nor a port name (IANA_SVC_NAME, e.g. "http")`);
    }
    if (endPort !== undefined && endPort !== null) fail(`${at}.endPort cannot be used with a named port`);
    return { protocol, name: port as string };
  }
  if (!Number.isInteger(numeric) || numeric < 1 || numeric > 65535) fail(`${at}.port ${numeric} is not 1-65535`);
  if (endPort === undefined || endPort === null) return { protocol, port: numeric };
  if (typeof endPort !== 'number' || !Number.isInteger(endPort) || endPort < numeric || endPort > 65535) {
    fail(`${at}.endPort ${String(endPort)} must be an integer from port (${numeric}) to 65535`);
  }
  return { protocol, port: numeric, endPort: endPort as number };
}
