// The fd behind a netlink socket of the addon (socket-fd.ts): found through /proc, and usable
// for the read(2) loop of the dump thread and of in-thread dumps (a read after NLMSG_DONE finds
// nothing: EAGAIN, which ends the loop).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readSync, readlinkSync, writeSync } from 'node:fs';
import { RawNetlinkSocket } from 'netlink';
import { isNonBlocking, netlinkSocketFd, netlinkSocketInode } from '../../../src/exporter/conntrack/socket-fd.js';
import { NETLINK_NETFILTER, NLMSG_DONE, NLM_F_DUMP, NLM_F_REQUEST, hostU16, hostWords, writeHostU16, writeHostU32 } from '../../../src/exporter/conntrack/netlink.js';

const TABLE = [
  'sk               Eth Pid        Groups   Rmem     Wmem     Dump  Locks    Drops    Inode',
  '00000000d4663e56 0   0          00000000 0        0        0     2        0        4       ',
  '0000000025d08431 12  134220835  00000000 0        0        0     2        0        1593283 ',
  '0000000025d08432 0   134220835  00000000 0        0        0     2        0        1593290 ',
  '0000000025d08433 12  3000000000 00000000 0        0        0     2        0        1593301 ',
  '',
].join('\n');

describe('whether an fd is non-blocking, from /proc/<pid>/fdinfo', () => {
  it('reads the octal flags line', () => {
    assert.equal(isNonBlocking('pos:\t0\nflags:\t02004002\nmnt_id:\t15\nino:\t1593283\n'), true);
    assert.equal(isNonBlocking('pos:\t0\nflags:\t02000002\nmnt_id:\t15\n'), false);
    assert.equal(isNonBlocking('pos:\t0\nmnt_id:\t15\n'), false);
  });
});

describe('finding a netlink socket in /proc/<pid>/net/netlink', () => {
  const cases: Array<[string, number, number, string | null]> = [
    ['the socket of that protocol and port', NETLINK_NETFILTER, 134220835, '1593283'],
    ['the same port under another protocol is another socket', 0, 134220835, '1593290'],
    ['a port id above 2^31 (unsigned)', NETLINK_NETFILTER, 3000000000, '1593301'],
    ['a port id as a negative int32 is the same port', NETLINK_NETFILTER, 3000000000 | 0, '1593301'],
    ['a port not listed', NETLINK_NETFILTER, 77, null],
    ['a protocol not listed', 16, 134220835, null],
  ];
  for (const [name, protocol, port, inode] of cases) {
    it(name, () => assert.equal(netlinkSocketInode(TABLE, protocol, port), inode));
  }

  it('answers null for a table it cannot read rather than guessing', () => {
    assert.equal(netlinkSocketInode('', NETLINK_NETFILTER, 134220835), null);
    assert.equal(netlinkSocketInode(TABLE.replace('Inode', 'Ino'), NETLINK_NETFILTER, 134220835), null);
    assert.equal(netlinkSocketInode(TABLE.replace('1593283', 'x'), NETLINK_NETFILTER, 134220835), null);
  });
});

const skip = process.platform === 'linux' ? false : 'netlink sockets are Linux only';

describe('the fd of a real netlink socket', { skip }, () => {
  it('is the fd that links to that socket, a different one per socket, and none once closed', () => {
    const a = new RawNetlinkSocket(NETLINK_NETFILTER);
    const b = new RawNetlinkSocket(NETLINK_NETFILTER);
    try {
      const fa = netlinkSocketFd(a, NETLINK_NETFILTER);
      const fb = netlinkSocketFd(b, NETLINK_NETFILTER);
      assert.ok(fa !== null && fb !== null);
      assert.notEqual(fa, fb);
      assert.match(readlinkSync(`/proc/self/fd/${fa}`), /^socket:\[\d+\]$/);
      assert.notEqual(readlinkSync(`/proc/self/fd/${fa}`), readlinkSync(`/proc/self/fd/${fb}`));
      // Asked under the wrong protocol, the port names no socket.
      assert.equal(netlinkSocketFd(a, 0), null);
    } finally {
      a.close();
      b.close();
    }
    assert.equal(netlinkSocketFd(a, NETLINK_NETFILTER), null);
  });

  it('takes a dump request and gives back the dump by read(2), then EAGAIN after NLMSG_DONE', () => {
    // An rtnetlink link dump: allowed without privileges, and every namespace has lo.
    const NETLINK_ROUTE = 0;
    const RTM_GETLINK = 18;
    const sock = new RawNetlinkSocket(NETLINK_ROUTE);
    try {
      const fd = netlinkSocketFd(sock, NETLINK_ROUTE);
      assert.ok(fd !== null);
      const request = Buffer.alloc(32); // nlmsghdr + struct ifinfomsg (AF_UNSPEC)
      writeHostU32(request, 32, 0);
      writeHostU16(request, RTM_GETLINK, 4);
      writeHostU16(request, NLM_F_REQUEST | NLM_F_DUMP, 6);
      writeHostU32(request, 4242, 8);
      assert.equal(writeSync(fd, request), 32);
      const buf = Buffer.allocUnsafeSlow(32768);
      let messages = 0;
      let done = false;
      for (let reads = 0; !done && reads < 1000; reads++) {
        const n: number = readSync(fd, buf, 0, buf.length, null);
        assert.ok(n > 0 && n < buf.length);
        const words: Uint32Array = hostWords(buf.subarray(0, n))!;
        for (let off = 0; off < n; off += (words[off >>> 2] + 3) & ~3) {
          assert.equal(words[(off >>> 2) + 2], 4242, 'the answer carries the request seq');
          if (hostU16(buf, off + 4) === NLMSG_DONE) done = true;
          else messages++;
        }
      }
      assert.equal(done, true);
      assert.ok(messages >= 1, 'at least lo');
      assert.throws(() => readSync(fd, buf, 0, buf.length, null), (err: NodeJS.ErrnoException) => err.code === 'EAGAIN');
    } finally {
      sock.close();
    }
  });
});
