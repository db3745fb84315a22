// The embedded store's rollup rows of one batch, grouped in JS from the encoded batch
// (columnar.ts) and written with it: the same rows as duckdbRollupInsert(batch) computes in SQL
// (rollups.ts), at a fraction of the cost. String keys are grouped by their dictionary indexes
// (small integers), never by their text: a rollup's key parts are packed as mixed-radix digits
// into a few 32-bit words a row (the nodes and policies keys into one), the words numbered into
// dense group ids in one hash pass (GroupTable), sums go into typed arrays by group id, and each
// group remembers its first row, whose values name it. The table, the words and the ids are kept
// from one batch to the next (RollupScratch).
//
// On the store bench's 50,000-row batches, the SQL GROUP BY per grain over the staged batch
// cost about 18 µs of CPU a row, three times the insert of the rows themselves. Over a
// 245,760-row batch, folding one Int32Array per key part into a Float64Array key (a table pass
// per 2^53 of width, two for the Pod rollup) cost 300-650 ms of CPU; the packed words 230-260 ms
// (alternating, load 4.8-5.4), with the same rows out.
import { narrow, type EncodedBatch, type EncodedColumn, type Indexes } from './columnar.js';
import { ALL_KEYS, GRAINS, ROLLUP_MEASURES, ROLLUPS } from './rollups.js';
import { COLUMN_NAMES } from './schema.js';

/** A string column of the batch as dictionary + indexes. */
interface Codes {
  dictionary: readonly string[];
  indexes: Indexes | Uint32Array;
}

function codesOf(col: EncodedColumn): Codes {
  if (col.kind === 'number') throw new Error('rollup key column is not a string column');
  return col;
}

const EMPTY_SLOT = -1;
const WORD = 4294967296;
/**
 * Keys of one word below this are grouped through a table indexed by the key (GroupTable
 * groupDirect): 4 MB at most, and only the slots of the keys found are touched.
 */
const DIRECT_RANGE = 1 << 20;

/**
 * Numbers distinct keys of k 32-bit words each, in order of first appearance: one hash pass over
 * the rows' words (row-major: row i's key is words[i * k, i * k + k)), an open-addressing table
 * of typed arrays (slot -> group id; each group's words kept in the same layout, to compare on a
 * hit and to rehash on growth). Numbers only: no key strings, no per-group objects. The table
 * grows with the groups found, not with the rows (sized for the rows, it missed the CPU caches on
 * nearly every probe), and one table serves every grouping of a thread: it keeps its memory from
 * one batch to the next.
 */
export class GroupTable {
  private slots: Int32Array = new Int32Array(1024).fill(EMPTY_SLOT);
  private keys: Uint32Array = new Uint32Array(2048);

  /** Group id + 1 per key value, for keys of one word below DIRECT_RANGE (0: not seen); all 0 between calls. */
  private direct: Int32Array = new Int32Array(0);

  /**
   * Writes each row's dense group id into ids[0, n); returns the number of groups. `range`: an
   * upper bound of the key when k is 1 (its word's product of widths).
   */
  group(words: Uint32Array, k: number, n: number, ids: Uint32Array, range = WORD): number {
    if (n === 0) return 0;
    if (k === 0) {
      ids.fill(0, 0, n);
      return 1;
    }
    if (k === 1 && range <= DIRECT_RANGE) return this.groupDirect(words, n, ids, range);
    this.slots.fill(EMPTY_SLOT);
    return k === 1 ? this.groupOne(words, n, ids) : this.groupMany(words, k, n, ids);
  }

  /**
   * A key of one word with a small range is its own slot: no hashing, no probing, no compare
   * (the rollups' tiers group the key ids and a bucket, the nodes and policies keys are a few
   * thousand combinations). The slots used are cleared afterwards through the groups' keys.
   */
  private groupDirect(words: Uint32Array, n: number, ids: Uint32Array, range: number): number {
    if (this.direct.length < range) this.direct = new Int32Array(Math.max(range, 2 * this.direct.length));
    const direct = this.direct;
    let keys = this.keys;
    let count = 0;
    for (let i = 0; i < n; i++) {
      const v = words[i];
      if (v >= range) {
        // A digit beyond its part's width (never, from rollupBatch's parts): hash instead.
        for (let c = 0; c < count; c++) direct[keys[c]] = 0;
        this.slots.fill(EMPTY_SLOT);
        return this.groupOne(words, n, ids);
      }
      const g = direct[v];
      if (g !== 0) ids[i] = g - 1;
      else {
        if (count === keys.length) keys = this.keys = grown(keys, keys.length * 2);
        keys[count] = v;
        ids[i] = count++;
        direct[v] = count;
      }
    }
    for (let g = 0; g < count; g++) direct[keys[g]] = 0;
    return count;
  }

  private groupOne(words: Uint32Array, n: number, ids: Uint32Array): number {
    let slots = this.slots;
    let keys = this.keys;
    let mask = slots.length - 1;
    let count = 0;
    for (let i = 0; i < n; i++) {
      const v = words[i];
      let h = mix(Math.imul(v, 0x9e3779b1)) & mask;
      for (;;) {
        const g = slots[h];
        if (g === EMPTY_SLOT) {
          if (count === keys.length) keys = this.keys = grown(keys, keys.length * 2);
          keys[count] = v;
          slots[h] = count;
          ids[i] = count++;
          if (count * 2 > slots.length) {
            slots = this.rehash(1, count);
            mask = slots.length - 1;
          }
          break;
        }
        if (keys[g] === v) {
          ids[i] = g;
          break;
        }
        h = (h + 1) & mask;
      }
    }
    return count;
  }

  private groupMany(words: Uint32Array, k: number, n: number, ids: Uint32Array): number {
    let slots = this.slots;
    let keys = this.keys;
    let mask = slots.length - 1;
    let count = 0;
    for (let i = 0; i < n; i++) {
      const row = i * k;
      let h = 0x811c9dc5;
      for (let j = 0; j < k; j++) h = Math.imul(h ^ words[row + j], 0x9e3779b1);
      h = mix(h) & mask;
      for (;;) {
        const g = slots[h];
        if (g === EMPTY_SLOT) {
          const at = count * k;
          if (at + k > keys.length) keys = this.keys = grown(keys, Math.max(keys.length * 2, at + k));
          for (let j = 0; j < k; j++) keys[at + j] = words[row + j];
          slots[h] = count;
          ids[i] = count++;
          if (count * 2 > slots.length) {
            slots = this.rehash(k, count);
            mask = slots.length - 1;
          }
          break;
        }
        const at = g * k;
        let j = 0;
        while (j < k && keys[at + j] === words[row + j]) j++;
        if (j === k) {
          ids[i] = g;
          break;
        }
        h = (h + 1) & mask;
      }
    }
    return count;
  }

  /** A slot table twice the size, every group placed again from its stored words. */
  private rehash(k: number, count: number): Int32Array {
    const slots = new Int32Array(this.slots.length * 2).fill(EMPTY_SLOT);
    const mask = slots.length - 1;
    const keys = this.keys;
    for (let g = 0; g < count; g++) {
      let h: number;
      if (k === 1) h = mix(Math.imul(keys[g], 0x9e3779b1));
      else {
        h = 0x811c9dc5;
        for (let j = 0; j < k; j++) h = Math.imul(h ^ keys[g * k + j], 0x9e3779b1);
        h = mix(h);
      }
      h &= mask;
      while (slots[h] !== EMPTY_SLOT) h = (h + 1) & mask;
      slots[h] = g;
    }
    this.slots = slots;
    return slots;
  }
}

function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  return h ^ (h >>> 13);
}

function grown(a: Uint32Array, size: number): Uint32Array {
  const b = new Uint32Array(size);
  b.set(a);
  return b;
}

/**
 * One part of a grouping key: per row a small integer below `width` that identifies its value
 * in the batch. Parts are packed into 32-bit words as the digits of a mixed-radix number while
 * the word's range stays within 2^32 (the nodes rollup's three parts and its bucket make one
 * word), so the table compares a few words a row instead of a word per part.
 */
export type Part =
  /** Dictionary indexes (or group ids) as they are. */
  | { readonly kind: 'indexes'; readonly indexes: Indexes | Uint32Array; readonly width: number }
  /** value - offset, for integral values within [offset, offset + width). */
  | { readonly kind: 'numbers'; readonly values: Float64Array; readonly offset: number; readonly width: number }
  /** One 32-bit word of value - offset (a range too wide for one word): the low one, or the high one. */
  | { readonly kind: 'word'; readonly values: Float64Array; readonly offset: number; readonly high: boolean; readonly width: number }
  /** CASE WHEN <side>PodName = '' THEN <side>IP ELSE '' END: 0 for a named Pod, else 1 + the IP's index. */
  | { readonly kind: 'endpoint'; readonly pods: Indexes | Uint32Array; readonly emptyPod: number; readonly ips: Indexes | Uint32Array; readonly width: number }
  /** The bucket of `tier` seconds of each end, counted from bucket `low`. */
  | { readonly kind: 'bucket'; readonly ends: Float64Array; readonly tier: number; readonly low: number; readonly width: number };

/** A range of integral values as parts: one when it fits a word, else its low and high words. */
function rangeParts(values: Float64Array, n: number): Part[] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (n === 0) return [];
  const span = hi - lo + 1;
  if (span <= WORD) return [{ kind: 'numbers', values, offset: lo, width: span }];
  return [
    { kind: 'word', values, offset: lo, high: false, width: WORD },
    { kind: 'word', values, offset: lo, high: true, width: Math.floor((hi - lo) / WORD) + 1 },
  ];
}

// The loops over every row live in small functions of their own: V8 optimizes a small function
// called with the same array types soon, and a loop inside one long function only by on-stack
// replacement (measured: the sums at about 14 ns a row inside rollupBatch). Each writes its
// digit into words[i * k + j]: as the word (scale 0) or added at `scale` (the product of the
// widths before it in the word).

function indexDigits(words: Uint32Array, k: number, j: number, scale: number, n: number, indexes: Indexes | Uint32Array): void {
  if (scale === 0) for (let i = 0; i < n; i++) words[i * k + j] = indexes[i];
  else for (let i = 0; i < n; i++) words[i * k + j] += indexes[i] * scale;
}

function numberDigits(words: Uint32Array, k: number, j: number, scale: number, n: number, values: Float64Array, offset: number): void {
  if (scale === 0) for (let i = 0; i < n; i++) words[i * k + j] = values[i] - offset;
  else for (let i = 0; i < n; i++) words[i * k + j] += (values[i] - offset) * scale;
}

function wordDigits(words: Uint32Array, k: number, j: number, scale: number, n: number, values: Float64Array, offset: number, high: boolean): void {
  for (let i = 0; i < n; i++) {
    const v = values[i] - offset;
    const h = Math.floor(v / WORD);
    const d = high ? h : v - h * WORD;
    if (scale === 0) words[i * k + j] = d;
    else words[i * k + j] += d * scale;
  }
}

function endpointDigits(words: Uint32Array, k: number, j: number, scale: number, n: number, pods: Indexes | Uint32Array, emptyPod: number, ips: Indexes | Uint32Array): void {
  for (let i = 0; i < n; i++) {
    const d = pods[i] === emptyPod ? 1 + ips[i] : 0;
    if (scale === 0) words[i * k + j] = d;
    else words[i * k + j] += d * scale;
  }
}

/** 1 + the largest endpoint digit (endpointDigits) of the rows. */
function endpointWidth(pods: Indexes | Uint32Array, emptyPod: number, ips: Indexes | Uint32Array, n: number): number {
  let max = 0;
  for (let i = 0; i < n; i++) if (pods[i] === emptyPod && ips[i] + 1 > max) max = ips[i] + 1;
  return max + 1;
}

function bucketDigits(words: Uint32Array, k: number, j: number, scale: number, n: number, ends: Float64Array, tier: number, low: number): void {
  for (let i = 0; i < n; i++) {
    const d = Math.floor(ends[i] / tier) - low;
    if (scale === 0) words[i * k + j] = d;
    else words[i * k + j] += d * scale;
  }
}

/**
 * Memory of one thread's rollup grouping, kept from one batch to the next: the grouping table,
 * the key words and the group ids. A batch of 245,760 rows used to allocate about 40 MB of arrays
 * for its key parts and ids (a sixth of the segment thread's time went to GC).
 */
export class RollupScratch {
  readonly table = new GroupTable();
  private words: Uint32Array = new Uint32Array(0);
  private readonly ids: Uint32Array[] = [];

  /** Space for n rows of k words (contents undefined). */
  wordsFor(n: number, k: number): Uint32Array {
    if (this.words.length < n * k) this.words = new Uint32Array(n * k);
    return this.words;
  }

  /** -1 per index (renumber's remap), kept so between calls. */
  private remap: Int32Array = new Int32Array(0);

  /** Renumbers indexes below `size` in order of first use (see renumber). */
  renumber(indexes: Uint32Array, size: number): Uint32Array {
    if (this.remap.length < size) this.remap = new Int32Array(Math.max(size, 2 * this.remap.length)).fill(-1);
    return renumber(indexes, this.remap);
  }

  /** n group ids in slot `slot` (contents undefined). */
  idsIn(slot: number, n: number): Uint32Array {
    let a = this.ids[slot];
    if (a === undefined || a.length < n) this.ids[slot] = a = new Uint32Array(n);
    return a.subarray(0, n);
  }

  /**
   * Dense group ids (in order of first appearance) of n rows by `parts`, written into ids slot
   * `slot`; valid until that slot is used again.
   */
  group(parts: readonly Part[], n: number, slot: number): { ids: Uint32Array; count: number } {
    // Plan: each part's word and scale; a new word when the product of widths would pass 2^32.
    const at: { word: number; scale: number }[] = [];
    let k = 0;
    let range = WORD;
    for (const p of parts) {
      if (p.width <= 1) {
        at.push({ word: -1, scale: 0 });
        continue;
      }
      if (range * p.width > WORD) {
        k++;
        range = 1;
      }
      at.push({ word: k - 1, scale: range === 1 ? 0 : range });
      range *= p.width;
    }
    const words = this.wordsFor(n, k);
    for (let p = 0; p < parts.length; p++) {
      const { word: j, scale } = at[p];
      if (j < 0) continue;
      const part = parts[p];
      switch (part.kind) {
        case 'indexes':
          indexDigits(words, k, j, scale, n, part.indexes);
          break;
        case 'numbers':
          numberDigits(words, k, j, scale, n, part.values, part.offset);
          break;
        case 'word':
          wordDigits(words, k, j, scale, n, part.values, part.offset, part.high);
          break;
        case 'endpoint':
          endpointDigits(words, k, j, scale, n, part.pods, part.emptyPod, part.ips);
          break;
        case 'bucket':
          bucketDigits(words, k, j, scale, n, part.ends, part.tier, part.low);
          break;
      }
    }
    const ids = this.idsIn(slot, n);
    return { ids, count: this.table.group(words, k, n, ids, k === 1 ? range : WORD) };
  }
}

/** out[ids[i]] += values[i] for every i. */
function addInto(out: Float64Array, ids: Uint32Array, values: Float64Array): void {
  const n = ids.length;
  for (let i = 0; i < n; i++) out[ids[i]] += values[i];
}

/** Per group: the number of rows and the first row. */
function countRows(ids: Uint32Array, first: Int32Array, flows: Float64Array): void {
  const n = ids.length;
  for (let i = 0; i < n; i++) {
    const g = ids[i];
    if (first[g] < 0) first[g] = i;
    flows[g]++;
  }
}

/** ends[rows[u]] for each u. */
function gatherEnds(ends: Float64Array, rows: Int32Array): Float64Array {
  const out = new Float64Array(rows.length);
  for (let u = 0; u < rows.length; u++) out[u] = ends[rows[u]];
  return out;
}

/** out[at + k]: the start of the `tier`-second bucket of each group's first row. */
function bucketStarts(out: Float64Array, at: number, ends: Float64Array, first: Int32Array, tier: number): void {
  for (let k = 0; k < first.length; k++) out[at + k] = Math.floor(ends[first[k]] / tier) * tier;
}

/** countRows and the four measures' sums in one pass over the rows. */
function sumRows(ids: Uint32Array, first: Int32Array, flows: Float64Array, sums: readonly Float64Array[], measures: readonly Float64Array[]): void {
  const [s0, s1, s2, s3] = sums;
  const [m0, m1, m2, m3] = measures;
  const n = ids.length;
  for (let i = 0; i < n; i++) {
    const g = ids[i];
    if (first[g] < 0) first[g] = i;
    flows[g]++;
    s0[g] += m0[i];
    s1[g] += m1[i];
    s2[g] += m2[i];
    s3[g] += m3[i];
  }
}

/** out[u] = values[rows[u]]. */
function gatherAt(values: Uint32Array, rows: Int32Array): Uint32Array {
  const out = new Uint32Array(rows.length);
  for (let u = 0; u < rows.length; u++) out[u] = values[rows[u]];
  return out;
}

interface GrainGroups {
  grain: number;
  tier: number;
  count: number;
  /** Per group: its first row. */
  first: Int32Array;
  sums: Float64Array[];
  flows: Float64Array;
}

const defaultScratch = new RollupScratch();

/** The rollup rows (columns of DUCKDB_ROLLUP_COLUMNS) of an encoded flows batch. */
export function rollupBatch(batch: EncodedBatch, scratch: RollupScratch = defaultScratch): EncodedBatch {
  const n = batch.rows;
  const column = (name: string) => batch.columns[COLUMN_NAMES.indexOf(name as (typeof COLUMN_NAMES)[number])];
  const numbers = (name: string) => (column(name) as { values: Float64Array }).values;
  const ends = numbers('flowEndSeconds');
  const measures = ROLLUP_MEASURES.map(numbers);
  const codes = new Map<string, Codes>();
  const codesFor = (name: string) => {
    let c = codes.get(name);
    if (!c) codes.set(name, (c = codesOf(column(name))));
    return c;
  };
  let minEnd = Infinity;
  let maxEnd = -Infinity;
  for (let i = 0; i < n; i++) {
    const e = ends[i];
    if (e < minEnd) minEnd = e;
    if (e > maxEnd) maxEnd = e;
  }
  /** A key column as parts: dictionary indexes as they are, a u8 as its value, an i64 by its range. */
  const partsOf = (keyName: string): Part[] => {
    const key = ALL_KEYS.find((k) => k.name === keyName)!;
    // Numbers by the range they take in the batch (a u8 key such as a rule action takes 2 or 3 of
    // its 256 values): narrow parts keep the key to fewer words, or one with a small range.
    if (key.kind === 'u8' || key.kind === 'i64') return rangeParts(numbers(keyName), n);
    if (key.expr === key.name) {
      const c = codesFor(keyName);
      return [{ kind: 'indexes', indexes: c.indexes, width: c.dictionary.length }];
    }
    const side = keyName.startsWith('source') ? 'source' : 'destination';
    const pods = codesFor(`${side}PodName`);
    const ips = codesFor(`${side}IP`);
    const emptyPod = pods.dictionary.indexOf('');
    // The width the batch's digits need: 1 (no part) when every row names its Pod.
    return [{ kind: 'endpoint', pods: pods.indexes, emptyPod, ips: ips.indexes, width: emptyPod < 0 ? 1 : endpointWidth(pods.indexes, emptyPod, ips.indexes, n) }];
  };

  const grains: GrainGroups[] = [];
  const perSpec: GrainGroups[] = [];
  for (const spec of ROLLUPS) {
    // The key without time, as dense ids (ids slot 0); then the ids and the bucket, per tier.
    const key = scratch.group(spec.keys.flatMap((k) => partsOf(k.name)), n, 0);
    // The finest tier is grouped from the rows; each coarser tier from the groups of the tier
    // below it (its buckets nest: each tier divides the one before), so the rows are read once.
    const tiers = [...spec.tiers].sort((a, b) => a - b);
    let below: GrainGroups | null = null;
    for (const tier of tiers) {
      const low = Math.floor(minEnd / tier);
      const width = Math.floor(maxEnd / tier) - low + 1;
      if (width > WORD) throw new Error(`rollup buckets of ${tier} s span more than 2^32`);
      // Rows, or the finer tier's groups (each as its first row), as the units being grouped.
      const units = below === null ? n : below.count;
      const unitKeys: Uint32Array = below === null ? key.ids : gatherAt(key.ids, below.first);
      const unitEnds = below === null ? ends : gatherEnds(ends, below.first);
      // Every unit in one bucket (a batch of a few seconds, tiers of minutes): the groups are
      // the keys, numbered as they are (each key's first unit is its first row's).
      const group: { ids: Uint32Array; count: number } =
        width === 1
          ? { ids: unitKeys, count: key.count }
          : scratch.group(
              [
                { kind: 'indexes', indexes: unitKeys, width: key.count },
                { kind: 'bucket', ends: unitEnds, tier, low, width },
              ],
              units,
              1,
            );
      const first = new Int32Array(group.count).fill(-1);
      const sums = measures.map(() => new Float64Array(group.count));
      const flows = new Float64Array(group.count);
      const ids = group.ids;
      if (below === null && measures.length === 4) sumRows(ids, first, flows, sums, measures);
      else if (below === null) {
        countRows(ids, first, flows);
        for (let m = 0; m < measures.length; m++) addInto(sums[m], ids, measures[m]);
      } else {
        const fine = below;
        for (let u = 0; u < units; u++) {
          const g = ids[u];
          // Fine groups are numbered in order of their first row: the first one seen is the earliest.
          if (first[g] < 0) first[g] = fine.first[u];
          flows[g] += fine.flows[u];
        }
        for (let m = 0; m < measures.length; m++) addInto(sums[m], ids, fine.sums[m]);
      }
      below = { grain: GRAINS.find((x) => x.spec === spec && x.tier === tier)!.grain, tier, count: group.count, first, sums, flows };
      perSpec.push(below);
    }
    // Output in the spec's tier order (largest first), as before.
    perSpec.sort((a, b) => b.tier - a.tier);
    grains.push(...perSpec);
    perSpec.length = 0;
  }

  // Columns: grain, bucket, every key (the group's first row's value; '' / 0 when the grain has
  // no such key), the sums, flows. Each output row is a group, named by its first row.
  const rows = grains.reduce((t, g) => t + g.count, 0);
  const firstRows = new Int32Array(rows);
  const grainValues = new Float64Array(rows);
  const buckets = new Float64Array(rows);
  const flowValues = new Float64Array(rows);
  const sumValues = ROLLUP_MEASURES.map(() => new Float64Array(rows));
  /** Per grain in output order: its first output row. */
  const starts: number[] = [];
  let at = 0;
  for (const g of grains) {
    starts.push(at);
    firstRows.set(g.first, at);
    grainValues.fill(g.grain, at, at + g.count);
    bucketStarts(buckets, at, ends, g.first, g.tier);
    flowValues.set(g.flows, at);
    for (let m = 0; m < sumValues.length; m++) sumValues[m].set(g.sums[m], at);
    at += g.count;
  }
  const columns: EncodedColumn[] = [];
  columns.push({ kind: 'number', values: grainValues });
  columns.push({ kind: 'number', values: buckets });
  for (const key of ALL_KEYS) {
    const has = grains.map((g) => GRAINS[g.grain].spec.keys.some((k) => k.name === key.name));
    if (key.kind !== 'string') {
      // Grains without the key: 0 for a u8, -1 for an i64 (rollups.ts NO_KEY).
      const v = numbers(key.name);
      const values = new Float64Array(rows).fill(key.kind === 'i64' ? -1 : 0);
      for (let j = 0; j < grains.length; j++) if (has[j]) gatherNumbers(values, v, firstRows, starts[j], starts[j] + grains[j].count);
      columns.push({ kind: 'number', values });
      continue;
    }
    // The source column's dictionary (endpoint IPs: the IP column, which has the key's name),
    // with '' for rows without this key.
    // Rows without this key take `none`, one past the dictionary. (The dictionary's own '' is
    // not looked for up front: an address column's dictionary holds every address of the batch,
    // and indexOf('') touched each of its strings, one cache miss each.)
    const src = codesFor(key.name);
    const none = src.dictionary.length;
    const pods = key.expr === key.name ? null : codesFor(`${key.name.startsWith('source') ? 'source' : 'destination'}PodName`);
    const emptyPod = pods ? pods.dictionary.indexOf('') : -1;
    const indexes = new Uint32Array(rows).fill(none);
    for (let j = 0; j < grains.length; j++) {
      if (!has[j]) continue;
      if (pods) gatherEndpoints(indexes, src.indexes, pods.indexes, emptyPod, none, firstRows, starts[j], starts[j] + grains[j].count);
      else gatherIndexes(indexes, src.indexes, firstRows, starts[j], starts[j] + grains[j].count);
    }
    // Only the values the rollup rows use go into their ENUM (creating one costs about 1 µs a
    // member; the address columns' dictionaries hold every address of the batch). An ENUM's
    // members must be distinct: rows without the key and rows whose value is '' share one ''.
    const usedIndexes = scratch.renumber(indexes, none + 1);
    let sentinelAt = -1;
    let blankAt = -1;
    for (let u = 0; u < usedIndexes.length; u++) {
      if (usedIndexes[u] === none) sentinelAt = u;
      else if (src.dictionary[usedIndexes[u]] === '') blankAt = u;
    }
    let used = Array.from(usedIndexes, (k) => (k === none ? '' : src.dictionary[k]));
    if (sentinelAt >= 0 && blankAt >= 0) {
      const keep = Math.min(sentinelAt, blankAt);
      const drop = Math.max(sentinelAt, blankAt);
      mergeInto(indexes, keep, drop);
      used = [...used.slice(0, drop), ...used.slice(drop + 1)];
    }
    columns.push({ kind: 'dictionary', dictionary: used, indexes: narrow(indexes, used.length) });
  }
  for (const sums of sumValues) columns.push({ kind: 'number', values: sums });
  columns.push({ kind: 'number', values: flowValues });
  return { rows, columns };
}

/** out[r] = values[firstRows[r]] for r in [from, to). */
function gatherNumbers(out: Float64Array, values: Float64Array, firstRows: Int32Array, from: number, to: number): void {
  for (let r = from; r < to; r++) out[r] = values[firstRows[r]];
}

function gatherIndexes(out: Uint32Array, indexes: Indexes | Uint32Array, firstRows: Int32Array, from: number, to: number): void {
  for (let r = from; r < to; r++) out[r] = indexes[firstRows[r]];
}

/** An endpoint's IP key: the IP of a row without a Pod, `none` for a named Pod. */
function gatherEndpoints(out: Uint32Array, ips: Indexes | Uint32Array, pods: Indexes | Uint32Array, emptyPod: number, none: number, firstRows: Int32Array, from: number, to: number): void {
  for (let r = from; r < to; r++) {
    const row = firstRows[r];
    out[r] = pods[row] === emptyPod ? ips[row] : none;
  }
}

/** Renumbers indexes in order of first use (remap: -1 for each index not seen yet, and again on return); returns the old index of each new one. */
function renumber(indexes: Uint32Array, remap: Int32Array): Uint32Array {
  const used: number[] = [];
  for (let i = 0; i < indexes.length; i++) {
    const old = indexes[i];
    let k = remap[old];
    if (k < 0) {
      k = remap[old] = used.length;
      used.push(old);
    }
    indexes[i] = k;
  }
  for (const old of used) remap[old] = -1;
  return Uint32Array.from(used);
}

/** Index `drop` becomes `keep` (< drop), and every index above `drop` one less. */
function mergeInto(indexes: Uint32Array, keep: number, drop: number): void {
  for (let i = 0; i < indexes.length; i++) {
    const k = indexes[i];
    if (k === drop) indexes[i] = keep;
    else if (k > drop) indexes[i] = k - 1;
  }
}
