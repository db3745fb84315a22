import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CertificateManager, CERT_FILES } from '../../../src/aggregator/certificates.js';
import { ManualClock } from '../../../src/util/clock.js';

const DAY = 86_400_000;
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function manager(dir: string, clock: ManualClock, serverNames = ['flow-aggregator.flow-aggregator.svc']) {
  return new CertificateManager({ dir, serverNames, validityMs: 365 * DAY, renewBeforeMs: 30 * DAY, clock });
}

describe('CertificateManager', () => {
  it('creates a CA, a server certificate with the SAN, and a client certificate at first start, then reuses them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowvis-certs-'));
    dirs.push(dir);
    const clock = new ManualClock(Date.now());
    const m = manager(dir, clock);
    assert.equal(await m.check(), false, 'first creation is not a rotation');
    const ca = new X509Certificate(readFileSync(join(dir, CERT_FILES.caCert)));
    const server = new X509Certificate(readFileSync(join(dir, CERT_FILES.serverCert)));
    const client = new X509Certificate(readFileSync(join(dir, CERT_FILES.clientCert)));
    assert.ok(server.checkHost('flow-aggregator.flow-aggregator.svc'));
    assert.ok(server.verify(ca.publicKey));
    assert.ok(client.verify(ca.publicKey));
    assert.equal(statSync(join(dir, CERT_FILES.serverKey)).mode & 0o777, 0o600);

    const again = manager(dir, clock);
    assert.equal(await again.check(), false);
    assert.equal(again.current().server.certPem, m.current().server.certPem, 'a restart keeps the certificates');
  });

  it('renews the server and client certificates with the same CA inside the renewal window', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowvis-certs-'));
    dirs.push(dir);
    const clock = new ManualClock(Date.now());
    const m = manager(dir, clock);
    await m.check();
    const before = m.current();
    clock.advance(300 * DAY);
    assert.equal(await m.check(), false, 'outside the window nothing changes');
    clock.advance(40 * DAY);
    assert.equal(await m.check(), true);
    const after = m.current();
    assert.equal(after.ca.certPem, before.ca.certPem, 'same CA: exporters keep trusting the aggregator');
    assert.notEqual(after.server.certPem, before.server.certPem);
    assert.notEqual(after.client.certPem, before.client.certPem);
    assert.ok(new X509Certificate(after.server.certPem).verify(new X509Certificate(after.ca.certPem).publicKey));
    assert.equal(m.rotations, 1);
  });

  it('reissues the server certificate when flowAggregatorAddress changes to an IP', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowvis-certs-'));
    dirs.push(dir);
    const clock = new ManualClock(Date.now());
    await manager(dir, clock).check();
    const m = manager(dir, clock, ['10.96.0.9']);
    await m.check();
    assert.ok(new X509Certificate(m.current().server.certPem).checkIP('10.96.0.9'));
  });
});
