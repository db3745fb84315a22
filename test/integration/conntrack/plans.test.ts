// Message plans and the store's fast path on real kernel messages: conntrack entries of several
// shapes (TCP/UDP/ICMP, IPv4/IPv6, mark, zone) made with conntrack -I in a namespace.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { NetnsBed, netnsSkipReason, type Netns } from '../../helpers/netns.js';

const PROBE = join(dirname(fileURLToPath(import.meta.url)), 'plan-probe.js');
const skip = netnsSkipReason(['iptables', 'ip6tables', 'conntrack', 'sysctl']);
const PER_SHAPE = 20;

describe('conntrack message plans on kernel messages', { skip }, () => {
  const bed = new NetnsBed('plan');
  let ns: Netns;

  before(async () => {
    ns = await bed.namespace();
    await ns.enableConntrack();
    const shapes: Array<(i: number) => string[]> = [
      (i) => ['-p', 'tcp', '-s', '10.9.0.1', '-d', '10.9.0.2', '--sport', String(1000 + i), '--dport', '80', '--state', 'ESTABLISHED', '-u', 'SEEN_REPLY'],
      (i) => ['-p', 'udp', '-s', '10.9.0.1', '-d', '10.9.0.3', '--sport', String(2000 + i), '--dport', '53', '-m', String(i)],
      (i) => ['-p', 'tcp', '-s', 'fd09::1', '-d', 'fd09::2', '--sport', String(3000 + i), '--dport', '443', '--state', 'SYN_SENT'],
      (i) => ['-p', 'udp', '-s', '10.9.0.1', '-d', '10.9.0.4', '--sport', String(4000 + i), '--dport', '53', '--zone', '5'],
      // One destination each: the store's key has no ICMP id, so echo flows between one pair of hosts share it.
      (i) => ['-p', 'icmp', '-s', '10.9.0.1', '-d', `10.9.1.${i + 1}`, '--icmp-type', '8', '--icmp-code', '0', '--icmp-id', String(5000 + i)],
    ];
    for (const shape of shapes) {
      for (let i = 0; i < PER_SHAPE; i++) await ns.exec('conntrack', ['-I', '-t', '600', ...shape(i)]);
    }
  });

  after(async () => {
    await bed.cleanup();
  });

  it('reads every entry through plans as the attribute walk reads it, and a second store poll makes no entry', async () => {
    const { stdout } = await ns.exec(process.execPath, [PROBE]);
    const r = JSON.parse(stdout) as { messages: number; planned: number; walked: number; mismatches: string[]; polls: Array<{ made: number; known: number }>; stored: number };
    assert.deepEqual(r.mismatches, []);
    assert.ok(r.messages >= 5 * PER_SHAPE, `${r.messages} messages`);
    assert.equal(r.planned + r.walked, r.messages);
    // Each shape is walked once or a few times (a longer mark or port makes no other shape).
    assert.ok(r.planned >= r.messages - 5 * 4, `planned ${r.planned}, walked ${r.walked}`);
    assert.equal(r.stored, r.messages);
    assert.deepEqual(r.polls, [
      { made: r.messages, known: 0 },
      { made: 0, known: r.messages },
    ]);
  });
});
