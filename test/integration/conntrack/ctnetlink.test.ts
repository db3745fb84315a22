// Real conntrack in network namespaces: traffic with known byte counts between a client and a
// server namespace, observed by the ctnetlink dumper running in the client namespace.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { NetnsBed, netnsSkipReason, type Netns, type VethLink } from '../../helpers/netns.js';
import { JsonLines } from './lines.js';

const here = dirname(fileURLToPath(import.meta.url));
const PEER = join(here, 'peer.js');
const PROBE = join(here, 'ct-probe.js');
/** IPv4/IPv6 + TCP header with options, upper bound per packet. */
const TCP_HEADER_MAX = 80;

interface Tuple { sourceAddress: string; destinationAddress: string; sourcePort: number; destinationPort: number; icmpId?: number; icmpType?: number; icmpCode?: number }
interface Entry {
  id: number; ipVersion: number; protocol: number; zone: number; status: number; original: Tuple; reply: Tuple;
  originalPackets: number; originalBytes: number; replyPackets: number; replyBytes: number; tcpState: string; startMs: number; stopMs: number;
}

const skip = netnsSkipReason(['iptables', 'ip6tables', 'conntrack', 'sysctl']);

describe('ctnetlink dumper and events in network namespaces', { skip }, () => {
  const bed = new NetnsBed('ct');
  let client: Netns;
  let server: Netns;
  let link: VethLink;
  let probe: JsonLines;

  before(async () => {
    client = await bed.namespace();
    server = await bed.namespace();
    link = await bed.link(client, server);
    await client.enableConntrack();
    await server.enableConntrack();
    probe = new JsonLines(client.spawn(process.execPath, [PROBE, '--events']));
    await probe.waitFor('ready', (l) => l.ready === true);
  });

  after(async () => {
    probe?.send('quit');
    await bed.cleanup();
  });

  async function serve(mode: 'tcp-server' | 'udp-server', host: string, ...args: number[]): Promise<number> {
    const s = new JsonLines(server.spawn(process.execPath, [PEER, mode, host, ...args.map(String)]));
    return (await s.waitFor('port', (l) => typeof l.port === 'number')).port as number;
  }

  async function dump(): Promise<Entry[]> {
    const from = probe.seen.length;
    probe.send('dump');
    const line = await probe.waitFor('dump', (l) => Array.isArray(l.dump) || typeof l.code === 'string', from);
    assert.ok(Array.isArray(line.dump), `dump failed: ${JSON.stringify(line)}`);
    return line.dump as Entry[];
  }

  function find(entries: Entry[], protocol: number, localPort: number): Entry | undefined {
    return entries.find((e) => e.protocol === protocol && e.original.sourcePort === localPort);
  }

  function assertTcpCounters(e: Entry, sent: number, received: number): void {
    assert.ok(e.originalBytes >= sent && e.originalBytes <= sent + e.originalPackets * TCP_HEADER_MAX, `original ${e.originalBytes} B in ${e.originalPackets} packets for ${sent} B of data`);
    assert.ok(e.replyBytes >= received && e.replyBytes <= received + e.replyPackets * TCP_HEADER_MAX, `reply ${e.replyBytes} B in ${e.replyPackets} packets for ${received} B of data`);
  }

  it('turned on accounting and timestamps in the namespace and said so', () => {
    const ready = probe.seen.find((l) => l.ready === true)!;
    assert.deepEqual((ready.sysctl as Array<{ outcome: string }>).map((r) => r.outcome), ['already-on', 'already-on']);
  });

  for (const family of [4, 6] as const) {
    it(`dumps an open IPv${family} TCP connection with its tuple, counters and ESTABLISHED, then TIME_WAIT after close`, async () => {
      const [src, dst] = family === 4 ? [link.aIPv4, link.bIPv4] : [link.aIPv6, link.bIPv6];
      const sent = 100_000;
      const received = 5_000;
      const port = await serve('tcp-server', dst, sent, received);
      const c = new JsonLines(client.spawn(process.execPath, [PEER, 'tcp-client', dst, String(port), String(sent), String(received), 'hold']));
      const localPort = (await c.waitFor('done', (l) => l.done === true)).localPort as number;

      const open = find(await dump(), 6, localPort);
      assert.ok(open, `no TCP entry from port ${localPort}`);
      assert.equal(open.ipVersion, family);
      assert.deepEqual(open.original, { sourceAddress: src, destinationAddress: dst, sourcePort: localPort, destinationPort: port });
      assert.deepEqual(open.reply, { sourceAddress: dst, destinationAddress: src, sourcePort: port, destinationPort: localPort });
      assert.equal(open.tcpState, 'ESTABLISHED');
      assertTcpCounters(open, sent, received);
      assert.ok(open.startMs > 0 && open.stopMs === 0, `timestamps ${open.startMs} ${open.stopMs}`);
      assert.notEqual(open.id, 0);

      c.send('close');
      await c.exit();
      // The client's exit does not wait for the server's FIN: until the server has closed its end
      // too, the entry is in FIN_WAIT / CLOSE_WAIT / LAST_ACK. Dump again until the handshake is
      // over (a loaded machine can take a while to run the server), then check the state.
      let closed = find(await dump(), 6, localPort);
      for (let tries = 0; tries < 100 && closed && closed.tcpState !== 'TIME_WAIT'; tries++) {
        await new Promise((r) => setTimeout(r, 50));
        closed = find(await dump(), 6, localPort);
      }
      assert.ok(closed, 'a closed connection stays in the table for the TIME_WAIT timeout');
      assert.equal(closed.tcpState, 'TIME_WAIT');
      assert.equal(closed.id, open.id);
      assert.ok(closed.originalPackets > open.originalPackets, 'the FIN and ACKs were counted');
    });

    it(`dumps an IPv${family} UDP conversation with exact counters`, async () => {
      const dst = family === 4 ? link.bIPv4 : link.bIPv6;
      const port = await serve('udp-server', dst);
      const count = 10;
      const size = 200;
      const c = new JsonLines(client.spawn(process.execPath, [PEER, 'udp-client', dst, String(port), String(count), String(size)]));
      const localPort = (await c.waitFor('done', (l) => l.done === true)).localPort as number;
      const e = find(await dump(), 17, localPort);
      assert.ok(e, `no UDP entry from port ${localPort}`);
      const perPacket = size + 8 + (family === 4 ? 20 : 40);
      assert.deepEqual([e.originalPackets, e.originalBytes, e.replyPackets, e.replyBytes], [count, count * perPacket, count, count * perPacket]);
      assert.equal(e.tcpState, '');
      assert.equal(e.original.destinationPort, port);
    });
  }

  it('sees a connection that opened and closed between two dumps through its DESTROY event, with final counters', async (t) => {
    const sent = 30_000;
    const received = 2_000;
    const port = await serve('tcp-server', link.bIPv4, sent, received);
    // A TIME_WAIT timeout of 0 makes the closed connection expire at once: the next dump skips
    // it and reaps it, which sends its DESTROY event. No waiting for the kernel's GC.
    await client.exec('sysctl', ['-q', '-w', 'net.netfilter.nf_conntrack_tcp_timeout_time_wait=0']);
    t.after(() => client.exec('sysctl', ['-q', '-w', 'net.netfilter.nf_conntrack_tcp_timeout_time_wait=120']));
    const before = await dump();
    const from = probe.seen.length;
    const c = new JsonLines(client.spawn(process.execPath, [PEER, 'tcp-client', link.bIPv4, String(port), String(sent), String(received), 'close']));
    const localPort = (await c.waitFor('done', (l) => l.done === true)).localPort as number;
    await c.exit();
    const isOurs = (type: string) => (l: Record<string, unknown>) => {
      const ev = l.event as { type: string; entry: Entry } | undefined;
      return ev?.type === type && ev.entry.protocol === 6 && ev.entry.original.sourcePort === localPort;
    };
    const later = await dump();
    const destroyed = ((await probe.waitFor('DESTROY event', isOurs('destroy'), from)).event as { entry: Entry }).entry;
    assert.equal(find(before, 6, localPort), undefined);
    assert.equal(find(later, 6, localPort), undefined);
    await probe.waitFor('NEW event', isOurs('new'), from, 1);
    assert.equal(destroyed.original.destinationPort, port);
    assertTcpCounters(destroyed, sent, received);
    assert.ok(destroyed.startMs > 0 && destroyed.stopMs >= destroyed.startMs, `start ${destroyed.startMs} stop ${destroyed.stopMs}`);
  });

  it('reads the echo identifier, type and code of ICMP and ICMPv6 entries, which tell apart two pings between the same hosts', async () => {
    for (const id of [1000, 1001]) {
      await client.exec('conntrack', ['-I', '-p', 'icmp', '-s', '192.0.2.7', '-d', '192.0.2.8', '--icmp-type', '8', '--icmp-code', '0', '--icmp-id', String(id), '-t', '120']);
    }
    await client.exec('conntrack', ['-I', '-p', 'icmpv6', '-s', 'fd00:7::1', '-d', 'fd00:7::2', '--icmpv6-type', '128', '--icmpv6-code', '0', '--icmpv6-id', '7', '-t', '120']);
    const entries = await dump();
    const pings = entries
      .filter((e) => e.original.sourceAddress === '192.0.2.7')
      .map((e) => [e.protocol, e.original.icmpId, e.original.icmpType, e.original.icmpCode, e.reply.icmpType])
      .sort();
    assert.deepEqual(pings, [[1, 1000, 8, 0, 0], [1, 1001, 8, 0, 0]]);
    const v6 = entries.find((e) => e.original.sourceAddress === 'fd00:7::1');
    assert.ok(v6, 'the ICMPv6 entry');
    assert.deepEqual([v6.protocol, v6.original.icmpId, v6.original.icmpType, v6.original.icmpCode, v6.reply.icmpType], [58, 7, 128, 0, 129]);
  });

  it('keeps only the configured zone', async () => {
    await client.exec('conntrack', ['-I', '-p', 'udp', '-s', '192.0.2.1', '-d', '192.0.2.2', '--sport', '1111', '--dport', '2222', '-t', '120', '--zone', '5']);
    await client.exec('conntrack', ['-I', '-p', 'udp', '-s', '192.0.2.1', '-d', '192.0.2.2', '--sport', '1112', '--dport', '2222', '-t', '120']);
    const z = new JsonLines(client.spawn(process.execPath, [PROBE, '--zone', '5']));
    await z.waitFor('ready', (l) => l.ready === true);
    z.send('dump');
    const line = await z.waitFor('dump', (l) => Array.isArray(l.dump));
    z.send('quit');
    const entries = line.dump as Entry[];
    assert.deepEqual(entries.map((e) => [e.zone, e.original.sourcePort]), [[5, 1111]]);
    const all = await dump();
    assert.ok(find(all, 17, 1112) && find(all, 17, 1111), 'the unfiltered dump has both');
  });
});
