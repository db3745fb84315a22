// Address networks (ip-key.ts ipNet) on a real engine: the IP filter on whole networks selects
// the same rows as the filter on the 32-digit keys, and schema 4 derives the networks of rows
// stored before it (migration up), and goes back down. Both engines run these.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ipNet } from '../../../src/store/ip-key.js';
import { filterClause, FlowQueries, parseFlowQuery } from '../../../src/store/query.js';
import type { FlowRepository } from '../../../src/store/repository.js';
import { flow, T0 } from './fixtures.js';

/** Addresses in every notation the keys cover: IPv4, IPv4-mapped IPv6, IPv6, and non-addresses. */
export const NET_ADDRESSES = [
  '10.0.0.1', '10.0.0.255', '10.0.1.0', '10.0.255.9', '10.1.0.1', '10.255.255.255', '11.0.0.0', '9.255.255.255',
  '0.0.0.0', '255.255.255.255', '192.168.7.7', '::ffff:10.0.3.4', '::ffff:0:1.2.3.4',
  'fd00::1', 'fd00:0:0:1::5', 'fd00:0:ffff::1', 'fd00:1::1', 'fe80::1', '::1', '::', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
  '', 'not-an-ip',
];

/** Blocks of whole networks (answered from the networks) and not (answered from the keys). */
export const NET_BLOCKS = [
  '10.0.0.0/24', '10.0.0.0/16', '10.0.0.0/8', '10.0.0.0/15', '0.0.0.0/0', '10.0.0.0/25', '10.0.0.1',
  '::ffff:10.0.0.0/104', '::ffff:0:0/96', 'fd00::/48', 'fd00::/16', 'fd00::/64', '::/0', '::/48', '::1', 'fe80::/10', '8000::/1',
];

export function netRecords(): ReturnType<typeof flow>[] {
  const out = [];
  for (let i = 0; i < NET_ADDRESSES.length; i++) {
    out.push(flow({ sourceAddress: NET_ADDRESSES[i], destinationAddress: NET_ADDRESSES[(i * 7 + 3) % NET_ADDRESSES.length], flowEndSeconds: T0 + i, octetDeltaCount: 1 + i }));
  }
  return out;
}

export interface NetContractOptions {
  open(): Promise<FlowRepository>;
  skip?: string | false;
}

export function ipNetContract(name: string, opts: NetContractOptions): void {
  describe(`${name} address networks`, { skip: opts.skip }, () => {
    let repo: FlowRepository;
    before(async () => {
      repo = await opts.open();
    });
    after(async () => {
      await repo?.close();
    });

    it('filters whole networks by number exactly as by the address keys', async () => {
      await repo.insertFlows(netRecords(), T0);
      const d = repo.dialect;
      const ids = async (where: string) => (await repo.select(`SELECT ${d.num('octetDeltaCount')} AS k FROM flows WHERE ${where} ORDER BY k`)).map((r) => Number(r.k));
      let viaNets = 0;
      for (const block of NET_BLOCKS) {
        const q = parseFlowQuery({ ip: block }, T0);
        const byNets = filterClause(d, q);
        const byKeys = filterClause(d, { ...q, filter: { ip: { ...q.filter.ip!, net: null } } });
        if (q.filter.ip!.net) {
          viaNets++;
          assert.match(byNets, /IPNet/);
        }
        assert.match(byKeys, /IPKey/);
        assert.deepEqual(await ids(byNets), await ids(byKeys), block);
      }
      assert.ok(viaNets >= 10, 'most blocks are whole networks');
      const rows = await repo.select(`SELECT sourceIP, ${d.num('sourceIPNet')} AS net FROM flows`);
      for (const r of rows) assert.equal(Number(r.net), ipNet(String(r.sourceIP)), String(r.sourceIP));
    });

    it('derives the networks of rows stored before schema 4, and migrates back down', async () => {
      await repo.migrateTo(3);
      const cols = async () => (await repo.select('SELECT * FROM flows LIMIT 1')).map((r) => Object.keys(r))[0] ?? [];
      assert.ok(!(await cols()).includes('sourceIPNet'));
      // Written at schema 3: the store takes the columns it has.
      await repo.insertFlows(netRecords().map((r) => ({ ...r, flowEndSeconds: r.flowEndSeconds + 7200 })), T0);
      await repo.migrateTo(4);
      const d = repo.dialect;
      const rows = await repo.select(`SELECT sourceIP, destinationIP, ${d.num('sourceIPNet')} AS s, ${d.num('destinationIPNet')} AS t FROM flows`);
      assert.equal(rows.length, 2 * NET_ADDRESSES.length);
      for (const r of rows) {
        assert.equal(Number(r.s), ipNet(String(r.sourceIP)), `source ${String(r.sourceIP)}`);
        assert.equal(Number(r.t), ipNet(String(r.destinationIP)), `destination ${String(r.destinationIP)}`);
      }
      // The rollups rebuilt by the migration answer the network filter as raw rows do.
      const q = new FlowQueries(repo);
      for (const block of ['10.0.0.0/16', '::/0', 'fd00::/32']) {
        const range = { from: String(T0 - 3600), to: String(T0 + 4 * 3600), ip: block, limit: '100' };
        assert.deepEqual((await q.top(parseFlowQuery(range, T0))).items, (await q.top(parseFlowQuery({ ...range, insertedAfter: '0' }, T0))).items, block);
      }
    });
  });
}
