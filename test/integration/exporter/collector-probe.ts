// An in-test IPFIX collector run inside a namespace (`ip netns exec <ns> node collector-probe.js
// <host>`): listens on TCP port 0, prints {"port"}, then one JSON line per decoded data record
// ({"record", "templateId", "observationDomainId"}), bigint as text.
import { CollectingProcess } from '../../../src/transport/collecting-process.js';

const host = process.argv[2] ?? '0.0.0.0';
const cp = new CollectingProcess({ protocol: 'tcp', host, port: 0 });
await cp.start();
process.stdout.write(`${JSON.stringify({ port: cp.address().port })}\n`);
const replacer = (_k: string, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v);
for await (const m of cp) {
  for (const set of m.message.dataSets) {
    for (const record of set.records) {
      process.stdout.write(`${JSON.stringify({ record, templateId: set.templateId, observationDomainId: m.observationDomainId }, replacer)}\n`);
    }
  }
}
