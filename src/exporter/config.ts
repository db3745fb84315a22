// `flowvis exporter` configuration: a YAML file with the Antrea agent's flow exporter keys
// (reference, "Flow Exporter > Configuration") plus the keys this standalone agent needs.
// Validated once here, at the edge, with a JSON schema (ajv) and cross-field rules; every
// message names its key and says what to write instead. The result is typed and deep-frozen.
// Modules never read process.env: the CLI passes what the environment decides (the host name).
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isIP } from 'node:net';
import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { parseDuration, formatDuration } from '../util/duration.js';
import { parseCollectorAddress, parseHostPort, type CollectorAddress } from '../util/address.js';
import { deepFreeze } from '../util/freeze.js';
import { ExporterError } from './errors.js';

export const DEFAULTS = Object.freeze({
  flowCollectorAddr: 'flow-aggregator.flow-aggregator.svc:4739:tls',
  flowPollInterval: '5s',
  activeFlowExportTimeout: '60s',
  idleFlowExportTimeout: '15s',
  maxConnections: 131_072,
  maxQueuedRecords: 16_384,
  metricsAddress: '127.0.0.1:10350',
  connectionFilter: 'localPods',
  conntrackSysctls: true,
  /** On the host (a hostPath volume in deploy/flow-exporter.yml), so a new Pod finds it. */
  stateFile: '/var/lib/flowvis/flow-exporter-state.json',
  stateSaveInterval: '60s',
});

export const MIN_POLL_INTERVAL_MS = 1000;

export interface Cidr {
  readonly text: string;
  readonly address: string;
  readonly prefix: number;
  readonly family: 4 | 6;
}

export type MetadataConfig =
  | { readonly source: 'inventory'; readonly inventoryFile: string }
  | { readonly source: 'kubernetes'; /** null: in-cluster config. */ readonly kubeconfig: string | null }
  | { readonly source: 'none' };

export interface TlsConfig {
  /** CA bundle that signs the collector's certificate; null: the system's CAs. */
  readonly caFile: string | null;
  /** Client certificate and key for mutual TLS; both or neither. */
  readonly certFile: string | null;
  readonly keyFile: string | null;
  /** Name checked against the collector's certificate; null: the collector host. */
  readonly serverName: string | null;
}

export interface ExporterConfig {
  readonly flowExporterEnabled: boolean;
  readonly flowCollectorAddr: string;
  readonly collector: CollectorAddress;
  readonly pollIntervalMs: number;
  readonly activeTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly nodeName: string;
  readonly metadata: MetadataConfig;
  readonly tls: TlsConfig;
  readonly maxConnections: number;
  /** Only connections in this conntrack zone (Antrea uses 65520); null: every zone. */
  readonly conntrackZone: number | null;
  /** NFLOG group of the policy drop/reject rules; null: no denied-connection source. */
  readonly nflogGroup: number | null;
  /** null: no metrics endpoint. */
  readonly metrics: { readonly host: string; readonly port: number } | null;
  /** Overrides the Pod CIDRs that the metadata reports; empty: use the metadata's. */
  readonly podCIDRs: readonly Cidr[];
  readonly maxQueuedRecords: number;
  /** localPods: only connections with a Pod of this Node at one end (as Antrea); all: every one. */
  readonly connectionFilter: 'localPods' | 'all';
  /** Turn on nf_conntrack_acct and nf_conntrack_timestamp at start where permitted. */
  readonly conntrackSysctls: boolean;
  /** Where the totals last exported per connection are kept across restarts; null: nowhere. */
  readonly stateFile: string | null;
  /** How often the state file is written besides at shutdown. */
  readonly stateSaveIntervalMs: number;
}

/** What the CLI knows from outside the file. */
export interface ConfigContext {
  /** Default for nodeName (the CLI passes the host name). */
  readonly defaultNodeName: string;
  /** Relative file paths in the config are resolved against this directory. */
  readonly baseDir: string;
}

const duration = { type: 'string', minLength: 1 } as const;
const path = { type: 'string', minLength: 1 } as const;

const SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    featureGates: {
      type: 'object',
      properties: { FlowExporter: { type: 'boolean' } },
      additionalProperties: { type: 'boolean' },
    },
    flowCollectorAddr: { type: 'string', minLength: 1 },
    flowPollInterval: duration,
    activeFlowExportTimeout: duration,
    idleFlowExportTimeout: duration,
    nodeName: { type: 'string', minLength: 1, maxLength: 253 },
    metadata: {
      type: 'object',
      additionalProperties: false,
      properties: {
        source: { enum: ['inventory', 'kubernetes', 'none'] },
        inventoryFile: path,
        kubeconfig: path,
      },
    },
    tls: {
      type: 'object',
      additionalProperties: false,
      properties: { caFile: path, certFile: path, keyFile: path, serverName: { type: 'string', minLength: 1 } },
    },
    maxConnections: { type: 'integer', minimum: 1, maximum: 16_777_216 },
    conntrackZone: { type: ['integer', 'null'], minimum: 0, maximum: 65535 },
    nflogGroup: { type: ['integer', 'null'], minimum: 0, maximum: 65535 },
    metricsAddress: { type: 'string' },
    podCIDRs: { type: 'array', items: { type: 'string' } },
    maxQueuedRecords: { type: 'integer', minimum: 1, maximum: 10_000_000 },
    connectionFilter: { enum: ['localPods', 'all'] },
    conntrackSysctls: { type: 'boolean' },
    stateFile: { type: 'string' },
    stateSaveInterval: duration,
  },
} as const;

/** What to write instead, per key; used when the schema rejects a value. */
const HINTS: Record<string, string> = {
  featureGates: 'a map of feature names to true/false, e.g. "featureGates: {FlowExporter: true}"',
  'featureGates.FlowExporter': 'true or false',
  flowCollectorAddr: 'a string <HOST>:[<PORT>][:<PROTO>], e.g. "flow-aggregator.flow-aggregator.svc:4739:tls"',
  flowPollInterval: 'a duration string of at least 1s, e.g. "5s"',
  activeFlowExportTimeout: 'a duration string, e.g. "60s"',
  idleFlowExportTimeout: 'a duration string, e.g. "15s"',
  nodeName: 'the Kubernetes Node name of this host, e.g. "worker-1"',
  metadata: 'a map with source: inventory (and inventoryFile), kubernetes (and optional kubeconfig) or none',
  'metadata.source': 'one of inventory, kubernetes, none',
  'metadata.inventoryFile': 'a path to a YAML file of Kubernetes manifests',
  'metadata.kubeconfig': 'a path to a kubeconfig file (leave it out for in-cluster config)',
  tls: 'a map with caFile, certFile, keyFile, serverName',
  'tls.caFile': 'a path to a PEM CA bundle',
  'tls.certFile': 'a path to a PEM client certificate',
  'tls.keyFile': 'a path to a PEM private key',
  'tls.serverName': 'the name in the collector certificate, e.g. "flow-aggregator.flow-aggregator.svc"',
  maxConnections: 'a whole number from 1 to 16777216, e.g. 131072',
  conntrackZone: 'a zone number from 0 to 65535 (Antrea uses 65520), or null for every zone',
  nflogGroup: 'an NFLOG group number from 0 to 65535, or null for none',
  metricsAddress: 'HOST:PORT, e.g. "127.0.0.1:10350" or "[::1]:10350", or "" to turn metrics off',
  podCIDRs: 'a list of CIDRs, e.g. ["10.10.0.0/16", "fd00:10::/48"]',
  maxQueuedRecords: 'a whole number from 1 to 10000000, e.g. 16384',
  connectionFilter: 'localPods (only connections of this Node\'s Pods) or all',
  conntrackSysctls: 'true or false',
  stateFile: 'a file path, e.g. "/var/lib/flowvis/flow-exporter-state.json", or "" to keep no state across restarts',
  stateSaveInterval: 'a duration string of at least 1s, e.g. "60s"',
};

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const validate = ajv.compile(SCHEMA);

function fail(key: string, why: string, hint = HINTS[key]): never {
  throw new ExporterError('EXPORTER_ERR_CONFIG', `config key "${key}": ${why}${hint ? `; write ${hint}` : ''}`);
}

function keyOf(err: ErrorObject): string {
  const base = err.instancePath.split('/').slice(1).join('.');
  if (err.keyword === 'additionalProperties') {
    const extra = String((err.params as { additionalProperty: string }).additionalProperty);
    return base ? `${base}.${extra}` : extra;
  }
  return base;
}

function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = c;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

function schemaError(err: ErrorObject): never {
  const key = keyOf(err);
  if (err.keyword === 'additionalProperties') {
    const parent = err.instancePath.split('/').slice(1).join('.');
    const node = (parent === '' ? SCHEMA : (SCHEMA.properties as Record<string, { properties?: object }>)[parent]) as {
      properties?: object;
    };
    const known = Object.keys(node.properties ?? {});
    const leaf = key.split('.').pop() as string;
    const guess = closest(leaf, known);
    fail(key, 'is not a known key', guess ? `"${parent ? `${parent}.` : ''}${guess}"` : `one of ${known.join(', ')}`);
  }
  if (key === '') fail('(top level)', 'the file must hold a YAML map of keys', 'for example "flowPollInterval: 5s"');
  fail(key, err.message ?? 'is invalid');
}

function durationOf(raw: Record<string, unknown>, key: string, fallback: string): number {
  const text = (raw[key] as string | undefined) ?? fallback;
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch {
    fail(key, `"${text}" is not a duration (units ns, us, µs, ms, s, m, h)`);
  }
  if (!(ms > 0)) fail(key, `"${text}" must be greater than zero`);
  return ms;
}

export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const address = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  const family = isIP(address);
  if (family === 0 || !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > (family === 4 ? 32 : 128)) return undefined;
  return Object.freeze({ text, address, prefix, family: family as 4 | 6 });
}

/** Validates an already-parsed document (a YAML map). */
export function parseExporterConfig(doc: unknown, ctx: ConfigContext): ExporterConfig {
  if (doc === null || doc === undefined) doc = {};
  if (!validate(doc)) {
    const errors = validate.errors ?? [];
    // The most specific error first: a bad value deep down says more than "must match".
    schemaError(errors.find((e) => e.keyword !== 'if') ?? errors[0]);
  }
  const raw = doc as Record<string, unknown>;
  const at = (p: string) => resolve(ctx.baseDir, p);

  const gates = (raw.featureGates ?? {}) as Record<string, boolean>;
  const addrText = (raw.flowCollectorAddr as string | undefined) ?? DEFAULTS.flowCollectorAddr;
  if (!addrText.trim().startsWith('[') && (addrText.match(/:/g)?.length ?? 0) > 2) {
    fail('flowCollectorAddr', `"${addrText}" looks like a bare IPv6 address`, 'the IPv6 address in brackets, e.g. "[fd00::5]:4739:tls"');
  }
  let collector: CollectorAddress;
  try {
    collector = parseCollectorAddress(addrText, { protocol: 'tls' });
  } catch (err) {
    fail('flowCollectorAddr', (err as Error).message, '');
  }

  const pollIntervalMs = durationOf(raw, 'flowPollInterval', DEFAULTS.flowPollInterval);
  if (pollIntervalMs < MIN_POLL_INTERVAL_MS) {
    fail('flowPollInterval', `${formatDuration(pollIntervalMs)} is shorter than the minimum of 1s`);
  }
  const activeTimeoutMs = durationOf(raw, 'activeFlowExportTimeout', DEFAULTS.activeFlowExportTimeout);
  const idleTimeoutMs = durationOf(raw, 'idleFlowExportTimeout', DEFAULTS.idleFlowExportTimeout);

  const nodeName = (raw.nodeName as string | undefined) ?? ctx.defaultNodeName;
  if (!nodeName) fail('nodeName', 'is empty and the host name is unknown');

  const md = (raw.metadata ?? {}) as { source?: string; inventoryFile?: string; kubeconfig?: string };
  let metadata: MetadataConfig;
  const source = md.source ?? (md.inventoryFile ? 'inventory' : md.kubeconfig ? 'kubernetes' : 'none');
  if (source === 'inventory') {
    if (!md.inventoryFile) fail('metadata.inventoryFile', 'is required when metadata.source is inventory');
    if (md.kubeconfig) fail('metadata.kubeconfig', 'is only used with metadata.source kubernetes', 'nothing here, or set metadata.source: kubernetes');
    metadata = { source, inventoryFile: at(md.inventoryFile) };
  } else if (source === 'kubernetes') {
    if (md.inventoryFile) fail('metadata.inventoryFile', 'is only used with metadata.source inventory', 'nothing here, or set metadata.source: inventory');
    metadata = { source, kubeconfig: md.kubeconfig ? at(md.kubeconfig) : null };
  } else {
    if (md.inventoryFile || md.kubeconfig) fail('metadata.source', 'is none but a metadata file is given', 'inventory or kubernetes');
    metadata = { source: 'none' };
  }

  const t = (raw.tls ?? {}) as { caFile?: string; certFile?: string; keyFile?: string; serverName?: string };
  if (Boolean(t.certFile) !== Boolean(t.keyFile)) {
    fail(t.certFile ? 'tls.keyFile' : 'tls.certFile', 'is needed with the other half of the client key pair', 'both tls.certFile and tls.keyFile, or neither');
  }
  if (collector.protocol !== 'tls' && (t.caFile || t.certFile || t.serverName)) {
    fail('tls', `is set but flowCollectorAddr uses ${collector.protocol}`, 'flowCollectorAddr with ":tls", or remove the tls keys');
  }
  const tls: TlsConfig = {
    caFile: t.caFile ? at(t.caFile) : null,
    certFile: t.certFile ? at(t.certFile) : null,
    keyFile: t.keyFile ? at(t.keyFile) : null,
    serverName: t.serverName ?? null,
  };

  const metricsText = (raw.metricsAddress as string | undefined) ?? DEFAULTS.metricsAddress;
  let metrics: ExporterConfig['metrics'] = null;
  if (metricsText !== '') {
    metrics = parseHostPort(metricsText) ?? fail('metricsAddress', `"${metricsText}" is not HOST:PORT with a port 0-65535`);
  }

  const podCIDRs = ((raw.podCIDRs as string[] | undefined) ?? []).map(
    (text, i) => parseCidr(text) ?? fail(`podCIDRs[${i}]`, `"${text}" is not a CIDR`, HINTS.podCIDRs),
  );

  const stateText = (raw.stateFile as string | undefined) ?? DEFAULTS.stateFile;
  const stateSaveIntervalMs = durationOf(raw, 'stateSaveInterval', DEFAULTS.stateSaveInterval);
  if (stateSaveIntervalMs < 1000) fail('stateSaveInterval', `${formatDuration(stateSaveIntervalMs)} is shorter than the minimum of 1s`);

  return deepFreeze({
    flowExporterEnabled: gates.FlowExporter ?? false,
    flowCollectorAddr: addrText,
    collector,
    pollIntervalMs,
    activeTimeoutMs,
    idleTimeoutMs,
    nodeName,
    metadata,
    tls,
    maxConnections: (raw.maxConnections as number | undefined) ?? DEFAULTS.maxConnections,
    conntrackZone: (raw.conntrackZone as number | null | undefined) ?? null,
    nflogGroup: (raw.nflogGroup as number | null | undefined) ?? null,
    metrics,
    podCIDRs,
    maxQueuedRecords: (raw.maxQueuedRecords as number | undefined) ?? DEFAULTS.maxQueuedRecords,
    connectionFilter: (raw.connectionFilter as 'localPods' | 'all' | undefined) ?? 'localPods',
    conntrackSysctls: (raw.conntrackSysctls as boolean | undefined) ?? DEFAULTS.conntrackSysctls,
    stateFile: stateText === '' ? null : at(stateText),
    stateSaveIntervalMs,
  });
}

/** Parses YAML text. */
export function parseExporterConfigText(text: string, ctx: ConfigContext): ExporterConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ExporterError('EXPORTER_ERR_CONFIG_FILE', `the config is not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  return parseExporterConfig(doc, ctx);
}

/** Reads and validates a config file; relative paths in it are taken from its directory. */
export function loadExporterConfig(file: string, defaultNodeName: string): ExporterConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ExporterError('EXPORTER_ERR_CONFIG_FILE', `cannot read config file "${file}": ${(err as Error).message}`, { cause: err });
  }
  return parseExporterConfigText(text, { defaultNodeName, baseDir: dirname(resolve(file)) });
}
