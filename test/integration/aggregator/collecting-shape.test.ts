// The collecting process's decodeAs option, as the aggregator uses it: exporter records arrive
// as FlowRecords, equal to decoding DataRecords and mapping them, for both address families.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CollectingProcess, resolveCollectingOptions } from '../../../src/transport/collecting-process.js';
import { ExportingProcess } from '../../../src/transport/exporting-process.js';
import { EXPORTER_TEMPLATES, FLOW_RECORD_SHAPE, dataRecordToFlowRecord, exporterTemplateId, flowRecordToDataRecord } from '../../../src/flow/ie-mapping.js';
import type { DataRecord } from '../../../src/ipfix/api.js';
import type { FlowRecord } from '../../../src/flow/record.js';
import { fromDestinationNode, fromSourceNode } from '../../unit/aggregator/fixtures.js';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function waitFor(what: string, condition: () => boolean): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (condition()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
}

async function send(port: number, flows: FlowRecord[]): Promise<void> {
  const exporter = new ExportingProcess({ host: '127.0.0.1', port, protocol: 'tcp', observationDomainId: 7, templates: EXPORTER_TEMPLATES });
  exporter.start();
  for (const f of flows) exporter.send(exporterTemplateId(f.ipVersion), [flowRecordToDataRecord(f)]);
  await exporter.flush();
  await exporter.close();
}

describe('CollectingProcess decodeAs', () => {
  const flows: FlowRecord[] = [
    fromSourceNode({ destinationClusterIP: '10.96.0.10', destinationServicePort: 80, destinationServicePortName: 'shop/backend:http' }),
    fromDestinationNode({ sourceAddress: 'fd00:10:10::5', destinationAddress: 'fd00:10:11::7', ipVersion: 6, packetTotalCount: 2 ** 40 }),
  ];

  it('delivers FlowRecords equal to the DataRecords mapped by dataRecordToFlowRecord', async () => {
    const shaped = new CollectingProcess<FlowRecord>({ protocol: 'tcp', host: '127.0.0.1', port: 0, decodeAs: FLOW_RECORD_SHAPE });
    const plain = new CollectingProcess({ protocol: 'tcp', host: '127.0.0.1', port: 0 });
    for (const c of [shaped, plain]) {
      await c.start();
      cleanups.push(() => c.close());
    }
    const got: FlowRecord[] = [];
    const raw: DataRecord[] = [];
    shaped.onMessage((m) => {
      for (const set of m.message.dataSets) got.push(...set.records);
    });
    plain.onMessage((m) => {
      for (const set of m.message.dataSets) raw.push(...set.records);
    });
    await send(shaped.address().port, flows);
    await send(plain.address().port, flows);
    await waitFor('both collectors to get every record', () => got.length === flows.length && raw.length === flows.length);
    assert.deepEqual(got, raw.map(dataRecordToFlowRecord));
    assert.deepEqual(got, flows);
    assert.equal(shaped.stats().recordsReceived, flows.length);
  });

  it('with reuseRecords, hands the handler the same records, each message read into the objects of the one before', async () => {
    const reusing = new CollectingProcess<FlowRecord>({ protocol: 'tcp', host: '127.0.0.1', port: 0, decodeAs: FLOW_RECORD_SHAPE, reuseRecords: true });
    await reusing.start();
    cleanups.push(() => reusing.close());
    const copies: FlowRecord[] = [];
    const objects: FlowRecord[] = [];
    reusing.onMessage((m) => {
      for (const set of m.message.dataSets) {
        for (const r of set.records) {
          copies.push({ ...r });
          objects.push(r);
        }
      }
    });
    const many = [flows[0], { ...flows[0], sourceTransportPort: 1 }, { ...flows[0], sourceTransportPort: 2, sourcePodName: 'other-pod' }];
    // One message each: the exporting process is flushed after each record.
    const exporter = new ExportingProcess({ host: '127.0.0.1', port: reusing.address().port, protocol: 'tcp', observationDomainId: 7, templates: EXPORTER_TEMPLATES });
    exporter.start();
    for (const f of many) {
      exporter.send(exporterTemplateId(f.ipVersion), [flowRecordToDataRecord(f)]);
      await exporter.flush();
    }
    await exporter.close();
    await waitFor('every record', () => copies.length === many.length);
    assert.equal(reusing.stats().messagesReceived >= 4, true, 'templates and three data messages');
    assert.deepEqual(copies, many, 'each record as sent while the handler ran');
    assert.equal(objects[0], objects[2], 'one object, overwritten by later messages');
    assert.deepEqual(objects[0], many[2]);
  });

  it('refuses a reuseRecords that is not a boolean', () => {
    assert.throws(
      () => resolveCollectingOptions({ protocol: 'tcp', port: 0, decodeAs: FLOW_RECORD_SHAPE, reuseRecords: 'yes' as unknown as boolean }),
      (err: Error & { code?: string }) => err.code === 'TRANSPORT_ERR_INVALID_OPTION' && /reuseRecords must be true or false/.test(err.message),
    );
  });

  it('refuses a decodeAs that is not a record shape, saying what to pass', () => {
    assert.throws(
      () => resolveCollectingOptions({ protocol: 'tcp', port: 0, decodeAs: {} as typeof FLOW_RECORD_SHAPE }),
      (err: Error & { code?: string }) => err.code === 'TRANSPORT_ERR_INVALID_OPTION' && /RecordShape/.test(err.message),
    );
  });
});
