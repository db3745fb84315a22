// The aggregation's direct export path (onExportEncoded): IPv4 flows leave as aggregator IPv4
// data records written straight from their slots. Every record must be byte for byte what the
// IPFIX sink writes for the AggregatedFlowRecord of the same flow (MessageWriter.encodeAs with
// AGGREGATED_FLOW_RECORD_ENCODE_SHAPE), and what the IPv4 template cannot carry as it is must
// still come out as objects.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageDecoder, MessageWriter } from '../../../src/ipfix/index.js';
import type { EncodedRecords } from '../../../src/ipfix/writer.js';
import {
  AGGREGATED_FLOW_RECORD_ENCODE_SHAPE, AGGREGATOR_IPV4_TEMPLATE_ID, AGGREGATOR_TEMPLATES, EXPORTER_TEMPLATES,
  dataRecordToAggregatedFlowRecord, exporterTemplateId, flowRecordToDataRecord,
} from '../../../src/flow/ie-mapping.js';
import { FlowType, type AggregatedFlowRecord, type FlowRecord } from '../../../src/flow/record.js';
import { AggregationProcess, recordProblem, type ExporterSession } from '../../../src/aggregator/aggregation.js';
import type { WireFlowRecord } from '../../../src/aggregator/wire-record.js';
import { ManualClock } from '../../../src/util/clock.js';
import { NODE_A, NODE_B, T0, flowRecord, fromDestinationNode, fromSourceNode } from './fixtures.js';

interface Run {
  /** Records that left as objects (onExport), in order. */
  objects: AggregatedFlowRecord[];
  /** Batches that left encoded (onExportEncoded), in order. */
  batches: EncodedRecords[];
}

/**
 * Sends each step's flows over the wire (exporter templates, one message per flow, decoded with
 * the aggregation's wire shape so that names come in as bytes), then steps the clock and
 * expires; at the end flushes. `encoded`: with onExportEncoded.
 */
function run(steps: { flows: [FlowRecord, ExporterSession][]; advanceMs: number }[], encoded: boolean): Run {
  const clock = new ManualClock(T0 * 1000);
  const out: Run = { objects: [], batches: [] };
  const agg = new AggregationProcess({
    clock, activeTimeoutMs: 60_000, inactiveTimeoutMs: 90_000, correlationWaitMs: 10_000, maxFlows: 1000,
    onExport: (r) => out.objects.push(r),
    ...(encoded ? { onExportEncoded: (b: EncodedRecords) => out.batches.push(b) } : {}),
  });
  const writer = new MessageWriter({ observationDomainId: 1 });
  for (const t of EXPORTER_TEMPLATES) writer.addTemplate(t);
  const decoder = new MessageDecoder();
  for (const m of writer.templateMessages()) decoder.decode(m);
  for (const step of steps) {
    for (const [f, from] of step.flows) {
      for (const m of writer.encodeRecords(exporterTemplateId(f.ipVersion), [flowRecordToDataRecord(f)])) {
        for (const set of decoder.decodeAs(m, agg.wireShape).dataSets) {
          for (const r of set.records as WireFlowRecord[]) assert.equal(agg.ingestWire(r, from), true, recordProblem(r));
        }
      }
      agg.sweep();
    }
    clock.advance(step.advanceMs);
    agg.expire();
  }
  agg.flush();
  return out;
}

/** The bytes of each data record in messages of the aggregator IPv4 template. */
function recordBytes(messages: Buffer[], lengths: number[]): Buffer[] {
  const out: Buffer[] = [];
  let k = 0;
  for (const m of messages) {
    let p = 20;
    while (p < m.length) {
      out.push(m.subarray(p, p + lengths[k]));
      p += lengths[k++];
    }
  }
  return out;
}

function batchRecords(batches: EncodedRecords[]): Buffer[] {
  const out: Buffer[] = [];
  for (const b of batches) for (let i = 0; i < b.count; i++) out.push(b.bytes.subarray(i === 0 ? 0 : b.ends[i - 1], b.ends[i]));
  return out;
}

/** What the IPFIX sink writes for each record on its own: encodeAs, one message per record. */
function sinkBytes(records: AggregatedFlowRecord[]): Buffer[] {
  const writer = new MessageWriter({ observationDomainId: 0 });
  for (const t of AGGREGATOR_TEMPLATES) writer.addTemplate(t);
  return records.map((r) => writer.encodeAs(AGGREGATOR_IPV4_TEMPLATE_ID, [r], AGGREGATED_FLOW_RECORD_ENCODE_SHAPE)[0].subarray(20));
}

const LONG_NAME = `very-long-deployment-name-${'x'.repeat(60)}`; // beyond the string table's 64-byte byte index
const UTF8_NAME = 'café-frontend-ü'; // not ASCII: written from its text

/** A day of traffic for two nodes: every kind of flow, re-reports, partners late and never. */
function scenario(): { flows: [FlowRecord, ExporterSession][]; advanceMs: number }[] {
  const intra = (i: number, extra: Partial<FlowRecord> = {}) =>
    flowRecord({
      sourceAddress: `10.1.0.${i}`, destinationAddress: `10.1.1.${i}`, sourceTransportPort: 40_000 + i, flowType: FlowType.intraNode,
      sourcePodNamespace: 'ns', sourcePodName: `client-${i}`, destinationPodNamespace: 'ns', destinationPodName: `server-${i}`,
      sourceNodeName: 'node-a', destinationNodeName: 'node-a', ...extra,
    });
  const inter = (i: number) => ({ sourceAddress: `10.2.0.${i}`, destinationAddress: `10.2.1.${i}`, sourceTransportPort: 50_000 + i });
  return [
    {
      flows: [
        [intra(1), NODE_A],
        [intra(2, { sourcePodName: LONG_NAME, destinationPodName: UTF8_NAME, tcpState: 'SYN' }), NODE_A],
        [intra(3, { destinationClusterIP: '10.96.0.10', destinationServicePort: 80, destinationServicePortName: 'ns/svc:http' }), NODE_A],
        [intra(4, { sourcePodName: 'ab', destinationPodName: 'x' }), NODE_A], // names shorter than a word
        [fromSourceNode(inter(1)), NODE_A],
        [fromDestinationNode(inter(1)), NODE_B],
        [fromDestinationNode(inter(2)), NODE_B], // destination half first
        [fromSourceNode(inter(2)), NODE_A],
        [fromSourceNode(inter(3)), NODE_A], // its partner never comes: exported uncorrelated
        [fromSourceNode(inter(4)), { address: 'fd00::10', observationDomainId: 7 }], // IPv6 exporter: an object
        [intra(6, { ipVersion: 6, sourceAddress: 'fd00::1', destinationAddress: 'fd00::2' }), NODE_A], // IPv6 flow: an object
        [intra(7), { address: '', observationDomainId: 0 }], // no exporter address: 0.0.0.0
      ],
      advanceMs: 61_000,
    },
    {
      // Re-reports with grown counters after the first export (deltas since it).
      flows: [
        [intra(1, { packetTotalCount: 300, octetTotalCount: 30_000, flowEndSeconds: T0 + 70 }), NODE_A],
        [fromSourceNode({ ...inter(1), packetTotalCount: 250, octetTotalCount: 25_000, flowEndSeconds: T0 + 70 }), NODE_A],
        [fromDestinationNode({ ...inter(3), packetTotalCount: 90, flowEndSeconds: T0 + 71 }), NODE_B], // late partner
      ],
      advanceMs: 61_000,
    },
    { flows: [[intra(8, { sourcePodName: 'client-1' }), NODE_A]], advanceMs: 1_000 },
  ];
}

describe('aggregation encoded export (onExportEncoded)', () => {
  it('writes every IPv4 record byte for byte as the IPFIX sink writes the same flow as an object', () => {
    const direct = run(scenario(), true);
    const objects = run(scenario(), false);
    assert.equal(direct.objects.length, 2, 'the IPv6 exporter and the IPv6 flow leave as objects');
    const viaObjects = objects.objects.filter((r) => !direct.objects.some((o) => sameFlow(o, r)));
    const encoded = batchRecords(direct.batches);
    assert.ok(encoded.length >= 12, `${encoded.length} encoded records`);
    assert.equal(encoded.length, viaObjects.length);
    const expected = sinkBytes(viaObjects);
    for (let i = 0; i < encoded.length; i++) {
      assert.deepEqual(encoded[i], expected[i], `record ${i}: ${JSON.stringify(viaObjects[i]).slice(0, 200)}`);
    }
    // The objects that still leave as objects are the object path's own.
    assert.deepEqual(direct.objects, objects.objects.filter((r) => direct.objects.some((o) => sameFlow(o, r))));
  });

  it('frames batches into messages that decode to the records of the object path, with running sequence numbers', () => {
    const direct = run(scenario(), true);
    const objects = run(scenario(), false).objects.filter((r) => !direct.objects.some((o) => sameFlow(o, r)));
    const writer = new MessageWriter({ observationDomainId: 0, maxMessageSize: 600 }); // a few records per message
    for (const t of AGGREGATOR_TEMPLATES) writer.addTemplate(t);
    const decoder = new MessageDecoder();
    for (const m of writer.templateMessages()) decoder.decode(m);
    const decoded: AggregatedFlowRecord[] = [];
    let expectedSeq = 0;
    let messages = 0;
    for (const batch of direct.batches) {
      for (const m of writer.encodeEncoded(batch)) {
        const d = decoder.decode(m);
        assert.equal(d.header.sequenceNumber, expectedSeq);
        for (const set of d.dataSets) {
          expectedSeq += set.records.length;
          for (const r of set.records) decoded.push(dataRecordToAggregatedFlowRecord(r));
        }
        messages++;
      }
    }
    assert.ok(messages > direct.batches.length, 'records were split over several messages');
    assert.equal(writer.sequenceNumber, objects.length);
    assert.deepEqual(decoded, objects.map((r) => dataRecordToAggregatedFlowRecord(flatten(r))));
  });

  it('sends a record whose ClusterIP is not IPv4 as an object, as the object path would (the sink then refuses it)', () => {
    const objects: AggregatedFlowRecord[] = [];
    const batches: EncodedRecords[] = [];
    const agg = new AggregationProcess({
      clock: new ManualClock(), activeTimeoutMs: 60_000, inactiveTimeoutMs: 90_000, correlationWaitMs: 10_000, maxFlows: 10,
      onExport: (r) => objects.push(r), onExportEncoded: (b) => batches.push(b),
    });
    agg.ingest(flowRecord({ flowType: FlowType.intraNode, destinationClusterIP: 'fd00::96' }), NODE_A);
    agg.ingest(flowRecord({ flowType: FlowType.intraNode, sourceTransportPort: 1, destinationClusterIP: '10.96.0.1' }), NODE_A);
    agg.ingest(flowRecord({ flowType: FlowType.intraNode, sourceTransportPort: 2, packetTotalCount: 1.5 }), NODE_A);
    assert.equal(agg.flush(), 3);
    assert.deepEqual(objects.map((r) => [r.destinationClusterIP, r.packetTotalCount]), [['fd00::96', 100], ['', 1.5]], 'a fractional counter too');
    assert.deepEqual(batches.map((b) => b.count), [1]);
  });

  it('hands the open batch over at the end of every expire, flush and sweep, never holding records across them', () => {
    const batches: EncodedRecords[] = [];
    const clock = new ManualClock(T0 * 1000);
    const agg = new AggregationProcess({
      clock, activeTimeoutMs: 60_000, inactiveTimeoutMs: 90_000, correlationWaitMs: 10_000, maxFlows: 2,
      onExport: () => assert.fail('IPv4 records go encoded'),
      onExportEncoded: (b) => batches.push(b),
    });
    const intra = (i: number) => flowRecord({ sourceAddress: `10.3.0.${i}`, flowType: FlowType.intraNode, sourcePodName: `p-${i}` });
    agg.ingest(intra(1), NODE_A);
    agg.ingest(intra(2), NODE_A);
    agg.ingest(intra(3), NODE_A); // evicts one: exported during ingest
    assert.equal(agg.stats().evictions, 1);
    assert.equal(batches.length, 0, 'held until the message is done');
    agg.sweep();
    assert.deepEqual(batches.map((b) => b.count), [1]);
    clock.advance(61_000);
    assert.equal(agg.expire(), 2);
    assert.deepEqual(batches.map((b) => b.count), [1, 2]);
    agg.ingest(intra(4), NODE_A); // evicts another
    assert.equal(agg.flush(), 1);
    assert.deepEqual(batches.map((b) => b.count), [1, 2, 2], 'the eviction and the flushed flow');
    assert.equal(agg.stats().recordsExported, 5);
  });
});

function sameFlow(a: AggregatedFlowRecord, b: AggregatedFlowRecord): boolean {
  return a.sourceAddress === b.sourceAddress && a.destinationAddress === b.destinationAddress && a.sourceTransportPort === b.sourceTransportPort &&
    a.flowEndSeconds === b.flowEndSeconds && a.packetTotalCount === b.packetTotalCount;
}

/** The record as the aggregator template carries it (to read `correlated` back as a collector does). */
function flatten(r: AggregatedFlowRecord) {
  const w = new MessageWriter({ observationDomainId: 0 });
  for (const t of AGGREGATOR_TEMPLATES) w.addTemplate(t);
  const d = new MessageDecoder();
  for (const m of w.templateMessages()) d.decode(m);
  return d.decode(w.encodeAs(AGGREGATOR_IPV4_TEMPLATE_ID, [r], AGGREGATED_FLOW_RECORD_ENCODE_SHAPE)[0]).dataSets[0].records[0];
}
