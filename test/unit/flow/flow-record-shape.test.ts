import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageDecoder, MessageWriter, ieById } from '../../../src/ipfix/index.js';
import {
  AGGREGATOR_TEMPLATES, EXPORTER_TEMPLATES, FLOW_RECORD_SHAPE, aggregatedFlowRecordToDataRecord, aggregatorTemplateId,
  dataRecordToFlowRecord, exporterTemplateId, flowRecordToDataRecord,
} from '../../../src/flow/ie-mapping.js';
import { aggregatedFlowRecord, clusterFlows, flowRecord, rng } from '../../fixtures/ipfix/flows.js';

function session(): { w: MessageWriter; d: MessageDecoder } {
  const w = new MessageWriter({ observationDomainId: 2 });
  for (const t of [...EXPORTER_TEMPLATES, ...AGGREGATOR_TEMPLATES]) w.addTemplate(t);
  const d = new MessageDecoder();
  for (const m of w.templateMessages()) d.decode(m);
  return { w, d };
}

describe('FLOW_RECORD_SHAPE (decoding straight into FlowRecords)', () => {
  for (const version of [4, 6] as const) {
    it(`gives the same FlowRecords as decode + dataRecordToFlowRecord, IPv${version}, exporter and aggregator templates`, () => {
      const { w, d } = session();
      const r = rng(20 + version);
      const flows = [...clusterFlows(r, 200, { ipVersion: version }), ...Array.from({ length: 50 }, () => flowRecord(r, version))];
      const messages = [
        ...w.encodeRecords(exporterTemplateId(version), flows.map(flowRecordToDataRecord)),
        ...w.encodeRecords(aggregatorTemplateId(version), Array.from({ length: 50 }, () => aggregatedFlowRecordToDataRecord(aggregatedFlowRecord(r, version)))),
      ];
      let n = 0;
      for (const m of messages) {
        const direct = d.decodeAs(m, FLOW_RECORD_SHAPE).dataSets.flatMap((s) => s.records);
        const mapped = d.decode(m).dataSets.flatMap((s) => s.records.map(dataRecordToFlowRecord));
        assert.deepEqual(direct, mapped);
        n += direct.length;
      }
      assert.equal(n, 300);
      // And the exporter's records come back as they were sent.
      const back = w.encodeRecords(exporterTemplateId(version), flows.map(flowRecordToDataRecord)).flatMap((m) => d.decodeAs(m, FLOW_RECORD_SHAPE).dataSets.flatMap((s) => s.records));
      assert.deepEqual(back, flows);
    });
  }

  it('builds DataRecords whose keys follow the template order (one hidden class per template)', () => {
    const r = rng(5);
    for (const version of [4, 6] as const) {
      const names = (t: (typeof EXPORTER_TEMPLATES)[number]) => t.fields.map((f) => ieById(f.enterpriseId, f.elementId)!.name);
      assert.deepEqual(Object.keys(flowRecordToDataRecord(flowRecord(r, version))), names(EXPORTER_TEMPLATES[version === 4 ? 0 : 1]));
      assert.deepEqual(Object.keys(aggregatedFlowRecordToDataRecord(aggregatedFlowRecord(r, version))), names(AGGREGATOR_TEMPLATES[version === 4 ? 0 : 1]));
    }
  });
});
