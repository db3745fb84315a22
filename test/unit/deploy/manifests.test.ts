// The Kubernetes manifests (deploy/*.yml: aggregator, exporter, optional collector) and the container build file, checked without a
// cluster and without Docker: every object parses and has what the API server needs; the
// references between objects resolve; the embedded config files load through the product's
// own loaders with the reference's defaults; and the aggregator's certificate publication,
// run against an in-test API server on loopback, is allowed by its Role and lands where the
// exporter DaemonSet mounts it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadExporterConfig, type ExporterConfig } from '../../../src/exporter/config.js';
import { checkExporterProtocol, loadAggregatorConfig, type AggregatorConfig } from '../../../src/aggregator/config.js';
import { publishToKubernetes } from '../../../src/aggregator/certificates.js';
import { aggregatorCommand } from '../../../src/cli/aggregator.js';
import { exporterCommand } from '../../../src/cli/exporter.js';
import { collectorCommand } from '../../../src/cli/collector.js';
import { parseCollectorOptions, type RawCollectorOptions } from '../../../src/collector/options.js';
import type { Command } from 'commander';
import {
  basicProblems,
  bindingProblems,
  duplicateProblems,
  find,
  isKind,
  loadManifests,
  mayRequest,
  parseManifests,
  serviceProblems,
  workloadProblems,
  type ConfigMap,
  type Container,
  type Manifest,
  type RoleBinding,
  type Service,
  type Workload,
} from './manifest-checks.js';
import { execForm, last, parseDockerfile, type Stage } from './dockerfile.js';
import { SecretsApiServer, secretText } from './api-server.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const DEPLOY = join(ROOT, 'deploy');
const NS = 'flow-aggregator';
const AGGREGATOR_SA = `${NS}/flow-aggregator`;
const EXPORTER_SA = `${NS}/flow-exporter`;

const files = readdirSync(DEPLOY).filter((f) => /\.ya?ml$/.test(f)).sort();
const byFile = new Map(files.map((f) => [f, loadManifests(join(DEPLOY, f))]));
const all: Manifest[] = [...byFile.values()].flat();
const aggregatorDocs = byFile.get('flow-aggregator.yml') ?? [];
const exporterDocs = byFile.get('flow-exporter.yml') ?? [];
const collectorDocs = byFile.get('flow-collector.yml') ?? [];

function need<T extends Manifest>(kind: string, name: string, namespace?: string): T {
  const m = find<T>(all, kind, name, namespace);
  assert.ok(m, `${kind} ${namespace ? `${namespace}/` : ''}${name} is in deploy/`);
  return m;
}

const deployment = () => need<Workload>('Deployment', 'flow-aggregator', NS);
const daemonSet = () => need<Workload>('DaemonSet', 'flow-exporter', NS);
const collector = () => need<Workload>('Deployment', 'flow-collector', 'flow-collector');
const workloads = () => all.filter((m): m is Workload => m.kind === 'Deployment' || m.kind === 'DaemonSet');
const mainContainer = (w: Workload): Container => {
  assert.equal(w.spec.template.spec.containers.length, 1, `${w.metadata.name} has one container`);
  return w.spec.template.spec.containers[0];
};

/** The file a container's `--config <path>` names, and the ConfigMap key mounted there. */
function embeddedConfig(w: Workload): { path: string; text: string } {
  const c = mainContainer(w);
  const words = [...(c.command ?? []), ...(c.args ?? [])].flatMap((a) => a.split(/\s+/));
  const at = words.indexOf('--config');
  assert.ok(at >= 0 && words[at + 1], `${w.metadata.name} passes --config <file>`);
  const path = words[at + 1];
  for (const m of c.volumeMounts ?? []) {
    const volume = w.spec.template.spec.volumes?.find((v) => v.name === m.name);
    if (!volume?.configMap) continue;
    const key = m.subPath ?? (path.startsWith(`${m.mountPath}/`) ? posix.relative(m.mountPath, path) : undefined);
    if (key === undefined || (m.subPath !== undefined && m.mountPath !== path)) continue;
    const cm = need<ConfigMap>('ConfigMap', volume.configMap.name, w.metadata.namespace);
    assert.ok(key in cm.data, `ConfigMap ${cm.metadata.name} has the key ${key} mounted at ${path}`);
    return { path, text: cm.data[key] };
  }
  assert.fail(`${path} is not mounted from a ConfigMap in ${w.metadata.name}`);
}

/** The flowvis command line a container runs: the words after bin/flowvis.js (the image's ENTRYPOINT). */
function flowvisArgs(c: Container): string[] {
  if (!c.command) return c.args ?? [];
  const words = [...c.command, ...(c.args ?? [])].flatMap((a) => a.split(/\s+/)).filter((w) => w !== '');
  const at = words.findIndex((w) => w.endsWith('/bin/flowvis.js'));
  assert.ok(at >= 0, `${c.name} runs bin/flowvis.js`);
  return words.slice(at + 1);
}

/** Parses a command line with the product's own subcommand, capturing its options instead of running it. */
function parseWith(command: Command, args: string[]): Record<string, unknown> {
  let options: Record<string, unknown> | undefined;
  command.exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  command.action((opts: Record<string, unknown>) => {
    options = opts;
  });
  command.parse(args, { from: 'user' });
  assert.ok(options, `${command.name()} ran`);
  return options;
}

/** The volume mount that holds a path, or undefined. */
function mountOf(c: Container, path: string) {
  return (c.volumeMounts ?? []).find((m) => path === m.mountPath || path.startsWith(`${m.mountPath}/`));
}

const VERB_OF_METHOD: Record<string, string> = { GET: 'get', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };

const MATERIAL = {
  ca: { certPem: 'ca certificate PEM', keyPem: 'ca key PEM (only in the aggregator\'s own Secret)' },
  server: { certPem: 'server certificate PEM', keyPem: 'server key PEM (never published)' },
  client: { certPem: 'client certificate PEM', keyPem: 'client key PEM' },
};

const tmp = mkdtempSync(join(tmpdir(), 'flowvis-deploy-'));
const api = new SecretsApiServer();
/** Keys of each Secret as the aggregator publishes it, for the exporter's volume check. */
const published = new Map<string, string[]>();
let exporterConfig: ExporterConfig;
let aggregatorConfig: AggregatorConfig;

before(async () => {
  const exporterFile = join(tmp, 'flow-exporter.conf');
  writeFileSync(exporterFile, embeddedConfig(daemonSet()).text);
  exporterConfig = loadExporterConfig(exporterFile, 'node-from-env');
  const aggregatorFile = join(tmp, 'flow-aggregator.conf');
  writeFileSync(aggregatorFile, embeddedConfig(deployment()).text);
  aggregatorConfig = loadAggregatorConfig(aggregatorFile);

  await api.listen();
  const kubeconfig = join(tmp, 'kubeconfig');
  api.writeKubeconfig(kubeconfig);
  const namespace = aggregatorConfig.kubernetes?.namespace;
  assert.ok(namespace, 'the aggregator config turns on kubernetes publishing');
  // First start (nothing there yet), then a renewal (both objects exist).
  await publishToKubernetes(MATERIAL, namespace, kubeconfig);
  await publishToKubernetes(MATERIAL, namespace, kubeconfig);
  for (const [key, o] of api.objects) {
    const [resource, , name] = key.split('/');
    if (resource === 'secrets') published.set(name, Object.keys((o.data ?? {}) as object));
  }
});

after(async () => {
  await api.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('deploy/ manifests', () => {
  it('holds flow-aggregator.yml, flow-exporter.yml and the optional flow-collector.yml, each parsing into objects with apiVersion, kind and a valid name', () => {
    assert.deepEqual(files, ['flow-aggregator.yml', 'flow-collector.yml', 'flow-exporter.yml']);
    assert.ok(aggregatorDocs.length > 0 && exporterDocs.length > 0 && collectorDocs.length > 0);
    for (const m of all) assert.deepEqual(basicProblems(m), [], `${m.kind}/${m.metadata?.name}`);
    assert.deepEqual(duplicateProblems(all), []);
  });

  it('flow-aggregator.yml has the Namespace, ServiceAccount, RBAC, ConfigMap, Deployment and Service; flow-exporter.yml the DaemonSet with its ConfigMap and RBAC; flow-collector.yml a collector Deployment and Service', () => {
    const kinds = (docs: Manifest[]) => [...new Set(docs.map((m) => m.kind))].sort();
    assert.deepEqual(kinds(aggregatorDocs), ['ConfigMap', 'Deployment', 'Namespace', 'Role', 'RoleBinding', 'Service', 'ServiceAccount']);
    assert.deepEqual(kinds(exporterDocs), ['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'DaemonSet', 'ServiceAccount']);
    assert.deepEqual(kinds(collectorDocs), ['Deployment', 'Namespace', 'Service', 'ServiceAccount']);
    assert.ok(find(aggregatorDocs, 'Namespace', NS));
    assert.equal(exporterDocs.filter(isKind('Namespace')).length, 0, 'deleting flow-exporter.yml must not delete the aggregator namespace');
  });

  it('every workload selects its own Pods and names a ServiceAccount, volumes, ConfigMaps and probe ports that exist', () => {
    assert.equal(workloads().length, 3);
    for (const w of workloads()) assert.deepEqual(workloadProblems(w, all, published), [], w.metadata.name);
  });

  it('every binding names a role and ServiceAccounts that exist', () => {
    const bindings = all.filter((m): m is RoleBinding => m.kind === 'RoleBinding' || m.kind === 'ClusterRoleBinding');
    assert.equal(bindings.length, 2);
    for (const b of bindings) assert.deepEqual(bindingProblems(b, all), [], b.metadata.name);
  });

  it('Service flow-aggregator serves IPFIX on 4739 over TCP and UDP and the API/UI on 10348, each backed by a container port', () => {
    const svc = need<Service>('Service', 'flow-aggregator', NS);
    assert.deepEqual(serviceProblems(svc, all), []);
    const ports = svc.spec.ports.map((p) => `${p.port}/${p.protocol ?? 'TCP'}`).sort();
    assert.deepEqual(ports, ['10348/TCP', '4739/TCP', '4739/UDP']);
  });

  it('the aggregator runs one replica as a non-root user with every capability dropped', () => {
    const d = deployment();
    assert.equal(d.spec.replicas, 1, 'both halves of an inter-node flow must reach one aggregator');
    const pod = d.spec.template.spec;
    assert.equal(pod.securityContext?.runAsNonRoot, true);
    assert.ok((pod.securityContext?.runAsUser ?? 0) > 0);
    const c = mainContainer(d);
    assert.equal(flowvisArgs(c)[0], 'aggregator');
    assert.equal(parseWith(aggregatorCommand(), flowvisArgs(c).slice(1)).config, embeddedConfig(d).path);
    assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL']);
    assert.equal(c.securityContext?.capabilities?.add, undefined);
    assert.equal(c.securityContext?.allowPrivilegeEscalation, false);
    assert.equal(c.securityContext?.readOnlyRootFilesystem, true);
    assert.equal(pod.hostNetwork ?? false, false);
  });

  it('the exporter runs on every Linux Node in the host network with NET_ADMIN as its only capability and its Node name from the Pod', () => {
    const ds = daemonSet();
    const pod = ds.spec.template.spec;
    assert.equal(pod.hostNetwork, true);
    assert.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet', 'a hostNetwork Pod needs it to resolve flow-aggregator.flow-aggregator.svc');
    assert.equal(pod.nodeSelector?.['kubernetes.io/os'], 'linux');
    const c = mainContainer(ds);
    assert.deepEqual(c.securityContext?.capabilities, { drop: ['ALL'], add: ['NET_ADMIN'] });
    assert.equal(c.securityContext?.privileged, false);
    assert.equal(c.securityContext?.allowPrivilegeEscalation, false);
    assert.equal(c.securityContext?.readOnlyRootFilesystem, true);
    const nodeName = c.env?.find((e) => e.name === 'NODE_NAME');
    assert.equal(nodeName?.valueFrom?.fieldRef?.fieldPath, 'spec.nodeName');
    assert.equal(flowvisArgs(c)[0], 'exporter');
    assert.equal(parseWith(exporterCommand(), flowvisArgs(c).slice(1)).config, embeddedConfig(ds).path);
  });

  it('only the exporter\'s init container is privileged, and it only switches on the conntrack accounting sysctls', () => {
    const inits = daemonSet().spec.template.spec.initContainers ?? [];
    assert.equal(inits.length, 1);
    const script = (inits[0].args ?? []).join('\n');
    assert.equal(inits[0].securityContext?.privileged, true);
    assert.match(script, /nf_conntrack_acct nf_conntrack_timestamp/);
    assert.match(script, /\/proc\/sys\/net\/netfilter\/\$key/);
    for (const w of workloads()) {
      for (const c of w.spec.template.spec.containers) assert.notEqual(c.securityContext?.privileged, true, c.name);
    }
  });

  it('the exporter may list and watch Pods, Services, EndpointSlices, Namespaces, Nodes and NetworkPolicies cluster-wide, and write nothing', () => {
    const resources = [
      { apiGroup: '', resource: 'pods' },
      { apiGroup: '', resource: 'services' },
      { apiGroup: 'discovery.k8s.io', resource: 'endpointslices' },
      { apiGroup: '', resource: 'namespaces' },
      { apiGroup: '', resource: 'nodes' },
      { apiGroup: 'networking.k8s.io', resource: 'networkpolicies' },
    ];
    for (const r of resources) {
      for (const verb of ['list', 'watch']) {
        assert.ok(mayRequest(EXPORTER_SA, null, { ...r, verb }, all), `${verb} ${r.resource}`);
      }
      for (const verb of ['create', 'update', 'patch', 'delete']) {
        assert.equal(mayRequest(EXPORTER_SA, NS, { ...r, verb, name: 'x' }, all), false, `${verb} ${r.resource}`);
      }
    }
    assert.equal(mayRequest(EXPORTER_SA, NS, { apiGroup: '', resource: 'secrets', verb: 'list' }, all), false);
  });
});

describe('embedded config files', () => {
  it('flow-exporter.conf loads through loadExporterConfig with the reference defaults', () => {
    const c = exporterConfig;
    assert.equal(c.flowExporterEnabled, true);
    assert.equal(c.flowCollectorAddr, 'flow-aggregator.flow-aggregator.svc:4739:tls');
    assert.deepEqual({ ...c.collector }, { host: 'flow-aggregator.flow-aggregator.svc', port: 4739, protocol: 'tls' });
    assert.equal(c.pollIntervalMs, 5_000);
    assert.equal(c.activeTimeoutMs, 60_000);
    assert.equal(c.idleTimeoutMs, 15_000);
    assert.deepEqual({ ...c.metadata }, { source: 'kubernetes', kubeconfig: null });
    assert.equal(c.nodeName, 'node-from-env', 'the Node name comes from $NODE_NAME, not the file');
  });

  it('the exporter keeps its state file on the Node (a hostPath), so a new exporter Pod continues the deltas of open connections', () => {
    const ds = daemonSet();
    const c = mainContainer(ds);
    const file = exporterConfig.stateFile;
    assert.ok(file, 'stateFile is set');
    const m = mountOf(c, file);
    assert.ok(m, `${file} is on a mounted volume (the root file system is read-only)`);
    assert.notEqual(m.readOnly, true);
    const volume = ds.spec.template.spec.volumes?.find((v) => v.name === m.name);
    assert.ok(volume?.hostPath, `volume ${m.name} is a hostPath: an emptyDir goes with the Pod`);
    assert.equal(volume.hostPath.type, 'DirectoryOrCreate');
    assert.equal(posix.join(volume.hostPath.path, posix.relative(m.mountPath, file)), '/var/run/flowvis/flow-exporter-state.json');
  });

  it('flow-aggregator.conf loads through loadAggregatorConfig with the reference defaults', () => {
    const c = aggregatorConfig;
    assert.deepEqual({ ...c.externalFlowCollector }, { host: '192.168.86.86', port: 4739, protocol: 'tcp' });
    assert.equal(c.flowExportIntervalMs, 60_000);
    assert.equal(c.aggregatorTransportProtocol, 'tls');
    assert.equal(c.flowAggregatorAddress, 'flow-aggregator.flow-aggregator.svc');
    assert.equal(c.listenPort, 4739);
    assert.deepEqual({ ...c.kubernetes }, { namespace: NS, kubeconfig: null });
  });

  it('the exporters reach the aggregator Service by the name in its certificate, over the transport it listens on', () => {
    const svc = need<Service>('Service', 'flow-aggregator', NS);
    assert.equal(exporterConfig.collector.host, `${svc.metadata.name}.${svc.metadata.namespace}.svc`);
    assert.equal(exporterConfig.collector.host, aggregatorConfig.flowAggregatorAddress, 'TLS checks the server certificate against this name');
    assert.doesNotThrow(() => checkExporterProtocol(exporterConfig.flowCollectorAddr, aggregatorConfig.aggregatorTransportProtocol));
    const l4 = exporterConfig.collector.protocol === 'udp' ? 'UDP' : 'TCP';
    assert.ok(svc.spec.ports.some((p) => p.port === exporterConfig.collector.port && (p.protocol ?? 'TCP') === l4));
    const ipfixPorts = (mainContainer(deployment()).ports ?? []).filter((p) => p.containerPort === aggregatorConfig.listenPort);
    assert.deepEqual(ipfixPorts.map((p) => p.protocol).sort(), ['TCP', 'UDP']);
  });

  it('the aggregator API and the exporter metrics listen on the ports the containers declare and the probes use', () => {
    const agg = mainContainer(deployment());
    assert.ok(aggregatorConfig.api);
    assert.equal(agg.ports?.find((p) => p.name === 'http')?.containerPort, aggregatorConfig.api.port);
    assert.equal(aggregatorConfig.api.port, 10348);
    assert.equal(agg.readinessProbe?.httpGet?.port, 'http');

    const exp = mainContainer(daemonSet());
    assert.ok(exporterConfig.metrics, 'the exporter serves metrics');
    assert.equal(exporterConfig.metrics.host, '0.0.0.0', 'reachable from Prometheus on the Node address');
    assert.equal(exp.ports?.find((p) => p.name === 'metrics')?.containerPort, exporterConfig.metrics.port);
    assert.equal(exp.readinessProbe?.httpGet?.path, '/healthz');
    assert.equal(exp.readinessProbe?.httpGet?.port, 'metrics');
  });

  it('the optional flowvis collector\'s command line parses through the product\'s CLI, and its Service exposes what it listens on', () => {
    const d = collector();
    const c = mainContainer(d);
    const args = flowvisArgs(c);
    assert.equal(args[0], 'collector');
    const options = parseCollectorOptions(parseWith(collectorCommand(), args.slice(1)) as RawCollectorOptions);
    assert.equal(options.transport, 'tcp');
    assert.equal(options.address, null, 'the default: [::]:4739, or 0.0.0.0:4739 without IPv6');
    assert.equal(options.format, 'json');
    assert.ok(options.http);
    const svc = need<Service>('Service', 'flow-collector', 'flow-collector');
    assert.deepEqual(serviceProblems(svc, all), []);
    assert.ok(svc.spec.ports.some((p) => p.port === 4739 && (p.protocol ?? 'TCP') === 'TCP'));
    assert.equal(c.ports?.find((p) => p.name === 'http')?.containerPort, options.http.port);
    assert.equal(c.readinessProbe?.httpGet?.port, 'http');
    assert.equal(d.spec.template.spec.securityContext?.runAsNonRoot, true);
    assert.deepEqual(c.securityContext?.capabilities, { drop: ['ALL'] });
    // The aggregator exports over tcp or udp (never tls), which this collector accepts.
    assert.ok(aggregatorConfig.externalFlowCollector && ['tcp', 'udp'].includes(aggregatorConfig.externalFlowCollector.protocol));
  });

  it('the aggregator writes its certificates to a writable volume, not the read-only root file system', () => {
    const c = mainContainer(deployment());
    const m = mountOf(c, aggregatorConfig.certDir);
    assert.ok(m, `${aggregatorConfig.certDir} is mounted`);
    assert.notEqual(m.readOnly, true);
    const volume = deployment().spec.template.spec.volumes?.find((v) => v.name === m.name);
    assert.ok(volume?.emptyDir, 'an emptyDir (docs/deploy.md says what a new Pod means for the exporters)');
  });
});

describe('certificate distribution', () => {
  it('the aggregator publishes the client Secret and the CA ConfigMap in its namespace, first creating then replacing them', () => {
    const summary = api.requests.map((r) => `${r.method} ${r.resource} ${r.namespace} ${r.name ?? '-'}`);
    assert.deepEqual(summary, [
      `GET secrets ${NS} flow-aggregator-ca-tls`,
      `POST secrets ${NS} -`,
      `GET secrets ${NS} flow-aggregator-client-tls`,
      `POST secrets ${NS} -`,
      `GET configmaps ${NS} flow-aggregator-ca`,
      `POST configmaps ${NS} -`,
      `GET secrets ${NS} flow-aggregator-ca-tls`,
      `PUT secrets ${NS} flow-aggregator-ca-tls`,
      `GET secrets ${NS} flow-aggregator-client-tls`,
      `PUT secrets ${NS} flow-aggregator-client-tls`,
      `GET configmaps ${NS} flow-aggregator-ca`,
      `PUT configmaps ${NS} flow-aggregator-ca`,
    ]);
  });

  it('the CA pair is kept in the aggregator\'s own Secret for its next Pod, which no exporter mounts', () => {
    const caSecret = api.objects.get(`secrets/${NS}/flow-aggregator-ca-tls`);
    assert.equal(secretText(caSecret, 'tls.crt'), MATERIAL.ca.certPem);
    assert.equal(secretText(caSecret, 'tls.key'), MATERIAL.ca.keyPem);
    for (const w of workloads()) {
      const names = (w.spec.template.spec.volumes ?? []).map((v) => v.secret?.secretName);
      assert.ok(!names.includes('flow-aggregator-ca-tls'), `${w.metadata.name} does not mount the CA key`);
    }
    assert.equal(mayRequest(EXPORTER_SA, NS, { apiGroup: '', resource: 'secrets', verb: 'get', name: 'flow-aggregator-ca-tls' }, all), false);
  });

  it('every request the publication makes is allowed by the aggregator\'s Role, and the exporter may make none of them', () => {
    assert.ok(api.requests.length > 0);
    for (const r of api.requests) {
      const verb = VERB_OF_METHOD[r.method];
      const request = { apiGroup: '', resource: r.resource, verb, ...(verb === 'create' ? {} : { name: r.name }) };
      assert.ok(mayRequest(AGGREGATOR_SA, r.namespace, request, all), `${AGGREGATOR_SA} may ${verb} ${r.resource}/${r.name ?? ''} in ${r.namespace}`);
      assert.equal(mayRequest(AGGREGATOR_SA, 'kube-system', request, all), false, 'the grant is limited to its namespace');
      assert.equal(mayRequest(EXPORTER_SA, r.namespace, request, all), false);
    }
  });

  it('the exporter mounts the published Secret in the same namespace and reads the CA and client pair from it', () => {
    const ds = daemonSet();
    const secret = api.objects.get(`secrets/${NS}/flow-aggregator-client-tls`) as { type?: string; data: Record<string, string> } | undefined;
    assert.ok(secret);
    assert.equal(secret.type, 'kubernetes.io/tls');
    assert.equal(ds.metadata.namespace, aggregatorConfig.kubernetes?.namespace);
    const c = mainContainer(ds);
    const volume = ds.spec.template.spec.volumes?.find((v) => v.secret?.secretName === 'flow-aggregator-client-tls');
    assert.ok(volume?.secret, 'a volume of the Secret');
    const mount = c.volumeMounts?.find((m) => m.name === volume.name);
    assert.ok(mount);
    const fileOf = (key: string) => {
      const item = volume.secret?.items?.find((i) => i.key === key);
      assert.ok(item, `the volume maps ${key}`);
      return posix.join(mount.mountPath, item.path);
    };
    assert.equal(exporterConfig.tls.caFile, fileOf('ca.crt'));
    assert.equal(exporterConfig.tls.certFile, fileOf('tls.crt'));
    assert.equal(exporterConfig.tls.keyFile, fileOf('tls.key'));
    // And the keys carry what the exporter needs: the CA that signed the server, the client pair.
    assert.equal(secretText(secret, 'ca.crt'), MATERIAL.ca.certPem);
    assert.equal(secretText(secret, 'tls.crt'), MATERIAL.client.certPem);
    assert.equal(secretText(secret, 'tls.key'), MATERIAL.client.keyPem);
    assert.equal(Object.keys(secret.data).length, 3, 'and nothing else: never the CA key');
    const configMap = api.objects.get(`configmaps/${NS}/flow-aggregator-ca`) as { data: Record<string, string> } | undefined;
    assert.deepEqual(configMap?.data, { 'ca.crt': MATERIAL.ca.certPem });
  });

  it('the exporter\'s liveness probe fails when any certificate file it read at start changes', () => {
    const c = mainContainer(daemonSet());
    const script = (c.args ?? []).join(' ');
    const m = /sha256sum ((?:\S+ )+)> (\S+) &&/.exec(script);
    assert.ok(m, 'the start command records checksums');
    assert.deepEqual(m[1].trim().split(' ').sort(), [exporterConfig.tls.caFile, exporterConfig.tls.certFile, exporterConfig.tls.keyFile].sort());
    const sums = m[2];
    assert.deepEqual(c.livenessProbe?.exec?.command, ['sha256sum', '-c', '--status', sums]);
    const mount = mountOf(c, sums);
    assert.ok(mount && mount.readOnly !== true, `${sums} is on a writable volume`);
    assert.match(script, /&& exec node \/app\/bin\/flowvis\.js exporter /, 'exec: the exporter gets SIGTERM directly');
  });
});

describe('the manifest checks catch broken manifests', () => {
  const clone = <T>(v: T): T => structuredClone(v);

  it('a selector that misses the Pod template', () => {
    const d = clone(deployment());
    d.spec.selector.matchLabels = { 'app.kubernetes.io/name': 'other' };
    assert.match(workloadProblems(d, all, published).join('\n'), /selector.matchLabels does not match/);
  });

  it('a ServiceAccount, ConfigMap key or Secret that does not exist', () => {
    const ds = clone(daemonSet());
    ds.spec.template.spec.serviceAccountName = 'nobody';
    ds.spec.template.spec.volumes = ds.spec.template.spec.volumes?.map((v) =>
      v.secret ? { ...v, secret: { ...v.secret, items: [{ key: 'client.key', path: 'tls.key' }] } } : v,
    );
    const problems = workloadProblems(ds, all, published).join('\n');
    assert.match(problems, /ServiceAccount flow-aggregator\/nobody is not defined/);
    assert.match(problems, /will have no key client.key/);
    assert.match(workloadProblems(clone(daemonSet()), all, new Map()).join('\n'), /neither defined nor published/);
  });

  it('a Service port whose target is not exposed over that protocol', () => {
    const svc = clone(need<Service>('Service', 'flow-aggregator', NS));
    svc.spec.ports.push({ name: 'bad', port: 10348, targetPort: 'http', protocol: 'UDP' });
    assert.match(serviceProblems(svc, all).join('\n'), /targets http, which no container exposes over UDP/);
  });

  it('a missing verb, a wrong apiVersion or a second object with the same name', () => {
    const docs = parseManifests(readFileSync(join(DEPLOY, 'flow-exporter.yml'), 'utf8').replaceAll('verbs: ["get", "list", "watch"]', 'verbs: ["get", "list"]'), 'edited');
    assert.equal(mayRequest(EXPORTER_SA, null, { apiGroup: '', resource: 'pods', verb: 'watch' }, docs), false);
    assert.equal(mayRequest(EXPORTER_SA, null, { apiGroup: '', resource: 'pods', verb: 'list' }, docs), true);
    const d = { ...clone(deployment()), apiVersion: 'extensions/v1beta1' };
    assert.match(basicProblems(d).join('\n'), /apiVersion extensions\/v1beta1, expected apps\/v1/);
    assert.match(duplicateProblems([...all, clone(deployment())]).join('\n'), /Deployment\/flow-aggregator\/flow-aggregator is defined twice/);
  });

  it('YAML with a syntax error', () => {
    assert.throws(() => parseManifests('kind: ConfigMap\n  metadata: [\n', 'broken.yml'), /broken\.yml/);
  });
});

describe('container build file', () => {
  const dockerfile = join(ROOT, 'Dockerfile');
  const stages: Stage[] = parseDockerfile(readFileSync(dockerfile, 'utf8'));
  const build = stages.find((s) => s.name === 'build');
  const runtime = stages[stages.length - 1];
  const runs = (s: Stage | undefined) => (s?.instructions ?? []).filter((i) => i.keyword === 'RUN').map((i) => i.args).join('\n');
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

  it('builds in a node:20 stage with npm ci and tsc, then prunes dev dependencies', () => {
    assert.equal(stages.length, 2);
    assert.ok(build, 'a stage named build');
    assert.match(build.base, /^node:20(-|$)/);
    assert.match(runs(build), /\bnpm ci\b/);
    assert.match(runs(build), /\btsc -p tsconfig\.json\b/);
    assert.match(runs(build), /\bnpm prune --omit=dev\b/);
  });

  it('runs on node 20 of the same Debian release with only what the build stage produced', () => {
    assert.notEqual(runtime, build);
    assert.match(runtime.base, /^node:20-bookworm-slim$/);
    assert.match(build?.base ?? '', /bookworm/, 'the native addons are built against the glibc the runtime has');
    const copies = runtime.instructions.filter((i) => i.keyword === 'COPY').map((i) => i.args);
    for (const path of ['/src/node_modules', '/src/dist/src', '/src/bin', '/src/package.json']) {
      assert.ok(copies.some((c) => c.startsWith(`--from=build ${path} `)), `COPY --from=build ${path}`);
    }
    assert.doesNotMatch(runs(runtime), /npm (ci|install)/);
  });

  it('runs as a numeric non-root user, the one the aggregator Deployment names', () => {
    const user = last(runtime, 'USER');
    assert.ok(user);
    const m = /^(\d+)(?::(\d+))?$/.exec(user.args.trim());
    assert.ok(m, 'numeric, so that runAsNonRoot can verify it');
    assert.notEqual(Number(m[1]), 0);
    assert.equal(deployment().spec.template.spec.securityContext?.runAsUser, Number(m[1]));
  });

  it('has an ENTRYPOINT that runs bin/flowvis.js, where the image puts it', () => {
    const entry = last(runtime, 'ENTRYPOINT');
    assert.ok(entry);
    const argv = execForm(entry.args);
    assert.ok(argv, 'exec form, so that signals reach node');
    assert.equal(argv[0], 'node');
    const workdir = last(runtime, 'WORKDIR')?.args.trim();
    assert.equal(argv[1], posix.join(workdir ?? '/', 'bin/flowvis.js'));
    assert.ok(existsSync(join(ROOT, 'bin', 'flowvis.js')));
    assert.match(readFileSync(join(ROOT, 'bin', 'flowvis.js'), 'utf8'), /\.\.\/dist\/src\/cli\/main\.js/, 'bin/ loads dist/src, which the image copies');
    for (const w of workloads()) {
      const c = mainContainer(w);
      // Either the image's ENTRYPOINT with args, or a shell that execs the same file.
      if (c.command) assert.ok([...c.command, ...(c.args ?? [])].join(' ').includes(`exec node ${argv[1]} `), w.metadata.name);
      assert.match(flowvisArgs(c)[0], /^(aggregator|exporter|collector)$/, w.metadata.name);
    }
  });

  it('the manifests run the image of this version', () => {
    const images = new Set(
      workloads().flatMap((w) => [...(w.spec.template.spec.initContainers ?? []), ...w.spec.template.spec.containers]).map((c) => c.image),
    );
    assert.deepEqual([...images], [`flowvis:${pkg.version}`]);
  });

  it('.dockerignore keeps node_modules and dist out of the context, and nothing the build copies', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    assert.ok(ignored.includes('node_modules'));
    assert.ok(ignored.includes('dist'));
    const sources = (build?.instructions ?? [])
      .filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'))
      .flatMap((i) => i.args.split(/\s+/).filter((w) => !w.startsWith('--')).slice(0, -1));
    assert.ok(sources.length > 0);
    for (const s of sources) {
      assert.ok(existsSync(join(ROOT, s)), `${s} exists`);
      assert.ok(!ignored.includes(s.replace(/\/$/, '')), `${s} is not ignored`);
    }
  });
});
