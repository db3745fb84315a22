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

/** Inserts a body into a fresh Memory table of `columns`, then reads the table back as Native. */
async function roundTrip(table: string, columns: readonly NativeColumn[], body: Buffer): Promise<Buffer> {
  const t = `${database}.${table}`;
  await client.command({ query: `CREATE TABLE ${t} (${columns.map((c) => `${c.name} ${NATIVE_TYPES[c.kind]}`).join(', ')}) ENGINE = Memory` });
  const names = columns.map((c) => c.name).join(', ');
  const insert = await client.exec({ query: `INSERT INTO ${t} (${names}) FORMAT Native`, values: Readable.from([body]) });
  insert.stream.resume();
  const select = await client.exec({ query: `SELECT ${names} FROM ${t} FORMAT Native` });
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
});
