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
//
// In a cluster certDir is an emptyDir: a new aggregator Pod starts without it. So the CA pair
// is also kept in a Secret only the aggregator reads (flow-aggregator-ca-tls), and at start
// restoreCertificatesFromKubernetes puts it back into an empty certDir, with the published
// client pair, when they are valid and not within renewBefore of their end. The exporters
// then keep the CA and client certificate they mounted (their liveness probe, which restarts
// them when those files change, stays quiet); only the server certificate is new, signed by
// the same CA.
//
//   Secret flow-aggregator-ca-tls      tls.crt tls.key          the CA pair (aggregator only)
//   Secret flow-aggregator-client-tls  ca.crt tls.crt tls.key   what exporters mount
//   ConfigMap flow-aggregator-ca       ca.crt                   for readers without Secrets
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createPrivateKey, X509Certificate } from 'node:crypto';
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

/** The Kubernetes objects the certificates are published to (and the CA restored from). */
export const CA_SECRET_NAME = 'flow-aggregator-ca-tls';
export const CLIENT_SECRET_NAME = 'flow-aggregator-client-tls';
export const CA_CONFIGMAP_NAME = 'flow-aggregator-ca';

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

async function coreApi(kubeconfig: string | null) {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  if (kubeconfig) kc.loadFromFile(kubeconfig);
  else kc.loadFromCluster();
  return kc.makeApiClient(k8s.CoreV1Api);
}

/**
 * Publishes the CA pair as the aggregator's own Secret (restored by the next Pod), the CA and
 * client pair as the Secret exporters mount, and the CA as a ConfigMap.
 */
export async function publishToKubernetes(material: TlsMaterial, namespace: string, kubeconfig: string | null): Promise<void> {
  const core = await coreApi(kubeconfig);
  const caSecret = {
    metadata: { name: CA_SECRET_NAME, namespace },
    type: 'kubernetes.io/tls',
    stringData: { 'tls.crt': material.ca.certPem, 'tls.key': material.ca.keyPem },
  };
  const secret = {
    metadata: { name: CLIENT_SECRET_NAME, namespace },
    type: 'kubernetes.io/tls',
    stringData: { 'ca.crt': material.ca.certPem, 'tls.crt': material.client.certPem, 'tls.key': material.client.keyPem },
  };
  const configMap = { metadata: { name: CA_CONFIGMAP_NAME, namespace }, data: { 'ca.crt': material.ca.certPem } };
  const upsert = async (read: () => Promise<unknown>, create: () => Promise<unknown>, replace: () => Promise<unknown>) => {
    try {
      await read();
    } catch {
      await create();
      return;
    }
    await replace();
  };
  // The CA first: a client Secret out there always has its CA kept for the next Pod.
  await upsert(
    () => core.readNamespacedSecret({ name: caSecret.metadata.name, namespace }),
    () => core.createNamespacedSecret({ namespace, body: caSecret }),
    () => core.replaceNamespacedSecret({ name: caSecret.metadata.name, namespace, body: caSecret }),
  );
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

/** What an earlier aggregator left in the cluster: its CA pair and the client pair it published. */
export interface StoredCertificates {
  readonly ca?: KeyAndCertificate;
  readonly client?: KeyAndCertificate;
}

/** What restoring the certificate directory did. */
export type CertificateRestore =
  /** certDir already holds a CA: it is used (a restarted process, not a new Pod). */
  | { readonly kind: 'directory' }
  /** The stored CA (and, when `client`, the client pair) were written to certDir. */
  | { readonly kind: 'restored'; readonly client: boolean; readonly caNotAfter: string }
  /** Nothing stored: a first start; check() creates a CA. */
  | { readonly kind: 'none' }
  /** Something stored but not usable (or not readable): check() creates a new CA. */
  | { readonly kind: 'unusable'; readonly why: string };

function b64(data: Record<string, string> | undefined, key: string): string | undefined {
  const v = data?.[key];
  return typeof v === 'string' && v !== '' ? Buffer.from(v, 'base64').toString('utf8') : undefined;
}

/** Reads the CA Secret and the client Secret; an absent Secret gives no pair, any other failure throws. */
export async function readCertificatesFromKubernetes(namespace: string, kubeconfig: string | null): Promise<StoredCertificates> {
  const core = await coreApi(kubeconfig);
  const read = async (name: string): Promise<Record<string, string> | undefined> => {
    try {
      return (await core.readNamespacedSecret({ name, namespace })).data ?? {};
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw new AggregatorError('AGG_ERR_CERTIFICATES', `cannot read Secret ${namespace}/${name}: ${(err as Error).message}`, { cause: err });
    }
  };
  const [caData, clientData] = await Promise.all([read(CA_SECRET_NAME), read(CLIENT_SECRET_NAME)]);
  const pair = (data: Record<string, string> | undefined): KeyAndCertificate | undefined => {
    const certPem = b64(data, 'tls.crt');
    const keyPem = b64(data, 'tls.key');
    return certPem && keyPem ? { certPem, keyPem } : undefined;
  };
  const ca = pair(caData);
  const client = pair(clientData);
  return { ...(ca ? { ca } : {}), ...(client ? { client } : {}) };
}

/** Why a stored pair cannot be used now, or '' when it can: parses, key matches, valid now and beyond renewBefore. */
function pairProblem(pair: KeyAndCertificate, now: number, renewBeforeMs: number, issuer?: X509Certificate): string {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pair.certPem);
    if (!cert.checkPrivateKey(createPrivateKey(pair.keyPem))) return 'its key does not belong to its certificate';
  } catch (err) {
    return `not a PEM certificate and key (${(err as Error).message})`;
  }
  if (issuer === undefined && !cert.ca) return 'the certificate is not a CA';
  if (issuer !== undefined && !cert.verify(issuer.publicKey)) return 'not signed by the CA';
  if (Date.parse(cert.validFrom) > now) return `not valid before ${cert.validFrom}`;
  const notAfter = Date.parse(cert.validTo);
  if (notAfter - now <= renewBeforeMs) return `it ends ${cert.validTo}, within certRenewBefore`;
  return '';
}

/**
 * Puts a stored CA (and the client pair it signed) into an empty certDir, when usable: valid,
 * its key its own, and not within renewBeforeMs of its end (a CA about to be replaced would
 * only make the exporters restart twice). A certDir that has a CA is left alone.
 */
export async function restoreCertificateDir(
  dir: string,
  stored: StoredCertificates,
  options: { renewBeforeMs: number; clock: Clock },
): Promise<CertificateRestore> {
  if (await readPair(dir, CERT_FILES.caCert, CERT_FILES.caKey)) return { kind: 'directory' };
  if (!stored.ca) return stored.client ? { kind: 'unusable', why: `Secret ${CLIENT_SECRET_NAME} exists but ${CA_SECRET_NAME} does not (published by an older version)` } : { kind: 'none' };
  const now = options.clock.now();
  const caProblem = pairProblem(stored.ca, now, options.renewBeforeMs);
  if (caProblem !== '') return { kind: 'unusable', why: `Secret ${CA_SECRET_NAME}: ${caProblem}` };
  const caCert = new X509Certificate(stored.ca.certPem);
  const client = stored.client && pairProblem(stored.client, now, options.renewBeforeMs, caCert) === '' ? stored.client : undefined;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (client) await writePair(dir, CERT_FILES.clientCert, CERT_FILES.clientKey, client);
  await writePair(dir, CERT_FILES.caCert, CERT_FILES.caKey, stored.ca);
  return { kind: 'restored', client: client !== undefined, caNotAfter: caCert.validTo };
}

/** restoreCertificateDir from the cluster's Secrets; never throws (a failure to read is 'unusable'). */
export async function restoreCertificatesFromKubernetes(options: {
  dir: string;
  namespace: string;
  kubeconfig: string | null;
  renewBeforeMs: number;
  clock: Clock;
}): Promise<CertificateRestore> {
  try {
    if (await readPair(options.dir, CERT_FILES.caCert, CERT_FILES.caKey)) return { kind: 'directory' };
    const stored = await readCertificatesFromKubernetes(options.namespace, options.kubeconfig);
    return await restoreCertificateDir(options.dir, stored, options);
  } catch (err) {
    return { kind: 'unusable', why: (err as Error).message };
  }
}
