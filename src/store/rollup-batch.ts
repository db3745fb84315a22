// The embedded store's rollup rows of one batch, grouped in JS from the encoded batch
// (columnar.ts) and written with it: the same rows as duckdbRollupInsert(batch) computes in SQL
// (rollups.ts), at a fraction of the cost. String keys are grouped by their dictionary indexes
// (small integers), never by their text: key parts are folded into dense group ids one column at
// a time (fold), sums go into typed arrays by group id, and each group remembers its first row,
// whose values name it.
//
// On the store bench's 50,000-row batches, the SQL GROUP BY per grain over the staged batch
// cost about 18 µs of CPU a row, three times the insert of the rows themselves.
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

/**
 * Numbers distinct keys (doubles below 2^53) in order of first appearance, through an
 * open-addressing table of typed arrays (a Map costs several times more per lookup, and allocates
 * for keys beyond 2^31). Numbers only: no key strings, no per-group objects. The table grows with
 * the groups found, not with the rows: sized for the rows, its 12 bytes a slot (6 MB for 150,000
 * rows) missed the CPU caches on nearly every probe.
 */
function foldKeys(combinedKeys: Float64Array): { ids: Uint32Array; count: number } {
  const n = combinedKeys.length;
  let capacity = 1024;
  let mask = capacity - 1;
  let keys = new Float64Array(capacity);
  let slots = new Int32Array(capacity).fill(-1);
  const out = new Uint32Array(n);
  let count = 0;
  for (let i = 0; i < n; i++) {
    const combined = combinedKeys[i];
    let h = slotOf(combined, mask);
    for (;;) {
      const slot = slots[h];
      if (slot < 0) {
        slots[h] = count;
        keys[h] = combined;
        out[i] = count++;
        if (count * 2 > capacity) {
          // Grow: rehash every key into a table twice the size.
          const oldKeys = keys;
          const oldSlots = slots;
          capacity *= 2;
          mask = capacity - 1;
          keys = new Float64Array(capacity);
          slots = new Int32Array(capacity).fill(-1);
          for (let j = 0; j < oldSlots.length; j++) {
            if (oldSlots[j] < 0) continue;
            let g = slotOf(oldKeys[j], mask);
            while (slots[g] >= 0) g = (g + 1) & mask;
            slots[g] = oldSlots[j];
            keys[g] = oldKeys[j];
          }
        }
        break;
      }
      if (keys[h] === combined) {
        out[i] = slot;
        break;
      }
      h = (h + 1) & mask;
    }
  }
  return { ids: out, count };
}

/** acc[i] = acc[i] * width + part[i]: one more digit of a mixed-radix key. */
function appendDigit(acc: Float64Array, part: Int32Array, width: number): void {
  const n = acc.length;
  for (let i = 0; i < n; i++) acc[i] = acc[i] * width + part[i];
}

const EXACT = 2 ** 53;

/**
 * Dense group ids of rows by several key parts (each a small integer per row below its width).
 * Parts are combined as the digits of one mixed-radix number while their widths' product stays
 * exact in a double, and numbered only then: one table pass for several parts (the Pod rollup's
 * eight parts take two), where numbering after each part took one pass per part.
 */
export function groupRows(parts: readonly { part: Int32Array; width: number }[], n: number, start: Uint32Array | null = null, startWidth = 1): { ids: Uint32Array; count: number } {
  if (parts.length === 0 && start === null) return { ids: new Uint32Array(n), count: 1 };
  const acc = start === null ? new Float64Array(n) : Float64Array.from(start);
  let accWidth = startWidth;
  for (const { part, width } of parts) {
    if (accWidth * width > EXACT) {
      const g = foldKeys(acc);
      acc.set(g.ids);
      accWidth = g.count;
    }
    appendDigit(acc, part, width);
    accWidth *= width;
  }
  return foldKeys(acc);
}

/** A table slot for a key below 2^53: its low and high 32 bits mixed. */
function slotOf(combined: number, mask: number): number {
  const h = Math.imul((combined | 0) ^ Math.floor(combined / 4294967296), 0x9e3779b1);
  return (h ^ (h >>> 15)) & mask;
}

// The loops over every row live in small functions of their own: V8 optimizes a small function
// called with the same array types soon, and a loop inside one long function only by on-stack
// replacement (measured: the sums at about 14 ns a row inside rollupBatch).

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

/** Each end's bucket of `tier` seconds, numbered from the earliest bucket, and the number of buckets. */
function bucketsOf(ends: Float64Array, n: number, tier: number): { part: Int32Array; width: number } {
  let low = Infinity;
  let high = -Infinity;
  for (let i = 0; i < n; i++) {
    const b = Math.floor(ends[i] / tier);
    if (b < low) low = b;
    if (b > high) high = b;
  }
  const part = new Int32Array(n);
  for (let i = 0; i < n; i++) part[i] = Math.floor(ends[i] / tier) - low;
  return { part, width: high - low + 1 };
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

/** The rollup rows (columns of DUCKDB_ROLLUP_COLUMNS) of an encoded flows batch. */
export function rollupBatch(batch: EncodedBatch): EncodedBatch {
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
  /** Per key column: a small non-negative integer per row that identifies its value in the batch, and the width of that range. */
  const partOf = (keyName: string): { part: Int32Array; width: number } => {
    const key = ALL_KEYS.find((k) => k.name === keyName)!;
    const part = new Int32Array(n);
    if (key.kind === 'u8') {
      const v = numbers(keyName);
      for (let i = 0; i < n; i++) part[i] = v[i];
      return { part, width: 256 };
    }
    if (key.kind === 'i64') {
      // Few distinct values (the address networks): numbered in order of appearance.
      const v = numbers(keyName);
      const ids = new Map<number, number>();
      for (let i = 0; i < n; i++) {
        let id = ids.get(v[i]);
        if (id === undefined) ids.set(v[i], (id = ids.size));
        part[i] = id;
      }
      return { part, width: ids.size };
    }
    if (key.expr === key.name) {
      const c = codesFor(keyName);
      for (let i = 0; i < n; i++) part[i] = c.indexes[i];
      return { part, width: c.dictionary.length };
    }
    // CASE WHEN <side>PodName = '' THEN <side>IP ELSE '' END: 0 for a named Pod, else 1 + the IP's index.
    const side = keyName.startsWith('source') ? 'source' : 'destination';
    const pods = codesFor(`${side}PodName`);
    const emptyPod = pods.dictionary.indexOf('');
    const ips = codesFor(`${side}IP`);
    for (let i = 0; i < n; i++) part[i] = pods.indexes[i] === emptyPod ? 1 + ips.indexes[i] : 0;
    return { part, width: ips.dictionary.length + 1 };
  };

  const grains: GrainGroups[] = [];
  const perSpec: GrainGroups[] = [];
  for (const spec of ROLLUPS) {
    // The key without time, as dense ids; then the ids and the bucket, per tier.
    const key = groupRows(spec.keys.map((k) => partOf(k.name)), n);
    // The finest tier is grouped from the rows; each coarser tier from the groups of the tier
    // below it (its buckets nest: each tier divides the one before), so the rows are read once.
    const tiers = [...spec.tiers].sort((a, b) => a - b);
    let below: GrainGroups | null = null;
    for (const tier of tiers) {
      // Rows, or the finer tier's groups, as the units being grouped.
      const units = below === null ? n : below.count;
      const unitEnd = below === null ? ends : Float64Array.from(below.first, (row) => ends[row]);
      const { part: bucketPart, width } = bucketsOf(unitEnd, units, tier);
      const k = key.ids;
      const unitKeys = below === null ? k : Uint32Array.from(below.first, (row) => k[row]);
      const group = groupRows([{ part: bucketPart, width }], units, unitKeys, key.count);
      const first = new Int32Array(group.count).fill(-1);
      const sums = measures.map(() => new Float64Array(group.count));
      const flows = new Float64Array(group.count);
      const ids = group.ids;
      if (below === null) {
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
  // no such key), the sums, flows.
  const rows = grains.reduce((t, g) => t + g.count, 0);
  const fill = (value: (g: GrainGroups, k: number) => number): EncodedColumn => {
    const values = new Float64Array(rows);
    let r = 0;
    for (const g of grains) for (let k = 0; k < g.count; k++) values[r++] = value(g, k);
    return { kind: 'number', values };
  };
  const columns: EncodedColumn[] = [];
  columns.push(fill((g) => g.grain));
  columns.push(fill((g, k) => Math.floor(ends[g.first[k]] / g.tier) * g.tier));
  for (const key of ALL_KEYS) {
    const has = new Set(GRAINS.filter((g) => g.spec.keys.some((k) => k.name === key.name)).map((g) => g.grain));
    if (key.kind !== 'string') {
      // Grains without the key: 0 for a u8, -1 for an i64 (rollups.ts NO_KEY).
      const v = numbers(key.name);
      const none = key.kind === 'i64' ? -1 : 0;
      columns.push(fill((g, k) => (has.has(g.grain) ? v[g.first[k]] : none)));
      continue;
    }
    // The source column's dictionary (endpoint IPs: the IP column, which has the key's name),
    // with '' for rows without this key.
    const src = codesFor(key.name);
    const blank = src.dictionary.indexOf('');
    // An ENUM's members must be distinct: reuse the dictionary's '' when it has one.
    const dictionary = blank >= 0 ? src.dictionary : [...src.dictionary, ''];
    const none = blank >= 0 ? blank : src.dictionary.length;
    const pods = key.expr === key.name ? null : codesFor(`${key.name.startsWith('source') ? 'source' : 'destination'}PodName`);
    const emptyPod = pods ? pods.dictionary.indexOf('') : -1;
    const indexes = new Uint32Array(rows);
    let r = 0;
    for (const g of grains) {
      const own = has.has(g.grain);
      for (let k = 0; k < g.count; k++) {
        const row = g.first[k];
        if (!own || (pods && pods.indexes[row] !== emptyPod)) indexes[r++] = none;
        else indexes[r++] = src.indexes[row];
      }
    }
    // Only the values the rollup rows use go into their ENUM (creating one costs about 1 µs a
    // member; the address columns' dictionaries hold every address of the batch).
    const remap = new Int32Array(dictionary.length).fill(-1);
    const used: string[] = [];
    for (let i = 0; i < rows; i++) {
      let k = remap[indexes[i]];
      if (k < 0) {
        k = remap[indexes[i]] = used.length;
        used.push(dictionary[indexes[i]]);
      }
      indexes[i] = k;
    }
    columns.push({ kind: 'dictionary', dictionary: used, indexes: narrow(indexes, used.length) });
  }
  for (let m = 0; m < ROLLUP_MEASURES.length; m++) columns.push(fill((g, k) => g.sums[m][k]));
  columns.push(fill((g, k) => g.flows[k]));
  return { rows, columns };
}
