// Per-connection Kubernetes lookups, as the exporter loop makes them: Pod by IP (with IP-reuse
// history), and NetworkPolicy attribution of both directions, on a synthetic cluster of
// 10,000 Pods in 100 namespaces with 1,000 NetworkPolicies (podSelector, namespaceSelector,
// ipBlock with except, named ports, endPort), plus a 10,000-Pod inventory load.
//
// Sample (npm run bench -- k8s, Node v20.20.2, Intel(R) Xeon(R) Processor, 2 cores, shared):
//   {"name":"k8s.metadata.inventoryLoad.yaml","value":11061.6,"unit":"ms","bytes":5869326,"pods":10000,"policies":1000}
//   {"name":"k8s.metadata.inventoryLoad.json","value":703.8,"unit":"ms","bytes":5528373,"pods":10000,"policies":1000}
//   {"name":"k8s.metadata.podByIp","value":4510438,"unit":"lookups/s","usPerLookup":0.222}
//   {"name":"k8s.metadata.evaluatePolicies","value":321938,"unit":"connections/s","usPerConnection":3.106,
//    "ingressAllow":11682,"ingressDrop":88318,"heapUsedMb":282}
// (heapUsedMb includes the benchmark's own 100,000 queries and the parsed YAML documents.)
import { stringify } from 'yaml';
import type { Benchmark, BenchResult } from './harness.js';
import { ClusterState } from '../src/exporter/k8s/cluster-state.js';
import { parseInventory } from '../src/exporter/k8s/inventory.js';
import { ManualClock } from '../src/util/clock.js';
import { namespace, networkPolicy, pod, type K8sObject } from '../test/fixtures/k8s/builders.js';

const NAMESPACES = 100;
const PODS_PER_NS = 100;
const T0 = Date.parse('2024-06-01T00:00:00Z');

function podIp(ns: number, i: number): string {
  return `10.${100 + (ns >> 4)}.${(ns & 15) * 16 + (i >> 6)}.${(i & 63) + 2}`;
}

function clusterObjects(): K8sObject[] {
  const objects: K8sObject[] = [];
  for (let n = 0; n < NAMESPACES; n++) {
    const ns = `ns-${n}`;
    objects.push(namespace(ns, { team: `t${n % 10}`, env: n % 2 ? 'prod' : 'dev' }));
    for (let i = 0; i < PODS_PER_NS; i++) {
      objects.push(
        pod({
          namespace: ns,
          name: `app-${i % 10}-${i}`,
          ips: [podIp(n, i)],
          labels: { app: `app-${i % 10}`, tier: i % 3 === 0 ? 'db' : 'web', 'pod-template-hash': `h${i}` },
          node: `node-${i % 20}`,
          created: T0 - 3_600_000,
          ports: [{ name: 'http', containerPort: 8080 }, { name: 'metrics', containerPort: 9090 }],
        }),
      );
    }
    // 10 policies per namespace, of the kinds real clusters hold.
    objects.push(networkPolicy(ns, 'default-deny', { podSelector: {}, policyTypes: ['Ingress'] }));
    for (let a = 0; a < 8; a++) {
      objects.push(
        networkPolicy(ns, `allow-app-${a}`, {
          podSelector: { matchLabels: { app: `app-${a}` } },
          ingress: [
            { from: [{ podSelector: { matchLabels: { app: `app-${(a + 1) % 10}` } } }], ports: [{ port: 'http' }] },
            { from: [{ namespaceSelector: { matchLabels: { team: `t${a}` } }, podSelector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['web'] }] } }] },
            { from: [{ ipBlock: { cidr: '192.0.2.0/24', except: ['192.0.2.128/25'] } }], ports: [{ protocol: 'TCP', port: 30000, endPort: 32767 }] },
          ],
          egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8' } }] }, { ports: [{ protocol: 'UDP', port: 53 }] }],
        }),
      );
    }
    objects.push(networkPolicy(ns, 'allow-metrics', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ns-0' } } }], ports: [{ port: 'metrics' }] }] }));
  }
  return objects;
}

function timeLoop(iterations: number, fn: (i: number) => void): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn(i);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

export const benchmarks: Benchmark[] = [
  {
    name: 'k8s.metadata',
    async run(): Promise<BenchResult[]> {
      const objects = clusterObjects();
      const yamlText = objects.map((o) => stringify(o)).join('---\n');
      const jsonText = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects });
      const clock = new ManualClock(T0);
      let loadStart = process.hrtime.bigint();
      parseInventory(yamlText, 'bench.yaml', T0);
      const yamlLoadMs = Number(process.hrtime.bigint() - loadStart) / 1e6;
      loadStart = process.hrtime.bigint();
      const inv = parseInventory(jsonText, 'bench.json', T0);
      const state = new ClusterState({ clock });
      state.replaceAll(inv);
      const loadMs = Number(process.hrtime.bigint() - loadStart) / 1e6;

      // Connections: random Pod pairs, a quarter from external addresses, mixed ports.
      let seed = 42;
      const rand = (n: number): number => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return seed % n;
      };
      const queries = Array.from({ length: 100_000 }, () => {
        const external = rand(4) === 0;
        return {
          sourceAddress: external ? `192.0.2.${rand(256)}` : podIp(rand(NAMESPACES), rand(PODS_PER_NS)),
          destinationAddress: podIp(rand(NAMESPACES), rand(PODS_PER_NS)),
          protocol: rand(10) === 0 ? 17 : 6,
          destinationPort: [8080, 9090, 31000, 53, 443][rand(5)],
          atMs: T0 - rand(3_000_000),
        };
      });

      const n = queries.length;
      let found = 0;
      timeLoop(n, (i) => (found += state.podByIp(queries[i].destinationAddress, queries[i].atMs) ? 1 : 0)); // warm-up
      const lookupMs = timeLoop(n, (i) => (found += state.podByIp(queries[i].destinationAddress, queries[i].atMs) ? 1 : 0));
      const actions = [0, 0, 0];
      timeLoop(n, (i) => state.evaluatePolicies(queries[i])); // warm-up
      const evalMs = timeLoop(n, (i) => {
        const v = state.evaluatePolicies(queries[i]);
        actions[v.ingress.action]++;
      });
      const heapMb = process.memoryUsage().heapUsed / 2 ** 20;
      if (found === 0 || actions[1] === 0 || actions[2] === 0) throw new Error('benchmark cluster does not exercise allow and drop');
      return [
        { name: 'k8s.metadata.inventoryLoad.yaml', value: Number(yamlLoadMs.toFixed(1)), unit: 'ms', bytes: yamlText.length, pods: inv.pods.length, policies: inv.policies.length },
        { name: 'k8s.metadata.inventoryLoad.json', value: Number(loadMs.toFixed(1)), unit: 'ms', bytes: jsonText.length, pods: inv.pods.length, policies: inv.policies.length },
        { name: 'k8s.metadata.podByIp', value: Math.round((n * 1000) / lookupMs), unit: 'lookups/s', usPerLookup: Number(((lookupMs * 1000) / n).toFixed(3)) },
        {
          name: 'k8s.metadata.evaluatePolicies',
          value: Math.round((n * 1000) / evalMs),
          unit: 'connections/s',
          usPerConnection: Number(((evalMs * 1000) / n).toFixed(3)),
          ingressAllow: actions[1],
          ingressDrop: actions[2],
          heapUsedMb: Number(heapMb.toFixed(1)),
        },
      ];
    },
  },
];
