import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildStoreApi, STORE_API_ROUTES } from '../../../src/api/store-api.js';
import { DuckDbRepository } from '../../../src/store/duckdb.js';
import type { FlowRepository } from '../../../src/store/repository.js';
import { ManualClock } from '../../../src/util/clock.js';
import { A, B, C, D, T0 } from './fixtures.js';

describe('store HTTP API', () => {
  let repo: FlowRepository;
  let app: FastifyInstance;
  before(async () => {
    repo = await DuckDbRepository.open(':memory:');
    await repo.insertFlows([A, B, C, D], T0 + 1000);
    app = await buildStoreApi({ repository: () => repo, clock: new ManualClock((T0 + 3000) * 1000) });
  });
  after(async () => {
    await app.close();
    await repo.close();
  });

  const get = async (url: string) => {
    const res = await app.inject({ method: 'GET', url });
    return { status: res.statusCode, body: res.json() as Record<string, unknown> };
  };

  it('answers every route over the default range (the last hour)', async () => {
    for (const route of STORE_API_ROUTES) {
      const r = await get(route);
      assert.equal(r.status, 200, `${route}: ${JSON.stringify(r.body)}`);
      assert.ok('completeness' in r.body, route);
    }
    const flows = await get('/api/v1/flows?last=1h');
    assert.equal((flows.body.items as unknown[]).length, 4);
  });

  it('applies filters and pagination from the query string', async () => {
    const r = await get(`/api/v1/top?from=${T0}&to=${T0 + 3600}&by=packets&namespace=shop&limit=1`);
    assert.equal(r.status, 200);
    assert.deepEqual((r.body.items as { endpoint: string }[]).map((t) => t.endpoint), ['monitoring/prom-0']);
    assert.equal((r.body.page as { nextOffset: number }).nextOffset, 1);
  });

  const badQueries: [string, RegExp][] = [
    ['/api/v1/flows?ip=10.0.0.0/33', /ip=10\.0\.0\.0\/33 is not an IP address or CIDR block/],
    ['/api/v1/flows?port=70000', /port=70000 is not valid/],
    ['/api/v1/flows?protocol=tcpp', /protocol=tcpp is not a protocol/],
    ['/api/v1/flows?from=yesterday', /from=yesterday is not a time/],
    ['/api/v1/flows?from=now-1h&to=now-2h', /the time range is empty/],
    ['/api/v1/flows?limit=0', /limit=0 is not valid/],
    ['/api/v1/flows?pod=a/b/c', /pod=a\/b\/c is not valid/],
    ["/api/v1/flows?namespace=x'%20OR%201=1", /namespace=x' OR 1=1 is not a valid name/],
    ['/api/v1/flows?colour=red', /unknown query parameter "colour"/],
    ['/api/v1/flows?port=80&port=81', /given more than once/],
    ['/api/v1/top?by=flows', /by=flows is not valid/],
    ['/api/v1/throughput?bucket=1ms', /bucket=1ms must be a whole number of seconds/],
    ['/api/v1/flows?flowType=sideways', /flowType=sideways is not valid/],
    ['/api/v1/flows?action=permit', /action=permit is not valid/],
    ['/api/v1/flows?last=1h&from=now-2h', /either last=<duration> or from=<time>/],
    ['/api/v1/flows?service=frontend', /service=frontend is not valid/],
  ];
  for (const [url, message] of badQueries) {
    it(`answers 400 with a message for ${url}`, async () => {
      const r = await get(url);
      assert.equal(r.status, 400);
      assert.equal(r.body.error, 'STORE_ERR_INVALID_QUERY');
      assert.match(String(r.body.message), message);
    });
  }

  it('answers 503 while the store is not open', async () => {
    const closed = await buildStoreApi({ repository: () => null });
    const res = await closed.inject({ method: 'GET', url: '/api/v1/top' });
    assert.equal(res.statusCode, 503);
    assert.equal(res.json().error, 'STORE_ERR_UNAVAILABLE');
    await closed.close();
  });
});
