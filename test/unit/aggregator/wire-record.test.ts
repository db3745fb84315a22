// The aggregator's decode shape: IPv4 addresses as numbers for the 5-tuple key, the text only
// when a flow is exported; names as ids of the aggregation's string table. Records decoded this
// way must aggregate exactly like FlowRecords.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageDecoder, MessageWriter } from '../../../src/ipfix/index.js';
import { parseIpv4 } from '../../../src/ipfix/values.js';
import {
  EXPORTER_TEMPLATES, FLOW_RECORD_SHAPE, exporterTemplateId, flowRecordToDataRecord,
} from '../../../src/flow/ie-mapping.js';
import type { AggregatedFlowRecord, FlowRecord } from '../../../src/flow/record.js';
import { AggregationProcess, recordProblem } from '../../../src/aggregator/aggregation.js';
import { NAME_FIELDS, hasIpv4Numbers, type WireFlowRecord } from '../../../src/aggregator/wire-record.js';
import type { RecordShape } from '../../../src/ipfix/template.js';
import { NODE_A, NODE_B, flowRecord, fromDestinationNode, fromSourceNode } from './fixtures.js';

/** The records as an exporter sends them, decoded with `shape` by a fresh session decoder. */
function overTheWire<T>(flows: FlowRecord[], shape: RecordShape<T>): T[] {
  const writer = new MessageWriter({ observationDomainId: 1 });
  for (const t of EXPORTER_TEMPLATES) writer.addTemplate(t);
  const decoder = new MessageDecoder();
  const out: T[] = [];
  for (const m of writer.templateMessages()) decoder.decode(m);
  for (const f of flows) {
    for (const m of writer.encodeRecords(exporterTemplateId(f.ipVersion), [flowRecordToDataRecord(f)])) {
      for (const set of decoder.decodeAs(m, shape).dataSets) out.push(...set.records);
    }
  }
  return out;
}

function newAggregation(exported: AggregatedFlowRecord[] = []): AggregationProcess {
  return new AggregationProcess({
    clock: { now: () => 0 }, activeTimeoutMs: 60_000, inactiveTimeoutMs: 90_000, correlationWaitMs: 10_000, maxFlows: 100,
    onExport: (r) => exported.push(r),
  });
}

function aggregate(records: FlowRecord[], from = [NODE_A, NODE_B]): AggregatedFlowRecord[] {
  const exported: AggregatedFlowRecord[] = [];
  const agg = newAggregation(exported);
  records.forEach((r, i) => assert.equal(agg.ingest(r, from[i % from.length]), true, recordProblem(r)));
  agg.flush();
  return exported;
}

/**
 * The flows sent one message each, as the service takes them: each message decoded with the
 * aggregation's wire shape, its records ingested, then a sweep.
 */
function aggregateWire(flows: FlowRecord[], from = [NODE_A, NODE_B]): AggregatedFlowRecord[] {
  const exported: AggregatedFlowRecord[] = [];
  const agg = newAggregation(exported);
  flows.forEach((f, i) => {
    for (const r of overTheWire<WireFlowRecord>([f], agg.wireShape)) {
      assert.equal(agg.ingestWire(r, from[i % from.length]), true, recordProblem(r));
    }
    agg.sweep();
  });
  agg.flush();
  return exported;
}

describe('wireFlowRecordShape', () => {
  const flows = [
    fromSourceNode({ sourceAddress: '10.10.0.5', destinationAddress: '255.255.255.254', destinationClusterIP: '10.96.0.10' }),
    fromDestinationNode({ sourceAddress: '10.10.0.5', destinationAddress: '255.255.255.254' }),
    flowRecord({ sourceAddress: '0.0.0.0', destinationAddress: '10.1.2.3', sourceTransportPort: 1 }),
    fromSourceNode({ sourceAddress: 'fd00:10:10::5', destinationAddress: 'fd00:10:11::7', ipVersion: 6 }),
  ];

  it('gives IPv4 addresses as their 32-bit values and leaves their text empty; IPv6 records keep their text; names as ids', () => {
    const agg = newAggregation();
    const strings = (agg as unknown as { table: { strings: { get(id: number): string } } }).table.strings;
    const wire = overTheWire<WireFlowRecord>(flows, agg.wireShape);
    const text = overTheWire<FlowRecord>(flows, FLOW_RECORD_SHAPE);
    assert.equal(wire.length, flows.length);
    for (let i = 0; i < flows.length; i++) {
      const { sourceIPv4, destinationIPv4, ...withIds } = wire[i];
      // Each name is the id of its text in the aggregation's string table ('' is 0).
      const rest: Record<string, unknown> = { ...withIds };
      for (const f of NAME_FIELDS) {
        const id = rest[`${f}Id`] as number;
        assert.equal(id === 0, text[i][f] === '', f);
        rest[f] = strings.get(id);
        delete rest[`${f}Id`];
      }
      if (flows[i].ipVersion === 4) {
        assert.equal(hasIpv4Numbers(wire[i]), true);
        assert.equal(sourceIPv4, parseIpv4(flows[i].sourceAddress));
        assert.equal(destinationIPv4, parseIpv4(flows[i].destinationAddress));
        assert.deepEqual({ ...rest, sourceAddress: text[i].sourceAddress, destinationAddress: text[i].destinationAddress }, text[i]);
        assert.equal(rest.sourceAddress, '');
      } else {
        assert.equal(sourceIPv4, -1);
        assert.equal(destinationIPv4, -1);
        assert.deepEqual(rest, text[i]);
      }
    }
    assert.equal(wire[0].destinationIPv4, 0xfffffffe);
    assert.equal(wire[2].sourceIPv4, 0);
  });

  it('aggregates into the same records as the FlowRecords they came from', () => {
    assert.deepEqual(aggregateWire(flows), aggregate(flows));
    assert.equal(aggregate(flows)[0].destinationAddress, '255.255.255.254');
  });

  it('refuses a numeric record without an address, naming the missing IE', () => {
    const agg = new AggregationProcess({
      clock: { now: () => 0 }, activeTimeoutMs: 1, inactiveTimeoutMs: 1, correlationWaitMs: 1, maxFlows: 10, onExport: () => {},
    });
    const [r] = overTheWire<WireFlowRecord>([flows[0]], agg.wireShape);
    const noDestination = { ...r, destinationIPv4: -1 };
    assert.equal(agg.ingestWire(noDestination, NODE_A), false);
    assert.match(recordProblem(noDestination), /destinationIPv4Address is missing/);
    const noSource: WireFlowRecord = { ...r, sourceIPv4: -1 };
    assert.match(recordProblem(noSource), /sourceIPv4Address is missing/);
    assert.equal(recordProblem(r), '');
    assert.equal(agg.stats().recordsInvalid, 1);
  });

  it("keeps a message's name ids valid while an earlier record of it frees the last flow naming one", () => {
    // maxFlows 1: each new flow evicts the previous one. The first record evicts the only flow
    // naming solo-pod and, from a new exporter address, interns that address; the second record
    // of the same message names solo-pod by the id decoded before the eviction.
    const exported: AggregatedFlowRecord[] = [];
    const agg = new AggregationProcess({
      clock: { now: () => 0 }, activeTimeoutMs: 60_000, inactiveTimeoutMs: 90_000, correlationWaitMs: 10_000, maxFlows: 1,
      onExport: (r) => exported.push(r),
    });
    const writer = new MessageWriter({ observationDomainId: 1 });
    for (const t of EXPORTER_TEMPLATES) writer.addTemplate(t);
    const decoder = new MessageDecoder();
    for (const m of writer.templateMessages()) decoder.decode(m);
    const ingestMessage = (flows: FlowRecord[], from: typeof NODE_A) => {
      const [m] = writer.encodeRecords(exporterTemplateId(4), flows.map(flowRecordToDataRecord));
      for (const set of decoder.decodeAs(m, agg.wireShape).dataSets) for (const r of set.records) assert.equal(agg.ingestWire(r, from), true);
      agg.sweep();
    };
    const intra = (port: number, pod: string) =>
      flowRecord({ flowType: 1, sourceTransportPort: port, sourcePodName: pod, sourcePodNamespace: 'ns', destinationPodName: 'server' });
    ingestMessage([intra(1, 'solo-pod')], NODE_A);
    ingestMessage([intra(2, 'new-pod'), intra(3, 'solo-pod')], NODE_B);
    agg.flush();
    assert.deepEqual(exported.map((r) => [r.sourceTransportPort, r.sourcePodName, r.originalExporterAddress]), [
      [1, 'solo-pod', NODE_A.address],
      [2, 'new-pod', NODE_B.address],
      [3, 'solo-pod', NODE_B.address],
    ]);
  });
});
