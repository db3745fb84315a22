// The aggregator's flow map, laid out for memory and for the cache: one fixed-size record per
// tracked flow in one ArrayBuffer (typed-array views of every width over the same bytes),
// strings as ids into a StringTable, and an open-addressing hash index from the 5-tuple to the
// slot. No object, closure or Map entry per flow: at 1,000,000 flows a slot costs about 386
// bytes (see bench/aggregator.bench.ts). A record received for a flow touches that flow's
// SLOT_BYTES contiguous bytes (the key first, to be compared by find), not one cache line in
// each of nine column arrays.
//
// Addresses are keys of their family: an IPv4 address is its 32-bit value (no Map lookup per
// record, given back as text through the decoder's IPv4 text cache); an IPv6 address is an id
// into the string table. The IP version is part of the key.
//
//   index (Int32Array, power of two       one slot (SLOT_BYTES = 344)
//   entries, load <= 1/2)                 0   src u32 | dst u32 | sport dport svcPort u16
//   +------+------+------+------+         14  u8 x 9 (U8.*: protocol, ipVersion, enums, flags)
//   | s+1  |  0   | s+1  | ...  |         24  u32 x 9 (SEC.*: times, domain id)
//   | hash |      | hash |      |         60  u32 x 16 (STR.*: string ids)
//   +------+------+------+------+         124 u32 hash of the key
//                                         128 f64 x 16 (CTR.*: 2 sides x 8 counters)
//                                         256 f64 x 11 (F64.*: times, baselines)
// Linear probing, backward-shift deletion. Each index entry keeps its slot's hash, so that
// probing past other flows, deleting, and rebuilding the index on growth read no slot.
//
// Growth without copies: the slots start in a small buffer (initialCapacity); when the table
// outgrows it, one buffer for maxCapacity slots takes its place, and later growth only grows
// the index and the small per-slot arrays. The big buffer is reserved address space, not memory:
// the kernel gives a page its memory when a slot on it is first written (a fresh allocation of
// this size is mapped, not cleared), so a table of 400,000 flows under a cap of 1,000,000 holds
// the memory of 400,000 slots. Doubling instead copied every slot at each step (180 MB of copies
// and page faults to reach 400,000 flows). When the address space is refused, growth doubles as
// before.
import { StringTable } from './string-table.js';
import { ipv4Text, parseIpv4 } from '../ipfix/values.js';

/** Offsets of the interned string fields within a slot's block of STRING_FIELDS ids. */
export const STR = {
  sourcePodNamespace: 0,
  sourcePodName: 1,
  destinationPodNamespace: 2,
  destinationPodName: 3,
  sourceNodeName: 4,
  destinationNodeName: 5,
  destinationClusterIP: 6,
  destinationServicePortName: 7,
  ingressNetworkPolicyName: 8,
  ingressNetworkPolicyNamespace: 9,
  ingressNetworkPolicyRuleName: 10,
  egressNetworkPolicyName: 11,
  egressNetworkPolicyNamespace: 12,
  egressNetworkPolicyRuleName: 13,
  tcpState: 14,
  originalExporterAddress: 15,
} as const;
export const STRING_FIELDS = 16;

/** Offsets of one side's counters; side 0 is the source node, side 1 the destination node. */
export const CTR = {
  packetTotalCount: 0,
  octetTotalCount: 1,
  packetDeltaCount: 2,
  octetDeltaCount: 3,
  reversePacketTotalCount: 4,
  reverseOctetTotalCount: 5,
  reversePacketDeltaCount: 6,
  reverseOctetDeltaCount: 7,
} as const;
export const COUNTERS_PER_SIDE = 8;
export const SIDE_SOURCE = 0;
export const SIDE_DESTINATION = 1;

/** Offsets within a slot's block of small enums. */
export const U8 = {
  protocolIdentifier: 0,
  ipVersion: 1,
  flowEndReason: 2,
  flowType: 3,
  ingressNetworkPolicyType: 4,
  ingressNetworkPolicyRuleAction: 5,
  egressNetworkPolicyType: 6,
  egressNetworkPolicyRuleAction: 7,
  flags: 8,
} as const;
const U8_FIELDS = 9;

/** Bits of the flags byte. */
export const FLAG = {
  live: 1,
  seenSource: 2,
  seenDestination: 4,
  /** An inter-node half that waits for the other half. */
  needsCorrelation: 8,
  /** Counted once in the `correlated` statistic. */
  correlationCounted: 16,
  everExported: 32,
  /** Updated since the last export. */
  unsent: 64,
} as const;

/** Offsets within a slot's block of u32 times (seconds since the epoch). */
export const SEC = {
  flowStartSeconds: 0,
  flowEndSeconds: 1,
  flowEndSecondsFromSourceNode: 2,
  flowEndSecondsFromDestinationNode: 3,
  /** Throughput baselines: the side's flowEndSeconds at the previous export. */
  previousEndFromSourceNode: 4,
  previousEndFromDestinationNode: 5,
  originalObservationDomainId: 6,
  /** The flowStartSeconds each side reported first: a lower total with the same start is a stale report, not a new connection. */
  flowStartFromSourceNode: 7,
  flowStartFromDestinationNode: 8,
} as const;
const SEC_FIELDS = 9;

/** Offsets within a slot's block of f64 values other than counters. */
export const F64 = {
  firstSeenMs: 0,
  lastUpdateMs: 1,
  lastExportMs: 2,
  /** Throughput baselines: the side's octet totals at the previous export. */
  previousOctetsFromSourceNode: 3,
  previousReverseOctetsFromSourceNode: 4,
  previousOctetsFromDestinationNode: 5,
  previousReverseOctetsFromDestinationNode: 6,
  /**
   * The highest primary totals (packets, octets, reverse packets, reverse octets) the flow's
   * exported records carried: the record's own baseline, so that its deltas stay right when the
   * side that supplies its counters changes (destination node first, source node later).
   */
  exportedPacketTotal: 7,
  exportedOctetTotal: 8,
  exportedReversePacketTotal: 9,
  exportedReverseOctetTotal: 10,
} as const;
const F64_FIELDS = 11;

/** Bytes per slot, and where each block starts (in bytes; each a multiple of its width). */
const SLOT_BYTES = 344;
const SOURCE_AT = 0;
const DESTINATION_AT = 4;
const PORTS_AT = 8;
const U8_AT = 14;
const SEC_AT = 24;
const STR_AT = 60;
/** The slot's hash (FlowTable.hash of its key), kept for the index rebuild and backward-shift deletion. */
const HASH_AT = 124;
const COUNTERS_AT = 128;
const F64_AT = 256;
const U32_STRIDE = SLOT_BYTES / 4;
const U16_STRIDE = SLOT_BYTES / 2;
const F64_STRIDE = SLOT_BYTES / 8;

/**
 * Where slot s's blocks start in each view (FlowTable.u8/u16/u32/counters), for code that reads
 * many fields of one slot (exporting a flow): one base per block instead of an accessor call per
 * field, which V8 stops inlining in large functions.
 */
export function slotBases(s: number, out: Int32Array): void {
  out[BASE.u8] = s * SLOT_BYTES + U8_AT;
  out[BASE.ports] = s * U16_STRIDE + PORTS_AT / 2;
  out[BASE.sec] = s * U32_STRIDE + SEC_AT / 4;
  out[BASE.str] = s * U32_STRIDE + STR_AT / 4;
  out[BASE.counters] = s * F64_STRIDE + COUNTERS_AT / 8;
  out[BASE.f64] = s * F64_STRIDE + F64_AT / 8;
}
/** Indexes of slotBases' output. */
export const BASE = { u8: 0, ports: 1, sec: 2, str: 3, counters: 4, f64: 5 } as const;
if (
  PORTS_AT + 6 > U8_AT || U8_AT + U8_FIELDS > SEC_AT || SEC_AT + 4 * SEC_FIELDS > STR_AT || STR_AT + 4 * STRING_FIELDS > HASH_AT || HASH_AT + 4 > COUNTERS_AT ||
  COUNTERS_AT + 8 * 2 * COUNTERS_PER_SIDE > F64_AT || F64_AT + 8 * F64_FIELDS > SLOT_BYTES
) {
  throw new Error('FlowTable: the blocks of a slot overlap');
}

function nextPowerOfTwo(n: number): number {
  let p = 16;
  while (p < n) p *= 2;
  return p;
}

export class FlowTable {
  readonly strings = new StringTable();
  capacity: number;
  size = 0;

  /** Views of the slot records; index (s * stride + field) in the view of the field's width. */
  // Read them only through slotBases (writes go through the methods below).
  u8: Uint8Array;
  u16: Uint16Array;
  u32: Uint32Array;
  /** The f64 view, counters included: index counterIndex(s, side, counter). */
  counters: Float64Array;
  /** Bumped whenever a slot is freed, so that stale deadline-heap entries are recognised. */
  generation: Uint32Array;

  private index: Int32Array;
  private mask: number;
  private freeSlots: Int32Array;
  private freeCount = 0;
  private highWater = 0;
  /** Slots at and above this one have not been written since the slot buffer was allocated: all zero. */
  private written = 0;

  constructor(
    initialCapacity: number,
    private readonly maxCapacity: number,
  ) {
    const cap = Math.max(1, Math.min(initialCapacity, maxCapacity));
    this.capacity = cap;
    const slots = new ArrayBuffer(cap * SLOT_BYTES);
    this.u8 = new Uint8Array(slots);
    this.u16 = new Uint16Array(slots);
    this.u32 = new Uint32Array(slots);
    this.counters = new Float64Array(slots);
    this.generation = new Uint32Array(cap);
    this.freeSlots = new Int32Array(cap);
    const indexSize = nextPowerOfTwo(cap * 2);
    this.index = new Int32Array(2 * indexSize);
    this.mask = indexSize - 1;
  }

  /** `version` is the IP version (4 or 6): an IPv4 key and an IPv6 string id may be equal. */
  static hash(src: number, dst: number, sport: number, dport: number, proto: number, version: number): number {
    let h = Math.imul(src ^ 0x9e3779b9, 0x85ebca6b) ^ dst;
    h = Math.imul(h ^ (h >>> 15), 0xc2b2ae35);
    h ^= (sport << 16) | dport;
    h = Math.imul(h ^ (h >>> 13), 0x27d4eb2f);
    h ^= proto | (version << 8);
    return (h ^ (h >>> 16)) >>> 0;
  }

  /**
   * The key of an address of the given IP version: an IPv4 address's 32-bit value, an IPv6
   * address's string id; -1 when the text is not an IPv4 address, or no tracked flow names the
   * IPv6 address.
   */
  addressKey(version: 4 | 6, text: string): number {
    return version === 4 ? parseIpv4(text) : this.strings.peek(text);
  }

  /** The text of an address key (sourceKey(s) or destinationKey(s)) of slot s. */
  addressText(s: number, key: number): string {
    return this.u8[s * SLOT_BYTES + U8_AT + U8.ipVersion] === 4 ? ipv4Text(key) : this.strings.get(key);
  }

  /** The source address key of slot s (an IPv4 value or an IPv6 string id). */
  sourceKey(s: number): number {
    return this.u32[s * U32_STRIDE + SOURCE_AT / 4];
  }

  destinationKey(s: number): number {
    return this.u32[s * U32_STRIDE + DESTINATION_AT / 4];
  }

  /** Port k of slot s: 0 sourceTransportPort, 1 destinationTransportPort, 2 destinationServicePort. */
  port(s: number, k: number): number {
    return this.u16[s * U16_STRIDE + PORTS_AT / 2 + k];
  }

  setServicePort(s: number, value: number): void {
    this.u16[s * U16_STRIDE + PORTS_AT / 2 + 2] = value;
  }

  /** The slot of the 5-tuple (address keys from addressKey), or -1. */
  find(version: 4 | 6, src: number, dst: number, sport: number, dport: number, proto: number): number {
    if (src < 0 || dst < 0) return -1;
    const u32 = this.u32;
    const u16 = this.u16;
    const u8 = this.u8;
    const hash = FlowTable.hash(src, dst, sport, dport, proto, version) | 0;
    const index = this.index;
    let i = hash & this.mask;
    for (;; i = (i + 1) & this.mask) {
      const e = index[2 * i];
      if (e === 0) return -1;
      if (index[2 * i + 1] !== hash) continue;
      const s = e - 1;
      const w = s * U32_STRIDE;
      const h = s * U16_STRIDE + PORTS_AT / 2;
      const b = s * SLOT_BYTES + U8_AT;
      if (
        u32[w] === src &&
        u32[w + 1] === dst &&
        u16[h] === sport &&
        u16[h + 1] === dport &&
        u8[b + U8.protocolIdentifier] === proto &&
        u8[b + U8.ipVersion] === version
      ) {
        return s;
      }
    }
  }

  /**
   * Allocates a cleared slot for a new 5-tuple (the caller checked that it is absent, that
   * size < max, and that IPv4 addresses parse).
   */
  insert(version: 4 | 6, sourceAddress: string, destinationAddress: string, sport: number, dport: number, proto: number): number {
    if (version === 4) {
      const src = parseIpv4(sourceAddress);
      const dst = parseIpv4(destinationAddress);
      if (src < 0 || dst < 0) throw new Error(`FlowTable.insert: ${sourceAddress} or ${destinationAddress} is not an IPv4 address`);
      return this.insertKey(4, src, dst, sport, dport, proto);
    }
    return this.insertKey(6, this.strings.acquire(sourceAddress, STRING_FIELDS), this.strings.acquire(destinationAddress, STRING_FIELDS + 1), sport, dport, proto);
  }

  /** insert() for an IPv4 5-tuple whose addresses are numbers already (0 to 2^32 - 1). */
  insertIpv4(src: number, dst: number, sport: number, dport: number, proto: number): number {
    return this.insertKey(4, src, dst, sport, dport, proto);
  }

  private insertKey(version: 4 | 6, src: number, dst: number, sport: number, dport: number, proto: number): number {
    if (this.freeCount === 0 && this.highWater === this.capacity) this.grow();
    const s = this.freeCount > 0 ? this.freeSlots[--this.freeCount] : this.highWater++;
    // A slot never written since its buffer was allocated is zero already; one freed, or left
    // by clear(), is cleared (a call into the runtime per new flow otherwise).
    if (s < this.written) this.u8.fill(0, s * SLOT_BYTES, (s + 1) * SLOT_BYTES);
    else this.written = s + 1;
    const w = s * U32_STRIDE;
    this.u32[w + SOURCE_AT / 4] = src;
    this.u32[w + DESTINATION_AT / 4] = dst;
    const h = s * U16_STRIDE + PORTS_AT / 2;
    this.u16[h] = sport;
    this.u16[h + 1] = dport;
    const b = s * SLOT_BYTES + U8_AT;
    this.u8[b + U8.protocolIdentifier] = proto;
    this.u8[b + U8.ipVersion] = version;
    this.u8[b + U8.flags] = FLAG.live;
    const hash = FlowTable.hash(src, dst, sport, dport, proto, version);
    this.u32[w + HASH_AT / 4] = hash;
    this.link(s + 1, hash | 0);
    this.size++;
    return s;
  }

  /** Puts an index entry (slot + 1, hash) at the first free position from its home. */
  private link(entry: number, hash: number): void {
    let i = hash & this.mask;
    while (this.index[2 * i] !== 0) i = (i + 1) & this.mask;
    this.index[2 * i] = entry;
    this.index[2 * i + 1] = hash;
  }

  /** Frees a slot: releases its strings, unlinks it from the index, bumps its generation. */
  remove(s: number): void {
    const src = this.sourceKey(s);
    const dst = this.destinationKey(s);
    const version = this.getU8(s, U8.ipVersion);
    const index = this.index;
    let i = this.slotHash(s) & this.mask;
    while (index[2 * i] !== s + 1) i = (i + 1) & this.mask;
    // Backward-shift deletion keeps every probe chain unbroken without tombstones.
    let hole = i;
    let j = (i + 1) & this.mask;
    while (index[2 * j] !== 0) {
      const home = index[2 * j + 1] & this.mask;
      // Move entry j into the hole when its home position is not cyclically within (hole, j].
      const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!inRange) {
        index[2 * hole] = index[2 * j];
        index[2 * hole + 1] = index[2 * j + 1];
        hole = j;
      }
      j = (j + 1) & this.mask;
    }
    index[2 * hole] = 0;

    if (version !== 4) {
      this.strings.release(src);
      this.strings.release(dst);
    }
    const base = s * U32_STRIDE + STR_AT / 4;
    for (let k = 0; k < STRING_FIELDS; k++) this.strings.release(this.u32[base + k]);
    this.u32.fill(0, base, base + STRING_FIELDS);
    this.u8[s * SLOT_BYTES + U8_AT + U8.flags] = 0;
    this.generation[s]++;
    this.freeSlots[this.freeCount++] = s;
    this.size--;
  }

  /**
   * Frees every slot at once (shutdown flush): the index, the free list and the strings start
   * afresh, and every used slot's generation is bumped so that stale deadline-heap entries are
   * recognised. Removing slot by slot would walk the index at random for each one.
   */
  clear(): void {
    for (let s = 0; s < this.highWater; s++) {
      this.u8[s * SLOT_BYTES + U8_AT + U8.flags] = 0;
      this.generation[s]++;
    }
    this.index.fill(0);
    this.strings.clear();
    this.freeCount = 0;
    this.highWater = 0;
    this.size = 0;
  }

  private slotHash(s: number): number {
    return this.u32[s * U32_STRIDE + HASH_AT / 4];
  }

  isLive(s: number): boolean {
    return s < this.highWater && (this.u8[s * SLOT_BYTES + U8_AT + U8.flags] & FLAG.live) !== 0;
  }

  /** One past the highest slot ever used; iterate 0..end and test isLive. */
  get end(): number {
    return this.highWater;
  }

  flags(s: number): number {
    return this.u8[s * SLOT_BYTES + U8_AT + U8.flags];
  }

  setFlags(s: number, bits: number): void {
    this.u8[s * SLOT_BYTES + U8_AT + U8.flags] |= bits;
  }

  clearFlags(s: number, bits: number): void {
    this.u8[s * SLOT_BYTES + U8_AT + U8.flags] &= ~bits;
  }

  getU8(s: number, field: number): number {
    return this.u8[s * SLOT_BYTES + U8_AT + field];
  }

  setU8(s: number, field: number, value: number): void {
    this.u8[s * SLOT_BYTES + U8_AT + field] = value;
  }

  getSec(s: number, field: number): number {
    return this.u32[s * U32_STRIDE + SEC_AT / 4 + field];
  }

  setSec(s: number, field: number, value: number): void {
    this.u32[s * U32_STRIDE + SEC_AT / 4 + field] = value;
  }

  getF64(s: number, field: number): number {
    return this.counters[s * F64_STRIDE + F64_AT / 8 + field];
  }

  setF64(s: number, field: number, value: number): void {
    this.counters[s * F64_STRIDE + F64_AT / 8 + field] = value;
  }

  getString(s: number, field: number): string {
    return this.strings.get(this.u32[s * U32_STRIDE + STR_AT / 4 + field]);
  }

  /** Sets a string field, keeping reference counts right. */
  setString(s: number, field: number, value: string): void {
    const at = s * U32_STRIDE + STR_AT / 4 + field;
    this.u32[at] = this.strings.swap(this.u32[at], value, field);
  }

  /** Sets a string field only when it is empty. */
  fillString(s: number, field: number, value: string): void {
    const at = s * U32_STRIDE + STR_AT / 4 + field;
    if (this.u32[at] === 0 && value !== '') this.u32[at] = this.strings.acquire(value, field);
  }

  /** The string-table id in a string field. */
  getId(s: number, field: number): number {
    return this.u32[s * U32_STRIDE + STR_AT / 4 + field];
  }

  /**
   * Puts a string-table id (from intern or idOf; 0 for '') into a string field, taking a
   * reference to it and releasing the one it replaces: when `overwrite`, or when the field is
   * empty. Equal ids cost one comparison.
   */
  putId(s: number, field: number, id: number, overwrite: boolean): void {
    const at = s * U32_STRIDE + STR_AT / 4 + field;
    const old = this.u32[at];
    if (old === id || (!overwrite && old !== 0)) return;
    this.strings.acquireId(id);
    this.strings.release(old);
    this.u32[at] = id;
  }

  /**
   * putId for the name fields 0 to STR.tcpState - 1 at once: ids[k] goes into field k,
   * overwriting it when bit k of `overwrite` is set, otherwise only when it is empty. One call
   * per record: a re-report whose names the flow holds already costs one comparison per field.
   */
  putIds(s: number, ids: Int32Array, overwrite: number): void {
    const u32 = this.u32;
    const at = s * U32_STRIDE + STR_AT / 4;
    for (let k = 0; k < STR.tcpState; k++) {
      const id = ids[k];
      const old = u32[at + k];
      if (old === id || (((overwrite >>> k) & 1) === 0 && old !== 0)) continue;
      this.strings.acquireId(id);
      this.strings.release(old);
      u32[at + k] = id;
    }
  }

  /** Sets a string field when `overwrite`, otherwise fills it only when empty. */
  putString(s: number, field: number, value: string, overwrite: boolean): void {
    if (overwrite) this.setString(s, field, value);
    else this.fillString(s, field, value);
  }

  /** The index in `counters` of a side's counter (CTR.*) of slot s. */
  counterIndex(s: number, side: number, counter: number): number {
    return s * F64_STRIDE + COUNTERS_AT / 8 + side * COUNTERS_PER_SIDE + counter;
  }

  /** Bytes of the slots in use (capacity; the reserved rest of the buffer holds no memory until written), the generations, the index and the free list (not the strings). */
  columnBytes(): number {
    return this.capacity * SLOT_BYTES + this.generation.byteLength + this.freeSlots.byteLength + this.index.byteLength;
  }

  /**
   * Moves the slots into a buffer of maxCapacity slots (reserved address space, see the header),
   * or, when that is refused or too large, into one of `cap` slots.
   */
  private moveSlots(cap: number): void {
    let slots: ArrayBuffer | null = null;
    const reserve = this.maxCapacity * SLOT_BYTES;
    if (reserve <= MAX_RESERVED_BYTES) {
      try {
        slots = new ArrayBuffer(reserve);
      } catch {
        slots = null;
      }
    }
    slots ??= new ArrayBuffer(cap * SLOT_BYTES);
    const u8 = new Uint8Array(slots);
    u8.set(this.u8.subarray(0, this.highWater * SLOT_BYTES));
    this.written = this.highWater;
    this.u8 = u8;
    this.u16 = new Uint16Array(slots);
    this.u32 = new Uint32Array(slots);
    this.counters = new Float64Array(slots);
  }

  private grow(): void {
    const cap = Math.min(this.maxCapacity, Math.max(this.capacity + 1, this.capacity * 2));
    if (cap <= this.capacity) throw new Error(`flow table is full at ${this.capacity} slots`);
    if (this.u8.length < cap * SLOT_BYTES) this.moveSlots(cap);
    this.generation = grown(this.generation, cap);
    this.freeSlots = grown(this.freeSlots, cap);
    this.capacity = cap;
    const indexSize = nextPowerOfTwo(cap * 2);
    if (2 * indexSize !== this.index.length) {
      // Rebuilt from the old index in its order: the entries' hashes are there, and their new
      // positions (home or home + old size) advance with it, so no slot is read.
      const old = this.index;
      this.index = new Int32Array(2 * indexSize);
      this.mask = indexSize - 1;
      for (let k = 0; k < old.length; k += 2) if (old[k] !== 0) this.link(old[k], old[k + 1]);
    }
  }
}

/** The largest slot buffer reserved at once (bytes); beyond it the buffer doubles by copying. */
const MAX_RESERVED_BYTES = 2 ** 32;

function grown<T extends Uint32Array | Int32Array>(a: T, length: number): T {
  const b = new (a.constructor as new (n: number) => T)(length);
  b.set(a);
  return b;
}
