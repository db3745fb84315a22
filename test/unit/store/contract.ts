// The repository contract: every engine passes these same tests (DuckDB in test/unit/store,
// ClickHouse against a real server in test/integration/store).
import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FlowRepository } from '../../../src/store/repository.js';
import { FlowQueries, parseFlowQuery, type FlowQuery } from '../../../src/store/query.js';
import { latestVersion, type Migration } from '../../../src/store/migrations.js';
import { A, B, C, D, E, flow, SNAPSHOTS, T0 } from './fixtures.js';

export interface ContractOptions {
  /** A repository on an empty store; null plus a reason to skip. */
  open(): Promise<FlowRepository>;
  migrations: readonly Migration[];
  skip?: string | false;
}

const window = (extra: Record<string, string> = {}): FlowQuery => parseFlowQuery({ from: String(T0), to: String(T0 + 3600), ...extra }, T0 + 3600);

export function repositoryContract(name: string, opts: ContractOptions): void {
  describe(`${name} repository contract`, { skip: opts.skip }, () => {
    let repo: FlowRepository;
    let q: FlowQueries;

    before(async () => {
      repo = await opts.open();
      q = new FlowQueries(repo);
      await repo.insertFlows([A, B, E], T0 + 1000);
      await repo.insertFlows([C, D], T0 + 2000);
      await repo.insertSnapshots(SNAPSHOTS);
    });
    after(async () => {
      await repo?.close();
    });

    it('applies every migration at open', async () => {
      assert.equal(await repo.schemaVersion(), latestVersion(opts.migrations));
    });

    it('lists the flows of the window newest first, with every field read back as written', async () => {
      const r = await q.flows(window());
      assert.deepEqual(r.items.map((f) => f.flowEndSeconds), [D, C, B, A].map((f) => f.flowEndSeconds));
      const d = r.items[0];
      assert.equal(d.sourceIP, 'fd00::5');
      assert.equal(d.destinationIP, 'fd00::1:7');
      assert.equal(d.ipVersion, 6);
      assert.equal(d.ingressNetworkPolicyRuleName, "rule'x\\y\tz");
      assert.equal(d.destinationServicePortName, 'shop/frontend:http');
      assert.equal(d.destinationClusterIP, 'fd00:96::10');
      assert.equal(d.throughput, 123456789);
      assert.equal(d.correlated, 0);
      assert.equal(d.octetTotalCount, 15000);
      assert.equal(d.timeInserted, T0 + 2000);
      const a = r.items[3];
      assert.equal(a.originalExporterAddress, '192.168.0.10');
      assert.equal(a.originalObservationDomainId, 7);
      assert.equal(a.flowStartSeconds, T0 - 30);
      assert.equal(a.correlated, 1);
      assert.equal(await repo.countFlows(), 5);
    });

    it('pages through the flows with limit and offset', async () => {
      const p1 = await q.flows(window({ limit: '3' }));
      assert.equal(p1.items.length, 3);
      assert.equal(p1.page.nextOffset, 3);
      const p2 = await q.flows(window({ limit: '3', offset: '3' }));
      assert.deepEqual(p2.items.map((f) => f.flowEndSeconds), [A.flowEndSeconds]);
      assert.equal(p2.page.nextOffset, null);
    });

    it('returns only records inserted after a cursor, oldest insert first (--follow)', async () => {
      const r = await q.flows(window({ insertedAfter: String(T0 + 1000) }));
      assert.deepEqual(r.items.map((f) => f.flowEndSeconds), [C.flowEndSeconds, D.flowEndSeconds]);
    });

    const cases: [string, Record<string, string>, number[]][] = [
      ['namespace (source or destination)', { namespace: 'shop' }, [A, B, C, D].map((f) => f.flowEndSeconds)],
      ['namespace of a source only', { namespace: 'monitoring' }, [D.flowEndSeconds]],
      ['Pod by namespace/name', { pod: 'shop/web-1' }, [A, B, D].map((f) => f.flowEndSeconds)],
      ['Pod by name', { pod: 'web-2' }, [C.flowEndSeconds]],
      ['node', { node: 'node-b' }, [A, B, D].map((f) => f.flowEndSeconds)],
      ['service without port', { service: 'shop/frontend' }, [D.flowEndSeconds]],
      ['service with port', { service: 'shop/frontend:http' }, [D.flowEndSeconds]],
      ['service that matches nothing', { service: 'shop/front' }, []],
      ['policy by name', { policy: 'allow-db' }, [A.flowEndSeconds]],
      ['egress policy by namespace/name', { policy: 'shop/deny-dns' }, [C.flowEndSeconds]],
      ['action drop', { action: 'drop' }, [C.flowEndSeconds]],
      ['action allow', { action: 'allow' }, [A, D].map((f) => f.flowEndSeconds)],
      ['protocol by name', { protocol: 'udp' }, [C.flowEndSeconds]],
      ['protocol by number', { protocol: '6' }, [A, B, D].map((f) => f.flowEndSeconds)],
      ['flow type', { flowType: 'toExternal' }, [C.flowEndSeconds]],
      ['IPv4 CIDR', { ip: '10.0.0.0/24' }, [A, B, C].map((f) => f.flowEndSeconds)],
      ['IPv4 address', { ip: '8.8.8.8' }, [C.flowEndSeconds]],
      ['IPv6 CIDR', { ip: 'fd00::/112' }, [D.flowEndSeconds]],
      ['IPv6 address in another notation', { ip: 'fd00:0:0:0:0:0:1:7' }, [D.flowEndSeconds]],
      ['port (source or destination)', { port: '5432' }, [A, B].map((f) => f.flowEndSeconds)],
      ['two filters together', { namespace: 'shop', port: '53' }, [C.flowEndSeconds]],
    ];
    for (const [what, params, want] of cases) {
      it(`filters by ${what}`, async () => {
        const r = await q.flows(window(params));
        assert.deepEqual(r.items.map((f) => f.flowEndSeconds).sort(), [...want].sort());
      });
    }

    it('ranks top talkers by bytes and by packets', async () => {
      const bytes = await q.top(window({ by: 'bytes' }));
      assert.deepEqual(bytes.items.map((t) => [t.endpoint, t.bytes + t.reverseBytes, t.flows]), [
        ['monitoring/prom-0', 9000, 1],
        ['shop/web-1', 3600, 2],
        ['shop/web-2', 600, 1],
      ]);
      const packets = await q.top(window({ by: 'packets', limit: '2' }));
      assert.deepEqual(packets.items.map((t) => [t.endpoint, t.packets + t.reversePackets]), [
        ['monitoring/prom-0', 90],
        ['shop/web-1', 36],
      ]);
      assert.equal(packets.page.nextOffset, 2);
      const dest = await q.top(window({ side: 'destination' }));
      assert.deepEqual(dest.items.map((t) => t.endpoint), ['shop/web-1', 'shop/db-1', '8.8.8.8']);
    });

    it('sums Pod-to-Pod edges with Tx and Rx totals', async () => {
      const r = await q.podEdges(window());
      assert.deepEqual(
        r.items.map((e) => [`${e.sourcePodNamespace}/${e.sourcePodName}`, `${e.destinationPodNamespace}/${e.destinationPodName}`, e.txBytes, e.rxBytes, e.txPackets, e.rxPackets, e.flows]),
        [
          ['monitoring/prom-0', 'shop/web-1', 5000, 4000, 50, 40, 1],
          ['shop/web-1', 'shop/db-1', 3000, 600, 30, 6, 2],
        ],
      );
    });

    it('builds the node-to-node matrix', async () => {
      const r = await q.nodeMatrix(window());
      assert.deepEqual(r.items.map((c) => [c.sourceNodeName, c.destinationNodeName, c.txBytes, c.rxBytes, c.flows]), [
        ['node-a', '', 300, 300, 1],
        ['node-a', 'node-b', 3000, 600, 2],
        ['node-b', 'node-a', 5000, 4000, 1],
      ]);
    });

    it('builds policy-to-policy edges with their actions', async () => {
      const r = await q.policyEdges(window());
      assert.deepEqual(
        r.items.map((e) => [`${e.egressNetworkPolicyNamespace}/${e.egressNetworkPolicyName}`, e.egressNetworkPolicyRuleAction, `${e.ingressNetworkPolicyNamespace}/${e.ingressNetworkPolicyName}`, e.ingressNetworkPolicyRuleAction, e.bytes]),
        [
          ['/', 0, 'shop/allow-web', 1, 9000],
          ['/', 0, 'shop/allow-db', 1, 1500],
          ['shop/deny-dns', 2, '/', 0, 600],
        ],
      );
    });

    it('returns a throughput series with one point per bucket, empty buckets as 0', async () => {
      const r = await q.throughput(window({ bucket: '60s' }));
      assert.equal(r.bucketSeconds, 60);
      assert.equal(r.items.length, 60);
      assert.equal(r.items[0].t, T0);
      assert.deepEqual(r.items.slice(0, 5).map((p) => p.bytes + p.reverseBytes), [1500, 2100, 600, 9000, 0]);
      assert.equal(r.items[3].bitsPerSecond, (9000 * 8) / 60);
      const auto = await q.throughput(window());
      assert.equal(auto.bucketSeconds, 30);
      assert.equal(auto.items.reduce((n, p) => n + p.bytes + p.reverseBytes, 0), 13200);
    });

    it('says how complete each result is from the counter snapshots', async () => {
      const r = await q.top(window());
      assert.deepEqual(r.completeness, { recordsDropped: 5, recordsLost: 2, storeDropped: 1, snapshots: 2, complete: false });
      const empty = await q.completeness({ from: T0 + 100_000, to: T0 + 200_000 });
      assert.deepEqual(empty, { recordsDropped: 0, recordsLost: 0, storeDropped: 0, snapshots: 0, complete: false });
    });

    it('deletes records older than the retention cutoff and keeps the rest', async () => {
      const r = await repo.retain(T0 - 86400);
      assert.equal(r.deletedFlows, 1);
      assert.equal(await repo.countFlows(), 4);
      const old = await q.flows(parseFlowQuery({ from: String(T0 - 4 * 86400), to: String(T0 - 86400) }, T0));
      assert.equal(old.items.length, 0);
      const kept = await q.flows(window());
      assert.equal(kept.items.length, 4);
    });

    it('migrates down to 0 and up again', async () => {
      assert.deepEqual(await repo.migrateTo(0), [...opts.migrations].map((m) => m.version).sort((a, b) => b - a));
      assert.equal(await repo.schemaVersion(), 0);
      await assert.rejects(repo.countFlows(), { code: 'STORE_ERR_UNAVAILABLE' });
      await repo.migrateTo(latestVersion(opts.migrations));
      assert.equal(await repo.countFlows(), 0);
      await assert.rejects(repo.migrateTo(latestVersion(opts.migrations) + 1), { code: 'STORE_ERR_MIGRATION' });
    });

    it('stores a value beyond its column type clamped into the type, on both engines alike, instead of failing the batch', async () => {
      // (Runs after the migration test: the store is empty.) A failed batch would be retried by
      // the store sink forever and wedge the store behind it.
      const odd = flow({ flowEndSeconds: T0 + 60, sourceTransportPort: 70_000, destinationTransportPort: -5, protocolIdentifier: 300, octetDeltaCount: 2 ** 60, packetDeltaCount: Number.NaN });
      await repo.insertFlows([odd, flow({ flowEndSeconds: T0 + 61 })], T0 + 100);
      const [f] = (await q.flows(window())).items.filter((x) => x.flowEndSeconds === T0 + 60);
      assert.deepEqual(
        [f.sourceTransportPort, f.destinationTransportPort, f.protocolIdentifier, f.octetDeltaCount, f.packetDeltaCount],
        [65535, 0, 255, Number.MAX_SAFE_INTEGER, 0],
      );
      assert.equal(await repo.countFlows(), 2);
    });
  });
}
