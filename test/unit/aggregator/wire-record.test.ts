// The aggregator's decode shape: IPv4 addresses as numbers for the 5-tuple key, the text only
// when a flow is exported. Records decoded this way must aggregate exactly like FlowRecords.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageDecoder, MessageWriter } from '../../../src/ipfix/index.js';
import { parseIpv4 } from '../../../src/ipfix/values.js';
import {
  EXPORTER_TEMPLATES, FLOW_RECORD_SHAPE, exporterTemplateId, flowRecordToDataRecord,
} from '../../../src/flow/ie-mapping.js';
import type { AggregatedFlowRecord, FlowRecord } from '../../../src/flow/record.js';
import { AggregationProcess, recordProblem } from '../../../src/aggregator/aggregation.js';
import { WIRE_FLOW_RECORD_SHAPE, hasIpv4Numbers, type WireFlowRecord } from '../../../src/aggregator/wire-record.js';
import { NODE_A, NODE_B, flowRecord, fromDestinationNode, fromSourceNode } from './fixtures.js';

/** The records as an exporter sends them, decoded with `shape` by a fresh session decoder. */
function overTheWire<T>(flows: FlowRecord[], shape: typeof FLOW_RECORD_SHAPE | typeof WIRE_FLOW_RECORD_SHAPE): T[] {
  const writer = new MessageWriter({ observationDomainId: 1 });
  for (const t of EXPORTER_TEMPLATES) writer.addTemplate(t);
  const decoder = new MessageDecoder();
  const out: T[] = [];
  for (const m of writer.templateMessages()) decoder.decode(m);
  for (const f of flows) {
    for (const m of writer.encodeRecords(exporterTemplateId(f.ipVersion), [flowRecordToDataRecord(f)])) {
      for (const set of decoder.decodeAs(m, shape).dataSets) out.push(...(set.records as T[]));
    }
  }
  return out;
}

function aggregate(records: FlowRecord[], from = [NODE_A, NODE_B]): AggregatedFlowRecord[] {
  const exported: AggregatedFlowRecord[] = [];
  const agg = new AggregationProcess({
    clock: { now: () => 0 }, activeTimeoutMs: 60_000, inactiveTimeoutMs: 90_000, correlationWaitMs: 10_000, maxFlows: 100,
    onExport: (r) => exported.push(r),
  });
  records.forEach((r, i) => assert.equal(agg.ingest(r, from[i % from.length]), true, recordProblem(r)));
  agg.flush();
  return exported;
}

describe('WIRE_FLOW_RECORD_SHAPE', () => {
  const flows = [
    fromSourceNode({ sourceAddress: '10.10.0.5', destinationAddress: '255.255.255.254', destinationClusterIP: '10.96.0.10' }),
    fromDestinationNode({ sourceAddress: '10.10.0.5', destinationAddress: '255.255.255.254' }),
    flowRecord({ sourceAddress: '0.0.0.0', destinationAddress: '10.1.2.3', sourceTransportPort: 1 }),
    fromSourceNode({ sourceAddress: 'fd00:10:10::5', destinationAddress: 'fd00:10:11::7', ipVersion: 6 }),
  ];

  it('gives IPv4 addresses as their 32-bit values and leaves their text empty; IPv6 records keep their text', () => {
    const wire = overTheWire<WireFlowRecord>(flows, WIRE_FLOW_RECORD_SHAPE);
    const text = overTheWire<FlowRecord>(flows, FLOW_RECORD_SHAPE);
    assert.equal(wire.length, flows.length);
    for (let i = 0; i < flows.length; i++) {
      const { sourceIPv4, destinationIPv4, ...rest } = wire[i];
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
    assert.deepEqual(aggregate(overTheWire<WireFlowRecord>(flows, WIRE_FLOW_RECORD_SHAPE)), aggregate(flows));
    assert.equal(aggregate(flows)[0].destinationAddress, '255.255.255.254');
  });

  it('refuses a numeric record without an address, naming the missing IE', () => {
    const [r] = overTheWire<WireFlowRecord>([flows[0]], WIRE_FLOW_RECORD_SHAPE);
    const agg = new AggregationProcess({
      clock: { now: () => 0 }, activeTimeoutMs: 1, inactiveTimeoutMs: 1, correlationWaitMs: 1, maxFlows: 10, onExport: () => {},
    });
    const noDestination = { ...r, destinationIPv4: -1 };
    assert.equal(agg.ingest(noDestination, NODE_A), false);
    assert.match(recordProblem(noDestination), /destinationIPv4Address is missing/);
    const noSource: WireFlowRecord = { ...r, sourceIPv4: -1 };
    assert.match(recordProblem(noSource), /sourceIPv4Address is missing/);
    assert.equal(recordProblem(r), '');
    assert.equal(agg.stats().recordsInvalid, 1);
  });
});
