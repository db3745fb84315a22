import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatIPv6, parseConntrackEntry, TCP_STATE_NAMES } from '../../../src/exporter/conntrack/parse.js';
import { KernelSourceError } from '../../../src/exporter/conntrack/errors.js';
import { attr, be16, be32, ctMessage, entryAttrs, ipv4, ipv6, nest, nfMessage, CT_NEW_TYPE } from './fixtures.js';

const TCP = { src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 80, proto: 6 };

function parse(msg: Buffer) {
  return parseConntrackEntry(msg, 16, msg.length);
}

function assertCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => err instanceof KernelSourceError && err.code === code);
}

describe('ctnetlink entry parser', () => {
  it('reads tuples, counters, TCP state, status, mark, zone, id, timestamps, labels and timeout of an IPv4 entry', () => {
    const labels = Buffer.alloc(16);
    labels[15] = 0x01;
    const e = parse(
      ctMessage({
        orig: TCP,
        reply: { src: '10.0.0.2', dst: '192.168.1.9', sport: 80, dport: 40000, proto: 6 },
        status: 0x18e,
        tcpState: 3,
        timeout: 431999,
        mark: 0x12345678,
        id: 0xdeadbeef,
        zone: 7,
        origCounters: [12, 1500],
        replyCounters: [10, 64000],
        startNs: 1_700_000_000_123_456_789n,
        stopNs: 1_700_000_005_000_000_000n,
        labels,
      }),
    );
    assert.deepEqual(e, {
      id: 0xdeadbeef,
      ipVersion: 4,
      protocol: 6,
      zone: 7,
      mark: 0x12345678,
      status: 0x18e,
      labels: new Uint8Array(labels),
      original: { sourceAddress: '10.0.0.1', destinationAddress: '10.0.0.2', sourcePort: 40000, destinationPort: 80 },
      reply: { sourceAddress: '10.0.0.2', destinationAddress: '192.168.1.9', sourcePort: 80, destinationPort: 40000 },
      originalPackets: 12,
      originalBytes: 1500,
      replyPackets: 10,
      replyBytes: 64000,
      tcpState: 'ESTABLISHED',
      startMs: 1_700_000_000_123,
      stopMs: 1_700_000_005_000,
      timeoutSeconds: 431999,
    });
  });

  it('keeps labels as a copy that outlives the receive buffer', () => {
    const msg = ctMessage({ orig: TCP, labels: Buffer.alloc(16, 0xaa) });
    const e = parse(msg);
    msg.fill(0);
    assert.deepEqual(e.labels, new Uint8Array(16).fill(0xaa));
    assert.ok(!Buffer.isBuffer(e.labels));
  });

  it('reads an IPv6 UDP entry, with no TCP state and zero defaults for absent attributes', () => {
    const e = parse(ctMessage({ orig: { src: 'fd00:231::1', dst: 'fd00:231::2', sport: 5353, dport: 53, proto: 17 } }));
    assert.equal(e.ipVersion, 6);
    assert.equal(e.protocol, 17);
    assert.equal(e.tcpState, '');
    assert.equal(e.original.sourceAddress, 'fd00:231::1');
    assert.equal(e.reply.sourceAddress, 'fd00:231::2');
    assert.equal(e.reply.destinationPort, 5353);
    assert.deepEqual([e.zone, e.originalBytes, e.replyPackets, e.startMs, e.stopMs, e.labels], [0, 0, 0, 0, 0, null]);
  });

  it('reads the echo identifier, type and code of ICMP and ICMPv6 entries, and leaves them out for other protocols', () => {
    const v4 = parse(ctMessage({
      orig: { src: '10.0.0.1', dst: '10.0.0.2', sport: 0, dport: 0, proto: 1, icmp: { id: 4242, type: 8, code: 0 } },
      reply: { src: '10.0.0.2', dst: '10.0.0.1', sport: 0, dport: 0, proto: 1, icmp: { id: 4242, type: 0, code: 0 } },
    }));
    assert.deepEqual([v4.original.icmpId, v4.original.icmpType, v4.original.icmpCode], [4242, 8, 0]);
    assert.deepEqual([v4.reply.icmpId, v4.reply.icmpType], [4242, 0]);
    assert.deepEqual([v4.original.sourcePort, v4.original.destinationPort], [0, 0]);
    const v6 = parse(ctMessage({ orig: { src: 'fd00::1', dst: 'fd00::2', sport: 0, dport: 0, proto: 58, icmp: { id: 7, type: 128, code: 0 } } }));
    assert.deepEqual([v6.original.icmpId, v6.original.icmpType, v6.original.icmpCode], [7, 128, 0]);
    const tcp = parse(ctMessage({ orig: TCP }));
    assert.equal('icmpId' in tcp.original, false);
  });

  for (const [value, name] of TCP_STATE_NAMES.entries()) {
    it(`maps TCP state ${value} to ${name}`, () => {
      assert.equal(parse(ctMessage({ orig: TCP, tcpState: value })).tcpState, name);
    });
  }

  it('names a TCP state beyond the known ones instead of guessing', () => {
    assert.equal(parse(ctMessage({ orig: TCP, tcpState: 42 })).tcpState, 'UNKNOWN_42');
  });

  it('carries a counter of 2^53 - 1 exactly and rejects 2^53 with CTNL_ERR_COUNTER_RANGE', () => {
    const max = 2n ** 53n - 1n;
    const e = parse(ctMessage({ orig: TCP, origCounters: [max, max] }));
    assert.equal(e.originalBytes, Number.MAX_SAFE_INTEGER);
    assertCode(() => parse(ctMessage({ orig: TCP, replyCounters: [1, 2n ** 53n] })), 'CTNL_ERR_COUNTER_RANGE');
  });

  it('skips attributes it does not know, nested or not', () => {
    const body = [attr(0x3ff0, Buffer.alloc(7, 1)), ...entryAttrs({ orig: TCP }), nest(0x3ff1, attr(1, be32(5)))];
    const e = parse(nfMessage({ type: CT_NEW_TYPE, family: 2, body }));
    assert.equal(e.original.destinationPort, 80);
  });

  const zone = (z: number): Buffer => attr(18, be16(z));
  const malformed: Array<[string, () => Buffer, string]> = [
    ['an attribute header cut short', () => Buffer.concat([ctMessage({ orig: TCP }), Buffer.of(8, 0)]), 'NETLINK_ERR_SHORT_BUFFER'],
    ['nla_len below 4', () => nfMessage({ type: CT_NEW_TYPE, family: 2, body: [attr(3, be32(1), 2)] }), 'NETLINK_ERR_BAD_ATTRIBUTE'],
    ['nla_len past the message end', () => nfMessage({ type: CT_NEW_TYPE, family: 2, body: [attr(3, be32(1), 200)] }), 'NETLINK_ERR_SHORT_BUFFER'],
    ['no CTA_TUPLE_ORIG', () => nfMessage({ type: CT_NEW_TYPE, family: 2, body: entryAttrs({ orig: TCP }).slice(1) }), 'CTNL_ERR_MISSING_ATTRIBUTE'],
    ['no CTA_TUPLE_REPLY', () => nfMessage({ type: CT_NEW_TYPE, family: 2, body: [entryAttrs({ orig: TCP })[0]] }), 'CTNL_ERR_MISSING_ATTRIBUTE'],
    ['a tuple without addresses', () => nfMessage({ type: CT_NEW_TYPE, family: 2, body: [nest(1, nest(2, attr(1, Buffer.of(6))))] }), 'CTNL_ERR_MISSING_ATTRIBUTE'],
    ['a tuple without CTA_PROTO_NUM', () => nfMessage({ type: CT_NEW_TYPE, family: 2, body: [nest(1, nest(1, attr(1, ipv4('1.1.1.1')), attr(2, ipv4('2.2.2.2'))))] }), 'CTNL_ERR_MISSING_ATTRIBUTE'],
    ['a 3-byte IPv4 address', () => nfMessage({ type: CT_NEW_TYPE, family: 2, body: [nest(1, nest(1, attr(1, Buffer.of(1, 2, 3))))] }), 'NETLINK_ERR_BAD_ATTRIBUTE'],
    ['an IPv6 address in an AF_INET entry', () => nfMessage({ type: CT_NEW_TYPE, family: 2, body: [nest(1, nest(1, attr(3, ipv6('::1'))))] }), 'NETLINK_ERR_BAD_ATTRIBUTE'],
    ['a 3-byte CTA_STATUS', () => nfMessage({ type: CT_NEW_TYPE, family: 2, body: [attr(3, Buffer.of(1, 2, 3))] }), 'NETLINK_ERR_BAD_ATTRIBUTE'],
    ['a 4-byte CTA_ZONE', () => nfMessage({ type: CT_NEW_TYPE, family: 2, body: [attr(18, be32(1))] }), 'NETLINK_ERR_BAD_ATTRIBUTE'],
    ['a 4-byte counter', () => nfMessage({ type: CT_NEW_TYPE, family: 2, body: [nest(9, attr(1, be32(1)))] }), 'NETLINK_ERR_BAD_ATTRIBUTE'],
    ['family AF_BRIDGE', () => nfMessage({ type: CT_NEW_TYPE, family: 7, body: [zone(1)] }), 'CTNL_ERR_FAMILY'],
    ['no nfgenmsg', () => nfMessage({ type: CT_NEW_TYPE, family: 2, body: [] }).subarray(0, 18), 'NETLINK_ERR_SHORT_BUFFER'],
  ];
  for (const [what, build, code] of malformed) {
    it(`rejects ${what} with ${code}`, () => assertCode(() => parse(build()), code));
  }

  it('throws only KernelSourceError when the message is cut at any byte', () => {
    const full = ctMessage({ orig: TCP, tcpState: 3, origCounters: [1, 2], replyCounters: [3, 4], startNs: 1n, labels: Buffer.alloc(16) });
    for (let cut = 16; cut < full.length; cut++) {
      try {
        parseConntrackEntry(full, 16, cut);
      } catch (err) {
        assert.ok(err instanceof KernelSourceError, `cut at ${cut}: ${String(err)}`);
      }
    }
  });

  it('throws only KernelSourceError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.constantFrom(2, 10), (bytes, family) => {
        const buf = Buffer.concat([Buffer.of(family, 0, 0, 0), Buffer.from(bytes)]);
        try {
          parseConntrackEntry(buf, 0, buf.length);
        } catch (err) {
          return err instanceof KernelSourceError;
        }
        return true;
      }),
      { numRuns: 2000, seed: 42 },
    );
  });
});

describe('IPv6 text (RFC 5952)', () => {
  const cases: Array<[string, string]> = [
    ['0000:0000:0000:0000:0000:0000:0000:0001', '::1'],
    ['0000:0000:0000:0000:0000:0000:0000:0000', '::'],
    ['2001:0db8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1'],
    ['2001:0db8:0000:0001:0001:0001:0001:0001', '2001:db8:0:1:1:1:1:1'],
    ['fd00:0231:0000:0000:0000:0000:0000:0002', 'fd00:231::2'],
    ['fe80:0000:0000:0000:0000:0000:0000:0000', 'fe80::'],
    ['0000:0000:0000:0000:0000:ffff:0a00:0001', '::ffff:10.0.0.1'],
    ['2001:0db8:0000:0000:0001:0000:0000:0000', '2001:db8:0:0:1::'],
  ];
  for (const [full, want] of cases) {
    it(`writes ${full} as ${want}`, () => {
      const b = Buffer.alloc(16);
      full.split(':').forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
      assert.equal(formatIPv6(b, 0), want);
    });
  }
});
