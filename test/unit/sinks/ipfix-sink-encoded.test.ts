// IpfixSink.writeEncoded after close(): the batch is dropped and counted, never thrown at the
// aggregation that exported it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { IpfixSink } from '../../../src/sinks/ipfix-sink.js';
import { AGGREGATOR_IPV4_TEMPLATE_ID } from '../../../src/flow/ie-mapping.js';
import type { EncodedRecords } from '../../../src/ipfix/writer.js';

describe('IpfixSink.writeEncoded', () => {
  it('drops and counts a batch handed over after close(), and releases it', async () => {
    // A port with nothing listening: the sink keeps trying to connect until closed.
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const sink = new IpfixSink({ collector: { host: '127.0.0.1', port, protocol: 'tcp' } });
    await sink.close();
    let released = 0;
    const batch: EncodedRecords = {
      templateId: AGGREGATOR_IPV4_TEMPLATE_ID, bytes: Buffer.alloc(30), ends: Uint32Array.of(10, 20, 30), count: 3, release: () => released++,
    };
    assert.equal(sink.writeEncoded(batch), 0);
    assert.equal(released, 1);
    assert.equal(sink.stats().recordsDropped, 3);
  });
});
