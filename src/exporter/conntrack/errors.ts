// Stable error codes of the kernel sources of the Flow Exporter: the ctnetlink dumper and
// event listener, the NFLOG listener and the sysctl switches. Listed in docs/errors.md
// under "Exporter: kernel sources".

export const KernelSourceErrorCodes = {
  /** A netlink message or attribute claims more bytes than the datagram holds. */
  NETLINK_ERR_SHORT_BUFFER: 'a netlink message or attribute is truncated',
  /** A netlink attribute has a length below its 4-byte header or the wrong size for its type. */
  NETLINK_ERR_BAD_ATTRIBUTE: 'a netlink attribute has an invalid length',
  /** The kernel answered a request with NLMSG_ERROR; the message names the errno. */
  NETLINK_ERR_KERNEL: 'the kernel rejected a netlink request',
  /** A netlink socket could not be opened, bound, or joined to a multicast group. */
  NETLINK_ERR_SOCKET: 'a netlink socket operation failed',
  /** A conntrack dump did not finish (no NLMSG_DONE) within the dump timeout. */
  CTNL_ERR_DUMP_TIMEOUT: 'a conntrack dump did not finish in time',
  /** The dump thread (a worker thread receiving dumps) died; the dump in progress failed, later ones run on the main thread. */
  CTNL_ERR_DUMP_THREAD: 'the conntrack dump thread failed',
  /** The dumper was used after close(). */
  CTNL_ERR_CLOSED: 'the conntrack dumper is closed',
  /** A conntrack message lacks a required attribute (CTA_TUPLE_ORIG, CTA_TUPLE_REPLY, addresses, protocol). */
  CTNL_ERR_MISSING_ATTRIBUTE: 'a conntrack entry lacks a required attribute',
  /** A conntrack message has an address family other than AF_INET or AF_INET6. */
  CTNL_ERR_FAMILY: 'a conntrack entry has an unsupported address family',
  /** A 64-bit counter is above Number.MAX_SAFE_INTEGER and cannot be carried exactly. */
  CTNL_ERR_COUNTER_RANGE: 'a conntrack counter exceeds 2^53 - 1',
  /** An option given to a kernel source is out of range; the message says what to use instead. */
  KERNEL_ERR_OPTION: 'an option of a kernel source is invalid',
  /** An NFLOG packet lacks its payload or its payload is not an IPv4/IPv6 packet we can read. */
  NFLOG_ERR_PAYLOAD: 'an NFLOG packet payload cannot be parsed',
  /** An NFLOG prefix written by flowvis does not follow the documented format. */
  NFLOG_ERR_PREFIX: 'an NFLOG prefix does not follow the flowvis format',
} as const;

export type KernelSourceErrorCode = keyof typeof KernelSourceErrorCodes;

export class KernelSourceError extends Error {
  readonly code: KernelSourceErrorCode;
  /** The errno name for NETLINK_ERR_KERNEL / NETLINK_ERR_SOCKET (e.g. "EPERM"), else ''. */
  readonly errno: string;
  constructor(code: KernelSourceErrorCode, message: string, options?: { cause?: unknown; errno?: string }) {
    super(`${code}: ${message}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KernelSourceError';
    this.code = code;
    this.errno = options?.errno ?? '';
  }
}
