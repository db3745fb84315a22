import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ipKey, ipKeyRange } from '../../../src/store/ip-key.js';
import { bucketFor, parseFlowQuery, whereClause, MAX_POINTS } from '../../../src/store/query.js';
import { duckdbDialect } from '../../../src/store/duckdb.js';
import { clickhouseDialect, parseClickHouseUrl } from '../../../src/store/clickhouse.js';

const NOW = 1_700_000_000;

describe('store query layer', () => {
  it('keys IPv4 as IPv4-mapped IPv6 and IPv6 in full', () => {
    assert.equal(ipKey('10.0.0.1'), '00000000000000000000ffff0a000001');
    assert.equal(ipKey('fd00::1:7'), 'fd000000000000000000000000010007');
    assert.equal(ipKey('::ffff:10.0.0.1'), ipKey('10.0.0.1'));
    assert.equal(ipKey(''), '');
  });

  it('turns CIDR blocks into key ranges, including prefixes that split a hex digit', () => {
    assert.deepEqual(ipKeyRange('10.0.0.0/8'), { low: '00000000000000000000ffff0a000000', high: '00000000000000000000ffff0affffff' });
    assert.deepEqual(ipKeyRange('10.0.0.0/9'), { low: '00000000000000000000ffff0a000000', high: '00000000000000000000ffff0a7fffff' });
    assert.deepEqual(ipKeyRange('fd00::/7'), { low: 'fc000000000000000000000000000000', high: 'fdffffffffffffffffffffffffffffff' });
    assert.deepEqual(ipKeyRange('10.0.0.1'), { low: ipKey('10.0.0.1'), high: ipKey('10.0.0.1') });
    assert.equal(ipKeyRange('10.0.0.0/33'), null);
    assert.equal(ipKeyRange('fd00::/129'), null);
    assert.equal(ipKeyRange('10.0.0/8'), null);
  });

  it('adapts the throughput bucket to the range', () => {
    assert.equal(bucketFor({ from: 0, to: 300 }), 1);
    assert.equal(bucketFor({ from: 0, to: 3600 }), 30);
    assert.equal(bucketFor({ from: 0, to: 86400 }), 300);
    assert.equal(bucketFor({ from: 0, to: 7 * 86400 }), 3600);
    assert.ok(Math.ceil((30 * 86400) / bucketFor({ from: 0, to: 30 * 86400 })) <= MAX_POINTS);
  });

  it('reads times as epoch seconds, RFC 3339, now and now-<duration>', () => {
    assert.deepEqual(parseFlowQuery({ from: 'now-15m' }, NOW).range, { from: NOW - 900, to: NOW + 1 });
    assert.deepEqual(parseFlowQuery({ from: '2023-11-14T22:00:00Z', to: '1700000000' }, NOW).range, { from: 1_699_999_200, to: 1_700_000_000 });
    assert.deepEqual(parseFlowQuery({ last: '1h', to: String(NOW) }, NOW).range, { from: NOW - 3600, to: NOW });
    assert.deepEqual(parseFlowQuery({}, NOW).range, { from: NOW - 3600, to: NOW + 1 });
  });

  it('escapes string literals for each engine', () => {
    assert.equal(duckdbDialect.str("a'b\\c"), "'a''b\\c'");
    assert.equal(clickhouseDialect.str("a'b\\c"), "'a\\'b\\\\c'");
  });

  it('builds the WHERE clause from validated filters only', () => {
    const q = parseFlowQuery({ from: '100', to: '200', pod: 'shop/web-1', port: '443' }, NOW);
    assert.equal(
      whereClause(duckdbDialect, q),
      "flowEndSeconds >= 100 AND flowEndSeconds < 200 AND ((sourcePodName = 'web-1' AND sourcePodNamespace = 'shop') OR (destinationPodName = 'web-1' AND destinationPodNamespace = 'shop')) AND ((sourceTransportPort = 443) OR (destinationTransportPort = 443))",
    );
    assert.match(whereClause(clickhouseDialect, q), /^flowEndSeconds >= toDateTime\(100\) AND flowEndSeconds < toDateTime\(200\)/);
  });

  it('reads ClickHouse URLs, with credentials kept out of the location', () => {
    assert.deepEqual(parseClickHouseUrl('clickhouse://u:p%40ss@ch:9000/flows'), { url: 'http://ch:9000', username: 'u', password: 'p@ss', database: 'flows', display: 'http://ch:9000/flows' });
    assert.equal(parseClickHouseUrl('http://localhost').database, 'default');
    assert.throws(() => parseClickHouseUrl('http://localhost:8123/bad-name'), { code: 'STORE_ERR_INVALID_OPTION' });
  });
});
