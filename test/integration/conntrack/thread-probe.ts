// Runs inside a namespace for dump-thread.test.ts
// (`ip netns exec <ns> node thread-probe.js <v4 flows> <v6 flows>`): fills the conntrack table
// with UDP flows over loopback, then dumps it with the dump thread and on the main thread,
// alternately, and prints one JSON line comparing what each saw.
// `thread-probe.js --dump-and-leave`: one dump on the dump thread, then the process ends on its
// own without closing the dumper (its exit code tells whether that ended cleanly).
import { createSocket } from 'node:dgram';
import { CtnetlinkDumper } from '../../../src/exporter/conntrack/ctnetlink.js';
import type { ConntrackEntry } from '../../../src/exporter/conntrack/types.js';

async function send(family: 'udp4' | 'udp6', n: number): Promise<void> {
  const sock = createSocket(family);
  await new Promise<void>((resolve) => sock.bind(0, family === 'udp4' ? '127.0.0.1' : '::1', resolve));
  const payload = Buffer.alloc(8);
  let inFlight = 0;
  for (let i = 0; i < n; i++) {
    const [host, port] = family === 'udp4' ? [`127.1.${(i >> 8) & 255}.${i & 255}`, 20000 + ((i >> 16) & 255)] : ['::1', 30000 + i];
    inFlight++;
    sock.send(payload, port, host, () => inFlight--);
    if (inFlight > 256) await new Promise((r) => setImmediate(r));
  }
  while (inFlight > 0) await new Promise((r) => setImmediate(r));
  sock.close();
}

/** The entry without its timeout, which counts down between two dumps. */
const comparable = (e: ConntrackEntry): string => JSON.stringify({ ...e, timeoutSeconds: 0, labels: e.labels === null ? null : [...e.labels] });

function keyed(entries: ConntrackEntry[]): string[] {
  return entries.map(comparable).sort();
}

if (process.argv[2] === '--dump-and-leave') {
  const summary = await new CtnetlinkDumper({ dumpThread: true }).dumpEach(() => {});
  process.stdout.write(`${JSON.stringify({ entries: summary.entries })}\n`);
} else {
  await compare();
}

async function compare(): Promise<void> {
const v4 = Number(process.argv[2]);
const v6 = Number(process.argv[3]);
await send('udp4', v4);
await send('udp6', v6);

const onThread = new CtnetlinkDumper({ dumpThread: true });
const onMain = new CtnetlinkDumper({ dumpThread: false });
// The same two with every datagram received by the addon (no reads from the socket's fd).
const onThreadAddon = new CtnetlinkDumper({ dumpThread: true, readFromFd: false });
const onMainAddon = new CtnetlinkDumper({ dumpThread: false, readFromFd: false });
const rounds: Array<{ thread: number; main: number; same: boolean; firstDifference: string | null }> = [];
const differs = (a: string[], b: string[]): string | null => {
  if (a.length === b.length && a.every((x, j) => x === b[j])) return null;
  return a.find((x) => !b.includes(x)) ?? b.find((x) => !a.includes(x)) ?? 'order or count';
};
for (let i = 0; i < 3; i++) {
  const a = keyed(await onThread.dump());
  const b = keyed(await onMain.dump());
  const c = keyed(await onThreadAddon.dump());
  const d = keyed(await onMainAddon.dump());
  const firstDifference = differs(a, b) ?? differs(a, c) ?? differs(a, d);
  rounds.push({ thread: a.length, main: b.length, same: firstDifference === null, firstDifference });
}
// Distinct entries (no duplicates within a dump) and both families present.
const once = await onThread.dump();
const ids = new Set(once.map((e) => `${e.id}/${comparable(e)}`));
process.stdout.write(
  `${JSON.stringify({
    rounds,
    distinct: ids.size,
    v4: once.filter((e) => e.ipVersion === 4).length,
    v6: once.filter((e) => e.ipVersion === 6).length,
    threadStats: onThread.stats,
    mainStats: onMain.stats,
    threadAddonStats: onThreadAddon.stats,
    mainAddonStats: onMainAddon.stats,
  })}\n`,
);
await onThread.close();
await onMain.close();
await onThreadAddon.close();
await onMainAddon.close();
}
