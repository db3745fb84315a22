// The Parquet writer (src/store/parquet/writer.ts), checked by the reader that matters: DuckDB.
// Every file written here is read back with read_parquet: types, values, UTF-8, IPv6, 0 rows,
// dictionaries of every bit width up to 17, runs, constant columns, out-of-range values.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { completeBatch, encodeBatch, encodeRows, plainImageOf } from '../../../src/store/columnar.js';
import { dictionaryIndexes, parquetFile, WriteArena, type ParquetColumn } from '../../../src/store/parquet/writer.js';
import { ipKey } from '../../../src/store/ip-key.js';
import { COLUMNS } from '../../../src/store/schema.js';
import { flow, T0 } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'flowvis-parquet-'));
let instance: DuckDBInstance;
let db: DuckDBConnection;
let files = 0;

before(async () => {
  instance = await DuckDBInstance.create(':memory:');
  db = await instance.connect();
});
after(() => {
  db.closeSync();
  instance.closeSync();
  rmSync(dir, { recursive: true, force: true });
});

function write(rows: number, columns: readonly ParquetColumn[]): string {
  const path = join(dir, `f${files++}.parquet`);
  writeFileSync(path, Buffer.concat(parquetFile(rows, columns)));
  return path;
}

async function rows(sql: string): Promise<unknown[][]> {
  return (await db.runAndReadAll(sql)).getRows();
}

const numbers = (values: number[]) => ({ kind: 'number', values: Float64Array.from(values) }) as const;
const strings = (values: string[]) => {
  const ids = new Map<string, number>();
  for (const v of values) if (!ids.has(v)) ids.set(v, ids.size);
  return { kind: 'dictionary', dictionary: [...ids.keys()], indexes: Uint32Array.from(values, (v) => ids.get(v)!) } as const;
};

describe('Parquet writer', () => {
  it('writes every kind with the DuckDB type of the flows table and reads back every value', async () => {
    const path = write(3, [
      { name: 't', kind: 'time', data: numbers([T0, T0 + 1, 0]) },
      { name: 'a', kind: 'u8', data: numbers([0, 255, 7]) },
      { name: 'b', kind: 'u16', data: numbers([0, 65535, 443]) },
      { name: 'c', kind: 'u32', data: numbers([0, 4294967295, 1]) },
      { name: 'd', kind: 'u64', data: numbers([0, Number.MAX_SAFE_INTEGER, 2 ** 32 + 5]) },
      { name: 'e', kind: 'i64', data: numbers([-1, 16777216 + 2 ** 47, -(2 ** 40)]) },
      { name: 's', kind: 'string', data: strings(['', 'fd00:10:244::1', 'päd-ü-日本-🙂']) },
    ]);
    const types = await rows(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet('${path}'))`);
    assert.deepEqual(types, [
      ['t', 'BIGINT'],
      ['a', 'UTINYINT'],
      ['b', 'USMALLINT'],
      ['c', 'UINTEGER'],
      ['d', 'UBIGINT'],
      ['e', 'BIGINT'],
      ['s', 'VARCHAR'],
    ]);
    const got = await rows(`SELECT * FROM read_parquet('${path}')`);
    assert.deepEqual(got, [
      [BigInt(T0), 0, 0, 0, 0n, -1n, ''],
      [BigInt(T0 + 1), 255, 65535, 4294967295, BigInt(Number.MAX_SAFE_INTEGER), BigInt(16777216 + 2 ** 47), 'fd00:10:244::1'],
      [0n, 7, 443, 1, BigInt(2 ** 32 + 5), BigInt(-(2 ** 40)), 'päd-ü-日本-🙂'],
    ]);
  });

  it('writes a file of 0 rows that DuckDB reads as empty, with its columns', async () => {
    const path = write(0, [
      { name: 't', kind: 'time', data: numbers([]) },
      { name: 's', kind: 'string', data: strings([]) },
    ]);
    assert.deepEqual(await rows(`SELECT count(*) FROM read_parquet('${path}')`), [[0n]]);
    assert.deepEqual(await rows(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet('${path}'))`), [
      ['t', 'BIGINT'],
      ['s', 'VARCHAR'],
    ]);
  });

  it('rounds fractional numbers half away from zero, as the table cast does', async () => {
    const path = write(4, [{ name: 't', kind: 'time', data: numbers([1.5, 2.4, -1.5, 7]) }]);
    assert.deepEqual(await rows(`SELECT t FROM read_parquet('${path}')`), [[2n], [2n], [-2n], [7n]]);
    const [[cast]] = await rows('SELECT CAST(CAST(1.5 AS DOUBLE) AS BIGINT)');
    assert.equal(cast, 2n);
  });

  it('stores a value outside its column type clamped into the type (NaN as 0), as the ClickHouse writer does, instead of failing the batch', async () => {
    // A failed batch would be retried by the store sink forever, wedging the store behind it.
    const cases = [
      ['u8', [1, 256, 300, -4], [1, 255, 255, 0]],
      ['u16', [80, -1, 70000, Number.NaN], [80, 0, 65535, 0]],
      ['u32', [7, 2 ** 32, 2 ** 40, 3], [7, 2 ** 32 - 1, 2 ** 32 - 1, 3]],
      ['u64', [5, Number.NaN, 2 ** 60, -1], [5, 0, Number.MAX_SAFE_INTEGER, 0]],
      ['i64', [-(2 ** 60), 2 ** 60, Number.NaN, -3], [-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 0, -3]],
    ] as const;
    for (const [kind, given, stored] of cases) {
      const path = write(4, [{ name: 'x', kind, data: numbers([...given]) }]);
      const back = (await rows(`SELECT CAST(x AS DOUBLE) FROM read_parquet('${path}')`)).map(([v]) => v);
      assert.deepEqual(back, stored, kind);
      const [[min, max]] = await rows(`SELECT CAST(min(x) AS DOUBLE), CAST(max(x) AS DOUBLE) FROM read_parquet('${path}')`);
      assert.deepEqual([min, max], [Math.min(...stored), Math.max(...stored)], `${kind} statistics`);
    }
  });

  it('builds files in reused page memory (WriteArena) byte for byte as in fresh memory, across growth', async () => {
    const arena = new WriteArena();
    const fileOf = (n: number, seed: number): ParquetColumn[] => [
      { name: 't', kind: 'time', data: numbers(Array.from({ length: n }, (_, i) => T0 + ((i * seed) % 977))) },
      { name: 'c', kind: 'u64', data: numbers(Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 2 ** 40 + i : i * seed))) },
      { name: 'z', kind: 'u16', data: numbers(new Array(n).fill(7)) },
      { name: 's', kind: 'string', data: strings(Array.from({ length: n }, (_, i) => (i % 5 === 0 ? `pöd-${i % 300}` : `10.0.${i % 256}.${(i * seed) % 256}`))) },
    ];
    // Small, then large (the arena's block is outgrown in the middle of the file), then small again.
    for (const [n, seed] of [[10, 3], [200_000, 7], [5000, 11]]) {
      const columns = fileOf(n, seed);
      const reused = Buffer.concat(parquetFile(n, columns, 'flowvis', arena));
      assert.ok(reused.equals(Buffer.concat(parquetFile(n, columns))), `file of ${n} rows`);
    }
    const last = fileOf(5000, 11);
    const path = join(dir, `f${files++}.parquet`);
    writeFileSync(path, Buffer.concat(parquetFile(5000, last, 'flowvis', arena)));
    const distinct = BigInt((last[3].data as { dictionary: readonly string[] }).dictionary.length);
    assert.deepEqual(await rows(`SELECT count(*), count(DISTINCT s), min(z), max(z), count(*) FILTER (s LIKE 'pöd-%') FROM read_parquet('${path}')`), [[5000n, distinct, 7, 7, 1000n]]);
  });

  it('writes an address dictionary from its PLAIN image as from its strings, and DuckDB reads every address and key back', async () => {
    const records = Array.from({ length: 12_000 }, (_, i) =>
      flow({ sourceAddress: i % 999 === 0 ? 'fd00::7' : i % 1001 === 0 ? '' : `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, destinationAddress: `10.9.${i % 30}.1` }),
    );
    const batch = completeBatch(encodeRows(records, T0), COLUMNS, { dictionariesOnly: true, wideIndexes: true, repeatedValues: true });
    const names = ['sourceIP', 'sourceIPKey', 'destinationIP', 'destinationIPKey'];
    const columns = names.map((name): ParquetColumn => ({ name, kind: 'string', data: batch.columns[COLUMNS.findIndex((c) => c.name === name)] }));
    // The same dictionaries copied: arrays without an image, written string by string.
    const copies = columns.map((c): ParquetColumn => {
      assert.ok(c.data.kind !== 'number' && plainImageOf(c.data.dictionary) !== undefined, `${c.name} has an image`);
      return { ...c, data: { ...c.data, dictionary: [...c.data.dictionary] } };
    });
    assert.ok(Buffer.concat(parquetFile(records.length, columns)).equals(Buffer.concat(parquetFile(records.length, copies))));
    const path = write(records.length, columns);
    const back = await rows(`SELECT sourceIP, sourceIPKey, destinationIP, destinationIPKey FROM read_parquet('${path}')`);
    assert.equal(back.length, records.length);
    back.forEach((row, i) => {
      const r = records[i];
      assert.deepEqual(row, [r.sourceAddress, ipKey(r.sourceAddress), r.destinationAddress, ipKey(r.destinationAddress)], `row ${i}`);
    });
  });

  it('reads back dictionaries of every bit width (runs and bit-packed groups mixed)', async () => {
    for (const size of [1, 2, 3, 255, 256, 257, 4096, 70_000]) {
      // Runs of 20 equal values (RLE runs) between stretches of changing values (bit-packed), 
      // lengths that are not multiples of 8.
      const n = Math.max(size * 2, 1000) + 5;
      const values: string[] = [];
      for (let i = 0; i < n; i++) values.push(`v${Math.floor(i / 40) % 2 === 0 ? i % size : Math.floor(i / 20) % size}`);
      const path = write(n, [
        { name: 'i', kind: 'u32', data: numbers(values.map((_, i) => i)) },
        { name: 's', kind: 'string', data: strings(values) },
      ]);
      const got = await rows(`SELECT s FROM read_parquet('${path}') ORDER BY i`);
      assert.deepEqual(
        got.map((r) => r[0]),
        values,
        `dictionary of ${size}`,
      );
    }
  });

  it('packs a run of one index as one RLE run and other stretches bit-packed', () => {
    const constant = dictionaryIndexes(new Uint32Array(1000), 1000, 1);
    // bit width 1, varint(1000 << 1) = 2 bytes, the value in 1 byte
    assert.deepEqual([...constant], [1, 0xd0, 0x0f, 0]);
    const mixed = dictionaryIndexes(Uint32Array.from([1, 0, 1, 0, 1, 0, 1, 0, 3]), 9, 4);
    // bit width 2; one bit-packed run of 2 groups (header 2 << 1 | 1 = 5), 16 values (the last
    // 7 padding) in 4 bytes, LSB first: 1,0,1,0 -> 0b00010001
    assert.deepEqual([...mixed], [2, 5, 0b00010001, 0b00010001, 3, 0]);
  });

  it('writes a constant number column as one dictionary entry, read back in every row', async () => {
    const path = write(5000, [{ name: 'z', kind: 'u64', data: numbers(new Array(5000).fill(2 ** 40)) }]);
    assert.deepEqual(await rows(`SELECT count(*), min(z), max(z) FROM read_parquet('${path}')`), [[5000n, BigInt(2 ** 40), BigInt(2 ** 40)]]);
  });

  it('gives DuckDB min/max statistics of the time columns, so a time range skips the file', async () => {
    const path = write(3, [{ name: 'flowEndSeconds', kind: 'time', data: numbers([T0 + 5, T0, T0 + 9]) }]);
    const [[min, max]] = await rows(`SELECT stats_min_value, stats_max_value FROM parquet_metadata('${path}')`);
    assert.equal(String(min), String(T0));
    assert.equal(String(max), String(T0 + 9));
  });

  it('writes the flows columns so that every field reads back as the table path stores it', async () => {
    const records = [
      flow({ sourcePodName: 'web-ü', sourcePodNamespace: 'prod', octetDeltaCount: 2 ** 40, flowEndSeconds: T0 + 3 }),
      flow({ sourceAddress: 'fd00:10:244:1::5', destinationAddress: 'fd00:10:244:2::7', ipVersion: 6, flowType: 2, tcpState: 'TIME_WAIT' }),
      flow({ sourceAddress: '', destinationAddress: '', originalExporterAddress: '192.0.2.1', originalObservationDomainId: 4294967295 }),
    ];
    const batch = encodeBatch(records, T0 + 60, COLUMNS, { dictionariesOnly: true, wideIndexes: true });
    const path = write(records.length, COLUMNS.map((c, i) => ({ name: c.name, kind: c.kind, data: batch.columns[i] })));
    // What each column's reader gives for the record (the table path stores the same; segments.test.ts compares the two stores).
    const got = await rows(`SELECT * FROM read_parquet('${path}')`);
    const expected = records.map((r) => COLUMNS.map((c) => c.value(r, T0 + 60)));
    assert.deepEqual(
      got.map((row) => row.map((v) => (typeof v === 'bigint' ? Number(v) : v))),
      expected,
    );
  });
});
