// The built-in default topology of `flowvis testbed up`: the same cluster as
// test/fixtures/testbed/topology.yaml + policies.yaml (a unit test keeps them identical), here
// so that the command works from any directory.
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { parseTopology, type Topology } from './topology.js';

export const DEFAULT_TOPOLOGY_YAML = `# The default flowvis testbed topology (the built-in default of \`flowvis testbed up\`, kept
# identical by test/unit/testbed/topology.test.ts). Two Nodes, dual stack, six Pods in two
# namespaces, two Services, an External host on the underlay reached through SNAT, three
# NetworkPolicies (policies.yaml), and a traffic plan that covers every kind of flow.
prefix: fvtb
nflogGroup: 5
underlay:
  ipv4: 10.255.0.0/24            # Nodes .11, .12, ...; External host .200; aggregator .250
  ipv6: fd00:ff::/64
nodes:
  - name: node-1
    podCIDRs: [10.10.1.0/24, "fd00:10:1::/64"]
  - name: node-2
    podCIDRs: [10.10.2.0/24, "fd00:10:2::/64"]
namespaces:
  - name: frontend
    labels: {team: web}
  - name: backend
    labels: {team: api}
pods:                              # IPs are allocated from .10 / ::a in order per Node
  - {namespace: frontend, name: web-1, node: node-1, labels: {app: web}, ports: [{name: http, containerPort: 8080}]}
  - {namespace: frontend, name: probe-1, node: node-1, labels: {app: probe}, ports: [{name: http, containerPort: 8080}]}
  - {namespace: backend, name: api-1, node: node-1, labels: {app: api}, ports: [{name: http, containerPort: 8080}, {name: stats, containerPort: 9000, protocol: UDP}]}
  - {namespace: frontend, name: web-2, node: node-2, labels: {app: web}, ports: [{name: http, containerPort: 8080}]}
  - {namespace: backend, name: api-2, node: node-2, labels: {app: api}, ports: [{name: http, containerPort: 8080}, {name: stats, containerPort: 9000, protocol: UDP}]}
  - {namespace: backend, name: db-1, node: node-2, labels: {app: db}, ports: [{name: postgres, containerPort: 5432}]}
services:
  - namespace: backend
    name: api
    clusterIPs: [10.96.0.10, "fd00:96::10"]
    selector: {app: api}
    ports:
      - {name: http, port: 80, targetPort: http, protocol: TCP}
      - {name: stats, port: 9000, targetPort: 9000, protocol: UDP}
  - namespace: frontend
    name: web
    clusterIPs: [10.96.0.20, "fd00:96::20"]
    selector: {app: web}
    ports:
      - {name: http, port: 80, targetPort: 8080, protocol: TCP}
external:
  name: external
  ports:
    - {port: 443, protocol: TCP}
    - {port: 53, protocol: UDP}
serviceLoadBalancing: random
exporter:
  config:
    flowPollInterval: 1s
    activeFlowExportTimeout: 5s
    idleFlowExportTimeout: 2s
aggregator:
  transport: tcp
  config:
    flowExportInterval: 2s
    inactiveFlowRecordTimeout: 10s
    correlationWait: 3s
traffic:
  - {name: intra-node-tcp, from: frontend/web-1, to: backend/api-1, port: http, requestBytes: 20000, responseBytes: 80000, expect: allow}
  - {name: inter-node-tcp, from: frontend/web-1, to: backend/api-2, port: http, requestBytes: 20000, responseBytes: 80000, expect: allow}
  - {name: inter-node-tcp-v6, from: frontend/web-2, to: backend/api-1, port: http, family: 6, requestBytes: 30000, responseBytes: 10000, expect: allow}
  - {name: long-lived-tcp, from: frontend/web-2, to: backend/api-1, port: http, requestBytes: 120000, responseBytes: 4000, duration: 12s, expect: allow}
  - {name: short-lived-tcp, from: frontend/web-1, to: backend/api-2, port: http, connections: 5, requestBytes: 500, responseBytes: 1500, expect: allow}
  - {name: udp, from: frontend/web-1, to: backend/api-2, protocol: UDP, port: stats, datagrams: 10, requestBytes: 200, responseBytes: 120, expect: allow}
  - {name: service-tcp, from: frontend/web-2, to: "service:backend/api", port: http, requestBytes: 5000, responseBytes: 25000, expect: allow}
  - {name: service-udp-v6, from: frontend/web-1, to: "service:backend/api", protocol: UDP, port: stats, family: 6, datagrams: 4, requestBytes: 300, responseBytes: 300, expect: allow}
  - {name: external-tcp, from: frontend/web-1, to: external, port: 443, requestBytes: 3000, responseBytes: 9000, expect: allow}
  - {name: external-tcp-v6, from: frontend/web-2, to: external, port: 443, family: 6, requestBytes: 3000, responseBytes: 9000, expect: allow}
  - {name: denied-ingress-drop, from: frontend/probe-1, to: backend/api-1, port: http, expect: drop}
  - {name: denied-ingress-reject, from: frontend/probe-1, to: backend/db-1, port: postgres, expect: reject}
  - {name: denied-egress-drop-udp, from: frontend/web-1, to: external, protocol: UDP, port: 53, expect: drop}
`;

export const DEFAULT_POLICIES_YAML = `# NetworkPolicies of the default testbed topology (topology.yaml). Ordinary
# networking.k8s.io/v1 objects; the testbed enforces them with iptables on every Node and the
# exporters attribute flows with the same semantics. The annotation
# testbed.flowvis.io/deny-action: Reject makes the isolation REJECT instead of DROP.
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: api-allow-web
  namespace: backend
spec:
  podSelector:
    matchLabels: {app: api}
  policyTypes: [Ingress]
  ingress:
    - from:
        - namespaceSelector:
            matchLabels: {team: web}
          podSelector:
            matchLabels: {app: web}
      ports:
        - {protocol: TCP, port: http}
        - {protocol: UDP, port: 9000}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: db-allow-api
  namespace: backend
  annotations:
    testbed.flowvis.io/deny-action: Reject
spec:
  podSelector:
    matchLabels: {app: db}
  policyTypes: [Ingress]
  ingress:
    - from:
        - podSelector:
            matchLabels: {app: api}
      ports:
        - {protocol: TCP, port: 5432}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web-egress
  namespace: frontend
spec:
  podSelector:
    matchLabels: {app: web}
  policyTypes: [Egress]
  egress:
    - to:
        - namespaceSelector: {}
    - to:
        - ipBlock:
            cidr: 10.255.0.0/24
            except: [10.255.0.0/26]
        - ipBlock:
            cidr: fd00:ff::/64
            except: [fd00:ff::/122]
      ports:
        - {protocol: TCP, port: 443}
`;

/** The default topology, validated. */
export function defaultTopology(): Topology {
  const doc = parseYaml(DEFAULT_TOPOLOGY_YAML) as Record<string, unknown>;
  doc.networkPolicies = parseAllDocuments(DEFAULT_POLICIES_YAML).map((d) => d.toJS() as unknown);
  return parseTopology(doc, { baseDir: process.cwd() });
}
