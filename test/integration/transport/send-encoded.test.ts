// ExportingProcess.sendEncoded: batches of records encoded already are framed with the
// process's sequence numbers and reach the collector; what the queue cannot hold is dropped and
// counted; each batch's memory is released to its encoder once framed or dropped; the memory
// the messages are framed into is reused only once the socket has written them.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { CollectingProcess } from '../../../src/transport/collecting-process.js';
import { ExportingProcess } from '../../../src/transport/exporting-process.js';
import type { DataRecord, TemplateDefinition } from '../../../src/ipfix/api.js';
import { RecordBatchEncoder, type EncodedRecords } from '../../../src/ipfix/writer.js';
import { waitFor } from './fixtures.js';

const DEF: TemplateDefinition = {
  templateId: 256,
  scopeFieldCount: 0,
  fields: [{ enterpriseId: 0, elementId: 11, length: 2 }, { enterpriseId: 0, elementId: 1, length: 8 }],
};

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function batchOf(ports: number[]): { batch: EncodedRecords; released: () => number } {
  let batch: EncodedRecords | null = null;
  const enc = new RecordBatchEncoder(DEF, { name: 'rows', sources: () => ({ destinationTransportPort: { at: 0 }, octetDeltaCount: { at: 1 } }) }, (b) => (batch = b));
  for (const p of ports) enc.add(Float64Array.of(p, p * 10));
  enc.take();
  const b = batch as unknown as EncodedRecords;
  let releases = 0;
  const counted: EncodedRecords = { ...b, release: () => { releases++; b.release?.(); } };
  return { batch: counted, released: () => releases };
}

describe('ExportingProcess.sendEncoded', () => {
  it('delivers encoded batches in order, drops and counts what the queue cannot hold, releases every batch', async () => {
    const collector = new CollectingProcess({ protocol: 'tcp', host: '127.0.0.1', port: 0 });
    await collector.start();
    cleanups.push(() => collector.close());
    const got: DataRecord[] = [];
    const seqs: number[] = [];
    collector.onMessage((m) => {
      for (const set of m.message.dataSets) {
        seqs.push(m.message.header.sequenceNumber);
        got.push(...set.records);
      }
    });
    const exporter = new ExportingProcess({
      host: '127.0.0.1', port: collector.address().port, protocol: 'tcp', observationDomainId: 4, templates: [DEF], maxQueuedRecords: 5,
    });
    cleanups.push(() => exporter.close());
    const a = batchOf([1, 2, 3]);
    const b = batchOf([4, 5, 6, 7]);
    const c = batchOf([8]);
    // Queued before the connection is up: 3 + 2 of 4 fit, the third batch none.
    exporter.start();
    assert.equal(exporter.sendEncoded(a.batch), 3);
    assert.equal(exporter.sendEncoded(b.batch), 2);
    assert.equal(exporter.sendEncoded(c.batch), 0);
    assert.equal(c.released(), 1, 'a dropped batch is released at once');
    await exporter.flush();
    await waitFor('five records', () => got.length === 5);
    assert.deepEqual(got.map((r) => r.destinationTransportPort), [1, 2, 3, 4, 5]);
    assert.deepEqual(got.map((r) => r.octetDeltaCount), [10, 20, 30, 40, 50]);
    assert.deepEqual(seqs, [0, 3]);
    assert.equal(a.released() + b.released(), 2, 'each framed batch released once');
    const s = exporter.stats();
    assert.equal(s.recordsDropped, 3);
    assert.equal(s.recordsSent, 5);
    assert.equal(s.recordsQueued, 0);
    assert.throws(() => exporter.sendEncoded({ ...c.batch, templateId: 999 }), (e: Error & { code?: string }) => e.code === 'TRANSPORT_ERR_UNKNOWN_TEMPLATE');
  });

  it('reuses framing memory only after the socket wrote it: every record arrives intact behind a reader that stalls', async () => {
    const collector = new CollectingProcess({ protocol: 'tcp', host: '127.0.0.1', port: 0 });
    await collector.start();
    cleanups.push(() => collector.close());
    const got: DataRecord[] = [];
    collector.onMessage((m) => {
      for (const set of m.message.dataSets) got.push(...set.records);
    });
    // A relay that holds the exporter's bytes back until every batch is handed over, so that
    // the sockets' buffers fill and batches wait framed while newer ones are encoded.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const relay = net.createServer((from) => {
      const to = net.connect(collector.address().port, '127.0.0.1');
      from.pause();
      void released.then(() => from.pipe(to));
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => relay.close(() => resolve())));
    const exporter = new ExportingProcess({
      host: '127.0.0.1', port: (relay.address() as net.AddressInfo).port, protocol: 'tcp', observationDomainId: 4, templates: [DEF], maxQueuedRecords: 1_000_000,
    });
    cleanups.push(() => exporter.close());
    exporter.start();
    const BATCHES = 120;
    const PER_BATCH = 5000;
    for (let k = 0; k < BATCHES; k++) {
      const ports = Array.from({ length: PER_BATCH }, (_, i) => (k * PER_BATCH + i) % 65536);
      assert.equal(exporter.sendEncoded(batchOf(ports).batch), PER_BATCH);
      await new Promise((r) => setImmediate(r));
    }
    assert.ok(exporter.stats().recordsQueued > 0, 'the exporter holds records back: its socket pushed back');
    release();
    await exporter.flush();
    await waitFor('every record', () => got.length === BATCHES * PER_BATCH, 20_000);
    for (let n = 0; n < got.length; n++) {
      const port = n % 65536;
      if (got[n].destinationTransportPort !== port || got[n].octetDeltaCount !== port * 10) {
        assert.fail(`record ${n}: ${JSON.stringify(got[n])}, expected port ${port}`);
      }
    }
  });
});
