import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildAggregatorApi, parseFlowRecordQuery } from '../../../src/aggregator/api.js';
import { parseAggregatorConfig } from '../../../src/aggregator/config.js';
import { FlowAggregator } from '../../../src/aggregator/service.js';
import { AggregatorError } from '../../../src/aggregator/errors.js';
import { FlowType, type AggregatedFlowRecord } from '../../../src/flow/record.js';
import { ManualClock } from '../../../src/util/clock.js';
import { NODE_A, NODE_B, flowRecord, fromDestinationNode, fromSourceNode } from './fixtures.js';

describe('aggregator HTTP API', () => {
  let dir: string;
  let aggregator: FlowAggregator;
  let app: FastifyInstance;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flowvis-agg-api-'));
    const config = parseAggregatorConfig({ sinks: ['log'], logSinkPath: join(dir, 'flows.jsonl'), aggregatorTransportProtocol: 'tcp' }, dir);
    aggregator = new FlowAggregator(config, { clock: new ManualClock(), tickMs: 0 });
    const agg = aggregator.aggregation;
    agg.ingest(fromSourceNode(), NODE_A);
    agg.ingest(fromDestinationNode(), NODE_B);
    agg.ingest(fromSourceNode({ sourceAddress: 'fd00::5', destinationAddress: 'fd00::7', ipVersion: 6, protocolIdentifier: 17 }), NODE_A);
    agg.ingest(
      flowRecord({
        flowType: FlowType.intraNode,
        sourceTransportPort: 5000,
        sourcePodNamespace: 'kube-system',
        sourcePodName: 'coredns-1',
        destinationPodNamespace: 'monitoring',
        destinationPodName: 'prometheus-0',
        ingressNetworkPolicyName: 'deny-all',
        ingressNetworkPolicyNamespace: 'monitoring',
      }),
      NODE_A,
    );
    agg.ingest(flowRecord({ sourceAddress: '' }), NODE_A);
    app = buildAggregatorApi(aggregator);
    await app.ready();
  });

  after(async () => {
    await app.close();
    await aggregator.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function records(query: string): Promise<AggregatedFlowRecord[]> {
    const res = await app.inject({ method: 'GET', url: `/flowrecords${query}` });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json() as { count: number; flowRecords: AggregatedFlowRecord[] };
    assert.equal(body.count, body.flowRecords.length);
    return body.flowRecords;
  }

  it('lists every tracked flow without filters', async () => {
    assert.equal((await records('')).length, 3);
  });

  it('filters by 5-tuple fields, with Antrea-style aliases', async () => {
    assert.equal((await records('?sourceAddress=10.10.0.5&destinationTransportPort=8080&protocol=tcp')).length, 2);
    assert.equal((await records('?srcIP=fd00::5&proto=17')).length, 1);
    assert.equal((await records('?srcPort=5000')).length, 1);
    assert.equal((await records('?dstIP=10.10.1.7&srcPort=41234&protocolIdentifier=6')).length, 1);
    assert.equal((await records('?destinationAddress=10.0.0.99')).length, 0);
  });

  it('filters by Pod, namespace and policy', async () => {
    const byPod = await records('?pod=shop/backend-5f6d7c8b9-xyz12');
    assert.equal(byPod.length, 1);
    assert.equal(byPod[0].correlated, true);
    assert.equal((await records('?pod=frontend-7d9c8b6f5-abcde')).length, 2);
    assert.equal((await records('?namespace=monitoring')).length, 1);
    assert.equal((await records('?sourcePodNamespace=kube-system')).length, 1);
    assert.equal((await records('?policy=monitoring/deny-all')).length, 1);
    assert.equal((await records('?policy=allow-egress')).length, 2);
    assert.equal((await records('?policy=other/allow-egress')).length, 0);
    assert.equal((await records('?correlated=false')).length, 1);
    assert.equal((await records('?limit=1')).length, 1);
  });

  it('answers bad parameters with 400 and a message', async () => {
    for (const [query, fragment] of [
      ['?srcIP=10.0.0', 'not an IP address'],
      ['?srcPort=70000', '0 to 65535'],
      ['?protocol=foo', 'not a protocol'],
      ['?pod=a/b/c', 'namespace/name'],
      ['?limit=0', 'limit'],
      ['?colour=red', 'unknown query parameter "colour"'],
      ['?srcPort=1&srcPort=2', 'more than once'],
      ['?correlated=maybe', 'correlated=true'],
    ] as const) {
      const res = await app.inject({ method: 'GET', url: `/flowrecords${query}` });
      assert.equal(res.statusCode, 400, query);
      const body = res.json() as { error: string; message: string };
      assert.equal(body.error, 'AGG_ERR_INVALID_QUERY');
      assert.ok(body.message.includes(fragment), `${query}: ${body.message}`);
    }
  });

  it('reports record metrics', async () => {
    const res = await app.inject({ method: 'GET', url: '/recordmetrics' });
    assert.equal(res.statusCode, 200);
    const m = res.json() as Record<string, unknown>;
    assert.equal(m.recordsReceived, 5);
    assert.equal(m.recordsDropped, 1);
    assert.equal(m.flowsCorrelated, 1);
    assert.equal(m.pendingCorrelation, 1);
    assert.equal(m.flowsTracked, 3);
    assert.deepEqual(m.connectionsPerExporter, {});
  });

  it('serves Prometheus metrics', async () => {
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /text\/plain/);
    assert.match(res.body, /^flowvis_aggregator_records_received_total 5$/m);
    assert.match(res.body, /^flowvis_aggregator_records_dropped_total 1$/m);
    assert.match(res.body, /^flowvis_aggregator_pending_correlation 1$/m);
    assert.match(res.body, /^flowvis_aggregator_flows_tracked 3$/m);
  });
});

describe('parseFlowRecordQuery', () => {
  it('throws coded errors', () => {
    assert.throws(() => parseFlowRecordQuery({ namespace: 'a/b' }), (e: unknown) => e instanceof AggregatorError && e.code === 'AGG_ERR_INVALID_QUERY');
  });
});
