import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageWriter, type EncodeShape } from '../../../src/ipfix/index.js';
import {
  AGGREGATED_FLOW_RECORD_ENCODE_SHAPE, AGGREGATOR_TEMPLATES, aggregatedFlowRecordToDataRecord, aggregatorTemplateId,
} from '../../../src/flow/ie-mapping.js';
import type { AggregatedFlowRecord } from '../../../src/flow/record.js';
import { aggregatedFlowRecord, rng } from '../../fixtures/ipfix/flows.js';
import { ManualClock } from '../../../src/util/clock.js';

/** Two writers in the same state: one for encodeAs, one for encodeRecords of the mapped records. */
function writers(maxMessageSize?: number): [MessageWriter, MessageWriter] {
  const make = () => {
    const w = new MessageWriter({ observationDomainId: 9, clock: new ManualClock(1_700_000_000_000), ...(maxMessageSize === undefined ? {} : { maxMessageSize }) });
    for (const t of AGGREGATOR_TEMPLATES) w.addTemplate(t);
    return w;
  };
  return [make(), make()];
}

/** Records that cover the mapping's special cases: empty ClusterIP, exporter of either family or none. */
function records(version: 4 | 6, n: number, seed: number): AggregatedFlowRecord[] {
  const r = rng(seed);
  const exporters = ['192.168.77.3', 'fd00:77::3', ''];
  return Array.from({ length: n }, (_, i) => ({
    ...aggregatedFlowRecord(r, version),
    destinationClusterIP: i % 3 === 0 ? '' : version === 4 ? '10.96.0.10' : 'fd00:96::a',
    originalExporterAddress: exporters[i % 3],
    destinationServicePortName: i % 5 === 0 ? '' : `ns-${i}/svc-${i}:http`,
  }));
}

describe('MessageWriter.encodeAs with AGGREGATED_FLOW_RECORD_ENCODE_SHAPE', () => {
  for (const version of [4, 6] as const) {
    it(`writes the bytes of encodeRecords(map(aggregatedFlowRecordToDataRecord)), IPv${version} aggregator template`, () => {
      const [direct, mapped] = writers();
      const batch = records(version, 500, 40 + version);
      const a = direct.encodeAs(aggregatorTemplateId(version), batch, AGGREGATED_FLOW_RECORD_ENCODE_SHAPE);
      const b = mapped.encodeRecords(aggregatorTemplateId(version), batch.map(aggregatedFlowRecordToDataRecord));
      assert.equal(a.length, b.length);
      assert.ok(a.length >= 1);
      for (let i = 0; i < a.length; i++) assert.ok(a[i].equals(b[i]), `message ${i} differs`);
      assert.equal(direct.sequenceNumber, mapped.sequenceNumber);
      assert.equal(direct.sequenceNumber, 500);
    });

    it(`splits into the same messages as encodeRecords when records cross maxMessageSize, IPv${version}`, () => {
      const [direct, mapped] = writers(1400);
      const batch = records(version, 120, 50 + version);
      const a = direct.encodeAs(aggregatorTemplateId(version), batch, AGGREGATED_FLOW_RECORD_ENCODE_SHAPE);
      const b = mapped.encodeRecords(aggregatorTemplateId(version), batch.map(aggregatedFlowRecordToDataRecord));
      assert.ok(a.length > 1, 'the batch should need several 1400-byte messages');
      assert.deepEqual(a, b);
    });
  }

  it('refuses a bad value with the same coded error as encodeRecords, and moves no sequence number', () => {
    const [direct, mapped] = writers();
    const bad = { ...records(4, 1, 7)[0], fromSourceNode: { ...records(4, 1, 7)[0].fromSourceNode, packetDeltaCount: -1 } };
    const codeOf = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return (err as { code?: string; message: string }).code + ' ' + (err as Error).message;
      }
      return 'no error';
    };
    const a = codeOf(() => direct.encodeAs(aggregatorTemplateId(4), [bad], AGGREGATED_FLOW_RECORD_ENCODE_SHAPE));
    const b = codeOf(() => mapped.encodeRecords(aggregatorTemplateId(4), [aggregatedFlowRecordToDataRecord(bad)]));
    assert.match(a, /^IPFIX_ERR_VALUE_RANGE /);
    assert.equal(a, b);
    assert.equal(direct.sequenceNumber, 0);
  });

  it('names the field a shape leaves out (IPFIX_ERR_BAD_OPTION)', () => {
    const [w] = writers();
    const partial: EncodeShape<AggregatedFlowRecord> = { name: 'partial', sources: () => ({ flowStartSeconds: { path: ['flowStartSeconds'] } }) };
    assert.throws(() => w.encodeAs(aggregatorTemplateId(4), records(4, 1, 3), partial), (err: { code?: string; message: string }) =>
      err.code === 'IPFIX_ERR_BAD_OPTION' && err.message.includes('flowEndSeconds'));
  });

  it('throws IPFIX_ERR_UNKNOWN_TEMPLATE for a template the writer lacks, and recompiles after a template is replaced', () => {
    const [w] = writers();
    assert.throws(() => w.encodeAs(300, records(4, 1, 3), AGGREGATED_FLOW_RECORD_ENCODE_SHAPE), { code: 'IPFIX_ERR_UNKNOWN_TEMPLATE' });
    const batch = records(4, 3, 4);
    w.encodeAs(aggregatorTemplateId(4), batch, AGGREGATED_FLOW_RECORD_ENCODE_SHAPE);
    // Same template ID, fewer fields: the shaped writer must follow the new definition.
    const v4 = AGGREGATOR_TEMPLATES[0];
    w.addTemplate({ ...v4, fields: v4.fields.slice(0, 3) });
    const [m] = w.encodeAs(aggregatorTemplateId(4), batch, AGGREGATED_FLOW_RECORD_ENCODE_SHAPE);
    // header 16 + set header 4 + 3 x (flowStartSeconds 4, flowEndSeconds 4, flowEndReason 1)
    assert.equal(m.length, 16 + 4 + 3 * 9);
  });
});
