// The seam between the kernel and the connection store: every conntrack source
// (ctnetlink dump, ctnetlink events, a test fake) produces ConntrackEntry values.

/** One direction of a conntrack entry (CTA_TUPLE_ORIG or CTA_TUPLE_REPLY). */
export interface ConntrackTuple {
  sourceAddress: string;
  destinationAddress: string;
  sourcePort: number;
  destinationPort: number;
  /**
   * ICMP and ICMPv6 (CTA_PROTO_ICMP_ID/_TYPE/_CODE, CTA_PROTO_ICMPV6_*): the echo identifier,
   * type and code, which tell apart the ICMP conversations between the same two hosts (their
   * ports are 0). Absent for other protocols.
   */
  icmpId?: number;
  icmpType?: number;
  icmpCode?: number;
}

export interface ConntrackEntry {
  /** CTA_ID: the kernel's id for this entry. */
  id: number;
  ipVersion: 4 | 6;
  protocol: number;
  zone: number;
  mark: number;
  /** CTA_STATUS bits (IPS_*). */
  status: number;
  /** CTA_LABELS, or null when the entry has none. */
  labels: Uint8Array | null;
  original: ConntrackTuple;
  reply: ConntrackTuple;
  /** CTA_COUNTERS_ORIG / CTA_COUNTERS_REPLY (0 when nf_conntrack_acct is off). */
  originalPackets: number;
  originalBytes: number;
  replyPackets: number;
  replyBytes: number;
  /** The conntrack TCP state name (SYN_SENT, ESTABLISHED, TIME_WAIT, ...); '' for other protocols. */
  tcpState: string;
  /** CTA_TIMESTAMP start and stop in ms since the Unix epoch (0 when nf_conntrack_timestamp is off). */
  startMs: number;
  stopMs: number;
  /** CTA_TIMEOUT: seconds until the kernel expires the entry; set by the ctnetlink parser. */
  timeoutSeconds?: number;
}

/**
 * The numbers of one conntrack entry, read from a ctnetlink message before any string or object
 * is made: what a consumer needs to recognise a connection it already holds and to take its new
 * counters. The dumper reuses one instance for every message, so it is valid only during the
 * call it is passed to; copy what you keep.
 *
 * Addresses are digests of the original tuple's address bytes: for IPv4 the address itself as
 * an int32 (exact), for IPv6 a 32-bit mix of its 16 bytes (see addressDigest in parse.ts).
 */
export interface ConntrackDigest {
  readonly id: number;
  readonly ipVersion: 4 | 6;
  readonly protocol: number;
  readonly zone: number;
  readonly mark: number;
  readonly status: number;
  readonly tcpState: string;
  readonly timeoutSeconds: number;
  readonly originalPackets: number;
  readonly originalBytes: number;
  readonly replyPackets: number;
  readonly replyBytes: number;
  readonly startMs: number;
  readonly stopMs: number;
  /** Of the original tuple. */
  readonly sourcePort: number;
  readonly destinationPort: number;
  readonly sourceAddressDigest: number;
  readonly destinationAddressDigest: number;
}

export type ConntrackEventType = 'new' | 'update' | 'destroy';

export interface ConntrackEvent {
  type: ConntrackEventType;
  entry: ConntrackEntry;
}

/** A source of conntrack entries: a full dump each poll, plus events between polls. */
export interface ConntrackDumper {
  /** Dumps the whole table (IPv4 and IPv6), filtered by zone when one is set. */
  dump(): Promise<ConntrackEntry[]>;
  /**
   * Subscribes to NEW/UPDATE/DESTROY events. `onOverflow` is called when the kernel
   * reports ENOBUFS (events lost; the next dump repairs the store). Returns unsubscribe.
   */
  subscribe(onEvent: (event: ConntrackEvent) => void, onOverflow: () => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
