// Runs inside a namespace for plans.test.ts (`ip netns exec <ns> node plan-probe.js`): dumps the
// real conntrack table into raw datagrams, reads every entry message both through the message
// plans (EntryScanner) and by the attribute walk, then runs two store polls through the fast
// path. Prints one JSON line.
import { RawNetlinkSocket, type RawNetlinkSocketOptions } from 'netlink';
import { ConnectionStore } from '../../../src/exporter/connection-store.js';
import { CtnetlinkDumper } from '../../../src/exporter/conntrack/ctnetlink.js';
import {
  AF_UNSPEC, NETLINK_NETFILTER, NFNL_SUBSYS_CTNETLINK, NLMSG_DONE, NLMSG_HDRLEN, NLM_F_DUMP, NLM_F_REQUEST, align4, buildNfnlRequest, hostU16, hostU32,
} from '../../../src/exporter/conntrack/netlink.js';
import { EntryDigest, EntryScanner, IPCTNL_MSG_CT_GET, IPCTNL_MSG_CT_NEW, buildConntrackEntry, scanConntrackEntry } from '../../../src/exporter/conntrack/parse.js';
import { ManualClock } from '../../../src/util/clock.js';

async function rawDump(): Promise<Buffer[]> {
  const sock = new RawNetlinkSocket(NETLINK_NETFILTER, { messagePeeking: false, msgBufferSize: 32768 } as RawNetlinkSocketOptions);
  const datagrams: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    sock.on('error', reject);
    sock.on('message', (buf: Buffer) => {
      datagrams.push(buf);
      for (let off = 0; off < buf.length; off += align4(hostU32(buf, off))) {
        if (hostU16(buf, off + 4) === NLMSG_DONE) resolve();
      }
    });
    sock.send(buildNfnlRequest((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, 1, AF_UNSPEC, 0), {}, (err) => {
      if (err !== undefined) reject(err);
    });
  });
  sock.close();
  return datagrams;
}

const scanner = new EntryScanner();
const planned = new EntryDigest();
const walked = new EntryDigest();
const mismatches: string[] = [];
let messages = 0;
for (const buf of await rawDump()) {
  for (let off = 0; off < buf.length; off += align4(hostU32(buf, off))) {
    if (hostU16(buf, off + 4) !== ((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW)) continue;
    messages++;
    const end = off + hostU32(buf, off);
    scanner.scan(buf, off + NLMSG_HDRLEN, end, planned);
    scanConntrackEntry(buf, off + NLMSG_HDRLEN, end, walked);
    const a = JSON.stringify({ ...planned, entry: buildConntrackEntry(buf, planned) });
    const b = JSON.stringify({ ...walked, entry: buildConntrackEntry(buf, walked) });
    if (a !== b && mismatches.length < 3) mismatches.push(`${a}\n${b}`);
  }
}

// Two polls of a store through the fast path: the second makes no entry.
const clock = new ManualClock(Date.now());
const store = new ConnectionStore({ activeTimeoutMs: 60_000, idleTimeoutMs: 15_000, maxConnections: 100_000, clock });
const dumper = new CtnetlinkDumper();
const polls: Array<{ made: number; known: number }> = [];
for (let i = 0; i < 2; i++) {
  const counts = { made: 0, known: 0 };
  store.beginDump(clock.now());
  await dumper.dumpEach(
    (e) => {
      counts.made++;
      store.dumpEntry(e);
    },
    { known: (d) => store.dumpKnown(d) && ++counts.known > 0 },
  );
  store.endDump();
  polls.push(counts);
}
await dumper.close();
process.stdout.write(`${JSON.stringify({ messages, planned: scanner.messagesPlanned, walked: scanner.messagesWalked, mismatches, polls, stored: store.size })}\n`);
