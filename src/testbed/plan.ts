// The testbed plan: everything `flowvis testbed up` will do, computed from a Topology without
// touching the system, so that it can be unit-tested and printed (`flowvis testbed up --dry-run`).
//
//                 underlay namespace <prefix>-underlay: bridge fvbr0 (10.255.0.0/24, fd00:ff::/64)
//        ┌──────────────────────┬─────────┴──────────┬────────────────────┐
//   fvn0 │ veth            fvn1 │ veth          fvx0 │ veth          fva0 │ veth
//  fvul0 │ .11            fvul0 │ .12           eth0 │ .200          eth0 │ .250
//   <prefix>-node-node-1   <prefix>-node-node-2    <prefix>-ext       <prefix>-agg
//   bridge fvbr0 10.10.1.1  bridge fvbr0 10.10.2.1  (External host)   (aggregator)
//    │fvp0  │fvp1 ...         │fvp0 ...
//   eth0   eth0              eth0
//   Pods (<prefix>-pod-<namespace>.<name>), default route via the bridge address
//
// Each Node routes the other Nodes' Pod CIDRs via their underlay address (inter-node traffic
// crosses the underlay), masquerades Pod traffic that leaves for the underlay except to other
// Pod CIDRs, DNATs ClusterIP:port to the endpoints, and enforces NetworkPolicies in FORWARD
// (br_netfilter makes bridged intra-node traffic pass FORWARD too). Nothing is created in the
// root namespace: removing the namespaces removes every link and rule.
import { createHash } from 'node:crypto';
import { stringify } from 'yaml';
import { formatDenyPrefix } from '../exporter/nflog/prefix.js';
import { parseExporterConfig } from '../exporter/config.js';
import { parseAggregatorConfig } from '../aggregator/config.js';
import type { CompiledPeer, CompiledRule } from '../exporter/policy/network-policy.js';
import { TestbedError } from './errors.js';
import { formatPrefix, parseAddress, parsePrefix, prefixContains, subtractPrefixes, type Prefix } from './ipam.js';
import type { Family, Topology, TopologyNode, TopologyPod, TopologyPolicy, TopologyService } from './topology.js';

export const BRIDGE = 'fvbr0';
export const UNDERLAY_DEV = 'fvul0';
export const AGGREGATOR_PORT = 4739;
export const AGGREGATOR_API_PORT = 10348;
export const EXPORTER_METRICS_ADDRESS = '127.0.0.1:10350';

export interface TestbedNames {
  readonly underlay: string;
  readonly external: string;
  readonly aggregator: string;
  /** Node name to namespace. */
  readonly nodes: Readonly<Record<string, string>>;
  /** Pod "namespace/name" to namespace. */
  readonly pods: Readonly<Record<string, string>>;
  /** Every namespace, in creation order. */
  readonly all: readonly string[];
}

/** One system command, run in the root namespace (it names its target with `ip -n` / `ip netns exec`). */
export interface PlannedCommand {
  readonly argv: readonly string[];
}

export interface IptablesPlan {
  readonly node: string;
  readonly namespace: string;
  readonly family: Family;
  /** iptables-restore input (nat and filter tables). */
  readonly rules: string;
}

export interface TestbedPlan {
  readonly topology: Topology;
  readonly names: TestbedNames;
  readonly commands: readonly PlannedCommand[];
  readonly iptables: readonly IptablesPlan[];
}

export function namesOf(topology: Topology): TestbedNames {
  const p = topology.prefix;
  const nodes: Record<string, string> = {};
  for (const n of topology.nodes) nodes[n.name] = `${p}-node-${n.name}`;
  const pods: Record<string, string> = {};
  for (const pod of topology.pods) pods[pod.id] = `${p}-pod-${pod.namespace}.${pod.name}`;
  const underlay = `${p}-underlay`;
  const external = `${p}-ext`;
  const aggregator = `${p}-agg`;
  return { underlay, external, aggregator, nodes, pods, all: [underlay, ...Object.values(nodes), ...Object.values(pods), external, aggregator] };
}

function ip(...argv: string[]): PlannedCommand {
  return { argv: ['ip', ...argv] };
}

function sysctl(ns: string, settings: string[]): PlannedCommand {
  return { argv: ['ip', 'netns', 'exec', ns, 'sysctl', '-q', '-w', ...settings] };
}

const NO_DAD = ['net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0'];

function withLength(address: string, prefix: Prefix): string {
  return `${address}/${prefix.length}`;
}

/** Computes the whole plan. Pure. */
export function planTestbed(topology: Topology): TestbedPlan {
  const names = namesOf(topology);
  const cmds: PlannedCommand[] = [];
  for (const ns of names.all) cmds.push(ip('netns', 'add', ns));
  for (const ns of names.all) {
    cmds.push(sysctl(ns, NO_DAD));
    cmds.push(ip('-n', ns, 'link', 'set', 'lo', 'up'));
  }
  for (const ns of Object.values(names.nodes)) {
    cmds.push(
      sysctl(ns, [
        'net.ipv4.ip_forward=1',
        'net.ipv6.conf.all.forwarding=1',
        'net.netfilter.nf_conntrack_acct=1',
        'net.netfilter.nf_conntrack_timestamp=1',
        'net.bridge.bridge-nf-call-iptables=1',
        'net.bridge.bridge-nf-call-ip6tables=1',
      ]),
    );
  }
  const ul = names.underlay;
  cmds.push(ip('-n', ul, 'link', 'add', BRIDGE, 'type', 'bridge'), ip('-n', ul, 'link', 'set', BRIDGE, 'up'));
  const underlayOf = (f: Family): Prefix => topology.underlay.find((p) => p.family === f)!;
  const attachToUnderlay = (ns: string, dev: string, peer: string, ips: Partial<Record<Family, string>>): void => {
    cmds.push(ip('-n', ns, 'link', 'add', dev, 'type', 'veth', 'peer', 'name', peer, 'netns', ul));
    cmds.push(ip('-n', ul, 'link', 'set', peer, 'master', BRIDGE), ip('-n', ul, 'link', 'set', peer, 'up'));
    for (const f of topology.families) cmds.push(ip('-n', ns, 'addr', 'add', withLength(ips[f]!, underlayOf(f)), 'dev', dev, ...(f === 6 ? ['nodad'] : [])));
    cmds.push(ip('-n', ns, 'link', 'set', dev, 'up'));
  };

  for (const node of topology.nodes) {
    const ns = names.nodes[node.name];
    attachToUnderlay(ns, UNDERLAY_DEV, `fvn${node.index}`, node.underlayIps);
    cmds.push(ip('-n', ns, 'link', 'add', BRIDGE, 'type', 'bridge'));
    for (const c of node.podCIDRs) cmds.push(ip('-n', ns, 'addr', 'add', withLength(node.gateways[c.family]!, c), 'dev', BRIDGE, ...(c.family === 6 ? ['nodad'] : [])));
    cmds.push(ip('-n', ns, 'link', 'set', BRIDGE, 'up'));
    topology.pods
      .filter((p) => p.node === node.name)
      .forEach((pod, k) => {
        const podNs = names.pods[pod.id];
        const hostDev = `fvp${k}`;
        cmds.push(ip('-n', ns, 'link', 'add', hostDev, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', podNs));
        cmds.push(ip('-n', ns, 'link', 'set', hostDev, 'master', BRIDGE));
        // Hairpin: a Pod that reaches its own Service endpoint gets the packet back on its port.
        cmds.push(ip('-n', ns, 'link', 'set', hostDev, 'type', 'bridge_slave', 'hairpin', 'on'));
        cmds.push(ip('-n', ns, 'link', 'set', hostDev, 'up'));
        for (const c of node.podCIDRs) {
          cmds.push(ip('-n', podNs, 'addr', 'add', withLength(pod.ips[c.family]!, c), 'dev', 'eth0', ...(c.family === 6 ? ['nodad'] : [])));
        }
        cmds.push(ip('-n', podNs, 'link', 'set', 'eth0', 'up'));
        for (const c of node.podCIDRs) cmds.push(ip('-n', podNs, `-${c.family}`, 'route', 'add', 'default', 'via', node.gateways[c.family]!));
      });
  }
  attachToUnderlay(names.external, 'eth0', 'fvx0', topology.external.ips);
  attachToUnderlay(names.aggregator, 'eth0', 'fva0', topology.aggregatorIps);
  for (const node of topology.nodes) {
    for (const other of topology.nodes) {
      if (other === node) continue;
      for (const c of other.podCIDRs) {
        cmds.push(ip('-n', names.nodes[node.name], `-${c.family}`, 'route', 'add', formatPrefix(c), 'via', other.underlayIps[c.family]!));
      }
    }
  }

  const iptables: IptablesPlan[] = [];
  for (const node of topology.nodes) {
    for (const family of topology.families) {
      iptables.push({ node: node.name, namespace: names.nodes[node.name], family, rules: iptablesRules(topology, node, family) });
    }
  }
  return { topology, names, commands: cmds, iptables };
}

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 10).toUpperCase();
}

function hostPrefix(address: string, family: Family): string {
  return `${address}/${family === 4 ? 32 : 128}`;
}

const PROTO_FLAG: Record<string, string> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };
const PROTO_BY_NUMBER: Record<number, string> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };

/** The endpoints (Pod, target port) of one Service port, for one family, in topology order. */
export function serviceEndpoints(topology: Topology, svc: TopologyService, portIndex: number, family: Family): { pod: TopologyPod; port: number }[] {
  const sp = svc.ports[portIndex];
  const out: { pod: TopologyPod; port: number }[] = [];
  for (const pod of topology.pods) {
    if (pod.namespace !== svc.namespace || pod.ips[family] === undefined) continue;
    if (!Object.entries(svc.selector).every(([k, v]) => pod.labels[k] === v)) continue;
    let port: number | undefined;
    if (typeof sp.targetPort === 'number') port = sp.targetPort;
    else port = pod.ports.find((cp) => cp.name === sp.targetPort && cp.protocol === sp.protocol)?.containerPort;
    if (port !== undefined) out.push({ pod, port });
  }
  return out;
}

/** iptables-restore input for one Node and family: Service DNAT, masquerade, policy enforcement. */
export function iptablesRules(topology: Topology, node: TopologyNode, family: Family): string {
  const lines: string[] = [];
  const ownCidr = node.podCIDRs.find((c) => c.family === family);
  const bracket = (a: string) => (family === 6 ? `[${a}]` : a);

  // nat: Services (every Node, like kube-proxy) and masquerade to the underlay.
  const natChains: string[] = ['FV-SERVICES', 'FV-POSTROUTING'];
  const nat: string[] = ['-A PREROUTING -j FV-SERVICES', '-A OUTPUT -j FV-SERVICES', '-A POSTROUTING -j FV-POSTROUTING'];
  const hairpin = new Set<string>();
  for (const svc of topology.services) {
    const cip = svc.clusterIPs[family];
    if (cip === undefined) continue;
    svc.ports.forEach((sp, i) => {
      const eps = serviceEndpoints(topology, svc, i, family);
      if (eps.length === 0) return;
      const chain = `FV-SVC-${shortHash(`${svc.id}:${sp.name}:${sp.port}/${sp.protocol}/${family}`)}`;
      natChains.push(chain);
      const proto = PROTO_FLAG[sp.protocol];
      nat.push(`-A FV-SERVICES -d ${hostPrefix(cip, family)} -p ${proto} -m ${proto} --dport ${sp.port} -m comment --comment "${svc.id}:${sp.name || sp.port}" -j ${chain}`);
      eps.forEach((ep, k) => {
        const left = eps.length - k;
        let pick = '';
        if (left > 1) {
          pick = topology.serviceLoadBalancing === 'random'
            ? `-m statistic --mode random --probability ${(1 / left).toFixed(11)} `
            : `-m statistic --mode nth --every ${left} --packet 0 `;
        }
        nat.push(`-A ${chain} ${pick}-p ${proto} -j DNAT --to-destination ${bracket(ep.pod.ips[family]!)}:${ep.port}`);
        if (ep.pod.node === node.name) hairpin.add(ep.pod.ips[family]!);
      });
    });
  }
  for (const a of hairpin) nat.push(`-A FV-POSTROUTING -s ${hostPrefix(a, family)} -d ${hostPrefix(a, family)} -j MASQUERADE`);
  if (ownCidr) {
    for (const other of topology.nodes) {
      const c = other.podCIDRs.find((x) => x.family === family);
      if (other !== node && c) nat.push(`-A FV-POSTROUTING -s ${formatPrefix(ownCidr)} -d ${formatPrefix(c)} -j RETURN`);
    }
    nat.push(`-A FV-POSTROUTING -s ${formatPrefix(ownCidr)} -o ${UNDERLAY_DEV} -j MASQUERADE`);
  }
  lines.push('*nat', ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]');
  for (const c of natChains) lines.push(`:${c} - [0:0]`);
  lines.push(...nat, 'COMMIT');

  // filter: NetworkPolicies of this Node's Pods. Egress of the source Pod first, then ingress of
  // the destination Pod; an allowing rule RETURNs, the end of a Pod's chain logs and denies.
  const filterChains: string[] = ['FV-FORWARD'];
  const dispatch: string[] = [];
  const body: string[] = [];
  const local = topology.pods.filter((p) => p.node === node.name && p.ips[family] !== undefined);
  for (const dir of ['egress', 'ingress'] as const) {
    for (const pod of local) {
      const isolating = isolatingPolicies(topology, pod, dir);
      if (isolating.length === 0) continue;
      const chain = `FV-${dir === 'ingress' ? 'IN' : 'EG'}-${shortHash(pod.id)}`;
      filterChains.push(chain);
      dispatch.push(`-A FV-FORWARD ${dir === 'ingress' ? '-d' : '-s'} ${hostPrefix(pod.ips[family]!, family)} -m comment --comment "${dir} ${pod.id}" -j ${chain}`);
      const seen = new Set<string>();
      for (const policy of isolating) {
        const rules = (dir === 'ingress' ? policy.compiled.ingress : policy.compiled.egress)!;
        for (const rule of rules) {
          for (const m of allowMatches(topology, rule, dir, pod, policy.compiled.namespace, family)) {
            const line = `-A ${chain} ${m}-m comment --comment "${policy.compiled.namespace}/${policy.compiled.name} ${rule.name}" -j RETURN`;
            if (!seen.has(line)) body.push(line);
            seen.add(line);
          }
        }
      }
      // As the exporter's policy engine attributes it: the one isolating policy, or none by name.
      const policyText = isolating.length === 1 ? `${isolating[0].compiled.namespace}/${isolating[0].compiled.name}` : `${pod.namespace}/`;
      const action = isolating.some((p) => p.denyAction === 'reject') ? 'reject' : 'drop';
      const prefix = formatDenyPrefix({ action, direction: dir, policy: policyText });
      body.push(`-A ${chain} -j NFLOG --nflog-group ${topology.nflogGroup} --nflog-prefix "${prefix}"`);
      if (action === 'drop') body.push(`-A ${chain} -j DROP`);
      else body.push(`-A ${chain} -p tcp -j REJECT --reject-with tcp-reset`, `-A ${chain} -j REJECT`);
    }
  }
  lines.push('*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]');
  for (const c of filterChains) lines.push(`:${c} - [0:0]`);
  lines.push('-A FORWARD -j FV-FORWARD', '-A FV-FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT');
  // Bridged IPv6 neighbour discovery passes FORWARD too (br_netfilter); policies do not apply to it.
  if (family === 6) {
    for (const t of ['neighbour-solicitation', 'neighbour-advertisement']) lines.push(`-A FV-FORWARD -p ipv6-icmp -m icmp6 --icmpv6-type ${t} -j ACCEPT`);
  }
  lines.push(...dispatch, ...body, 'COMMIT');
  return `${lines.join('\n')}\n`;
}

/** The policies that select the Pod for a direction, in name order (the engine's order). */
export function isolatingPolicies(topology: Topology, pod: TopologyPod, dir: 'ingress' | 'egress'): TopologyPolicy[] {
  return topology.policies
    .filter((p) => p.compiled.namespace === pod.namespace && (dir === 'ingress' ? p.compiled.ingress : p.compiled.egress) !== undefined && p.compiled.podSelector.matches(pod.labels))
    .sort((a, b) => (a.compiled.name < b.compiled.name ? -1 : a.compiled.name > b.compiled.name ? 1 : 0));
}

function namespaceLabels(topology: Topology, name: string): Record<string, string> {
  const ns = topology.namespaces.find((n) => n.name === name);
  return { ...(ns?.labels ?? {}), 'kubernetes.io/metadata.name': name };
}

/** The address prefixes one peer stands for, in one family (Pod IPs as host prefixes). */
function peerPrefixes(topology: Topology, peer: CompiledPeer, policyNamespace: string, family: Family): Prefix[] {
  if (peer.kind === 'ipBlock') {
    const outer = parsePrefix(peer.cidr.text)!;
    if (outer.family !== family) return [];
    return subtractPrefixes(outer, peer.except.map((e) => parsePrefix(e.text)!));
  }
  const out: Prefix[] = [];
  for (const pod of topology.pods) {
    const a = pod.ips[family];
    if (a === undefined) continue;
    if (peer.namespaceSelector) {
      if (!peer.namespaceSelector.matchesAll && !peer.namespaceSelector.matches(namespaceLabels(topology, pod.namespace))) continue;
    } else if (pod.namespace !== policyNamespace) continue;
    if (peer.podSelector && !peer.podSelector.matches(pod.labels)) continue;
    out.push(parsePrefix(hostPrefix(a, family))!);
  }
  return out;
}

/**
 * The iptables matches (each ending in a space) under which one rule allows a connection of the
 * subject Pod, for one family. `[]`: the rule allows nothing in this family. Named ports resolve
 * against the destination Pod, as the engine resolves them: the subject for ingress, each Pod
 * that has the name for egress.
 */
function allowMatches(topology: Topology, rule: CompiledRule, dir: 'ingress' | 'egress', subject: TopologyPod, policyNamespace: string, family: Family): string[] {
  const peerFlag = dir === 'ingress' ? '-s' : '-d';
  const peers: (Prefix[] | null) = rule.peers ? rule.peers.flatMap((p) => peerPrefixes(topology, p, policyNamespace, family)) : null;
  if (peers !== null && peers.length === 0) return [];
  const addressMatches = peers === null ? [''] : peers.map((p) => `${peerFlag} ${formatPrefix(p)} `);
  const out: string[] = [];
  if (!rule.ports) return addressMatches;
  for (const port of rule.ports) {
    const proto = PROTO_BY_NUMBER[port.protocol];
    if (port.name !== undefined) {
      const destinations = dir === 'ingress' ? [subject] : topology.pods;
      for (const pod of destinations) {
        const a = pod.ips[family];
        if (a === undefined) continue;
        const cp = pod.ports.find((c) => c.name === port.name && PROTO_FLAG[c.protocol] === proto);
        if (!cp) continue;
        if (dir === 'ingress') {
          for (const am of addressMatches) out.push(`${am}-p ${proto} -m ${proto} --dport ${cp.containerPort} `);
        } else {
          const value = parseAddress(a)!.value;
          if (peers !== null && !peers.some((p) => prefixContains(p, family, value))) continue;
          out.push(`-d ${hostPrefix(a, family)} -p ${proto} -m ${proto} --dport ${cp.containerPort} `);
        }
      }
      continue;
    }
    const portMatch = port.port === undefined ? `-p ${proto} ` : `-p ${proto} -m ${proto} --dport ${port.port}${port.endPort !== undefined ? `:${port.endPort}` : ''} `;
    for (const am of addressMatches) out.push(`${am}${portMatch}`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// What the exporters and the aggregator read: the inventory and their config files.

export interface ComponentFiles {
  readonly inventory: string;
  readonly exporterConfigs: Readonly<Record<string, string>>;
  readonly aggregatorConfig: string;
}

export interface FilePaths {
  readonly stateDir: string;
  readonly inventoryFile: string;
  readonly certDir: string;
  readonly flowLogFile: string;
}

function uid(prefix: string, kind: string, id: string): string {
  const h = createHash('sha256').update(`${prefix}/${kind}/${id}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** The inventory (Kubernetes manifests) for the exporters; `createdMs` is when the Pods were created. */
export function inventoryYaml(topology: Topology, createdMs: number): string {
  const created = new Date(Math.floor(createdMs / 1000) * 1000).toISOString().replace('.000Z', 'Z');
  const docs: unknown[] = [];
  for (const ns of topology.namespaces) {
    docs.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns.name, uid: uid(topology.prefix, 'Namespace', ns.name), labels: namespaceLabels(topology, ns.name) } });
  }
  for (const node of topology.nodes) {
    docs.push({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: node.name, uid: uid(topology.prefix, 'Node', node.name), labels: { 'kubernetes.io/hostname': node.name, ...node.labels } },
      spec: { podCIDR: formatPrefix(node.podCIDRs[0]), podCIDRs: node.podCIDRs.map(formatPrefix) },
      status: { addresses: [...topology.families.map((f) => ({ type: 'InternalIP', address: node.underlayIps[f] })), { type: 'Hostname', address: node.name }] },
    });
  }
  for (const pod of topology.pods) {
    const ips = topology.families.map((f) => pod.ips[f]).filter((a): a is string => a !== undefined);
    docs.push({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: pod.name, namespace: pod.namespace, uid: uid(topology.prefix, 'Pod', pod.id), labels: pod.labels, creationTimestamp: created },
      spec: {
        nodeName: pod.node,
        containers: [
          {
            name: 'main',
            image: 'flowvis-testbed-agent',
            ports: pod.ports.map((p) => ({ ...(p.name ? { name: p.name } : {}), containerPort: p.containerPort, protocol: p.protocol })),
          },
        ],
      },
      status: { phase: 'Running', podIP: ips[0], podIPs: ips.map((a) => ({ ip: a })) },
    });
  }
  for (const svc of topology.services) {
    const cips = topology.families.map((f) => svc.clusterIPs[f]).filter((a): a is string => a !== undefined);
    docs.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: svc.name, namespace: svc.namespace, uid: uid(topology.prefix, 'Service', svc.id) },
      spec: {
        type: 'ClusterIP',
        clusterIP: cips[0],
        clusterIPs: cips,
        ipFamilies: cips.map((a) => (a.includes(':') ? 'IPv6' : 'IPv4')),
        selector: svc.selector,
        ports: svc.ports.map((p) => ({ ...(p.name ? { name: p.name } : {}), port: p.port, targetPort: p.targetPort, protocol: p.protocol })),
      },
    });
    // EndpointSlices: one per family and distinct resolution of the target ports.
    for (const family of topology.families) {
      const byPorts = new Map<string, { ports: { name: string; port: number; protocol: string }[]; addresses: string[] }>();
      for (const pod of topology.pods) {
        const ports: { name: string; port: number; protocol: string }[] = [];
        svc.ports.forEach((sp, i) => {
          const ep = serviceEndpoints(topology, svc, i, family).find((e) => e.pod === pod);
          if (ep) ports.push({ name: sp.name, port: ep.port, protocol: sp.protocol });
        });
        if (ports.length === 0) continue;
        const key = JSON.stringify(ports);
        const slice = byPorts.get(key) ?? { ports, addresses: [] };
        slice.addresses.push(pod.ips[family]!);
        byPorts.set(key, slice);
      }
      [...byPorts.values()].forEach((slice, k) => {
        docs.push({
          apiVersion: 'discovery.k8s.io/v1',
          kind: 'EndpointSlice',
          metadata: { name: `${svc.name}-ipv${family}-${k}`, namespace: svc.namespace, labels: { 'kubernetes.io/service-name': svc.name } },
          addressType: `IPv${family}`,
          endpoints: slice.addresses.map((a) => ({ addresses: [a], conditions: { ready: true } })),
          ports: slice.ports,
        });
      });
    }
  }
  for (const p of topology.policies) docs.push(p.object);
  return `# flowvis testbed "${topology.prefix}": the cluster as Kubernetes manifests (written by flowvis testbed up)\n${docs.map((d) => stringify(d)).join('---\n')}`;
}

function collectorHost(topology: Topology): string {
  const a = topology.aggregatorIps[4] ?? topology.aggregatorIps[6]!;
  return a.includes(':') ? `[${a}]` : a;
}

/** Exporter config per Node and the aggregator config, validated by their own parsers. */
export function componentFiles(topology: Topology, paths: FilePaths, createdMs: number): ComponentFiles {
  const transport = topology.aggregator.transport;
  const aggregatorAddress = topology.aggregatorIps[4] ?? topology.aggregatorIps[6]!;
  const exporterConfigs: Record<string, string> = {};
  for (const node of topology.nodes) {
    const doc: Record<string, unknown> = {
      featureGates: { FlowExporter: true },
      nodeName: node.name,
      flowCollectorAddr: `${collectorHost(topology)}:${AGGREGATOR_PORT}:${transport}`,
      metadata: { source: 'inventory', inventoryFile: paths.inventoryFile },
      nflogGroup: topology.nflogGroup,
      metricsAddress: EXPORTER_METRICS_ADDRESS,
      conntrackSysctls: true,
      // One state file per Node in this testbed's directory (the default is per host).
      stateFile: `${paths.stateDir}/exporter-${node.name}.state.json`,
      ...(transport === 'tls'
        ? { tls: { caFile: `${paths.certDir}/ca.crt`, certFile: `${paths.certDir}/client.crt`, keyFile: `${paths.certDir}/client.key`, serverName: aggregatorAddress } }
        : {}),
      ...topology.exporter.config,
    };
    try {
      parseExporterConfig(doc, { defaultNodeName: node.name, baseDir: paths.stateDir });
    } catch (err) {
      throw new TestbedError('TESTBED_ERR_TOPOLOGY', `topology key "exporter.config": the exporter config of Node ${node.name} is invalid: ${(err as Error).message}`, { cause: err });
    }
    exporterConfigs[node.name] = `# flowvis exporter of testbed Node ${node.name} (written by flowvis testbed up)\n${stringify(doc)}`;
  }
  const agg: Record<string, unknown> = {
    aggregatorTransportProtocol: transport,
    flowAggregatorAddress: aggregatorAddress,
    listenAddress: '::',
    listenPort: AGGREGATOR_PORT,
    sinks: ['log'],
    logSinkPath: paths.flowLogFile,
    apiAddress: `[::]:${AGGREGATOR_API_PORT}`,
    certDir: paths.certDir,
    ...topology.aggregator.config,
  };
  try {
    parseAggregatorConfig(agg, paths.stateDir);
  } catch (err) {
    throw new TestbedError('TESTBED_ERR_TOPOLOGY', `topology key "aggregator.config": the aggregator config is invalid: ${(err as Error).message}`, { cause: err });
  }
  return {
    inventory: inventoryYaml(topology, createdMs),
    exporterConfigs,
    aggregatorConfig: `# flowvis aggregator of the testbed (written by flowvis testbed up)\n${stringify(agg)}`,
  };
}
