// The NFLOG source: packets that policy enforcement logs before dropping or rejecting them
// (iptables -j NFLOG --nflog-group N --nflog-prefix "flowvis:D:I:..."), read from
// NETLINK_NETFILTER subsystem NFNL_SUBSYS_ULOG and handed on as DeniedPacket values.
//
// Setup (nfnetlink_log, as libnetfilter_log does it), each request acknowledged:
//   NFULNL_MSG_CONFIG family AF_INET / AF_INET6, res_id 0:     NFULA_CFG_CMD = PF_BIND
//   NFULNL_MSG_CONFIG family AF_UNSPEC, res_id = group:        NFULA_CFG_CMD = BIND
//   NFULNL_MSG_CONFIG family AF_UNSPEC, res_id = group:        NFULA_CFG_MODE = { copy_range, COPY_PACKET }
// One socket per group per network namespace: a second listener gets EPERM (or EBUSY).
// The kernel batches packets up to its queue threshold or its 1 s flush timeout, whichever
// comes first.
import { RawNetlinkSocket, type ErrnoException, type MessageInfo } from 'netlink';
import type { Clock } from '../../util/clock.js';
import { systemClock } from '../../util/clock.js';
import { KernelSourceError } from '../conntrack/errors.js';
import {
  AF_INET, AF_INET6, AF_UNSPEC, NETLINK_NETFILTER, NFNL_SUBSYS_ULOG, NLMSG_ERROR, NLMSG_HDRLEN, NLM_F_ACK, NLM_F_REQUEST,
  buildNfnlRequest, errnoName, forEachMessage, hostU16, hostU32, parseOrReport, readNlmsgError, socketError,
} from '../conntrack/netlink.js';
import { NFULNL_MSG_CONFIG, NFULNL_MSG_PACKET, parseNflogPacket, type DeniedPacket } from './parse.js';

export const NFULA_CFG_CMD = 1;
export const NFULA_CFG_MODE = 2;
export const NFULNL_CFG_CMD_BIND = 1;
export const NFULNL_CFG_CMD_UNBIND = 2;
export const NFULNL_CFG_CMD_PF_BIND = 3;
export const NFULNL_COPY_PACKET = 2;

export interface NflogOptions {
  /** The --nflog-group of the enforcement rules, 0-65535. */
  group: number;
  /** Bytes of each packet to copy; the IP and transport headers fit in the default 128. */
  copyRange?: number;
  /** SO_RCVBUF, capped by net.core.rmem_max. Default 1 MiB. */
  receiveBufferBytes?: number;
  /** Time for packets that arrive without NFULA_TIMESTAMP. */
  clock?: Clock;
  /** Requests to the kernel fail after this many ms without an ACK. Default 5000. */
  requestTimeoutMs?: number;
  /** Told about malformed packets (counted and skipped) and socket errors. */
  onError?: (err: KernelSourceError) => void;
}

export interface NflogStats {
  packets: number;
  /** Packets dropped because they could not be parsed. */
  malformed: number;
  /** ENOBUFS: the kernel dropped log messages because we read too slowly. */
  overflows: number;
}

/**
 * Reads one NFLOG datagram (possibly several packets batched with NLM_F_MULTI). Pure.
 * Returns the number of packets delivered.
 */
export function readNflogDatagram(
  buf: Buffer,
  nowMs: () => number,
  onPacket: (p: DeniedPacket) => void,
  onMalformed: (err: KernelSourceError) => void,
): number {
  let delivered = 0;
  forEachMessage(
    buf,
    (off, len, type) => {
      if (type !== ((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET)) return;
      const p = parseOrReport(() => parseNflogPacket(buf, off + NLMSG_HDRLEN, off + len, nowMs), onMalformed);
      if (p === null) return;
      delivered++;
      onPacket(p);
    },
    onMalformed,
  );
  return delivered;
}

function u8(n: number): Uint8Array {
  return Uint8Array.of(n);
}

export class NflogSource {
  readonly stats: NflogStats = { packets: 0, malformed: 0, overflows: 0 };
  readonly group: number;
  private readonly copyRange: number;
  private readonly rcvBuf: number;
  private readonly clock: Clock;
  private readonly requestTimeoutMs: number;
  private readonly onError: (err: KernelSourceError) => void;
  private sock: RawNetlinkSocket | null = null;
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private readonly pending = new Map<number, (errno: number) => void>();

  constructor(options: NflogOptions) {
    const { group } = options;
    if (!Number.isInteger(group) || group < 0 || group > 0xffff) {
      throw new KernelSourceError('KERNEL_ERR_OPTION', `NFLOG group ${group} is not 0-65535; use the --nflog-group of the enforcement rules`);
    }
    const copyRange = options.copyRange ?? 128;
    if (!Number.isInteger(copyRange) || copyRange < 64 || copyRange > 0xffff) {
      throw new KernelSourceError('KERNEL_ERR_OPTION', `copyRange ${copyRange} must be 64-65535 bytes, e.g. 128 (headers only)`);
    }
    const rcvBuf = options.receiveBufferBytes ?? 1024 * 1024;
    if (!Number.isInteger(rcvBuf) || rcvBuf < 4096) {
      throw new KernelSourceError('KERNEL_ERR_OPTION', `receiveBufferBytes ${rcvBuf} must be an integer >= 4096, e.g. 1048576`);
    }
    this.group = group;
    this.copyRange = copyRange;
    this.rcvBuf = rcvBuf;
    this.clock = options.clock ?? systemClock;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 5000;
    this.onError = options.onError ?? (() => {});
  }

  /** Binds the group and starts delivering packets. Throws NETLINK_ERR_KERNEL (e.g. EBUSY, EPERM) or NETLINK_ERR_SOCKET. */
  async start(onPacket: (p: DeniedPacket) => void, onOverflow: () => void = () => {}): Promise<void> {
    if (this.sock !== null) throw new KernelSourceError('KERNEL_ERR_OPTION', `NFLOG group ${this.group} is already started`);
    let sock: RawNetlinkSocket;
    try {
      sock = new RawNetlinkSocket(NETLINK_NETFILTER);
      sock.setRecvBufferSize(this.rcvBuf);
    } catch (err) {
      throw socketError('opening the NFLOG socket', err);
    }
    this.sock = sock;
    sock.unref();
    const nowMs = (): number => this.clock.now();
    const onMalformed = (err: KernelSourceError): void => {
      this.stats.malformed++;
      this.onError(err);
    };
    sock.on('message', (buf: Buffer, rinfo: MessageInfo) => {
      if (rinfo.port !== 0) return;
      this.takeAcks(buf);
      this.stats.packets += readNflogDatagram(buf, nowMs, onPacket, onMalformed);
    });
    sock.on('truncatedMessage', () => onMalformed(new KernelSourceError('NETLINK_ERR_SHORT_BUFFER', 'an NFLOG datagram was truncated')));
    sock.on('error', (err: ErrnoException) => {
      if (err.code === 'ENOBUFS') {
        this.stats.overflows++;
        onOverflow();
      } else {
        this.onError(socketError('NFLOG socket', err));
      }
    });
    try {
      const type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
      // PF_BIND is a no-op since Linux 3.17 but required before it.
      await this.request(type, AF_INET, 0, NFULA_CFG_CMD, u8(NFULNL_CFG_CMD_PF_BIND));
      await this.request(type, AF_INET6, 0, NFULA_CFG_CMD, u8(NFULNL_CFG_CMD_PF_BIND));
      await this.request(type, AF_UNSPEC, this.group, NFULA_CFG_CMD, u8(NFULNL_CFG_CMD_BIND));
      const mode = Buffer.alloc(6); // struct nfulnl_msg_config_mode { be32 copy_range; u8 copy_mode; u8 pad; }
      mode.writeUInt32BE(this.copyRange, 0);
      mode[4] = NFULNL_COPY_PACKET;
      await this.request(type, AF_UNSPEC, this.group, NFULA_CFG_MODE, mode);
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  private request(type: number, family: number, resId: number, attrType: number, value: Uint8Array): Promise<void> {
    const sock = this.sock;
    if (sock === null) return Promise.reject(new KernelSourceError('NETLINK_ERR_SOCKET', 'the NFLOG socket is closed'));
    this.seq = (this.seq + 1) >>> 0;
    const seq = this.seq;
    const msg = buildNfnlRequest(type, NLM_F_REQUEST | NLM_F_ACK, seq, family, resId, [{ type: attrType, value }]);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(new KernelSourceError('NETLINK_ERR_KERNEL', `no ACK for NFLOG config of group ${this.group} in ${this.requestTimeoutMs} ms`));
      }, this.requestTimeoutMs);
      this.pending.set(seq, (errno) => {
        clearTimeout(timer);
        this.pending.delete(seq);
        if (errno === 0) resolve();
        else {
          const name = errnoName(errno);
          reject(new KernelSourceError('NETLINK_ERR_KERNEL', `NFLOG config of group ${this.group} failed: ${name}${name === 'EBUSY' || name === 'EPERM' ? ' (another socket has this group, or CAP_NET_ADMIN is missing)' : ''}`, { errno: name }));
        }
      });
      sock.ref();
      sock.send(msg, {}, (err) => {
        if (err !== undefined) {
          clearTimeout(timer);
          this.pending.delete(seq);
          reject(socketError('sending an NFLOG config request', err));
        }
      });
    }).finally(() => {
      if (this.pending.size === 0 && this.sock !== null) this.sock.unref();
    });
  }

  private takeAcks(buf: Buffer): void {
    if (this.pending.size === 0) return;
    // A torn datagram ends the walk quietly: its acks, if any, are lost with it.
    forEachMessage(
      buf,
      (off, len, type) => {
        if (type !== NLMSG_ERROR) return;
        const settle = this.pending.get(hostU32(buf, off + 8));
        if (settle === undefined) return;
        const result = parseOrReport(() => readNlmsgError(buf, off, off + len), (err) => this.onError(err));
        if (result !== null) settle(result);
      },
      () => {},
    );
  }

  /** Unbinds the group (best effort) and closes the socket. */
  async stop(): Promise<void> {
    const sock = this.sock;
    if (sock === null) return;
    try {
      await this.request((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG, AF_UNSPEC, this.group, NFULA_CFG_CMD, u8(NFULNL_CFG_CMD_UNBIND));
    } catch {
      // closing the socket unbinds it as well
    }
    this.sock = null;
    sock.close();
  }
}
