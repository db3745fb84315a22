import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalIp, cidrContains, parseCidr, parseIp } from '../../../src/exporter/policy/ip.js';
import { compileNetworkPolicy } from '../../../src/exporter/policy/network-policy.js';
import { compileSelector } from '../../../src/exporter/policy/selector.js';
import { K8sError } from '../../../src/exporter/k8s/errors.js';
import { networkPolicy } from '../../fixtures/k8s/builders.js';

describe('IP addresses and CIDRs', () => {
  const canon: [string, string | undefined][] = [
    ['10.0.0.1', '10.0.0.1'],
    ['010.000.000.001', '10.0.0.1'],
    ['fd00:0:0:0:0:0:0:1', 'fd00::1'],
    ['FD00::0001', 'fd00::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['::ffff:192.0.2.1', '::ffff:c000:201'],
    ['::', '::'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['256.0.0.1', undefined],
    ['fd00::1::2', undefined],
    ['not-an-ip', undefined],
    ['', undefined],
  ];
  for (const [input, expected] of canon) {
    it(`canonicalises "${input}" to ${expected === undefined ? 'nothing' : `"${expected}"`}`, () => {
      assert.equal(canonicalIp(input), expected);
    });
  }

  const contains: [string, string, boolean][] = [
    ['10.0.0.0/8', '10.255.1.2', true],
    ['10.0.0.0/8', '11.0.0.0', false],
    ['172.17.1.0/24', '172.17.1.255', true],
    ['172.17.1.0/24', '172.17.2.0', false],
    ['0.0.0.0/0', '203.0.113.9', true],
    ['10.1.2.3/32', '10.1.2.3', true],
    ['10.1.2.3/32', '10.1.2.4', false],
    ['2001:db8::/32', '2001:db8:ffff::1', true],
    ['2001:db8::/32', '2001:db9::1', false],
    ['2001:db8:bad::/48', '2001:db8:bad:ffff::1', true],
    ['2001:db8::/127', '2001:db8::1', true],
    ['2001:db8::/127', '2001:db8::2', false],
    ['::/0', 'fd00::1', true],
    ['::/0', '10.0.0.1', false],
    ['10.0.0.0/8', 'fd00::1', false],
  ];
  for (const [cidr, ip, expected] of contains) {
    it(`${expected ? 'finds' : 'does not find'} ${ip} in ${cidr}`, () => {
      assert.equal(cidrContains(parseCidr(cidr), parseIp(ip)!), expected);
    });
  }

  it('masks host bits of a CIDR when allowed and rejects them when not', () => {
    assert.equal(parseCidr('10.1.2.3/16').text, '10.1.0.0/16');
    assert.throws(() => parseCidr('10.1.2.3/16', false), /host bits/);
  });

  for (const bad of ['10.0.0.0', '10.0.0.0/33', 'fd00::/129', 'x/8', '10.0.0.0/-1']) {
    it(`rejects the CIDR "${bad}" with K8S_ERR_BAD_ADDRESS`, () => {
      assert.throws(() => parseCidr(bad), (e: unknown) => e instanceof K8sError && e.code === 'K8S_ERR_BAD_ADDRESS');
    });
  }
});

describe('label selectors', () => {
  const labels = { app: 'web', tier: 'front' };
  const cases: [string, unknown, Record<string, string>, boolean][] = [
    ['empty selector', {}, labels, true],
    ['matchLabels hit', { matchLabels: { app: 'web' } }, labels, true],
    ['matchLabels miss', { matchLabels: { app: 'db' } }, labels, false],
    ['matchLabels and expressions are ANDed', { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['back'] }] }, labels, false],
    ['In', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['front', 'back'] }] }, labels, true],
    ['NotIn with the value', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['front'] }] }, labels, false],
    ['NotIn without the key', { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, labels, true],
    ['Exists', { matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, labels, true],
    ['Exists missing', { matchExpressions: [{ key: 'zone', operator: 'Exists' }] }, labels, false],
    ['DoesNotExist', { matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }, labels, true],
    ['DoesNotExist present', { matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, labels, false],
  ];
  for (const [name, sel, l, expected] of cases) {
    it(`${name} ${expected ? 'matches' : 'does not match'}`, () => {
      assert.equal(compileSelector(sel, 'test').matches(l), expected);
    });
  }

  const bad: [string, unknown, RegExp][] = [
    ['an unknown operator', { matchExpressions: [{ key: 'a', operator: 'Equals', values: ['x'] }] }, /operator "Equals" is not one of In, NotIn, Exists, DoesNotExist/],
    ['In without values', { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }, /needs at least one value/],
    ['Exists with values', { matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] }, /takes no values/],
    ['a non-string label value', { matchLabels: { a: 1 } }, /matchLabels\["a"\] must be a string/],
    ['an unknown field', { matchLabel: { a: 'b' } }, /unknown field "matchLabel"/],
  ];
  for (const [name, sel, msg] of bad) {
    it(`rejects ${name} with K8S_ERR_BAD_SELECTOR`, () => {
      assert.throws(() => compileSelector(sel, 'spec.podSelector'), (e: unknown) => e instanceof K8sError && e.code === 'K8S_ERR_BAD_SELECTOR' && msg.test(e.message));
    });
  }
});

describe('NetworkPolicy compilation', () => {
  it('implies Ingress always and Egress only with egress rules', () => {
    const onlyIngress = compileNetworkPolicy(networkPolicy('ns', 'p', { podSelector: {}, ingress: [{}] }));
    assert.ok(onlyIngress.ingress && !onlyIngress.egress);
    const withEgress = compileNetworkPolicy(networkPolicy('ns', 'p', { podSelector: {}, egress: [{}] }));
    assert.ok(withEgress.ingress && withEgress.egress);
    assert.equal(withEgress.ingress!.length, 0, 'implied Ingress with no rules isolates and allows nothing');
  });

  it('ignores rules of a direction that policyTypes leaves out', () => {
    const p = compileNetworkPolicy(networkPolicy('ns', 'p', { podSelector: {}, policyTypes: ['Egress'], ingress: [{}], egress: [] }));
    assert.equal(p.ingress, undefined);
    assert.deepEqual(p.egress, []);
  });

  it('names rules by direction and index', () => {
    const p = compileNetworkPolicy(networkPolicy('ns', 'p', { podSelector: {}, policyTypes: ['Ingress', 'Egress'], ingress: [{}, {}], egress: [{}] }));
    assert.deepEqual(p.ingress!.map((r) => r.name), ['ingress-0', 'ingress-1']);
    assert.deepEqual(p.egress!.map((r) => r.name), ['egress-0']);
  });

  it('reads numeric ports given as strings and defaults the protocol to TCP', () => {
    const p = compileNetworkPolicy(networkPolicy('ns', 'p', { podSelector: {}, ingress: [{ ports: [{ port: '8080' }, { port: 'http', protocol: 'UDP' }] }] }));
    assert.deepEqual(p.ingress![0].ports, [{ protocol: 6, port: 8080 }, { protocol: 17, name: 'http' }]);
  });

  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['an unknown policy type', { podSelector: {}, policyTypes: ['Both'] }, /spec.policyTypes: "Both" is not Ingress or Egress/],
    ['an unknown protocol', { podSelector: {}, ingress: [{ ports: [{ protocol: 'ICMP', port: 1 }] }] }, /spec.ingress\[0\].ports\[0\].protocol "ICMP" is not TCP, UDP or SCTP/],
    ['port 0', { podSelector: {}, ingress: [{ ports: [{ port: 0 }] }] }, /port 0 is not 1-65535/],
    ['endPort below port', { podSelector: {}, egress: [{ ports: [{ port: 100, endPort: 99 }] }] }, /endPort 99 must be an integer from port \(100\) to 65535/],
    ['endPort with a named port', { podSelector: {}, ingress: [{ ports: [{ port: 'http', endPort: 99 }] }] }, /endPort cannot be used with a named port/],
    ['a bad CIDR', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/40' } }] }] }, /invalid CIDR "10.0.0.0\/40"/],
    ['an except outside the cidr', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.1.0.0/24'] } }] }] }, /must lie inside cidr "10.0.0.0\/16"/],
    ['ipBlock with podSelector', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/16' }, podSelector: {} }] }] }, /ipBlock cannot be combined/],
    ['an empty peer', { podSelector: {}, ingress: [{ from: [{}] }] }, /must set podSelector, namespaceSelector or ipBlock/],
    ['a bad selector', { podSelector: { matchExpressions: [{ key: 'a', operator: 'Is' }] } }, /spec.podSelector: matchExpressions\[0\].operator "Is"/],
  ];
  for (const [name, spec, msg] of bad) {
    it(`rejects ${name} with K8S_ERR_BAD_POLICY naming the policy and field`, () => {
      assert.throws(
        () => compileNetworkPolicy(networkPolicy('ns', 'bad', spec)),
        (e: unknown) => e instanceof K8sError && e.code === 'K8S_ERR_BAD_POLICY' && e.message.startsWith('NetworkPolicy ns/bad: ') && msg.test(e.message),
      );
    });
  }
});
