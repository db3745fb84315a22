import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KernelSourceError } from '../../../src/exporter/conntrack/errors.js';
import { formatDenyPrefix, parseDenyPrefix } from '../../../src/exporter/nflog/prefix.js';
import { parseNflogPacket, type DeniedPacket } from '../../../src/exporter/nflog/parse.js';
import { NflogSource, readNflogDatagram } from '../../../src/exporter/nflog/source.js';
import { ManualClock } from '../../../src/util/clock.js';
import { controlMessage, ipv4Packet, ipv6Packet, nflogMessage } from './fixtures.js';

const isCode = (code: string) => (err: unknown) => err instanceof KernelSourceError && err.code === code;

describe('flowvis NFLOG prefix', () => {
  it('round-trips action, direction and policy', () => {
    for (const p of [
      { action: 'drop', direction: 'ingress', policy: 'prod/db-allow' },
      { action: 'reject', direction: 'egress', policy: '' },
    ] as const) {
      assert.deepEqual(parseDenyPrefix(formatDenyPrefix(p)), p);
    }
    assert.equal(formatDenyPrefix({ action: 'reject', direction: 'egress', policy: 'a/b' }), 'flowvis:R:E:a/b');
  });

  it('refuses a prefix longer than the 63 bytes NFLOG keeps', () => {
    assert.throws(() => formatDenyPrefix({ action: 'drop', direction: 'ingress', policy: 'x'.repeat(60) }), isCode('NFLOG_ERR_PREFIX'));
  });

  it('returns null for prefixes of other NFLOG users and an error for a broken flowvis prefix', () => {
    assert.equal(parseDenyPrefix('DROP-IN: '), null);
    assert.equal(parseDenyPrefix(''), null);
    assert.throws(() => parseDenyPrefix('flowvis:X:I:a'), isCode('NFLOG_ERR_PREFIX'));
    assert.throws(() => parseDenyPrefix('flowvis:D-I:a'), isCode('NFLOG_ERR_PREFIX'));
    assert.throws(() => parseDenyPrefix('flowvis:D:I-a'), isCode('NFLOG_ERR_PREFIX'));
  });
});

describe('NFLOG packet parser', () => {
  const clock = new ManualClock(1_700_000_000_000);
  const now = () => clock.now();
  const parse = (m: Buffer): DeniedPacket => parseNflogPacket(m, 16, m.length, now);

  it('reads an IPv4 TCP packet: addresses, ports, IP length, prefix, kernel timestamp, mark, interface', () => {
    const p = parse(
      nflogMessage({
        family: 2,
        group: 5,
        prefix: 'flowvis:D:I:prod/db',
        timestamp: [1_700_000_123, 456_789],
        mark: 9,
        indev: 3,
        payload: ipv4Packet({ src: '10.0.0.1', dst: '10.0.1.5', proto: 6, sport: 43210, dport: 5432, totalLength: 60 }),
      }),
    );
    assert.deepEqual(p, {
      group: 5, ipVersion: 4, protocol: 6, sourceAddress: '10.0.0.1', destinationAddress: '10.0.1.5', sourcePort: 43210,
      destinationPort: 5432, bytes: 60, timestampMs: 1_700_000_123_456, prefix: 'flowvis:D:I:prod/db',
      deny: { action: 'drop', direction: 'ingress', policy: 'prod/db' }, mark: 9, inInterface: 3, outInterface: 0,
    });
  });

  it('reads an IPv6 UDP packet behind a hop-by-hop header and takes the clock when there is no timestamp', () => {
    const p = parse(nflogMessage({ family: 10, group: 1, prefix: 'other', payload: ipv6Packet({ src: 'fd00::1', dst: 'fd00::2', proto: 17, sport: 1000, dport: 53, payloadLength: 100, hopByHop: true }) }));
    assert.deepEqual([p.ipVersion, p.protocol, p.sourceAddress, p.destinationAddress, p.sourcePort, p.destinationPort, p.bytes], [6, 17, 'fd00::1', 'fd00::2', 1000, 53, 140]);
    assert.equal(p.timestampMs, 1_700_000_000_000);
    assert.equal(p.deny, null);
  });

  it('gives ICMP and non-first fragments port 0', () => {
    const icmp = parse(nflogMessage({ family: 2, group: 1, payload: ipv4Packet({ src: '1.1.1.1', dst: '2.2.2.2', proto: 1, sport: 0x0800, dport: 1, totalLength: 84 }) }));
    assert.deepEqual([icmp.protocol, icmp.sourcePort, icmp.destinationPort], [1, 0, 0]);
    const frag = parse(nflogMessage({ family: 2, group: 1, payload: ipv4Packet({ src: '1.1.1.1', dst: '2.2.2.2', proto: 17, sport: 9, dport: 9, totalLength: 1500, fragOffset: 185 }) }));
    assert.deepEqual([frag.sourcePort, frag.destinationPort], [0, 0]);
  });

  const bad: Array<[string, Buffer, string]> = [
    ['no payload', nflogMessage({ family: 2, group: 1, prefix: 'x' }), 'NFLOG_ERR_PAYLOAD'],
    ['an IPv6 payload in an AF_INET message', nflogMessage({ family: 2, group: 1, payload: ipv6Packet({ src: '::1', dst: '::2', proto: 6, sport: 1, dport: 2, payloadLength: 20 }) }), 'NFLOG_ERR_PAYLOAD'],
    ['a cut IPv4 header', nflogMessage({ family: 2, group: 1, payload: ipv4Packet({ src: '1.1.1.1', dst: '2.2.2.2', proto: 6, sport: 1, dport: 2, totalLength: 40 }).subarray(0, 12) }), 'NFLOG_ERR_PAYLOAD'],
    ['cut-off ports', nflogMessage({ family: 2, group: 1, payload: ipv4Packet({ src: '1.1.1.1', dst: '2.2.2.2', proto: 6, sport: 1, dport: 2, totalLength: 40 }).subarray(0, 22) }), 'NFLOG_ERR_PAYLOAD'],
    ['a broken flowvis prefix', nflogMessage({ family: 2, group: 1, prefix: 'flowvis:Q', payload: ipv4Packet({ src: '1.1.1.1', dst: '2.2.2.2', proto: 6, sport: 1, dport: 2, totalLength: 40 }) }), 'NFLOG_ERR_PREFIX'],
  ];
  for (const [what, msg, code] of bad) {
    it(`rejects ${what} with ${code}`, () => assert.throws(() => parse(msg), isCode(code)));
  }

  it('delivers every packet of a batched datagram, counts a malformed one, and ignores NLMSG_DONE', () => {
    const good = (sport: number) => nflogMessage({ family: 2, group: 2, payload: ipv4Packet({ src: '1.1.1.1', dst: '2.2.2.2', proto: 17, sport, dport: 2, totalLength: 30 }) });
    const got: number[] = [];
    const errors: KernelSourceError[] = [];
    const n = readNflogDatagram(Buffer.concat([good(1), nflogMessage({ family: 2, group: 2 }), good(2), controlMessage(3, 0)]), now, (p) => got.push(p.sourcePort), (e) => errors.push(e));
    assert.equal(n, 2);
    assert.deepEqual(got, [1, 2]);
    assert.equal(errors[0].code, 'NFLOG_ERR_PAYLOAD');
  });

  it('refuses group 70000 and a copy range below the headers with KERNEL_ERR_OPTION', () => {
    assert.throws(() => new NflogSource({ group: 70000 }), isCode('KERNEL_ERR_OPTION'));
    assert.throws(() => new NflogSource({ group: 1, copyRange: 20 }), isCode('KERNEL_ERR_OPTION'));
  });
});
