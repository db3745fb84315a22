// What the transports do when things go wrong: collector restarts, no collector at all, bad
// bytes from a peer, lost messages, a slow consumer.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { once } from 'node:events';
import { CollectingProcess, type CollectedMessage } from '../../../src/transport/collecting-process.js';
import { ExportingProcess } from '../../../src/transport/exporting-process.js';
import { MessageWriter } from '../../../src/ipfix/index.js';
import { ManualClock } from '../../../src/util/clock.js';
import { FLOW_TEMPLATE_ID, flowRecords, flowTemplate, recordSink, unusedPort, waitFor } from './fixtures.js';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});
function track<T extends { close(): Promise<void> }>(x: T): T {
  cleanups.push(() => x.close());
  return x;
}

function writer(domain = 1, maxMessageSize?: number): MessageWriter {
  const w = new MessageWriter({ observationDomainId: domain, maxMessageSize });
  w.addTemplate(flowTemplate);
  return w;
}

async function rawTcp(port: number): Promise<net.Socket> {
  const s = net.connect(port, '127.0.0.1');
  cleanups.push(() => void s.destroy());
  await once(s, 'connect');
  return s;
}

test('reconnects after the collector restarts, resends templates, and delivers what was queued meanwhile', async () => {
  const first = track(new CollectingProcess({ protocol: 'tcp', host: '127.0.0.1', port: 0 }));
  await first.start();
  const port = first.address().port;
  const sink1 = recordSink(first);
  const exporter = track(new ExportingProcess({ host: '127.0.0.1', port, protocol: 'tcp', observationDomainId: 5, templates: [flowTemplate], backoff: { initialMs: 20, maxMs: 80 } }));
  let disconnects = 0;
  exporter.on('disconnected', () => disconnects++);
  exporter.on('error', () => {});
  exporter.start();
  exporter.send(FLOW_TEMPLATE_ID, flowRecords(0, 100));
  await waitFor('first 100 records', () => sink1.records.length === 100);
  assert.equal(exporter.stats().templateMessagesSent, 1);

  await first.close();
  await waitFor('the exporter notices the collector is gone', () => disconnects === 1);
  assert.equal(exporter.send(FLOW_TEMPLATE_ID, flowRecords(100, 50)), 50);
  assert.equal(exporter.stats().recordsQueued, 50);

  const second = track(new CollectingProcess({ protocol: 'tcp', host: '127.0.0.1', port }));
  await second.start();
  const sink2 = recordSink(second);
  await waitFor('the queued records arrive at the new collector', () => sink2.records.length === 50);
  // The new collector knew no templates: decoding them proves they were resent first.
  assert.deepEqual(sink2.records, flowRecords(100, 50));
  assert.equal(second.stats().recordsWithoutTemplate, 0);
  const s = exporter.stats();
  assert.equal(s.reconnects, 1);
  assert.equal(s.templateMessagesSent, 2);
  assert.equal(s.recordsDropped, 0);
  assert.equal(s.recordsSent, 150);
  await exporter.close();
  await second.close();
});

test('backoff doubles from initialMs and stops at maxMs', () => {
  const e = new ExportingProcess({ host: '127.0.0.1', port: 1, protocol: 'tcp', observationDomainId: 1, templates: [flowTemplate] });
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 40].map((a) => e.backoffDelay(a)), [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  const j = new ExportingProcess({ host: '127.0.0.1', port: 1, protocol: 'tcp', observationDomainId: 1, templates: [flowTemplate], backoff: { initialMs: 100, maxMs: 400, jitter: true } });
  for (let a = 0; a < 50; a++) {
    const base = Math.min(400, 100 * 2 ** a);
    const d = j.backoffDelay(a);
    assert.ok(d >= base / 2 && d <= base, `jittered delay ${d} within [${base / 2}, ${base}]`);
  }
});

test('while no collector listens, records queue up to maxQueuedRecords and the rest are counted as dropped', async () => {
  const port = await unusedPort();
  const exporter = new ExportingProcess({ host: '127.0.0.1', port, protocol: 'tcp', observationDomainId: 1, templates: [flowTemplate], maxQueuedRecords: 100, backoff: { initialMs: 10, maxMs: 20 } });
  exporter.on('error', () => {});
  exporter.start();
  assert.equal(exporter.send(FLOW_TEMPLATE_ID, flowRecords(0, 60)), 60);
  assert.equal(exporter.send(FLOW_TEMPLATE_ID, flowRecords(60, 60)), 40);
  assert.equal(exporter.send(FLOW_TEMPLATE_ID, flowRecords(120, 10)), 0);
  await waitFor('a few failed connection attempts', () => exporter.stats().connectAttempts >= 3);
  let s = exporter.stats();
  assert.equal(s.recordsQueued, 100);
  assert.equal(s.recordsDropped, 30);
  assert.equal(s.recordsSent, 0);
  assert.equal(s.connected, false);
  await exporter.close();
  s = exporter.stats();
  assert.equal(s.recordsDropped, 130, 'records still queued at close are dropped and counted');
  assert.equal(s.recordsQueued, 0);
  assert.throws(() => exporter.send(FLOW_TEMPLATE_ID, flowRecords(0, 1)), { code: 'TRANSPORT_ERR_CLOSED' });
});

test('connection failures are reported with coded errors', async () => {
  const port = await unusedPort();
  const exporter = new ExportingProcess({ host: '127.0.0.1', port, protocol: 'tcp', observationDomainId: 1, templates: [flowTemplate], backoff: { initialMs: 10, maxMs: 10 } });
  const codes: string[] = [];
  exporter.on('error', (e) => codes.push(String((e as Error & { code?: string }).code)));
  exporter.start();
  await waitFor('two failed attempts', () => codes.length >= 2);
  await exporter.close();
  assert.deepEqual(new Set(codes), new Set(['TRANSPORT_ERR_CONNECT_FAILED']));
});

test('garbage on one TCP session closes that session only; the other exporter keeps being served', async () => {
  const collector = track(new CollectingProcess({ protocol: 'tcp', host: '127.0.0.1', port: 0 }));
  await collector.start();
  const sink = recordSink(collector);
  const port = collector.address().port;
  const bad: { code: string }[] = [];
  collector.on('badMessage', (info) => bad.push(info));
  const good = track(new ExportingProcess({ host: '127.0.0.1', port, protocol: 'tcp', observationDomainId: 1, templates: [flowTemplate] }));
  good.start();
  good.send(FLOW_TEMPLATE_ID, flowRecords(0, 100));
  await waitFor('first 100 records', () => sink.records.length === 100);

  const rogue = await rawTcp(port);
  const closed = once(rogue, 'close');
  rogue.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  await closed;
  // A well-framed message with a broken set inside it is bad too.
  const rogue2 = await rawTcp(port);
  const closed2 = once(rogue2, 'close');
  const broken = Buffer.from([0, 10, 0, 24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 200, 0, 0, 0, 0]);
  rogue2.write(broken);
  await closed2;

  good.send(FLOW_TEMPLATE_ID, flowRecords(100, 100));
  await waitFor('the next 100 records from the good exporter', () => sink.records.length === 200);
  assert.deepEqual(sink.records, flowRecords(0, 200));
  const s = collector.stats();
  assert.equal(s.badMessages, 2);
  assert.deepEqual(bad.map((b) => b.code), ['IPFIX_ERR_BAD_VERSION', 'IPFIX_ERR_BAD_SET_LENGTH']);
  assert.equal(s.sessions, 1, 'only the good session is open');
  assert.equal(good.stats().connected, true);
  await good.close();
  await collector.close();
});

test('a bad UDP datagram is dropped and counted; the same peer and others keep being served', async () => {
  const collector = track(new CollectingProcess({ protocol: 'udp', host: '127.0.0.1', port: 0 }));
  await collector.start();
  const sink = recordSink(collector);
  const codes: string[] = [];
  collector.on('badMessage', (info) => codes.push(info.code));
  const port = collector.address().port;
  const sock = dgram.createSocket('udp4');
  cleanups.push(() => new Promise<void>((r) => sock.close(() => r())));
  const send = (b: Buffer): Promise<void> => new Promise((r, j) => sock.send(b, port, '127.0.0.1', (e) => (e ? j(e) : r())));
  const w = writer(3);
  for (const m of w.templateMessages()) await send(m);
  const [m1] = w.encodeRecords(FLOW_TEMPLATE_ID, flowRecords(0, 5));
  await send(m1);
  await send(Buffer.from('not ipfix at all'));
  await send(m1.subarray(0, m1.length - 3)); // truncated: header length != datagram length
  const [m2] = w.encodeRecords(FLOW_TEMPLATE_ID, flowRecords(5, 5));
  await send(m2);
  await waitFor('10 records and 2 bad datagrams', () => sink.records.length === 10 && collector.stats().badMessages === 2);
  assert.deepEqual(sink.records, flowRecords(0, 10));
  assert.deepEqual(codes, ['IPFIX_ERR_BAD_VERSION', 'TRANSPORT_ERR_DATAGRAM_LENGTH']);
  assert.equal(collector.stats().recordsLost, 0);
  assert.equal(collector.stats().perExporter['127.0.0.1'].badMessages, 2);
  await collector.close();
});

test('sequence number gaps are counted as lost records per exporter and domain, including across 2^32', async () => {
  const collector = track(new CollectingProcess({ protocol: 'tcp', host: '127.0.0.1', port: 0 }));
  await collector.start();
  const sink = recordSink(collector);
  const sock = await rawTcp(collector.address().port);
  const a = writer(1);
  const b = writer(2);
  const msgs: Buffer[] = [...a.templateMessages(), ...b.templateMessages()];
  msgs.push(...a.encodeRecords(FLOW_TEMPLATE_ID, flowRecords(0, 10))); // a: seq 0
  a.encodeRecords(FLOW_TEMPLATE_ID, flowRecords(10, 7)); // a: seq 10, never sent: 7 lost
  msgs.push(...a.encodeRecords(FLOW_TEMPLATE_ID, flowRecords(17, 3))); // a: seq 17
  msgs.push(...b.encodeRecords(FLOW_TEMPLATE_ID, flowRecords(0, 4))); // b: seq 0, no gap
  sock.write(Buffer.concat(msgs));
  await waitFor('17 records', () => sink.records.length === 17);
  assert.equal(collector.stats().recordsLost, 7);
  assert.equal(collector.stats().perExporter['127.0.0.1'].recordsLost, 7);
  assert.deepEqual(collector.stats().perExporter['127.0.0.1'].recordsLostByDomain, { 1: 7 }, 'domain 2 lost nothing');

  // Across the wrap: hand-set sequence numbers near 2^32.
  const wrapAt = (seq: number, from: number, n: number): Buffer => {
    const [m] = writer(9).encodeRecords(FLOW_TEMPLATE_ID, flowRecords(from, n));
    m.writeUInt32BE(seq >>> 0, 8);
    return m;
  };
  sock.write(Buffer.concat([...writer(9).templateMessages(), wrapAt(2 ** 32 - 2, 0, 2), wrapAt(0, 2, 1), wrapAt(3, 3, 1)]));
  await waitFor('4 more records', () => sink.records.length === 21);
  assert.equal(collector.stats().recordsLost, 9, 'seq 0 follows 2^32-2 + 2 exactly; seq 3 after seq 0 + 1 skips 2');
  assert.deepEqual(collector.stats().perExporter['127.0.0.1'].recordsLostByDomain, { 1: 7, 9: 2 });
  await collector.close();
});

test('UDP exporter resends templates every templateRefreshMs of its clock and keeps messages within maxMessageSize', async () => {
  const clock = new ManualClock();
  const collector = track(new CollectingProcess({ protocol: 'udp', host: '127.0.0.1', port: 0 }));
  await collector.start();
  const sink = recordSink(collector);
  const exporter = track(new ExportingProcess({ host: '127.0.0.1', port: collector.address().port, protocol: 'udp', observationDomainId: 4, templates: [flowTemplate], templateRefreshMs: 60_000, maxMessageSize: 512, clock }));
  exporter.start();
  exporter.send(FLOW_TEMPLATE_ID, flowRecords(0, 20));
  await waitFor('20 records', () => sink.records.length === 20);
  assert.equal(exporter.stats().templateMessagesSent, 1);
  clock.advance(59_999);
  exporter.send(FLOW_TEMPLATE_ID, flowRecords(20, 20));
  await waitFor('40 records', () => sink.records.length === 40);
  assert.equal(exporter.stats().templateMessagesSent, 1, 'not yet due');
  clock.advance(1);
  exporter.send(FLOW_TEMPLATE_ID, flowRecords(40, 20));
  await waitFor('60 records', () => sink.records.length === 60);
  assert.equal(exporter.stats().templateMessagesSent, 2, 'due after 60 s');
  assert.equal(sink.messages.filter((m) => m.message.templates.length > 0).length, 2);
  for (const m of sink.messages) assert.ok(m.message.header.length <= 512);
  assert.ok(sink.messages.length > 6, 'records were split over several messages');
  await exporter.close();
  await collector.close();
});

test('UDP collector forgets templates after templateLifetimeMs and expires idle peers', async () => {
  const clock = new ManualClock();
  const collector = track(new CollectingProcess({ protocol: 'udp', host: '127.0.0.1', port: 0, templateLifetimeMs: 1000, clock }));
  await collector.start();
  const sink = recordSink(collector);
  const port = collector.address().port;
  const sock = dgram.createSocket('udp4');
  cleanups.push(() => new Promise<void>((r) => sock.close(() => r())));
  const send = (b: Buffer): Promise<void> => new Promise((r, j) => sock.send(b, port, '127.0.0.1', (e) => (e ? j(e) : r())));
  const w = writer(1);
  for (const m of w.templateMessages()) await send(m);
  for (const m of w.encodeRecords(FLOW_TEMPLATE_ID, flowRecords(0, 3))) await send(m);
  await waitFor('3 records', () => sink.records.length === 3);
  clock.advance(1001);
  for (const m of w.encodeRecords(FLOW_TEMPLATE_ID, flowRecords(3, 3))) await send(m);
  await waitFor('a message whose template expired', () => collector.stats().messagesReceived === 3);
  assert.equal(sink.records.length, 3, 'no records decoded without a live template');
  assert.equal(collector.stats().recordsWithoutTemplate, 1);
  assert.equal(collector.stats().sessions, 1);
  clock.advance(1000);
  assert.equal(collector.expireIdleSessions(), 1);
  assert.equal(collector.stats().sessions, 0);
  assert.equal(collector.stats().udpSessionsExpired, 1);
  await collector.close();
});

test('a slow async consumer: UDP messages beyond the queue are dropped and counted', async () => {
  const collector = track(new CollectingProcess({ protocol: 'udp', host: '127.0.0.1', port: 0, queueCapacity: 3 }));
  await collector.start();
  const port = collector.address().port;
  const sock = dgram.createSocket('udp4');
  cleanups.push(() => new Promise<void>((r) => sock.close(() => r())));
  const send = (b: Buffer): Promise<void> => new Promise((r, j) => sock.send(b, port, '127.0.0.1', (e) => (e ? j(e) : r())));
  const w = writer(1);
  for (const m of w.templateMessages()) await send(m);
  for (let i = 0; i < 9; i++) for (const m of w.encodeRecords(FLOW_TEMPLATE_ID, flowRecords(i * 2, 2))) await send(m);
  await waitFor('10 messages received', () => collector.stats().messagesReceived === 10);
  const s = collector.stats();
  assert.equal(s.queueLength, 3);
  assert.equal(s.messagesDropped, 7);
  assert.equal(s.recordsDropped, 14, 'the queue kept the template message and 2 data messages; 7 data messages of 2 records were dropped');
  const got: CollectedMessage[] = [];
  const it = collector[Symbol.asyncIterator]();
  for (let i = 0; i < 3; i++) got.push((await it.next()).value as CollectedMessage);
  assert.deepEqual(got.map((m) => m.message.dataSets.length), [0, 1, 1]);
  await collector.close();
  assert.equal((await it.next()).done, true, 'iteration ends after close');
});

test('a slow async consumer: TCP sessions are paused at queue capacity and nothing is lost', async () => {
  const collector = track(new CollectingProcess({ protocol: 'tcp', host: '127.0.0.1', port: 0, queueCapacity: 4 }));
  await collector.start();
  const exporter = track(new ExportingProcess({ host: '127.0.0.1', port: collector.address().port, protocol: 'tcp', observationDomainId: 1, templates: [flowTemplate], maxMessageSize: 1000 }));
  exporter.start();
  const total = 3000;
  exporter.send(FLOW_TEMPLATE_ID, flowRecords(0, total));
  const records: unknown[] = [];
  for await (const m of collector) {
    for (const set of m.message.dataSets) records.push(...set.records);
    if (records.length >= total) break;
    // A slow consumer: yield to the event loop between messages.
    await new Promise((r) => setImmediate(r));
  }
  assert.deepEqual(records, flowRecords(0, total));
  const s = collector.stats();
  assert.ok(s.messagesReceived > 50, 'many small messages went through a 4-slot queue');
  assert.equal(s.messagesDropped, 0);
  assert.equal(s.recordsLost, 0);
  await exporter.close();
  await collector.close();
});

test('options are validated at construction with messages that say what to write', () => {
  const base = { host: '127.0.0.1', port: 4739, protocol: 'tcp' as const, observationDomainId: 1, templates: [flowTemplate] };
  const bad: [object, RegExp][] = [
    [{ ...base, port: 70000 }, /port must be an integer from 1 to 65535/],
    [{ ...base, protocol: 'sctp' }, /protocol must be "tcp", "udp" or "tls"/],
    [{ ...base, host: '' }, /host must be a non-empty/],
    [{ ...base, templates: [] }, /templates must list at least one/],
    [{ ...base, templates: [{ ...flowTemplate, templateId: 255 }] }, /templateId from 256 to 65535/],
    [{ ...base, tls: { ca: 'x' } }, /set protocol: "tls"/],
    [{ ...base, protocol: 'tls', tls: { cert: 'x' } }, /tls.cert and tls.key go together/],
    [{ ...base, backoff: { initialMs: 5000, maxMs: 1000 } }, /backoff.maxMs \(1000\) must not be below/],
    [{ ...base, maxMessageSize: 100 }, /use at least 256/],
    [{ ...base, maxQueuedRecords: 0 }, /maxQueuedRecords must be an integer/],
  ];
  for (const [opts, re] of bad) {
    assert.throws(() => new ExportingProcess(opts as never), (e: Error & { code?: string }) => e.code === 'TRANSPORT_ERR_INVALID_OPTION' && re.test(e.message), re.source);
  }
  const e = new ExportingProcess(base);
  assert.throws(() => e.send(999, flowRecords(0, 1)), { code: 'TRANSPORT_ERR_UNKNOWN_TEMPLATE' });

  const cbad: [object, RegExp][] = [
    [{ protocol: 'tcp', port: -1 }, /port must be an integer from 0 to 65535/],
    [{ protocol: 'tcp', port: 0, host: 'localhost' }, /host must be an IP address/],
    [{ protocol: 'tls', port: 0 }, /needs tls.cert and tls.key/],
    [{ protocol: 'udp', port: 0, tls: { cert: 'a', key: 'b' } }, /set protocol: "tls"/],
    [{ protocol: 'tcp', port: 0, queueCapacity: 0 }, /queueCapacity must be a positive integer/],
  ];
  for (const [opts, re] of cbad) {
    assert.throws(() => new CollectingProcess(opts as never), (err: Error & { code?: string }) => err.code === 'TRANSPORT_ERR_INVALID_OPTION' && re.test(err.message), re.source);
  }
});

test('a port already in use is a coded listen error', async () => {
  const first = track(new CollectingProcess({ protocol: 'tcp', host: '127.0.0.1', port: 0 }));
  await first.start();
  const second = new CollectingProcess({ protocol: 'tcp', host: '127.0.0.1', port: first.address().port });
  await assert.rejects(second.start(), { code: 'TRANSPORT_ERR_LISTEN_FAILED' });
  await first.close();
});

test('a record the writer cannot encode is dropped and counted; its batch-mates still go out', async () => {
  const collector = track(new CollectingProcess({ protocol: 'tcp', host: '127.0.0.1', port: 0 }));
  await collector.start();
  const sink = recordSink(collector);
  const exporter = track(new ExportingProcess({ host: '127.0.0.1', port: collector.address().port, protocol: 'tcp', observationDomainId: 1, templates: [flowTemplate] }));
  const errors: string[] = [];
  exporter.on('error', (e) => errors.push(String((e as Error & { code?: string }).code)));
  exporter.start();
  const records = flowRecords(0, 5);
  records[2] = { ...records[2], sourceTransportPort: 70000 };
  exporter.send(FLOW_TEMPLATE_ID, records);
  await exporter.flush();
  await waitFor('4 records', () => sink.records.length === 4);
  assert.deepEqual(sink.records, [records[0], records[1], records[3], records[4]]);
  assert.equal(exporter.stats().recordsDropped, 1);
  assert.equal(exporter.stats().recordsSent, 4);
  assert.equal(errors.length, 1);
  assert.match(errors[0], /^IPFIX_ERR_/);
  await exporter.close();
  await collector.close();
});

test('close() also ends TLS connections that never finished their handshake', async () => {
  const { createTlsMaterial } = await import('../../../src/transport/certs.js');
  const m = await createTlsMaterial({ serverNames: ['127.0.0.1'] });
  const collector = new CollectingProcess({ protocol: 'tls', host: '127.0.0.1', port: 0, tls: { cert: m.server.certPem, key: m.server.keyPem } });
  await collector.start();
  const silent = await rawTcp(collector.address().port);
  const closed = once(silent, 'close');
  // Let the server see the connection before closing.
  await new Promise((r) => setTimeout(r, 20));
  await collector.close();
  await closed;
  assert.equal(collector.stats().sessions, 0);
});

test('a UDP exporter with nobody listening reports the failure once a minute and keeps going until a collector appears', async () => {
  const port = await unusedPort();
  const exporter = track(new ExportingProcess({ host: '127.0.0.1', port, protocol: 'udp', observationDomainId: 1, templates: [flowTemplate], templateRefreshMs: 1 }));
  const codes: string[] = [];
  exporter.on('error', (e) => codes.push(String((e as Error & { code?: string }).code)));
  exporter.start();
  for (let i = 0; i < 5; i++) {
    exporter.send(FLOW_TEMPLATE_ID, flowRecords(i * 10, 10));
    await exporter.flush();
    await new Promise((r) => setTimeout(r, 5));
  }
  await waitFor('a reported error', () => codes.length >= 1);
  assert.equal(codes.length, 1, 'reported once a minute, not per datagram');
  assert.equal(codes[0], 'TRANSPORT_ERR_CONNECTION_LOST');
  const collector = track(new CollectingProcess({ protocol: 'udp', host: '127.0.0.1', port }));
  await collector.start();
  const sink = recordSink(collector);
  // templateRefreshMs 1: every send carries the templates again, so the new collector decodes at once.
  await new Promise((r) => setTimeout(r, 5));
  exporter.send(FLOW_TEMPLATE_ID, flowRecords(100, 10));
  await waitFor('records at the late collector', () => sink.records.length === 10);
  assert.deepEqual(sink.records, flowRecords(100, 10));
  await exporter.close();
  await collector.close();
});

test('a UDP exporter given a DNS name resolves it and exports to the address it names', async () => {
  // Dual-stack, since "localhost" may resolve to ::1 or to 127.0.0.1.
  const collector = track(new CollectingProcess({ protocol: 'udp', port: 0 }));
  await collector.start();
  const sink = recordSink(collector);
  const exporter = track(new ExportingProcess({ host: 'localhost', port: collector.address().port, protocol: 'udp', observationDomainId: 1, templates: [flowTemplate] }));
  exporter.start();
  exporter.send(FLOW_TEMPLATE_ID, flowRecords(0, 10));
  await waitFor('10 records', () => sink.records.length === 10);
  await exporter.close();
  await collector.close();
});
