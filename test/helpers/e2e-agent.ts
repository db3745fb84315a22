// The end-to-end suite's eyes inside the testbed's aggregator namespace. The aggregator runs in
// its own network namespace, so the test process cannot reach its loopback; this small program
// is started there (`ip netns exec <prefix>-agg node e2e-agent.js`) and does two jobs:
//
//   1. It is the aggregator's external IPFIX collector: a CollectingProcess (tcp, 127.0.0.1,
//      port 0) whose every decoded data record is printed as one JSON line.
//   2. It relays HTTP GETs to the aggregator's API (the store's /api/v1 routes, /recordmetrics).
//
//   stdout  {"kind":"ready","port":N}
//           {"kind":"session","event":"opened"|"closed","exporterAddress",...,"protocol"}
//           {"kind":"record","templateId",...,"sessionId","receivedAt","record":{IE name: value}}
//           {"kind":"reply","id":N,"status":200,"body":...}   (answer to a stdin request)
//   stdin   {"id":N,"url":"http://127.0.0.1:10348/api/v1/flows?last=1h"}
//
// IPFIX values become JSON as they are: numbers, strings, booleans; bigint as a decimal string,
// octet arrays as hex. Nothing is interpreted here: the test reads the collector's view.
import { createInterface } from 'node:readline';
import { CollectingProcess } from '../../src/transport/collecting-process.js';
import type { IpfixValue } from '../../src/ipfix/api.js';

function jsonValue(v: IpfixValue): string | number | boolean {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
  return v;
}

function print(obj: object): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

async function main(): Promise<void> {
  const collector = new CollectingProcess({ protocol: 'tcp', host: '127.0.0.1', port: 0 });
  collector.on('sessionOpened', (s) => print({ kind: 'session', event: 'opened', ...s }));
  collector.on('sessionClosed', (s) => print({ kind: 'session', event: 'closed', ...s }));
  collector.on('badMessage', (info) => print({ kind: 'badMessage', ...info }));
  collector.onMessage((m) => {
    for (const set of m.message.dataSets) {
      for (const d of set.records) {
        const record: Record<string, string | number | boolean> = {};
        for (const [k, v] of Object.entries(d)) record[k] = jsonValue(v);
        print({
          kind: 'record',
          templateId: set.templateId,
          exporterAddress: m.exporterAddress,
          protocol: m.protocol,
          sessionId: m.sessionId,
          observationDomainId: m.observationDomainId,
          receivedAt: m.receivedAt,
          record,
        });
      }
    }
  });
  await collector.start();
  print({ kind: 'ready', port: collector.address().port });

  createInterface({ input: process.stdin }).on('line', (line) => {
    let req: { id: number; url: string };
    try {
      req = JSON.parse(line) as { id: number; url: string };
    } catch {
      print({ kind: 'reply', id: -1, status: 0, body: `not JSON: ${line}` });
      return;
    }
    fetch(req.url, { signal: AbortSignal.timeout(10_000) })
      .then(async (res) => {
        const text = await res.text();
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // keep the text
        }
        print({ kind: 'reply', id: req.id, status: res.status, body });
      })
      .catch((err: Error) => print({ kind: 'reply', id: req.id, status: 0, body: err.message }));
  });
  process.stdin.on('end', () => {
    void collector.close().then(() => process.exit(0));
  });
  process.on('SIGTERM', () => {
    void collector.close().then(() => process.exit(0));
  });
}

main().catch((err: Error) => {
  print({ kind: 'error', message: err.message });
  process.exit(1);
});
