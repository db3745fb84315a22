// Structural checks of the Kubernetes manifests in deploy/, written as functions that return
// the problems they find (empty: none), so that tests can feed them broken copies too.
// They check what the API server would reject or what would silently not work: a selector
// that misses its Pods, a Service port that points nowhere, a mount without a volume, a
// ServiceAccount or ConfigMap that does not exist, RBAC that does not allow a request.
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';

export interface Metadata {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
}

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: Metadata;
  [field: string]: unknown;
}

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: string;
}

export interface Probe {
  httpGet?: { path: string; port: number | string };
  exec?: { command: string[] };
}

export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports?: ContainerPort[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  securityContext?: {
    runAsUser?: number;
    runAsNonRoot?: boolean;
    privileged?: boolean;
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { add?: string[]; drop?: string[] };
  };
  volumeMounts?: { name: string; mountPath: string; subPath?: string; readOnly?: boolean }[];
}

export interface KeyToPath {
  key: string;
  path: string;
}

export interface Volume {
  name: string;
  configMap?: { name: string; items?: KeyToPath[] };
  secret?: { secretName: string; items?: KeyToPath[] };
  emptyDir?: object;
  hostPath?: { path: string; type?: string };
}

export interface PodSpec {
  serviceAccountName?: string;
  hostNetwork?: boolean;
  dnsPolicy?: string;
  nodeSelector?: Record<string, string>;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  initContainers?: Container[];
  containers: Container[];
  volumes?: Volume[];
}

export interface Workload extends Manifest {
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
  };
}

export interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: string;
}

export interface Service extends Manifest {
  spec: { selector: Record<string, string>; ports: ServicePort[] };
}

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

export interface Role extends Manifest {
  rules: PolicyRule[];
}

export interface RoleBinding extends Manifest {
  roleRef: { apiGroup: string; kind: string; name: string };
  subjects: { kind: string; name: string; namespace?: string }[];
}

export interface ConfigMap extends Manifest {
  data: Record<string, string>;
}

/** apiVersion of every kind the manifests may hold. */
export const API_VERSIONS: Readonly<Record<string, string>> = {
  Namespace: 'v1',
  ServiceAccount: 'v1',
  ConfigMap: 'v1',
  Service: 'v1',
  Deployment: 'apps/v1',
  DaemonSet: 'apps/v1',
  Role: 'rbac.authorization.k8s.io/v1',
  RoleBinding: 'rbac.authorization.k8s.io/v1',
  ClusterRole: 'rbac.authorization.k8s.io/v1',
  ClusterRoleBinding: 'rbac.authorization.k8s.io/v1',
};

const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding']);
const DNS_1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_1123_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Parses a multi-document YAML file; a syntax error or warning fails loudly with the file name. */
export function loadManifests(file: string): Manifest[] {
  return parseManifests(readFileSync(file, 'utf8'), file);
}

export function parseManifests(text: string, source: string): Manifest[] {
  const out: Manifest[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0 || doc.warnings.length > 0) {
      throw new Error(`${source}: ${[...doc.errors, ...doc.warnings].map((e) => e.message).join('; ')}`);
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    out.push(value as Manifest);
  }
  return out;
}

export const isKind = <T extends Manifest>(kind: string) => (m: Manifest): m is T => m.kind === kind;

export function find<T extends Manifest>(all: readonly Manifest[], kind: string, name: string, namespace?: string): T | undefined {
  return all.find((m) => m.kind === kind && m.metadata?.name === name && (namespace === undefined || m.metadata.namespace === namespace)) as T | undefined;
}

export function id(m: Manifest): string {
  return `${m.kind}/${m.metadata?.namespace ? `${m.metadata.namespace}/` : ''}${m.metadata?.name}`;
}

/** apiVersion, kind, metadata.name (valid), namespace on namespaced kinds only. */
export function basicProblems(m: Manifest): string[] {
  const problems: string[] = [];
  if (typeof m.kind !== 'string' || !(m.kind in API_VERSIONS)) return [`unexpected kind ${String(m.kind)}`];
  if (m.apiVersion !== API_VERSIONS[m.kind]) problems.push(`${id(m)}: apiVersion ${String(m.apiVersion)}, expected ${API_VERSIONS[m.kind]}`);
  const name = m.metadata?.name;
  if (typeof name !== 'string' || !DNS_1123_SUBDOMAIN.test(name)) problems.push(`${m.kind}: metadata.name "${String(name)}" is not a DNS-1123 name`);
  const namespaced = !CLUSTER_SCOPED.has(m.kind);
  if (namespaced && !m.metadata?.namespace) problems.push(`${id(m)}: namespaced kind without metadata.namespace`);
  if (!namespaced && m.metadata?.namespace) problems.push(`${id(m)}: cluster-scoped kind with metadata.namespace`);
  if (m.kind === 'Namespace' || m.kind === 'Service') {
    if (!DNS_1123_LABEL.test(name)) problems.push(`${id(m)}: name must be a DNS-1123 label`);
  }
  return problems;
}

/** The same kind, namespace and name twice: the later one would silently replace the earlier. */
export function duplicateProblems(all: readonly Manifest[]): string[] {
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const m of all) {
    if (seen.has(id(m))) problems.push(`${id(m)} is defined twice`);
    seen.add(id(m));
  }
  return problems;
}

function labelsMatch(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  const entries = Object.entries(selector ?? {});
  return entries.length > 0 && entries.every(([k, v]) => labels?.[k] === v);
}

/**
 * A Deployment or DaemonSet: the selector picks its own Pods; the ServiceAccount, volumes and
 * ConfigMaps it names exist; named probe ports exist. Secrets in `published` are written at
 * run time (by the aggregator) and map to the keys they will hold.
 */
export function workloadProblems(w: Workload, all: readonly Manifest[], published: ReadonlyMap<string, readonly string[]>): string[] {
  const problems: string[] = [];
  const at = id(w);
  const ns = w.metadata.namespace;
  const spec = w.spec?.template?.spec;
  if (!spec) return [`${at}: no spec.template.spec`];
  if (!labelsMatch(w.spec.selector?.matchLabels, w.spec.template.metadata?.labels)) {
    problems.push(`${at}: spec.selector.matchLabels does not match spec.template.metadata.labels`);
  }
  if (!spec.serviceAccountName) problems.push(`${at}: no serviceAccountName`);
  else if (!find(all, 'ServiceAccount', spec.serviceAccountName, ns)) {
    problems.push(`${at}: ServiceAccount ${ns}/${spec.serviceAccountName} is not defined`);
  }
  const volumes = new Map((spec.volumes ?? []).map((v) => [v.name, v]));
  for (const v of volumes.values()) {
    if (v.configMap) {
      const cm = find<ConfigMap>(all, 'ConfigMap', v.configMap.name, ns);
      if (!cm) problems.push(`${at}: volume ${v.name}: ConfigMap ${ns}/${v.configMap.name} is not defined`);
      for (const item of v.configMap.items ?? []) {
        if (cm && !(item.key in (cm.data ?? {}))) problems.push(`${at}: volume ${v.name}: ConfigMap ${v.configMap.name} has no key ${item.key}`);
      }
    }
    if (v.secret) {
      const keys = published.get(v.secret.secretName);
      if (!keys) problems.push(`${at}: volume ${v.name}: Secret ${v.secret.secretName} is neither defined nor published at run time`);
      for (const item of v.secret.items ?? []) {
        if (keys && !keys.includes(item.key)) problems.push(`${at}: volume ${v.name}: Secret ${v.secret.secretName} will have no key ${item.key}`);
      }
    }
  }
  for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
    if (!c.image) problems.push(`${at}: container ${c.name} has no image`);
    const portNames = new Set((c.ports ?? []).map((p) => p.name).filter((n): n is string => n !== undefined));
    if (portNames.size !== (c.ports ?? []).filter((p) => p.name !== undefined).length) problems.push(`${at}: container ${c.name} repeats a port name`);
    for (const p of c.ports ?? []) {
      if (p.name !== undefined && (p.name.length > 15 || !DNS_1123_LABEL.test(p.name))) problems.push(`${at}: container ${c.name}: port name "${p.name}" is not an IANA_SVC_NAME`);
    }
    for (const probe of [c.readinessProbe, c.livenessProbe]) {
      const port = probe?.httpGet?.port;
      if (typeof port === 'string' && !portNames.has(port)) problems.push(`${at}: container ${c.name}: probe port ${port} is not a container port`);
    }
    for (const m of c.volumeMounts ?? []) {
      if (!volumes.has(m.name)) problems.push(`${at}: container ${c.name}: volumeMount ${m.name} has no volume`);
    }
  }
  return problems;
}

/** A Service: its selector picks some workload's Pods, and every targetPort exists there with the same protocol. */
export function serviceProblems(svc: Service, all: readonly Manifest[]): string[] {
  const at = id(svc);
  const backends = all
    .filter((m): m is Workload => m.kind === 'Deployment' || m.kind === 'DaemonSet')
    .filter((w) => w.metadata.namespace === svc.metadata.namespace && labelsMatch(svc.spec.selector, w.spec.template.metadata.labels));
  if (backends.length === 0) return [`${at}: selector matches no Deployment or DaemonSet in ${svc.metadata.namespace}`];
  const problems: string[] = [];
  const ports = backends.flatMap((w) => w.spec.template.spec.containers.flatMap((c) => c.ports ?? []));
  for (const p of svc.spec.ports) {
    const protocol = p.protocol ?? 'TCP';
    const target = p.targetPort ?? p.port;
    const hit = ports.find((cp) => (typeof target === 'string' ? cp.name === target : cp.containerPort === target) && (cp.protocol ?? 'TCP') === protocol);
    if (!hit) problems.push(`${at}: port ${p.name ?? p.port}/${protocol} targets ${target}, which no container exposes over ${protocol}`);
  }
  return problems;
}

/** A (Cluster)RoleBinding: its role and its ServiceAccount subjects exist. */
export function bindingProblems(b: RoleBinding, all: readonly Manifest[]): string[] {
  const problems: string[] = [];
  const at = id(b);
  const role = b.roleRef.kind === 'ClusterRole' ? find(all, 'ClusterRole', b.roleRef.name) : find(all, 'Role', b.roleRef.name, b.metadata.namespace);
  if (!role) problems.push(`${at}: roleRef ${b.roleRef.kind} ${b.roleRef.name} is not defined`);
  if (b.roleRef.apiGroup !== 'rbac.authorization.k8s.io') problems.push(`${at}: roleRef.apiGroup must be rbac.authorization.k8s.io`);
  for (const s of b.subjects ?? []) {
    if (s.kind === 'ServiceAccount' && !find(all, 'ServiceAccount', s.name, s.namespace)) {
      problems.push(`${at}: subject ServiceAccount ${s.namespace}/${s.name} is not defined`);
    }
  }
  return problems;
}

export interface Request {
  apiGroup: string;
  resource: string;
  verb: string;
  /** Absent for list, watch and create. */
  name?: string;
}

/** Whether RBAC rules allow a request (no wildcards are used in our manifests, so none are honoured). */
export function allows(rules: readonly PolicyRule[], r: Request): boolean {
  return rules.some(
    (rule) =>
      rule.apiGroups.includes(r.apiGroup) &&
      rule.resources.includes(r.resource) &&
      rule.verbs.includes(r.verb) &&
      (rule.resourceNames === undefined || (r.name !== undefined && rule.resourceNames.includes(r.name))),
  );
}

/** The ServiceAccounts a role is granted to, as "namespace/name". */
export function grantees(role: Manifest, all: readonly Manifest[]): string[] {
  const bindingKind = role.kind === 'ClusterRole' ? 'ClusterRoleBinding' : 'RoleBinding';
  return all
    .filter((m): m is RoleBinding => m.kind === bindingKind)
    .filter((b) => b.roleRef.kind === role.kind && b.roleRef.name === role.metadata.name && (role.kind === 'ClusterRole' || b.metadata.namespace === role.metadata.namespace))
    .flatMap((b) => b.subjects.filter((s) => s.kind === 'ServiceAccount').map((s) => `${s.namespace}/${s.name}`));
}

/** Every rule granted to a ServiceAccount, with the namespace it applies in (null: cluster-wide). */
export function rulesOf(serviceAccount: string, all: readonly Manifest[]): { namespace: string | null; rules: PolicyRule[] }[] {
  return all
    .filter((m): m is Role => m.kind === 'Role' || m.kind === 'ClusterRole')
    .filter((r) => grantees(r, all).includes(serviceAccount))
    .map((r) => ({ namespace: r.kind === 'Role' ? (r.metadata.namespace ?? null) : null, rules: r.rules }));
}

/** Whether a ServiceAccount may make a request in a namespace (null: cluster-wide list/watch). */
export function mayRequest(serviceAccount: string, namespace: string | null, r: Request, all: readonly Manifest[]): boolean {
  return rulesOf(serviceAccount, all).some((g) => (g.namespace === null || g.namespace === namespace) && allows(g.rules, r));
}
