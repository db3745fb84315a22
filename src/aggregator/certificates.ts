// The aggregator's TLS material for mutual TLS with exporters. At first start it creates a CA,
// a server certificate for flowAggregatorAddress (DNS name or IP SAN) and a client
// certificate for exporters, and writes them to certDir:
//
//   ca.crt ca.key         the CA (exporters verify the aggregator with ca.crt)
//   server.crt server.key the collecting process's certificate
//   client.crt client.key what exporters present (with ca.crt) to be let in
//
// Later starts reuse them. check() reissues the server and client certificates, signed by
// the same CA, when they come within renewBefore of notAfter (or the server's name changed);
// a CA near its own end is replaced with everything it signed. Optionally the CA and the
// client pair are also published to a Kubernetes Secret and the CA to a ConfigMap.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { join } from 'node:path';
import {
  certificateNotAfter,
  createCertificateAuthority,
  issueCertificate,
  type KeyAndCertificate,
  type TlsMaterial,
} from '../transport/certs.js';
import type { Clock } from '../util/clock.js';
import { AggregatorError } from './errors.js';

export const CERT_FILES = {
  caCert: 'ca.crt',
  caKey: 'ca.key',
  serverCert: 'server.crt',
  serverKey: 'server.key',
  clientCert: 'client.crt',
  clientKey: 'client.key',
} as const;

export interface CertificateManagerOptions {
  dir: string;
  /** flowAggregatorAddress: the server certificate's SAN. Extra names (e.g. listen IPs) may follow. */
  serverNames: readonly string[];
  validityMs: number;
  renewBeforeMs: number;
  clock: Clock;
  /** Called with the material after it was created or rotated (e.g. to publish it to Kubernetes). */
  onChange?: (material: TlsMaterial) => Promise<void>;
  keyBits?: number;
}

const DAY_MS = 86_400_000;

async function readPair(dir: string, cert: string, key: string): Promise<KeyAndCertificate | undefined> {
  try {
    const [certPem, keyPem] = await Promise.all([readFile(join(dir, cert), 'utf8'), readFile(join(dir, key), 'utf8')]);
    return { certPem, keyPem };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AggregatorError('AGG_ERR_CERTIFICATES', `cannot read ${join(dir, cert)}: ${(err as Error).message}`, { cause: err });
  }
}

/** Writes atomically (temp file, then rename), keys readable by the owner only. */
async function writePair(dir: string, cert: string, key: string, pair: KeyAndCertificate): Promise<void> {
  await writeFile(join(dir, `${key}.tmp`), pair.keyPem, { mode: 0o600 });
  await writeFile(join(dir, `${cert}.tmp`), pair.certPem, { mode: 0o644 });
  await rename(join(dir, `${key}.tmp`), join(dir, key));
  await rename(join(dir, `${cert}.tmp`), join(dir, cert));
}

export class CertificateManager {
  private material: TlsMaterial | undefined;
  rotations = 0;

  constructor(private readonly options: CertificateManagerOptions) {
    if (options.renewBeforeMs >= options.validityMs) {
      throw new AggregatorError('AGG_ERR_CERTIFICATES', 'certRenewBefore must be shorter than certValidity');
    }
  }

  current(): TlsMaterial {
    if (!this.material) throw new Error('CertificateManager: check() has not run');
    return this.material;
  }

  /**
   * Loads, creates or renews the material. Returns true when it changed (the collecting
   * process must then take the new server certificate).
   */
  async check(): Promise<boolean> {
    const o = this.options;
    await mkdir(o.dir, { recursive: true, mode: 0o700 });
    const now = o.clock.now();
    let ca = await readPair(o.dir, CERT_FILES.caCert, CERT_FILES.caKey);
    let server = await readPair(o.dir, CERT_FILES.serverCert, CERT_FILES.serverKey);
    let client = await readPair(o.dir, CERT_FILES.clientCert, CERT_FILES.clientKey);
    let changed = false;
    const caDays = Math.ceil((o.validityMs * 10) / DAY_MS);
    const leafDays = o.validityMs / DAY_MS;
    const keyBits = o.keyBits;

    if (ca === undefined || this.dueForRenewal(ca.certPem, now)) {
      ca = await createCertificateAuthority({ commonName: 'flowvis-aggregator-ca', validityDays: caDays, clock: o.clock, ...(keyBits ? { keyBits } : {}) });
      await writePair(o.dir, CERT_FILES.caCert, CERT_FILES.caKey, ca);
      server = undefined;
      client = undefined;
      changed = true;
    }
    if (server === undefined || this.dueForRenewal(server.certPem, now) || !this.signedBy(server.certPem, ca) || !this.namesMatch(server.certPem)) {
      const dnsNames = o.serverNames.filter((n) => isIP(n) === 0);
      const ipAddresses = o.serverNames.filter((n) => isIP(n) !== 0);
      server = await issueCertificate(ca, { commonName: o.serverNames[0], dnsNames, ipAddresses, usage: 'server', validityDays: leafDays, clock: o.clock, ...(keyBits ? { keyBits } : {}) });
      await writePair(o.dir, CERT_FILES.serverCert, CERT_FILES.serverKey, server);
      changed = true;
    }
    if (client === undefined || this.dueForRenewal(client.certPem, now) || !this.signedBy(client.certPem, ca)) {
      client = await issueCertificate(ca, { commonName: 'flowvis-exporter', usage: 'client', validityDays: leafDays, clock: o.clock, ...(keyBits ? { keyBits } : {}) });
      await writePair(o.dir, CERT_FILES.clientCert, CERT_FILES.clientKey, client);
      changed = true;
    }
    const first = this.material === undefined;
    this.material = { ca, server, client };
    if (changed && !first) this.rotations++;
    if (changed || first) await o.onChange?.(this.material);
    return changed && !first;
  }

  private dueForRenewal(certPem: string, now: number): boolean {
    let notAfter: number;
    try {
      notAfter = certificateNotAfter(certPem).getTime();
    } catch (err) {
      throw new AggregatorError('AGG_ERR_CERTIFICATES', `a certificate in ${this.options.dir} is not valid PEM: ${(err as Error).message}; delete the directory to start afresh`);
    }
    return notAfter - now <= this.options.renewBeforeMs;
  }

  private signedBy(certPem: string, ca: KeyAndCertificate): boolean {
    try {
      return new X509Certificate(certPem).verify(new X509Certificate(ca.certPem).publicKey);
    } catch {
      return false;
    }
  }

  private namesMatch(certPem: string): boolean {
    const cert = new X509Certificate(certPem);
    return this.options.serverNames.every((n) => (isIP(n) === 0 ? cert.checkHost(n) !== undefined : cert.checkIP(n) !== undefined));
  }
}

/** Publishes the CA and client pair as a Secret, and the CA as a ConfigMap, for in-cluster exporters. */
export async function publishToKubernetes(material: TlsMaterial, namespace: string, kubeconfig: string | null): Promise<void> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  if (kubeconfig) kc.loadFromFile(kubeconfig);
  else kc.loadFromCluster();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const secret = {
    metadata: { name: 'flow-aggregator-client-tls', namespace },
    type: 'kubernetes.io/tls',
    stringData: { 'ca.crt': material.ca.certPem, 'tls.crt': material.client.certPem, 'tls.key': material.client.keyPem },
  };
  const configMap = { metadata: { name: 'flow-aggregator-ca', namespace }, data: { 'ca.crt': material.ca.certPem } };
  const upsert = async (read: () => Promise<unknown>, create: () => Promise<unknown>, replace: () => Promise<unknown>) => {
    try {
      await read();
    } catch {
      await create();
      return;
    }
    await replace();
  };
  await upsert(
    () => core.readNamespacedSecret({ name: secret.metadata.name, namespace }),
    () => core.createNamespacedSecret({ namespace, body: secret }),
    () => core.replaceNamespacedSecret({ name: secret.metadata.name, namespace, body: secret }),
  );
  await upsert(
    () => core.readNamespacedConfigMap({ name: configMap.metadata.name, namespace }),
    () => core.createNamespacedConfigMap({ namespace, body: configMap }),
    () => core.replaceNamespacedConfigMap({ name: configMap.metadata.name, namespace, body: configMap }),
  );
}
