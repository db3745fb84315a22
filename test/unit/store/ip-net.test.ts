// Address networks: ipNet and ipNetRange, and the network filter on the embedded store
// (ClickHouse: test/integration/store/clickhouse.test.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DuckDbRepository } from '../../../src/store/duckdb.js';
import { ipKey, ipKeyRange, ipNet, ipNetRange, NO_NET, V6_NET_BASE } from '../../../src/store/ip-key.js';
import { ipNetContract, NET_ADDRESSES, NET_BLOCKS } from './ip-net-contract.js';

describe('ipNet', () => {
  it('numbers an IPv4 address by its /24 and an IPv6 address by its first 48 bits above 2^24', () => {
    assert.equal(ipNet('10.3.0.1'), (10 << 16) | (3 << 8));
    assert.equal(ipNet('10.3.0.255'), ipNet('10.3.0.1'));
    assert.equal(ipNet('::ffff:10.3.0.1'), ipNet('10.3.0.1'), 'IPv4-mapped IPv6 is IPv4');
    assert.equal(ipNet('255.255.255.255'), 2 ** 24 - 1);
    assert.equal(ipNet('0.0.0.0'), 0);
    assert.equal(ipNet('fd00:1:2:3::1'), V6_NET_BASE + 0xfd00_0001_0002);
    assert.equal(ipNet('::1'), V6_NET_BASE);
    assert.equal(ipNet('ffff:ffff:ffff:ffff::'), V6_NET_BASE + 2 ** 48 - 1);
    assert.ok(Number.isSafeInteger(ipNet('ffff:ffff:ffff:ffff::')));
    assert.equal(ipNet(''), NO_NET);
    assert.equal(ipNet('not-an-ip'), NO_NET);
  });
});

describe('ipNetRange', () => {
  it('gives the networks of blocks of whole networks, and null for anything narrower', () => {
    assert.deepEqual(ipNetRange('10.3.0.0/16'), { low: ipNet('10.3.0.0'), high: ipNet('10.3.255.0'), allV4: false });
    assert.deepEqual(ipNetRange('10.3.7.0/24'), { low: ipNet('10.3.7.0'), high: ipNet('10.3.7.0'), allV4: false });
    assert.deepEqual(ipNetRange('0.0.0.0/0'), { low: 0, high: 2 ** 24 - 1, allV4: false });
    assert.equal(ipNetRange('10.3.7.0/25'), null);
    assert.equal(ipNetRange('10.3.7.1'), null, 'a single address');
    assert.deepEqual(ipNetRange('::ffff:10.0.0.0/104'), { low: ipNet('10.0.0.0'), high: ipNet('10.255.255.0'), allV4: false });
    assert.equal(ipNetRange('::ffff:10.0.0.0/121'), null);
    assert.deepEqual(ipNetRange('fd00::/48'), { low: ipNet('fd00::'), high: ipNet('fd00::'), allV4: false });
    assert.deepEqual(ipNetRange('fd00::/16'), { low: ipNet('fd00::'), high: ipNet('fd00:ffff:ffff::'), allV4: false });
    assert.equal(ipNetRange('fd00::/49'), null);
    assert.deepEqual(ipNetRange('::/0'), { low: V6_NET_BASE, high: V6_NET_BASE + 2 ** 48 - 1, allV4: true }, '::/0 holds every IPv4-mapped address too');
    assert.equal(ipNetRange('::/48')!.allV4, true);
    assert.equal(ipNetRange('1::/48')!.allV4, false);
    assert.equal(ipNetRange('10.0.0.0/33'), null);
  });

  it('holds an address exactly when the key range does, for every address and block of the table', () => {
    for (const block of NET_BLOCKS) {
      const keys = ipKeyRange(block)!;
      const nets = ipNetRange(block);
      if (!nets) continue;
      for (const address of NET_ADDRESSES) {
        const key = ipKey(address);
        const byKey = key !== '' && key >= keys.low && key <= keys.high;
        const n = ipNet(address);
        const byNet: boolean = (n >= nets.low && n <= nets.high) || (nets.allV4 && n >= 0 && n < V6_NET_BASE);
        assert.equal(byNet, byKey, `${address} in ${block}`);
      }
    }
  });
});

ipNetContract('embedded (DuckDB)', { open: () => DuckDbRepository.open(':memory:') });
