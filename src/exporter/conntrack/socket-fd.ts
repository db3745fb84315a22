// The file descriptor behind a `netlink` RawNetlinkSocket, found through /proc, so that a dump
// can be received with plain read(2) calls (fs.readSync) into memory we own.
//
// Why: the addon receives every datagram into a new buffer (`new char[n]()`, zeroed: a malloc
// and a 32 KiB memset per datagram), wraps it in a Buffer with a finalizer and calls back into
// JS; the dump thread then copied it into its ring. It offers no receive into a caller's buffer
// and does not expose its fd. Reading the fd directly puts each datagram straight into a ring
// slot: no allocation, no zeroing, no copy, no callback, no garbage for the thread's GC.
//
// How: the socket's port id (getsockname, `address().port`) names it in /proc/self/net/netlink
// (per network namespace: protocol, port id, ..., inode), and the fd is the entry of
// /proc/self/fd that links to `socket:[<inode>]`. A port id is unique per protocol and
// namespace, so the match is exact. Without /proc (or if the socket is not listed, or its fd is
// not non-blocking) the answer is null and the caller keeps receiving through the addon.
//
// A read(2) returns no sender address: only the kernel and processes with CAP_NET_ADMIN can
// send to a NETLINK_NETFILTER socket (the protocol does not allow unprivileged unicast), and the
// dump reader still checks each message's seq and type.
import { constants as fsConstants, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import type { RawNetlinkSocket } from 'netlink';

/** The fd of `sock` (a socket of netlink protocol `protocol`), or null when /proc cannot tell. */
export function netlinkSocketFd(sock: RawNetlinkSocket, protocol: number): number | null {
  let inode: string | null;
  try {
    inode = netlinkSocketInode(readFileSync('/proc/self/net/netlink', 'utf8'), protocol, sock.address().port);
  } catch {
    return null;
  }
  if (inode === null) return null;
  const link = `socket:[${inode}]`;
  let fds: string[];
  try {
    fds = readdirSync('/proc/self/fd');
  } catch {
    return null;
  }
  for (const fd of fds) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) !== link) continue;
      // The read loops rely on a read finding nothing ready returning EAGAIN, not blocking
      // the thread: libuv made the fd non-blocking for the addon's watcher (uv_poll_init).
      return isNonBlocking(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8')) ? Number(fd) : null;
    } catch {
      // closed meanwhile (another thread's fd)
    }
  }
  return null;
}

/** Whether /proc/<pid>/fdinfo/<fd> text shows O_NONBLOCK in its (octal) `flags:` line. */
export function isNonBlocking(fdinfo: string): boolean {
  const m = /^flags:\s*([0-7]+)$/m.exec(fdinfo);
  return m !== null && (parseInt(m[1], 8) & fsConstants.O_NONBLOCK) !== 0;
}

/**
 * The inode of the netlink socket of `protocol` bound to port id `port`, from the text of
 * /proc/<pid>/net/netlink, or null when it is not listed. Columns (net/netlink/af_netlink.c,
 * netlink_seq_show): sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode.
 */
export function netlinkSocketInode(table: string, protocol: number, port: number): string | null {
  const lines = table.split('\n');
  const header = lines[0]?.trim().split(/\s+/) ?? [];
  const eth = header.indexOf('Eth');
  const pid = header.indexOf('Pid');
  const ino = header.indexOf('Inode');
  if (eth < 0 || pid < 0 || ino < 0) return null;
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i].trim().split(/\s+/);
    if (f.length <= ino) continue;
    if (Number(f[eth]) === protocol && Number(f[pid]) === port >>> 0 && /^\d+$/.test(f[ino])) return f[ino];
  }
  return null;
}
