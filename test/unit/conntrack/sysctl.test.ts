import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { enableConntrackAccounting, enableSysctl } from '../../../src/exporter/sysctl.js';

describe('conntrack sysctl switches', () => {
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'fv-sysctl-'));
    mkdirSync(join(root, 'net', 'netfilter'), { recursive: true });
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('turns accounting on, leaves timestamps that are already on, and says which it did', async () => {
    writeFileSync(join(root, 'net/netfilter/nf_conntrack_acct'), '0\n');
    writeFileSync(join(root, 'net/netfilter/nf_conntrack_timestamp'), '1\n');
    const r = await enableConntrackAccounting(root);
    assert.deepEqual(r.map((x) => [x.key, x.outcome, x.before]), [
      ['net.netfilter.nf_conntrack_acct', 'turned-on', '0'],
      ['net.netfilter.nf_conntrack_timestamp', 'already-on', '1'],
    ]);
    assert.equal(readFileSync(join(root, 'net/netfilter/nf_conntrack_acct'), 'utf8').trim(), '1');
  });

  it('reports a key the kernel does not have as missing', async () => {
    const r = await enableSysctl('net.netfilter.nf_conntrack_nothing', root);
    assert.equal(r.outcome, 'missing');
    assert.match(r.message, /does not exist/);
  });

  it('reports a key it cannot read as failed, with the reason', async () => {
    mkdirSync(join(root, 'net/netfilter/a_directory'));
    const r = await enableSysctl('net.netfilter.a_directory', root);
    assert.equal(r.outcome, 'failed');
    assert.notEqual(r.message, '');
  });
});
