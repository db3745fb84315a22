// The connection store: every conntrack connection the exporter tracks, keyed by its
// original 5-tuple plus zone, with the counters last seen and the counters last exported.
// A min-heap of deadlines decides what is exported when:
//
//   live ──(activeTimeout since last export)──▶ export reason 2, stays live
//   live ──(idleTimeout without counter change)──▶ export reason 1, becomes idle
//   idle ──(counters change)──▶ live again
//   live/idle ──(DESTROY event, TCP TIME_WAIT/CLOSE, IPS_DYING)──▶ ending; an end seen in an
//                            UPDATE event waits for the counters of a dump begun after it
//   live/idle ──(not listed by a complete dump)──▶ ending, due eventGraceMs later, so that its
//                            DESTROY event (with the final counters) can still arrive
//   ending ──(next expire)──▶ export reason 3, then removed (or kept as a tombstone while
//                            the kernel still lists it, so a TIME_WAIT entry is not re-exported)
//   any ──(store full, room needed)──▶ export reason 5 (tombstones and idle ones go first)
//   any ──(shutdown)──▶ export reason 4
//
// Counters come only from dumps and DESTROY events: conntrack NEW and UPDATE events carry none
// (the kernel adds CTA_COUNTERS_* to DESTROY events only). A connection first learnt from such an
// event has unknown counters, not zero ones: it is not exported until a dump or its DESTROY
// gives them; if neither ever does (it vanished and its DESTROY was lost), it is dropped and
// counted (countersUnknown), never exported with invented zeros. Totals never go backwards
// within one kernel connection.
//
// Dumps and events come on two sockets, so a dump can be older than an event read before it:
// the kernel wrote the entry into a dump datagram, then the connection closed and its UPDATE
// event was read first. A dump begun before a connection's last event therefore does not set
// its TCP state or status, and an end seen in an UPDATE event is exported only with the counters
// of a dump begun after it (or of its DESTROY), never with the older snapshot's.
//
// The heap is lazy: activity only moves the idle deadline later, so an update does not touch
// the heap; when an item comes out early its true deadline is recomputed and it goes back in.
// Time comes from the injected Clock only.
//
// Dumps have a fast path for the connections the store already holds (most of them, every
// poll): dumpKnown takes the numbers the parser read (kernel id, tuple digest, counters, state)
// and updates the connection in place, so no entry object or string is made for it. It takes
// only what upsert would do without replacing the stored entry; anything else (a new
// connection, a new TCP state or status) returns false and goes the full way.
import type { Clock } from '../util/clock.js';
import { FlowEndReason } from '../flow/record.js';
import type { ConntrackDigest, ConntrackEntry, ConntrackEvent } from './conntrack/types.js';
import { ipv6AddressDigest } from './conntrack/parse.js';
import { DeadlineHeap } from './deadline-heap.js';
import { parseIp } from './policy/ip.js';
import type { SavedConnection } from './state-file.js';

/** IPS_DYING (include/uapi/linux/netfilter/nf_conntrack_common.h): the entry is being removed. */
export const IPS_DYING = 1 << 9;

/** How many places past the last match dumpKnown looks in the last dump's order before it hashes. */
const ORDER_PROBES = 4;

/** TCP states after which a connection carries no more data. */
const CLOSED_TCP_STATES: ReadonlySet<string> = new Set(['TIME_WAIT', 'CLOSE']);

export interface ConnectionStoreOptions {
  activeTimeoutMs: number;
  idleTimeoutMs: number;
  /** Most connections (tombstones included) kept at once; beyond it, one is evicted. */
  maxConnections: number;
  clock: Clock;
  /**
   * Forget a connection once it has been exported as idle, instead of keeping it until the
   * kernel drops it. For sources without dumps (denied packets), where nothing else ends it.
   */
  forgetIdle?: boolean;
  /**
   * How long a connection that a complete dump no longer lists waits for its DESTROY event
   * (which carries the final counters and stop time) before it is exported with the last
   * counters seen; also how long one with unknown counters waits before it is dropped.
   * Default 1000 ms. Exports happen on polls, so in effect: at the next poll after that.
   */
  eventGraceMs?: number;
}

/** Why connections ended (ConnectionStoreStats.endedBy). */
export interface EndCauses {
  /** A DESTROY event. */
  destroy: number;
  /** TCP TIME_WAIT or CLOSE, or IPS_DYING, seen in a dump or an event. */
  closed: number;
  /** Not listed by a complete dump (and no DESTROY arrived within eventGraceMs). */
  vanished: number;
  /** Its tuple was taken by a new kernel connection (another CTA_ID). */
  replaced: number;
}

/** What the store hands out for one export: the last seen entry, counters, deltas and times. */
export interface ConnectionExport {
  readonly entry: ConntrackEntry;
  readonly flowStartMs: number;
  readonly flowEndMs: number;
  readonly flowEndReason: FlowEndReason;
  readonly packetTotalCount: number;
  readonly octetTotalCount: number;
  readonly reversePacketTotalCount: number;
  readonly reverseOctetTotalCount: number;
  readonly packetDeltaCount: number;
  readonly octetDeltaCount: number;
  readonly reversePacketDeltaCount: number;
  readonly reverseOctetDeltaCount: number;
}

export interface ConnectionStoreStats {
  /** Connections in the store now, tombstones included. */
  connections: number;
  /** Connections evicted for lack of room and exported with flowEndReason 5. */
  evictions: number;
  /** Entries that could not be used (bad tuple or counters); they are skipped, not stored. */
  badEntries: number;
  /** Connections that ended (DESTROY, vanished, TCP closed, tuple reused). */
  ended: number;
  endedBy: EndCauses;
  /**
   * Connections dropped without an export because their counters were never known: learnt
   * from NEW/UPDATE events only, then gone without a dump listing them or a DESTROY event.
   */
  countersUnknown: number;
  /** Dumps that ended no connection because they may have missed some (interrupted, malformed messages). */
  incompleteDumps: number;
  /** Connections seen for the first time. */
  created: number;
  /** Restart state (restore): connections that continued from the totals a predecessor exported. */
  restored: number;
  /** Saved connections that no dump listed (ended while no exporter ran), or another kernel connection now has their tuple. */
  restoreDiscarded: number;
}

type State = 'live' | 'idle' | 'ending' | 'done';

/** Where an entry came from: a dump, an event (NEW/UPDATE: no counters), a DESTROY event, or counted packets. */
type Source = 'dump' | 'event' | 'destroy' | 'packets';

const DEFAULT_EVENT_GRACE_MS = 1000;

class Connection {
  deadline = 0;
  heapIndex = -1;
  state: State = 'live';
  /** The kernel still lists it (false once DESTROY was seen or it vanished from a dump). */
  present = true;
  lastSeenGeneration = 0;
  /** When an event last touched it; a dump that started before that cannot prove it gone. */
  lastEventMs = -Infinity;
  /**
   * False while it is known only from NEW/UPDATE events, which carry no counters: its counters
   * are unknown (not zero) until a dump lists it or its DESTROY event arrives.
   */
  countersKnown = false;
  /** When a complete dump first did not list it (present false without a DESTROY); 0 if not. */
  vanishedMs = 0;
  /**
   * When an UPDATE event said it closed (TIME_WAIT, CLOSE), before any dump showed that: its
   * export waits for the counters of a dump begun after this time, or its DESTROY. 0 if not.
   */
  closedByEventMs = 0;
  /** Why it is 'ending' (set by markEnded). */
  endCause: keyof EndCauses | '' = '';
  endMs = 0;
  packets = 0;
  bytes = 0;
  reversePackets = 0;
  reverseBytes = 0;
  exportedPackets = 0;
  exportedBytes = 0;
  exportedReversePackets = 0;
  exportedReverseBytes = 0;
  /** False once forget() dropped it; a dropped one may still sit in the store's lastDumpOrder. */
  held = true;
  /** Its index in the store's dump order (lastDumpOrder, then dumpOrder once this dump saw it); -1 if none. */
  orderIndex = -1;
  // What dumpKnown compares, copied out of the entry so that it reads this object only:
  // the original tuple and kernel id (fixed for a connection), then what setEntry may change.
  readonly id: number;
  readonly ipVersion: number;
  readonly protocol: number;
  readonly zone: number;
  readonly sourcePort: number;
  readonly destinationPort: number;
  /** Digests of the original tuple's addresses, as the parser computes them. */
  readonly sourceAddressDigest: number;
  readonly destinationAddressDigest: number;
  status = 0;
  tcpState = '';
  startMs = 0;
  private current: ConntrackEntry;

  constructor(
    readonly key: string,
    entry: ConntrackEntry,
    /** When it was first seen; a restored connection whose kernel start is unknown keeps its predecessor's. */
    public firstSeenMs: number,
    public lastActivityMs: number,
    public lastExportMs: number,
  ) {
    this.current = entry;
    this.id = entry.id;
    this.ipVersion = entry.ipVersion;
    this.protocol = entry.protocol;
    this.zone = entry.zone;
    this.sourcePort = entry.original.sourcePort;
    this.destinationPort = entry.original.destinationPort;
    this.sourceAddressDigest = addressDigest(entry.original.sourceAddress);
    this.destinationAddressDigest = addressDigest(entry.original.destinationAddress);
    this.setEntry(entry);
  }

  /** The last entry that changed what a record shows (see upsert). */
  get entry(): ConntrackEntry {
    return this.current;
  }

  setEntry(e: ConntrackEntry): void {
    this.current = e;
    this.status = e.status;
    this.tcpState = e.tcpState;
    this.startMs = e.startMs;
  }
}

/**
 * The digest the ctnetlink parser computes from an address's bytes (ConntrackDigest), here
 * from its text: IPv4 as an int32, IPv6 through ipv6AddressDigest. NaN for text that is not an
 * address, which then never matches a digest.
 */
export function addressDigest(text: string): number {
  const ip = parseIp(text);
  if (ip === undefined) return NaN;
  const w = ip.words;
  return ip.family === 4 ? w[0] | 0 : ipv6AddressDigest(w[0], w[1], w[2], w[3]);
}

/**
 * The byId key of a kernel id. CTA_ID is a u32; `| 0` maps it one to one onto int32, which V8
 * keeps as a small integer, so a lookup does not box a heap number.
 */
function idKey(id: number): number {
  return id | 0;
}

/**
 * The store key: zone, protocol and the original tuple; for ICMP also the echo identifier, type
 * and code, so that two ping conversations between the same hosts are two connections.
 */
export function connectionKey(e: ConntrackEntry): string {
  const o = e.original;
  const key = `${e.zone}/${e.protocol}/${o.sourceAddress}/${o.sourcePort}/${o.destinationAddress}/${o.destinationPort}`;
  return o.icmpId === undefined ? key : `${key}/icmp/${o.icmpId}/${o.icmpType ?? 0}/${o.icmpCode ?? 0}`;
}

function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 65535;
}

function isCounter(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

/** Why an entry cannot be stored, or '' when it can. */
export function entryProblem(e: ConntrackEntry): string {
  if (e.ipVersion !== 4 && e.ipVersion !== 6) return `ipVersion ${String(e.ipVersion)} is not 4 or 6`;
  if (!Number.isInteger(e.protocol) || e.protocol < 0 || e.protocol > 255) return `protocol ${e.protocol} is not 0-255`;
  const o = e.original;
  const r = e.reply;
  if (!o || !r) return 'a tuple is missing';
  if (!o.sourceAddress || !o.destinationAddress || !r.sourceAddress || !r.destinationAddress) return 'an address is empty';
  if (!isPort(o.sourcePort) || !isPort(o.destinationPort) || !isPort(r.sourcePort) || !isPort(r.destinationPort)) {
    return 'a port is not 0-65535';
  }
  if (!isCounter(e.originalPackets) || !isCounter(e.originalBytes) || !isCounter(e.replyPackets) || !isCounter(e.replyBytes)) {
    return 'a counter is not a non-negative safe integer';
  }
  return '';
}

function sameTuple(a: ConntrackEntry, b: ConntrackEntry): boolean {
  const x = a.original;
  const y = b.original;
  return (
    a.zone === b.zone &&
    a.protocol === b.protocol &&
    x.sourcePort === y.sourcePort &&
    x.destinationPort === y.destinationPort &&
    x.sourceAddress === y.sourceAddress &&
    x.destinationAddress === y.destinationAddress &&
    x.icmpId === y.icmpId &&
    x.icmpType === y.icmpType &&
    x.icmpCode === y.icmpCode
  );
}

function isClosed(e: ConntrackEntry): boolean {
  return CLOSED_TCP_STATES.has(e.tcpState) || (e.status & IPS_DYING) !== 0;
}

export class ConnectionStore {
  private readonly byKey = new Map<string, Connection>();
  /** The same connections by kernel id (those that have one), for the per-dump lookup. */
  private readonly byId = new Map<number, Connection>();
  private readonly heap = new DeadlineHeap<Connection>();
  /** Exported idle connections, oldest first: the cheapest to evict (nothing unexported). */
  private readonly idle = new Set<Connection>();
  /** Ended and exported, but still listed by the kernel; oldest first. */
  private readonly tombstones = new Set<Connection>();
  /** Exports that could not wait for expire(): evictions and replaced connections. */
  private outbox: ConnectionExport[] = [];
  private generation = 0;
  private dumpStartedMs = -Infinity;
  /** The clock read once per dump (beginDump): the time of every entry of that dump. */
  private dumpNowMs = 0;
  /**
   * The connections in the order the last complete dump listed them, and this dump's so far.
   * The kernel walks its hash table in the same order every dump (new entries go to the head
   * of their bucket, the others keep their order), so the next entry of a dump is most often the
   * one after the last match: dumpKnown tries there first, which reads memory in order instead
   * of a hash lookup per entry.
   */
  // Filled by index up to their *Length and never shrunk by a dump, so that a dump of 100k
  // entries does not regrow a 100k array (length = 0 would free its store).
  private lastDumpOrder: Connection[] = [];
  private lastDumpOrderLength = 0;
  private dumpOrder: Connection[] = [];
  private dumpOrderLength = 0;
  private orderCursor = 0;
  /** Connections held now that this dump has seen: when it reaches the store size, none vanished. */
  private seenInDump = 0;
  private readonly opts: ConnectionStoreOptions;
  private readonly counts = { evictions: 0, badEntries: 0, ended: 0, created: 0, countersUnknown: 0, incompleteDumps: 0, restored: 0, restoreDiscarded: 0 };
  /**
   * What a predecessor last exported, by connection key (restore): taken by the connection when
   * its counters are first known and it is the same kernel connection; what the first complete
   * dump has not claimed is stale and dropped.
   */
  private pendingRestore = new Map<string, SavedConnection>();
  private readonly endedBy: EndCauses = { destroy: 0, closed: 0, vanished: 0, replaced: 0 };
  private readonly eventGraceMs: number;

  constructor(opts: ConnectionStoreOptions) {
    if (!(opts.activeTimeoutMs > 0) || !(opts.idleTimeoutMs > 0)) throw new RangeError('ConnectionStore: timeouts must be > 0');
    if (!Number.isInteger(opts.maxConnections) || opts.maxConnections < 1) throw new RangeError('ConnectionStore: maxConnections must be >= 1');
    this.opts = opts;
    this.eventGraceMs = opts.eventGraceMs ?? DEFAULT_EVENT_GRACE_MS;
    if (!(this.eventGraceMs >= 0)) throw new RangeError('ConnectionStore: eventGraceMs must be >= 0');
  }

  get size(): number {
    return this.byKey.size;
  }

  stats(): ConnectionStoreStats {
    return { connections: this.byKey.size, ...this.counts, endedBy: { ...this.endedBy } };
  }

  /**
   * Applies one full dump of the table. `startedMs` is when the dump request was sent:
   * connections the dump does not list are ended, unless an event touched them after that.
   */
  applyDump(entries: readonly ConntrackEntry[], startedMs: number, complete = true): void {
    this.beginDump(startedMs);
    for (const e of entries) this.dumpEntry(e);
    this.endDump(complete);
  }

  /** Whether the store holds this entry's connection (same kernel id or tuple), ended or not. */
  holds(e: ConntrackEntry): boolean {
    const conn = e.id !== 0 ? this.byId.get(idKey(e.id)) : undefined;
    if (conn !== undefined && sameTuple(conn.entry, e)) return true;
    if (this.pendingRestore.size === 0) return this.byKey.has(connectionKey(e));
    // A predecessor followed it: follow it again, whatever the filter says before metadata is in.
    const key = connectionKey(e);
    return this.byKey.has(key) || this.pendingRestore.has(key);
  }

  /**
   * Loads what a predecessor exporter last exported (its state file). A connection the kernel
   * still has under the same id and start continues its deltas from those totals; a saved one
   * whose end was exported becomes a tombstone, so it is not reported again. Call before the
   * first dump.
   */
  restore(saved: readonly SavedConnection[]): void {
    for (const s of saved) this.pendingRestore.set(s.key, s);
  }

  /** Saved connections not yet claimed by a dump. */
  get pendingRestores(): number {
    return this.pendingRestore.size;
  }

  /**
   * What has been exported of every connection held now, for the state file. A connection
   * whose counters were never known has exported nothing and is left out.
   */
  savedConnections(): SavedConnection[] {
    const out: SavedConnection[] = [];
    for (const conn of this.byKey.values()) {
      if (!conn.countersKnown) continue;
      out.push(savedOf(conn, conn.state === 'done', false));
    }
    return out;
  }

  /** The same as applyDump, one entry at a time, for a dumper that streams its entries. */
  beginDump(startedMs: number): void {
    this.generation++;
    this.dumpStartedMs = startedMs;
    this.dumpNowMs = this.opts.clock.now();
    this.dumpOrderLength = 0;
    this.orderCursor = 0;
    this.seenInDump = 0;
  }

  dumpEntry(e: ConntrackEntry): void {
    const conn = this.upsert(e, this.dumpNowMs, 'dump');
    if (conn) this.seen(conn);
  }

  private seen(conn: Connection): void {
    if (!conn.present && conn.vanishedMs > 0) this.reappeared(conn);
    // This dump began after the close event: its counters are the final ones.
    if (conn.closedByEventMs > 0 && this.dumpStartedMs > conn.closedByEventMs) conn.closedByEventMs = 0;
    if (conn.lastSeenGeneration !== this.generation) {
      conn.lastSeenGeneration = this.generation;
      this.seenInDump++;
    }
    const i = this.dumpOrderLength++;
    conn.orderIndex = i;
    if (i < this.dumpOrder.length) this.dumpOrder[i] = conn;
    else this.dumpOrder.push(conn);
  }

  /** The held connection the kernel lists under this id, trying the last dump's order first. */
  private findById(id: number): Connection | undefined {
    const last = this.lastDumpOrder;
    const lastLength = this.lastDumpOrderLength;
    const stop = Math.min(this.orderCursor + ORDER_PROBES, lastLength);
    for (let i = this.orderCursor; i < stop; i++) {
      const c = last[i];
      if (c.id === id) {
        this.orderCursor = i + 1;
        return c.held ? c : undefined;
      }
    }
    const conn = this.byId.get(idKey(id));
    if (conn === undefined) return undefined;
    // Back in step with the last dump's order, after the entries that left a gap in it.
    const at = conn.orderIndex;
    if (at >= 0 && at < lastLength && last[at] === conn) this.orderCursor = at + 1;
    return conn;
  }

  /**
   * The fast path of a dump (DumpOptions.known of the ctnetlink dumper): when the digest is a
   * connection the store holds, under the same kernel id and original tuple, and its TCP state,
   * status and start are what the store keeps, updates its counters in place and returns true.
   * Otherwise returns false, and the caller passes the entry to dumpEntry.
   */
  dumpKnown(d: ConntrackDigest): boolean {
    if (d.id === 0) return false;
    const conn = this.findById(d.id);
    if (
      conn === undefined ||
      conn.id !== d.id ||
      conn.sourceAddressDigest !== d.sourceAddressDigest ||
      conn.destinationAddressDigest !== d.destinationAddressDigest ||
      conn.sourcePort !== d.sourcePort ||
      conn.destinationPort !== d.destinationPort ||
      conn.protocol !== d.protocol ||
      conn.zone !== d.zone ||
      conn.ipVersion !== d.ipVersion
    ) {
      return false;
    }
    // What would make upsert replace the stored entry.
    if ((d.tcpState !== '' && d.tcpState !== conn.tcpState) || d.status !== conn.status || d.startMs > conn.startMs) return false;
    this.seen(conn);
    if (conn.state === 'done') return true;
    this.takeCounters(conn, d, this.dumpNowMs);
    if (conn.state !== 'ending' && (CLOSED_TCP_STATES.has(conn.tcpState) || (conn.status & IPS_DYING) !== 0)) this.markEnded(conn, this.dumpNowMs, 'closed');
    return true;
  }

  /**
   * Ends the dump begun by beginDump. Only a complete dump (`complete`: not interrupted, every
   * message read) can tell that a connection is gone; after an incomplete one nothing ends.
   */
  endDump(complete = true): void {
    // Next dump's order is this one's.
    const spare = this.lastDumpOrder;
    this.lastDumpOrder = this.dumpOrder;
    this.lastDumpOrderLength = this.dumpOrderLength;
    // Past its length, the spare holds connections of an older dump: let a much smaller table free them.
    if (spare.length > 2 * this.dumpOrderLength + 1024) spare.length = this.dumpOrderLength;
    this.dumpOrder = spare;
    this.dumpOrderLength = 0;
    if (!complete) {
      this.counts.incompleteDumps++;
      return;
    }
    if (this.pendingRestore.size > 0) {
      // The kernel lists every connection it has: saved ones it did not list ended meanwhile.
      this.counts.restoreDiscarded += this.pendingRestore.size;
      this.pendingRestore.clear();
    }
    // Every held connection was listed: nothing vanished, nothing to walk.
    if (this.seenInDump === this.byKey.size) return;
    const now = this.opts.clock.now();
    const gen = this.generation;
    for (const conn of this.byKey.values()) {
      if (conn.lastSeenGeneration === gen || conn.lastEventMs >= this.dumpStartedMs || !conn.present) continue;
      this.vanished(conn, now);
    }
  }

  /**
   * A dump lists again a connection an earlier one did not (and no DESTROY came): it did not
   * vanish. Undo an end that only the vanishing decided, before it is exported, so the
   * connection is neither cut short nor counted twice.
   */
  private reappeared(conn: Connection): void {
    conn.present = true;
    conn.vanishedMs = 0;
    if (conn.state !== 'ending') return;
    if (conn.endCause !== 'vanished') {
      // It did end (closed), and this dump has its counters: due now.
      this.heap.schedule(conn, this.dumpNowMs);
      return;
    }
    conn.state = 'live';
    conn.endCause = '';
    this.counts.ended--;
    this.endedBy.vanished--;
    this.heap.schedule(conn, Math.min(conn.lastActivityMs + this.opts.idleTimeoutMs, conn.lastExportMs + this.opts.activeTimeoutMs));
  }

  /**
   * A complete dump did not list it: the kernel dropped it. Its DESTROY event, with the final
   * counters, may still be on its way (events and dumps come on two sockets), so the export
   * waits eventGraceMs for it; without one it goes out with the last counters seen.
   */
  private vanished(conn: Connection, now: number): void {
    conn.present = false;
    conn.vanishedMs = now;
    if (conn.state === 'done') {
      this.forget(conn);
    } else if (conn.state === 'ending') {
      // Closed by an event, now gone: its DESTROY has the final counters; wait for it as above.
      if (conn.closedByEventMs > 0) {
        conn.closedByEventMs = 0;
        this.heap.schedule(conn, now + this.eventGraceMs);
      }
    } else if (!conn.countersKnown) {
      // Never dumped: only its DESTROY can say what it carried; expire() drops it after the grace.
      this.heap.schedule(conn, now + this.eventGraceMs);
    } else {
      this.markEnded(conn, now, 'vanished', now + this.eventGraceMs);
    }
  }

  /**
   * Adds the entry's counters to those of its connection (creating it), for sources that see
   * packets rather than connections. The connection ends only by timeout.
   */
  addPackets(e: ConntrackEntry): void {
    if (entryProblem(e) !== '') {
      this.counts.badEntries++;
      return;
    }
    const conn = this.byKey.get(connectionKey(e));
    const now = this.opts.clock.now();
    if (!conn || conn.state === 'done') {
      const created = this.upsert(e, now, 'packets');
      if (created) created.lastEventMs = now;
      return;
    }
    const updated = this.upsert(
      {
        ...e,
        id: conn.entry.id,
        originalPackets: conn.packets + e.originalPackets,
        originalBytes: conn.bytes + e.originalBytes,
        replyPackets: conn.reversePackets + e.replyPackets,
        replyBytes: conn.reverseBytes + e.replyBytes,
        startMs: conn.entry.startMs,
      },
      now,
      'packets',
    );
    if (updated) updated.lastEventMs = now;
  }

  /**
   * Applies one NEW / UPDATE / DESTROY event. Only DESTROY events carry counters (and the stop
   * timestamp); a connection first learnt from a NEW or UPDATE event waits for them.
   */
  applyEvent(event: ConntrackEvent): void {
    const now = this.opts.clock.now();
    const destroy = event.type === 'destroy';
    const conn = this.upsert(event.entry, now, destroy ? 'destroy' : 'event');
    if (!conn) return;
    conn.lastEventMs = now;
    if (!destroy) return;
    conn.present = false;
    conn.vanishedMs = 0;
    conn.closedByEventMs = 0;
    const endMs = event.entry.stopMs > 0 ? event.entry.stopMs : now;
    if (conn.state === 'done') {
      this.forget(conn);
    } else if (conn.state !== 'ending') {
      this.markEnded(conn, endMs, 'destroy');
    } else if (conn.deadline > now) {
      // Waiting for this (vanished from a dump): the final counters are in; export now, at its stop time.
      conn.endMs = Math.max(endMs, conn.firstSeenMs);
      this.heap.schedule(conn, now);
    }
  }

  /** Everything due now: evictions so far, then connections whose deadline has passed. */
  expire(): ConnectionExport[] {
    const now = this.opts.clock.now();
    const out = this.outbox;
    this.outbox = [];
    const { activeTimeoutMs, idleTimeoutMs } = this.opts;
    for (let top = this.heap.peek(); top !== undefined && top.deadline <= now; top = this.heap.peek()) {
      if (!top.countersKnown) {
        // Known from NEW/UPDATE events only. Still in the kernel: the next dump brings its
        // counters. Gone without a DESTROY for eventGraceMs: nothing true to export.
        if (!top.present && now >= top.vanishedMs + this.eventGraceMs) {
          this.heap.pop();
          this.counts.countersUnknown++;
          this.forget(top);
        } else {
          this.heap.schedule(top, now + Math.max(1, this.eventGraceMs));
        }
        continue;
      }
      if (top.state === 'ending') {
        // Closed by an UPDATE event: wait for a later dump's counters (bounded by the active timeout).
        if (top.closedByEventMs > 0 && now < top.closedByEventMs + activeTimeoutMs) {
          this.heap.schedule(top, now + Math.max(1, this.eventGraceMs));
          continue;
        }
        this.heap.pop();
        out.push(this.snapshot(top, FlowEndReason.endOfFlow, top.endMs));
        this.retire(top);
        continue;
      }
      const idleAt = top.lastActivityMs + idleTimeoutMs;
      const activeAt = top.lastExportMs + activeTimeoutMs;
      const due = Math.min(idleAt, activeAt);
      if (due > now) {
        this.heap.schedule(top, due);
        continue;
      }
      this.heap.pop();
      if (idleAt <= now) {
        out.push(this.snapshot(top, FlowEndReason.idleTimeout, top.lastActivityMs));
        top.lastExportMs = now;
        if (this.opts.forgetIdle) {
          this.forget(top);
        } else {
          top.state = 'idle';
          this.idle.add(top);
        }
      } else {
        out.push(this.snapshot(top, FlowEndReason.activeTimeout, top.lastActivityMs));
        top.lastExportMs = now;
        this.heap.schedule(top, Math.min(idleAt, now + activeTimeoutMs));
      }
    }
    return out;
  }

  /**
   * Shutdown: every connection not yet fully reported, with flowEndReason 4 (3 for one that had
   * ended and was waiting for its final counters); empties the store.
   */
  drainAll(state?: SavedConnection[]): ConnectionExport[] {
    const now = this.opts.clock.now();
    const out = this.outbox;
    this.outbox = [];
    for (const conn of this.byKey.values()) {
      // `state`: what a successor needs once these exports are out: their totals, and the
      // tombstones as done. One ending now is not done: a successor that still finds it reports
      // what its last counters add, with reason 3 again.
      if (state && conn.countersKnown) state.push(savedOf(conn, conn.state === 'done', true));
      if (conn.state === 'done') continue;
      if (!conn.countersKnown) {
        this.counts.countersUnknown++;
        continue;
      }
      // One that ended and still waited for its final counters keeps its reason, end of flow.
      if (conn.state === 'ending') out.push(this.snapshot(conn, FlowEndReason.endOfFlow, conn.endMs));
      else out.push(this.snapshot(conn, FlowEndReason.forcedEnd, now));
    }
    for (const conn of this.byKey.values()) conn.held = false;
    this.byKey.clear();
    this.byId.clear();
    this.lastDumpOrder = [];
    this.lastDumpOrderLength = 0;
    this.dumpOrder = [];
    this.dumpOrderLength = 0;
    this.seenInDump = 0;
    this.heap.clear();
    this.idle.clear();
    this.tombstones.clear();
    this.pendingRestore.clear();
    return out;
  }

  /** Deadline of the next due export, or Infinity; lets the loop sleep until then. */
  nextDeadline(): number {
    if (this.outbox.length > 0) return this.opts.clock.now();
    return this.heap.peek()?.deadline ?? Infinity;
  }

  /** `source`: where the entry comes from; all but NEW/UPDATE events carry the connection's counters. */
  private upsert(e: ConntrackEntry, now: number, source: Source): Connection | undefined {
    const withCounters = source !== 'event';
    if (entryProblem(e) !== '') {
      this.counts.badEntries++;
      return undefined;
    }
    // Fast path: the kernel id (CTA_ID) of a known connection, without building its key string.
    let conn = e.id !== 0 ? this.byId.get(idKey(e.id)) : undefined;
    let key = '';
    if (conn === undefined || !sameTuple(conn.entry, e)) {
      key = connectionKey(e);
      conn = this.byKey.get(key);
    }
    if (conn && this.isAnotherConnection(conn, e, withCounters)) {
      // The tuple was reused by a new kernel connection; the old one ended unseen.
      if (conn.state !== 'done') {
        if (conn.state !== 'ending') {
          this.counts.ended++;
          this.endedBy.replaced++;
        }
        if (conn.countersKnown) {
          this.outbox.push(this.snapshot(conn, FlowEndReason.endOfFlow, conn.state === 'ending' ? conn.endMs : conn.lastActivityMs));
        } else {
          this.counts.countersUnknown++;
        }
      }
      this.forget(conn);
      conn = undefined;
    }
    if (!conn) {
      if (this.byKey.size >= this.opts.maxConnections) this.evictOne();
      conn = new Connection(key, e, now, now, now);
      conn.countersKnown = withCounters;
      this.setCounters(conn, e);
      this.byKey.set(key, conn);
      if (e.id !== 0) this.byId.set(idKey(e.id), conn);
      this.counts.created++;
      this.heap.schedule(conn, now + Math.min(this.opts.idleTimeoutMs, this.opts.activeTimeoutMs));
      if (withCounters && this.pendingRestore.size > 0 && this.takeRestore(conn)) return conn;
      if (isClosed(e)) this.markEnded(conn, now, 'closed');
      if (source === 'event' && conn.state === 'ending') conn.closedByEventMs = now;
      return conn;
    }
    // Keep the stored entry unless what a record shows of it changed: a new object every poll
    // would be promoted to the old generation and make every dump a major-GC cost. A dump begun
    // before the last event is older than that event: it does not set the state.
    const olderThanEvent = source === 'dump' && this.dumpStartedMs <= conn.lastEventMs;
    const newState = (e.tcpState !== '' && e.tcpState !== conn.entry.tcpState) || e.status !== conn.entry.status;
    if (e.startMs > conn.entry.startMs || (newState && !olderThanEvent)) {
      const keep = olderThanEvent || e.tcpState === '';
      conn.setEntry(keep ? { ...e, tcpState: conn.entry.tcpState, status: olderThanEvent ? conn.entry.status : e.status } : e);
    }
    if (conn.state === 'done') return conn;
    if (withCounters) this.takeCounters(conn, e, now);
    if (conn.state !== 'ending' && isClosed(conn.entry)) {
      this.markEnded(conn, now, 'closed');
      if (source === 'event') conn.closedByEventMs = now;
    }
    return conn;
  }

  /**
   * Counters from a dump or a DESTROY event. The first ones of a connection learnt from an event
   * are its first activity that can be exported: its idle and active clocks start there.
   */
  private takeCounters(conn: Connection, e: ConntrackEntry | ConntrackDigest, now: number): void {
    if (!conn.countersKnown) {
      conn.countersKnown = true;
      this.setCounters(conn, e);
      this.touched(conn, now);
      if (this.pendingRestore.size > 0 && this.takeRestore(conn)) return;
      // Ended while its counters were unknown (a closing UPDATE): due now that they are in.
      if (conn.state === 'ending') this.heap.schedule(conn, now);
      return;
    }
    if (this.setCounters(conn, e)) this.touched(conn, now);
  }

  /** New counters arrived: the connection is active now, and live again if it was idle. */
  private touched(conn: Connection, now: number): void {
    conn.lastActivityMs = now;
    if (conn.state === 'idle') {
      this.idle.delete(conn);
      conn.state = 'live';
      this.heap.schedule(conn, Math.min(now + this.opts.idleTimeoutMs, conn.lastExportMs + this.opts.activeTimeoutMs));
    }
  }

  /** Counters only grow within one kernel connection; a zero (no accounting in an event) keeps the last. */
  private setCounters(conn: Connection, e: ConntrackEntry | ConntrackDigest): boolean {
    let changed = false;
    if (e.originalPackets > conn.packets) { conn.packets = e.originalPackets; changed = true; }
    if (e.originalBytes > conn.bytes) { conn.bytes = e.originalBytes; changed = true; }
    if (e.replyPackets > conn.reversePackets) { conn.reversePackets = e.replyPackets; changed = true; }
    if (e.replyBytes > conn.reverseBytes) { conn.reverseBytes = e.replyBytes; changed = true; }
    return changed;
  }

  private isAnotherConnection(conn: Connection, e: ConntrackEntry, withCounters: boolean): boolean {
    if (conn.entry.id !== 0 && e.id !== 0) return conn.entry.id !== e.id;
    // Without kernel ids, a connection whose counters went back is a new one.
    if (!withCounters || !conn.countersKnown) return false;
    return (e.originalPackets > 0 && e.originalPackets < conn.packets) || (e.replyPackets > 0 && e.replyPackets < conn.reversePackets);
  }

  /**
   * Continues a connection from what a predecessor exported of it (restore), when the saved one
   * is the same kernel connection: same CTA_ID and conntrack start (each compared when both sides
   * know it, and at least one of them known), and its totals not above the counters now. Returns
   * true when it became a tombstone (its end was already exported): nothing more to do.
   */
  private takeRestore(conn: Connection): boolean {
    const saved = this.pendingRestore.get(conn.key);
    if (saved === undefined) return false;
    this.pendingRestore.delete(conn.key);
    const idKnown = saved.id !== 0 && conn.id !== 0;
    const startKnown = saved.startMs > 0 && conn.startMs > 0;
    const same =
      (idKnown || startKnown) &&
      (!idKnown || saved.id === conn.id) &&
      (!startKnown || saved.startMs === conn.startMs) &&
      saved.packets <= conn.packets && saved.bytes <= conn.bytes &&
      saved.reversePackets <= conn.reversePackets && saved.reverseBytes <= conn.reverseBytes;
    if (!same) {
      this.counts.restoreDiscarded++;
      return false;
    }
    this.counts.restored++;
    conn.exportedPackets = saved.packets;
    conn.exportedBytes = saved.bytes;
    conn.exportedReversePackets = saved.reversePackets;
    conn.exportedReverseBytes = saved.reverseBytes;
    // Its records carry the start its predecessor's did (the same aggregator flow).
    if (conn.startMs === 0 && saved.flowStartMs > 0) conn.firstSeenMs = saved.flowStartMs;
    if (!saved.done) return false;
    if (conn.state === 'idle') this.idle.delete(conn);
    this.heap.remove(conn);
    conn.state = 'done';
    this.tombstones.add(conn);
    return true;
  }

  /** It ended (why: `cause`); exported at `dueMs` (now by default) with flowEndReason 3. */
  private markEnded(conn: Connection, endMs: number, cause: keyof EndCauses, dueMs = this.opts.clock.now()): void {
    if (conn.state === 'idle') this.idle.delete(conn);
    conn.state = 'ending';
    conn.endCause = cause;
    conn.endMs = Math.max(endMs, conn.firstSeenMs);
    this.counts.ended++;
    this.endedBy[cause]++;
    this.heap.schedule(conn, dueMs);
  }

  /** After the end-of-flow export: a tombstone while the kernel still lists it, else gone. */
  private retire(conn: Connection): void {
    if (conn.present) {
      conn.state = 'done';
      this.tombstones.add(conn);
    } else {
      this.forget(conn);
    }
  }

  private forget(conn: Connection): void {
    if (!conn.held) return;
    conn.held = false;
    if (conn.lastSeenGeneration === this.generation) this.seenInDump--;
    this.heap.remove(conn);
    this.idle.delete(conn);
    this.tombstones.delete(conn);
    if (this.byKey.get(conn.key) === conn) this.byKey.delete(conn.key);
    if (this.byId.get(idKey(conn.id)) === conn) this.byId.delete(idKey(conn.id));
  }

  /** Makes room for one: a tombstone (nothing to report), else the oldest idle one, else the earliest deadline. */
  private evictOne(): void {
    const tomb = first(this.tombstones);
    if (tomb) {
      this.forget(tomb);
      return;
    }
    const victim = first(this.idle) ?? this.heap.peek();
    if (!victim) return;
    if (!victim.countersKnown) {
      this.counts.countersUnknown++;
    } else if (victim.state === 'ending') {
      this.outbox.push(this.snapshot(victim, FlowEndReason.endOfFlow, victim.endMs));
    } else {
      this.counts.evictions++;
      this.outbox.push(this.snapshot(victim, FlowEndReason.lackOfResources, victim.lastActivityMs));
    }
    this.forget(victim);
  }

  /** Builds one export and moves the exported counters forward. */
  private snapshot(conn: Connection, reason: FlowEndReason, endMs: number): ConnectionExport {
    const e = conn.entry;
    const flowStartMs = e.startMs > 0 ? e.startMs : conn.firstSeenMs;
    const out: ConnectionExport = {
      entry: e,
      flowStartMs,
      flowEndMs: Math.max(endMs, flowStartMs),
      flowEndReason: reason,
      packetTotalCount: conn.packets,
      octetTotalCount: conn.bytes,
      reversePacketTotalCount: conn.reversePackets,
      reverseOctetTotalCount: conn.reverseBytes,
      packetDeltaCount: conn.packets - conn.exportedPackets,
      octetDeltaCount: conn.bytes - conn.exportedBytes,
      reversePacketDeltaCount: conn.reversePackets - conn.exportedReversePackets,
      reverseOctetDeltaCount: conn.reverseBytes - conn.exportedReverseBytes,
    };
    conn.exportedPackets = conn.packets;
    conn.exportedBytes = conn.bytes;
    conn.exportedReversePackets = conn.reversePackets;
    conn.exportedReverseBytes = conn.reverseBytes;
    return out;
  }
}

/** The state-file row of a connection: its totals as exported, or (`allExported`) as they are now. */
function savedOf(conn: Connection, done: boolean, allExported: boolean): SavedConnection {
  return {
    key: conn.key,
    id: conn.id,
    startMs: conn.startMs,
    flowStartMs: conn.startMs > 0 ? conn.startMs : conn.firstSeenMs,
    packets: allExported ? conn.packets : conn.exportedPackets,
    bytes: allExported ? conn.bytes : conn.exportedBytes,
    reversePackets: allExported ? conn.reversePackets : conn.exportedReversePackets,
    reverseBytes: allExported ? conn.reverseBytes : conn.exportedReverseBytes,
    done,
  };
}

function first<T>(set: Set<T>): T | undefined {
  for (const v of set) return v;
  return undefined;
}
