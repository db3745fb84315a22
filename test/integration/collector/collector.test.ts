// The Collector in process: TLS with client certificates (files read the way the command reads
// them), and a stdout that cannot keep up.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { Collector } from '../../../src/collector/collector.js';
import { parseCollectorOptions } from '../../../src/collector/options.js';
import { loadTlsMaterial } from '../../../src/cli/collector.js';
import { ExportingProcess } from '../../../src/transport/exporting-process.js';
import { createTlsMaterial, type TlsMaterial } from '../../../src/transport/certs.js';
import { ALL_TYPES_TEMPLATE_ID, allTypesRecords, allTypesTemplate } from './types.js';

async function waitFor(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('Collector over TLS', () => {
  let dir = '';
  let material: TlsMaterial;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flowvis-collector-tls-'));
    material = await createTlsMaterial({ serverNames: ['localhost', '127.0.0.1'], keyBits: 2048 });
    writeFileSync(join(dir, 'server.pem'), material.server.certPem);
    writeFileSync(join(dir, 'server-key.pem'), material.server.keyPem);
    writeFileSync(join(dir, 'ca.pem'), material.ca.certPem);
    writeFileSync(join(dir, 'not-pem.txt'), 'hello');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('decodes records from an exporter with a client certificate, and refuses one without', async () => {
    const options = parseCollectorOptions({
      address: '127.0.0.1:0',
      transport: 'tls',
      cert: join(dir, 'server.pem'),
      key: join(dir, 'server-key.pem'),
      ca: join(dir, 'ca.pem'),
    });
    const out = new PassThrough();
    let printed = '';
    out.setEncoding('utf8').on('data', (s: string) => (printed += s));
    const collector = new Collector(options, { out, tls: loadTlsMaterial(options) });
    const { ipfix } = await collector.start();
    const port = Number(ipfix.split(':').pop());
    try {
      const anonymous = new ExportingProcess({
        host: '127.0.0.1', port, protocol: 'tls', observationDomainId: 1, templates: [allTypesTemplate],
        tls: { ca: material.ca.certPem }, backoff: { initialMs: 60_000, maxMs: 60_000 },
      });
      anonymous.start();
      anonymous.send(ALL_TYPES_TEMPLATE_ID, allTypesRecords);
      await waitFor('the handshake without a client certificate to fail', () => collector.stats().tlsHandshakeFailures >= 1);
      await anonymous.close();

      const exporter = new ExportingProcess({
        host: '127.0.0.1', port, protocol: 'tls', observationDomainId: 2, templates: [allTypesTemplate],
        tls: { ca: material.ca.certPem, cert: material.client.certPem, key: material.client.keyPem },
      });
      exporter.start();
      exporter.send(ALL_TYPES_TEMPLATE_ID, allTypesRecords);
      await exporter.flush();
      await exporter.close();
      await waitFor('two printed records', () => printed.split('\n').filter(Boolean).length === 2);
      const first = JSON.parse(printed.split('\n')[0]) as Record<string, unknown>;
      assert.equal(first.sourcePodName, 'frontend-6b7d9c8f5d-x2x7q');
      assert.equal(collector.stats().recordsReceived, 2);
      assert.equal(collector.ring.last(1)[0].observationDomainId, 2);
    } finally {
      await collector.stop();
    }
  });

  it('says which TLS file it cannot use', () => {
    const options = parseCollectorOptions({
      transport: 'tls', cert: join(dir, 'missing.pem'), key: join(dir, 'server-key.pem'),
    });
    assert.throws(() => loadTlsMaterial(options), { code: 'COLLECTOR_ERR_TLS_FILE', message: /--cert .*missing\.pem: cannot read it/ });
    const notPem = parseCollectorOptions({ transport: 'tls', cert: join(dir, 'server.pem'), key: join(dir, 'not-pem.txt') });
    assert.throws(() => loadTlsMaterial(notPem), { code: 'COLLECTOR_ERR_TLS_FILE', message: /--key .*no PEM block/ });
  });
});

describe('Collector with a stdout that cannot keep up', () => {
  it('drops whole records beyond its output buffer, counts them, and keeps receiving', async () => {
    // A stream that never finishes a write: everything after its high-water mark waits.
    const stuck = new Writable({ highWaterMark: 1024, write() {} });
    const options = parseCollectorOptions({ address: '127.0.0.1:0', transport: 'tcp', outputBuffer: '4096', keep: '10' });
    const collector = new Collector(options, { out: stuck });
    const { ipfix } = await collector.start();
    const port = Number(ipfix.split(':').pop());
    const exporter = new ExportingProcess({ host: '127.0.0.1', port, protocol: 'tcp', observationDomainId: 1, templates: [allTypesTemplate] });
    exporter.start();
    const total = 400;
    for (let i = 0; i < total / 2; i++) exporter.send(ALL_TYPES_TEMPLATE_ID, allTypesRecords);
    await exporter.flush();
    await exporter.close();
    await waitFor('every record to be received', () => collector.stats().recordsReceived === total);
    const s = collector.stats();
    assert.ok(s.recordsNotPrinted > 0, 'some records could not be printed');
    assert.equal(s.recordsDropped, s.recordsNotPrinted);
    assert.equal(s.recordsKept, 10, 'the ring keeps the newest records whatever stdout does');
    // Stop without waiting for a stream that never drains: the output is abandoned, not awaited.
    stuck.destroy();
    await collector.stop();
    const final = collector.stats();
    assert.equal(final.recordsPrinted + final.recordsNotPrinted, total, 'every record is printed or counted');
  });
});
