// Plain TCP sessions of the collecting process read into one reused buffer
// (readIntoReusedBuffer), not a fresh Buffer per read.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { CollectingProcess, readIntoReusedBuffer } from '../../../src/transport/collecting-process.js';
import { MessageWriter } from '../../../src/ipfix/index.js';
import { FLOW_TEMPLATE_ID, flowRecords, flowTemplate, recordSink, waitFor } from './fixtures.js';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

test('an accepted TCP socket reads into the given buffer on this Node, every read into the same memory, in order', async () => {
  const buffer = Buffer.alloc(1024);
  const got: Buffer[] = [];
  const buffers = new Set<Buffer>();
  let installed: boolean | undefined;
  const closed = new Promise<void>((resolve) => {
    const server = net.createServer({ pauseOnConnect: true }, (socket) => {
      installed = readIntoReusedBuffer(socket, buffer, (bytes, b) => {
        buffers.add(b);
        got.push(Buffer.from(b.subarray(0, bytes)));
        return true;
      });
      socket.on('data', () => assert.fail('no data event when reading into the buffer'));
      socket.once('close', () => resolve());
      socket.resume();
    });
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    server.listen(0, '127.0.0.1', () => {
      const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
      // 10,000 bytes through a 1,024-byte buffer: at least 10 reads.
      client.end(Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 251)));
    });
  });
  await closed;
  assert.equal(installed, true, 'Node 20 keeps the onread fields this relies on (kBuffer, kBufferCb, useUserBuffer)');
  assert.deepEqual([...buffers], [buffer], 'every read went into the one buffer');
  const all = Buffer.concat(got);
  assert.equal(all.length, 10_000);
  for (let i = 0; i < all.length; i++) if (all[i] !== i % 251) assert.fail(`byte ${i} is ${all[i]}`);
  assert.ok(got.length >= 10);
});

test('does nothing, and says so, for a socket that already reads into a buffer of its own', async () => {
  const server = net.createServer({ pauseOnConnect: true }, (socket) => {
    const first = readIntoReusedBuffer(socket, Buffer.alloc(64), () => true);
    const second = readIntoReusedBuffer(socket, Buffer.alloc(64), () => true);
    socket.destroy();
    server.emit('checked', first, second);
  });
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  client.on('error', () => {});
  const [first, second] = (await once(server, 'checked')) as [boolean, boolean];
  assert.equal(first, true);
  assert.equal(second, false);
  client.destroy();
});

test('TCP sessions sending at once share the read buffer and every record arrives intact, in order per session', async () => {
  const collector = new CollectingProcess({ protocol: 'tcp', host: '127.0.0.1', port: 0 });
  cleanups.push(() => collector.close());
  const { records, messages } = recordSink(collector);
  await collector.start();
  const port = collector.address().port;
  const perSession = 6000;
  const sessions = 3;
  const sockets = await Promise.all(
    Array.from({ length: sessions }, async (_, k) => {
      const writer = new MessageWriter({ observationDomainId: k + 1 });
      writer.addTemplate(flowTemplate);
      const bytes = Buffer.concat([...writer.templateMessages(), ...writer.encodeRecords(FLOW_TEMPLATE_ID, flowRecords(k * perSession, perSession))]);
      const socket = net.connect(port, '127.0.0.1');
      await once(socket, 'connect');
      return { socket, bytes };
    }),
  );
  // Written in uneven pieces from all sessions at once, so that reads of different sessions
  // interleave and messages straddle reads.
  for (let off = 0, step = 7_001; sockets.some((s) => off < s.bytes.length); off += step) {
    for (const s of sockets) if (off < s.bytes.length) s.socket.write(s.bytes.subarray(off, off + step));
  }
  for (const s of sockets) s.socket.end();
  await waitFor('every record', () => records.length === sessions * perSession);
  for (let k = 0; k < sessions; k++) {
    const mine = messages.filter((m) => m.observationDomainId === k + 1).flatMap((m) => m.message.dataSets.flatMap((set) => set.records));
    assert.deepEqual(mine, flowRecords(k * perSession, perSession), `session ${k}`);
  }
  const s = collector.stats();
  assert.equal(s.badMessages, 0);
  assert.equal(s.recordsLost, 0);
});
