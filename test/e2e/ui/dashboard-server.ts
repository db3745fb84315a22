// The server the browser tests drive: a real Flow Aggregator with the embedded store sink in a
// temp dir, fed by two exporting processes standing for two Nodes over loopback TCP, and its
// HTTP API with the store and dashboard routes (as `flowvis aggregator` mounts them).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildAggregatorApi } from '../../../src/aggregator/api.js';
import { parseAggregatorConfig } from '../../../src/aggregator/config.js';
import { FlowAggregator } from '../../../src/aggregator/service.js';
import { registerStoreRoutes } from '../../../src/api/store-api.js';
import { registerUiRoutes } from '../../../src/api/ui-routes.js';
import { EXPORTER_TEMPLATES, exporterTemplateId, flowRecordToDataRecord } from '../../../src/flow/ie-mapping.js';
import { FlowEndReason, FlowType, PolicyType, RuleAction, type FlowRecord } from '../../../src/flow/record.js';
import { ExportingProcess } from '../../../src/transport/exporting-process.js';
import { blankFlowRecord } from '../../fixtures/flow-records.js';
import { ManualClock } from '../../../src/util/clock.js';

/** Flows end two minutes before the test starts, so "last 1h" holds them. */
export const T_END = Math.floor(Date.now() / 1000) - 120;

function flow(over: Partial<FlowRecord>): FlowRecord {
  return {
    ...blankFlowRecord(),
    sourceTransportPort: 40000,
    destinationTransportPort: 80,
    protocolIdentifier: 6,
    flowStartSeconds: T_END - 50,
    flowEndSeconds: T_END,
    tcpState: 'ESTABLISHED',
    ...over,
  };
}

const counts = (bytes: number, packets: number, rbytes: number, rpackets: number) => ({
  octetDeltaCount: bytes,
  octetTotalCount: bytes,
  packetDeltaCount: packets,
  packetTotalCount: packets,
  reverseOctetDeltaCount: rbytes,
  reverseOctetTotalCount: rbytes,
  reversePacketDeltaCount: rpackets,
  reversePacketTotalCount: rpackets,
});

const WEB1 = { ns: 'shop', pod: 'web-1', ip: '10.10.0.11', node: 'node-a' };
const WEB2 = { ns: 'shop', pod: 'web-2', ip: '10.10.0.13', node: 'node-a' };
const CACHE = { ns: 'shop', pod: 'cache-1', ip: '10.10.0.12', node: 'node-a' };
const DB = { ns: 'shop', pod: 'db-1', ip: '10.10.1.21', node: 'node-b' };
const PROM = { ns: 'monitoring', pod: 'prom-0', ip: '10.10.1.30', node: 'node-b' };
type Pod = typeof WEB1;
const src = (p: Pod) => ({ sourcePodNamespace: p.ns, sourcePodName: p.pod, sourceAddress: p.ip, sourceNodeName: p.node });
const dst = (p: Pod) => ({ destinationPodNamespace: p.ns, destinationPodName: p.pod, destinationAddress: p.ip, destinationNodeName: p.node });

/** What each Node's exporter sends. The numbers the tests expect follow from these. */
export function knownFlows(): { nodeA: FlowRecord[]; nodeB: FlowRecord[] } {
  // Intra-node on node-a: web-1 -> cache-1, ingress policy shop/allow-cache.
  const intra = flow({
    ...src(WEB1), ...dst(CACHE), sourceTransportPort: 41001, destinationTransportPort: 6379, flowType: FlowType.intraNode,
    ingressNetworkPolicyNamespace: 'shop', ingressNetworkPolicyName: 'allow-cache', ingressNetworkPolicyRuleAction: RuleAction.allow, ingressNetworkPolicyType: PolicyType.k8sNetworkPolicy,
    ...counts(100_000, 100, 400_000, 300),
  });
  // Inter-node web-1 (node-a) -> db-1 (node-b): one half from each Node.
  const interKey = { sourceAddress: WEB1.ip, destinationAddress: DB.ip, sourceTransportPort: 41002, destinationTransportPort: 5432, flowType: FlowType.interNode };
  const interA = flow({
    ...src(WEB1), ...interKey,
    egressNetworkPolicyNamespace: 'shop', egressNetworkPolicyName: 'web-egress', egressNetworkPolicyRuleAction: RuleAction.allow, egressNetworkPolicyType: PolicyType.antreaNetworkPolicy,
    ...counts(2_000_000, 1500, 500_000, 700),
  });
  const interB = flow({
    ...dst(DB), ...interKey,
    ingressNetworkPolicyNamespace: 'shop', ingressNetworkPolicyName: 'allow-db', ingressNetworkPolicyRuleAction: RuleAction.allow, ingressNetworkPolicyType: PolicyType.k8sNetworkPolicy,
    ...counts(2_000_000, 1500, 500_000, 700),
  });
  // Pod-to-Service: prom-0 (node-b) -> shop/frontend:http (10.96.0.10:80) -> web-1:8080 (node-a).
  const svcKey = { sourceAddress: PROM.ip, destinationAddress: WEB1.ip, sourceTransportPort: 41003, destinationTransportPort: 8080, flowType: FlowType.interNode };
  const service = { destinationClusterIP: '10.96.0.10', destinationServicePort: 80, destinationServicePortName: 'shop/frontend:http' };
  const svcB = flow({ ...src(PROM), ...svcKey, ...service, ...counts(300_000, 400, 3_000_000, 2200) });
  const svcA = flow({ ...dst(WEB1), ...svcKey, ...counts(300_000, 400, 3_000_000, 2200) });
  // Pod-to-External: web-2 -> 93.184.216.34:443.
  const external = flow({
    ...src(WEB2), destinationAddress: '93.184.216.34', sourceTransportPort: 41004, destinationTransportPort: 443, flowType: FlowType.toExternal,
    ...counts(50_000, 60, 700_000, 520),
  });
  // Denied: web-2 -> 8.8.8.8:53/udp, dropped by egress policy shop/deny-dns.
  const denied = flow({
    ...src(WEB2), destinationAddress: '8.8.8.8', sourceTransportPort: 41005, destinationTransportPort: 53, protocolIdentifier: 17, tcpState: '',
    flowType: FlowType.toExternal, flowEndReason: FlowEndReason.endOfFlow,
    egressNetworkPolicyNamespace: 'shop', egressNetworkPolicyName: 'deny-dns', egressNetworkPolicyRuleAction: RuleAction.drop, egressNetworkPolicyType: PolicyType.antreaNetworkPolicy,
    ...counts(120, 2, 0, 0),
  });
  return { nodeA: [intra, interA, svcA, external, denied], nodeB: [interB, svcB] };
}

export const EXPECTED_RECORDS = 5;

export interface DashboardServer {
  url: string;
  aggregator: FlowAggregator;
  close(): Promise<void>;
}

async function waitFor(what: string, condition: () => Promise<boolean> | boolean): Promise<void> {
  // Bounded polling: the condition is the check, the bound only stops a hang.
  for (let i = 0; i < 1500; i++) {
    if (await condition()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export async function startDashboardServer(): Promise<DashboardServer> {
  const dir = mkdtempSync(join(tmpdir(), 'flowvis-ui-e2e-'));
  const closers: (() => Promise<void> | void)[] = [() => rmSync(dir, { recursive: true, force: true })];
  const close = async () => {
    for (const c of closers.reverse()) await c();
  };
  try {
    const config = parseAggregatorConfig(
      {
        aggregatorTransportProtocol: 'tcp',
        sinks: ['log'],
        logSinkPath: join(dir, 'records.jsonl'),
        listenAddress: '127.0.0.1',
        listenPort: 0,
        flowExportInterval: '60s',
        correlationWait: '10s',
        apiAddress: '',
        store: { url: join(dir, 'store'), commitInterval: '200ms' },
      },
      dir,
    );
    const clock = new ManualClock(Date.now());
    const aggregator = new FlowAggregator(config, { clock, tickMs: 0 });
    await aggregator.start();
    closers.push(() => aggregator.stop());
    const port = aggregator.collectorAddress().port;
    const flows = knownFlows();
    const nodes = [flows.nodeA, flows.nodeB].map((records, i) => {
      const exporter = new ExportingProcess({ host: '127.0.0.1', port, protocol: 'tcp', observationDomainId: i + 1, templates: EXPORTER_TEMPLATES, backoff: { initialMs: 50, maxMs: 200 } });
      exporter.start();
      closers.push(() => exporter.close());
      return { exporter, records };
    });
    for (const n of nodes) {
      for (const r of n.records) n.exporter.send(exporterTemplateId(r.ipVersion), [flowRecordToDataRecord(r)]);
      await n.exporter.flush();
    }
    const sent = flows.nodeA.length + flows.nodeB.length;
    await waitFor('the aggregator to receive every record', () => aggregator.metrics().recordsReceived === sent);
    clock.advance(61_000);
    aggregator.tick();
    await waitFor('the store to hold the aggregated records', async () => {
      const repo = aggregator.storeRepository();
      return repo !== null && (await repo.countFlows()) >= EXPECTED_RECORDS;
    });
    const api: FastifyInstance = buildAggregatorApi(aggregator);
    await registerStoreRoutes(api, { repository: () => aggregator.storeRepository() });
    await registerUiRoutes(api, { repository: () => aggregator.storeRepository() });
    await api.listen({ host: '127.0.0.1', port: 0 });
    closers.push(() => api.close());
    const address = api.server.address();
    if (!address || typeof address !== 'object') throw new Error('the API server has no address');
    return { url: `http://127.0.0.1:${address.port}`, aggregator, close };
  } catch (err) {
    await close();
    throw err;
  }
}
