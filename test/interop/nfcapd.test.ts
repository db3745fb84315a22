// nfcapd (Debian's nfdump, an independent IPFIX collector) receives our UDP export of IANA
// fields, and nfdump shows the same flows: addresses, ports, protocol, packets, bytes, times.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ieByName } from '../../src/ipfix/index.js';
import type { DataRecord, TemplateDefinition } from '../../src/ipfix/api.js';
import { ExportingProcess } from '../../src/transport/exporting-process.js';
import { flowRecord, rng } from '../fixtures/ipfix/flows.js';
import { freeUdpPort, haveTools, runTool, startTool, udpReceiveQueue, waitUntil, type RunningTool } from './tools.js';

function ianaTemplate(templateId: number, family: 4 | 6): TemplateDefinition {
  const names = [
    `sourceIPv${family}Address`, `destinationIPv${family}Address`, 'sourceTransportPort', 'destinationTransportPort',
    'protocolIdentifier', 'packetDeltaCount', 'octetDeltaCount', 'flowStartMilliseconds', 'flowEndMilliseconds',
  ];
  return {
    templateId,
    scopeFieldCount: 0,
    fields: names.map((n) => {
      const ie = ieByName(n);
      assert.ok(ie && ie.enterpriseId === 0, n);
      return { enterpriseId: 0, elementId: ie.elementId, length: ie.length };
    }),
  };
}

/** IANA-only records from the fixture flows, with a mix of TCP and UDP and large counters. */
export function ianaRecords(family: 4 | 6, count: number, seed: number): DataRecord[] {
  const r = rng(seed);
  return Array.from({ length: count }, (_, i) => {
    const f = flowRecord(r, family);
    const start = f.flowStartSeconds * 1000 + i;
    return {
      [`sourceIPv${family}Address`]: f.sourceAddress,
      [`destinationIPv${family}Address`]: f.destinationAddress,
      sourceTransportPort: f.sourceTransportPort,
      destinationTransportPort: f.destinationTransportPort,
      protocolIdentifier: i % 3 === 0 ? 17 : 6,
      packetDeltaCount: 1 + f.packetDeltaCount,
      octetDeltaCount: i === 0 ? 2 ** 40 + 7 : 64 + f.octetDeltaCount,
      flowStartMilliseconds: start,
      flowEndMilliseconds: start + 1500 + i,
    };
  });
}

interface NfdumpFlow {
  first: string;
  last: string;
  in_packets: number;
  in_bytes: number;
  proto: number;
  src_port: number;
  dst_port: number;
  src4_addr?: string;
  dst4_addr?: string;
  src6_addr?: string;
  dst6_addr?: string;
}

/** nfdump prints times as "YYYY-MM-DDThh:mm:ss.mmm" in the TZ it runs with; the test runs it in UTC. */
function nfdumpTimeMs(text: string): number {
  return Date.parse(`${text}Z`);
}

describe('interop: nfcapd receives our UDP export', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flowvis-nfcapd-'));
  let nfcapd: RunningTool | null = null;
  after(async () => {
    await nfcapd?.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('and nfdump shows the same flows: addresses, ports, protocol, packets, bytes and times', async (t) => {
    if (!haveTools(t, ['nfcapd', 'nfdump'], 'nfdump')) return;
    const port = await freeUdpPort();
    nfcapd = startTool('nfcapd', ['-w', dir, '-b', '127.0.0.1', '-p', String(port), '-t', '3600']);
    await waitUntil(`nfcapd to bind 127.0.0.1:${port}`, async () => (await udpReceiveQueue(port)) !== null || nfcapd?.child.exitCode !== null);
    assert.equal(nfcapd.child.exitCode, null, `nfcapd is running: ${nfcapd.output()}`);

    const v4 = ianaRecords(4, 200, 7);
    const v6 = ianaRecords(6, 50, 8);
    const exporter = new ExportingProcess({
      host: '127.0.0.1', port, protocol: 'udp', observationDomainId: 11,
      templates: [ianaTemplate(256, 4), ianaTemplate(257, 6)],
    });
    exporter.start();
    exporter.send(256, v4);
    exporter.send(257, v6);
    await exporter.flush();
    await exporter.close();
    assert.equal(exporter.stats().recordsSent, 250);
    // Every datagram has been read by nfcapd once its socket's receive queue is empty.
    await waitUntil('nfcapd to read every datagram', async () => (await udpReceiveQueue(port)) === 0);
    // SIGTERM makes nfcapd write out its current file and exit.
    assert.equal(await nfcapd.stop('SIGTERM'), 0, nfcapd.output());
    assert.match(nfcapd.output(), /Flows: 250,.*Sequence Errors: 0, Bad Packets: 0/);
    assert.ok(readdirSync(dir).some((f) => /^nfcapd\.\d{12}$/.test(f)), `nfcapd wrote a file: ${readdirSync(dir).join(', ')}`);

    const json = runTool('nfdump', ['-R', dir, '-o', 'json'], { timeoutMs: 30_000, env: { TZ: 'UTC' } }).stdout;
    const shown = JSON.parse(json) as NfdumpFlow[];
    assert.equal(shown.length, 250, 'nfdump shows every flow');
    const key = (sa: unknown, da: unknown, sp: unknown, dp: unknown) => `${String(sa)}|${String(da)}|${String(sp)}|${String(dp)}`;
    const byKey = new Map<string, NfdumpFlow>();
    for (const f of shown) byKey.set(key(f.src4_addr ?? f.src6_addr, f.dst4_addr ?? f.dst6_addr, f.src_port, f.dst_port), f);
    for (const [family, records] of [[4, v4], [6, v6]] as const) {
      for (const r of records) {
        const k = key(r[`sourceIPv${family}Address`], r[`destinationIPv${family}Address`], r.sourceTransportPort, r.destinationTransportPort);
        const f = byKey.get(k);
        assert.ok(f, `nfdump shows the flow ${k}`);
        assert.equal(f.proto, r.protocolIdentifier, `${k} protocol`);
        assert.equal(f.in_packets, r.packetDeltaCount, `${k} packets`);
        assert.equal(f.in_bytes, r.octetDeltaCount, `${k} bytes`);
        assert.equal(nfdumpTimeMs(f.first), r.flowStartMilliseconds, `${k} first`);
        assert.equal(nfdumpTimeMs(f.last), r.flowEndMilliseconds, `${k} last`);
      }
    }
  });
});
