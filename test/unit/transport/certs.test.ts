import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { createCertificateAuthority, createTlsMaterial, issueCertificate, certificateNotAfter } from '../../../src/transport/certs.js';
import { ManualClock } from '../../../src/util/clock.js';

const clock = new ManualClock(Date.UTC(2030, 0, 1));

test('creates a CA, a server certificate with DNS and IP SANs and a client certificate signed by it', async () => {
  const m = await createTlsMaterial({ serverNames: ['flow-aggregator.flow-aggregator.svc', '127.0.0.1', '::1'], clock, validityDays: 30 });
  const ca = new X509Certificate(m.ca.certPem);
  const server = new X509Certificate(m.server.certPem);
  const client = new X509Certificate(m.client.certPem);
  assert.equal(ca.ca, true);
  assert.equal(server.ca, false);
  assert.ok(server.verify(ca.publicKey), 'server certificate is signed by the CA');
  assert.ok(client.verify(ca.publicKey), 'client certificate is signed by the CA');
  assert.equal(server.checkHost('flow-aggregator.flow-aggregator.svc'), 'flow-aggregator.flow-aggregator.svc');
  assert.equal(server.checkIP('127.0.0.1'), '127.0.0.1');
  assert.equal(server.checkIP('::1'), '::1');
  assert.equal(server.checkHost('other.example'), undefined);
  assert.deepEqual(server.keyUsage, ['1.3.6.1.5.5.7.3.1']);
  assert.deepEqual(client.keyUsage, ['1.3.6.1.5.5.7.3.2']);
  assert.equal(certificateNotAfter(m.server.certPem).getTime(), clock.now() + 30 * 86_400_000);
  assert.match(m.server.keyPem, /^-----BEGIN PRIVATE KEY-----/);
});

test('rejects a server certificate without names and a DNS name that is an IP', async () => {
  const ca = await createCertificateAuthority({ clock });
  await assert.rejects(issueCertificate(ca, { commonName: 'x', usage: 'server' }), { code: 'TRANSPORT_ERR_INVALID_OPTION' });
  await assert.rejects(issueCertificate(ca, { commonName: 'x', usage: 'server', dnsNames: ['10.0.0.1'] }), { code: 'TRANSPORT_ERR_INVALID_OPTION' });
  await assert.rejects(issueCertificate(ca, { commonName: 'x', usage: 'server', ipAddresses: ['not-an-ip'] }), { code: 'TRANSPORT_ERR_INVALID_OPTION' });
  await assert.rejects(createTlsMaterial({ serverNames: [] }), { code: 'TRANSPORT_ERR_INVALID_OPTION' });
  assert.throws(() => certificateNotAfter('garbage'), { code: 'TRANSPORT_ERR_INVALID_OPTION' });
});

test('the generated certificates complete a mutual TLS 1.2+ handshake, and a foreign CA is refused', async () => {
  const m = await createTlsMaterial({ serverNames: ['localhost', '127.0.0.1'] });
  const server = tls.createServer({
    cert: m.server.certPem,
    key: m.server.keyPem,
    ca: m.ca.certPem,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
  });
  server.on('secureConnection', (s) => s.end('ok'));
  server.on('tlsClientError', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  try {
    const client = tls.connect({ host: '127.0.0.1', port, ca: m.ca.certPem, cert: m.client.certPem, key: m.client.keyPem, servername: 'localhost' });
    await once(client, 'secureConnect');
    assert.equal(client.authorized, true);
    client.destroy();

    const other = await createTlsMaterial({ serverNames: ['localhost'] });
    const stranger = tls.connect({ host: '127.0.0.1', port, ca: other.ca.certPem, servername: 'localhost' });
    const [err] = (await once(stranger, 'error').catch((e: unknown) => [e])) as [Error & { code?: string }];
    assert.ok(err instanceof Error);
    assert.match(String(err.code), /CERT|SIGNATURE|SELF_SIGNED/);
    stranger.destroy();
  } finally {
    server.close();
  }
});
