import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CertificateManager,
  CERT_FILES,
  CA_SECRET_NAME,
  CLIENT_SECRET_NAME,
  publishToKubernetes,
  restoreCertificatesFromKubernetes,
} from '../../../src/aggregator/certificates.js';
import { createCertificateAuthority } from '../../../src/transport/certs.js';
import { ManualClock } from '../../../src/util/clock.js';
import { SecretsApiServer, secretText } from '../deploy/api-server.js';

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

describe('a new aggregator Pod (empty certDir) and the CA kept in the cluster', () => {
  const NS = 'flow-aggregator';
  const VALIDITY = 10 * DAY; // leaves 10 days, the CA 100 days
  const RENEW = 2 * DAY;
  let api: SecretsApiServer;
  let kubeconfig: string;

  /** One aggregator Pod: a fresh certDir, restore from the cluster, then check() publishing as the service does. */
  async function pod(clock: ManualClock) {
    const dir = mkdtempSync(join(tmpdir(), 'flowvis-pod-certs-'));
    dirs.push(dir);
    const restore = await restoreCertificatesFromKubernetes({ dir, namespace: NS, kubeconfig, renewBeforeMs: RENEW, clock });
    const m = new CertificateManager({
      dir,
      serverNames: ['flow-aggregator.flow-aggregator.svc'],
      validityMs: VALIDITY,
      renewBeforeMs: RENEW,
      clock,
      keyBits: 2048,
      onChange: (material) => publishToKubernetes(material, NS, kubeconfig),
    });
    await m.check();
    return { dir, restore, m, material: m.current() };
  }

  const published = (key: string) => secretText(api.objects.get(`secrets/${NS}/${CLIENT_SECRET_NAME}`), key);

  async function freshApi(): Promise<void> {
    await api?.close();
    api = new SecretsApiServer();
    await api.listen();
    const dir = mkdtempSync(join(tmpdir(), 'flowvis-kubeconfig-'));
    dirs.push(dir);
    kubeconfig = join(dir, 'kubeconfig');
    api.writeKubeconfig(kubeconfig);
  }

  after(async () => {
    await api?.close();
  });

  it('restores the CA and the client pair its predecessor published: the exporters\' files do not change, only the server certificate is new', async () => {
    await freshApi();
    const clock = new ManualClock(Date.now());
    const first = await pod(clock);
    assert.deepEqual(first.restore, { kind: 'none' }, 'the first Pod finds nothing');
    const mounted = { ca: published('ca.crt'), crt: published('tls.crt'), key: published('tls.key') };
    assert.equal(mounted.ca, first.material.ca.certPem);

    clock.advance(3 * DAY);
    const second = await pod(clock);
    assert.equal(second.restore.kind, 'restored');
    assert.equal(second.restore.kind === 'restored' && second.restore.client, true);
    assert.equal(second.material.ca.certPem, first.material.ca.certPem, 'same CA');
    assert.equal(second.material.ca.keyPem, first.material.ca.keyPem);
    assert.equal(second.material.client.certPem, first.material.client.certPem, 'same client certificate');
    assert.notEqual(second.material.server.certPem, first.material.server.certPem, 'a new server certificate');
    assert.ok(new X509Certificate(second.material.server.certPem).verify(new X509Certificate(first.material.ca.certPem).publicKey), 'signed by the same CA');
    // What the exporters mount (and their liveness probe checksums) is byte for byte the same.
    assert.deepEqual({ ca: published('ca.crt'), crt: published('tls.crt'), key: published('tls.key') }, mounted);
    assert.equal(readFileSync(join(second.dir, CERT_FILES.caKey), 'utf8'), first.material.ca.keyPem);
    assert.equal(statSync(join(second.dir, CERT_FILES.caKey)).mode & 0o777, 0o600);
  });

  it('keeps rotating: a stored client certificate within certRenewBefore of its end is reissued by the restored CA, and published', async () => {
    await freshApi();
    const clock = new ManualClock(Date.now());
    const first = await pod(clock);
    clock.advance(9 * DAY);
    const second = await pod(clock);
    assert.equal(second.restore.kind === 'restored' && second.restore.client, false, 'the client pair ends within 2 days');
    assert.equal(second.material.ca.certPem, first.material.ca.certPem);
    assert.notEqual(second.material.client.certPem, first.material.client.certPem);
    assert.equal(published('tls.crt'), second.material.client.certPem);
  });

  it('creates a new CA when the stored one ends within certRenewBefore, is not a pair, is not PEM, or cannot be read', async () => {
    await freshApi();
    const clock = new ManualClock(Date.now());
    const first = await pod(clock);
    const caSecret = `secrets/${NS}/${CA_SECRET_NAME}`;
    const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
    const setCa = (crt: string, key: string) => {
      const o = api.objects.get(caSecret)!;
      api.objects.set(caSecret, { ...o, data: { 'tls.crt': b64(crt), 'tls.key': b64(key) } });
    };
    const other = await createCertificateAuthority({ keyBits: 2048, clock });
    const cases: [string, () => void, RegExp][] = [
      ['a key that is not the certificate\'s', () => setCa(first.material.ca.certPem, other.keyPem), /key does not belong/],
      ['not PEM', () => setCa('-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n', 'junk'), /not a PEM certificate/],
      ['a leaf, not a CA', () => setCa(first.material.client.certPem, first.material.client.keyPem), /not a CA/],
    ];
    const restoreOnly = async () => {
      const dir = mkdtempSync(join(tmpdir(), 'flowvis-pod-certs-'));
      dirs.push(dir);
      return restoreCertificatesFromKubernetes({ dir, namespace: NS, kubeconfig, renewBeforeMs: RENEW, clock });
    };
    for (const [what, spoil, why] of cases) {
      setCa(first.material.ca.certPem, first.material.ca.keyPem);
      spoil();
      const r = await restoreOnly();
      assert.equal(r.kind, 'unusable', what);
      assert.match(r.kind === 'unusable' ? r.why : '', why, what);
    }
    // Near the CA's own end (100 days): not one about to be replaced.
    setCa(first.material.ca.certPem, first.material.ca.keyPem);
    assert.equal((await restoreOnly()).kind, 'restored');
    clock.advance(99 * DAY);
    const late = await pod(clock);
    assert.match(late.restore.kind === 'unusable' ? late.restore.why : '', /within certRenewBefore/);
    assert.notEqual(late.material.ca.certPem, first.material.ca.certPem, 'a new CA');
    assert.equal(published('ca.crt'), late.material.ca.certPem, 'published for the exporters');
    // The API refuses: logged by the caller, never thrown; a new CA (whose publication will fail loudly).
    api.failWith = 403;
    const dir = mkdtempSync(join(tmpdir(), 'flowvis-pod-certs-'));
    dirs.push(dir);
    const refused = await restoreCertificatesFromKubernetes({ dir, namespace: NS, kubeconfig, renewBeforeMs: RENEW, clock });
    assert.equal(refused.kind, 'unusable');
    assert.match(refused.kind === 'unusable' ? refused.why : '', /cannot read Secret flow-aggregator\/flow-aggregator-ca-tls/);
    api.failWith = null;
  });

  it('leaves a certDir that has a CA alone (a restarted process, not a new Pod), without asking the API', async () => {
    await freshApi();
    const clock = new ManualClock(Date.now());
    const first = await pod(clock);
    const before = api.requests.length;
    const again = await restoreCertificatesFromKubernetes({ dir: first.dir, namespace: NS, kubeconfig, renewBeforeMs: RENEW, clock });
    assert.deepEqual(again, { kind: 'directory' });
    assert.equal(api.requests.length, before);
    // And a client Secret without the CA Secret (an older version published it): a new CA.
    api.objects.delete(`secrets/${NS}/${CA_SECRET_NAME}`);
    const dir = mkdtempSync(join(tmpdir(), 'flowvis-pod-certs-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'unrelated'), '');
    const older = await restoreCertificatesFromKubernetes({ dir, namespace: NS, kubeconfig, renewBeforeMs: RENEW, clock });
    assert.match(older.kind === 'unusable' ? older.why : '', /older version/);
  });
});
