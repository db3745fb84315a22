// Interned strings with reference counts. A million tracked flows name a few thousand Pods,
// namespaces, nodes and policies; each flow keeps 4-byte ids instead of its own strings, and a
// string leaves the table when the last flow that names it is gone, so Pod churn does not leak.
//
// Two ways in:
//   by text   (intern, acquire): a Map from the string;
//   by bytes  (idOf): the UTF-8 bytes of a name in a received IPFIX record, through an
//             open-addressing index keyed by the bytes. A name already known costs a hash and a
//             comparison of its bytes: no JS string is built for it and no Map is searched. The
//             aggregator's decoder (wireFlowRecordShape) gives records their names as these ids.
//
//   byte index (Int32Array, power of two        per id: the bytes as up to 16 big-endian
//   entries, load <= 1/2, linear probing)       32-bit words (names of 1-64 bytes; longer ones
//   +------+------+------+                      go by text), one cache line
//   |  id  |  0   |  id  | ...
//   | tag  |      | tag  |                      tag: the hash's upper 25 bits and the length;
//   +------+------+------+                      the home position is tag >>> 7
// A lookup reads one index entry and, when its tag matches, one id's words: the hash and
// length sit in the entry, so probing past other names reads nothing else.
//
// Ids are freed late. A decoded record holds name ids without references (the flow table takes
// them when the record is ingested), so between decoding a message and ingesting its last
// record no id may be freed and handed to another string. An id whose last reference goes, or
// that was interned and never referenced, is only noted; sweep() frees the noted ids that still
// have no reference. The aggregator sweeps after each message and on each tick.
import type { NameInterner } from '../ipfix/template.js';
import { writeVariableString, type NameBytes } from '../ipfix/writer.js';
import { utf8Length } from '../ipfix/values.js';

/** Call sites that acquire() remembers the last string of. */
export const RECENT_HINTS = 32;

/** Names of up to this many UTF-8 bytes are kept in the byte index. */
const BYTES_MAX = 64;
const WORDS_PER_ID = BYTES_MAX / 4;

/** Buffer's own latin1/utf8 slice methods: present in every Node release, but not typed. */
interface BufferSlices {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
}

export class StringTable implements NameInterner, NameBytes {
  private readonly ids = new Map<string, number>();
  private strings: string[] = [''];
  private refs = new Int32Array(64);
  private readonly free: number[] = [];
  /** Ids noted for the next sweep (their references went to 0, or they never had one). */
  private pending: number[] = [];
  private isPending = new Uint8Array(64);

  // The byte index (see the header): entries (id, tag), and per id its tag (0: not indexed).
  private tags = new Int32Array(64);
  /** 1 when an indexed id's bytes are ASCII, so that they are its text's UTF-8 (writeName copies them). */
  private ascii = new Uint8Array(64);
  private words = new Int32Array(64 * WORDS_PER_ID);
  private entries = new Int32Array(2 * 1024);
  private entryMask = 1023;
  private indexed = 0;

  /** The id of `s` without taking a reference, or -1 when no tracked flow names it. */
  peek(s: string): number {
    if (s === '') return 0;
    return this.ids.get(s) ?? -1;
  }

  // The string last interned for each of RECENT_HINTS call sites (a field of a flow record), and
  // its id: records in a row often name the same policy, state, exporter or node in the same
  // field, and comparing with the last one costs less than a Map lookup. The id is used only
  // while it still holds that string, so a freed and reused id is never taken by mistake.
  private readonly recentText: string[] = new Array<string>(RECENT_HINTS).fill('');
  private readonly recentId = new Int32Array(RECENT_HINTS);

  /**
   * The id of `s` without taking a reference ('' is always id 0); a new string is added with
   * none (and freed by the next sweep unless acquired). `hint` (0 to RECENT_HINTS - 1) names the
   * call site, whose last string is tried before the Map.
   */
  intern(s: string, hint = 0): number {
    if (s === '') return 0;
    if (this.recentText[hint] === s) {
      const recent = this.recentId[hint];
      if (this.strings[recent] === s) return recent;
    }
    let id = this.ids.get(s);
    if (id === undefined) id = this.add(s);
    this.recentText[hint] = s;
    this.recentId[hint] = id;
    return id;
  }

  /** Takes a reference to `s` and returns its id; '' is always id 0 and is not counted. */
  acquire(s: string, hint = 0): number {
    const id = this.intern(s, hint);
    if (id !== 0) this.refs[id]++;
    return id;
  }

  /** Takes one more reference to an id that intern, idOf or acquire gave (0 is not counted). */
  acquireId(id: number): void {
    if (id !== 0) this.refs[id]++;
  }

  release(id: number): void {
    if (id === 0) return;
    if (--this.refs[id] === 0) this.note(id);
  }

  /** Replaces the reference held as `oldId` with one to `s`; cheap when the value is unchanged. */
  swap(oldId: number, s: string, hint = 0): number {
    if (this.strings[oldId] === s) return oldId;
    const id = this.acquire(s, hint);
    this.release(oldId);
    return id;
  }

  /**
   * The id of the UTF-8 text b[s, e) (e > s), without taking a reference; dv is a DataView over
   * b's bytes. A name whose bytes are indexed is found without building its text; otherwise the
   * text is made once, found or added by text, and its bytes indexed.
   */
  idOf(b: Buffer, dv: DataView, s: number, e: number): number {
    const n = e - s;
    if (n > BYTES_MAX) return this.intern((b as unknown as BufferSlices).utf8Slice(s, e));
    // The hash: the length and four of the words (the first, the last, and two between); every
    // word is compared below. The four products are independent, so the processor computes
    // them side by side, and one multiply mixes their sum, instead of a chain of four dependent
    // multiplies. For n < 4 the bytes form one word. The last word overlaps the one before it,
    // so every byte is covered.
    const last = n >= 4 ? e - 4 : s;
    let small = 0;
    let h: number;
    if (n >= 4) {
      h =
        (Math.imul(dv.getInt32(s), 0x9e3779b1) + Math.imul(dv.getInt32(last), 0x85ebca6b)) ^
        (Math.imul(dv.getInt32(s + ((n - 4) >>> 1)), 0xc2b2ae35) + Math.imul(dv.getInt32(s + ((n - 4) >>> 2)) ^ n, 0x27d4eb2f));
    } else {
      for (let o = s; o < e; o++) small = (small << 8) | b[o];
      h = Math.imul(small ^ (n << 24), 0x9e3779b1);
    }
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 16;
    // n <= 64 fits the low 7 bits; a tag is never 0.
    const tag = (h & ~127) | n;
    const entries = this.entries;
    const mask = this.entryMask;
    let i = (tag >>> 7) & mask;
    for (let id = entries[2 * i]; id !== 0; id = entries[2 * i]) {
      if (entries[2 * i + 1] === tag && this.sameBytes(id, b, dv, s, n, small)) return id;
      i = (i + 1) & mask;
    }
    // Not indexed: the text (latin1 when every byte is ASCII, which Kubernetes names are).
    let high = small;
    if (n >= 4) {
      for (let o = s; o < last; o += 4) high |= dv.getInt32(o);
      high |= dv.getInt32(last);
    }
    const slices = b as unknown as BufferSlices;
    const text = (high & 0x80808080) === 0 ? slices.latin1Slice(s, e) : slices.utf8Slice(s, e);
    let id = this.ids.get(text);
    if (id === undefined) id = this.add(text);
    // Invalid UTF-8 decodes to U+FFFD, so different bytes can name one text: only the first
    // bytes seen are indexed, the others take this path each time.
    if (this.tags[id] === 0) this.index(id, tag, b, dv, s, n, small, (high & 0x80808080) === 0);
    return id;
  }

  /** The UTF-8 length of id's text (NameBytes). */
  nameLength(id: number): number {
    const tag = this.tags[id];
    return tag !== 0 && this.ascii[id] !== 0 ? tag & 127 : utf8Length(this.strings[id]);
  }

  /**
   * Writes id's text as an IPFIX variable-length string at p (NameBytes: the exported record's
   * names). A name that came in as ASCII bytes is copied from the bytes the index keeps, a word
   * per store, without reading its JS string; any other text is written from the string, as the
   * message writer writes it. Returns the offset after it, or -1 when it would cross limit.
   */
  writeName(b: Buffer, dv: DataView, p: number, id: number, limit: number): number {
    const tag = this.tags[id];
    if (tag === 0 || this.ascii[id] === 0) return writeVariableString(b, dv, p, this.strings[id], limit, 'name');
    const n = tag & 127;
    const o = p + 1;
    if (o + n > limit) return -1;
    b[p] = n;
    const words = this.words;
    let w = id * WORDS_PER_ID;
    if (n < 4) {
      // The bytes form one word, the last byte lowest.
      for (let k = n - 1, x = words[w]; k >= 0; k--, x >>>= 8) b[o + k] = x & 255;
      return o + n;
    }
    // As index() kept them: whole words, then the last four bytes (overlapping the word before).
    const last = o + n - 4;
    for (let q = o; q < last; q += 4) dv.setInt32(q, words[w++]);
    dv.setInt32(last, words[w]);
    return o + n;
  }

  /** Frees every id noted since the last sweep that still has no reference. */
  sweep(): void {
    const pending = this.pending;
    if (pending.length === 0) return;
    for (let k = 0; k < pending.length; k++) {
      const id = pending[k];
      this.isPending[id] = 0;
      if (this.refs[id] !== 0) continue;
      this.ids.delete(this.strings[id]);
      this.strings[id] = '';
      if (this.tags[id] !== 0) this.unindex(id);
      this.free.push(id);
    }
    pending.length = 0;
  }

  /** Forgets every string (all ids are released at once). */
  clear(): void {
    this.recentText.fill('');
    this.ids.clear();
    this.strings = [''];
    this.refs.fill(0);
    this.free.length = 0;
    this.pending.length = 0;
    this.isPending.fill(0);
    this.tags.fill(0);
    this.entries.fill(0);
    this.indexed = 0;
  }

  /** Every string by id (get(id) without a call); replaced by clear(), so fetch it again after one. */
  get texts(): readonly string[] {
    return this.strings;
  }

  get(id: number): string {
    return this.strings[id];
  }

  /** Distinct strings held (without ''), counting those noted for the next sweep. */
  get size(): number {
    return this.ids.size;
  }

  /** Strings in the byte index (tests). */
  get indexedNames(): number {
    return this.indexed;
  }

  /** A new id for s, with no references, noted for the next sweep. */
  private add(s: string): number {
    const id = this.free.length > 0 ? (this.free.pop() as number) : this.strings.length;
    if (id >= this.refs.length) this.growIds(this.refs.length * 2);
    this.strings[id] = s;
    this.refs[id] = 0;
    this.tags[id] = 0;
    this.ids.set(s, id);
    this.note(id);
    return id;
  }

  private note(id: number): void {
    if (this.isPending[id] !== 0) return;
    this.isPending[id] = 1;
    this.pending.push(id);
  }

  private sameBytes(id: number, b: Buffer, dv: DataView, s: number, n: number, small: number): boolean {
    const words = this.words;
    let w = id * WORDS_PER_ID;
    if (n < 4) return words[w] === small;
    const last = s + n - 4;
    for (let o = s; o < last; o += 4, w++) if (words[w] !== dv.getInt32(o)) return false;
    return words[w] === dv.getInt32(last);
  }

  /** Keeps the bytes of id and links it into the byte index at its first free position. */
  private index(id: number, tag: number, b: Buffer, dv: DataView, s: number, n: number, small: number, ascii: boolean): void {
    const words = this.words;
    let w = id * WORDS_PER_ID;
    if (n < 4) {
      words[w] = small;
    } else {
      const last = s + n - 4;
      for (let o = s; o < last; o += 4) words[w++] = dv.getInt32(o);
      words[w] = dv.getInt32(last);
    }
    this.tags[id] = tag;
    this.ascii[id] = ascii ? 1 : 0;
    if (4 * (this.indexed + 1) > this.entries.length) this.growIndex();
    this.link(id, tag);
    this.indexed++;
  }

  private link(id: number, tag: number): void {
    const entries = this.entries;
    const mask = this.entryMask;
    let i = (tag >>> 7) & mask;
    while (entries[2 * i] !== 0) i = (i + 1) & mask;
    entries[2 * i] = id;
    entries[2 * i + 1] = tag;
  }

  /** Removes id from the byte index; backward-shift deletion keeps every probe chain whole. */
  private unindex(id: number): void {
    const entries = this.entries;
    const mask = this.entryMask;
    let i = (this.tags[id] >>> 7) & mask;
    while (entries[2 * i] !== id) i = (i + 1) & mask;
    let hole = i;
    let j = (i + 1) & mask;
    while (entries[2 * j] !== 0) {
      const home = (entries[2 * j + 1] >>> 7) & mask;
      // Move entry j into the hole when its home position is not cyclically within (hole, j].
      const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!inRange) {
        entries[2 * hole] = entries[2 * j];
        entries[2 * hole + 1] = entries[2 * j + 1];
        hole = j;
      }
      j = (j + 1) & mask;
    }
    entries[2 * hole] = 0;
    this.tags[id] = 0;
    this.indexed--;
  }

  private growIndex(): void {
    const old = this.entries;
    this.entries = new Int32Array(old.length * 2);
    this.entryMask = this.entries.length / 2 - 1;
    for (let k = 0; k < old.length; k += 2) if (old[k] !== 0) this.link(old[k], old[k + 1]);
  }

  private growIds(length: number): void {
    const refs = new Int32Array(length);
    refs.set(this.refs);
    this.refs = refs;
    const isPending = new Uint8Array(length);
    isPending.set(this.isPending);
    this.isPending = isPending;
    const tags = new Int32Array(length);
    tags.set(this.tags);
    this.tags = tags;
    const ascii = new Uint8Array(length);
    ascii.set(this.ascii);
    this.ascii = ascii;
    const words = new Int32Array(length * WORDS_PER_ID);
    words.set(this.words);
    this.words = words;
  }
}
