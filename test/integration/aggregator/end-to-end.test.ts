// Two exporting processes standing for two nodes -> the Flow Aggregator over TCP and over
// mutual TLS -> an in-test collecting process standing for externalFlowCollectorAddr.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CollectingProcess, type CollectedMessage } from '../../../src/transport/collecting-process.js';
import { ExportingProcess, type ExporterTlsOptions } from '../../../src/transport/exporting-process.js';
import {
  AGGREGATOR_IPV4_TEMPLATE,
  EXPORTER_TEMPLATES,
  dataRecordToAggregatedFlowRecord,
  exporterTemplateId,
  flowRecordToDataRecord,
} from '../../../src/flow/ie-mapping.js';
import { ieById } from '../../../src/ipfix/index.js';
import type { DataRecord } from '../../../src/ipfix/api.js';
import type { FlowRecord } from '../../../src/flow/record.js';
import { parseAggregatorConfig } from '../../../src/aggregator/config.js';
import { FlowAggregator } from '../../../src/aggregator/service.js';
import { ManualClock } from '../../../src/util/clock.js';
import { fromDestinationNode, fromSourceNode } from '../../unit/aggregator/fixtures.js';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function waitFor(what: string, condition: () => boolean): Promise<void> {
  // Bounded polling: the condition is the assertion, the bound only stops a hang.
  for (let i = 0; i < 1000; i++) {
    if (condition()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
}

async function externalCollector(): Promise<{ port: number; records: DataRecord[]; messages: CollectedMessage[] }> {
  const collector = new CollectingProcess({ protocol: 'tcp', host: '127.0.0.1', port: 0 });
  await collector.start();
  cleanups.push(() => collector.close());
  const records: DataRecord[] = [];
  const messages: CollectedMessage[] = [];
  collector.onMessage((m) => {
    messages.push(m);
    for (const set of m.message.dataSets) records.push(...set.records);
  });
  return { port: collector.address().port, records, messages };
}

async function startAggregator(protocol: 'tcp' | 'tls', collectorPort: number) {
  const dir = mkdtempSync(join(tmpdir(), 'flowvis-agg-e2e-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const config = parseAggregatorConfig(
    {
      externalFlowCollectorAddr: `127.0.0.1:${collectorPort}:tcp`,
      aggregatorTransportProtocol: protocol,
      flowAggregatorAddress: '127.0.0.1',
      listenAddress: '127.0.0.1',
      listenPort: 0,
      flowExportInterval: '60s',
      correlationWait: '10s',
      apiAddress: '',
      certDir: join(dir, 'certs'),
    },
    dir,
  );
  // Certificates are checked against the real time by TLS, so the manual clock starts at now.
  const clock = new ManualClock(Date.now());
  const aggregator = new FlowAggregator(config, { clock, tickMs: 0 });
  await aggregator.start();
  cleanups.push(() => aggregator.stop());
  return { aggregator, clock, port: aggregator.collectorAddress().port };
}

function node(port: number, observationDomainId: number, tls?: ExporterTlsOptions): ExportingProcess {
  const exporter = new ExportingProcess({
    host: '127.0.0.1',
    port,
    protocol: tls ? 'tls' : 'tcp',
    observationDomainId,
    templates: EXPORTER_TEMPLATES,
    ...(tls ? { tls } : {}),
    backoff: { initialMs: 50, maxMs: 200 },
  });
  exporter.start();
  cleanups.push(() => exporter.close());
  return exporter;
}

function send(exporter: ExportingProcess, r: FlowRecord): void {
  exporter.send(exporterTemplateId(r.ipVersion), [flowRecordToDataRecord(r)]);
}

for (const protocol of ['tcp', 'tls'] as const) {
  describe(`aggregator end to end over ${protocol}`, () => {
    it('correlates the halves from two nodes and exports one record with every aggregator IE', async () => {
      const external = await externalCollector();
      const { aggregator, clock, port } = await startAggregator(protocol, external.port);
      const material = aggregator.tlsMaterial();
      const tls: ExporterTlsOptions | undefined =
        protocol === 'tls' && material ? { ca: material.ca.certPem, cert: material.client.certPem, key: material.client.keyPem, servername: '127.0.0.1' } : undefined;
      const nodeA = node(port, 1, tls);
      const nodeB = node(port, 2, tls);
      const service = { destinationClusterIP: '10.96.0.20', destinationServicePort: 80, destinationServicePortName: 'shop/backend:http' };
      send(nodeB, fromDestinationNode());
      await nodeB.flush();
      await waitFor('the destination half', () => aggregator.metrics().recordsReceived === 1);
      send(nodeA, fromSourceNode(service));
      await nodeA.flush();
      await waitFor('the source half', () => aggregator.metrics().recordsReceived === 2);
      const m = aggregator.metrics();
      assert.equal(m.flowsCorrelated, 1);
      assert.equal(m.pendingCorrelation, 0);
      assert.equal(Object.values(m.connectionsPerExporter).reduce((a, b) => a + b, 0), 2);

      clock.advance(60_000);
      assert.equal(aggregator.tick(), 1);
      await waitFor('the aggregated record at the external collector', () => external.records.length === 1);
      const d = external.records[0];
      for (const f of AGGREGATOR_IPV4_TEMPLATE.fields) {
        const name = ieById(f.enterpriseId, f.elementId)?.name ?? '';
        assert.ok(name in d, `IE ${name} is in the exported record`);
      }
      const r = dataRecordToAggregatedFlowRecord(d);
      assert.equal(r.correlated, true);
      assert.equal(r.sourcePodName, 'frontend-7d9c8b6f5-abcde');
      assert.equal(r.destinationPodName, 'backend-5f6d7c8b9-xyz12');
      assert.equal(r.destinationClusterIP, '10.96.0.20');
      assert.equal(r.destinationServicePortName, 'shop/backend:http');
      assert.equal(r.ingressNetworkPolicyName, 'allow-frontend');
      assert.equal(r.egressNetworkPolicyName, 'allow-egress');
      assert.equal(r.fromSourceNode.packetTotalCount, 100);
      assert.equal(r.fromDestinationNode.packetTotalCount, 98);
      assert.equal(r.throughputFromSourceNode, 8_000);
      assert.equal(r.originalExporterAddress, '127.0.0.1');
      assert.equal(r.originalObservationDomainId, 1);
      assert.equal(aggregator.metrics().recordsExported, 1);
    });
  });
}

describe('aggregator transport edges', () => {
  it('refuses a TLS exporter without a valid client certificate', async () => {
    const external = await externalCollector();
    const { aggregator, port } = await startAggregator('tls', external.port);
    const material = aggregator.tlsMaterial();
    assert.ok(material);
    const intruder = node(port, 9, { ca: material.ca.certPem, servername: '127.0.0.1' });
    send(intruder, fromSourceNode());
    await waitFor('a refused handshake', () => (aggregator.metrics().collector.tlsHandshakeFailures ?? 0) >= 1);
    assert.equal(aggregator.metrics().recordsReceived, 0);
    await intruder.close();
  });

  it('keeps serving other exporters when one sends malformed bytes', async () => {
    const external = await externalCollector();
    const { aggregator, port } = await startAggregator('tcp', external.port);
    const good = node(port, 1);
    const bad = net.connect(port, '127.0.0.1');
    cleanups.push(() => void bad.destroy());
    bad.on('error', () => {});
    await new Promise<void>((resolve) => bad.once('connect', () => resolve()));
    bad.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await waitFor('the bad session to be counted', () => (aggregator.metrics().collector.badMessages ?? 0) >= 1);
    send(good, fromSourceNode());
    await good.flush();
    await waitFor('the good exporter record', () => aggregator.metrics().recordsReceived === 1);
    assert.equal(aggregator.metrics().flowsTracked, 1);
  });
});
