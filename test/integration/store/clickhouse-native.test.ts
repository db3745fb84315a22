// The repository's Native bodies against a real ClickHouse server: a body we write, inserted
// into a Memory table of the same columns, comes back from `SELECT ... FORMAT Native` byte for
// byte (the server's own writer: same header, type names, widths, string prefixes, row order).
// Both bodies: a batch's flows and its rollup rows (schema 6's rollup_input columns).
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import type { AggregatedFlowRecord } from '../../../src/flow/record.js';
import { flowsBody, rollupBody, ROLLUP_INPUT_NATIVE } from '../../../src/store/clickhouse-native.js';
import { completeBatch, encodeRows, EncodeScratch } from '../../../src/store/columnar.js';
import { NATIVE_TYPES, type NativeColumn } from '../../../src/store/native.js';
import { OrderScratch } from '../../../src/store/native-order.js';
import { ALL_KEYS } from '../../../src/store/rollups.js';
import { RollupScratch } from '../../../src/store/rollup-batch.js';
import { COLUMNS } from '../../../src/store/schema.js';
import { flow, T0 } from '../../unit/store/fixtures.js';
import { rollupRecords, H0 } from '../../unit/store/rollup-contract.js';
import { CLICKHOUSE_URL, clickhouseSkipReason } from './clickhouse-env.js';

const skip = await clickhouseSkipReason();
const database = `flowvis_test_native_${process.pid}_${Date.now() % 1_000_000}`;
let client: ClickHouseClient;

before(async () => {
  if (skip) return;
  client = createClient({ url: CLICKHOUSE_URL });
  await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${database}` });
});

after(async () => {
  if (skip) return;
  await client.command({ query: `DROP DATABASE IF EXISTS ${database}` });
  await client.close();
});

/** Inserts a body into a fresh Memory table of `columns`, then reads the table back as Native (in `orderBy` order when given). */
async function roundTrip(table: string, columns: readonly NativeColumn[], body: Buffer, orderBy?: string): Promise<Buffer> {
  const t = `${database}.${table}`;
  await client.command({ query: `CREATE TABLE ${t} (${columns.map((c) => `${c.name} ${NATIVE_TYPES[c.kind]}`).join(', ')}) ENGINE = Memory` });
  const names = columns.map((c) => c.name).join(', ');
  const insert = await client.exec({ query: `INSERT INTO ${t} (${names}) FORMAT Native`, values: Readable.from([body]) });
  insert.stream.resume();
  const select = await client.exec({ query: `SELECT ${names} FROM ${t}${orderBy ? ` ORDER BY ${orderBy}` : ''} FORMAT Native` });
  const chunks: Buffer[] = [];
  for await (const chunk of select.stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Records with every kind's edges: 64-bit counters past 2^32, negative Int64 networks, IPv6, '', long and non-ASCII text. */
function edgeRecords(): AggregatedFlowRecord[] {
  return [
    flow({ sourcePodName: 'web-1', sourcePodNamespace: 'shop', octetDeltaCount: 2 ** 40 + 5, destinationTransportPort: 65535 }),
    flow({ sourcePodName: 'x'.repeat(300) + 'ü', octetDeltaCount: Number.MAX_SAFE_INTEGER, sourceAddress: 'fd00::5', destinationAddress: 'fd00:0::1', ipVersion: 6 }),
    flow({ sourcePodName: 'web-1', flowEndSeconds: T0 + 9, destinationAddress: '', ingressNetworkPolicyRuleName: "rule'x\\y\tz", tcpState: 'ESTABLISHED' }),
    flow({ destinationPodNamespace: 'ünï', flowEndSeconds: T0 + 3600 * 30, packetDeltaCount: 4_294_967_296, reverseOctetDeltaCount: 4_294_967_295 }),
  ];
}

describe('ClickHouse Native bodies, as the server writes them', { skip }, () => {
  it('writes a batch of flows (every column kind, edge values, 3,000 generated rows) as the server writes the same rows', async () => {
    const records = [...edgeRecords(), ...rollupRecords(3000, 31)];
    const scratch = new EncodeScratch();
    const batch = completeBatch(encodeRows(records, T0 + 1, COLUMNS, scratch), COLUMNS, { dictionariesOnly: true, scratch, repeatedValues: true });
    const ours = Buffer.from(flowsBody(batch, COLUMNS, scratch));
    const theirs = await roundTrip('flows_like', COLUMNS, ours);
    assert.equal(theirs.length, ours.length);
    assert.ok(theirs.equals(ours), 'the server wrote other bytes');
  });

  it("writes a batch's rollup rows (every rollup's finest tier, rollupOf a constant per range) as the server writes the same rows", async () => {
    const records = [...edgeRecords(), ...rollupRecords(2000, 32)];
    const batch = completeBatch(encodeRows(records, H0, COLUMNS), COLUMNS, { dictionariesOnly: true, repeatedValues: true });
    const { body, rows } = rollupBody(batch, new RollupScratch(), new EncodeScratch());
    assert.ok(rows > 100, `${rows} rollup rows`);
    const ours = Buffer.from(body);
    const theirs = await roundTrip('rollup_input_like', ROLLUP_INPUT_NATIVE, ours);
    assert.equal(theirs.length, ours.length);
    assert.ok(theirs.equals(ours), 'the server wrote other bytes');
  });

  it("writes the flows in the order the server's ORDER BY gives them (hour in the server's zone, namespaces as bytes, end)", async () => {
    const namespaces = ['shop', 'kube-system', '', 'ünï', 'Shop', '\uff61', '😀'];
    // Distinct ends, so that the order is total; hours and namespaces shuffled against row order.
    const records = Array.from({ length: 3000 }, (_, i) =>
      flow({ sourcePodNamespace: namespaces[(i * 5) % 7], destinationPodNamespace: namespaces[(i * 3) % 7], flowEndSeconds: T0 + ((i * 7919) % 3000) * 7 }),
    );
    const batch = completeBatch(encodeRows(records, T0, COLUMNS), COLUMNS, { dictionariesOnly: true, repeatedValues: true });
    const rs = await client.query({ query: 'SELECT toUInt32(toStartOfHour(toDateTime(1700000000))) % 3600 AS s', format: 'JSONEachRow' });
    const [{ s: hourStart }] = await rs.json<{ s: number }>();
    const ours = Buffer.from(flowsBody(batch, COLUMNS, undefined, { scratch: new OrderScratch(), hourStart: Number(hourStart) }));
    assert.ok(!ours.equals(Buffer.from(flowsBody(batch, COLUMNS))), 'the rows needed an order');
    const theirs = await roundTrip('flows_sorted', COLUMNS, ours, 'toStartOfHour(flowEndSeconds), sourcePodNamespace, destinationPodNamespace, flowEndSeconds');
    assert.ok(theirs.equals(ours), 'the server orders the rows otherwise');
  });

  it("writes each rollup's rows in the order of its tables' ORDER BY (bucket, its keys)", async () => {
    const batch = completeBatch(encodeRows(rollupRecords(2000, 33), H0, COLUMNS), COLUMNS, { dictionariesOnly: true, repeatedValues: true });
    const ours = Buffer.from(rollupBody(batch, new RollupScratch(), undefined, { scratch: new OrderScratch(), hourStart: 0 }).body);
    assert.ok(!ours.equals(Buffer.from(rollupBody(batch, new RollupScratch()).body)), 'the rows needed an order');
    // A rollup's rows hold '' / 0 / -1 in the other rollups' keys: ordering by every key in
    // ROLLUPS order orders each rollup's rows by its own.
    const theirs = await roundTrip('rollup_input_sorted', ROLLUP_INPUT_NATIVE, ours, ['rollupOf', 'bucket', ...ALL_KEYS.map((k) => k.name)].join(', '));
    assert.ok(theirs.equals(ours), 'the server orders the rows otherwise');
  });
});
