// Runs the ctnetlink dumper inside a namespace for the integration tests
// (`ip netns exec <ns> node dist/test/integration/conntrack/ct-probe.js [--events]`).
// Prints JSON lines: {"ready", "sysctl"} at start; {"event"} per conntrack event with --events;
// {"overflow"} on ENOBUFS; {"dump"} for each "dump" line read on stdin; exits on "quit".
import { createInterface } from 'node:readline';
import { CtnetlinkDumper } from '../../../src/exporter/conntrack/ctnetlink.js';
import type { ConntrackEntry } from '../../../src/exporter/conntrack/types.js';
import { enableConntrackAccounting } from '../../../src/exporter/sysctl.js';

const out = (o: unknown): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};
const plain = (e: ConntrackEntry): unknown => ({ ...e, labels: e.labels === null ? null : Buffer.from(e.labels).toString('hex') });

const zoneArg = process.argv.indexOf('--zone');
const dumper = new CtnetlinkDumper({
  zone: zoneArg > 0 ? Number(process.argv[zoneArg + 1]) : null,
  onError: (err) => out({ error: err.message, code: err.code }),
});
const sysctl = await enableConntrackAccounting();
if (process.argv.includes('--events')) {
  await dumper.subscribe(
    (ev) => out({ event: { type: ev.type, entry: plain(ev.entry) } }),
    () => out({ overflow: true }),
  );
}
out({ ready: true, sysctl });
createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = line.trim();
  if (cmd === 'dump') {
    dumper.dump().then(
      (entries) => out({ dump: entries.map(plain), stats: dumper.stats }),
      (err: Error & { code?: string }) => out({ error: err.message, code: err.code }),
    );
  } else if (cmd === 'quit') {
    void dumper.close().then(() => process.exit(0));
  }
});
