// Exporter to collector over loopback (port 0), for every transport.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { CollectingProcess } from '../../../src/transport/collecting-process.js';
import { ExportingProcess } from '../../../src/transport/exporting-process.js';
import { createTlsMaterial, type TlsMaterial } from '../../../src/transport/certs.js';
import type { TransportError } from '../../../src/transport/errors.js';
import { FLOW_TEMPLATE_ID, flowRecords, flowTemplate, hasIpv6Loopback, recordSink, waitFor } from './fixtures.js';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function track<T extends { close(): Promise<void> }>(x: T): T {
  cleanups.push(() => x.close());
  return x;
}

let material: TlsMaterial | undefined;
async function tlsMaterial(): Promise<TlsMaterial> {
  material ??= await createTlsMaterial({ serverNames: ['localhost', '127.0.0.1', '::1'] });
  return material;
}

async function roundTrip(protocol: 'tcp' | 'udp', host: string, count: number): Promise<void> {
  const collector = track(new CollectingProcess({ protocol, host, port: 0 }));
  await collector.start();
  const sink = recordSink(collector);
  const exporter = track(new ExportingProcess({ host, port: collector.address().port, protocol, observationDomainId: 42, templates: [flowTemplate] }));
  exporter.start();
  const sent = flowRecords(0, count);
  // In several sends, as an exporter loop would.
  for (let i = 0; i < count; i += 100) exporter.send(FLOW_TEMPLATE_ID, sent.slice(i, i + 100));
  await exporter.flush();
  await waitFor(`${count} records over ${protocol}`, () => sink.records.length >= count);
  assert.deepEqual(sink.records, sent);
  const m = sink.messages[0];
  assert.equal(m.protocol, protocol);
  assert.equal(m.observationDomainId, 42);
  assert.equal(m.exporterAddress, host);
  const es = exporter.stats();
  assert.equal(es.recordsSent, count);
  assert.equal(es.recordsDropped, 0);
  const cs = collector.stats();
  assert.equal(cs.recordsReceived, count);
  assert.equal(cs.recordsLost, 0);
  assert.equal(cs.badMessages, 0);
  assert.equal(cs.perExporter[host].records, count);
  if (protocol === 'udp') {
    for (const msg of sink.messages) assert.ok(msg.message.header.length <= 1400, 'UDP messages fit 1400 bytes');
  }
  await exporter.close();
  await collector.close();
}

test('TCP: every record sent arrives equal, in order', async () => {
  await roundTrip('tcp', '127.0.0.1', 5000);
});

test('UDP: every record sent arrives equal, in messages of at most 1400 bytes', async () => {
  await roundTrip('udp', '127.0.0.1', 500);
});

test('IPv6 loopback (::1) over TCP and UDP', async (t) => {
  if (!(await hasIpv6Loopback())) {
    if (process.env.CI === 'true') assert.fail('IPv6 loopback ::1 is not available on this CI machine');
    t.skip('IPv6 loopback ::1 is not configured on this machine');
    return;
  }
  await roundTrip('tcp', '::1', 1000);
  await roundTrip('udp', '::1', 300);
});

test('a dual-stack collector on :: serves an IPv4 exporter and reports its plain IPv4 address', async () => {
  const collector = track(new CollectingProcess({ protocol: 'tcp', port: 0 }));
  await collector.start();
  const sink = recordSink(collector);
  const exporter = track(new ExportingProcess({ host: '127.0.0.1', port: collector.address().port, protocol: 'tcp', observationDomainId: 1, templates: [flowTemplate] }));
  exporter.start();
  exporter.send(FLOW_TEMPLATE_ID, flowRecords(0, 10));
  await waitFor('10 records', () => sink.records.length === 10);
  assert.equal(sink.messages[0].exporterAddress, '127.0.0.1');
  await exporter.close();
  await collector.close();
});

test('mutual TLS: an exporter with a client certificate is served, one without is refused', async () => {
  const m = await tlsMaterial();
  const collector = track(new CollectingProcess({ protocol: 'tls', host: '127.0.0.1', port: 0, tls: { cert: m.server.certPem, key: m.server.keyPem, ca: m.ca.certPem } }));
  await collector.start();
  const sink = recordSink(collector);
  const port = collector.address().port;

  const good = track(new ExportingProcess({
    host: '127.0.0.1', port, protocol: 'tls', observationDomainId: 7, templates: [flowTemplate],
    tls: { ca: m.ca.certPem, cert: m.client.certPem, key: m.client.keyPem },
  }));
  good.start();
  const sent = flowRecords(0, 2000);
  good.send(FLOW_TEMPLATE_ID, sent);
  await good.flush();
  await waitFor('2000 records over mutual TLS', () => sink.records.length === 2000);
  assert.deepEqual(sink.records, sent);
  assert.equal(sink.messages[0].protocol, 'tls');

  const anonymous = track(new ExportingProcess({
    host: '127.0.0.1', port, protocol: 'tls', observationDomainId: 8, templates: [flowTemplate],
    tls: { ca: m.ca.certPem }, backoff: { initialMs: 50, maxMs: 50 },
  }));
  const errors: TransportError[] = [];
  anonymous.on('error', (e) => errors.push(e as TransportError));
  anonymous.start();
  anonymous.send(FLOW_TEMPLATE_ID, flowRecords(0, 5));
  await waitFor('the collector refuses the client without a certificate', () => collector.stats().tlsHandshakeFailures >= 1 && errors.length >= 1);
  assert.equal(errors[0].code, 'TRANSPORT_ERR_TLS_HANDSHAKE', errors[0].message);
  assert.equal(collector.stats().perExporter['127.0.0.1'].records, 2000, 'nothing from the anonymous client was decoded');
  assert.equal(collector.stats().recordsReceived, 2000);
  await anonymous.close();
  await good.close();
  await collector.close();
});

test('TLS: the exporter refuses a collector whose certificate its CA did not sign', async () => {
  const m = await tlsMaterial();
  const stranger = await createTlsMaterial({ serverNames: ['localhost'] });
  const collector = track(new CollectingProcess({ protocol: 'tls', host: '127.0.0.1', port: 0, tls: { cert: stranger.server.certPem, key: stranger.server.keyPem } }));
  await collector.start();
  const exporter = track(new ExportingProcess({
    host: '127.0.0.1', port: collector.address().port, protocol: 'tls', observationDomainId: 1, templates: [flowTemplate],
    tls: { ca: m.ca.certPem, servername: 'localhost' }, backoff: { initialMs: 1000, maxMs: 1000 },
  }));
  const errors: TransportError[] = [];
  exporter.on('error', (e) => errors.push(e as TransportError));
  exporter.start();
  await waitFor('a TLS handshake error', () => errors.length >= 1);
  assert.equal(errors[0].code, 'TRANSPORT_ERR_TLS_HANDSHAKE');
  assert.equal(exporter.stats().connected, false);
  await exporter.close();
  await collector.close();
});

test('TLS without client certificates: server verification by name (servername) works', async () => {
  const m = await tlsMaterial();
  const collector = track(new CollectingProcess({ protocol: 'tls', host: '127.0.0.1', port: 0, tls: { cert: m.server.certPem, key: m.server.keyPem } }));
  await collector.start();
  const sink = recordSink(collector);
  const exporter = track(new ExportingProcess({
    host: '127.0.0.1', port: collector.address().port, protocol: 'tls', observationDomainId: 1, templates: [flowTemplate],
    tls: { ca: m.ca.certPem, servername: 'localhost' },
  }));
  exporter.start();
  exporter.send(FLOW_TEMPLATE_ID, flowRecords(0, 50));
  await waitFor('50 records', () => sink.records.length === 50);
  await exporter.close();
  await collector.close();
});

test('many exporters at once each get their own session and all records arrive', async () => {
  const collector = track(new CollectingProcess({ protocol: 'tcp', host: '127.0.0.1', port: 0 }));
  await collector.start();
  const sink = recordSink(collector);
  const port = collector.address().port;
  const exporters = Array.from({ length: 8 }, (_, i) => track(new ExportingProcess({ host: '127.0.0.1', port, protocol: 'tcp', observationDomainId: 100 + i, templates: [flowTemplate] })));
  for (const e of exporters) {
    e.start();
    e.send(FLOW_TEMPLATE_ID, flowRecords(0, 1000));
  }
  await waitFor('8000 records', () => sink.records.length === 8000);
  const domains = new Set(sink.messages.map((m) => m.observationDomainId));
  const sessions = new Set(sink.messages.map((m) => m.sessionId));
  assert.equal(domains.size, 8);
  assert.equal(sessions.size, 8);
  assert.equal(collector.stats().sessions, 8);
  assert.equal(collector.stats().recordsLost, 0);
  for (const e of exporters) await e.close();
  await waitFor('sessions closed', () => collector.stats().sessions === 0);
  await collector.close();
});
