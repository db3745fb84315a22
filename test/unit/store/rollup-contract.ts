// Rollups answer exactly what the raw rows answer: every engine runs these against the same data.
// A query with insertedAfter=0 reads raw rows only (rollups cannot tell when a row was
// inserted), so it is the reference for the same query answered from the rollups.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AggregatedFlowRecord } from '../../../src/flow/record.js';
import { FlowQueries, parseFlowQuery, scanFor } from '../../../src/store/query.js';
import type { FlowRepository } from '../../../src/store/repository.js';
import { flow } from './fixtures.js';

/** An hour boundary. */
export const H0 = 1_700_002_800;
const HOUR = 3600;

/** Deterministic records over 30 hours: 12 Pods in 3 namespaces on 4 Nodes, some external, some under policies. */
export function rollupRecords(n: number, seed: number, firstEnd = H0 - 1800, span = 30 * HOUR): AggregatedFlowRecord[] {
  let x = seed >>> 0;
  const rnd = (m: number) => {
    x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    return x % m;
  };
  return Array.from({ length: n }, (_, i) => {
    const s = rnd(12);
    const d = rnd(12);
    const external = rnd(10) === 0;
    const policy = rnd(3);
    return flow({
      sourcePodNamespace: `ns-${s % 3}`,
      sourcePodName: s === 11 ? '' : `pod-${s}`,
      sourceNodeName: s === 11 ? '' : `node-${s % 4}`,
      sourceAddress: `10.0.${s}.${1 + rnd(3)}`,
      destinationPodNamespace: external ? '' : `ns-${d % 3}`,
      destinationPodName: external ? '' : `pod-${d}`,
      destinationNodeName: external ? '' : `node-${d % 4}`,
      destinationAddress: external ? `93.184.0.${rnd(5)}` : `10.0.${d}.1`,
      flowType: external ? 3 : s % 4 === d % 4 ? 1 : 2,
      ingressNetworkPolicyNamespace: policy === 1 ? `ns-${d % 3}` : '',
      ingressNetworkPolicyName: policy === 1 ? `allow-${d % 2}` : '',
      ingressNetworkPolicyRuleAction: policy === 1 ? 1 : 0,
      egressNetworkPolicyNamespace: policy === 2 ? `ns-${s % 3}` : '',
      egressNetworkPolicyName: policy === 2 ? `deny-${s % 2}` : '',
      egressNetworkPolicyRuleAction: policy === 2 ? (rnd(2) === 0 ? 2 : 3) : 0,
      destinationTransportPort: [80, 443, 53][rnd(3)],
      protocolIdentifier: rnd(4) === 0 ? 17 : 6,
      flowEndSeconds: firstEnd + Math.floor((i * span) / n) + rnd(7),
      octetDeltaCount: rnd(100_000),
      packetDeltaCount: rnd(100),
      reverseOctetDeltaCount: rnd(50_000),
      reversePacketDeltaCount: rnd(50),
    });
  });
}

export interface RollupContractOptions {
  open(): Promise<FlowRepository>;
  /** Re-aggregates the rollups (the embedded store's compaction), when the engine has one. */
  compact?(repo: FlowRepository): Promise<void>;
  skip?: string | false;
}

const RANGES: [string, Record<string, string>][] = [
  ['whole hours', { from: String(H0), to: String(H0 + 6 * HOUR) }],
  ['unaligned, with 10 min and raw edges', { from: String(H0 + 125), to: String(H0 + 20 * HOUR + 1999) }],
  ['all of it', { from: String(H0 - 2 * HOUR), to: String(H0 + 31 * HOUR) }],
  ['inside one hour', { from: String(H0 + 3 * HOUR + 601), to: String(H0 + 3 * HOUR + 3000) }],
];

const FILTERS: Record<string, string>[] = [
  {},
  { namespace: 'ns-1' },
  { pod: 'ns-2/pod-5' },
  { node: 'node-3' },
  { flowType: 'interNode' },
  { policy: 'allow-1' },
  { egressPolicy: 'ns-0/deny-0' },
  { action: 'drop' },
  { protocol: 'udp' },
  { port: '53' },
  { ip: '10.0.0.0/22' },
  { ip: '93.184.0.0/16', namespace: 'ns-2' },
  { ip: '10.0.3.2' },
];

export function rollupContract(name: string, opts: RollupContractOptions): void {
  describe(`${name} rollups`, { skip: opts.skip }, () => {
    let repo: FlowRepository;
    let q: FlowQueries;
    before(async () => {
      repo = await opts.open();
      q = new FlowQueries(repo);
      // Several batches, one of them late (flows that ended hours before the batches around it).
      const all = rollupRecords(6000, 7);
      for (let off = 0; off < all.length; off += 1000) await repo.insertFlows(all.slice(off, off + 1000), H0 + off);
      await repo.insertFlows(rollupRecords(500, 8, H0 + 2 * HOUR, 3 * HOUR), H0 + 99_999);
      await opts.compact?.(repo);
      await repo.insertFlows(rollupRecords(300, 9, H0 + 5 * HOUR, HOUR), H0 + 100_000);
    });
    after(async () => {
      await repo?.close();
    });

    it('reads whole buckets from rollups and the rest from raw rows', () => {
      const query = parseFlowQuery(RANGES[1][1], H0);
      const scan = scanFor(repo.dialect, query, 'pods');
      assert.equal(scan.rollup, true);
      assert.match(scan.from, /UNION ALL/);
      assert.equal(scanFor(repo.dialect, parseFlowQuery({ ...RANGES[1][1], port: '53' }, H0), 'pods').rollup, false, 'a port filter needs raw rows');
      assert.equal(scanFor(repo.dialect, parseFlowQuery({ ...RANGES[1][1], insertedAfter: '0' }, H0), 'pods').rollup, false);
      assert.equal(scanFor(repo.dialect, parseFlowQuery({ ...RANGES[1][1], ip: '10.0.0.0/16' }, H0), 'pods').rollup, true, 'a block of whole /24s reads the networks');
      assert.equal(scanFor(repo.dialect, parseFlowQuery({ ...RANGES[1][1], ip: '10.0.0.0/25' }, H0), 'pods').rollup, false, 'a block inside a /24 needs raw rows');
      assert.equal(scanFor(repo.dialect, parseFlowQuery({ ...RANGES[1][1], ip: '10.0.0.0/16' }, H0), 'nodes').rollup, false, 'the Node rollup keeps no addresses');
    });

    it('lists the newest flows of a long range as a scan of the whole range would', async () => {
      const range = RANGES[2][1];
      for (const [limit, offset] of [['10', '0'], ['100', '250'], ['1000', '5000'], ['50', '6770']]) {
        const newest = await q.flows(parseFlowQuery({ ...range, limit, offset }, H0));
        // sort=-flowEndSeconds orders the same way and always reads the whole range.
        const whole = await q.flows(parseFlowQuery({ ...range, limit, offset, sort: '-flowEndSeconds' }, H0));
        assert.deepEqual(newest.items, whole.items, `limit ${limit} offset ${offset}`);
        assert.deepEqual(newest.page, whole.page);
      }
    });

    for (const [rangeName, range] of RANGES) {
      for (const filter of FILTERS) {
        const label = `${rangeName}${Object.keys(filter).length ? `, ${Object.entries(filter).map(([k, v]) => `${k}=${v}`).join(' ')}` : ''}`;
        it(`answers as the raw rows do: ${label}`, async () => {
          const rolled = (extra: Record<string, string> = {}) => parseFlowQuery({ ...range, ...filter, limit: '1000', ...extra }, H0);
          const raw = (extra: Record<string, string> = {}) => rolled({ ...extra, insertedAfter: '0' });
          for (const side of ['source', 'destination']) {
            for (const by of ['bytes', 'packets']) {
              assert.deepEqual((await q.top(rolled({ side, by }))).items, (await q.top(raw({ side, by }))).items, `top ${side} ${by}`);
            }
          }
          assert.deepEqual((await q.podEdges(rolled())).items, (await q.podEdges(raw())).items, 'pod edges');
          assert.deepEqual((await q.nodeMatrix(rolled())).items, (await q.nodeMatrix(raw())).items, 'node matrix');
          assert.deepEqual((await q.policyEdges(rolled())).items, (await q.policyEdges(raw())).items, 'policy edges');
          for (const bucket of ['60s', '300s', '1h']) {
            if (rangeName === 'all of it' && bucket === '60s') continue; // more points than a query may ask for
            const a = await q.throughput(rolled({ bucket }));
            const b = await q.throughput(raw({ bucket }));
            assert.deepEqual(a.items, b.items, `throughput ${bucket}`);
          }
          const some = (await q.top(raw())).items.length + (await q.throughput(raw({ bucket: '1h' }))).items.filter((p) => p.bytes > 0).length;
          if (Object.keys(filter).length === 0) assert.ok(some > 0, 'the range holds traffic');
        });
      }
    }
  });
}
