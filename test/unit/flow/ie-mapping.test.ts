import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageDecoder, MessageWriter, ieById } from '../../../src/ipfix/index.js';
import {
  AGGREGATOR_IPV4_TEMPLATE, AGGREGATOR_IPV6_TEMPLATE, AGGREGATOR_TEMPLATES, EXPORTER_IPV4_TEMPLATE, EXPORTER_IPV6_TEMPLATE, EXPORTER_TEMPLATES,
  aggregatedFlowRecordToDataRecord, aggregatorTemplateId, dataRecordToAggregatedFlowRecord, dataRecordToFlowRecord, exporterTemplateId,
  flowRecordToDataRecord,
} from '../../../src/flow/ie-mapping.js';
import { aggregatedFlowRecord, flowRecord, rng } from '../../fixtures/ipfix/flows.js';

function names(def: { fields: readonly { enterpriseId: number; elementId: number }[] }): string[] {
  return def.fields.map((f) => ieById(f.enterpriseId, f.elementId)!.name);
}

describe('FlowRecord <-> IPFIX mapping', () => {
  it('exporter templates carry the reference IEs with per-family addresses', () => {
    const v4 = names(EXPORTER_IPV4_TEMPLATE);
    const v6 = names(EXPORTER_IPV6_TEMPLATE);
    assert.equal(EXPORTER_IPV4_TEMPLATE.templateId, 256);
    assert.equal(EXPORTER_IPV6_TEMPLATE.templateId, 257);
    assert.equal(v4.length, 37);
    assert.equal(new Set(v4).size, v4.length);
    for (const n of ['sourceIPv4Address', 'destinationIPv4Address', 'destinationClusterIPv4', 'reverseOctetDeltaCount', 'flowType', 'tcpState']) assert.ok(v4.includes(n), n);
    for (const n of ['sourceIPv6Address', 'destinationIPv6Address', 'destinationClusterIPv6']) assert.ok(v6.includes(n) && !v4.includes(n), n);
  });

  it('aggregator templates add the per-Node counters, throughputs, per-Node flowEnd and original exporter IEs', () => {
    const v4 = names(AGGREGATOR_IPV4_TEMPLATE);
    assert.equal(AGGREGATOR_IPV4_TEMPLATE.templateId, 258);
    assert.equal(AGGREGATOR_IPV6_TEMPLATE.templateId, 259);
    for (const id of [...Array.from({ length: 16 }, (_, i) => 120 + i), 145, 146, 147, 148, 149, 150, 151, 152]) assert.ok(v4.includes(ieById(56506, id)!.name), `56506/${id}`);
    for (const id of [403, 404, 405]) assert.ok(v4.includes(ieById(0, id)!.name), `0/${id}`);
    assert.ok(names(AGGREGATOR_IPV6_TEMPLATE).includes('sourceIPv6Address'));
  });

  for (const version of [4, 6] as const) {
    it(`round-trips IPv${version} FlowRecords through writer and decoder`, () => {
      const r = rng(version);
      const records = Array.from({ length: 50 }, () => flowRecord(r, version));
      const w = new MessageWriter({ observationDomainId: 5, maxMessageSize: 1400 });
      for (const t of EXPORTER_TEMPLATES) w.addTemplate(t);
      const d = new MessageDecoder();
      for (const m of w.templateMessages()) d.decode(m);
      const messages = w.encodeRecords(exporterTemplateId(version), records.map(flowRecordToDataRecord));
      const back = messages.flatMap((m) => d.decode(m).dataSets.flatMap((s) => s.records.map(dataRecordToFlowRecord)));
      assert.deepEqual(back, records);
      assert.ok(records.some((x) => x.destinationClusterIP === ''), 'covers "no ClusterIP"');
    });

    it(`round-trips IPv${version} AggregatedFlowRecords`, () => {
      const r = rng(10 + version);
      const records = Array.from({ length: 20 }, () => aggregatedFlowRecord(r, version));
      const w = new MessageWriter({ observationDomainId: 5 });
      for (const t of AGGREGATOR_TEMPLATES) w.addTemplate(t);
      const d = new MessageDecoder();
      for (const m of w.templateMessages()) d.decode(m);
      const messages = w.encodeRecords(aggregatorTemplateId(version), records.map(aggregatedFlowRecordToDataRecord));
      const back = messages.flatMap((m) => d.decode(m).dataSets.flatMap((s) => s.records.map(dataRecordToAggregatedFlowRecord)));
      assert.deepEqual(back, records);
    });
  }

  it('reads missing IEs as 0 and empty text', () => {
    const f = dataRecordToFlowRecord({ sourceIPv4Address: '10.0.0.1', octetDeltaCount: 12n });
    assert.equal(f.ipVersion, 4);
    assert.equal(f.sourceAddress, '10.0.0.1');
    assert.equal(f.destinationAddress, '');
    assert.equal(f.octetDeltaCount, 12);
    assert.equal(f.packetDeltaCount, 0);
    assert.equal(f.sourcePodName, '');
    const a = dataRecordToAggregatedFlowRecord({ flowType: 2, flowEndSecondsFromSourceNode: 5 });
    assert.equal(a.correlated, false, 'an inter-node flow seen from one side only');
    assert.equal(a.originalExporterAddress, '');
  });

  it('sends an IPv6 original exporter in an IPv4 flow record', () => {
    const r = aggregatedFlowRecord(rng(99), 4);
    r.originalExporterAddress = 'fd00::7';
    const d = aggregatedFlowRecordToDataRecord(r);
    assert.equal(d.originalExporterIPv4Address, '0.0.0.0');
    assert.equal(d.originalExporterIPv6Address, 'fd00::7');
    assert.equal(dataRecordToAggregatedFlowRecord(d).originalExporterAddress, 'fd00::7');
  });
});
