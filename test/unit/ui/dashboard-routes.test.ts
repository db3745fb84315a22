// The dashboards' server side: each page's query on the embedded store with the store's fixture
// flows (whose sums are known), and the routes that serve them and the built UI.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { registerUiRoutes } from '../../../src/api/ui-routes.js';
import { DashboardQueries, MAX_ADDRESS_EDGES, MAX_ADDRESS_ROWS } from '../../../src/store/dashboard-queries.js';
import { DuckDbRepository } from '../../../src/store/duckdb.js';
import { parseFlowQuery } from '../../../src/store/query.js';
import type { FlowRepository } from '../../../src/store/repository.js';
import { ManualClock } from '../../../src/util/clock.js';
import type { EdgesData, FlowRecordsData, NodeSeriesData, OverviewData, PolicyData } from '../../../src/ui/api/types.js';
import { A, B, C, D, E, SNAPSHOTS, T0, flow } from '../store/fixtures.js';

const NOW = T0 + 3000;
const window = (extra: Record<string, string> = {}) => parseFlowQuery({ from: String(T0 - 60), to: String(T0 + 300), ...extra }, NOW);

describe('dashboard queries on the embedded store', () => {
  let repo: FlowRepository;
  let q: DashboardQueries;
  before(async () => {
    repo = await DuckDbRepository.open(':memory:');
    await repo.insertFlows([A, B, C, D, E], T0 + 1000);
    await repo.insertSnapshots(SNAPSHOTS);
    q = new DashboardQueries(repo);
  });
  after(() => repo.close());

  it('overview totals count records, connections, denied connections and both directions', async () => {
    const o = await q.overview(window());
    assert.deepEqual(o.totals, {
      records: 4,
      connections: 4,
      activeConnections: 4,
      deniedConnections: 1,
      bytes: 8300,
      reverseBytes: 4900,
      packets: 83,
      reversePackets: 49,
    });
    assert.deepEqual(o.topNamespaces.map((r) => [r.key, r.bytes + r.reverseBytes]), [['monitoring', 9000], ['shop', 4200]]);
    assert.deepEqual(o.topPods.map((r) => [r.key, r.bytes + r.reverseBytes]), [['monitoring/prom-0', 9000], ['shop/web-1', 3600], ['shop/web-2', 600]]);
    assert.deepEqual(o.topServices.map((r) => r.key), ['shop/frontend:http']);
    assert.deepEqual(o.denied, [
      { source: 'shop/web-2', destination: '8.8.8.8', destinationPort: 53, protocol: 17, policy: 'egress shop/deny-dns', action: 2, flows: 1, packets: 3 },
    ]);
    const total = o.throughput.series[0].points.reduce((n, p) => n + p.bytes + p.reverseBytes, 0);
    assert.equal(total, 8300 + 4900);
    assert.equal(o.completeness.recordsLost, 2);
  });

  it('an active connection is one whose records are all active-timeout exports', async () => {
    const ended = await DuckDbRepository.open(':memory:');
    try {
      await ended.insertFlows([A, { ...B, flowEndReason: 3 }], T0 + 1000);
      const t = await new DashboardQueries(ended).totals(window());
      assert.equal(t.connections, 2);
      assert.equal(t.activeConnections, 1);
    } finally {
      await ended.close();
    }
  });

  it('pod-to-pod edge totals count every address pair; the addresses request lists them, and says when it had to cut', async () => {
    const many = await DuckDbRepository.open(':memory:');
    try {
      // 25,000 address pairs of one Pod pair: more than the 20,000 address rows one answer lists.
      const records = Array.from({ length: 25_000 }, (_, i) =>
        flow({
          sourcePodNamespace: 'shop', sourcePodName: 'web-1', destinationPodNamespace: 'shop', destinationPodName: 'db-1',
          sourceAddress: `10.1.${i >> 8}.${i & 255}`, destinationAddress: '10.0.1.1', sourceTransportPort: 40000,
          octetDeltaCount: 10, reverseOctetDeltaCount: 1,
        }),
      );
      await many.insertFlows(records, T0 + 1000);
      const queries = new DashboardQueries(many);
      const p = await queries.podToPod(window());
      assert.deepEqual(p.edges.map((e) => [e.source, e.destination, e.txBytes, e.rxBytes, e.flows]), [['shop/web-1', 'shop/db-1', 250_000, 25_000, 25_000]]);
      const a = await queries.edgeAddresses('pod-to-pod', window(), p.edges);
      assert.equal(a.truncated, true);
      assert.equal(a.edges[0].sourceIps.length, MAX_ADDRESS_ROWS);
      assert.deepEqual(a.edges[0].destinationIps, ['10.0.1.1']);
      const some = await queries.edgeAddresses('pod-to-pod', window({ ip: '10.1.0.0/24' }), p.edges);
      assert.equal(some.truncated, false);
      assert.equal(some.edges[0].sourceIps.length, 256);
    } finally {
      await many.close();
    }
  });

  it('pod-to-pod merges address pairs into one edge per Pod pair, with Tx and Rx; the addresses come per edge asked for', async () => {
    const p = await q.podToPod(window());
    assert.deepEqual(
      p.edges.map((e) => [e.source, e.destination, e.txBytes, e.rxBytes, e.flows]),
      [
        ['monitoring/prom-0', 'shop/web-1', 5000, 4000, 1],
        ['shop/web-1', 'shop/db-1', 3000, 600, 2],
      ],
    );
    assert.deepEqual(p.bySource.series.map((s) => s.key), ['monitoring/prom-0', 'shop/web-1']);
    const web1 = p.bySource.series[1];
    assert.equal(web1.points.reduce((n, x) => n + x.bytes, 0), 3000);
    assert.ok(web1.points.every((x) => x.t % p.bySource.bucketSeconds === 0));
    // In the order asked; an edge without flows (or unknown) gets empty lists.
    const a = await q.edgeAddresses('pod-to-pod', window(), [
      { source: 'shop/web-1', destination: 'shop/db-1' },
      { source: 'shop/web-1', destination: 'shop/nothing' },
      { source: 'monitoring/prom-0', destination: 'shop/web-1' },
    ]);
    assert.deepEqual(a, {
      edges: [
        { source: 'shop/web-1', destination: 'shop/db-1', sourceIps: ['10.0.0.1'], destinationIps: ['10.0.1.1'] },
        { source: 'shop/web-1', destination: 'shop/nothing', sourceIps: [], destinationIps: [] },
        { source: 'monitoring/prom-0', destination: 'shop/web-1', sourceIps: ['fd00::5'], destinationIps: ['fd00:96::10', 'fd00::1:7'] },
      ],
      truncated: false,
    });
    // The page's filters apply: with another namespace, nothing.
    const none = await q.edgeAddresses('pod-to-pod', window({ namespace: 'kube-system' }), [{ source: 'shop/web-1', destination: 'shop/db-1' }]);
    assert.deepEqual(none.edges[0].sourceIps, []);
  });

  it('pod-to-external and pod-to-service keep to their kind of flow', async () => {
    const ext = await q.podToExternal(window());
    assert.deepEqual(ext.edges.map((e) => [e.source, e.destination, e.txBytes, e.rxBytes]), [['shop/web-2', '8.8.8.8', 300, 300]]);
    assert.deepEqual(ext.byDestination.series.map((s) => s.key), ['8.8.8.8']);
    assert.deepEqual((await q.edgeAddresses('pod-to-external', window(), ext.edges)).edges.map((e) => [e.sourceIps, e.destinationIps]), [[['10.0.0.2'], ['8.8.8.8']]]);
    const svc = await q.podToService(window());
    assert.deepEqual(svc.edges.map((e) => [e.source, e.destination, e.txBytes, e.rxBytes]), [['monitoring/prom-0', 'shop/frontend:http', 5000, 4000]]);
    assert.deepEqual((await q.edgeAddresses('pod-to-service', window(), svc.edges)).edges.map((e) => e.destinationIps), [['fd00:96::10', 'fd00::1:7']]);
  });

  it('pod-to-service names a source without a Pod by its IP, and finds its addresses by it', async () => {
    const bare = await DuckDbRepository.open(':memory:');
    try {
      await bare.insertFlows(
        [flow({ sourceAddress: '192.168.1.9', destinationAddress: '10.0.1.1', destinationClusterIP: '10.96.0.1', destinationServicePortName: 'shop/db:pg', octetDeltaCount: 7 })],
        T0 + 1000,
      );
      const queries = new DashboardQueries(bare);
      const svc = await queries.podToService(window());
      assert.deepEqual(svc.edges.map((e) => [e.source, e.destination]), [['192.168.1.9', 'shop/db:pg']]);
      const a = await queries.edgeAddresses('pod-to-service', window(), svc.edges);
      assert.deepEqual(a.edges.map((e) => [e.sourceIps, e.destinationIps]), [[['192.168.1.9'], ['10.0.1.1', '10.96.0.1']]]);
    } finally {
      await bare.close();
    }
  });

  it('node throughput counts each Node as sender and receiver of inter-node flows', async () => {
    const n = await q.nodeThroughput(window());
    const sums = Object.fromEntries(n.series.series.map((s) => [s.key, [s.points.reduce((a, p) => a + p.bytes, 0), s.points.reduce((a, p) => a + p.reverseBytes, 0)]]));
    assert.deepEqual(sums, { 'node-a inter-node': [7000, 5600], 'node-b inter-node': [5600, 7000] });
    assert.deepEqual(n.matrix.map((c) => [c.sourceNode, c.destinationNode, c.txBytes]), [['node-a', '', 300], ['node-a', 'node-b', 3000], ['node-b', 'node-a', 5000]]);
  });

  it('network policy edges carry both policies, their actions and the Pod pair', async () => {
    const p = await q.networkPolicy(window());
    assert.deepEqual(
      p.edges.map((e) => [e.egressPolicy, e.egressAction, e.ingressPolicy, e.ingressAction, e.sourcePod, e.destinationPod, e.bytes]),
      [
        ['', 0, 'shop/allow-web', 1, 'monitoring/prom-0', 'shop/web-1', 9000],
        ['', 0, 'shop/allow-db', 1, 'shop/web-1', 'shop/db-1', 1500],
        ['shop/deny-dns', 2, '', 0, 'shop/web-2', '8.8.8.8', 600],
      ],
    );
    // Every policy pair's totals, for the sankey; the denied one says so.
    assert.deepEqual(p.links, [
      { egressPolicy: '', ingressPolicy: 'shop/allow-web', bytes: 9000, flows: 1, denied: false },
      { egressPolicy: '', ingressPolicy: 'shop/allow-db', bytes: 1500, flows: 1, denied: false },
      { egressPolicy: 'shop/deny-dns', ingressPolicy: '', bytes: 600, flows: 1, denied: true },
    ]);
    const onlyDb = await q.networkPolicy(window({ ingressPolicy: 'shop/allow-db' }));
    assert.deepEqual(onlyDb.edges.map((e) => e.ingressPolicy), ['shop/allow-db']);
    assert.deepEqual(onlyDb.links.map((l) => l.ingressPolicy), ['shop/allow-db']);
    const egress = await q.networkPolicy(window({ egressPolicy: 'deny-dns' }));
    assert.deepEqual(egress.edges.map((e) => e.egressPolicy), ['shop/deny-dns']);
  });

  it('flow records sort by any column and page', async () => {
    const r = await q.flowRecords(window({ sort: '-octetDeltaCount', limit: '3' }));
    assert.deepEqual(r.items.map((f) => f.octetDeltaCount), [5000, 2000, 1000]);
    assert.equal(r.page.nextOffset, 3);
    const next = await q.flowRecords(window({ sort: '-octetDeltaCount', limit: '3', offset: '3' }));
    assert.deepEqual(next.items.map((f) => f.octetDeltaCount), [300]);
    const up = await q.flowRecords(window({ sort: 'sourcePodName' }));
    assert.deepEqual(up.items.map((f) => f.sourcePodName), ['prom-0', 'web-1', 'web-1', 'web-2']);
    assert.throws(() => window({ sort: 'colour' }), /sort=colour is not a column/);
  });
});

describe('top groups through a hash of their keys', () => {
  let repo: DuckDbRepository;
  before(async () => {
    repo = await DuckDbRepository.open(':memory:');
    // 60 Pod pairs; pairs i and i + 30 carry the same bytes, so ties run across the limit. Some
    // flows under policies, one denied.
    const records = Array.from({ length: 240 }, (_, i) => {
      const pair = i % 60;
      return flow({
        sourcePodNamespace: `ns-${pair % 3}`, sourcePodName: `web-${pair}`, destinationPodNamespace: 'shop', destinationPodName: `db-${pair % 7}`,
        sourceAddress: `10.1.0.${pair}`, destinationAddress: `10.2.0.${pair % 7}`, sourceTransportPort: 40000 + i,
        octetDeltaCount: 100 * (pair % 30) + 1, reverseOctetDeltaCount: 10,
        ingressNetworkPolicyNamespace: pair % 2 === 0 ? 'shop' : '', ingressNetworkPolicyName: pair % 2 === 0 ? `allow-${pair % 5}` : '',
        ingressNetworkPolicyRuleAction: pair % 2 === 0 ? (pair === 4 ? 2 : 1) : 0,
      });
    });
    await repo.insertFlows(records, T0 + 1000);
  });
  after(() => repo.close());

  /** The same store read without hashing (the plain GROUP BY), or with a hash that collides a lot. */
  const runner = (rewrite: (sql: string) => string, engine?: string) => ({
    dialect: repo.dialect,
    rollups: repo.rollups,
    engine,
    select: (sql: string) => repo.select(rewrite(sql)),
  });
  const plain = () => new DashboardQueries(runner((sql) => sql));
  // Keys hold no parentheses, so the regex finds each hash call whole.
  const colliding = () => new DashboardQueries(runner((sql) => sql.replace(/hash\(([^()]*)\)/g, '(hash($1) % 3)'), 'duckdb'));

  it('answers the Pod pairs and the policy rows exactly as the plain GROUP BY, ties at the limit included', async () => {
    for (const limit of ['5', '10', '29', '100']) {
      const q = window({ limit });
      const hashed = await new DashboardQueries(repo).podToPod(q);
      const exact = await plain().podToPod(q);
      assert.deepEqual(hashed.edges, exact.edges, `limit ${limit}`);
      assert.equal(hashed.edges.length, Math.min(60, Number(limit)));
    }
    const hashedPolicies = await new DashboardQueries(repo).networkPolicy(window());
    assert.deepEqual(hashedPolicies.edges, (await plain().networkPolicy(window())).edges);
    assert.equal(hashedPolicies.edges.length, 30);
  });

  it('falls back to the plain GROUP BY when a hash stands for two groups', async () => {
    const q = window({ limit: '10' });
    const sqls: string[] = [];
    const watched = new DashboardQueries(runner((sql) => (sqls.push(sql), sql.replace(/hash\(([^()]*)\)/g, '(hash($1) % 3)')), 'duckdb'));
    assert.deepEqual((await watched.podToPod(q)).edges, (await plain().podToPod(q)).edges);
    assert.ok(sqls.some((sql) => sql.includes('groupHash')), 'the hashed passes ran');
    assert.ok(sqls.some((sql) => /GROUP BY src, dst ORDER BY tx \+ rx DESC, src, dst LIMIT 10$/.test(sql)), 'then the plain GROUP BY');
    assert.deepEqual((await colliding().networkPolicy(q)).edges, (await plain().networkPolicy(q)).edges);
  });
});

describe('dashboard routes', () => {
  let repo: FlowRepository;
  let app: FastifyInstance;
  let dir: string;
  let open = true;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flowvis-ui-static-'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>flowvis</title>');
    writeFileSync(join(dir, 'app.js'), 'console.log(1)');
    repo = await DuckDbRepository.open(':memory:');
    await repo.insertFlows([A, B, C, D], T0 + 1000);
    app = Fastify();
    await registerUiRoutes(app, { repository: () => (open ? repo : null), clock: new ManualClock(NOW * 1000), staticDir: dir });
  });
  after(async () => {
    await app.close();
    await repo.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers every page with the query parameters of the store API', async () => {
    const base = `from=${T0 - 60}&to=${T0 + 300}`;
    const get = async <T>(page: string, extra = '') => {
      const res = await app.inject(`/api/v1/dashboard/${page}?${base}${extra}`);
      assert.equal(res.statusCode, 200, res.body);
      return res.json() as T;
    };
    assert.equal((await get<OverviewData>('overview')).totals.records, 4);
    assert.equal((await get<EdgesData>('pod-to-pod', '&namespace=monitoring')).edges.length, 1);
    assert.equal((await get<EdgesData>('pod-to-external')).edges.length, 1);
    assert.equal((await get<EdgesData>('pod-to-service')).edges.length, 1);
    assert.equal((await get<FlowRecordsData>('flow-records', '&pod=shop/web-2')).items.length, 1);
    assert.equal((await get<NodeSeriesData>('node-throughput')).matrix.length, 3);
    assert.equal((await get<PolicyData>('network-policy', '&action=drop')).edges.length, 1);
  });

  it('answers the addresses behind the edges asked for, and refuses a bad request with a coded error', async () => {
    const url = `/api/v1/dashboard/pod-to-pod/addresses?from=${T0 - 60}&to=${T0 + 300}`;
    const ok = await app.inject({ method: 'POST', url, payload: { edges: [{ source: 'shop/web-1', destination: 'shop/db-1' }] } });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.deepEqual(ok.json(), { edges: [{ source: 'shop/web-1', destination: 'shop/db-1', sourceIps: ['10.0.0.1'], destinationIps: ['10.0.1.1'] }], truncated: false });
    const tooMany = Array.from({ length: MAX_ADDRESS_EDGES + 1 }, () => ({ source: 'a/b', destination: 'c/d' }));
    for (const payload of [{}, { edges: 'x' }, { edges: [{ source: 1, destination: 'x' }] }, { edges: tooMany }]) {
      const res = await app.inject({ method: 'POST', url, payload });
      assert.equal(res.statusCode, 400, JSON.stringify(payload).slice(0, 80));
      assert.equal(res.json().error, 'STORE_ERR_INVALID_QUERY');
      assert.match(res.json().message, /send \{"edges"/);
    }
    const badQuery = await app.inject({ method: 'POST', url: `${url}&port=99999`, payload: { edges: [] } });
    assert.equal(badQuery.json().error, 'STORE_ERR_INVALID_QUERY');
    const notEdges = await app.inject({ method: 'POST', url: '/api/v1/dashboard/overview/addresses', payload: { edges: [] } });
    assert.equal(notEdges.statusCode, 404);
    assert.equal(notEdges.json().error, 'UI_ERR_UNKNOWN_PAGE');
  });

  it('refuses bad parameters and unknown pages with a coded error, and says when the store is not open', async () => {
    const bad = await app.inject('/api/v1/dashboard/overview?port=99999');
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error, 'STORE_ERR_INVALID_QUERY');
    const unknown = await app.inject('/api/v1/dashboard/constructor');
    assert.equal(unknown.statusCode, 404);
    assert.equal(unknown.json().error, 'UI_ERR_UNKNOWN_PAGE');
    open = false;
    try {
      const closed = await app.inject('/api/v1/dashboard/overview');
      assert.equal(closed.statusCode, 503);
      assert.equal(closed.json().error, 'STORE_ERR_UNAVAILABLE');
    } finally {
      open = true;
    }
  });

  it('serves the built files by name only, with types and validators', async () => {
    assert.equal((await app.inject('/')).headers.location, '/ui/');
    const index = await app.inject('/ui/');
    assert.equal(index.statusCode, 200);
    assert.match(String(index.headers['content-type']), /text\/html/);
    assert.match(index.body, /<title>flowvis/);
    const js = await app.inject('/ui/app.js');
    assert.match(String(js.headers['content-type']), /javascript/);
    const again = await app.inject({ url: '/ui/app.js', headers: { 'if-none-match': String(js.headers.etag) } });
    assert.equal(again.statusCode, 304);
    for (const path of ['/ui/../package.json', '/ui/%2e%2e/package.json', '/ui/nothing.js']) {
      assert.equal((await app.inject(path)).statusCode, 404, path);
    }
  });

  it('says how to build the UI when it is not built', async () => {
    const bare = Fastify();
    await registerUiRoutes(bare, { repository: () => repo, staticDir: join(dir, 'missing') });
    const res = await bare.inject('/ui/');
    assert.equal(res.statusCode, 503);
    assert.match(res.body, /UI_ERR_NOT_BUILT/);
    await bare.close();
  });
});
