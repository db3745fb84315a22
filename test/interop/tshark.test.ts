// tshark (Wireshark's dissector, an independent IPFIX implementation) decodes a capture of
// what our exporting process sends, and every IANA field shows the value we sent.
//
// The capture is written by the test from the datagrams a loopback UDP socket received, with
// real Ethernet/IPv4/UDP headers (test/helpers/pcap.ts), so no capture privileges are needed.
// tshark's PDML output places each field at its byte position, which tells apart IEs that it
// shows under one name (flowStartSeconds/Milliseconds/Microseconds/Nanoseconds are all
// cflow.abstimestart).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENTERPRISE_IANA, ieByName } from '../../src/ipfix/index.js';
import type { DataRecord, IpfixValue, TemplateDefinition } from '../../src/ipfix/api.js';
import { ExportingProcess } from '../../src/transport/exporting-process.js';
import { EXPORTER_IPV4_TEMPLATE, EXPORTER_IPV6_TEMPLATE, flowRecordToDataRecord } from '../../src/flow/ie-mapping.js';
import { flowRecord, rng } from '../fixtures/ipfix/flows.js';
import { udpFrame, writePcap } from '../helpers/pcap.js';
import { haveTools, runTool, waitUntil } from './tools.js';

/** Wireshark's cflow field for each IANA IE the tests send, and how it shows the value. */
type Show = 'number' | 'float' | 'text' | 'hex' | 'bool' | 'seconds' | 'ms' | 'us' | 'ns';
const TSHARK_FIELDS: Record<string, { field: string; show: Show }> = {
  flowStartSeconds: { field: 'cflow.abstimestart', show: 'seconds' },
  flowEndSeconds: { field: 'cflow.abstimeend', show: 'seconds' },
  flowStartMilliseconds: { field: 'cflow.abstimestart', show: 'ms' },
  flowEndMilliseconds: { field: 'cflow.abstimeend', show: 'ms' },
  flowStartMicroseconds: { field: 'cflow.abstimestart', show: 'us' },
  flowStartNanoseconds: { field: 'cflow.abstimestart', show: 'ns' },
  flowEndReason: { field: 'cflow.flow_end_reason', show: 'number' },
  sourceIPv4Address: { field: 'cflow.srcaddr', show: 'text' },
  destinationIPv4Address: { field: 'cflow.dstaddr', show: 'text' },
  sourceIPv6Address: { field: 'cflow.srcaddrv6', show: 'text' },
  destinationIPv6Address: { field: 'cflow.dstaddrv6', show: 'text' },
  sourceTransportPort: { field: 'cflow.srcport', show: 'number' },
  destinationTransportPort: { field: 'cflow.dstport', show: 'number' },
  protocolIdentifier: { field: 'cflow.protocol', show: 'number' },
  packetTotalCount: { field: 'cflow.permanent_packets', show: 'number' },
  octetTotalCount: { field: 'cflow.permanent_octets', show: 'number' },
  packetDeltaCount: { field: 'cflow.packets', show: 'number' },
  octetDeltaCount: { field: 'cflow.octets', show: 'number' },
  sourceMacAddress: { field: 'cflow.srcmac', show: 'text' },
  ingressInterface: { field: 'cflow.inputint', show: 'number' },
  interfaceName: { field: 'cflow.if_name', show: 'text' },
  tcpControlBits: { field: 'cflow.tcpflags', show: 'hex' },
  ipClassOfService: { field: 'cflow.tos', show: 'hex' },
  vlanId: { field: 'cflow.vlanid', show: 'number' },
  samplingProbability: { field: 'cflow.sampling_probability', show: 'float' },
  dataRecordsReliability: { field: 'cflow.data_records_reliability', show: 'bool' },
  mibObjectValueInteger: { field: 'cflow.mib_object_value_integer', show: 'number' },
};

const EXTRA_TEMPLATE_ID = 400;
const extraTemplate: TemplateDefinition = {
  templateId: EXTRA_TEMPLATE_ID,
  scopeFieldCount: 0,
  fields: [
    'sourceMacAddress', 'flowStartMilliseconds', 'flowEndMilliseconds', 'ingressInterface', 'interfaceName',
    'tcpControlBits', 'ipClassOfService', 'vlanId', 'flowStartMicroseconds', 'flowStartNanoseconds',
    'samplingProbability', 'dataRecordsReliability', 'mibObjectValueInteger', 'octetDeltaCount',
  ].map((name) => {
    const ie = ieByName(name);
    assert.ok(ie, name);
    return { enterpriseId: ie.enterpriseId, elementId: ie.elementId, length: ie.length };
  }),
};

function extraRecord(i: number): DataRecord {
  return {
    sourceMacAddress: `02:42:ac:11:00:${(i + 2).toString(16).padStart(2, '0')}`,
    flowStartMilliseconds: 1_700_000_000_123 + i,
    flowEndMilliseconds: 1_700_000_100_456 + i,
    ingressInterface: 4_000_000_000 + i,
    interfaceName: i % 2 === 0 ? `eth${i}` : `veth-frontend-${i}`,
    tcpControlBits: 0x12,
    ipClassOfService: 0x20 + i,
    vlanId: 100 + i,
    flowStartMicroseconds: 1_700_000_000_123_456 + i,
    flowStartNanoseconds: 1_700_000_000_123_456_789n + BigInt(i),
    samplingProbability: 1 / (i + 2),
    dataRecordsReliability: i % 2 === 0,
    mibObjectValueInteger: -5 - i,
    octetDeltaCount: 2 ** 52 + i,
  };
}

interface PdmlField {
  name: string;
  pos: number;
  size: number;
  show: string;
  /** The field's bytes in hex, as tshark located them. */
  value: string;
}

interface PdmlFlow {
  templateId: number;
  pos: number;
  fields: PdmlField[];
}

function attr(line: string, name: string): string | undefined {
  const m = new RegExp(` ${name}="([^"]*)"`).exec(line);
  return m?.[1];
}

function unescapeXml(s: string): string {
  return s.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}

/** The data records of a PDML dump, in capture order, each with its fields and positions. */
function parsePdml(pdml: string): PdmlFlow[] {
  const flows: PdmlFlow[] = [];
  let setId = 0;
  let flow: PdmlFlow | null = null;
  for (const line of pdml.split('\n')) {
    const show = attr(line, 'show');
    const name = attr(line, 'name');
    if (line.includes('<packet>')) {
      flow = null;
      continue;
    }
    if (name === '' && show !== undefined) {
      const set = /^Set \d+ \[id=(\d+)\]/.exec(show);
      if (set) {
        setId = Number(set[1]);
        flow = null;
        continue;
      }
      if (/^Flow \d+$/.test(show)) {
        flow = { templateId: setId, pos: Number(attr(line, 'pos')), fields: [] };
        flows.push(flow);
        continue;
      }
    }
    if (flow !== null && name?.startsWith('cflow.') && show !== undefined) {
      flow.fields.push({ name, pos: Number(attr(line, 'pos')), size: Number(attr(line, 'size')), show: unescapeXml(show), value: attr(line, 'value') ?? '' });
    }
  }
  return flows;
}

/** "Nov 14, 2023 22:13:20.123456788 UTC" -> nanoseconds since the epoch. */
function shownTimeNs(show: string): bigint {
  const m = /^(.*\d\d:\d\d:\d\d)(?:\.(\d+))? UTC$/.exec(show);
  assert.ok(m, `a UTC time: ${show}`);
  const seconds = Date.parse(`${m[1]} UTC`) / 1000;
  assert.ok(Number.isFinite(seconds), `parsable time: ${show}`);
  return BigInt(seconds) * 1_000_000_000n + BigInt((m[2] ?? '0').padEnd(9, '0').slice(0, 9));
}

function valueLength(value: IpfixValue, fieldLength: number): number {
  if (fieldLength !== 0xffff) return fieldLength;
  const n = typeof value === 'string' ? Buffer.byteLength(value) : (value as Uint8Array).length;
  return n < 255 ? 1 + n : 3 + n;
}

function checkShown(name: string, show: Show, value: IpfixValue, field: PdmlField): void {
  const shown = field.show;
  const what = `${name}: sent ${String(value)}, tshark shows "${shown}"`;
  switch (show) {
    case 'number':
      assert.equal(shown, String(value), what);
      break;
    case 'float':
      // Wireshark prints float64 with 15 significant digits (%.15g).
      assert.equal(Number(shown), Number((value as number).toPrecision(15)), what);
      break;
    case 'text':
      assert.equal(shown, value, what);
      break;
    case 'hex':
      assert.equal(Number(shown), value, what);
      break;
    case 'bool':
      // RFC 7011 6.1.5: true is 1, false is 2. Wireshark 4.0 shows every non-zero octet as
      // True, so for false the test checks the octet tshark located for the field.
      if (value === true) assert.equal(shown, '1', what);
      assert.equal(field.value, value === true ? '01' : '02', `${what} (octet ${field.value})`);
      break;
    case 'seconds':
      assert.equal(shownTimeNs(shown), BigInt(value as number) * 1_000_000_000n, what);
      break;
    case 'ms':
      assert.equal(shownTimeNs(shown), BigInt(value as number) * 1_000_000n, what);
      break;
    case 'us': {
      // NTP fractions (RFC 7011 6.1.9) hold microseconds to within 1 µs as tshark prints them.
      const diff = shownTimeNs(shown) - BigInt(value as number) * 1000n;
      assert.ok(diff > -1000n && diff < 1000n, what);
      break;
    }
    case 'ns': {
      const diff = shownTimeNs(shown) - (value as bigint);
      assert.ok(diff >= -2n && diff <= 2n, what);
      break;
    }
  }
}

describe('interop: tshark decodes our exporting process', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flowvis-tshark-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('shows every IANA field of the exporter templates and of a template of other IANA types with the value we sent', async (t) => {
    if (!haveTools(t, ['tshark'], 'tshark')) return;
    const socket = dgram.createSocket('udp4');
    const datagrams: { payload: Buffer; port: number }[] = [];
    socket.on('message', (payload, rinfo) => datagrams.push({ payload, port: rinfo.port }));
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    const port = socket.address().port;

    const r = rng(2024);
    const sent = new Map<number, DataRecord[]>([
      [EXPORTER_IPV4_TEMPLATE.templateId, Array.from({ length: 20 }, () => flowRecordToDataRecord(flowRecord(r, 4)))],
      [EXPORTER_IPV6_TEMPLATE.templateId, Array.from({ length: 10 }, () => flowRecordToDataRecord(flowRecord(r, 6)))],
      [EXTRA_TEMPLATE_ID, Array.from({ length: 6 }, (_, i) => extraRecord(i))],
    ]);
    const templates = [EXPORTER_IPV4_TEMPLATE, EXPORTER_IPV6_TEMPLATE, extraTemplate];
    const exporter = new ExportingProcess({ host: '127.0.0.1', port, protocol: 'udp', observationDomainId: 7, templates });
    exporter.start();
    for (const [templateId, records] of sent) exporter.send(templateId, records);
    await exporter.flush();
    await exporter.close();
    const messagesSent = exporter.stats().messagesSent; // template messages included
    await waitUntil('every datagram on the loopback socket', () => datagrams.length >= messagesSent);
    socket.close();

    const pcap = join(dir, 'export.pcap');
    writePcap(
      pcap,
      datagrams.map((d, i) => ({
        timestampUs: 1_700_000_000_000_000 + i,
        frame: udpFrame({ sourceAddress: '127.0.0.1', destinationAddress: '127.0.0.1', sourcePort: d.port, destinationPort: port }, d.payload),
      })),
    );
    const pdml = runTool('tshark', ['-n', '-r', pcap, '-d', `udp.port==${port},cflow`, '-T', 'pdml']).stdout;
    const flows = parsePdml(pdml);

    let checked = 0;
    for (const template of templates) {
      const records = sent.get(template.templateId) ?? [];
      const shownFlows = flows.filter((f) => f.templateId === template.templateId);
      assert.equal(shownFlows.length, records.length, `tshark shows every record of template ${template.templateId}`);
      for (let i = 0; i < records.length; i++) {
        let offset = shownFlows[i].pos;
        for (const spec of template.fields) {
          const ie = ieByName(
            Object.keys(records[i]).find((k) => {
              const e = ieByName(k);
              return e?.enterpriseId === spec.enterpriseId && e.elementId === spec.elementId;
            }) ?? '',
          );
          assert.ok(ie, `IE ${spec.enterpriseId}/${spec.elementId} is in the record`);
          const value = records[i][ie.name];
          const length = valueLength(value, spec.length);
          if (ie.enterpriseId === ENTERPRISE_IANA) {
            const mapping = TSHARK_FIELDS[ie.name];
            assert.ok(mapping, `the test knows how tshark shows ${ie.name}`);
            const field = shownFlows[i].fields.find((f) => f.name === mapping.field && f.pos >= offset && f.pos < offset + length);
            assert.ok(field, `tshark shows ${ie.name} (${mapping.field}) at byte ${offset} of record ${i} of template ${template.templateId}`);
            checkShown(ie.name, mapping.show, value, field);
            checked++;
          }
          offset += length;
        }
      }
    }
    // 20 v4 + 10 v6 records with 12 IANA fields each, and 6 records with 14.
    assert.equal(checked, 30 * 12 + 6 * 14);
  });
});
