// The dump thread against the in-thread path on a real conntrack table: the same entries,
// none missed or duplicated, in a table large enough to turn the ring many times.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { NetnsBed, netnsSkipReason, type Netns } from '../../helpers/netns.js';

const PROBE = join(dirname(fileURLToPath(import.meta.url)), 'thread-probe.js');
const skip = netnsSkipReason(['iptables', 'ip6tables', 'sysctl']);
/** About 230 bytes an entry, 32 KiB datagrams: ~180 datagrams, the ring holds 64. */
const V4_FLOWS = 24_000;
const V6_FLOWS = 2_000;

describe('ctnetlink dumps received on the dump thread', { skip }, () => {
  const bed = new NetnsBed('dthr');
  let ns: Netns;

  before(async () => {
    ns = await bed.namespace();
    await ns.exec('ip', ['link', 'set', 'lo', 'up']);
    await ns.enableConntrack();
    // The flows must outlive the test: no traffic follows their first datagram.
    await ns.exec('sysctl', ['-q', '-w', 'net.netfilter.nf_conntrack_udp_timeout=600']);
  });

  after(async () => {
    await bed.cleanup();
  });

  it('sees exactly the entries the in-thread path sees, IPv4 and IPv6, none twice, reading the fd or not', async () => {
    const { stdout } = await ns.exec(process.execPath, [PROBE, String(V4_FLOWS), String(V6_FLOWS)]);
    const r = JSON.parse(stdout) as {
      rounds: Array<{ thread: number; main: number; same: boolean; firstDifference: string | null }>;
      distinct: number; v4: number; v6: number;
      threadStats: { dumps: number; dumpsOnThread: number; dumpsFailed: number; malformed: number; datagrams: number; datagramsReadFromFd: number };
      mainStats: { dumps: number; dumpsOnThread: number; datagrams: number; datagramsReadFromFd: number };
      threadAddonStats: { dumps: number; dumpsOnThread: number; datagrams: number; datagramsReadFromFd: number };
      mainAddonStats: { dumps: number; dumpsOnThread: number; datagrams: number; datagramsReadFromFd: number };
    };
    for (const round of r.rounds) {
      assert.equal(round.firstDifference, null);
      assert.equal(round.same, true);
      assert.equal(round.thread, round.main);
    }
    assert.ok(r.v4 >= V4_FLOWS, `${r.v4} IPv4 entries for ${V4_FLOWS} flows`);
    assert.ok(r.v6 >= V6_FLOWS, `${r.v6} IPv6 entries for ${V6_FLOWS} flows`);
    assert.equal(r.distinct, r.v4 + r.v6);
    assert.equal(r.rounds[0].thread, r.distinct);
    assert.deepEqual([r.threadStats.dumps, r.threadStats.dumpsOnThread, r.threadStats.dumpsFailed, r.threadStats.malformed], [4, 4, 0, 0]);
    assert.deepEqual([r.mainStats.dumps, r.mainStats.dumpsOnThread], [3, 0]);
    // Both read the socket's fd (socket-fd.ts) instead of taking the addon's buffers: the dump
    // thread every datagram, the main thread 3 of every 4 (each one the addon's watcher delivers
    // is followed by 3 reads).
    assert.ok(r.threadStats.datagrams > 4 * 100, `${r.threadStats.datagrams} datagrams in 4 dumps`);
    assert.equal(r.threadStats.datagramsReadFromFd, r.threadStats.datagrams);
    assert.ok(r.mainStats.datagrams > 3 * 100, `${r.mainStats.datagrams} datagrams in 3 dumps`);
    assert.ok(
      r.mainStats.datagramsReadFromFd >= Math.floor((r.mainStats.datagrams * 3) / 4),
      `${r.mainStats.datagramsReadFromFd} of ${r.mainStats.datagrams} datagrams read from the fd`,
    );
    // With readFromFd false, the addon receives them all, on either thread.
    for (const [stats, onThread] of [[r.threadAddonStats, 3], [r.mainAddonStats, 0]] as const) {
      assert.deepEqual([stats.dumps, stats.dumpsOnThread, stats.datagramsReadFromFd], [3, onThread, 0]);
      assert.ok(stats.datagrams > 3 * 100, `${stats.datagrams} datagrams in 3 dumps`);
    }
  });

  it('lets a process that never closed its dumper end cleanly, with exit code 0', async () => {
    // ns.exec rejects on a non-zero exit: an abort from the netlink addon while the process
    // tears down a running worker thread would be 134.
    for (let i = 0; i < 3; i++) {
      const { stdout, stderr } = await ns.exec(process.execPath, [PROBE, '--dump-and-leave']);
      assert.ok((JSON.parse(stdout) as { entries: number }).entries > 0);
      assert.equal(stderr, '');
    }
  });
});
