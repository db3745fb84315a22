import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildHttpServer } from '../../../src/collector/http.js';
import { Ring } from '../../../src/collector/ring.js';
import type { CollectedRecord } from '../../../src/collector/types.js';

function entry(i: number): CollectedRecord {
  return {
    exporter: '10.0.0.9:40000',
    observationDomainId: 3,
    templateId: 256,
    exportTime: 1_700_000_000 + i,
    record: { sourceTransportPort: i, octetTotalCount: 2n ** 60n + BigInt(i), sourcePodName: `pod-${i}` },
  };
}

function server(kept: number, capacity = 5) {
  const ring = new Ring<CollectedRecord>(capacity);
  for (let i = 1; i <= kept; i++) ring.push(entry(i));
  return buildHttpServer({ ring, stats: () => ({ recordsReceived: kept }) });
}

describe('collector HTTP endpoint', () => {
  it('GET /records returns the newest N kept records, oldest first, with where they came from', async () => {
    const app = server(7);
    const res = await app.inject({ method: 'GET', url: '/records?count=2' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /application\/json/);
    // The bigint counter is an exact integer literal in the body.
    assert.match(res.body, /"octetTotalCount":1152921504606846982/);
    const body = JSON.parse(res.body);
    assert.equal(body.count, 2);
    assert.deepEqual(body.records.map((r: { record: { sourceTransportPort: number } }) => r.record.sourceTransportPort), [6, 7]);
    assert.deepEqual(
      { ...body.records[0], record: undefined },
      { exporter: '10.0.0.9:40000', observationDomainId: 3, templateId: 256, exportTime: 1_700_000_006, record: undefined },
    );
    await app.close();
  });

  it('defaults to 10 records in JSON and returns all kept when fewer', async () => {
    const app = server(3);
    const body = JSON.parse((await app.inject({ method: 'GET', url: '/records' })).body);
    assert.equal(body.count, 3);
    await app.close();
  });

  it('serves text blocks with format=text', async () => {
    const app = server(2);
    const res = await app.inject({ method: 'GET', url: '/records?count=1&format=text' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /text\/plain/);
    assert.match(res.body, /^IPFIX record from 10\.0\.0\.9:40000, observation domain 3, template 256/);
    assert.match(res.body, /sourcePodName\s+pod-2\n/);
    assert.doesNotMatch(res.body, /pod-1/);
    await app.close();
  });

  for (const [url, message] of [
    ['/records?count=-1', /count "-1" is not a whole number/],
    ['/records?count=abc', /count "abc"/],
    ['/records?count=1&count=2', /count/],
    ['/records?count=99999999', /from 0 to 1000000/],
    ['/records?format=xml', /format "xml" is not json or text/],
    ['/records?limit=5', /unknown query parameter "limit"/],
  ] as const) {
    it(`answers ${url} with 400 and a coded message`, async () => {
      const app = server(1);
      const res = await app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 400);
      const body = JSON.parse(res.body);
      assert.equal(body.error.code, 'COLLECTOR_ERR_BAD_QUERY');
      assert.match(body.error.message, message);
      await app.close();
    });
  }

  it('serves the counters at GET /stats and 404s elsewhere', async () => {
    const app = server(4);
    assert.deepEqual(JSON.parse((await app.inject({ method: 'GET', url: '/stats' })).body), { recordsReceived: 4 });
    const res = await app.inject({ method: 'GET', url: '/nope' });
    assert.equal(res.statusCode, 404);
    assert.equal(JSON.parse(res.body).error.code, 'COLLECTOR_ERR_NOT_FOUND');
    await app.close();
  });
});
