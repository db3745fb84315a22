import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IpfixDeframer } from '../../../src/ipfix/deframer.js';
import { IpfixError } from '../../../src/ipfix/errors.js';
import { rng } from '../../fixtures/ipfix/flows.js';

/** A framed message: a 16-byte IPFIX header followed by `bodyLength` bytes numbered from `seed`. */
function message(bodyLength: number, seed: number): Buffer {
  const buf = Buffer.alloc(16 + bodyLength);
  buf.writeUInt16BE(10, 0);
  buf.writeUInt16BE(buf.length, 2);
  buf.writeUInt32BE(1_700_000_000, 4);
  buf.writeUInt32BE(seed, 8);
  buf.writeUInt32BE(7, 12);
  for (let i = 0; i < bodyLength; i++) buf[16 + i] = (seed + i) & 0xff;
  return buf;
}

const messages = [message(0, 1), message(3, 2), message(40, 3), message(1, 4), message(300, 5), message(0, 6)];
const stream = Buffer.concat(messages);

function feed(chunks: Buffer[]): Buffer[] {
  const d = new IpfixDeframer();
  const out: Buffer[] = [];
  for (const c of chunks) d.push(c, (m) => void out.push(Buffer.from(m)));
  assert.equal(d.bufferedBytes, 0, 'nothing left over at the end of the stream');
  return out;
}

test('yields every message when the stream arrives in one chunk', () => {
  assert.deepEqual(feed([stream]), messages);
});

test('yields every message when the stream is split in two at every byte', () => {
  for (let cut = 0; cut <= stream.length; cut++) {
    assert.deepEqual(feed([stream.subarray(0, cut), stream.subarray(cut)]), messages, `split at ${cut}`);
  }
});

test('yields every message when the stream arrives one byte at a time', () => {
  const chunks: Buffer[] = [];
  for (let i = 0; i < stream.length; i++) chunks.push(stream.subarray(i, i + 1));
  assert.deepEqual(feed(chunks), messages);
});

test('yields every message under 500 random chunkings, including empty chunks', () => {
  const rnd = rng(42);
  for (let round = 0; round < 500; round++) {
    const chunks: Buffer[] = [];
    let off = 0;
    while (off < stream.length) {
      const len = Math.floor(rnd() * 40);
      chunks.push(stream.subarray(off, off + len));
      off += len;
    }
    assert.deepEqual(feed(chunks), messages, `round ${round}`);
  }
});

test('hands out a message that lies inside one chunk as a view, without copying', () => {
  const d = new IpfixDeframer();
  const views: Buffer[] = [];
  d.push(stream, (m) => void views.push(m));
  assert.equal(views.length, messages.length);
  for (const v of views) assert.equal(v.buffer, stream.buffer);
});

test('copies a straddling message once into a scratch buffer, reused by the next one', () => {
  const d = new IpfixDeframer();
  const seen: Buffer[] = [];
  const big = message(300, 9);
  d.push(big.subarray(0, 100), (m) => void seen.push(m));
  assert.equal(seen.length, 0);
  assert.equal(d.bufferedBytes, 100);
  d.push(big.subarray(100), (m) => void seen.push(m));
  assert.equal(seen.length, 1);
  assert.notEqual(seen[0].buffer, big.buffer);
  assert.equal(seen[0].length, big.length);
  assert.deepEqual(seen[0], big);
  const first = seen[0];
  const copyOfFirst = Buffer.from(first);
  const small = message(10, 11);
  d.push(small.subarray(0, 5), (m) => void seen.push(m));
  d.push(small.subarray(5), (m) => void seen.push(m));
  assert.equal(seen[1].buffer, first.buffer, 'the same scratch memory, no new allocation');
  assert.deepEqual(seen[1], small);
  assert.deepEqual(copyOfFirst, big);
});

test('accepts Uint8Array chunks as well as Buffers', () => {
  const d = new IpfixDeframer();
  const out: Buffer[] = [];
  const u8 = new Uint8Array(stream.buffer, stream.byteOffset, stream.length);
  d.push(u8.subarray(0, 10), (m) => void out.push(Buffer.from(m)));
  d.push(u8.subarray(10), (m) => void out.push(Buffer.from(m)));
  assert.deepEqual(out, messages);
});

const badFraming: { name: string; bytes: Buffer; code: string }[] = [
  { name: 'NetFlow v9 header', bytes: Buffer.from([0, 9, 0, 20, ...new Array(16).fill(0)]), code: 'IPFIX_ERR_BAD_VERSION' },
  { name: 'a TLS ClientHello sent to a TCP port', bytes: Buffer.from([0x16, 0x03, 0x01, 0x00, 0x20, ...new Array(32).fill(0)]), code: 'IPFIX_ERR_BAD_VERSION' },
  { name: 'length 0', bytes: Buffer.from([0, 10, 0, 0]), code: 'IPFIX_ERR_BAD_MESSAGE_LENGTH' },
  { name: 'length 15', bytes: Buffer.from([0, 10, 0, 15, ...new Array(11).fill(0)]), code: 'IPFIX_ERR_BAD_MESSAGE_LENGTH' },
];

for (const c of badFraming) {
  test(`closes the stream on bad framing: ${c.name}, whole or split at every byte`, () => {
    for (let cut = 0; cut <= c.bytes.length; cut++) {
      const d = new IpfixDeframer();
      const out: Buffer[] = [];
      const good = message(2, 1);
      d.push(good, (m) => void out.push(m));
      const bytes = Buffer.concat([c.bytes, message(0, 2)]);
      assert.throws(
        () => {
          d.push(bytes.subarray(0, cut), (m) => void out.push(m));
          d.push(bytes.subarray(cut), (m) => void out.push(m));
        },
        (err: unknown) => err instanceof IpfixError && err.code === c.code && /stream offset 18/.test(err.message),
      );
      assert.equal(out.length, 1, 'only the good message before the bad one was yielded');
      assert.throws(() => d.push(message(0, 3), () => assert.fail('no message after failure')), { code: c.code });
    }
  });
}

test('pauses when the handler returns false and hands out the held rest, in order, on resume', () => {
  for (let cut = 0; cut <= stream.length; cut++) {
    const d = new IpfixDeframer();
    const out: Buffer[] = [];
    // Accept one message per turn, like a consumer whose queue has room for one.
    let room = 1;
    const handler = (m: Buffer): boolean => {
      out.push(Buffer.from(m));
      room--;
      return room > 0;
    };
    const chunks = [stream.subarray(0, cut), stream.subarray(cut)];
    for (const c of chunks) d.push(c, handler);
    while (d.isPaused) {
      room = 1;
      d.resume(handler);
    }
    assert.deepEqual(out, messages, `split at ${cut}`);
    assert.equal(d.bufferedBytes, 0);
  }
});

test('a chunk pushed while paused waits behind the held bytes', () => {
  const d = new IpfixDeframer();
  const out: Buffer[] = [];
  let accept = false;
  const handler = (m: Buffer): boolean => {
    out.push(Buffer.from(m));
    return accept;
  };
  assert.equal(d.push(Buffer.concat(messages.slice(0, 3)), handler), false);
  assert.equal(out.length, 1);
  assert.equal(d.push(Buffer.concat(messages.slice(3)), handler), false);
  assert.equal(out.length, 1, 'nothing handed out while paused');
  accept = true;
  assert.equal(d.resume(handler), true);
  assert.deepEqual(out, messages);
  assert.equal(d.isPaused, false);
});

test('transient chunks (memory overwritten after each push) yield every message under pauses and random chunkings', () => {
  const rnd = rng(7);
  for (let round = 0; round < 300; round++) {
    const d = new IpfixDeframer();
    const out: Buffer[] = [];
    // One read buffer, as a socket that reads into the same memory each time.
    const reused = Buffer.alloc(64);
    let room = 1;
    const handler = (m: Buffer): boolean => {
      out.push(Buffer.from(m));
      room--;
      return room > 0;
    };
    let off = 0;
    while (off < stream.length) {
      const len = Math.min(Math.floor(rnd() * 64), stream.length - off);
      stream.copy(reused, 0, off, off + len);
      off += len;
      // Sometimes the consumer has room for several messages, sometimes it pauses at once.
      room = 1 + Math.floor(rnd() * 3);
      if (d.isPaused) {
        assert.equal(d.push(reused.subarray(0, len), handler, true), false, 'a chunk pushed while paused is held');
      } else {
        d.push(reused.subarray(0, len), handler, true);
      }
      reused.fill(0xee);
      if (rnd() < 0.5) {
        while (d.isPaused) {
          room = 1;
          d.resume(handler);
        }
      }
    }
    while (d.isPaused) {
      room = 1;
      d.resume(handler);
    }
    assert.deepEqual(out, messages, `round ${round}`);
    assert.equal(d.bufferedBytes, 0);
  }
});

test('without transient, held bytes stay views of the pushed chunk (no copy)', () => {
  const d = new IpfixDeframer();
  const chunk = Buffer.from(stream);
  const out: Buffer[] = [];
  let accept = false;
  assert.equal(d.push(chunk, (m) => (out.push(m), accept)), false);
  // Overwriting the chunk changes what is held: the deframer kept a view, not a copy.
  chunk.fill(0, messages[0].length);
  accept = true;
  assert.throws(() => d.resume((m) => (out.push(m), accept)), (e: unknown) => e instanceof IpfixError && e.code === 'IPFIX_ERR_BAD_VERSION');
});
