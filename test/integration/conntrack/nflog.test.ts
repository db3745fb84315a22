// NFLOG in a network namespace: iptables rules log with a flowvis prefix, then DROP or REJECT;
// the NFLOG source in that namespace turns each logged packet into a DeniedPacket.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { NetnsBed, netnsSkipReason, type Netns, type VethLink } from '../../helpers/netns.js';
import { formatDenyPrefix } from '../../../src/exporter/nflog/prefix.js';
import type { DeniedPacket } from '../../../src/exporter/nflog/parse.js';
import { JsonLines } from './lines.js';

const here = dirname(fileURLToPath(import.meta.url));
const PEER = join(here, 'peer.js');
const PROBE = join(here, 'nflog-probe.js');
const GROUP = 7;
// Ports the DROP/REJECT rules match; nothing listens on them.
const UDP_PORT = 7001;
const TCP_PORT = 7002;

const skip = netnsSkipReason(['iptables', 'ip6tables']);

describe('NFLOG source in a network namespace', { skip }, () => {
  const bed = new NetnsBed('nflog');
  let client: Netns;
  let server: Netns;
  let link: VethLink;
  let probe: JsonLines;
  const dropPrefix = formatDenyPrefix({ action: 'drop', direction: 'ingress', policy: 'test/deny-udp' });
  const rejectPrefix = formatDenyPrefix({ action: 'reject', direction: 'ingress', policy: 'test/deny-tcp' });

  before(async () => {
    client = await bed.namespace();
    server = await bed.namespace();
    link = await bed.link(client, server);
    for (const tool of ['iptables', 'ip6tables']) {
      await server.exec(tool, ['-w', '-A', 'INPUT', '-p', 'udp', '--dport', String(UDP_PORT), '-j', 'NFLOG', '--nflog-group', String(GROUP), '--nflog-prefix', dropPrefix]);
      await server.exec(tool, ['-w', '-A', 'INPUT', '-p', 'udp', '--dport', String(UDP_PORT), '-j', 'DROP']);
    }
    await server.exec('iptables', ['-w', '-A', 'INPUT', '-p', 'tcp', '--dport', String(TCP_PORT), '-j', 'NFLOG', '--nflog-group', String(GROUP), '--nflog-prefix', rejectPrefix]);
    await server.exec('iptables', ['-w', '-A', 'INPUT', '-p', 'tcp', '--dport', String(TCP_PORT), '-j', 'REJECT', '--reject-with', 'tcp-reset']);
    probe = new JsonLines(server.spawn(process.execPath, [PROBE, String(GROUP)]));
    await probe.waitFor('ready', (l) => l.ready === true || typeof l.code === 'string');
    assert.ok(probe.seen.some((l) => l.ready === true), `the NFLOG source did not start: ${JSON.stringify(probe.seen)}`);
  });

  after(async () => {
    probe?.send('quit');
    await bed.cleanup();
  });

  const packetFrom = (port: number) => (l: Record<string, unknown>) => (l.packet as DeniedPacket | undefined)?.sourcePort === port;

  for (const family of [4, 6] as const) {
    it(`reports IPv${family} UDP datagrams dropped after an NFLOG rule, with addresses, ports, length and the drop prefix`, async () => {
      const [src, dst] = family === 4 ? [link.aIPv4, link.bIPv4] : [link.aIPv6, link.bIPv6];
      const c = new JsonLines(client.spawn(process.execPath, [PEER, 'udp-send', dst, String(UDP_PORT), '3', '100']));
      const localPort = (await c.waitFor('sent', (l) => l.sent === 3)).localPort as number;
      await probe.waitFor('three packets', () => probe.seen.filter(packetFrom(localPort)).length >= 3);
      const packets = probe.seen.filter(packetFrom(localPort)).map((l) => l.packet as DeniedPacket);
      assert.equal(packets.length, 3);
      for (const p of packets) {
        assert.deepEqual(
          [p.group, p.ipVersion, p.protocol, p.sourceAddress, p.destinationAddress, p.destinationPort, p.bytes, p.prefix],
          [GROUP, family, 17, src, dst, UDP_PORT, 100 + 8 + (family === 4 ? 20 : 40), dropPrefix],
        );
        assert.deepEqual(p.deny, { action: 'drop', direction: 'ingress', policy: 'test/deny-udp' });
        assert.ok(p.timestampMs > 0);
        assert.notEqual(p.inInterface, 0);
      }
    });
  }

  it('reports a TCP SYN rejected after an NFLOG rule with the reject prefix', async () => {
    const c = new JsonLines(client.spawn(process.execPath, [PEER, 'tcp-client', link.bIPv4, String(TCP_PORT), '10', '10', 'close']));
    await c.waitFor('the refused connection', (l) => typeof l.error === 'string');
    const line = await probe.waitFor('the SYN', (l) => (l.packet as DeniedPacket | undefined)?.protocol === 6);
    const p = line.packet as DeniedPacket;
    assert.deepEqual([p.sourceAddress, p.destinationAddress, p.destinationPort], [link.aIPv4, link.bIPv4, TCP_PORT]);
    assert.deepEqual(p.deny, { action: 'reject', direction: 'ingress', policy: 'test/deny-tcp' });
  });

  it('refuses a second listener on the same group with NETLINK_ERR_KERNEL', async () => {
    const second = new JsonLines(server.spawn(process.execPath, [PROBE, String(GROUP)]));
    const line = await second.waitFor('an error', (l) => typeof l.code === 'string' || l.ready === true);
    assert.equal(line.code, 'NETLINK_ERR_KERNEL');
    assert.match(String(line.error), /EPERM|EBUSY/);
  });
});
