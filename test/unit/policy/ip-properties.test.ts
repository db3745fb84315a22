// Property tests of the address code against Node's own implementations as oracles: the WHATWG
// URL parser's IPv6 serialisation (RFC 5952) and net.BlockList subnet checks.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { BlockList } from 'node:net';
import fc from 'fast-check';
import { canonicalIp, cidrContains, parseCidr, parseIp } from '../../../src/exporter/policy/ip.js';

const group = fc.integer({ min: 0, max: 0xffff });
const groups = fc.array(group, { minLength: 8, maxLength: 8 });
// Many zero groups, so that "::" runs of every length and position occur.
const sparseGroups = fc.array(fc.oneof(fc.constant(0), fc.constant(0), group), { minLength: 8, maxLength: 8 });
const v6 = fc.oneof(groups, sparseGroups).map((g) => g.map((x) => x.toString(16)).join(':'));
const v4 = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }).map((o) => o.join('.'));

it('canonicalises IPv6 as the WHATWG URL parser does (RFC 5952)', () => {
  fc.assert(
    fc.property(v6, fc.boolean(), (text, upper) => {
      const input = upper ? text.toUpperCase() : text;
      const oracle = new URL(`http://[${text}]/`).hostname.slice(1, -1);
      assert.equal(canonicalIp(input), oracle);
    }),
    { numRuns: 2000 },
  );
});

it('keeps canonical IPv4 text as it is', () => {
  fc.assert(fc.property(v4, (text) => assert.equal(canonicalIp(text), text)), { numRuns: 500 });
});

it('agrees with net.BlockList on CIDR membership, IPv4 and IPv6', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.tuple(v4, fc.integer({ min: 0, max: 32 }), v4).map(([net, len, ip]) => ({ family: 'ipv4' as const, net, len, ip })),
        fc.tuple(v6, fc.integer({ min: 0, max: 128 }), v6).map(([net, len, ip]) => ({ family: 'ipv6' as const, net, len, ip })),
        // Addresses near the network, so that matches are common.
        fc.tuple(v6, fc.integer({ min: 0, max: 128 }), fc.integer({ min: 0, max: 0xffff })).map(([net, len, last]) => ({
          family: 'ipv6' as const,
          net,
          len,
          ip: net.split(':').slice(0, 7).concat(last.toString(16)).join(':'),
        })),
      ),
      ({ family, net, len, ip }) => {
        const cidr = parseCidr(`${net}/${len}`);
        const list = new BlockList();
        list.addSubnet(cidr.text.split('/')[0], len, family);
        assert.equal(cidrContains(cidr, parseIp(ip)!), list.check(ip, family), `${ip} in ${cidr.text}`);
      },
    ),
    { numRuns: 3000 },
  );
});
