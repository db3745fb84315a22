// The testbed topology and plan, without touching the system: validation errors that name their
// key, address allocation, ipBlock arithmetic, the iptables rules and the inventory.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { defaultTopology } from '../../../src/testbed/default-topology.js';
import { TestbedErrorCodes } from '../../../src/testbed/errors.js';
import { formatPrefix, parsePrefix, subtractPrefixes, canonicalAddress } from '../../../src/testbed/ipam.js';
import { componentFiles, iptablesRules, planTestbed } from '../../../src/testbed/plan.js';
import { loadTopology, parseTopology } from '../../../src/testbed/topology.js';
import { parseInventory } from '../../../src/exporter/k8s/inventory.js';

const FIXTURE = fileURLToPath(new URL('../../../../test/fixtures/testbed/topology.yaml', import.meta.url));
const DOCS = fileURLToPath(new URL('../../../../docs/testbed.md', import.meta.url));

const minimal = () => ({ nodes: [{ name: 'n1', podCIDRs: ['10.1.0.0/24', 'fd00:1::/64'] }] });
const parse = (doc: unknown) => parseTopology(doc, { baseDir: '.' });

describe('testbed topology', () => {
  it('the built-in default equals test/fixtures/testbed/topology.yaml with policies.yaml', () => {
    const fromFile = loadTopology(FIXTURE);
    const builtIn = defaultTopology();
    assert.deepEqual(builtIn.document, fromFile.document);
    assert.deepEqual(builtIn.pods, fromFile.pods);
    assert.deepEqual(builtIn.policies.map((p) => p.object), fromFile.policies.map((p) => p.object));
  });

  it('allocates Pod IPs per Node from host 10, in order, in both families', () => {
    const t = defaultTopology();
    assert.deepEqual(
      t.pods.map((p) => [p.id, p.ips[4], p.ips[6]]),
      [
        ['frontend/web-1', '10.10.1.10', 'fd00:10:1::a'],
        ['frontend/probe-1', '10.10.1.11', 'fd00:10:1::b'],
        ['backend/api-1', '10.10.1.12', 'fd00:10:1::c'],
        ['frontend/web-2', '10.10.2.10', 'fd00:10:2::a'],
        ['backend/api-2', '10.10.2.11', 'fd00:10:2::b'],
        ['backend/db-1', '10.10.2.12', 'fd00:10:2::c'],
      ],
    );
    assert.deepEqual([t.nodes[1].underlayIps, t.external.ips, t.aggregatorIps], [
      { 4: '10.255.0.12', 6: 'fd00:ff::c' },
      { 4: '10.255.0.200', 6: 'fd00:ff::c8' },
      { 4: '10.255.0.250', 6: 'fd00:ff::fa' },
    ]);
  });

  const bad: [string, (d: Record<string, unknown>) => void, RegExp][] = [
    ['an unknown key, named', (d) => (d.nodez = []), /"nodez": is not a known key/],
    ['a Pod on an unknown Node', (d) => (d.pods = [{ namespace: 'a', name: 'p', node: 'n9' }]), /"pods\[0\]\.node": "n9" is not a Node.*write one of n1/],
    ['overlapping Pod CIDRs', (d) => (d.nodes = [...(d.nodes as unknown[]), { name: 'n2', podCIDRs: ['10.1.0.128/25'] }]), /nodes\[1\]\.podCIDRs\[0\].*overlaps nodes\[0\]\.podCIDRs\[0\]/],
    ['different families per Node', (d) => (d.nodes = [...(d.nodes as unknown[]), { name: 'n2', podCIDRs: ['10.2.0.0/24'] }]), /nodes\[1\]\.podCIDRs": has families 4 but nodes\[0\] has 4\+6/],
    ['a Pod IP outside its Node', (d) => (d.pods = [{ namespace: 'a', name: 'p', node: 'n1', ips: ['10.9.0.1'] }]), /pods\[0\]\.ips\[0\]": "10\.9\.0\.1" is not an address in Node n1/],
    ['a ClusterIP inside a Pod CIDR', (d) => (d.services = [{ namespace: 'a', name: 's', clusterIPs: ['10.1.0.5'], selector: {}, ports: [{ port: 80 }] }]), /clusterIPs\[0\]": 10\.1\.0\.5 lies in nodes\[0\]/],
    ['a policy of another kind', (d) => (d.networkPolicies = [{ kind: 'Pod', metadata: { name: 'x' } }]), /kind is "Pod".*kind: NetworkPolicy/],
    ['a malformed policy', (d) => (d.networkPolicies = [{ kind: 'NetworkPolicy', metadata: { name: 'x', namespace: 'a' }, spec: { podSelector: {}, policyTypes: ['Sideways'] } }]), /Sideways/],
    ['a policy name too long for the NFLOG prefix', (d) => (d.networkPolicies = [{ kind: 'NetworkPolicy', metadata: { name: 'x'.repeat(60), namespace: 'a' }, spec: { podSelector: {} } }]), /63 bytes/],
    ['an unknown deny action', (d) => (d.networkPolicies = [{ kind: 'NetworkPolicy', metadata: { name: 'x', namespace: 'a', annotations: { 'testbed.flowvis.io/deny-action': 'Maybe' } }, spec: { podSelector: {} } }]), /"Maybe" is not Drop or Reject/],
    ['the prefix of the test helpers', (d) => (d.prefix = 'fv'), /"prefix": "fv" is taken/],
    ['traffic to a port the Pod does not have', (d) => {
      d.pods = [{ namespace: 'a', name: 'p', node: 'n1', ports: [{ containerPort: 80 }] }];
      d.traffic = [{ name: 't', from: 'a/p', to: 'a/p', port: 81 }];
    }, /traffic\[0\]\.port: Pod a\/p has no TCP container port 81; write one of TCP 80/],
  ];
  for (const [what, mutate, message] of bad) {
    it(`rejects ${what} with TESTBED_ERR_TOPOLOGY or _TRAFFIC and a message that names the key`, () => {
      const d = minimal() as Record<string, unknown>;
      mutate(d);
      assert.throws(() => parse(d), (err: Error & { code?: string }) => {
        assert.ok(err.code === 'TESTBED_ERR_TOPOLOGY' || err.code === 'TESTBED_ERR_TRAFFIC', String(err.code));
        assert.match(err.message, message);
        return true;
      });
    });
  }
});

describe('testbed address arithmetic', () => {
  it('subtracts except prefixes from an ipBlock into the fewest prefixes', () => {
    const out = subtractPrefixes(parsePrefix('10.0.0.0/24')!, [parsePrefix('10.0.0.0/26')!]).map(formatPrefix);
    assert.deepEqual(out, ['10.0.0.64/26', '10.0.0.128/25']);
    assert.deepEqual(subtractPrefixes(parsePrefix('10.0.0.0/24')!, [parsePrefix('10.0.0.5/32')!]).map(formatPrefix), [
      '10.0.0.0/30', '10.0.0.4/32', '10.0.0.6/31', '10.0.0.8/29', '10.0.0.16/28', '10.0.0.32/27', '10.0.0.64/26', '10.0.0.128/25',
    ]);
    assert.deepEqual(subtractPrefixes(parsePrefix('fd00::/64')!, [parsePrefix('fd00::/63')!]), []);
    assert.deepEqual(subtractPrefixes(parsePrefix('fd00::/64')!, [parsePrefix('10.0.0.0/8')!]).map(formatPrefix), ['fd00::/64']);
  });

  it('writes IPv6 in RFC 5952 form', () => {
    assert.deepEqual(['fd00:0:0:0:0:0:0:1', 'FD00::ff:0:0:1', '2001:db8:0:0:1:0:0:1', '::ffff:10.0.0.1'].map(canonicalAddress), ['fd00::1', 'fd00::ff:0:0:1', '2001:db8::1:0:0:1', '::ffff:a00:1']);
  });
});

describe('testbed plan', () => {
  const t = defaultTopology();
  const plan = planTestbed(t);

  it('names every namespace with the prefix and creates nothing in the root namespace', () => {
    assert.ok(plan.names.all.every((n) => n.startsWith('fvtb-')));
    for (const c of plan.commands) {
      const inNamespace = (c.argv[1] === '-n' && plan.names.all.includes(c.argv[2])) || (c.argv[1] === 'netns' && plan.names.all.includes(c.argv[3] ?? c.argv[2]));
      assert.ok(inNamespace, c.argv.join(' '));
    }
  });

  it('DNATs each Service port to its endpoints on every Node, resolving named target ports', () => {
    const rules = iptablesRules(t, t.nodes[1], 4);
    assert.match(rules, /-A FV-SERVICES -d 10\.96\.0\.10\/32 -p tcp -m tcp --dport 80 .*-j FV-SVC-/);
    assert.match(rules, /--probability 0\.50000000000 -p tcp -j DNAT --to-destination 10\.10\.1\.12:8080/);
    assert.match(rules, /-p tcp -j DNAT --to-destination 10\.10\.2\.11:8080/);
    assert.match(iptablesRules(t, t.nodes[0], 6), /-j DNAT --to-destination \[fd00:10:2::b\]:9000/);
    assert.match(rules, /-A FV-POSTROUTING -s 10\.10\.2\.0\/24 -d 10\.10\.1\.0\/24 -j RETURN\n-A FV-POSTROUTING -s 10\.10\.2\.0\/24 -o fvul0 -j MASQUERADE/);
  });

  it('enforces ingress with an allow per peer and port, then NFLOG with the flowvis prefix and DROP or REJECT', () => {
    const node1 = iptablesRules(t, t.nodes[0], 4);
    const apiChain = /-A FV-FORWARD -d 10\.10\.1\.12\/32 .*-j (FV-IN-\w+)/.exec(node1)![1];
    const lines = node1.split('\n').filter((l) => l.startsWith(`-A ${apiChain} `));
    assert.deepEqual(lines.map((l) => l.replace(/ -m comment --comment "[^"]*"/, '')), [
      `-A ${apiChain} -s 10.10.1.10/32 -p tcp -m tcp --dport 8080 -j RETURN`,
      `-A ${apiChain} -s 10.10.2.10/32 -p tcp -m tcp --dport 8080 -j RETURN`,
      `-A ${apiChain} -s 10.10.1.10/32 -p udp -m udp --dport 9000 -j RETURN`,
      `-A ${apiChain} -s 10.10.2.10/32 -p udp -m udp --dport 9000 -j RETURN`,
      `-A ${apiChain} -j NFLOG --nflog-group 5 --nflog-prefix "flowvis:D:I:backend/api-allow-web"`,
      `-A ${apiChain} -j DROP`,
    ]);
    const node2 = iptablesRules(t, t.nodes[1], 4);
    assert.match(node2, /--nflog-prefix "flowvis:R:I:backend\/db-allow-api"\n-A FV-IN-\w+ -p tcp -j REJECT --reject-with tcp-reset\n-A FV-IN-\w+ -j REJECT\n/);
  });

  it('enforces egress ipBlocks minus their excepts, and judges egress before ingress', () => {
    const v4 = iptablesRules(t, t.nodes[0], 4);
    assert.match(v4, /-d 10\.255\.0\.64\/26 -p tcp -m tcp --dport 443 .*-j RETURN\n.*-d 10\.255\.0\.128\/25 -p tcp -m tcp --dport 443/);
    assert.ok(v4.indexOf('-A FV-FORWARD -s 10.10.1.10/32') < v4.indexOf('-A FV-FORWARD -d 10.10.1.12/32'));
    const v6 = iptablesRules(t, t.nodes[0], 6);
    assert.match(v6, /--icmpv6-type neighbour-solicitation -j ACCEPT/);
    assert.match(v6, /-d fd00:ff::40\/122 -p tcp -m tcp --dport 443/);
    assert.ok(!/10\.\d+\.\d+\.\d+/.test(v6.split('*filter')[1]), 'no IPv4 address in the IPv6 rules');
  });

  it('writes an inventory that the exporter reads, with Pods, Nodes, Services, EndpointSlices and policies', () => {
    const files = componentFiles(t, { stateDir: '/tmp/x', inventoryFile: '/tmp/x/inventory.yaml', certDir: '/tmp/x/certs', flowLogFile: '/tmp/x/flows.jsonl' }, Date.parse('2025-01-02T03:04:05.678Z'));
    const inv = parseInventory(files.inventory, 'inventory.yaml', 0);
    assert.equal(inv.pods.length, 6);
    assert.deepEqual(inv.pods.map((p) => p.startMs), Array(6).fill(Date.parse('2025-01-02T03:04:05Z')));
    assert.deepEqual(inv.services.map((s) => [s.name, [...s.frontendIps]]), [['api', ['10.96.0.10', 'fd00:96::10']], ['web', ['10.96.0.20', 'fd00:96::20']]]);
    assert.deepEqual(inv.endpointSlices.find((s) => s.name === 'api-ipv4-0')!.addresses, ['10.10.1.12', '10.10.2.11']);
    assert.deepEqual(inv.nodes.map((n) => [...n.addresses]), [['10.255.0.11', 'fd00:ff::b'], ['10.255.0.12', 'fd00:ff::c']]);
    const exp = parseYaml(files.exporterConfigs['node-2']) as Record<string, unknown>;
    assert.deepEqual([exp.nodeName, exp.flowCollectorAddr, exp.nflogGroup, exp.flowPollInterval], ['node-2', '10.255.0.250:4739:tcp', 5, '1s']);
  });

  it('rejects exporter config keys that the exporter would reject, naming exporter.config', () => {
    const d = { ...t.document, exporter: { config: { flowPollInterval: '10ms' } } };
    const bad = parse(d);
    assert.throws(() => componentFiles(bad, { stateDir: '/tmp/x', inventoryFile: 'i', certDir: 'c', flowLogFile: 'f' }, 0), /"exporter\.config".*flowPollInterval/);
  });
});

describe('testbed error codes', () => {
  it('are the codes in docs/testbed.md, section "Error codes", in order', () => {
    const doc = readFileSync(DOCS, 'utf8');
    const section = doc.slice(doc.indexOf('## Error codes'));
    const documented = [...section.matchAll(/^\| `(TESTBED_ERR_\w+)`/gm)].map((m) => m[1]);
    assert.deepEqual(documented, Object.keys(TestbedErrorCodes));
  });
});
