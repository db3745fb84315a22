// softflowd (an independent flow meter and IPFIX exporter) reads a pcap that the test makes and
// exports IPFIX (-v 10) over UDP to the `flowvis collector` process, which decodes every record.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ipLength, tcpFrame, TcpFlags, udpFrame, writePcap, type Ipv4Endpoints, type PcapPacket } from '../helpers/pcap.js';
import { counterFromStderr, startCollectorProcess, type CollectorProcess } from '../integration/collector/spawn.js';
import { haveTools, runTool, waitUntil } from './tools.js';

interface ExpectedFlow {
  ends: Ipv4Endpoints;
  protocol: number;
  packets: number;
  octets: number;
}

function reverse(e: Ipv4Endpoints): Ipv4Endpoints {
  return { sourceAddress: e.destinationAddress, destinationAddress: e.sourceAddress, sourcePort: e.destinationPort, destinationPort: e.sourcePort };
}

/** Traffic of a few connections, and the unidirectional flows a meter must report for it. */
function traffic(): { packets: PcapPacket[]; flows: ExpectedFlow[] } {
  const packets: PcapPacket[] = [];
  const flows = new Map<string, ExpectedFlow>();
  let t = 1_700_000_000_000_000;
  const add = (ends: Ipv4Endpoints, protocol: number, frame: Buffer): void => {
    packets.push({ timestampUs: (t += 1000), frame });
    const k = `${ends.sourceAddress}:${ends.sourcePort}>${ends.destinationAddress}:${ends.destinationPort}/${protocol}`;
    const f = flows.get(k) ?? { ends, protocol, packets: 0, octets: 0 };
    f.packets++;
    f.octets += ipLength(frame);
    flows.set(k, f);
  };
  // A TCP connection with a request and a response, closed by both sides.
  const c = { sourceAddress: '10.1.0.1', destinationAddress: '10.2.0.2', sourcePort: 40001, destinationPort: 80 };
  const s = reverse(c);
  add(c, 6, tcpFrame(c, TcpFlags.syn, 1000, 0));
  add(s, 6, tcpFrame(s, TcpFlags.syn | TcpFlags.ack, 5000, 1001));
  add(c, 6, tcpFrame(c, TcpFlags.ack, 1001, 5001));
  add(c, 6, tcpFrame(c, TcpFlags.psh | TcpFlags.ack, 1001, 5001, Buffer.alloc(100, 0x41)));
  add(s, 6, tcpFrame(s, TcpFlags.psh | TcpFlags.ack, 5001, 1101, Buffer.alloc(500, 0x42)));
  add(c, 6, tcpFrame(c, TcpFlags.fin | TcpFlags.ack, 1101, 5501));
  add(s, 6, tcpFrame(s, TcpFlags.fin | TcpFlags.ack, 5501, 1102));
  add(c, 6, tcpFrame(c, TcpFlags.ack, 1102, 5502));
  // DNS-like UDP: three queries and one answer.
  const q = { sourceAddress: '10.1.0.3', destinationAddress: '10.2.0.4', sourcePort: 5353, destinationPort: 53 };
  for (let i = 0; i < 3; i++) add(q, 17, udpFrame(q, Buffer.alloc(60 + i, i)));
  add(reverse(q), 17, udpFrame(reverse(q), Buffer.alloc(120, 9)));
  // A single NTP packet.
  const n = { sourceAddress: '192.168.7.5', destinationAddress: '10.2.0.6', sourcePort: 123, destinationPort: 123 };
  add(n, 17, udpFrame(n, Buffer.alloc(48, 0x23)));
  return { packets, flows: [...flows.values()] };
}

describe('interop: softflowd exports IPFIX to flowvis collector', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flowvis-softflowd-'));
  let collector: CollectorProcess | null = null;
  after(async () => {
    await collector?.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('and the collector decodes every record, with the addresses, ports, packets and bytes of the pcap', async (t) => {
    if (!haveTools(t, ['softflowd'], 'softflowd')) return;
    const { packets, flows } = traffic();
    const pcap = join(dir, 'traffic.pcap');
    writePcap(pcap, packets);
    collector = await startCollectorProcess(['--address', '127.0.0.1:0', '--transport', 'udp', '--format', 'json', '--http', '127.0.0.1:0']);

    // -d: stay in the foreground; -c none: no control socket (softflowd exits at the end of the
    // pcap); -p: its pid file in our directory.
    const sfd = runTool('softflowd', ['-r', pcap, '-n', `127.0.0.1:${collector.port}`, '-v', '10', '-d', '-c', 'none', '-p', join(dir, 'softflowd.pid')], {
      cwd: dir,
      timeoutMs: 30_000,
    });
    const exported = /Flows exported: \d+ \((\d+) records\) in (\d+) packets \((\d+) failures\)/.exec(sfd.stdout + sfd.stderr);
    assert.ok(exported, `softflowd reports what it exported:\n${sfd.stdout}${sfd.stderr}`);
    const flowRecords = Number(exported[1]);
    assert.equal(flowRecords, flows.length, 'softflowd exported one record per unidirectional flow');
    assert.equal(Number(exported[3]), 0, 'softflowd had no send failures');

    const statsUrl = `${collector.httpUrl}/stats`;
    await waitUntil('the collector to receive every flow record', async () => {
      const lines = collector?.stdout().split('\n').filter((l) => l.includes('"sourceIPv4Address"')) ?? [];
      return lines.length >= flowRecords;
    });
    const stats = (await (await fetch(statsUrl)).json()) as { recordsReceived: number; badMessages: number; recordsWithoutTemplate: number };
    assert.equal(stats.badMessages, 0);
    assert.equal(stats.recordsWithoutTemplate, 0, 'every data set had its template');

    const decoded = collector
      .stdout()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const flowLines = decoded.filter((r) => 'sourceIPv4Address' in r);
    assert.equal(flowLines.length, flows.length);
    for (const f of flows) {
      const match = flowLines.filter(
        (r) =>
          r.sourceIPv4Address === f.ends.sourceAddress &&
          r.destinationIPv4Address === f.ends.destinationAddress &&
          r.sourceTransportPort === f.ends.sourcePort &&
          r.destinationTransportPort === f.ends.destinationPort &&
          r.protocolIdentifier === f.protocol,
      );
      const what = `${f.ends.sourceAddress}:${f.ends.sourcePort} -> ${f.ends.destinationAddress}:${f.ends.destinationPort}/${f.protocol}`;
      assert.equal(match.length, 1, `one record for ${what}`);
      assert.equal(match[0].packetDeltaCount, f.packets, `${what} packets`);
      assert.equal(match[0].octetDeltaCount, f.octets, `${what} bytes`);
    }
    // Besides flows, softflowd sends an options record (its metering process); it is decoded too.
    assert.equal(stats.recordsReceived, decoded.length, 'every received record was printed');

    assert.equal(await collector.stop('SIGTERM'), 0);
    assert.equal(counterFromStderr(collector.stderr(), 'records received'), decoded.length);
    assert.equal(counterFromStderr(collector.stderr(), 'records lost'), 0);
    collector = null;
  });
});
